/* The shared attention driver: see attend.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "attend.h"

int pa_expect_dim(const char *fn, const char *name, const pa_tensor *t, int dim,
                  long long want, const char *what)
{
    if (t->shape[dim] != want)
        return pa_fail(PA_EINVAL, "%s: %s.shape[%d] = %lld, expected %lld (%s)",
                       fn, name, dim, t->shape[dim], want, what);
    return PA_OK;
}

float *pa_row(const pa_tensor *t, long long i0, long long i1, long long i2)
{
    return (float *)t->data + i0 * t->strides[0] + i1 * t->strides[1] + i2 * t->strides[2];
}

int pa_ld(const pa_tensor *t)
{
    return (int)(t->strides[2] > t->shape[3] ? t->strides[2] : t->shape[3] > 0 ? t->shape[3] : 1);
}

/* Mask dims 0..2 are 1 (broadcast) or the full size; dim 3 is Lk. */
static int check_mask(const pa_plan *p, const char *name, const pa_tensor *m, pa_mask_plan *out)
{
    if (m == NULL)
        return PA_OK;
    int rc = pa_check_tensor(p->fn, name, m, m->dtype == PA_BOOL ? PA_BOOL : PA_F32, 0);
    if (rc != PA_OK)
        return rc;
    const long long full[3] = { p->B, p->H, p->Lq };
    for (int d = 0; d < 3; d++) {
        if (m->shape[d] != 1 && m->shape[d] != full[d])
            return pa_fail(PA_EINVAL,
                           "%s: %s.shape[%d] = %lld, expected 1 or %lld (a mask is "
                           "(1|B, 1|H, 1|Lq, Lk))", p->fn, name, d, m->shape[d], full[d]);
        out->strides[d] = m->shape[d] == 1 ? 0 : m->strides[d];
    }
    rc = pa_expect_dim(p->fn, name, m, 3, p->Lk, "Lk");
    if (rc == PA_OK && p->Lk > 1 && m->strides[3] != 1)
        rc = pa_fail(PA_EINVAL, "%s: %s.strides[3] = %lld, expected 1", p->fn, name, m->strides[3]);
    out->t = m;
    return rc;
}

static int check_positional(pa_plan *p, const pa_sdpa_options *o)
{
    int rc;
    if (!isfinite(o->softcap) || o->softcap < 0.0f)
        return pa_fail(PA_EINVAL, "%s: softcap = %g must be finite and >= 0", p->fn, (double)o->softcap);
    p->softcap = o->softcap;
    if (o->alibi_slopes != NULL) {
        p->alibi = o->alibi_slopes;
        if ((rc = pa_check_tensor(p->fn, "alibi_slopes", p->alibi, PA_F32, 0)) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 0, 1, "1")) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 1, 1, "1")) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 2, 1, "1")) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 3, p->H, "H")) != PA_OK)
            return rc;
    }
    if (o->rel_bias != NULL) {
        p->rel_bias = o->rel_bias;
        if ((rc = pa_check_tensor(p->fn, "rel_bias", p->rel_bias, PA_F32, 0)) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "rel_bias", p->rel_bias, 2, p->H, "H")) != PA_OK)
            return rc;
        if (p->rel_bias->shape[0] != 1 || p->rel_bias->shape[1] != 1 || p->rel_bias->shape[3] < 2)
            return pa_fail(PA_EINVAL, "%s: rel_bias must be (1, 1, H, num_buckets >= 2)", p->fn);
        if (o->rel_max_distance < 2)
            return pa_fail(PA_EINVAL, "%s: rel_max_distance = %d must be >= 2", p->fn,
                           o->rel_max_distance);
        p->rel_bidirectional = o->rel_bidirectional != 0;
        p->rel_max_distance = o->rel_max_distance;
    }
    return PA_OK;
}

int pa_plan_init(pa_plan *p, const char *values_name, const pa_tensor *values,
                 const pa_tensor *out, const pa_sdpa_options *o)
{
    int rc;
    const char *fn = p->fn;
    if ((rc = pa_check_tensor(fn, values_name, values, PA_F32, 1)) != PA_OK ||
        (rc = pa_check_tensor(fn, "out", out, PA_F32, 1)) != PA_OK)
        return rc;
    p->values = values;
    p->out = out;
    p->Dv = values->shape[3];
    if ((rc = pa_expect_dim(fn, values_name, values, 0, p->B, "B")) != PA_OK ||
        (rc = pa_expect_dim(fn, values_name, values, 1, p->Hkv, "Hkv")) != PA_OK ||
        (rc = pa_expect_dim(fn, values_name, values, 2, p->Lk, "Lk")) != PA_OK ||
        (rc = pa_expect_dim(fn, "out", out, 0, p->B, "B")) != PA_OK ||
        (rc = pa_expect_dim(fn, "out", out, 1, p->H, "H")) != PA_OK ||
        (rc = pa_expect_dim(fn, "out", out, 2, p->Lq, "Lq")) != PA_OK ||
        (rc = pa_expect_dim(fn, "out", out, 3, p->Dv, "Dv")) != PA_OK)
        return rc;
    if (p->Hkv == 0 ? p->H != 0 : p->H % p->Hkv != 0)
        return pa_fail(PA_EINVAL, "%s: %lld query heads are not a multiple of %lld key heads",
                       fn, p->H, p->Hkv);
    if (o->causal < PA_CAUSAL_NONE || o->causal > PA_CAUSAL_BOTTOM_RIGHT)
        return pa_fail(PA_EINVAL, "%s: causal = %d is not an enum pa_causal value", fn, o->causal);
    if (o->window < 0 || (o->window > 0 && o->causal == PA_CAUSAL_NONE))
        return pa_fail(PA_EINVAL, "%s: window = %lld must be >= 0, and needs a causal rule",
                       fn, o->window);
    p->causal = o->causal;
    p->window = o->window;
    p->query_offset = o->causal == PA_CAUSAL_BOTTOM_RIGHT ? p->Lk - p->Lq : 0;
    if ((rc = check_mask(p, "mask", o->mask, &p->masks[0])) != PA_OK ||
        (rc = check_mask(p, "key_padding", o->key_padding, &p->masks[1])) != PA_OK ||
        (rc = check_positional(p, o)) != PA_OK)
        return rc;
    if (o->weights != NULL) {
        const pa_tensor *w = o->weights;
        p->weights = w;
        if ((rc = pa_check_tensor(fn, "weights", w, PA_F32, 1)) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 0, p->B, "B")) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 1, p->H, "H")) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 2, p->Lq, "Lq")) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 3, p->Lk, "Lk")) != PA_OK)
            return rc;
    }
    p->tiles = (p->Lq + PA_TILE_ROWS - 1) / PA_TILE_ROWS;
    return PA_OK;
}

/* Two masks of one dtype are merged row by row into a scratch row. */
static int merges_masks(const pa_plan *p)
{
    return p->masks[0].t != NULL && p->masks[1].t != NULL
        && p->masks[0].t->dtype == p->masks[1].t->dtype;
}

/* Workspace floats: the score tile (unless written into the weights
 * output), then a row for merging two masks. */
static long long tile_floats(const pa_plan *p)
{
    if (p->weights != NULL || p->Lq == 0)
        return 0;
    return (p->Lq < PA_TILE_ROWS ? p->Lq : PA_TILE_ROWS) * p->Lk;
}

long long pa_plan_workspace_bytes(const pa_plan *p)
{
    return (tile_floats(p) + (merges_masks(p) ? p->Lk : 0)) * (long long)sizeof(float);
}

/* The keys query row i may see: [lo, hi). The window counts back from the
 * query's causal position, before clamping to the keys that exist. */
static void key_range(const pa_plan *p, long long i, long long *lo, long long *hi)
{
    long long h = p->causal == PA_CAUSAL_NONE ? p->Lk : i + p->query_offset + 1;
    long long l = p->window > 0 ? h - p->window : 0;
    *lo = l < 0 ? 0 : l > p->Lk ? p->Lk : l;
    *hi = h < 0 ? 0 : h > p->Lk ? p->Lk : h;
}

/* Row i's masks as one additive and one keep row (either may be NULL). */
static void mask_row(const pa_plan *p, long long b, long long h, long long i, float *merge,
                     long long lo, long long hi, const float **add, const unsigned char **keep)
{
    *add = NULL;
    *keep = NULL;
    const void *rows[2] = { NULL, NULL };
    for (int m = 0; m < 2; m++) {
        const pa_mask_plan *mp = &p->masks[m];
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

/* T5's relative-position bucket of d = key position - query position. */
static long long t5_bucket(long long d, long long buckets, int bidirectional, int max_distance)
{
    long long bucket = 0, n = -d;
    if (bidirectional) {
        buckets /= 2;
        if (n < 0)
            bucket += buckets;
        n = n < 0 ? -n : n;
    } else if (n < 0) {
        n = 0;
    }
    long long exact = buckets / 2;
    if (n < exact)
        return bucket + n;
    long long large = exact + (long long)(log((double)n / (double)exact)
                                          / log((double)max_distance / (double)exact)
                                          * (double)(buckets - exact));
    return bucket + (large < buckets - 1 ? large : buckets - 1);
}

/* Softcap, ALiBi and relative-position bias for one row's [lo, hi). */
static void positional_row(const pa_plan *p, long long h, long long i, float *s, long long lo,
                           long long hi)
{
    const long long qpos = i + p->query_offset;
    const float cap = p->softcap;
    const float slope = p->alibi != NULL ? ((const float *)p->alibi->data)[h * p->alibi->strides[3]] : 0.0f;
    const float *table = p->rel_bias != NULL ? (const float *)p->rel_bias->data + h * p->rel_bias->strides[2] : NULL;
    for (long long j = lo; j < hi; j++) {
        float x = s[j];
        if (cap > 0.0f)
            x = cap * tanhf(x / cap);
        long long d = j - qpos;
        if (p->alibi != NULL)
            x -= slope * (float)(d < 0 ? -d : d);
        if (table != NULL)
            x += table[t5_bucket(d, p->rel_bias->shape[3], p->rel_bidirectional, p->rel_max_distance)
                       * p->rel_bias->strides[3]];
        s[j] = x;
    }
}

static void zero(float *s, long long from, long long to)
{
    for (long long j = from; j < to; j++)
        s[j] = 0.0f;
}

/* One (batch, head, query tile): scores, masked softmax, times V. Only the
 * key columns some row of the tile may see are computed. */
static void run_tile(const pa_plan *p, long long b, long long h, long long tile, float *scratch)
{
    const long long kvh = h / (p->H / p->Hkv);
    const long long i0 = tile * PA_TILE_ROWS;
    const long long rows = p->Lq - i0 < PA_TILE_ROWS ? p->Lq - i0 : PA_TILE_ROWS;
    long long c0, c1, unused;
    key_range(p, i0, &c0, &unused);
    key_range(p, i0 + rows - 1, &unused, &c1);
    const long long cols = c1 > c0 ? c1 - c0 : 0;
    float *merge = scratch + tile_floats(p);
    float *s = p->weights != NULL ? pa_row(p->weights, b, h, i0) : scratch;
    const int lds = p->weights != NULL ? pa_ld(p->weights) : (int)(p->Lk > 0 ? p->Lk : 1);
    /* Columns that must hold zeros outside each row's range: the whole
     * weights row, or just the tile's columns. */
    const long long z0 = p->weights != NULL ? 0 : c0, z1 = p->weights != NULL ? p->Lk : c1;
    const int positional = p->softcap > 0.0f || p->alibi != NULL || p->rel_bias != NULL;

    if (cols > 0)
        p->fill(p, b, h, kvh, i0, rows, c0, c1, s, lds);

    for (long long r = 0; r < rows; r++) {
        long long lo, hi;
        key_range(p, i0 + r, &lo, &hi);
        float *row = s + r * lds;
        if (hi <= lo) {
            zero(row, z0, z1);
            continue;
        }
        if (positional)
            positional_row(p, h, i0 + r, row, lo, hi);
        const float *add;
        const unsigned char *keep;
        mask_row(p, b, h, i0 + r, merge, lo, hi, &add, &keep);
        p->kernels->softmax_row(row + lo, hi - lo, add != NULL ? add + lo : NULL,
                                keep != NULL ? keep + lo : NULL);
        zero(row, z0, lo);
        zero(row, hi, z1);
    }

    float *op = pa_row(p->out, b, h, i0);
    if (cols > 0 && p->Dv > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)p->Dv, (int)cols,
                    1.0f, s + c0, lds, pa_row(p->values, b, kvh, c0), pa_ld(p->values), 0.0f,
                    op, pa_ld(p->out));
    else
        for (long long r = 0; r < rows; r++)
            zero(op + r * p->out->strides[2], 0, p->Dv);
}

int pa_plan_run(pa_plan *p, const pa_sdpa_options *o)
{
    if (p->B == 0 || p->H == 0 || p->Lq == 0 || (p->Dv == 0 && p->weights == NULL))
        return PA_OK;
    p->kernels = pa_active_kernels();
    long long need = pa_plan_workspace_bytes(p);
    float *scratch = NULL;
    void *owned = NULL;
    if (need > 0 && o->workspace != NULL) {
        if (o->workspace_bytes < need)
            return pa_fail(PA_EINVAL, "%s: workspace_bytes = %lld, need %lld (see "
                           "pa_sdpa_workspace_size)", p->fn, o->workspace_bytes, need);
        scratch = o->workspace;
    } else if (need > 0) {
        scratch = owned = malloc((size_t)need);
        if (owned == NULL)
            return pa_fail(PA_ENOMEM, "%s: cannot allocate %lld bytes of workspace", p->fn, need);
    }
    for (long long b = 0; b < p->B; b++)
        for (long long h = 0; h < p->H; h++)
            for (long long t = 0; t < p->tiles; t++)
                run_tile(p, b, h, t, scratch);
    free(owned);
    return PA_OK;
}
