/* Scaled dot-product attention: scores Q.K^T * scale by the panel_scores
 * micro-kernel from keys the shared driver (attend.c) packed once per key
 * head (by sgemm when the weights are asked for, or when the packed keys
 * would not fit their budget), the rest by the driver; calls with a few
 * query rows per key head (decoding) by the streaming decode kernel
 * (decode.c). */
#include <limits.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "decode.h"

typedef struct sdpa_rule {
    pa_tensor q_copy, k_copy;   /* checked copies of the caller's descriptors */
    const pa_tensor *q, *k;
    long long Dk;
    float scale;
} sdpa_rule;

static void fill(const pa_plan *p, const pa_rows *rows, long long c0, long long c1, float *s, int lds,
                 const long long *ends)
{
    const sdpa_rule *r = p->rule;
    if (r->Dk == 0) {
        for (long long i = 0; i < rows->count; i++)
            memset(s + i * lds, 0, sizeof(float) * (size_t)(c1 - c0));
        return;
    }
    int ldq, ldk;
    const float *q = pa_block_f32(p, rows, r->q, &ldq);
    if (p->panels != NULL) {    /* packed keys: the micro-kernel (c0 starts a panel) */
        const float *panels = p->panels + (rows->b * p->Hkv + rows->kvh) * p->panel_stride + c0 * r->Dk;
        p->kernels->panel_scores(s, lds, q, ldq, rows->count, panels, r->Dk, c1 - c0, ends, r->scale);
        return;
    }
    /* Float keys in one product; half ones a widened block at a time. */
    const long long step = r->k->dtype == PA_F32 ? c1 - c0 : PA_BLOCK_COLS;
    for (long long j0 = c0; j0 < c1; j0 += step) {
        const long long n = j0 + step < c1 ? step : c1 - j0;
        const float *k = pa_rows_f32(p, r->k, rows->b, rows->kvh, j0, n, rows->wide_keys, &ldk);
        if (rows->count == 1)   /* one query (decoding): gemv streams K without packing it */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)r->Dk, r->scale, k, ldk, q, 1, 0.0f,
                        s + (j0 - c0), 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows->count, (int)n, (int)r->Dk,
                        r->scale, q, ldq, k, ldk, 0.0f, s + (j0 - c0), lds);
    }
}

static int make_plan(pa_plan *p, sdpa_rule *r, const pa_tensor *q, const pa_tensor *k,
                     const pa_tensor *v, const pa_tensor *out, const pa_sdpa_options *o)
{
    static const char *FN = "pa_sdpa";
    int rc;
    memset(p, 0, sizeof *p);
    p->fn = FN;
    if ((rc = pa_load_tensor(FN, "q", q, &r->q_copy, PA_ANY_FLOAT, 1)) != PA_OK ||
        (rc = pa_load_tensor(FN, "k", k, &r->k_copy, PA_ANY_FLOAT, 1)) != PA_OK)
        return rc;
    q = &r->q_copy;
    k = &r->k_copy;
    p->B = q->shape[0]; p->H = q->shape[1]; p->Lq = q->shape[2];
    p->Hkv = k->shape[1]; p->Lk = k->shape[2];
    if ((rc = pa_expect_dim(FN, "k", k, 0, p->B, "B of q")) != PA_OK ||
        (rc = pa_expect_dim(FN, "k", k, 3, q->shape[3], "Dk of q")) != PA_OK)
        return rc;
    if (!isfinite(o->scale))
        return pa_fail(PA_EINVAL, "%s: scale = %g must be finite", FN, (double)o->scale);
    r->q = q;
    r->k = k;
    r->Dk = q->shape[3];
    r->scale = o->scale != 0.0f ? o->scale : r->Dk > 0 ? (float)(1.0 / sqrt((double)r->Dk)) : 1.0f;
    p->rule = r;
    p->fill = fill;
    p->panel_keys = k;
    p->panel_depth = r->Dk;
    p->queries = q;
    p->wide_row_floats = q->dtype != PA_F32 ? r->Dk : 0;
    p->wide_key_floats = k->dtype != PA_F32 ? r->Dk : 0;
    const pa_tensor *inputs[] = { q, k };
    const char *names[] = { "q", "k" };
    return pa_plan_init(p, "v", v, out, o, inputs, names, 2);
}

int pa_sdpa_workspace_size(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                           const pa_tensor *out, const pa_sdpa_options *opts,
                           long long *bytes)
{
    pa_plan p;
    sdpa_rule r;
    if (bytes == NULL)
        return pa_fail(PA_EINVAL, "pa_sdpa_workspace_size: bytes is NULL");
    const pa_sdpa_options o = pa_options_copy(opts);
    int rc = make_plan(&p, &r, q, k, v, out, &o);
    if (rc == PA_OK) {
        const pa_decode_input in = { r.q, r.k, r.scale };
        *bytes = pa_decode_applies(&p) ? pa_decode_workspace_bytes(&p, &in) : pa_plan_workspace_bytes(&p);
    }
    return rc;
}

int pa_sdpa_decodes(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                    const pa_tensor *out, const pa_sdpa_options *opts, int *decodes)
{
    const pa_sdpa_options o = pa_options_copy(opts);
    pa_plan p;
    sdpa_rule r;
    int rc = make_plan(&p, &r, q, k, v, out, &o);
    if (rc == PA_OK)
        *decodes = pa_decode_applies(&p);
    return rc;
}

int pa_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
            const pa_tensor *out, const pa_sdpa_options *opts)
{
    const pa_sdpa_options o = pa_options_copy(opts);
    pa_plan p;
    sdpa_rule r;
    int rc = make_plan(&p, &r, q, k, v, out, &o);
    if (rc != PA_OK)
        return rc;
    if (pa_decode_applies(&p)) {
        const pa_decode_input in = { r.q, r.k, r.scale };
        return pa_decode_run(&p, &in, &o);
    }
    return pa_plan_run(&p, &o);
}

/* a * b for sizes >= 0, or LLONG_MAX when it does not fit: a dense array
 * that large has more elements than 64 bits count, which pa_sdpa refuses. */
static long long mul_or_max(long long a, long long b)
{
    return b != 0 && a > LLONG_MAX / b ? LLONG_MAX : a * b;
}

int pa_sdpa_dense(const float *q, const float *k, const float *v, float *out, int B, int H, int Hkv,
                  int Lq, int Lk, int Dk, int Dv, float scale, int causal)
{
    static const char *FN = "pa_sdpa_dense";
    const int dims[7] = { B, H, Hkv, Lq, Lk, Dk, Dv };
    for (int i = 0; i < 7; i++)
        if (dims[i] < 0)
            return pa_fail(PA_EINVAL, "%s: sizes must be >= 0, got B=%d H=%d Hkv=%d Lq=%d Lk=%d Dk=%d Dv=%d",
                           FN, B, H, Hkv, Lq, Lk, Dk, Dv);
    /* Dense (B, H, L, D) descriptors over the arrays, each exactly its size. */
    const long long shapes[4][4] = { { B, H, Lq, Dk }, { B, Hkv, Lk, Dk }, { B, Hkv, Lk, Dv }, { B, H, Lq, Dv } };
    const float *data[4] = { q, k, v, out };
    pa_tensor t[4];
    for (int i = 0; i < 4; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].data = (void *)data[i];
        t[i].dtype = PA_F32;
        long long stride = 1, capacity = 1;
        for (int d = 3; d >= 0; d--) {
            t[i].shape[d] = shapes[i][d];
            t[i].strides[d] = stride;
            stride = mul_or_max(stride, shapes[i][d] > 0 ? shapes[i][d] : 1);
            capacity = mul_or_max(capacity, shapes[i][d]);
        }
        t[i].capacity = capacity;
    }
    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    o.scale = scale;
    o.causal = causal;
    return pa_sdpa(&t[0], &t[1], &t[2], &t[3], &o);
}

/* The twin whose buffers are call arguments (see panattn.h). */
int pa_sdpa_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                    const pa_tensor *out, const pa_sdpa_options *opts,
                    const void *q_data, const void *k_data, const void *v_data,
                    void *out_data, const void *mask_data, void *weights_data,
                    const void *key_padding_data, const void *alibi_slopes_data,
                    const void *rel_bias_data)
{
    pa_tensor c[4];
    pa_option_copies oc;
    const pa_sdpa_options *o = pa_options_with_data(&oc, opts, mask_data, weights_data, key_padding_data,
                                                 alibi_slopes_data, rel_bias_data);
    return pa_sdpa(pa_with_data(q, q_data, &c[0]), pa_with_data(k, k_data, &c[1]), pa_with_data(v, v_data, &c[2]),
                   pa_with_data(out, out_data, &c[3]), o);
}
