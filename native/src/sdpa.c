/*
 * Scaled dot-product attention driver: validates the arguments, then for
 * every (batch, head, query tile) computes the scores with one sgemm, masks
 * and normalises them row by row with the ISA kernel, and multiplies by V
 * with a second sgemm. Memory beyond the outputs is one score tile.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"

/* Query rows per tile: bounds the score tile at TILE_ROWS x Lk floats. */
#define TILE_ROWS 256

typedef struct plan {
    const pa_tensor *q, *k, *v, *out, *mask, *weights;
    long long B, H, Hkv, Lq, Lk, Dk, Dv;
    long long mask_strides[3];  /* 0 where the mask broadcasts */
    float scale;
    int causal;
    long long tiles;            /* query tiles per (batch, head) */
} plan;

static const char *FN = "pa_sdpa";

static int expect_dim(const char *name, const pa_tensor *t, int dim,
                      long long want, const char *what)
{
    if (t->shape[dim] != want)
        return pa_fail(PA_EINVAL, "%s: %s.shape[%d] = %lld, expected %lld (%s)",
                       FN, name, dim, t->shape[dim], want, what);
    return PA_OK;
}

/* Mask dims 0..2 are 1 (broadcast) or the full size; dim 3 is Lk. */
static int check_mask(plan *p, const pa_tensor *m)
{
    int rc = pa_check_tensor(FN, "mask", m, m->dtype == PA_BOOL ? PA_BOOL : PA_F32, 0);
    if (rc != PA_OK)
        return rc;
    const long long full[3] = { p->B, p->H, p->Lq };
    for (int d = 0; d < 3; d++) {
        if (m->shape[d] != 1 && m->shape[d] != full[d])
            return pa_fail(PA_EINVAL,
                           "%s: mask.shape[%d] = %lld, expected 1 or %lld (mask shape "
                           "is (1|B, 1|H, 1|Lq, Lk))", FN, d, m->shape[d], full[d]);
        p->mask_strides[d] = m->shape[d] == 1 ? 0 : m->strides[d];
    }
    rc = expect_dim("mask", m, 3, p->Lk, "Lk");
    if (rc == PA_OK && p->Lk > 1 && m->strides[3] != 1)
        rc = pa_fail(PA_EINVAL, "%s: mask.strides[3] = %lld, expected 1", FN, m->strides[3]);
    return rc;
}

static int make_plan(plan *p, const pa_tensor *q, const pa_tensor *k,
                     const pa_tensor *v, const pa_tensor *out,
                     const pa_sdpa_options *o)
{
    int rc;
    if ((rc = pa_check_tensor(FN, "q", q, PA_F32, 1)) != PA_OK ||
        (rc = pa_check_tensor(FN, "k", k, PA_F32, 1)) != PA_OK ||
        (rc = pa_check_tensor(FN, "v", v, PA_F32, 1)) != PA_OK ||
        (rc = pa_check_tensor(FN, "out", out, PA_F32, 1)) != PA_OK)
        return rc;
    memset(p, 0, sizeof *p);
    p->q = q; p->k = k; p->v = v; p->out = out;
    p->B = q->shape[0]; p->H = q->shape[1]; p->Lq = q->shape[2]; p->Dk = q->shape[3];
    p->Hkv = k->shape[1]; p->Lk = k->shape[2]; p->Dv = v->shape[3];
    if ((rc = expect_dim("k", k, 0, p->B, "B of q")) != PA_OK ||
        (rc = expect_dim("k", k, 3, p->Dk, "Dk of q")) != PA_OK ||
        (rc = expect_dim("v", v, 0, p->B, "B of q")) != PA_OK ||
        (rc = expect_dim("v", v, 1, p->Hkv, "Hkv of k")) != PA_OK ||
        (rc = expect_dim("v", v, 2, p->Lk, "Lk of k")) != PA_OK ||
        (rc = expect_dim("out", out, 0, p->B, "B of q")) != PA_OK ||
        (rc = expect_dim("out", out, 1, p->H, "H of q")) != PA_OK ||
        (rc = expect_dim("out", out, 2, p->Lq, "Lq of q")) != PA_OK ||
        (rc = expect_dim("out", out, 3, p->Dv, "Dv of v")) != PA_OK)
        return rc;
    if (p->Hkv == 0 ? p->H != 0 : p->H % p->Hkv != 0)
        return pa_fail(PA_EINVAL, "%s: q has %lld heads, not a multiple of k's %lld heads",
                       FN, p->H, p->Hkv);
    if (o->causal < PA_CAUSAL_NONE || o->causal > PA_CAUSAL_BOTTOM_RIGHT)
        return pa_fail(PA_EINVAL, "%s: causal = %d is not an enum pa_causal value",
                       FN, o->causal);
    if (!isfinite(o->scale))
        return pa_fail(PA_EINVAL, "%s: scale = %g must be finite", FN, (double)o->scale);
    p->causal = o->causal;
    p->scale = o->scale != 0.0f ? o->scale
             : p->Dk > 0 ? (float)(1.0 / sqrt((double)p->Dk)) : 1.0f;
    if (o->mask != NULL) {
        p->mask = o->mask;
        if ((rc = check_mask(p, o->mask)) != PA_OK)
            return rc;
    }
    if (o->weights != NULL) {
        const pa_tensor *w = o->weights;
        p->weights = w;
        if ((rc = pa_check_tensor(FN, "weights", w, PA_F32, 1)) != PA_OK ||
            (rc = expect_dim("weights", w, 0, p->B, "B")) != PA_OK ||
            (rc = expect_dim("weights", w, 1, p->H, "H")) != PA_OK ||
            (rc = expect_dim("weights", w, 2, p->Lq, "Lq")) != PA_OK ||
            (rc = expect_dim("weights", w, 3, p->Lk, "Lk")) != PA_OK)
            return rc;
    }
    p->tiles = (p->Lq + TILE_ROWS - 1) / TILE_ROWS;
    return PA_OK;
}

static long long workspace_floats(const plan *p)
{
    if (p->weights != NULL || p->Lq == 0)
        return 0;
    long long rows = p->Lq < TILE_ROWS ? p->Lq : TILE_ROWS;
    return rows * p->Lk;
}

/* Keys query row i may see under the causal rule (all Lk without one). */
static long long causal_limit(const plan *p, long long i)
{
    long long lim = p->causal == PA_CAUSAL_TOP_LEFT ? i + 1
                  : p->causal == PA_CAUSAL_BOTTOM_RIGHT ? i + 1 + p->Lk - p->Lq
                  : p->Lk;
    return lim < 0 ? 0 : lim > p->Lk ? p->Lk : lim;
}

static float *f32(const pa_tensor *t, long long i0, long long i1, long long i2)
{
    return (float *)t->data + i0 * t->strides[0] + i1 * t->strides[1] + i2 * t->strides[2];
}

static int ld(const pa_tensor *t) { return (int)(t->strides[2] > t->shape[3] ? t->strides[2]
                                                 : t->shape[3] > 0 ? t->shape[3] : 1); }

/* One (batch, head, query tile): scores, masked softmax, times V. */
static void run_tile(const plan *p, const pa_kernels *kern, long long b, long long h,
                     long long tile, float *scratch)
{
    const long long kvh = h / (p->H / p->Hkv);
    const long long i0 = tile * TILE_ROWS;
    const long long rows = p->Lq - i0 < TILE_ROWS ? p->Lq - i0 : TILE_ROWS;
    /* Keys beyond the last row's causal limit get weight 0: skip them. */
    const long long cols = causal_limit(p, i0 + rows - 1);
    float *s = p->weights != NULL ? f32(p->weights, b, h, i0) : scratch;
    const int lds = p->weights != NULL ? ld(p->weights) : (int)(p->Lk > 0 ? p->Lk : 1);
    const long long n = p->weights != NULL ? p->Lk : cols;
    const float *qp = f32(p->q, b, h, i0);

    if (cols > 0 && p->Dk > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)p->Dk,
                    p->scale, qp, ld(p->q), f32(p->k, b, kvh, 0), ld(p->k), 0.0f, s, lds);
    else
        for (long long r = 0; r < rows; r++)
            memset(s + r * lds, 0, sizeof(float) * (size_t)cols);

    for (long long r = 0; r < rows; r++) {
        const long long i = i0 + r;
        const float *add = NULL;
        const unsigned char *keep = NULL;
        if (p->mask != NULL) {
            long long off = b * p->mask_strides[0] + h * p->mask_strides[1]
                          + i * p->mask_strides[2];
            if (p->mask->dtype == PA_BOOL)
                keep = (const unsigned char *)p->mask->data + off;
            else
                add = (const float *)p->mask->data + off;
        }
        long long lim = causal_limit(p, i);
        kern->softmax_row(s + r * lds, n, lim < cols ? lim : cols, add, keep);
    }

    float *op = f32(p->out, b, h, i0);
    if (cols > 0 && p->Dv > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)p->Dv, (int)cols,
                    1.0f, s, lds, f32(p->v, b, kvh, 0), ld(p->v), 0.0f, op, ld(p->out));
    else
        for (long long r = 0; r < rows; r++)
            memset(op + r * p->out->strides[2], 0, sizeof(float) * (size_t)p->Dv);
}

int pa_sdpa_workspace_size(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                           const pa_tensor *out, const pa_sdpa_options *opts,
                           long long *bytes)
{
    static const pa_sdpa_options defaults;
    plan p;
    if (bytes == NULL)
        return pa_fail(PA_EINVAL, "pa_sdpa_workspace_size: bytes is NULL");
    int rc = make_plan(&p, q, k, v, out, opts != NULL ? opts : &defaults);
    if (rc == PA_OK)
        *bytes = workspace_floats(&p) * (long long)sizeof(float);
    return rc;
}

int pa_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
            const pa_tensor *out, const pa_sdpa_options *opts)
{
    static const pa_sdpa_options defaults;
    const pa_sdpa_options *o = opts != NULL ? opts : &defaults;
    plan p;
    int rc = make_plan(&p, q, k, v, out, o);
    if (rc != PA_OK)
        return rc;
    if (p.B == 0 || p.H == 0 || p.Lq == 0 || p.Dv == 0)
        return PA_OK;
    const pa_kernels *kern = pa_active_kernels();
    long long need = workspace_floats(&p) * (long long)sizeof(float);
    float *scratch = NULL;
    void *owned = NULL;
    if (need > 0 && o->workspace != NULL) {
        if (o->workspace_bytes < need)
            return pa_fail(PA_EINVAL, "%s: workspace_bytes = %lld, need %lld (see "
                           "pa_sdpa_workspace_size)", FN, o->workspace_bytes, need);
        scratch = o->workspace;
    } else if (need > 0) {
        scratch = owned = malloc((size_t)need);
        if (owned == NULL)
            return pa_fail(PA_ENOMEM, "%s: cannot allocate %lld bytes of workspace", FN, need);
    }
    for (long long b = 0; b < p.B; b++)
        for (long long h = 0; h < p.H; h++)
            for (long long t = 0; t < p.tiles; t++)
                run_tile(&p, kern, b, h, t, scratch);
    free(owned);
    return PA_OK;
}
