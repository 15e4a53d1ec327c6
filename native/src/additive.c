/* Additive (Bahdanau) attention: scores from projected queries and keys
 * through the ISA kernel's tanh; the rest is the shared driver. */
#include <math.h>
#include <string.h>

#include "attend.h"

typedef struct additive_rule {
    pa_tensor qp_copy, kp_copy, vvec_copy;  /* checked copies */
    const pa_tensor *qp, *kp, *vvec;
    long long A;
    float scale;
} additive_rule;

static void fill(const pa_plan *p, const pa_rows *rows, long long c0, long long c1, float *s, int lds,
                 const long long *ends)
{
    (void)ends;     /* every column is computed */
    const additive_rule *r = p->rule;
    if (r->A == 0) {        /* an empty sum: every score is 0 */
        for (long long i = 0; i < rows->count; i++)
            memset(s + i * lds, 0, sizeof(float) * (size_t)(c1 - c0));
        return;
    }
    const float *v = r->vvec != NULL ? r->vvec->data : NULL;
    const float *k = pa_row(r->kp, rows->b, rows->kvh, c0);
    for (long long i = 0; i < rows->count; i++)
        p->kernels->additive_row(s + i * lds, c1 - c0,
                                 pa_row(r->qp, rows->b, pa_rows_h(rows, i), pa_rows_i(rows, i)), k,
                                 r->kp->strides[2], r->A, v, r->scale);
}

int pa_additive_attention(const pa_tensor *qp, const pa_tensor *kp, const pa_tensor *vvec,
                          const pa_tensor *values, const pa_tensor *out,
                          const pa_sdpa_options *opts)
{
    static const char *FN = "pa_additive_attention";
    const pa_sdpa_options options = pa_options_copy(opts);
    const pa_sdpa_options *o = &options;
    pa_plan p;
    additive_rule r;
    int rc;
    memset(&p, 0, sizeof p);
    memset(&r, 0, sizeof r);
    p.fn = FN;
    if ((rc = pa_load_tensor(FN, "qp", qp, &r.qp_copy, PA_F32, 1)) != PA_OK ||
        (rc = pa_load_tensor(FN, "kp", kp, &r.kp_copy, PA_F32, 1)) != PA_OK ||
        (vvec != NULL && (rc = pa_load_tensor(FN, "vvec", vvec, &r.vvec_copy, PA_F32, 1)) != PA_OK))
        return rc;
    qp = &r.qp_copy;
    kp = &r.kp_copy;
    vvec = vvec != NULL ? &r.vvec_copy : NULL;
    p.B = qp->shape[0]; p.H = qp->shape[1]; p.Lq = qp->shape[2];
    p.Hkv = kp->shape[1]; p.Lk = kp->shape[2];
    r.qp = qp;
    r.kp = kp;
    r.vvec = vvec;
    r.A = qp->shape[3];
    if ((rc = pa_expect_dim(FN, "kp", kp, 0, p.B, "B of qp")) != PA_OK ||
        (rc = pa_expect_dim(FN, "kp", kp, 3, r.A, "A of qp")) != PA_OK)
        return rc;
    if (vvec != NULL && (vvec->shape[0] != 1 || vvec->shape[1] != 1 || vvec->shape[2] != 1
                         || vvec->shape[3] != r.A))
        return pa_fail(PA_EINVAL, "%s: vvec must be (1, 1, 1, %lld)", FN, r.A);
    if (!isfinite(o->scale))
        return pa_fail(PA_EINVAL, "%s: scale = %g must be finite", FN, (double)o->scale);
    r.scale = o->scale != 0.0f ? o->scale : 1.0f;
    p.rule = &r;
    p.fill = fill;
    p.queries = qp;
    const pa_tensor *inputs[] = { qp, kp, vvec };
    const char *names[] = { "qp", "kp", "vvec" };
    rc = pa_plan_init(&p, "values", values, out, o, inputs, names, vvec != NULL ? 3 : 2);
    return rc != PA_OK ? rc : pa_plan_run(&p, o);
}

/* The twin whose buffers are call arguments (see panattn.h). */
int pa_additive_attention_buffers(const pa_tensor *qp, const pa_tensor *kp, const pa_tensor *vvec,
                                  const pa_tensor *values, const pa_tensor *out,
                                  const pa_sdpa_options *opts, const void *qp_data,
                                  const void *kp_data, const void *vvec_data, const void *values_data,
                                  void *out_data, const void *mask_data, void *weights_data,
                                  const void *key_padding_data, const void *alibi_slopes_data,
                                  const void *rel_bias_data)
{
    pa_tensor c[5];
    pa_option_copies oc;
    const pa_sdpa_options *o = pa_options_with_data(&oc, opts, mask_data, weights_data, key_padding_data,
                                                 alibi_slopes_data, rel_bias_data);
    return pa_additive_attention(pa_with_data(qp, qp_data, &c[0]), pa_with_data(kp, kp_data, &c[1]),
                                 pa_with_data(vvec, vvec_data, &c[2]), pa_with_data(values, values_data, &c[3]),
                                 pa_with_data(out, out_data, &c[4]), o);
}
