/*
 * Scaled dot-product attention driver: validates the arguments, then for
 * every (batch, head, query tile) computes the scores with one sgemm, masks
 * and normalises them row by row with the ISA kernel, and multiplies by V
 * with a second sgemm. Memory beyond the outputs is one score tile.
 *
 * The driver works on checked copies of the caller's descriptors and
 * options (see pa_load_tensor), so nothing the caller changes during the
 * call can invalidate the checks, and a failed call writes nothing.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"

/* Query rows per tile: bounds the score tile at TILE_ROWS x Lk floats. */
#define TILE_ROWS 256

typedef struct plan {
    pa_tensor q, k, v, out, mask, weights;  /* checked copies */
    int has_mask, has_weights;              /* non-empty mask / weights */
    long long B, H, Hkv, Lq, Lk, Dk, Dv;
    float scale;
    int causal;
    long long tiles;            /* query tiles per (batch, head) */
} plan;

static const char *FN = "pa_sdpa";

/* The data pointers that replace the descriptors' ones (pa_sdpa_buffers). */
typedef struct buffers {
    const void *q, *k, *v, *out, *mask, *weights;
} buffers;

static int expect_dim(const char *name, const pa_tensor *t, int dim,
                      long long want, const char *what)
{
    if (t->shape[dim] != want)
        return pa_fail(PA_EINVAL, "%s: %s.shape[%d] = %lld, expected %lld (%s)",
                       FN, name, dim, t->shape[dim], want, what);
    return PA_OK;
}

/* Loads *t into *copy, its data pointer first replaced by data when given. */
static int load(const char *name, const pa_tensor *t, const void *const *data,
                pa_tensor *copy, int dtype, int unit_last)
{
    pa_tensor replaced;
    if (t != NULL && data != NULL) {
        replaced = *t;
        replaced.data = (void *)(uintptr_t)*data;
        t = &replaced;
    }
    return pa_load_tensor(FN, name, t, copy, dtype, unit_last);
}

/* Mask dims 0..2 are 1 (broadcast) or the full size; dim 3 is Lk. */
static int check_mask(plan *p, const pa_tensor *m, const void *const *data)
{
    if (m->dtype != PA_BOOL && m->dtype != PA_F32)
        return pa_fail(PA_EINVAL, "%s: mask has dtype %d, expected PA_BOOL (keep-mask) or "
                       "PA_F32 (additive mask)", FN, m->dtype);
    int rc = load("mask", m, data, &p->mask, m->dtype, 0);
    if (rc != PA_OK)
        return rc;
    const long long full[3] = { p->B, p->H, p->Lq };
    for (int d = 0; d < 3; d++)
        if (p->mask.shape[d] != 1 && p->mask.shape[d] != full[d])
            return pa_fail(PA_EINVAL,
                           "%s: mask.shape[%d] = %lld, expected 1 or %lld (mask shape "
                           "is (1|B, 1|H, 1|Lq, Lk))", FN, d, p->mask.shape[d], full[d]);
    rc = expect_dim("mask", &p->mask, 3, p->Lk, "Lk");
    if (rc == PA_OK && p->Lk > 1 && p->mask.strides[3] != 1)
        rc = pa_fail(PA_EINVAL, "%s: mask.strides[3] = %lld, expected 1", FN, p->mask.strides[3]);
    p->has_mask = pa_numel(&p->mask) > 0;
    return rc;
}

/* Outputs get a distinct place per element and share memory with nothing. */
static int check_outputs(const plan *p)
{
    int rc;
    if ((rc = pa_check_distinct_elements(FN, "out", &p->out)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "out", &p->out, "q", &p->q)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "out", &p->out, "k", &p->k)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "out", &p->out, "v", &p->v)) != PA_OK)
        return rc;
    if (p->has_mask && (rc = pa_check_disjoint(FN, "out", &p->out, "mask", &p->mask)) != PA_OK)
        return rc;
    if (!p->has_weights)
        return PA_OK;
    if ((rc = pa_check_distinct_elements(FN, "weights", &p->weights)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "weights", &p->weights, "out", &p->out)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "weights", &p->weights, "q", &p->q)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "weights", &p->weights, "k", &p->k)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "weights", &p->weights, "v", &p->v)) != PA_OK)
        return rc;
    if (p->has_mask)
        return pa_check_disjoint(FN, "weights", &p->weights, "mask", &p->mask);
    return PA_OK;
}

static int make_plan(plan *p, const pa_tensor *q, const pa_tensor *k,
                     const pa_tensor *v, const pa_tensor *out,
                     const pa_sdpa_options *o, const buffers *data)
{
    int rc;
    memset(p, 0, sizeof *p);
    if ((rc = load("q", q, data ? &data->q : NULL, &p->q, PA_F32, 1)) != PA_OK ||
        (rc = load("k", k, data ? &data->k : NULL, &p->k, PA_F32, 1)) != PA_OK ||
        (rc = load("v", v, data ? &data->v : NULL, &p->v, PA_F32, 1)) != PA_OK ||
        (rc = load("out", out, data ? &data->out : NULL, &p->out, PA_F32, 1)) != PA_OK)
        return rc;
    q = &p->q; k = &p->k; v = &p->v; out = &p->out;
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
    if (o->mask != NULL && (rc = check_mask(p, o->mask, data ? &data->mask : NULL)) != PA_OK)
        return rc;
    if (o->weights != NULL) {
        pa_tensor *w = &p->weights;
        if ((rc = load("weights", o->weights, data ? &data->weights : NULL, w, PA_F32, 1)) != PA_OK ||
            (rc = expect_dim("weights", w, 0, p->B, "B")) != PA_OK ||
            (rc = expect_dim("weights", w, 1, p->H, "H")) != PA_OK ||
            (rc = expect_dim("weights", w, 2, p->Lq, "Lq")) != PA_OK ||
            (rc = expect_dim("weights", w, 3, p->Lk, "Lk")) != PA_OK)
            return rc;
        p->has_weights = pa_numel(w) > 0;
    }
    if ((rc = check_outputs(p)) != PA_OK)
        return rc;
    p->tiles = (p->Lq + TILE_ROWS - 1) / TILE_ROWS;
    return PA_OK;
}

static long long workspace_floats(const plan *p)
{
    if (p->has_weights || p->Lq == 0)
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

/* Row (i0, i1, i2) of a non-empty loaded tensor. */
static float *f32(const pa_tensor *t, long long i0, long long i1, long long i2)
{
    return (float *)t->data + i0 * t->strides[0] + i1 * t->strides[1] + i2 * t->strides[2];
}

static int ld(const pa_tensor *t) { return (int)(t->strides[2] > t->shape[3] ? t->strides[2]
                                                 : t->shape[3] > 0 ? t->shape[3] : 1); }

/* True when a softmax row came out all zeros: its query sees no key. A
 * row that sees one has a weight of at least 1/Lk (or NaN), so the scan
 * stops at once for ordinary rows. */
static int all_zero(const float *s, long long n)
{
    for (long long j = 0; j < n; j++)
        if (s[j] != 0.0f)
            return 0;
    return 1;
}

static void zero_rows(float *first, long long rows, long long stride, long long n)
{
    for (long long r = 0; r < rows; r++)
        memset(first + r * stride, 0, sizeof(float) * (size_t)n);
}

/* One (batch, head, query tile): scores, masked softmax, times V. */
static void run_tile(const plan *p, const pa_kernels *kern, long long b, long long h,
                     long long tile, float *scratch)
{
    const long long kvh = h / (p->H / p->Hkv);
    const long long i0 = tile * TILE_ROWS;
    const long long rows = p->Lq - i0 < TILE_ROWS ? p->Lq - i0 : TILE_ROWS;
    float *op = p->Dv > 0 ? f32(&p->out, b, h, i0) : NULL;
    if (p->Lk == 0) {           /* no keys: zeros, and no weights to write */
        if (op != NULL)
            zero_rows(op, rows, p->out.strides[2], p->Dv);
        return;
    }
    /* Keys beyond the last row's causal limit get weight 0: skip them. */
    const long long cols = causal_limit(p, i0 + rows - 1);
    float *s = p->has_weights ? f32(&p->weights, b, h, i0) : scratch;
    const int lds = p->has_weights ? ld(&p->weights) : (int)p->Lk;
    const long long n = p->has_weights ? p->Lk : cols;
    unsigned char empty[TILE_ROWS];

    if (cols > 0 && p->Dk > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)p->Dk,
                    p->scale, f32(&p->q, b, h, i0), ld(&p->q), f32(&p->k, b, kvh, 0), ld(&p->k),
                    0.0f, s, lds);
    else
        zero_rows(s, rows, lds, cols);

    for (long long r = 0; r < rows; r++) {
        const long long i = i0 + r;
        const float *add = NULL;
        const unsigned char *keep = NULL;
        if (p->has_mask) {
            const pa_tensor *m = &p->mask;
            long long off = b * m->strides[0] + h * m->strides[1] + i * m->strides[2];
            if (m->dtype == PA_BOOL)
                keep = (const unsigned char *)m->data + off;
            else
                add = (const float *)m->data + off;
        }
        long long lim = causal_limit(p, i);
        if (lim > cols)
            lim = cols;
        kern->softmax_row(s + r * lds, n, lim, add, keep);
        empty[r] = (unsigned char)all_zero(s + r * lds, lim);
    }

    if (op == NULL)
        return;
    if (cols > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)p->Dv, (int)cols,
                    1.0f, s, lds, f32(&p->v, b, kvh, 0), ld(&p->v), 0.0f, op, ld(&p->out));
    /* A query that sees no key gets zeros even when V holds NaN or
     * infinities (0 * Inf would be NaN in the product). */
    for (long long r = 0; r < rows; r++)
        if (cols == 0 || empty[r])
            memset(op + r * p->out.strides[2], 0, sizeof(float) * (size_t)p->Dv);
}

int pa_sdpa_workspace_size(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                           const pa_tensor *out, const pa_sdpa_options *opts,
                           long long *bytes)
{
    static const pa_sdpa_options defaults;
    plan p;
    if (bytes == NULL)
        return pa_fail(PA_EINVAL, "pa_sdpa_workspace_size: bytes is NULL");
    pa_sdpa_options o = opts != NULL ? *opts : defaults;
    int rc = make_plan(&p, q, k, v, out, &o, NULL);
    if (rc == PA_OK)
        *bytes = workspace_floats(&p) * (long long)sizeof(float);
    return rc;
}

/* The caller's workspace, if it is big enough, aligned and apart from
 * every tensor; else the status. */
static int check_workspace(const plan *p, const pa_sdpa_options *o, long long need)
{
    if (o->workspace_bytes < need)
        return pa_fail(PA_EINVAL, "%s: workspace_bytes = %lld, need %lld (see "
                       "pa_sdpa_workspace_size)", FN, o->workspace_bytes, need);
    if ((uintptr_t)o->workspace % sizeof(float) != 0)
        return pa_fail(PA_EINVAL, "%s: workspace = %p is not aligned to 4 bytes", FN, o->workspace);
    pa_tensor ws = { o->workspace, PA_BOOL, 0, { 1, 1, 1, need }, { 0, 0, 0, 1 }, need };
    const pa_tensor *others[] = { &p->q, &p->k, &p->v, &p->out, &p->mask, &p->weights };
    const char *names[] = { "q", "k", "v", "out", "mask", "weights" };
    for (int i = 0; i < 6; i++) {
        int rc = pa_check_disjoint(FN, "workspace", &ws, names[i], others[i]);
        if (rc != PA_OK)
            return rc;
    }
    return PA_OK;
}

static int sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                const pa_tensor *out, const pa_sdpa_options *opts, const buffers *data)
{
    static const pa_sdpa_options defaults;
    const pa_sdpa_options o = opts != NULL ? *opts : defaults;
    plan p;
    int rc = make_plan(&p, q, k, v, out, &o, data);
    if (rc != PA_OK)
        return rc;
    if (pa_numel(&p.out) == 0 && !p.has_weights)
        return PA_OK;           /* nothing to write */
    const pa_kernels *kern = pa_active_kernels();
    long long need = workspace_floats(&p) * (long long)sizeof(float);
    float *scratch = NULL;
    void *owned = NULL;
    if (need > 0 && o.workspace != NULL) {
        if ((rc = check_workspace(&p, &o, need)) != PA_OK)
            return rc;
        scratch = o.workspace;
    } else if (need > 0) {
        scratch = owned = need <= (long long)(SIZE_MAX / 2) ? malloc((size_t)need) : NULL;
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

int pa_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
            const pa_tensor *out, const pa_sdpa_options *opts)
{
    return sdpa(q, k, v, out, opts, NULL);
}

int pa_sdpa_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                    const pa_tensor *out, const pa_sdpa_options *opts,
                    const void *q_data, const void *k_data, const void *v_data,
                    void *out_data, const void *mask_data, void *weights_data)
{
    const buffers data = { q_data, k_data, v_data, out_data, mask_data, weights_data };
    return sdpa(q, k, v, out, opts, &data);
}
