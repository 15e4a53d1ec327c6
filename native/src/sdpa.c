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

typedef struct mask_plan {
    const pa_tensor *t;         /* NULL when absent */
    long long strides[3];       /* 0 where the mask broadcasts */
} mask_plan;

typedef struct plan {
    const pa_tensor *q, *k, *v, *out, *weights;
    mask_plan masks[2];         /* mask, key_padding */
    long long B, H, Hkv, Lq, Lk, Dk, Dv;
    float scale;
    int causal;
    long long window;
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
static int check_mask(const plan *p, const char *name, const pa_tensor *m, mask_plan *out)
{
    if (m == NULL)
        return PA_OK;
    int rc = pa_check_tensor(FN, name, m, m->dtype == PA_BOOL ? PA_BOOL : PA_F32, 0);
    if (rc != PA_OK)
        return rc;
    const long long full[3] = { p->B, p->H, p->Lq };
    for (int d = 0; d < 3; d++) {
        if (m->shape[d] != 1 && m->shape[d] != full[d])
            return pa_fail(PA_EINVAL,
                           "%s: %s.shape[%d] = %lld, expected 1 or %lld (a mask is "
                           "(1|B, 1|H, 1|Lq, Lk))", FN, name, d, m->shape[d], full[d]);
        out->strides[d] = m->shape[d] == 1 ? 0 : m->strides[d];
    }
    rc = expect_dim(name, m, 3, p->Lk, "Lk");
    if (rc == PA_OK && p->Lk > 1 && m->strides[3] != 1)
        rc = pa_fail(PA_EINVAL, "%s: %s.strides[3] = %lld, expected 1", FN, name, m->strides[3]);
    out->t = m;
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
    if (o->window < 0 || (o->window > 0 && o->causal == PA_CAUSAL_NONE))
        return pa_fail(PA_EINVAL, "%s: window = %lld must be >= 0, and needs a causal rule",
                       FN, o->window);
    p->causal = o->causal;
    p->window = o->window;
    p->scale = o->scale != 0.0f ? o->scale
             : p->Dk > 0 ? (float)(1.0 / sqrt((double)p->Dk)) : 1.0f;
    if ((rc = check_mask(p, "mask", o->mask, &p->masks[0])) != PA_OK ||
        (rc = check_mask(p, "key_padding", o->key_padding, &p->masks[1])) != PA_OK)
        return rc;
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

/* Two masks of one dtype are merged row by row into a scratch row. */
static int merges_masks(const plan *p)
{
    return p->masks[0].t != NULL && p->masks[1].t != NULL
        && p->masks[0].t->dtype == p->masks[1].t->dtype;
}

/* Workspace floats: the score tile (unless written into the weights
 * output), then a row for merging two masks. */
static long long tile_floats(const plan *p)
{
    if (p->weights != NULL || p->Lq == 0)
        return 0;
    return (p->Lq < TILE_ROWS ? p->Lq : TILE_ROWS) * p->Lk;
}

static long long workspace_floats(const plan *p)
{
    return tile_floats(p) + (merges_masks(p) ? p->Lk : 0);
}

/* The keys query row i may see: [lo, hi). The window counts back from the
 * query's causal position, before clamping to the keys that exist. */
static void key_range(const plan *p, long long i, long long *lo, long long *hi)
{
    long long h = p->causal == PA_CAUSAL_TOP_LEFT ? i + 1
                : p->causal == PA_CAUSAL_BOTTOM_RIGHT ? i + 1 + p->Lk - p->Lq
                : p->Lk;
    long long l = p->window > 0 ? h - p->window : 0;
    *lo = l < 0 ? 0 : l > p->Lk ? p->Lk : l;
    *hi = h < 0 ? 0 : h > p->Lk ? p->Lk : h;
}

static float *f32(const pa_tensor *t, long long i0, long long i1, long long i2)
{
    return (float *)t->data + i0 * t->strides[0] + i1 * t->strides[1] + i2 * t->strides[2];
}

static int ld(const pa_tensor *t) { return (int)(t->strides[2] > t->shape[3] ? t->strides[2]
                                                 : t->shape[3] > 0 ? t->shape[3] : 1); }

/* Row i's masks as one additive and one keep row (either may be NULL). */
static void mask_row(const plan *p, long long b, long long h, long long i, float *merge,
                     long long lo, long long hi, const float **add, const unsigned char **keep)
{
    *add = NULL;
    *keep = NULL;
    const void *rows[2] = { NULL, NULL };
    for (int m = 0; m < 2; m++) {
        const mask_plan *mp = &p->masks[m];
        if (mp->t == NULL)
            continue;
        long long off = b * mp->strides[0] + h * mp->strides[1] + i * mp->strides[2];
        if (mp->t->dtype == PA_BOOL) {
            rows[m] = (const unsigned char *)mp->t->data + off;
            *keep = rows[m];
        } else {
            rows[m] = (const float *)mp->t->data + off;
            *add = rows[m];
        }
    }
    if (!merges_masks(p))
        return;
    if (p->masks[0].t->dtype == PA_BOOL) {
        unsigned char *k = (unsigned char *)merge;
        const unsigned char *a = rows[0], *c = rows[1];
        for (long long j = lo; j < hi; j++)
            k[j] = a[j] != 0 && c[j] != 0;
        *keep = k;
    } else {
        const float *a = rows[0], *c = rows[1];
        for (long long j = lo; j < hi; j++)
            merge[j] = a[j] + c[j];
        *add = merge;
    }
}

static void zero(float *s, long long from, long long to)
{
    for (long long j = from; j < to; j++)
        s[j] = 0.0f;
}

/* One (batch, head, query tile): scores, masked softmax, times V. Only the
 * key columns some row of the tile may see are computed. */
static void run_tile(const plan *p, const pa_kernels *kern, long long b, long long h,
                     long long tile, float *scratch)
{
    const long long kvh = h / (p->H / p->Hkv);
    const long long i0 = tile * TILE_ROWS;
    const long long rows = p->Lq - i0 < TILE_ROWS ? p->Lq - i0 : TILE_ROWS;
    long long c0, c1, unused;
    key_range(p, i0, &c0, &unused);
    key_range(p, i0 + rows - 1, &unused, &c1);
    const long long cols = c1 > c0 ? c1 - c0 : 0;
    float *merge = scratch + tile_floats(p);
    float *s = p->weights != NULL ? f32(p->weights, b, h, i0) : scratch;
    const int lds = p->weights != NULL ? ld(p->weights) : (int)(p->Lk > 0 ? p->Lk : 1);
    /* Columns that must hold zeros outside each row's range: the whole
     * weights row, or just the tile's columns. */
    const long long z0 = p->weights != NULL ? 0 : c0, z1 = p->weights != NULL ? p->Lk : c1;

    if (cols > 0 && p->Dk > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)p->Dk,
                    p->scale, f32(p->q, b, h, i0), ld(p->q), f32(p->k, b, kvh, c0), ld(p->k),
                    0.0f, s + c0, lds);
    else
        for (long long r = 0; r < rows; r++)
            zero(s + r * lds, c0, c0 + cols);

    for (long long r = 0; r < rows; r++) {
        long long lo, hi;
        key_range(p, i0 + r, &lo, &hi);
        float *row = s + r * lds;
        if (hi <= lo) {
            zero(row, z0, z1);
            continue;
        }
        const float *add;
        const unsigned char *keep;
        mask_row(p, b, h, i0 + r, merge, lo, hi, &add, &keep);
        kern->softmax_row(row + lo, hi - lo, add != NULL ? add + lo : NULL,
                          keep != NULL ? keep + lo : NULL);
        zero(row, z0, lo);
        zero(row, hi, z1);
    }

    float *op = f32(p->out, b, h, i0);
    if (cols > 0 && p->Dv > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)p->Dv, (int)cols,
                    1.0f, s + c0, lds, f32(p->v, b, kvh, c0), ld(p->v), 0.0f, op, ld(p->out));
    else
        for (long long r = 0; r < rows; r++)
            zero(op + r * p->out->strides[2], 0, p->Dv);
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
    if (p.B == 0 || p.H == 0 || p.Lq == 0 || (p.Dv == 0 && p.weights == NULL))
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
