/* Scaled dot-product attention: scores Q.K^T * scale by one sgemm per tile;
 * the rest is the shared driver (attend.c). */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "attend.h"

typedef struct sdpa_rule {
    const pa_tensor *q, *k;
    long long Dk;
    float scale;
} sdpa_rule;

static void fill(const pa_plan *p, const pa_rows *rows, long long c0, long long c1, float *s, int lds)
{
    const sdpa_rule *r = p->rule;
    if (r->Dk == 0) {
        for (long long i = 0; i < rows->count; i++)
            memset(s + i * lds, 0, sizeof(float) * (size_t)(c1 - c0));
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows->count, (int)(c1 - c0), (int)r->Dk,
                r->scale, pa_row(r->q, rows->b, rows->h0, rows->i0), pa_rows_ld(rows, r->q),
                pa_row(r->k, rows->b, rows->kvh, c0), pa_ld(r->k), 0.0f, s, lds);
}

static const pa_sdpa_options defaults;

static int make_plan(pa_plan *p, sdpa_rule *r, const pa_tensor *q, const pa_tensor *k,
                     const pa_tensor *v, const pa_tensor *out, const pa_sdpa_options *o)
{
    static const char *FN = "pa_sdpa";
    int rc;
    memset(p, 0, sizeof *p);
    p->fn = FN;
    if ((rc = pa_check_tensor(FN, "q", q, PA_F32, 1)) != PA_OK ||
        (rc = pa_check_tensor(FN, "k", k, PA_F32, 1)) != PA_OK ||
        (rc = pa_check_tensor(FN, "v", v, PA_F32, 1)) != PA_OK)
        return rc;
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
    p->queries = q;
    return pa_plan_init(p, "v", v, out, o);
}

int pa_sdpa_workspace_size(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                           const pa_tensor *out, const pa_sdpa_options *opts,
                           long long *bytes)
{
    pa_plan p;
    sdpa_rule r;
    if (bytes == NULL)
        return pa_fail(PA_EINVAL, "pa_sdpa_workspace_size: bytes is NULL");
    int rc = make_plan(&p, &r, q, k, v, out, opts != NULL ? opts : &defaults);
    if (rc == PA_OK)
        *bytes = pa_plan_workspace_bytes(&p);
    return rc;
}

int pa_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
            const pa_tensor *out, const pa_sdpa_options *opts)
{
    const pa_sdpa_options *o = opts != NULL ? opts : &defaults;
    pa_plan p;
    sdpa_rule r;
    int rc = make_plan(&p, &r, q, k, v, out, o);
    return rc != PA_OK ? rc : pa_plan_run(&p, o);
}
