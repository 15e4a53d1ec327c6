/*
 * C unit tests of pa_sdpa against the float64 reference, on random data,
 * at the ISA level PANATTN_MAX_ISA selects (CTest runs every level).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "panattn.h"
#include "reference.h"
#include "testing.h"

enum mask_kind { NO_MASK, BOOL_BROADCAST, FLOAT_FULL, BOOL_KEY_PADDING, MASK_KINDS };

typedef struct shape { long long B, H, Hkv, Lq, Lk, Dk, Dv; } shape;

/* Builds a mask of the given kind; *storage must be freed. Some entries
 * are masked, never a whole row of the boolean masks. */
static pa_tensor make_mask(const shape *s, int kind, void **storage)
{
    pa_tensor m;
    memset(&m, 0, sizeof m);
    long long dims[4];
    if (kind == BOOL_BROADCAST) {
        long long d[4] = { 1, 1, s->Lq, s->Lk }; memcpy(dims, d, sizeof d);
    } else if (kind == BOOL_KEY_PADDING) {
        long long d[4] = { s->B, 1, 1, s->Lk }; memcpy(dims, d, sizeof d);
    } else {
        long long d[4] = { s->B, s->H, s->Lq, s->Lk }; memcpy(dims, d, sizeof d);
    }
    long long n = dims[0] * dims[1] * dims[2] * dims[3];
    memcpy(m.shape, dims, sizeof dims);
    long long st[4] = { dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1 };
    memcpy(m.strides, st, sizeof st);
    m.capacity = n;
    if (kind == FLOAT_FULL) {
        float *f = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        for (long long i = 0; i < n; i++)
            f[i] = (i % 5 == 3) ? -INFINITY : frand();
        m.dtype = PA_F32;
        m.data = *storage = f;
    } else {
        unsigned char *u = malloc((size_t)(n > 0 ? n : 1));
        for (long long i = 0; i < n; i++)
            u[i] = (i % dims[3] == 0) || (frand() > -0.4f);
        m.dtype = PA_BOOL;
        m.data = *storage = u;
    }
    return m;
}

enum extra_kind { NO_EXTRA, KEY_PADDING_BOOL, KEY_PADDING_FLOAT_WINDOW, EXTRA_KINDS };

/* One case; q, k and v of the dtypes given (the reference reads half ones
 * through its own conversion). */
static void check_case_dtypes(const shape *s, int mask_kind, int causal, int with_weights, int bhld,
                              int extra, const int dtypes[3])
{
    buf q = make(s->B, s->H, s->Lq, s->Dk, bhld, 1);
    buf k = make(s->B, s->Hkv, s->Lk, s->Dk, bhld, 1);
    buf v = make(s->B, s->Hkv, s->Lk, s->Dv, bhld, 1);
    buf *inputs[3] = { &q, &k, &v };
    for (int i = 0; i < 3; i++)
        if (dtypes[i] != PA_F32)
            to_half(inputs[i], dtypes[i]);
    buf out = make(s->B, s->H, s->Lq, s->Dv, bhld, 0);
    buf w = make(s->B, s->H, s->Lq, s->Lk, 0, 0);
    void *mask_storage = NULL;
    pa_tensor mask;
    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    o.causal = causal;
    if (mask_kind != NO_MASK) {
        mask = make_mask(s, mask_kind, &mask_storage);
        o.mask = &mask;
    }
    if (with_weights)
        o.weights = &w.t;
    void *padding_storage = NULL;
    pa_tensor padding;
    if (extra != NO_EXTRA) {
        shape ps = *s;
        ps.H = 1;
        ps.Lq = 1;
        padding = make_mask(&ps, extra == KEY_PADDING_BOOL ? BOOL_KEY_PADDING : FLOAT_FULL,
                            &padding_storage);
        o.key_padding = &padding;
        o.window = extra == KEY_PADDING_FLOAT_WINDOW ? 1 + s->Lk / 3 : 0;
    }
    long long nout = s->B * s->H * s->Lq * s->Dv, nw = s->B * s->H * s->Lq * s->Lk;
    double *ref_out = malloc(sizeof(double) * (size_t)(nout + 1));
    double *ref_w = malloc(sizeof(double) * (size_t)(nw + 1));
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref_out, ref_w);

    int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
    char what[200];
    snprintf(what, sizeof what, "B=%lld H=%lld Hkv=%lld Lq=%lld Lk=%lld Dk=%lld Dv=%lld mask=%d "
             "causal=%d weights=%d bhld=%d extra=%d dtypes=%d,%d,%d", s->B, s->H, s->Hkv, s->Lq, s->Lk,
             s->Dk, s->Dv, mask_kind, causal, with_weights, bhld, extra, dtypes[0], dtypes[1], dtypes[2]);
    CHECK(rc == PA_OK, "%s: status %s: %s", what, pa_status_name(rc), pa_last_error());
    double e = rel_error(&out.t, ref_out);
    CHECK(e < 1e-5, "%s: output relative error %.3g", what, e);
    if (with_weights) {
        double ew = rel_error(&w.t, ref_w);
        CHECK(ew < 1e-5, "%s: weights relative error %.3g", what, ew);
    }
    CHECK(guards_intact(&out) && guards_intact(&w) && guards_intact(&q), "%s: wrote outside", what);
    free(ref_out); free(ref_w); free(mask_storage); free(padding_storage);
    free(q.base); free(k.base); free(v.base); free(out.base); free(w.base);
}

static void check_case(const shape *s, int mask_kind, int causal, int with_weights, int bhld, int extra)
{
    static const int f32[3] = { PA_F32, PA_F32, PA_F32 };
    check_case_dtypes(s, mask_kind, causal, with_weights, bhld, extra, f32);
}

static void test_random_shapes(void)
{
    const shape shapes[] = {
        { 1, 1, 1, 1, 1, 1, 1 },
        { 2, 3, 3, 7, 7, 3, 5 },
        { 1, 2, 1, 129, 100, 64, 80 },
        { 2, 4, 2, 33, 257, 16, 16 },
        { 1, 1, 1, 300, 300, 8, 8 },   /* more than one query tile */
        { 1, 2, 2, 5, 1000, 128, 3 },
        { 1, 1, 1, 1000, 7, 1, 64 },
        { 1, 8, 2, 1, 3000, 64, 64 },    /* decoding: grouped heads, keys split over threads */
        { 1, 4, 4, 1, 2100, 32, 16 },    /* decoding, one head per group */
        { 1, 64, 1, 1, 300, 8, 8 },      /* decoding, a group as large as a tile */
        { 2, 130, 2, 1, 90, 9, 5 },      /* decoding, groups past a tile: head by head */
        { 2, 3, 3, 130, 1500, 16, 8 },   /* several tiles and key blocks */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int mask = 0; mask < MASK_KINDS; mask++)
            if (!quick_tests() || shapes[i].Lq * shapes[i].Lk * shapes[i].Dk <= 150000)
            for (int causal = 0; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++)
                for (int extra = 0; extra < EXTRA_KINDS; extra++)
                    if (extra != KEY_PADDING_FLOAT_WINDOW || causal != PA_CAUSAL_NONE)
                        check_case(&shapes[i], mask, causal, (mask + causal + extra) % 2,
                                   (int)((i + extra) % 2), extra);
}

/* Half-precision q, k and v, alone or mixed with float ones, on every path:
 * query tiles, key blocks past PA_BLOCK_COLS (widened block by block, with
 * and without the weights output), decoding with grouped heads and keys
 * split over threads, odd widths (widening tails). */
static void test_half_inputs(void)
{
    const shape shapes[] = {
        { 1, 1, 1, 1, 1, 1, 1 },
        { 2, 3, 3, 7, 9, 5, 3 },
        { 1, 4, 2, 70, 600, 33, 17 },   /* two query tiles, two key blocks */
        { 1, 8, 2, 1, 3000, 64, 64 },   /* decoding: grouped heads, keys split over threads */
        { 1, 4, 4, 1, 1100, 19, 21 },   /* decoding, one head per group */
        { 2, 2, 1, 3, 1030, 128, 8 },
    };
    const int combos[][3] = {
        { PA_F16, PA_F16, PA_F16 }, { PA_BF16, PA_BF16, PA_BF16 }, { PA_F32, PA_BF16, PA_BF16 },
        { PA_F32, PA_F16, PA_F16 }, { PA_BF16, PA_F32, PA_F16 }, { PA_F16, PA_BF16, PA_F32 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t c = 0; c < sizeof combos / sizeof combos[0]; c++) {
            if (quick_tests() && shapes[i].Lq * shapes[i].Lk * shapes[i].Dk > 150000)
                continue;
            const int mask = (int)((i + c) % MASK_KINDS), causal = (int)(c % 3);
            const int extra = causal != PA_CAUSAL_NONE && c % 2 ? KEY_PADDING_FLOAT_WINDOW : (int)(i % 2);
            for (int weights = 0; weights < 2; weights++)
                check_case_dtypes(&shapes[i], mask, causal, weights, (int)((i + c) % 2), extra, combos[c]);
        }
}

/* Every thread count gives the reference's result. */
static void test_thread_counts(void)
{
    if (quick_tests())
        return;
    const shape shapes[] = { { 1, 8, 2, 1, 4000, 64, 64 }, { 2, 4, 4, 200, 700, 32, 32 } };
    const int half[3] = { PA_F32, PA_BF16, PA_F16 };   /* a half cache, keys split over threads */
    for (int threads = 1; threads <= 4; threads++) {
        CHECK(pa_set_num_threads(threads) == PA_OK && pa_num_threads() == threads, "%d threads", threads);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            check_case(&shapes[i], FLOAT_FULL, PA_CAUSAL_BOTTOM_RIGHT, 0, 1, KEY_PADDING_FLOAT_WINDOW);
        check_case_dtypes(&shapes[0], NO_MASK, PA_CAUSAL_BOTTOM_RIGHT, 0, 0, KEY_PADDING_BOOL, half);
    }
    CHECK(pa_set_num_threads(-1) == PA_EINVAL, "negative thread count refused");
    CHECK(pa_set_num_threads(0) == PA_OK && pa_num_threads() >= 1, "0 = one per CPU");
}

static void test_fully_masked_rows_are_zero(void)
{
    const long long L = 9, D = 4;
    buf q = make(1, 1, L, D, 0, 1), k = make(1, 1, L, D, 0, 1), v = make(1, 1, L, D, 0, 1);
    buf out = make(1, 1, L, D, 0, 0), w = make(1, 1, L, L, 0, 0);
    unsigned char keep[9 * 9];
    float add[9 * 9];
    for (int i = 0; i < 81; i++) {
        keep[i] = (i / 9) % 2;          /* even rows fully masked */
        add[i] = keep[i] ? 0.5f : -INFINITY;
    }
    pa_tensor mask = { keep, PA_BOOL, 0, { 1, 1, L, L }, { 0, 0, L, 1 }, 81 };
    pa_sdpa_options o = { .mask = &mask, .weights = &w.t };
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            mask.data = add;
            mask.dtype = PA_F32;
        }
        int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
        CHECK(rc == PA_OK, "status %d: %s", rc, pa_last_error());
        for (long long i = 0; i < L; i++)
            for (long long d = 0; d < D; d++) {
                float x = ((float *)out.t.data)[i * D + d];
                CHECK(i % 2 == 1 ? isfinite(x) && x != SENTINEL : x == 0.0f,
                      "row %lld (%s mask) out = %g", i, pass ? "float" : "bool", x);
            }
        for (long long i = 0; i < L; i += 2)
            for (long long j = 0; j < L; j++)
                CHECK(((float *)w.t.data)[i * L + j] == 0.0f, "weights row %lld not zero", i);
    }
    free(q.base); free(k.base); free(v.base); free(out.base); free(w.base);
}

/* The query tiles' key chunks (one tile, too few for the threads): a row
 * whose only kept score, NaN, is in the first chunk is NaN, not zeros. */
static void test_chunk_merge_keeps_nan(void)
{
    if (quick_tests())
        return;
    const long long Lq = 9, Lk = 6000, D = 16;
    buf q = make(1, 1, Lq, D, 0, 1), k = make(1, 1, Lk, D, 0, 1), v = make(1, 1, Lk, D, 0, 1);
    float *add = malloc(sizeof(float) * (size_t)(Lq * Lk));
    for (long long i = 0; i < Lq * Lk; i++)
        add[i] = i < Lk ? (i == 5 ? NAN : -INFINITY) : frand();
    pa_tensor mask = { add, PA_F32, 0, { 1, 1, Lq, Lk }, { 0, 0, Lk, 1 }, Lq * Lk };
    pa_sdpa_options o = { .mask = &mask };
    for (int threads = 1; threads <= 3; threads++) {
        buf out = make(1, 1, Lq, D, 0, 0);
        pa_set_num_threads(threads);
        CHECK(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o) == PA_OK, "%s", pa_last_error());
        for (long long d = 0; d < D; d++)
            CHECK(isnan(((float *)out.t.data)[d]), "%d threads: row 0 column %lld = %g, expected NaN", threads, d,
                  ((float *)out.t.data)[d]);
        CHECK(isfinite(((float *)out.t.data)[D]), "%d threads: row 1 is finite", threads);
        free(out.base);
    }
    pa_set_num_threads(0);
    free(add); free(q.base); free(k.base); free(v.base);
}

static void test_huge_logits(void)
{
    const long long L = 17, D = 8;
    buf q = make(1, 1, L, D, 0, 1), k = make(1, 1, L, D, 0, 1), v = make(1, 1, L, D, 0, 1);
    buf out = make(1, 1, L, D, 0, 0), w = make(1, 1, L, L, 0, 0);
    for (long long i = 0; i < L * D; i++)
        ((float *)q.t.data)[i] *= 1e15f;
    pa_sdpa_options o = { .scale = 1e15f, .weights = &w.t };
    int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
    CHECK(rc == PA_OK, "status %d: %s", rc, pa_last_error());
    for (long long i = 0; i < L; i++) {
        double sum = 0.0;
        for (long long j = 0; j < L; j++)
            sum += ((float *)w.t.data)[i * L + j];
        CHECK(fabs(sum - 1.0) < 1e-5, "row %lld weights sum to %g with logits ~1e30", i, sum);
    }
    free(q.base); free(k.base); free(v.base); free(out.base); free(w.base);
}

static void test_empty_sizes(void)
{
    buf q = make(1, 2, 3, 4, 0, 1), k = make(1, 2, 0, 4, 0, 1), v = make(1, 2, 0, 5, 0, 1);
    buf out = make(1, 2, 3, 5, 0, 0);
    int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, NULL);
    CHECK(rc == PA_OK, "Lk = 0: status %d: %s", rc, pa_last_error());
    for (int i = 0; i < 30; i++)
        CHECK(((float *)out.t.data)[i] == 0.0f, "Lk = 0 gives zeros, got %g", ((float *)out.t.data)[i]);
    q.t.shape[2] = 0; out.t.shape[2] = 0;
    rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, NULL);
    CHECK(rc == PA_OK, "Lq = 0: status %d", rc);
    free(q.base); free(k.base); free(v.base); free(out.base);
}

static void test_caller_workspace(void)
{
    shape s = { 1, 2, 2, 40, 50, 16, 16 };
    buf q = make(1, 2, 40, 16, 0, 1), k = make(1, 2, 50, 16, 0, 1), v = make(1, 2, 50, 16, 0, 1);
    buf out = make(1, 2, 40, 16, 0, 0);
    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    long long bytes = -1;
    int rc = pa_sdpa_workspace_size(&q.t, &k.t, &v.t, &out.t, &o, &bytes);
    CHECK(rc == PA_OK && bytes > 0, "workspace size %lld", bytes);
    o.workspace = malloc((size_t)bytes);
    o.workspace_bytes = bytes - 1;
    rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
    CHECK(rc == PA_EINVAL && strstr(pa_last_error(), "workspace_bytes"), "short workspace: %s",
          pa_last_error());
    o.workspace_bytes = bytes;
    rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
    double *ref = malloc(sizeof(double) * 40 * 2 * 16);
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref, NULL);
    CHECK(rc == PA_OK && rel_error(&out.t, ref) < 1e-5, "caller workspace result (%lld %lld)",
          s.Lq, s.Lk);
    free(ref); free(o.workspace);
    free(q.base); free(k.base); free(v.base); free(out.base);
}

/* Each bad argument returns PA_EINVAL with a message naming it. */
static void test_bad_arguments(void)
{
    buf q = make(2, 4, 6, 8, 0, 1), k = make(2, 2, 5, 8, 0, 1), v = make(2, 2, 5, 3, 0, 1);
    buf out = make(2, 4, 6, 3, 0, 0);
    pa_tensor bad;
    int rc;
#define EXPECT_EINVAL(call, word)                                                   \
    do {                                                                            \
        rc = (call);                                                                \
        CHECK(rc == PA_EINVAL && strstr(pa_last_error(), word) != NULL,             \
              "%s: status %d, message '%s', expected PA_EINVAL naming '%s'", #call, \
              rc, pa_last_error(), word);                                           \
    } while (0)

    EXPECT_EINVAL(pa_sdpa(NULL, &k.t, &v.t, &out.t, NULL), "q is NULL");
    bad = k.t; bad.shape[3] = 7;
    EXPECT_EINVAL(pa_sdpa(&q.t, &bad, &v.t, &out.t, NULL), "k.shape[3]");
    bad = q.t; bad.shape[1] = 3;
    bad.strides[0] = 3 * 6 * 8;
    EXPECT_EINVAL(pa_sdpa(&bad, &k.t, &v.t, &out.t, NULL), "out.shape[1]");
    bad = v.t; bad.capacity -= 1;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &bad, &out.t, NULL), "capacity");
    bad = out.t; bad.shape[2] = -1;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &bad, NULL), ">= 0");
    bad = q.t; bad.dtype = PA_BOOL;
    EXPECT_EINVAL(pa_sdpa(&bad, &k.t, &v.t, &out.t, NULL), "q has dtype 1 (PA_BOOL), expected PA_F32, PA_F16 or PA_BF16");
    bad = out.t; bad.dtype = PA_F16;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &bad, NULL), "out has dtype 2 (PA_F16), expected PA_F32");
    bad = v.t; bad.dtype = 4;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &bad, &out.t, NULL), "v has dtype 4 (not an enum pa_dtype value)");
    bad = q.t; bad.dtype = PA_BF16; bad.data = (char *)q.t.data + 1;
    EXPECT_EINVAL(pa_sdpa(&bad, &k.t, &v.t, &out.t, NULL), "not aligned to its 2-byte elements");
    bad = q.t; bad.strides[3] = 2; bad.capacity *= 2;
    EXPECT_EINVAL(pa_sdpa(&bad, &k.t, &v.t, &out.t, NULL), "strides[3]");
    bad = q.t; bad.shape[0] = 1LL << 40; bad.shape[1] = 1LL << 40;
    EXPECT_EINVAL(pa_sdpa(&bad, &k.t, &v.t, &out.t, NULL), "64 bits");
    bad = q.t; bad.data = NULL;
    EXPECT_EINVAL(pa_sdpa(&bad, &k.t, &v.t, &out.t, NULL), "q.data");

    buf k3 = make(2, 3, 5, 8, 0, 1), v3 = make(2, 3, 5, 3, 0, 1);
    EXPECT_EINVAL(pa_sdpa(&q.t, &k3.t, &v3.t, &out.t, NULL), "multiple");

    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    o.causal = 3;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), "causal");
    o.causal = 0;
    o.scale = NAN;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), "scale");
    o.scale = 0.0f;
    o.window = 2;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), "window");
    o.window = 0;
    unsigned char keep[2 * 4 * 6 * 5];
    memset(keep, 1, sizeof keep);
    pa_tensor mask = { keep, PA_BOOL, 0, { 2, 3, 6, 5 }, { 90, 30, 5, 1 }, 240 };
    o.mask = &mask;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), "mask.shape[1]");
    mask.shape[1] = 4; mask.shape[3] = 6;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), "mask.shape[3]");
    o.mask = NULL;
    o.key_padding = &mask;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), "key_padding.shape[3]");
    o.key_padding = NULL;
    buf w = make(2, 4, 6, 4, 0, 0);
    o.weights = &w.t;
    EXPECT_EINVAL(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), "weights.shape[3]");
    CHECK(guards_intact(&out) && ((float *)out.t.data)[0] == SENTINEL, "failed calls wrote output");
    CHECK(pa_set_max_isa(7) == PA_EINVAL, "pa_set_max_isa(7) refused");
    CHECK(pa_set_max_isa(-1) == PA_EINVAL, "pa_set_max_isa(-1) refused");
    free(q.base); free(k.base); free(v.base); free(out.base); free(k3.base); free(v3.base);
    free(w.base);
}

static void test_dense(void)
{
    buf q = make(2, 4, 7, 5, 0, 1), k = make(2, 2, 9, 5, 0, 1), v = make(2, 2, 9, 3, 0, 1);
    buf out = make(2, 4, 7, 3, 0, 0);
    pa_sdpa_options o = { .causal = PA_CAUSAL_BOTTOM_RIGHT, .scale = 0.3f };
    double ref[2 * 4 * 7 * 3];
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref, NULL);
    int rc = pa_sdpa_dense(q.t.data, k.t.data, v.t.data, out.t.data, 2, 4, 2, 7, 9, 5, 3, 0.3f,
                           PA_CAUSAL_BOTTOM_RIGHT);
    CHECK(rc == PA_OK && rel_error(&out.t, ref) < 1e-5, "pa_sdpa_dense: %s", pa_last_error());
    CHECK(guards_intact(&out), "pa_sdpa_dense wrote outside out");
    CHECK(pa_sdpa_dense(q.t.data, k.t.data, v.t.data, out.t.data, 2, 4, 3, 7, 9, 5, 3, 0.0f, 0) == PA_EINVAL,
          "pa_sdpa_dense: heads not a multiple refused");
    CHECK(pa_sdpa_dense(q.t.data, k.t.data, v.t.data, out.t.data, -1, 4, 2, 7, 9, 5, 3, 0.0f, 0) == PA_EINVAL
          && strstr(pa_last_error(), ">= 0"), "pa_sdpa_dense: negative size refused");
    free(q.base); free(k.base); free(v.base); free(out.base);
}

static void test_linear(void)
{
    /* x (2, 3, 5, 7) with padded rows, w (1, 1, 4, 7), bias (1, 1, 1, 4). */
    buf x = make(2, 3, 5, 9, 0, 1), w = make(1, 1, 4, 7, 0, 1), bias = make(1, 1, 1, 4, 0, 1);
    buf y = make(2, 3, 5, 4, 0, 0);
    x.t.shape[3] = 7; /* rows of 9 floats, 7 used: a strided view */
    double ref[2 * 3 * 5 * 4];
    ref_linear(&x.t, &w.t, &bias.t, ref);
    int rc = pa_linear(&x.t, &w.t, &bias.t, &y.t);
    CHECK(rc == PA_OK, "pa_linear: %s", pa_last_error());
    CHECK(rel_error(&y.t, ref) < 1e-5, "pa_linear relative error %g", rel_error(&y.t, ref));
    CHECK(guards_intact(&y), "pa_linear wrote outside y");
    ref_linear(&x.t, &w.t, NULL, ref);
    rc = pa_linear(&x.t, &w.t, NULL, &y.t);
    CHECK(rc == PA_OK && rel_error(&y.t, ref) < 1e-5, "pa_linear without bias");
    y.t.shape[3] = 3;
    rc = pa_linear(&x.t, &w.t, NULL, &y.t);
    CHECK(rc == PA_EINVAL && strstr(pa_last_error(), "y has shape"), "pa_linear bad y: %s", pa_last_error());
    free(x.base); free(w.base); free(bias.base); free(y.base);

    if (quick_tests())
        return;
    /* Large enough for the pool: columns split over 2 threads (130 >= 64 * 2),
     * rows over 3. */
    buf bx = make(1, 1, 301, 64, 0, 1), bw = make(1, 1, 130, 64, 0, 1), bb = make(1, 1, 1, 130, 0, 1);
    buf by = make(1, 1, 301, 130, 0, 0);
    double *bref = malloc(sizeof(double) * 301 * 130);
    ref_linear(&bx.t, &bw.t, &bb.t, bref);
    for (int threads = 1; threads <= 3; threads++) {
        pa_set_num_threads(threads);
        rc = pa_linear(&bx.t, &bw.t, &bb.t, &by.t);
        CHECK(rc == PA_OK && rel_error(&by.t, bref) < 1e-5 && guards_intact(&by),
              "pa_linear on %d threads", threads);
    }
    pa_set_num_threads(0);
    free(bref); free(bx.base); free(bw.base); free(bb.base); free(by.base);
}

/* panattn owns the threading: OpenBLAS runs one thread per call, and a
 * BLAS that cannot tell reports 0. */
static void test_blas_threads(void)
{
    int expected = strncmp(pa_blas_info(), "OpenBLAS", 8) == 0 ? 1 : 0;
    CHECK(pa_blas_threads() == expected, "pa_blas_threads() = %d with %s", pa_blas_threads(),
          pa_blas_info());
}

int main(void)
{
    select_isa();
    test_random_shapes();
    test_half_inputs();
    test_thread_counts();
    test_fully_masked_rows_are_zero();
    test_chunk_merge_keeps_nan();
    test_huge_logits();
    test_empty_sizes();
    test_caller_workspace();
    test_bad_arguments();
    test_linear();
    test_dense();
    test_blas_threads();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
