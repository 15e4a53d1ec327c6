/* The shared attention driver: see attend.h. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
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
    if (t->data == NULL)    /* an empty tensor may have no memory */
        return NULL;
    return (float *)t->data + i0 * t->strides[0] + i1 * t->strides[1] + i2 * t->strides[2];
}

pa_sdpa_options pa_options_copy(const pa_sdpa_options *opts)
{
    static const pa_sdpa_options defaults;
    return opts != NULL ? *opts : defaults;
}

int pa_ld(const pa_tensor *t)
{
    return (int)(t->strides[2] > t->shape[3] ? t->strides[2] : t->shape[3] > 0 ? t->shape[3] : 1);
}

/* Address of element (i0, i1, i2, 0) of a tensor of any dtype. */
static const void *element(const pa_tensor *t, long long i0, long long i1, long long i2)
{
    return (const char *)t->data
        + (i0 * t->strides[0] + i1 * t->strides[1] + i2 * t->strides[2]) * pa_dtype_size(t->dtype);
}

const float *pa_rows_f32(const pa_plan *p, const pa_tensor *t, long long b, long long h, long long j0,
                         long long n, float *wide, int *ld)
{
    if (t->dtype == PA_F32) {
        *ld = pa_ld(t);
        return pa_row(t, b, h, j0);
    }
    const long long D = t->shape[3];
    *ld = D > 0 ? (int)D : 1;
    for (long long j = 0; j < n && D > 0; j++)
        p->kernels->widen(wide + j * D, element(t, b, h, j0 + j), D, t->dtype);
    return wide;
}

const float *pa_block_f32(const pa_plan *p, const pa_rows *rows, const pa_tensor *t, int *ld)
{
    if (t->dtype == PA_F32) {
        *ld = pa_rows_ld(rows, t);
        return pa_row(t, rows->b, rows->h0, rows->i0);
    }
    const long long D = t->shape[3];
    *ld = D > 0 ? (int)D : 1;
    for (long long k = 0; k < rows->count && D > 0; k++)
        p->kernels->widen(rows->wide_rows + k * D, element(t, rows->b, pa_rows_h(rows, k), pa_rows_i(rows, k)),
                          D, t->dtype);
    return rows->wide_rows;
}

/* Mask dims 0..2 are 1 (broadcast) or the full size; dim 3 is Lk. */
static int check_mask(const pa_plan *p, const char *name, const pa_tensor *given, pa_tensor *m,
                      pa_mask_plan *out)
{
    if (given == NULL)
        return PA_OK;
    if (given->dtype != PA_BOOL && given->dtype != PA_F32)
        return pa_fail(PA_EINVAL, "%s: %s has dtype %d, expected PA_BOOL (keep-mask) or PA_F32 "
                       "(additive mask)", p->fn, name, given->dtype);
    int rc = pa_load_tensor(p->fn, name, given, m, given->dtype, 0);
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
    /* An empty mask (Lq = 0) reads nothing: its loaded strides are all 0. */
    if (rc == PA_OK && p->Lk > 1 && pa_numel(m) > 0 && m->strides[3] != 1)
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
        p->alibi = &p->alibi_copy;
        if ((rc = pa_load_tensor(p->fn, "alibi_slopes", o->alibi_slopes, &p->alibi_copy, PA_F32, 0)) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 0, 1, "1")) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 1, 1, "1")) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 2, 1, "1")) != PA_OK ||
            (rc = pa_expect_dim(p->fn, "alibi_slopes", p->alibi, 3, p->H, "H")) != PA_OK)
            return rc;
    }
    if (o->rel_bias != NULL) {
        p->rel_bias = &p->rel_copy;
        if ((rc = pa_load_tensor(p->fn, "rel_bias", o->rel_bias, &p->rel_copy, PA_F32, 0)) != PA_OK ||
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

/* The window as its two extents (-1: unbounded): window = w counts back
 * from the causal position, so it is the extents (w - 1, -1). */
static int check_window(pa_plan *p, const pa_sdpa_options *o)
{
    if (o->window < 0 || (o->window > 0 && o->causal == PA_CAUSAL_NONE))
        return pa_fail(PA_EINVAL, "%s: window = %lld must be >= 0, and needs a causal rule",
                       p->fn, o->window);
    if (o->window_extents != 0 && o->window_extents != 1)
        return pa_fail(PA_EINVAL, "%s: window_extents = %d must be 0 or 1", p->fn, o->window_extents);
    p->window_left = p->window_right = -1;
    if (o->window_extents == 0) {
        if (o->window_left != 0 || o->window_right != 0)
            return pa_fail(PA_EINVAL, "%s: window_left = %lld, window_right = %lld need "
                           "window_extents = 1", p->fn, o->window_left, o->window_right);
        if (o->window > 0)
            p->window_left = o->window - 1;
        return PA_OK;
    }
    if (o->window != 0)
        return pa_fail(PA_EINVAL, "%s: window = %lld and window_extents = 1: set one of them",
                       p->fn, o->window);
    if (o->window_left < -1 || o->window_right < -1)
        return pa_fail(PA_EINVAL, "%s: window_left = %lld, window_right = %lld: each must be >= 0, "
                       "or -1 (unbounded)", p->fn, o->window_left, o->window_right);
    p->window_left = o->window_left;
    p->window_right = o->window_right;
    return PA_OK;
}

/* B lengths in [0, Lk], or none; their bytes are kept for the overlap
 * checks. */
static int check_key_lengths(pa_plan *p, const pa_sdpa_options *o)
{
    const long long n = o->key_lengths_count;
    if (o->key_lengths == NULL) {
        if (n != 0)
            return pa_fail(PA_EINVAL, "%s: key_lengths_count = %lld without key_lengths, expected 0",
                           p->fn, n);
        return PA_OK;
    }
    if (n != p->B)
        return pa_fail(PA_EINVAL, "%s: key_lengths_count = %lld, expected B = %lld", p->fn, n, p->B);
    if ((uintptr_t)o->key_lengths % sizeof(long long) != 0)
        return pa_fail(PA_EINVAL, "%s: key_lengths = %p is not aligned to %d bytes", p->fn,
                       (const void *)o->key_lengths, (int)sizeof(long long));
    if (n > LLONG_MAX / (long long)sizeof(long long))
        return pa_fail(PA_EINVAL, "%s: key_lengths_count = %lld is more than memory holds", p->fn, n);
    for (long long b = 0; b < n; b++)
        if (o->key_lengths[b] < 0 || o->key_lengths[b] > p->Lk)
            return pa_fail(PA_EINVAL, "%s: key_lengths[%lld] = %lld, expected 0 to Lk = %lld", p->fn, b,
                           o->key_lengths[b], p->Lk);
    const long long bytes = n * (long long)sizeof(long long);
    const pa_tensor t = { (void *)(uintptr_t)o->key_lengths, PA_BOOL, 0, { 1, 1, 1, bytes }, { 0, 0, 0, 1 }, bytes };
    p->key_lengths = o->key_lengths;
    p->key_lengths_bytes = t;
    return PA_OK;
}

/* Outputs get a place of their own per element and share memory with no
 * input (the rule's, kept in the plan, and the shared ones) and with each
 * other. */
static int check_outputs(const pa_plan *p)
{
    const pa_tensor *in[PA_MAX_RULE_INPUTS + 6];
    const char *in_names[PA_MAX_RULE_INPUTS + 6];
    int count = 0;
    for (int i = 0; i < p->n_inputs; i++) {
        in[count] = p->inputs[i];
        in_names[count++] = p->input_names[i];
    }
    const pa_tensor *shared[] = { p->values, p->masks[0].t, p->masks[1].t, p->alibi, p->rel_bias,
                                  p->key_lengths != NULL ? &p->key_lengths_bytes : NULL };
    const char *shared_names[] = { "values", "mask", "key_padding", "alibi_slopes", "rel_bias",
                                   "key_lengths" };
    for (int i = 0; i < 6; i++)
        if (shared[i] != NULL) {
            in[count] = shared[i];
            in_names[count++] = shared_names[i];
        }
    const pa_tensor *outs[] = { p->out, p->weights };
    const char *out_names[] = { "out", "weights" };
    int rc;
    for (int o = 0; o < 2; o++) {
        if (outs[o] == NULL)
            continue;
        if ((rc = pa_check_distinct_elements(p->fn, out_names[o], outs[o])) != PA_OK)
            return rc;
        for (int i = 0; i < count; i++)
            if (in[i] != NULL && (rc = pa_check_disjoint(p->fn, out_names[o], outs[o], in_names[i], in[i])) != PA_OK)
                return rc;
    }
    if (p->weights != NULL)
        return pa_check_disjoint(p->fn, "weights", p->weights, "out", p->out);
    return PA_OK;
}

int pa_plan_init(pa_plan *p, const char *values_name, const pa_tensor *values,
                 const pa_tensor *out, const pa_sdpa_options *o,
                 const pa_tensor *const *inputs, const char *const *names, int n)
{
    int rc;
    const char *fn = p->fn;
    for (int i = 0; i < n; i++) {
        p->inputs[i] = inputs[i];
        p->input_names[i] = names[i];
    }
    p->n_inputs = n;
    if ((rc = pa_load_tensor(fn, values_name, values, &p->values_copy, PA_ANY_FLOAT, 1)) != PA_OK ||
        (rc = pa_load_tensor(fn, "out", out, &p->out_copy, PA_F32, 1)) != PA_OK)
        return rc;
    values = p->values = &p->values_copy;
    out = p->out = &p->out_copy;
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
    p->causal = o->causal;
    if ((rc = check_window(p, o)) != PA_OK ||
        (rc = check_key_lengths(p, o)) != PA_OK ||
        (rc = check_mask(p, "mask", o->mask, &p->mask_copy[0], &p->masks[0])) != PA_OK ||
        (rc = check_mask(p, "key_padding", o->key_padding, &p->mask_copy[1], &p->masks[1])) != PA_OK ||
        (rc = check_positional(p, o)) != PA_OK)
        return rc;
    if (o->weights != NULL) {
        const pa_tensor *w = p->weights = &p->weights_copy;
        if ((rc = pa_load_tensor(fn, "weights", o->weights, &p->weights_copy, PA_F32, 1)) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 0, p->B, "B")) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 1, p->H, "H")) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 2, p->Lq, "Lq")) != PA_OK ||
            (rc = pa_expect_dim(fn, "weights", w, 3, p->Lk, "Lk")) != PA_OK)
            return rc;
    }
    return check_outputs(p);
}

int pa_merges_masks(const pa_plan *p)
{
    return p->masks[0].t != NULL && p->masks[1].t != NULL
        && p->masks[0].t->dtype == p->masks[1].t->dtype;
}

/* Query row i's position on the key axis of its batch row, for the causal
 * rule, the window and the positional terms alike: i + keys - Lq
 * bottom-right aligned, else i. */
static long long query_position(const pa_plan *p, const pa_rows *r, long long i)
{
    return p->causal == PA_CAUSAL_BOTTOM_RIGHT ? i + r->keys - p->Lq : i;
}

/* The causal rule and the window count from the query's position before
 * clamping to the keys that exist; each extent is compared before it is
 * added, so none overflows. */
void pa_key_range(const pa_plan *p, const pa_rows *r, long long i, long long *lo, long long *hi)
{
    const long long n = r->keys, pos = query_position(p, r, i);
    long long l = 0, h = n;
    if (p->causal != PA_CAUSAL_NONE && pos < n)
        h = pos + 1;
    if (p->window_left >= 0 && p->window_left < pos)
        l = pos - p->window_left;
    if (p->window_right >= 0 && p->window_right < h - pos - 1)
        h = pos + p->window_right + 1;
    l = l > n ? n : l;
    h = h < 0 ? 0 : h;
    *lo = l < h ? l : h;
    *hi = h;
}

void pa_mask_row(const pa_plan *p, long long b, long long h, long long i, float *merge,
                 long long lo, long long hi, const float **add, const unsigned char **keep)
{
    *add = NULL;
    *keep = NULL;
    const void *rows[2] = { NULL, NULL };
    for (int m = 0; m < 2; m++) {
        const pa_mask_plan *mp = &p->masks[m];
        if (mp->t == NULL)
            continue;
        long long off = b * mp->strides[0] + h * mp->strides[1] + i * mp->strides[2] + lo;
        if (mp->t->dtype == PA_BOOL) {
            rows[m] = (const unsigned char *)mp->t->data + off;
            *keep = rows[m];
        } else {
            rows[m] = (const float *)mp->t->data + off;
            *add = rows[m];
        }
    }
    if (!pa_merges_masks(p))
        return;
    if (p->masks[0].t->dtype == PA_BOOL) {
        unsigned char *k = (unsigned char *)merge;
        const unsigned char *a = rows[0], *c = rows[1];
        for (long long j = 0; j < hi - lo; j++)
            k[j] = a[j] != 0 && c[j] != 0;
        *keep = k;
    } else {
        const float *a = rows[0], *c = rows[1];
        for (long long j = 0; j < hi - lo; j++)
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
    /* Far keys share the last bucket. Checked first: with max_distance <=
     * exact (or no exact bucket at all) the logarithm below is NaN,
     * infinite or negative, and no bucket. */
    if (n >= max_distance || exact == 0)
        return bucket + buckets - 1;
    long long large = exact + (long long)(log((double)n / (double)exact)
                                          / log((double)max_distance / (double)exact)
                                          * (double)(buckets - exact));
    return bucket + (large < buckets - 1 ? large : buckets - 1);
}

int pa_has_positional(const pa_plan *p)
{
    return p->softcap > 0.0f || p->alibi != NULL || p->rel_bias != NULL;
}

void pa_positional_row(const pa_plan *p, const pa_rows *r, long long h, long long i, float *s,
                       long long lo, long long hi)
{
    const long long qpos = query_position(p, r, i);
    const float cap = p->softcap;
    const float slope = p->alibi != NULL ? ((const float *)p->alibi->data)[h * p->alibi->strides[3]] : 0.0f;
    const float *table = p->rel_bias != NULL ? (const float *)p->rel_bias->data + h * p->rel_bias->strides[2] : NULL;
    for (long long j = lo; j < hi; j++) {
        float x = s[j - lo];
        if (cap > 0.0f)
            x = cap * tanhf(x / cap);
        long long d = j - qpos;
        if (p->alibi != NULL)
            x -= slope * (float)(d < 0 ? -d : d);
        if (table != NULL)
            x += table[t5_bucket(d, p->rel_bias->shape[3], p->rel_bidirectional, p->rel_max_distance)
                       * p->rel_bias->strides[3]];
        s[j - lo] = x;
    }
}

static void zero(float *s, long long from, long long to)
{
    for (long long j = from; j < to; j++)
        s[j] = 0.0f;
}

/* ---- scheduling --------------------------------------------------------- */

/* How a call is cut into work items: row blocks, times key chunks. */
typedef struct schedule {
    int by_head;                /* row blocks are heads of a group (decoding) */
    long long block_rows;       /* rows per block, at most */
    long long block_cols;       /* keys per score block: PA_BLOCK_COLS, or Lk when smaller */
    long long blocks_per_bh;    /* row blocks per (b, h) or per (b, kvh) */
    long long blocks;           /* row blocks in all */
    long long chunks;           /* key chunks per row block (1: no split) */
    long long chunk_cols;       /* keys per chunk */
    long long merge_floats;     /* per thread: the merged masks of one row */
    long long wide_rows_floats; /* per thread: a row block's half inputs, widened */
    long long wide_keys_floats; /* per thread: a block of half keys or values, widened */
    long long scratch_floats;   /* per thread, all of it */
    long long partial_floats;   /* per (block, chunk) item, when chunks > 1 */
    long long panel_stride;     /* packed keys per (b, kvh), in floats; 0: not packed */
    /* Causal: each (b, h)'s tiles from its last, which sees the most keys,
     * so that light tiles end the call and consecutive tiles share a
     * head's K and V in cache (all heads' last tiles first read each
     * head's from L3 and took 8% longer). */
    int heaviest_first;
} schedule;

/* One query per head with grouped heads: a block is the group, so K and V
 * are read once for all its heads. A block holds at most PA_TILE_ROWS
 * rows, so a larger group goes head by head. */
static int groups_heads(const pa_plan *p)
{
    const long long g = p->Hkv > 0 ? p->H / p->Hkv : 1;
    return p->weights == NULL && p->Lq == 1 && g > 1 && g <= PA_TILE_ROWS && p->queries != NULL
        && p->queries->strides[1] >= p->queries->shape[3] && p->out->strides[1] >= p->Dv;
}

long long pa_panel_budget_bytes = 1LL << 28;

/* Below this many multiply-adds of Q.K^T a call's keys are not packed:
 * sgemm's small-matrix path costs less than packing them (measured at
 * 16 x 16 x 64 and 32 x 32 x 64, the other way from 64 x 64 x 64 on). */
#define PA_PANEL_MIN_WORK (1LL << 17)

/* Floats of packed keys per (b, kvh) (a whole number of panels over Lk),
 * or 0 when the call does not pack them: the rule has no panel keys, the
 * weights are asked for (they take the rows whole, by sgemm), the call is
 * tiny, or all of them would pass the budget. */
static long long panel_stride(const pa_plan *p)
{
    if (p->panel_keys == NULL || p->panel_depth == 0 || p->weights != NULL || p->Lk == 0)
        return 0;
    if ((double)p->B * (double)p->H * (double)p->Lq * (double)p->Lk * (double)p->panel_depth
        < (double)PA_PANEL_MIN_WORK)   /* in double: the product may pass 64 bits */
        return 0;
    const long long keys = (p->Lk + PA_PANEL - 1) / PA_PANEL * PA_PANEL;
    const long long most = pa_panel_budget_bytes / (long long)sizeof(float);
    if (keys > most / p->panel_depth || p->B * p->Hkv > most / (keys * p->panel_depth))
        return 0;
    return keys * p->panel_depth;
}

static schedule make_schedule(const pa_plan *p, int threads)
{
    schedule s = { 0 };
    s.by_head = groups_heads(p);
    if (s.by_head) {
        s.block_rows = p->H / p->Hkv;
        s.blocks_per_bh = 1;
        s.blocks = p->B * p->Hkv;
    } else {
        s.block_rows = p->Lq < PA_TILE_ROWS ? p->Lq : PA_TILE_ROWS;
        s.blocks_per_bh = (p->Lq + PA_TILE_ROWS - 1) / PA_TILE_ROWS;
        s.blocks = p->B * p->H * s.blocks_per_bh;
    }
    s.chunks = 1;
    s.chunk_cols = p->Lk;
    /* Too few blocks for the threads (decoding): split the keys too, and
     * merge the chunks' partial softmax sums and outputs at the end. */
    if (p->weights == NULL && s.blocks < threads && p->Lk >= 2 * PA_BLOCK_COLS) {
        long long want = (2 * threads + s.blocks - 1) / s.blocks;
        long long most = (p->Lk + PA_BLOCK_COLS - 1) / PA_BLOCK_COLS;
        s.chunks = want < most ? want : most;
        /* Whole panels a chunk, so that each starts one. */
        s.chunk_cols = ((p->Lk + s.chunks - 1) / s.chunks + PA_PANEL - 1) / PA_PANEL * PA_PANEL;
        s.chunks = (p->Lk + s.chunk_cols - 1) / s.chunk_cols;
        s.partial_floats = s.block_rows * (p->Dv + 2);
    }
    s.block_cols = p->Lk < PA_BLOCK_COLS ? (p->Lk > 0 ? p->Lk : 1) : PA_BLOCK_COLS;
    long long cols = p->weights != NULL ? 0 : s.block_cols;  /* weights path: rows go to weights */
    s.merge_floats = pa_merges_masks(p) ? (p->weights != NULL ? p->Lk : s.block_cols) : 0;
    /* Half inputs are widened a block at a time: the fill's keys and then
     * the values share one block (at most PA_BLOCK_COLS keys, as block_cols). */
    const long long per_value = p->values->dtype != PA_F32 ? p->Dv : 0;
    s.wide_rows_floats = s.block_rows * p->wide_row_floats;
    s.wide_keys_floats = s.block_cols * (p->wide_key_floats > per_value ? p->wide_key_floats : per_value);
    s.scratch_floats = s.block_rows * cols + s.merge_floats + 2 * s.block_rows + s.wide_rows_floats
                     + s.wide_keys_floats;
    /* Whole 64-byte lines a thread, so that every thread's score block
     * starts one (the tile kernels store whole vectors). */
    s.scratch_floats = (s.scratch_floats + PA_PANEL - 1) / PA_PANEL * PA_PANEL;
    s.panel_stride = panel_stride(p);
    s.heaviest_first = p->causal != PA_CAUSAL_NONE && !s.by_head;
    return s;
}

/* Below this many multiply-adds a call runs on its caller, with its
 * workspace on the stack when it fits: no allocation, no thread wake-up. */
#define PA_SMALL_WORK (1LL << 20)

int pa_plan_writes_nothing(const pa_plan *p)
{
    return p->B == 0 || p->H == 0 || p->Lq == 0 || (p->Dv == 0 && (p->weights == NULL || p->Lk == 0));
}

int pa_plan_threads(const pa_plan *p)
{
    const long long work = p->B * p->H * p->Lq * (p->Lk + 1) * (p->Dv + 16);
    return work < PA_SMALL_WORK ? 1 : pa_num_threads();
}

/* Per-thread scratch, the key chunks' partial results and the packed keys,
 * with room to start the scratch and the keys on a 64-byte line (a panel
 * row is one line, and a load or store that straddles two runs at half
 * speed). */
static long long workspace_floats(const schedule *s, const pa_plan *p, int threads)
{
    return PA_PANEL - 1 + s->scratch_floats * threads + s->partial_floats * s->blocks * s->chunks
         + (s->panel_stride > 0 ? s->panel_stride * p->B * p->Hkv + PA_PANEL - 1 : 0);
}

long long pa_plan_workspace_bytes(const pa_plan *p)
{
    if (pa_plan_writes_nothing(p))
        return 0;
    int threads = pa_plan_threads(p);
    schedule s = make_schedule(p, threads);
    return workspace_floats(&s, p, threads) * (long long)sizeof(float);
}

long long pa_batch_keys(const pa_plan *p, long long b)
{
    if (p->key_lengths == NULL)
        return p->Lk;
    /* Clamped: a length the caller changed since the checks cannot reach
     * beyond the keys. */
    const long long n = p->key_lengths[b];
    return n < 0 ? 0 : n > p->Lk ? p->Lk : n;
}

static pa_rows block_rows(const pa_plan *p, const schedule *s, long long block)
{
    pa_rows r;
    r.by_head = s->by_head;
    r.wide_rows = r.wide_keys = NULL;   /* the caller gives its thread's scratch */
    if (s->by_head) {
        r.b = block / p->Hkv;
        r.kvh = block % p->Hkv;
        r.h0 = r.kvh * (p->H / p->Hkv);
        r.i0 = 0;
        r.count = s->block_rows;
    } else {
        long long bh = block / s->blocks_per_bh, tile = block % s->blocks_per_bh;
        if (s->heaviest_first)
            tile = s->blocks_per_bh - 1 - tile;
        r.b = bh / p->H;
        r.h0 = bh % p->H;
        r.kvh = r.h0 / (p->H / p->Hkv);
        r.i0 = tile * PA_TILE_ROWS;
        r.count = p->Lq - r.i0 < PA_TILE_ROWS ? p->Lq - r.i0 : PA_TILE_ROWS;
    }
    r.keys = pa_batch_keys(p, r.b);     /* read once a block */
    return r;
}

/* ---- the two ways through a block --------------------------------------- */

/* Weights requested: each row's full softmax goes into the weights output,
 * then out = weights . V. Only columns some row may see are computed. */
static void run_with_weights(const pa_plan *p, const pa_rows *r, float *merge)
{
    long long c0, c1, unused;
    pa_key_range(p, r, r->i0, &c0, &unused);
    pa_key_range(p, r, r->i0 + r->count - 1, &unused, &c1);
    const long long cols = c1 > c0 ? c1 - c0 : 0;
    if (p->Lk == 0) {       /* no keys: empty weights, zero outputs */
        float *op = pa_row(p->out, r->b, r->h0, r->i0);
        for (long long k = 0; op != NULL && k < r->count; k++)
            zero(op + k * p->out->strides[2], 0, p->Dv);
        return;
    }
    float *s = pa_row(p->weights, r->b, r->h0, r->i0);
    const int lds = pa_ld(p->weights);
    unsigned char empty[PA_TILE_ROWS];  /* rows that see no key */
    if (cols > 0)
        p->fill(p, r, c0, c1, s + c0, lds, NULL);
    for (long long k = 0; k < r->count; k++) {
        const long long i = r->i0 + k;
        long long lo, hi;
        pa_key_range(p, r, i, &lo, &hi);
        float *row = s + k * lds;
        if (hi > lo) {
            if (pa_has_positional(p))
                pa_positional_row(p, r, r->h0, i, row + lo, lo, hi);
            const float *add;
            const unsigned char *keep;
            pa_mask_row(p, r->b, r->h0, i, merge, lo, hi, &add, &keep);
            p->kernels->softmax_row(row + lo, hi - lo, add, keep);
            empty[k] = 1;
            for (long long j = lo; j < hi && empty[k]; j++)
                empty[k] = row[j] == 0.0f;
        } else {
            lo = hi = 0;
            empty[k] = 1;
        }
        zero(row, 0, lo);
        zero(row, hi, p->Lk);
    }
    if (p->Dv == 0)
        return;             /* the weights were all there was to write */
    float *op = pa_row(p->out, r->b, r->h0, r->i0);
    /* Float values in one product; half ones a widened block at a time. */
    const long long step = p->values->dtype == PA_F32 ? cols : PA_BLOCK_COLS;
    for (long long j0 = c0; j0 < c1; j0 += step) {
        const long long n = j0 + step < c1 ? step : c1 - j0;
        int ldv;
        const float *vb = pa_rows_f32(p, p->values, r->b, r->kvh, j0, n, r->wide_keys, &ldv);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r->count, (int)p->Dv, (int)n,
                    1.0f, s + j0, lds, vb, ldv, j0 == c0 ? 0.0f : 1.0f, op, pa_ld(p->out));
    }
    /* A query that sees no key gets zeros even when V holds NaN or
     * infinities (0 * Inf would be NaN in the product). */
    for (long long k = 0; k < r->count; k++)
        if (cols == 0 || empty[k])
            zero(op + k * p->out->strides[2], 0, p->Dv);
}

/*
 * Online softmax (flash attention) over keys [k0, k1): score blocks of
 * `cols` columns, running max m and sum l per row, and the
 * output o (rows of ldo floats) rescaled whenever a row's max grows, in
 * the product itself (block_values). No Lq x Lk matrix exists; memory is
 * one score block per thread. Each row's keys are trimmed to its own
 * range: a block's scores and products stop at the row's last key
 * (diagonal blocks of causal rules and windows included). With normalise,
 * the last block's product also divides by the sums, and the call returns
 * 1; else (or when that block had no key to compute) o is left
 * unnormalised and it returns 0.
 */
static int run_online(const pa_plan *p, const pa_rows *r, long long k0, long long k1, float *s,
                      long long cols, float *merge, float *m, float *l, float *o, long long ldo, int normalise)
{
    for (long long k = 0; k < r->count; k++) {
        m[k] = -INFINITY;
        l[k] = 0.0f;
    }
    int written = 0, normalised = 0;    /* o holds a first product; it is divided by l */
    /* Keys some row of the block may see, within [k0, k1). */
    long long c0, c1, unused;
    pa_key_range(p, r, pa_rows_i(r, 0), &c0, &unused);
    pa_key_range(p, r, pa_rows_i(r, r->count - 1), &unused, &c1);
    c0 = c0 > k0 ? c0 : k0;
    c1 = c1 < k1 ? c1 : k1;
    if (p->panels != NULL)      /* packed keys: blocks start a panel */
        c0 -= c0 % PA_PANEL;
    const int positional = pa_has_positional(p);
    const int masked = p->masks[0].t != NULL || p->masks[1].t != NULL; /* pa_mask_row has rows */
    /* Each row's keys in the block, [starts, j0 + ends), found once for the
     * softmax and both products; query tiles have at most PA_TILE_ROWS
     * rows, and the rows of a group (by_head) share one range. */
    long long starts[PA_TILE_ROWS], ends[PA_TILE_ROWS];
    const int per_row = !r->by_head;
    for (long long j0 = c0; j0 < c1; j0 += cols) {
        const long long j1 = j0 + cols < c1 ? j0 + cols : c1;
        const long long n = j1 - j0;
        long long most = 0;
        for (long long k = 0; k < (per_row ? r->count : 1); k++) {
            long long lo, hi;
            pa_key_range(p, r, pa_rows_i(r, k), &lo, &hi);
            lo = lo > j0 ? lo : j0;
            lo = lo > k0 ? lo : k0;
            hi = hi < j1 ? hi : j1;
            starts[k] = lo;
            ends[k] = hi > lo ? hi - j0 : 0;
            most = ends[k] > most ? ends[k] : most;
        }
        if (most == 0)
            continue;
        p->fill(p, r, j0, j1, s, (int)cols, per_row ? ends : NULL);
        /* Row k's keys are [lo[k], hi[k]) of its score row. */
        long long lo[PA_TILE_ROWS], hi[PA_TILE_ROWS];
        float corr[PA_TILE_ROWS];
        int kept_before[PA_TILE_ROWS];  /* else the output row is still zeros */
        for (long long k = 0; k < r->count; k++) {
            const long long x = per_row ? k : 0;
            lo[k] = starts[x] - j0;
            hi[k] = ends[x];
            kept_before[k] = m[k] != -INFINITY;
            if (positional && hi[k] > lo[k])
                pa_positional_row(p, r, pa_rows_h(r, k), pa_rows_i(r, k), s + k * cols + lo[k], j0 + lo[k],
                                  j0 + hi[k]);
        }
        if (masked)     /* each row its own masks */
            for (long long k = 0; k < r->count; k++) {
                corr[k] = 1.0f;
                if (hi[k] <= lo[k])
                    continue;
                const float *add;
                const unsigned char *keep;
                pa_mask_row(p, r->b, pa_rows_h(r, k), pa_rows_i(r, k), merge, j0 + lo[k], j0 + hi[k], &add, &keep);
                corr[k] = p->kernels->online_row(s + k * cols + lo[k], hi[k] - lo[k], add, keep, &m[k], &l[k]);
            }
        else            /* the rows' chains interleave */
            p->kernels->online_rows(s, cols, r->count, lo, hi, m, l, corr);
        const int last = normalise && j0 + cols >= c1;
        float inv[PA_TILE_ROWS];
        for (long long k = 0; k < r->count; k++) {
            float *row = s + k * cols; /* key j at row[j - j0] */
            if (hi[k] <= lo[k]) {
                zero(row, 0, n);
            } else {
                zero(row, 0, lo[k]);
                zero(row, hi[k], n);
            }
            if (!kept_before[k])
                corr[k] = 0.0f;     /* its output is zeros so far */
            inv[k] = l[k] != 0.0f ? 1.0f / l[k] : 0.0f;
        }
        if (p->Dv == 0)
            continue;
        int ldv;
        const float *vb = pa_rows_f32(p, p->values, r->b, r->kvh, j0, most, r->wide_keys, &ldv);
        p->kernels->block_values(o, ldo, s, cols, r->count, vb, ldv, p->Dv, most, per_row ? ends : NULL,
                                 written ? corr : NULL, last ? inv : NULL);
        written = 1;
        normalised = last;
    }
    if (!written)               /* no key in [k0, k1) for any row */
        for (long long k = 0; k < r->count; k++)
            zero(o + k * ldo, 0, p->Dv);
    return normalised;
}

/* ---- the parallel loop -------------------------------------------------- */

typedef struct job {
    const pa_plan *p;
    schedule s;
    float *scratch;             /* s.scratch_floats per thread */
    float *partials;            /* s.partial_floats per item, when s.chunks > 1 */
    float *panels;              /* s.panel_stride per (b, kvh), when packed */
} job;

/* Packs the keys of (b, kvh) = item as panels (PA_PANEL): the keys its
 * batch row has, then zeros to the panel's end. Half keys are widened a
 * row at a time into the thread's scratch. */
static void pack_keys(void *ctx, long long item, int thread)
{
    const job *jb = ctx;
    const pa_plan *p = jb->p;
    const long long b = item / p->Hkv, kvh = item % p->Hkv, D = p->panel_depth;
    const long long keys = pa_batch_keys(p, b), end = (keys + PA_PANEL - 1) / PA_PANEL * PA_PANEL;
    float *dst = jb->panels + item * jb->s.panel_stride;
    float *wide = jb->scratch + (long long)thread * jb->s.scratch_floats + jb->s.scratch_floats
                - jb->s.wide_keys_floats;
    for (long long j = 0; j < end; j++) {
        float *panel = dst + (j / PA_PANEL) * D * PA_PANEL + j % PA_PANEL;
        int ld;
        const float *row = j < keys ? pa_rows_f32(p, p->panel_keys, b, kvh, j, 1, wide, &ld) : NULL;
        for (long long c = 0; c < D; c++)
            panel[c * PA_PANEL] = row != NULL ? row[c] : 0.0f;
    }
}

static void run_item(void *ctx, long long item, int thread)
{
    const job *jb = ctx;
    const pa_plan *p = jb->p;
    const schedule *s = &jb->s;
    float *scratch = jb->scratch + (long long)thread * s->scratch_floats;
    const long long cols = p->weights != NULL ? 0 : s->block_cols;
    float *blk = scratch, *m = scratch + s->block_rows * cols, *l = m + s->block_rows;
    float *merge = l + s->block_rows;
    pa_rows r = block_rows(p, s, item / s->chunks);
    r.wide_rows = merge + s->merge_floats;
    r.wide_keys = r.wide_rows + s->wide_rows_floats;
    if (p->weights != NULL) {
        run_with_weights(p, &r, merge);
        return;
    }
    if (s->chunks == 1) {
        float *o = pa_row(p->out, r.b, r.h0, r.i0);
        const long long ldo = pa_rows_ld(&r, p->out); /* a one-row block's stride may be 0 */
        const int normalised = run_online(p, &r, 0, p->Lk, blk, s->block_cols, merge, m, l, o, ldo, 1);
        for (long long k = 0; k < r.count; k++) {
            float *row = o + k * ldo;
            if (l[k] == 0.0f) {     /* sees no key: zeros, even if V holds NaN */
                zero(row, 0, p->Dv);
                continue;
            }
            float inv = 1.0f / l[k];
            for (long long d = 0; d < p->Dv && !normalised; d++)
                row[d] *= inv;
        }
        return;
    }
    /* One key chunk: its m, l and unnormalised output go to the partials. */
    const long long chunk = item % s->chunks;
    float *part = jb->partials + item * s->partial_floats;
    float *pm = part + r.count * p->Dv, *pl = pm + r.count;
    const long long k0 = chunk * s->chunk_cols;
    const long long k1 = k0 + s->chunk_cols < p->Lk ? k0 + s->chunk_cols : p->Lk;
    run_online(p, &r, k0, k1, blk, s->block_cols, merge, pm, pl, part, p->Dv, 0);
}

void pa_merge_chunks(float *row, long long Dv, const float *parts, long long stride, long long chunks,
                     long long rows, long long k)
{
    float max = -INFINITY;
    int nan = 0;
    for (long long c = 0; c < chunks; c++) {
        float mc = parts[c * stride + rows * Dv + k];
        nan |= isnan(mc);
        max = mc > max ? mc : max;
    }
    if (nan) {      /* a NaN score among the row's keys: the row is NaN */
        for (long long d = 0; d < Dv; d++)
            row[d] = NAN;
        return;
    }
    zero(row, 0, Dv);
    float total = 0.0f;
    for (long long c = 0; c < chunks && max != -INFINITY; c++) {
        const float *part = parts + c * stride;
        float mc = part[rows * Dv + k], lc = part[rows * Dv + rows + k];
        if (mc == -INFINITY)    /* the chunk kept no key of this row */
            continue;
        float w = expf(mc - max);
        total += w * lc;
        for (long long d = 0; d < Dv; d++)
            row[d] += w * part[k * Dv + d];
    }
    if (total == 0.0f) {
        zero(row, 0, Dv);
        return;
    }
    float inv = 1.0f / total;
    for (long long d = 0; d < Dv; d++)
        row[d] *= inv;
}

/* Combines the key chunks of one row block. */
static void merge_block(void *ctx, long long block, int thread)
{
    (void)thread;
    const job *jb = ctx;
    const pa_plan *p = jb->p;
    const schedule *s = &jb->s;
    pa_rows r = block_rows(p, s, block);
    const float *parts = jb->partials + block * s->chunks * s->partial_floats;
    for (long long k = 0; k < r.count; k++)
        pa_merge_chunks(pa_row(p->out, r.b, r.h0, r.i0) + k * pa_rows_stride(&r, p->out), p->Dv, parts,
                        s->partial_floats, s->chunks, r.count, k);
}

int pa_plan_scratch(const pa_plan *p, const pa_sdpa_options *o, long long need, float *stack,
                    float **scratch, void **owned)
{
    *owned = NULL;
    if (o->workspace != NULL && need > 0) {
        if (o->workspace_bytes < need * (long long)sizeof(float))
            return pa_fail(PA_EINVAL, "%s: workspace_bytes = %lld, need %lld (see "
                           "pa_sdpa_workspace_size)", p->fn, o->workspace_bytes,
                           need * (long long)sizeof(float));
        if ((uintptr_t)o->workspace % sizeof(float) != 0)
            return pa_fail(PA_EINVAL, "%s: workspace = %p is not aligned to 4 bytes", p->fn, o->workspace);
        /* The workspace must not overlap any tensor of the call: the
         * shared ones, then the rule's own. */
        pa_tensor ws = { o->workspace, PA_BOOL, 0, { 1, 1, 1, need * 4 }, { 0, 0, 0, 1 }, need * 4 };
        const pa_tensor *all[] = { p->values, p->out, p->weights, p->masks[0].t, p->masks[1].t, p->alibi,
                                   p->rel_bias, p->key_lengths != NULL ? &p->key_lengths_bytes : NULL };
        const char *names[] = { "values", "out", "weights", "mask", "key_padding", "alibi_slopes", "rel_bias",
                                "key_lengths" };
        const int shared = (int)(sizeof all / sizeof all[0]);
        for (int i = 0; i < shared + p->n_inputs; i++) {
            const pa_tensor *t = i < shared ? all[i] : p->inputs[i - shared];
            const char *name = i < shared ? names[i] : p->input_names[i - shared];
            int rc = t != NULL ? pa_check_disjoint(p->fn, "workspace", &ws, name, t) : PA_OK;
            if (rc != PA_OK)
                return rc;
        }
        *scratch = o->workspace;
    } else if (need <= PA_STACK_FLOATS) {
        *scratch = stack;
    } else {
        *scratch = *owned = malloc((size_t)need * sizeof(float));
        if (*owned == NULL)
            return pa_fail(PA_ENOMEM, "%s: cannot allocate %lld bytes of workspace", p->fn,
                           need * (long long)sizeof(float));
    }
    return PA_OK;
}

int pa_plan_run(pa_plan *p, const pa_sdpa_options *o)
{
    if (pa_plan_writes_nothing(p))
        return PA_OK;
    p->kernels = pa_active_kernels();
    const int threads = pa_plan_threads(p);
    job jb = { p, make_schedule(p, threads), NULL, NULL, NULL };
    const long long need = workspace_floats(&jb.s, p, threads);
    float stack[PA_STACK_FLOATS];
    void *owned;
    int rc = pa_plan_scratch(p, o, need, stack, &jb.scratch, &owned);
    if (rc != PA_OK)
        return rc;
    jb.scratch += (64 - (uintptr_t)jb.scratch % 64) % 64 / sizeof(float);  /* a 4-byte aligned start */
    jb.partials = jb.scratch + jb.s.scratch_floats * threads;
    jb.panels = jb.partials + jb.s.partial_floats * jb.s.blocks * jb.s.chunks;
    jb.panels += (64 - (uintptr_t)jb.panels % 64) % 64 / sizeof(float);   /* a 4-byte aligned start */
    p->panel_stride = jb.s.panel_stride;
    p->panels = jb.s.panel_stride > 0 ? jb.panels : NULL;
    if (p->panels != NULL) {
        if (threads == 1)
            for (long long item = 0; item < p->B * p->Hkv; item++)
                pack_keys(&jb, item, 0);
        else
            pa_parallel_for(p->B * p->Hkv, threads, pack_keys, &jb);
    }
    if (threads == 1) {
        for (long long item = 0; item < jb.s.blocks * jb.s.chunks; item++)
            run_item(&jb, item, 0);
        for (long long b = 0; jb.s.chunks > 1 && b < jb.s.blocks; b++)
            merge_block(&jb, b, 0);
    } else {
        pa_parallel_for(jb.s.blocks * jb.s.chunks, threads, run_item, &jb);
        if (jb.s.chunks > 1)
            pa_parallel_for(jb.s.blocks, threads, merge_block, &jb);
    }
    free(owned);
    return PA_OK;
}
