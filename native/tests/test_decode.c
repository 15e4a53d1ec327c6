/*
 * C tests of the streaming decode kernel (decode.c) at the ISA level
 * PANATTN_MAX_ISA selects (CTest runs every level): its two ISA kernels
 * against double sums on odd sizes, K and V rows of every dtype; pa_sdpa
 * calls it takes (checked with pa_sdpa_decodes) against the float64
 * reference with every option and float or half q, k and v, on 1, 2, 3
 * and 7 threads, key heads fewer and more than the threads; the
 * merge of key chunks with fully masked, NaN and infinite rows; nothing
 * written outside the outputs; the caller's workspace.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "internal.h"
#include "panattn.h"
#include "reference.h"
#include "testing.h"

/* ---- the ISA kernels ---------------------------------------------------- */

/* Element x of row j of a (1, 1, n, ld) K or V buffer, of any dtype. */
static double kv_at(const buf *kv, long long j, long long ld, long long x)
{
    const long long i = j * ld + x;
    if (kv->t.dtype == PA_F32)
        return ((const float *)kv->t.data)[i];
    return ref_half(((const unsigned short *)kv->t.data)[i], kv->t.dtype);
}

/* decode_scores and decode_values on strided K and V rows of every dtype,
 * against double sums; nothing written past the n scores of a row or the
 * dv outputs. */
static void test_kernels(void)
{
    const pa_kernels *kern = pa_active_kernels();
    const int dtypes[] = { PA_F32, PA_F16, PA_BF16 };
    const long long ds[] = { 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 64, 127, 130 };
    const long long ns[] = { 1, 2, 3, 4, 5, 7, 9, 33 };
    const long long rowss[] = { 1, 2, 3, 4, 5, 7, 16 };
    for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof rowss / sizeof rowss[0]; c++) {
                const long long d = ds[a], n = ns[b], rows = rowss[c], ld = d + 3, lds = n + 2;
                const int dtype = dtypes[(a + b + c) % 3];
                buf q = make(1, 1, rows, d, 0, 1), kv = make(1, 1, n, ld, 0, 1);
                if (dtype != PA_F32)
                    to_half(&kv, dtype);
                buf s = make(1, 1, rows, lds, 0, 0), p = make(1, 1, rows, n, 0, 1);
                buf o = make(1, 1, rows, d, 0, 1), corr = make(1, 1, 1, rows, 0, 1);
                const float *Q = q.t.data, *P = p.t.data, *C = corr.t.data;
                float *S = s.t.data, *O = o.t.data;
                double *want_o = malloc(sizeof(double) * (size_t)(rows * d));
                for (long long r = 0; r < rows; r++)
                    for (long long x = 0; x < d; x++) {
                        double acc = (double)C[r] * O[r * d + x];
                        for (long long j = 0; j < n; j++)
                            acc += (double)P[r * n + j] * kv_at(&kv, j, ld, x);
                        want_o[r * d + x] = acc;
                    }
                kern->decode_scores(S, lds, Q, rows, kv.t.data, ld, dtype, n, d, 0.75f);
                double worst = 0.0;
                int outside = 0;
                for (long long r = 0; r < rows; r++)
                    for (long long j = 0; j < lds; j++) {
                        if (j >= n) {
                            outside |= S[r * lds + j] != SENTINEL;
                            continue;
                        }
                        double want = 0.0;
                        for (long long x = 0; x < d; x++)
                            want += (double)Q[r * d + x] * kv_at(&kv, j, ld, x);
                        want *= 0.75;
                        double e = fabs(S[r * lds + j] - want) / (1.0 + fabs(want));
                        worst = e > worst || e != e ? e : worst;
                    }
                CHECK(worst < 1e-5 && !outside && guards_intact(&s),
                      "decode_scores d=%lld n=%lld rows=%lld dtype=%d: error %.3g, wrote outside %d", d, n, rows,
                      dtype, worst, outside || !guards_intact(&s));
                kern->decode_values(O, C, P, n, rows, kv.t.data, ld, dtype, n, d);
                CHECK(rel_error(&o.t, want_o) < 1e-5 && guards_intact(&o),
                      "decode_values d=%lld n=%lld rows=%lld dtype=%d: error %.3g", d, n, rows, dtype,
                      rel_error(&o.t, want_o));
                free(want_o);
                free(q.base); free(kv.base); free(s.base); free(p.base); free(o.base); free(corr.base);
            }
}

/* ---- pa_sdpa through the decode kernel ---------------------------------- */

/* Emulated runs (PANATTN_TEST_QUICK) stay on one thread (testing.h). */
static void set_threads(int threads)
{
    if (!quick_tests())
        pa_set_num_threads(threads);
}

typedef struct shape { long long B, H, Hkv, Lq, Lk, Dk, Dv; } shape;

enum mask_kind { NO_MASK, KEEP_BROADCAST, ADD_FULL, KEEP_PER_HEAD, MASK_KINDS };
enum padding_kind { NO_PADDING, PADDING_BOOL, PADDING_FLOAT, PADDING_KINDS };
enum positional_kind { NO_POSITIONAL, SOFTCAP, ALIBI, T5_BIDIRECTIONAL, T5_CAUSAL, ALL_THREE, POSITIONAL_KINDS };

typedef struct options {
    int mask, padding, causal, positional, weights, bhld;
    long long window;
    int extents;                /* a two-sided window (left, right) instead */
    long long left, right;
    int lengths;                /* per-sequence key lengths */
    int dtypes[3];              /* of q, k and v */
    float scale;
} options;

/* The options of variant number n: the kinds cycle at different rates, so
 * a few variants per shape meet every kind and many combinations. */
static options variant(const shape *s, int n)
{
    options x;
    x.mask = n % MASK_KINDS;
    x.padding = (n / 2) % PADDING_KINDS;
    x.causal = n % 3;
    x.positional = (n + n / 3) % POSITIONAL_KINDS;
    x.weights = n % 2 == 1;
    x.bhld = (n / 2) % 2;
    x.window = x.causal != PA_CAUSAL_NONE && n % 4 >= 2 ? 1 + s->Lk / 3 : 0;
    x.extents = x.window == 0 && n % 2 == 1;
    x.left = n % 8 == 3 ? -1 : s->Lk / 4;
    x.right = n % 8 == 7 ? -1 : 2;
    x.lengths = n % 3 == 1;
    x.scale = n % 5 == 4 ? 0.37f : 0.0f;
    /* Float, a half cache (f16 or bf16) under float queries, all half, mixed. */
    static const int dtypes[][3] = {
        { PA_F32, PA_F32, PA_F32 }, { PA_F32, PA_F16, PA_F16 }, { PA_F32, PA_BF16, PA_BF16 },
        { PA_F16, PA_F16, PA_F16 }, { PA_BF16, PA_F16, PA_BF16 },
    };
    memcpy(x.dtypes, dtypes[(n / 3) % 5], sizeof x.dtypes);
    return x;
}

/* A mask tensor of the given shape over new storage (*storage to free):
 * bool keep-masks keep about 70% (some rows none), float masks hold
 * random addends with -INFINITY on every fifth key. */
static pa_tensor make_mask(long long d0, long long d1, long long d2, long long Lk, int dtype, void **storage)
{
    pa_tensor m;
    memset(&m, 0, sizeof m);
    const long long n = d0 * d1 * d2 * Lk;
    const long long shape[4] = { d0, d1, d2, Lk }, strides[4] = { d1 * d2 * Lk, d2 * Lk, Lk, 1 };
    memcpy(m.shape, shape, sizeof shape);
    memcpy(m.strides, strides, sizeof strides);
    m.capacity = n;
    m.dtype = dtype;
    if (dtype == PA_F32) {
        float *f = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        for (long long i = 0; i < n; i++)
            f[i] = i % 5 == 3 ? -INFINITY : frand();
        m.data = *storage = f;
    } else {
        unsigned char *u = malloc((size_t)(n > 0 ? n : 1));
        for (long long i = 0; i < n; i++)
            u[i] = (i / Lk) % 7 != 6 && frand() > -0.4f;
        m.data = *storage = u;
    }
    return m;
}

/* Runs one case and checks it against the float64 reference. */
static void check_case(const shape *s, const options *x, int threads)
{
    buf q = make(s->B, s->H, s->Lq, s->Dk, x->bhld, 1);
    buf k = make(s->B, s->Hkv, s->Lk, s->Dk, x->bhld, 1);
    buf v = make(s->B, s->Hkv, s->Lk, s->Dv, x->bhld, 1);
    buf *inputs[3] = { &q, &k, &v };
    for (int i = 0; i < 3; i++)
        if (x->dtypes[i] != PA_F32)
            to_half(inputs[i], x->dtypes[i]);
    /* Outputs with padded rows: the padding must stay untouched. */
    buf out = make(s->B, s->H, s->Lq, s->Dv + 3, 0, 0), w = make(s->B, s->H, s->Lq, s->Lk + 2, 0, 0);
    out.t.shape[3] = s->Dv;
    w.t.shape[3] = s->Lk;
    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    o.causal = x->causal;
    o.window = x->window;
    o.window_extents = x->extents;
    o.window_left = x->extents ? x->left : 0;
    o.window_right = x->extents ? x->right : 0;
    o.scale = x->scale;
    long long *lengths = malloc(sizeof(long long) * (size_t)s->B);
    for (long long b = 0; b < s->B; b++)   /* every row length, some 0 and Lk */
        lengths[b] = b % 3 == 1 ? s->Lk : b % 3 == 2 ? 0 : 1 + (long long)((frand() + 1.0f) * 0.5f * (float)(s->Lk - 1));
    if (x->lengths) {
        o.key_lengths = lengths;
        o.key_lengths_count = s->B;
    }
    o.weights = x->weights ? &w.t : NULL;
    void *mask_storage = NULL, *padding_storage = NULL;
    pa_tensor mask, padding;
    switch (x->mask) {
    case KEEP_BROADCAST: mask = make_mask(1, 1, s->Lq, s->Lk, PA_BOOL, &mask_storage); o.mask = &mask; break;
    case ADD_FULL: mask = make_mask(s->B, s->H, s->Lq, s->Lk, PA_F32, &mask_storage); o.mask = &mask; break;
    case KEEP_PER_HEAD: mask = make_mask(1, s->H, 1, s->Lk, PA_BOOL, &mask_storage); o.mask = &mask; break;
    default: break;
    }
    if (x->padding != NO_PADDING) {
        padding = make_mask(s->B, 1, 1, s->Lk, x->padding == PADDING_BOOL ? PA_BOOL : PA_F32, &padding_storage);
        o.key_padding = &padding;
    }
    buf slopes = make(1, 1, 1, s->H, 0, 1), table = make(1, 1, s->H, 32, 0, 1);
    for (long long h = 0; h < s->H; h++)
        ((float *)slopes.t.data)[h] = 0.05f * (float)(h + 1);
    if (x->positional == SOFTCAP || x->positional == ALL_THREE)
        o.softcap = 0.8f;
    if (x->positional == ALIBI || x->positional == ALL_THREE)
        o.alibi_slopes = &slopes.t;
    if (x->positional == T5_BIDIRECTIONAL || x->positional == T5_CAUSAL || x->positional == ALL_THREE) {
        o.rel_bias = &table.t;
        o.rel_bidirectional = x->positional == T5_BIDIRECTIONAL;
        o.rel_max_distance = x->positional == ALL_THREE ? 20 : 128;
    }
    const long long nout = s->B * s->H * s->Lq * s->Dv, nw = s->B * s->H * s->Lq * s->Lk;
    double *ref_out = malloc(sizeof(double) * (size_t)(nout + 1));
    double *ref_w = malloc(sizeof(double) * (size_t)(nw + 1));
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref_out, ref_w);

    set_threads(threads);
    int decodes = -1;
    int rc = pa_sdpa_decodes(&q.t, &k.t, &v.t, &out.t, &o, &decodes);
    char what[300];
    snprintf(what, sizeof what, "B=%lld H=%lld Hkv=%lld Lq=%lld Lk=%lld Dk=%lld Dv=%lld mask=%d padding=%d "
             "causal=%d window=%lld extents=%d (%lld, %lld) lengths=%d positional=%d weights=%d bhld=%d scale=%g "
             "dtypes=%d,%d,%d on %d threads", s->B, s->H, s->Hkv, s->Lq, s->Lk, s->Dk, s->Dv, x->mask, x->padding,
             x->causal, x->window, x->extents, x->left, x->right, x->lengths, x->positional, x->weights, x->bhld,
             (double)x->scale, x->dtypes[0], x->dtypes[1], x->dtypes[2], threads);
    CHECK(rc == PA_OK && decodes == 1, "%s: not the decode kernel (status %s, %d)", what, pa_status_name(rc),
          decodes);
    rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
    CHECK(rc == PA_OK, "%s: status %s: %s", what, pa_status_name(rc), pa_last_error());
    double e = rel_error(&out.t, ref_out);
    CHECK(e < 1e-5, "%s: output relative error %.3g", what, e);
    if (x->weights) {
        double ew = rel_error(&w.t, ref_w);
        CHECK(ew < 1e-5, "%s: weights relative error %.3g", what, ew);
    }
    int padding_intact = 1;
    for (long long row = 0; row < s->B * s->H * s->Lq; row++) {
        for (long long d = s->Dv; d < s->Dv + 3; d++)
            padding_intact &= ((float *)out.t.data)[row * (s->Dv + 3) + d] == SENTINEL;
        for (long long j = s->Lk; j < s->Lk + 2; j++)
            padding_intact &= ((float *)w.t.data)[row * (s->Lk + 2) + j] == SENTINEL;
    }
    CHECK(padding_intact && guards_intact(&out) && guards_intact(&w), "%s: wrote outside the outputs", what);
    free(ref_out); free(ref_w); free(mask_storage); free(padding_storage); free(lengths);
    free(q.base); free(k.base); free(v.base); free(out.base); free(w.base); free(slopes.base); free(table.base);
}

static void test_random_cases(void)
{
    const shape shapes[] = {
        { 1, 1, 1, 1, 1, 1, 1 },
        { 1, 3, 1, 1, 37, 5, 3 },          /* a group of 3 heads, odd sizes */
        { 2, 8, 2, 2, 700, 33, 17 },       /* groups of 4, two queries each: 8 rows */
        { 1, 4, 4, 3, 1111, 19, 40 },
        { 1, 2, 1, 8, 600, 7, 9 },         /* 16 rows, the most */
        { 1, 16, 1, 1, 2049, 16, 16 },     /* a group of 16 */
        { 3, 6, 3, 1, 1500, 64, 63 },      /* 9 key heads: more than the threads, or as many */
        { 1, 2, 1, 1, 20000, 8, 48 },      /* one key head: its keys split over the threads */
        { 2, 4, 2, 4, 2500, 24, 8 },       /* 4 key heads, 8 rows each */
        { 1, 32, 32, 1, 300, 128, 128 },   /* W2's heads and head size, fewer keys */
    };
    const int threads[] = { 1, 2, 3, 7 };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        if (quick_tests() && s->Lk * s->H * s->Dk > 200000)
            continue;
        for (int n = 0; n < 12; n++) {
            options x = variant(s, n + (int)i);
            check_case(s, &x, threads[(n + (int)i) % 4]);
        }
    }
    set_threads(0);
}

/* The same calls on every thread count: the splits differ, the results
 * do not (to rounding). */
static void test_thread_counts(void)
{
    if (quick_tests())
        return;
    const shape shapes[] = { { 1, 2, 1, 1, 20000, 8, 48 }, { 1, 6, 3, 2, 3000, 20, 12 }, { 3, 3, 3, 1, 4000, 32, 32 } };
    const int threads[] = { 1, 2, 3, 7 };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 4; t++)
            for (int n = 0; n < 3; n++) {
                options x = variant(&shapes[i], 5 * n + t);
                check_case(&shapes[i], &x, threads[t]);
            }
    set_threads(0);
}

/* ---- the merge of key chunks: masked, NaN and infinite rows ------------- */

enum { EDGE_H = 6, EDGE_LK = 6000, EDGE_D = 32 };

/* One key head of EDGE_H query heads, one query each, with an additive
 * mask that puts each head's row in one edge case: its kept keys all in the
 * first or in the last chunk, none at all, a NaN or +INFINITY score in one
 * chunk with the other chunk fully masked, and a plain row. */
static void test_merge_edges(void)
{
    const int threads[] = { 1, 2, 3, 7 };
    buf q = make(1, EDGE_H, 1, EDGE_D, 0, 1), k = make(1, 1, EDGE_LK, EDGE_D, 0, 1);
    buf v = make(1, 1, EDGE_LK, EDGE_D, 0, 1);
    float *add = malloc(sizeof(float) * EDGE_H * EDGE_LK);
    for (long long h = 0; h < EDGE_H; h++)
        for (long long j = 0; j < EDGE_LK; j++) {
            const int first = j < EDGE_LK / 8, last = j >= EDGE_LK - EDGE_LK / 8;
            float x = frand();
            switch (h) {
            case 0: x = first ? x : -INFINITY; break;                      /* kept keys in the first chunk */
            case 1: x = last ? x : -INFINITY; break;                       /* in the last chunk */
            case 2: x = -INFINITY; break;                                  /* none */
            case 3: x = j == 10 ? NAN : first ? x : -INFINITY; break;      /* NaN, the rest masked */
            case 4: x = j == EDGE_LK - 3 ? INFINITY : last ? x : -INFINITY; break; /* +Inf, the rest masked */
            default: break;                                                /* every key */
            }
            add[h * EDGE_LK + j] = x;
        }
    pa_tensor mask = { add, PA_F32, 0, { 1, EDGE_H, 1, EDGE_LK }, { 0, EDGE_LK, 0, 1 }, EDGE_H * EDGE_LK };
    for (int weights = 0; weights <= 1; weights++)
        for (int t = 0; t < 4; t++) {
            buf out = make(1, EDGE_H, 1, EDGE_D, 0, 0), w = make(1, EDGE_H, 1, EDGE_LK, 0, 0);
            pa_sdpa_options o = { .mask = &mask, .weights = weights ? &w.t : NULL };
            double ref[EDGE_H * EDGE_D];
            double *ref_w = malloc(sizeof(double) * EDGE_H * EDGE_LK);
            ref_sdpa(&q.t, &k.t, &v.t, &o, ref, ref_w);
            set_threads(threads[t]);
            int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
            CHECK(rc == PA_OK, "merge edges: %s", pa_last_error());
            const float *got = out.t.data, *gw = w.t.data;
            for (long long h = 0; h < EDGE_H; h++) {
                int ok = 1;
                for (long long d = 0; d < EDGE_D; d++) {
                    float x = got[h * EDGE_D + d];
                    if (h == 3 || h == 4)
                        ok &= isnan(x);
                    else if (h == 2)
                        ok &= x == 0.0f && !signbit(x);
                    else
                        ok &= fabs(x - ref[h * EDGE_D + d]) < 1e-5;
                }
                for (long long j = 0; weights && j < EDGE_LK; j++) {
                    float x = gw[h * EDGE_LK + j];
                    if (h == 3 || h == 4)
                        ok &= isnan(x);
                    else
                        ok &= fabs(x - ref_w[h * EDGE_LK + j]) < 1e-6;
                }
                CHECK(ok, "merge edges, head %lld on %d threads%s: wrong output or weights", h, threads[t],
                      weights ? " with weights" : "");
            }
            CHECK(guards_intact(&out) && guards_intact(&w), "merge edges: wrote outside the outputs");
            free(ref_w); free(out.base); free(w.base);
        }
    set_threads(0);
    free(add); free(q.base); free(k.base); free(v.base);
}

/* Rows that see no key stay zeros though V holds infinities and NaN; no
 * keys at all give zeros. */
static void test_rows_without_keys(void)
{
    const long long Lk = 8000, D = 5;
    buf q = make(1, 4, 2, D, 0, 1), k = make(1, 2, Lk, D, 0, 1), v = make(1, 2, Lk, D, 0, 1);
    ((float *)v.t.data)[7 * D + 1] = INFINITY;
    ((float *)v.t.data)[(Lk + 9) * D + 2] = NAN;
    unsigned char keep[2 * 8000];
    for (long long j = 0; j < 2 * Lk; j++)
        keep[j] = j < Lk ? 0 : j % 3 == 0;  /* query 0 sees nothing */
    pa_tensor mask = { keep, PA_BOOL, 0, { 1, 1, 2, Lk }, { 0, 0, Lk, 1 }, 2 * Lk };
    for (int threads = 1; threads <= 3; threads++) {
        buf out = make(1, 4, 2, D, 0, 0);
        pa_sdpa_options o = { .mask = &mask };
        set_threads(threads);
        CHECK(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o) == PA_OK, "%s", pa_last_error());
        for (long long h = 0; h < 4; h++)
            for (long long d = 0; d < D; d++)
                CHECK(((float *)out.t.data)[(h * 2) * D + d] == 0.0f, "head %lld query 0 sees no key: %g", h,
                      ((float *)out.t.data)[(h * 2) * D + d]);
        free(out.base);
    }
    set_threads(0);
    buf k0 = make(1, 2, 0, D, 0, 1), v0 = make(1, 2, 0, D, 0, 1), out = make(1, 4, 2, D, 0, 0);
    CHECK(pa_sdpa(&q.t, &k0.t, &v0.t, &out.t, NULL) == PA_OK, "Lk = 0: %s", pa_last_error());
    for (long long i = 0; i < 4 * 2 * D; i++)
        CHECK(((float *)out.t.data)[i] == 0.0f, "Lk = 0 gives zeros");
    free(q.base); free(k.base); free(v.base); free(k0.base); free(v0.base); free(out.base);
}

/* The caller's workspace, of exactly the size pa_sdpa_workspace_size
 * reports: enough, and nothing written past it; one byte less refused. */
static void test_caller_workspace(void)
{
    const shape shapes[] = { { 1, 4, 1, 2, 5000, 16, 16 }, { 1, 2, 2, 1, 50, 9, 7 } };
    for (size_t i = 0; i < 2; i++) {
        const shape *s = &shapes[i];
        set_threads(3);
        buf q = make(s->B, s->H, s->Lq, s->Dk, 0, 1), k = make(s->B, s->Hkv, s->Lk, s->Dk, 0, 1);
        buf v = make(s->B, s->Hkv, s->Lk, s->Dv, 0, 1), out = make(s->B, s->H, s->Lq, s->Dv, 0, 0);
        pa_sdpa_options o = { .causal = PA_CAUSAL_BOTTOM_RIGHT };
        long long bytes = -1;
        CHECK(pa_sdpa_workspace_size(&q.t, &k.t, &v.t, &out.t, &o, &bytes) == PA_OK && bytes > 0,
              "workspace size %lld", bytes);
        const long long floats = bytes / 4;
        buf ws = make(1, 1, 1, floats, 0, 0);
        o.workspace = ws.t.data;
        o.workspace_bytes = bytes - 1;
        int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
        CHECK(rc == PA_EINVAL && strstr(pa_last_error(), "workspace_bytes") != NULL, "short workspace: %s",
              pa_last_error());
        o.workspace_bytes = bytes;
        rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
        double *ref = malloc(sizeof(double) * (size_t)(s->B * s->H * s->Lq * s->Dv));
        ref_sdpa(&q.t, &k.t, &v.t, &o, ref, NULL);
        CHECK(rc == PA_OK && rel_error(&out.t, ref) < 1e-5, "caller workspace result: %s", pa_last_error());
        CHECK(guards_intact(&ws), "wrote past the caller's workspace");
        free(ref); free(ws.base); free(q.base); free(k.base); free(v.base); free(out.base);
    }
    set_threads(0);
}

/* More rows per key head than the kernel takes: the tiles' path, which
 * pa_sdpa_decodes reports. */
static void test_routing(void)
{
    const shape shapes[] = { { 1, 32, 1, 1, 10, 4, 4 }, { 1, 1, 1, 9, 10, 4, 4 }, { 1, 4, 1, 5, 10, 4, 4 } };
    for (size_t i = 0; i < 3; i++) {
        const shape *s = &shapes[i];
        buf q = make(s->B, s->H, s->Lq, s->Dk, 0, 1), k = make(s->B, s->Hkv, s->Lk, s->Dk, 0, 1);
        buf v = make(s->B, s->Hkv, s->Lk, s->Dv, 0, 1), out = make(s->B, s->H, s->Lq, s->Dv, 0, 0);
        int decodes = -1;
        CHECK(pa_sdpa_decodes(&q.t, &k.t, &v.t, &out.t, NULL, &decodes) == PA_OK && decodes == 0,
              "H=%lld Hkv=%lld Lq=%lld: expected the tiles' path, got %d", s->H, s->Hkv, s->Lq, decodes);
        free(q.base); free(k.base); free(v.base); free(out.base);
    }
}

int main(void)
{
    select_isa();
    test_kernels();
    test_random_cases();
    test_thread_counts();
    test_merge_edges();
    test_rows_without_keys();
    test_caller_workspace();
    test_routing();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
