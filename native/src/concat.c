/* Concat-linear attention: each query row's scores over the value
 * positions are a linear layer of [q_i; k_i], computed as two sgemms (the
 * q and k column blocks of w) plus the bias; the rest is the shared driver. */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "attend.h"

typedef struct concat_rule {
    pa_tensor q_copy, k_copy, w_copy, bias_copy;  /* checked copies */
    const pa_tensor *q, *k, *w, *bias;
    long long Dq, Dk;
    float scale;
} concat_rule;

static void fill(const pa_plan *p, const pa_rows *rows, long long c0, long long c1, float *s, int lds,
                 const long long *ends)
{
    (void)ends;     /* every column is computed */
    const concat_rule *r = p->rule;
    const int n = (int)(c1 - c0), ldw = pa_ld(r->w);
    const float *wq = pa_row(r->w, 0, 0, c0);
    for (long long i = 0; i < rows->count; i++)
        for (long long j = c0; j < c1; j++)
            s[i * lds + (j - c0)] = r->bias != NULL
                ? r->scale * ((const float *)r->bias->data)[j * r->bias->strides[3]] : 0.0f;
    if (r->Dq > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows->count, n, (int)r->Dq, r->scale,
                    pa_row(r->q, rows->b, rows->h0, rows->i0), pa_rows_ld(rows, r->q), wq, ldw, 1.0f, s, lds);
    if (r->Dk > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows->count, n, (int)r->Dk, r->scale,
                    pa_row(r->k, rows->b, rows->h0, rows->i0), pa_rows_ld(rows, r->k), wq + r->Dq, ldw, 1.0f,
                    s, lds);
}

int pa_concat_attention(const pa_tensor *q, const pa_tensor *k, const pa_tensor *w,
                        const pa_tensor *bias, const pa_tensor *values,
                        const pa_tensor *out, const pa_sdpa_options *opts)
{
    static const char *FN = "pa_concat_attention";
    const pa_sdpa_options options = pa_options_copy(opts);
    const pa_sdpa_options *o = &options;
    pa_plan p;
    concat_rule r;
    int rc;
    memset(&p, 0, sizeof p);
    memset(&r, 0, sizeof r);
    p.fn = FN;
    if ((rc = pa_load_tensor(FN, "q", q, &r.q_copy, PA_F32, 1)) != PA_OK ||
        (rc = pa_load_tensor(FN, "k", k, &r.k_copy, PA_F32, 1)) != PA_OK ||
        (rc = pa_load_tensor(FN, "w", w, &r.w_copy, PA_F32, 1)) != PA_OK ||
        (bias != NULL && (rc = pa_load_tensor(FN, "bias", bias, &r.bias_copy, PA_F32, 0)) != PA_OK))
        return rc;
    q = &r.q_copy;
    k = &r.k_copy;
    w = &r.w_copy;
    bias = bias != NULL ? &r.bias_copy : NULL;
    p.B = q->shape[0]; p.H = p.Hkv = q->shape[1]; p.Lq = q->shape[2]; p.Lk = w->shape[2];
    r.q = q; r.k = k; r.w = w; r.bias = bias;
    r.Dq = q->shape[3]; r.Dk = k->shape[3];
    if ((rc = pa_expect_dim(FN, "k", k, 0, p.B, "B of q")) != PA_OK ||
        (rc = pa_expect_dim(FN, "k", k, 1, p.H, "H of q")) != PA_OK ||
        (rc = pa_expect_dim(FN, "k", k, 2, p.Lq, "one key per query row")) != PA_OK ||
        (rc = pa_expect_dim(FN, "w", w, 0, 1, "1")) != PA_OK ||
        (rc = pa_expect_dim(FN, "w", w, 1, 1, "1")) != PA_OK ||
        (rc = pa_expect_dim(FN, "w", w, 3, r.Dq + r.Dk, "Dq + Dk")) != PA_OK)
        return rc;
    if (bias != NULL && (bias->shape[0] != 1 || bias->shape[1] != 1 || bias->shape[2] != 1
                         || bias->shape[3] != p.Lk))
        return pa_fail(PA_EINVAL, "%s: bias must be (1, 1, 1, %lld)", FN, p.Lk);
    if (!isfinite(o->scale))
        return pa_fail(PA_EINVAL, "%s: scale = %g must be finite", FN, (double)o->scale);
    r.scale = o->scale != 0.0f ? o->scale : 1.0f;
    p.rule = &r;
    p.fill = fill;
    const pa_tensor *inputs[] = { q, k, w, bias };
    const char *names[] = { "q", "k", "w", "bias" };
    rc = pa_plan_init(&p, "values", values, out, o, inputs, names, bias != NULL ? 4 : 3);
    return rc != PA_OK ? rc : pa_plan_run(&p, o);
}

/* The twin whose buffers are call arguments (see panattn.h). */
int pa_concat_attention_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *w,
                                const pa_tensor *bias, const pa_tensor *values, const pa_tensor *out,
                                const pa_sdpa_options *opts, const void *q_data, const void *k_data,
                                const void *w_data, const void *bias_data, const void *values_data,
                                void *out_data, const void *mask_data, void *weights_data,
                                const void *key_padding_data, const void *alibi_slopes_data,
                                const void *rel_bias_data)
{
    pa_tensor c[6];
    pa_option_copies oc;
    const pa_sdpa_options *o = pa_options_with_data(&oc, opts, mask_data, weights_data, key_padding_data,
                                                 alibi_slopes_data, rel_bias_data);
    return pa_concat_attention(pa_with_data(q, q_data, &c[0]), pa_with_data(k, k_data, &c[1]),
                               pa_with_data(w, w_data, &c[2]), pa_with_data(bias, bias_data, &c[3]),
                               pa_with_data(values, values_data, &c[4]), pa_with_data(out, out_data, &c[5]), o);
}
