/*
 * The streaming decode kernel (decode.h). Every query row of one key head
 * (each head of its GQA group, each with its Lq queries) shares one pass
 * over that head's keys, a block at a time: the ISA kernel computes the
 * block's scores for every row (each K row read once), the shared driver
 * applies the positional terms, the masks and the online softmax row by
 * row (attend.c), and the ISA kernel adds P.V into the rows' outputs (each
 * V row read once). Half-precision K and V rows are read as they are and
 * widened in registers, so a half cache moves half the bytes. When the
 * key heads are too few to keep every thread equally busy, each head's
 * keys are split into chunks computed apart, and a last pass merges their
 * partial outputs (pa_merge_chunks). A weights output gets each block's
 * scores as they pass and, once the row is complete, its softmax, as
 * attend.c's weights path computes it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

/* Key heads per thread beyond which splitting keys is not worth a merge:
 * the last round of heads leaves threads idle 1/8 of the time at most. */
#define PA_DECODE_BALANCED 8

typedef struct decode_job {
    const pa_plan *p;
    const pa_decode_input *in;
    long long Dk, G, rows;        /* rows per key head: G heads x Lq queries */
    long long block;              /* keys per score block */
    long long chunks;             /* key chunks per key head */
    long long merge_floats;       /* a row's merged masks */
    long long scratch_floats;     /* per thread */
    long long partial_floats;     /* per (head, chunk) item, when chunks > 1 */
    float *scratch, *partials;
} decode_job;

int pa_decode_applies(const pa_plan *p)
{
    const long long G = p->Hkv > 0 ? p->H / p->Hkv : 1;
    return p->Lq >= 1 && p->Lq <= PA_DECODE_MAX_LQ && G <= PA_DECODE_MAX_ROWS / p->Lq;
}

static long long gcd(long long a, long long b)
{
    while (b != 0) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A key head's rows as attend.c's helpers see them: of them, key ranges
 * and positions read only the batch row's keys. */
static pa_rows head_rows(const decode_job *jb, long long b, long long kvh, long long keys)
{
    pa_rows r;
    memset(&r, 0, sizeof r);
    r.b = b;
    r.kvh = kvh;
    r.h0 = kvh * jb->G;
    r.count = jb->rows;
    r.keys = keys;
    return r;
}

/* The keys some row of the head may see: [*c0, *c1). */
static void head_keys(const decode_job *jb, const pa_rows *r, long long *c0, long long *c1)
{
    long long unused;
    pa_key_range(jb->p, r, 0, c0, &unused);
    pa_key_range(jb->p, r, jb->p->Lq - 1, &unused, c1);
    *c1 = *c1 > *c0 ? *c1 : *c0;
}

static decode_job plan_job(const pa_plan *p, const pa_decode_input *in, int threads)
{
    decode_job jb;
    memset(&jb, 0, sizeof jb);
    jb.p = p;
    jb.in = in;
    jb.Dk = in->q->shape[3];
    jb.G = p->H / p->Hkv;
    jb.rows = jb.G * p->Lq;
    /* The keys of a batch row with all Lk keys: key lengths only shorten
     * them, so blocks and chunks are planned for this many. */
    long long c0, c1;
    const pa_rows all = head_rows(&jb, 0, 0, p->Lk);
    head_keys(&jb, &all, &c0, &c1);
    const long long keys = c1 - c0;
    jb.block = keys < PA_DECODE_BLOCK ? (keys > 0 ? keys : 1) : PA_DECODE_BLOCK;
    /* Split each head's keys so that every thread gets as many chunks
     * (heads * chunks a multiple of the threads), unless the heads alone
     * share out well enough or the chunks would be short. */
    const long long heads = p->B * p->Hkv;
    jb.chunks = 1;
    if (threads > 1 && heads % threads != 0 && heads < PA_DECODE_BALANCED * threads) {
        const long long want = threads / gcd(heads, threads), most = keys / PA_DECODE_MIN_CHUNK;
        jb.chunks = want < most ? want : most > 1 ? most : 1;
    }
    jb.merge_floats = pa_merges_masks(p) ? (p->weights != NULL ? p->Lk : jb.block) : 0;
    /* Per thread: queries, scores, corrections, merged masks, and (without
     * a split) the rows' outputs, maxima and sums; with a split those are
     * each item's partial. */
    jb.partial_floats = jb.rows * (p->Dv + 2);
    jb.scratch_floats = jb.rows * (jb.Dk + jb.block + 1) + jb.merge_floats
                      + (jb.chunks == 1 ? jb.partial_floats : 0);
    return jb;
}

static long long need_floats(const decode_job *jb, int threads)
{
    const long long items = jb->p->B * jb->p->Hkv * jb->chunks;
    return jb->scratch_floats * threads + (jb->chunks > 1 ? jb->partial_floats * items : 0);
}

long long pa_decode_workspace_bytes(const pa_plan *p, const pa_decode_input *in)
{
    if (pa_plan_writes_nothing(p))
        return 0;
    const int threads = pa_plan_threads(p);
    decode_job jb = plan_job(p, in, threads);
    return need_floats(&jb, threads) * (long long)sizeof(float);
}

/* Row j of head (b, h) of a tensor, by its dtype. */
static const void *row_at(const pa_tensor *t, long long b, long long h, long long j)
{
    return (const char *)t->data
         + (b * t->strides[0] + h * t->strides[1] + j * t->strides[2]) * pa_dtype_size(t->dtype);
}

static void zero(float *x, long long from, long long to)
{
    for (long long j = from; j < to; j++)
        x[j] = 0.0f;
}

/* Row k of a key head's block: query i of head h. */
static void row_of(const decode_job *jb, long long kvh, long long k, long long *h, long long *i)
{
    *h = kvh * jb->G + k / jb->p->Lq;
    *i = k % jb->p->Lq;
}

/* Keys [j0, j1) of key head r for every row: scores, positional terms,
 * masks, online softmax, then P.V into o. */
static void stream_block(const decode_job *jb, const pa_rows *r, long long j0, long long j1, const float *q,
                         float *s, float *corr, float *merge, float *o, float *m, float *l)
{
    const pa_plan *p = jb->p;
    const long long b = r->b, kvh = r->kvh;
    const pa_kernels *kern = p->kernels;
    const long long n = j1 - j0, lds = jb->block;
    const pa_tensor *k = jb->in->k;
    if (jb->Dk > 0)
        kern->decode_scores(s, lds, q, jb->rows, row_at(k, b, kvh, j0), k->strides[2], k->dtype, n, jb->Dk,
                            jb->in->scale);
    for (long long k = 0; k < jb->rows; k++) {
        long long h, i, lo, hi;
        row_of(jb, kvh, k, &h, &i);
        float *row = s + k * lds;  /* key j at row[j - j0] */
        if (jb->Dk == 0)
            zero(row, 0, n);
        pa_key_range(p, r, i, &lo, &hi);
        lo = lo > j0 ? lo : j0;
        hi = hi < j1 ? hi : j1;
        corr[k] = 1.0f;
        if (hi <= lo) {
            zero(row, 0, n);
            continue;
        }
        float *x = row + (lo - j0);
        if (pa_has_positional(p))
            pa_positional_row(p, r, h, i, x, lo, hi);
        if (p->weights != NULL)
            memcpy(pa_row(p->weights, b, h, i) + lo, x, sizeof(float) * (size_t)(hi - lo));
        const float *add;
        const unsigned char *keep;
        pa_mask_row(p, b, h, i, merge, lo, hi, &add, &keep);
        corr[k] = kern->online_row(x, hi - lo, add, keep, &m[k], &l[k]);
        zero(row, 0, lo - j0);
        zero(row, hi - j0, n);
    }
    if (p->Dv > 0)
        kern->decode_values(o, corr, s, lds, jb->rows, row_at(p->values, b, kvh, j0), p->values->strides[2],
                            p->values->dtype, n, p->Dv);
}

/* The weights row of query i of head h, holding its scores (with
 * positional terms) over the keys it sees: their softmax, zeros elsewhere. */
static void finish_weights(const pa_plan *p, const pa_rows *r, long long h, long long i, float *merge)
{
    if (p->Lk == 0)
        return;
    const long long b = r->b;
    float *w = pa_row(p->weights, b, h, i);
    long long lo, hi;
    pa_key_range(p, r, i, &lo, &hi);
    if (hi > lo) {
        const float *add;
        const unsigned char *keep;
        pa_mask_row(p, b, h, i, merge, lo, hi, &add, &keep);
        p->kernels->softmax_row(w + lo, hi - lo, add, keep);
    } else {
        lo = hi = 0;
    }
    zero(w, 0, lo);
    zero(w, hi, p->Lk);
}

/* One (key head, key chunk) item: the chunk's keys for every row of the
 * head; without a split, the rows' outputs and weights too. */
static void run_item(void *ctx, long long item, int thread)
{
    const decode_job *jb = ctx;
    const pa_plan *p = jb->p;
    const long long head = item / jb->chunks, chunk = item % jb->chunks;
    const long long b = head / p->Hkv, kvh = head % p->Hkv, rows = jb->rows;
    float *q = jb->scratch + (long long)thread * jb->scratch_floats;
    float *s = q + rows * jb->Dk, *corr = s + rows * jb->block, *merge = corr + rows;
    float *o = jb->chunks > 1 ? jb->partials + item * jb->partial_floats : merge + jb->merge_floats;
    float *m = o + rows * p->Dv, *l = m + rows;
    for (long long k = 0; k < rows; k++) {
        long long h, i;
        row_of(jb, kvh, k, &h, &i);
        const pa_tensor *qt = jb->in->q;   /* its rows, widened when half */
        if (jb->Dk > 0 && qt->dtype == PA_F32)
            memcpy(q + k * jb->Dk, row_at(qt, b, h, i), sizeof(float) * (size_t)jb->Dk);
        else if (jb->Dk > 0)
            p->kernels->widen(q + k * jb->Dk, row_at(qt, b, h, i), jb->Dk, qt->dtype);
        m[k] = -INFINITY;
        l[k] = 0.0f;
    }
    zero(o, 0, rows * p->Dv);
    /* This chunk of the keys the head's rows see, in its batch row. */
    const pa_rows r = head_rows(jb, b, kvh, pa_batch_keys(p, b));
    long long c0, c1;
    head_keys(jb, &r, &c0, &c1);
    const long long cols = (c1 - c0 + jb->chunks - 1) / jb->chunks;
    const long long k0 = c0 + chunk * cols < c1 ? c0 + chunk * cols : c1;
    const long long k1 = k0 + cols < c1 ? k0 + cols : c1;
    for (long long j0 = k0; j0 < k1; j0 += jb->block)
        stream_block(jb, &r, j0, j0 + jb->block < k1 ? j0 + jb->block : k1, q, s, corr, merge, o, m, l);
    if (jb->chunks > 1)
        return;     /* merge_head finishes the rows */
    for (long long k = 0; k < rows; k++) {
        long long h, i;
        row_of(jb, kvh, k, &h, &i);
        if (p->Dv > 0) {
            float *out = pa_row(p->out, b, h, i);
            if (l[k] == 0.0f) {     /* sees no key: zeros, even if V holds NaN */
                zero(out, 0, p->Dv);
            } else {
                const float inv = 1.0f / l[k];
                for (long long d = 0; d < p->Dv; d++)
                    out[d] = o[k * p->Dv + d] * inv;
            }
        }
        if (p->weights != NULL)
            finish_weights(p, &r, h, i, merge);
    }
}

/* After a split: one key head's rows from its chunks' partials. */
static void merge_head(void *ctx, long long head, int thread)
{
    const decode_job *jb = ctx;
    const pa_plan *p = jb->p;
    const long long b = head / p->Hkv, kvh = head % p->Hkv;
    const float *parts = jb->partials + head * jb->chunks * jb->partial_floats;
    float *merge = jb->scratch + (long long)thread * jb->scratch_floats
                 + jb->rows * (jb->Dk + jb->block + 1);
    const pa_rows r = head_rows(jb, b, kvh, pa_batch_keys(p, b));
    for (long long k = 0; k < jb->rows; k++) {
        long long h, i;
        row_of(jb, kvh, k, &h, &i);
        if (p->Dv > 0)
            pa_merge_chunks(pa_row(p->out, b, h, i), p->Dv, parts, jb->partial_floats, jb->chunks, jb->rows, k);
        if (p->weights != NULL)
            finish_weights(p, &r, h, i, merge);
    }
}

int pa_decode_run(pa_plan *p, const pa_decode_input *in, const pa_sdpa_options *o)
{
    if (pa_plan_writes_nothing(p))
        return PA_OK;
    p->kernels = pa_active_kernels();
    const int threads = pa_plan_threads(p);
    decode_job jb = plan_job(p, in, threads);
    float stack[PA_STACK_FLOATS];
    void *owned;
    int rc = pa_plan_scratch(p, o, need_floats(&jb, threads), stack, &jb.scratch, &owned);
    if (rc != PA_OK)
        return rc;
    jb.partials = jb.scratch + jb.scratch_floats * threads;
    const long long heads = p->B * p->Hkv;
    pa_parallel_for(heads * jb.chunks, threads, run_item, &jb);
    if (jb.chunks > 1)
        pa_parallel_for(heads, threads, merge_head, &jb);
    free(owned);
    return PA_OK;
}
