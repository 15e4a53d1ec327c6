/*
 * C tests of the keys a query row may see: two-sided windows
 * (window_extents) and per-sequence key lengths (key_lengths), against the
 * float64 reference on random data, at the ISA level PANATTN_MAX_ISA
 * selects (CTest runs every level). Also: keys outside every row's range
 * are never read, nothing is written outside the outputs, and every bad
 * option is refused by name with the outputs untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attend.h"
#include "panattn.h"
#include "reference.h"
#include "testing.h"

typedef struct shape { long long B, H, Hkv, Lq, Lk, Dk, Dv; } shape;

/* Windows as (left, right), -1 unbounded; extents past Lk included. */
static const long long WINDOWS[][2] = {
    { 0, 0 }, { 2, 3 }, { -1, 4 }, { 5, -1 }, { -1, -1 }, { 0, 1000000 }, { 1LL << 62, 1 }, { 7, 0 },
};
#define N_WINDOWS (sizeof WINDOWS / sizeof WINDOWS[0])

/* Some rows of length 0 and Lk, the others random in [0, Lk]. */
static void random_lengths(long long *lengths, long long B, long long Lk, int variant)
{
    for (long long b = 0; b < B; b++) {
        long long r = (long long)((frand() + 1.0f) * 0.5f * (float)(Lk + 1));
        lengths[b] = (b + variant) % 4 == 0 ? 0 : (b + variant) % 4 == 1 ? Lk : r > Lk ? Lk : r;
    }
}

typedef struct extras {
    int causal, with_weights, bhld, window;     /* window: index into WINDOWS, or -1 */
    int lengths;                                /* key lengths given */
    int mask;                                   /* a (B, 1, Lq, Lk) keep-mask */
    int alibi;                                  /* ALiBi slopes */
} extras;

/* One call of pa_sdpa against the reference: output, weights, guards and
 * unchanged inputs. */
static void check_case(const shape *s, const extras *x, int variant)
{
    buf q = make(s->B, s->H, s->Lq, s->Dk, x->bhld, 1);
    buf k = make(s->B, s->Hkv, s->Lk, s->Dk, x->bhld, 1);
    buf v = make(s->B, s->Hkv, s->Lk, s->Dv, x->bhld, 1);
    buf out = make(s->B, s->H, s->Lq, s->Dv, x->bhld, 0);
    buf w = make(s->B, s->H, s->Lq, s->Lk, 0, 0);
    buf slopes = make(1, 1, 1, s->H, 0, 1);
    long long *lengths = malloc(sizeof(long long) * (size_t)(s->B + 1));
    long long *lengths_before = malloc(sizeof(long long) * (size_t)(s->B + 1));
    const long long nm = s->B * s->Lq * s->Lk;
    unsigned char *keep = malloc((size_t)(nm + 1));
    for (long long i = 0; i < nm; i++)
        keep[i] = frand() > -0.6f;
    pa_tensor mask = { keep, PA_BOOL, 0, { s->B, 1, s->Lq, s->Lk }, { s->Lq * s->Lk, 0, s->Lk, 1 }, nm };
    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    o.causal = x->causal;
    if (x->window >= 0) {
        o.window_extents = 1;
        o.window_left = WINDOWS[x->window][0];
        o.window_right = WINDOWS[x->window][1];
    }
    if (x->lengths) {
        random_lengths(lengths, s->B, s->Lk, variant);
        memcpy(lengths_before, lengths, sizeof(long long) * (size_t)s->B);
        o.key_lengths = lengths;
        o.key_lengths_count = s->B;
    }
    if (x->with_weights)
        o.weights = &w.t;
    if (x->mask)
        o.mask = &mask;
    if (x->alibi)
        o.alibi_slopes = &slopes.t;
    const long long nq = s->B * s->H * s->Lq * s->Dk, nk = s->B * s->Hkv * s->Lk * s->Dk;
    const long long nv = s->B * s->Hkv * s->Lk * s->Dv;
    float *inputs = malloc(sizeof(float) * (size_t)(nq + nk + nv + 1));
    memcpy(inputs, q.t.data, sizeof(float) * (size_t)nq);
    memcpy(inputs + nq, k.t.data, sizeof(float) * (size_t)nk);
    memcpy(inputs + nq + nk, v.t.data, sizeof(float) * (size_t)nv);

    const long long nout = s->B * s->H * s->Lq * s->Dv, nw = s->B * s->H * s->Lq * s->Lk;
    double *ref_out = malloc(sizeof(double) * (size_t)(nout + 1));
    double *ref_w = malloc(sizeof(double) * (size_t)(nw + 1));
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref_out, ref_w);
    int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);

    char what[240];
    snprintf(what, sizeof what, "B=%lld H=%lld Hkv=%lld Lq=%lld Lk=%lld Dk=%lld Dv=%lld causal=%d window=(%lld, "
             "%lld) lengths=%d mask=%d alibi=%d weights=%d bhld=%d", s->B, s->H, s->Hkv, s->Lq, s->Lk, s->Dk,
             s->Dv, x->causal, x->window >= 0 ? o.window_left : -2, x->window >= 0 ? o.window_right : -2,
             x->lengths, x->mask, x->alibi, x->with_weights, x->bhld);
    CHECK(rc == PA_OK, "%s: status %s: %s", what, pa_status_name(rc), pa_last_error());
    double e = rel_error(&out.t, ref_out);
    CHECK(e < 1e-5, "%s: output relative error %.3g", what, e);
    if (x->with_weights) {
        double ew = rel_error(&w.t, ref_w);
        CHECK(ew < 1e-5, "%s: weights relative error %.3g", what, ew);
    }
    CHECK(guards_intact(&out) && guards_intact(&w), "%s: wrote outside the outputs", what);
    CHECK(memcmp(inputs, q.t.data, sizeof(float) * (size_t)nq) == 0
          && memcmp(inputs + nq, k.t.data, sizeof(float) * (size_t)nk) == 0
          && memcmp(inputs + nq + nk, v.t.data, sizeof(float) * (size_t)nv) == 0
          && guards_intact(&q) && guards_intact(&k) && guards_intact(&v), "%s: changed an input", what);
    CHECK(!x->lengths || memcmp(lengths, lengths_before, sizeof(long long) * (size_t)s->B) == 0,
          "%s: changed the key lengths", what);
    free(inputs); free(ref_out); free(ref_w); free(lengths); free(lengths_before); free(keep);
    free(q.base); free(k.base); free(v.base); free(out.base); free(w.base); free(slopes.base);
}

static void test_random_shapes(void)
{
    const shape shapes[] = {
        { 1, 1, 1, 1, 1, 1, 1 },
        { 3, 2, 1, 7, 7, 3, 5 },         /* grouped heads */
        { 2, 3, 3, 5, 13, 4, 3 },        /* Lq < Lk */
        { 2, 2, 2, 13, 5, 4, 3 },        /* Lq > Lk */
        { 1, 2, 1, 129, 100, 16, 9 },    /* several query tiles */
        { 2, 4, 2, 1, 1500, 16, 8 },     /* decoding: grouped heads, keys split over threads */
        { 2, 1, 1, 70, 1100, 8, 8 },     /* several key blocks */
    };
    int variant = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int causal = PA_CAUSAL_NONE; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++)
            if (!quick_tests() || shapes[i].Lq * shapes[i].Lk <= 20000)
            for (int window = -1; window < (int)N_WINDOWS; window++)
                for (int lengths = 0; lengths < 2; lengths++) {
                    if (window < 0 && !lengths)
                        continue;
                    variant++;
                    extras x = { causal, variant % 2, variant % 3 == 0, window, lengths, variant % 5 == 1,
                                 variant % 7 == 2 };
                    check_case(&shapes[i], &x, variant);
                }
}

/* The one-sided window w is the extents (w - 1, 0) and (w - 1, -1) with
 * its causal rule: the same keys, so the same bits. */
static void test_one_sided_window_is_a_special_case(void)
{
    const long long B = 2, H = 2, Lq = 70, Lk = 90, D = 8;
    buf q = make(B, H, Lq, D, 0, 1), k = make(B, H, Lk, D, 0, 1), v = make(B, H, Lk, D, 0, 1);
    buf a = make(B, H, Lq, D, 0, 0), b = make(B, H, Lq, D, 0, 0);
    for (int causal = PA_CAUSAL_TOP_LEFT; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++)
        for (long long win = 1; win <= 100; win += 33)
            for (long long right = -1; right <= 0; right++) {
                pa_sdpa_options one = { .causal = causal, .window = win };
                pa_sdpa_options two = { .causal = causal, .window_extents = 1, .window_left = win - 1,
                                        .window_right = right };
                int rc = pa_sdpa(&q.t, &k.t, &v.t, &a.t, &one);
                rc = rc != PA_OK ? rc : pa_sdpa(&q.t, &k.t, &v.t, &b.t, &two);
                CHECK(rc == PA_OK && memcmp(a.t.data, b.t.data, sizeof(float) * (size_t)(B * H * Lq * D)) == 0,
                      "causal %d: window %lld differs from extents (%lld, %lld): %s", causal, win, win - 1,
                      right, pa_last_error());
            }
    free(q.base); free(k.base); free(v.base); free(a.base); free(b.base);
}

/* Sets every element of keys [from, Lk) of batch row b to NaN. */
static void poison(buf *t, long long b, long long from)
{
    float *d = t->t.data;
    for (long long h = 0; h < t->t.shape[1]; h++)
        for (long long j = from; j < t->t.shape[2]; j++)
            for (long long x = 0; x < t->t.shape[3]; x++)
                d[b * t->t.strides[0] + h * t->t.strides[1] + j * t->t.strides[2] + x] = NAN;
}

/* Keys beyond a row's length, and keys outside every window of a query
 * tile, are skipped, not masked: NaN there (in K and V, which a masked key
 * would still multiply by its weight 0) changes nothing. */
static void test_hidden_keys_are_never_read(void)
{
    const shape shapes[] = { { 3, 2, 2, 9, 40, 8, 5 }, { 3, 4, 2, 1, 2100, 16, 4 }, { 3, 2, 1, 140, 700, 8, 8 } };
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int with_weights = 0; with_weights < 2; with_weights++) {
            const shape *s = &shapes[c];
            buf q = make(s->B, s->H, s->Lq, s->Dk, 0, 1), k = make(s->B, s->Hkv, s->Lk, s->Dk, 0, 1);
            buf v = make(s->B, s->Hkv, s->Lk, s->Dv, 0, 1);
            buf clean = make(s->B, s->H, s->Lq, s->Dv, 0, 0), dirty = make(s->B, s->H, s->Lq, s->Dv, 0, 0);
            buf w = make(s->B, s->H, s->Lq, s->Lk, 0, 0);
            long long lengths[3] = { s->Lk / 2, 0, s->Lk - 1 };
            pa_sdpa_options o = { .causal = PA_CAUSAL_BOTTOM_RIGHT, .key_lengths = lengths, .key_lengths_count = 3,
                                  .weights = with_weights ? &w.t : NULL };
            int rc = pa_sdpa(&q.t, &k.t, &v.t, &clean.t, &o);
            for (long long b = 0; b < s->B; b++) {
                poison(&k, b, lengths[b]);
                poison(&v, b, lengths[b]);
            }
            rc = rc != PA_OK ? rc : pa_sdpa(&q.t, &k.t, &v.t, &dirty.t, &o);
            const size_t bytes = sizeof(float) * (size_t)(s->B * s->H * s->Lq * s->Dv);
            CHECK(rc == PA_OK && memcmp(clean.t.data, dirty.t.data, bytes) == 0,
                  "Lq=%lld Lk=%lld weights=%d: NaN beyond the key lengths reached the output (%s)", s->Lq, s->Lk,
                  with_weights, pa_last_error());
            free(q.base); free(k.base); free(v.base); free(clean.base); free(dirty.base); free(w.base);
        }

    /* A window (2, 1) over 300 queries and keys: the tiles before the last
     * one never reach keys from 280 on. */
    const long long L = 300, D = 8, from = 280, tiles_clear = (L - 1) / PA_TILE_ROWS * PA_TILE_ROWS;
    for (int causal = PA_CAUSAL_NONE; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++)
        for (int with_weights = 0; with_weights < 2; with_weights++) {
            buf q = make(1, 1, L, D, 0, 1), k = make(1, 1, L, D, 0, 1), v = make(1, 1, L, D, 0, 1);
            buf clean = make(1, 1, L, D, 0, 0), dirty = make(1, 1, L, D, 0, 0), w = make(1, 1, L, L, 0, 0);
            pa_sdpa_options o = { .causal = causal, .window_extents = 1, .window_left = 2, .window_right = 1,
                                  .weights = with_weights ? &w.t : NULL };
            int rc = pa_sdpa(&q.t, &k.t, &v.t, &clean.t, &o);
            poison(&k, 0, from);
            poison(&v, 0, from);
            rc = rc != PA_OK ? rc : pa_sdpa(&q.t, &k.t, &v.t, &dirty.t, &o);
            CHECK(rc == PA_OK && memcmp(clean.t.data, dirty.t.data, sizeof(float) * (size_t)(tiles_clear * D)) == 0,
                  "causal %d weights %d: NaN outside every window of a tile reached it (%s)", causal, with_weights,
                  pa_last_error());
            free(q.base); free(k.base); free(v.base); free(clean.base); free(dirty.base); free(w.base);
        }
}

/* The _buffers twin reads the lengths through the options as pa_sdpa does. */
static void test_buffers_twin(void)
{
    const long long B = 3, H = 2, Lq = 4, Lk = 11, D = 5;
    buf q = make(B, H, Lq, D, 0, 1), k = make(B, H, Lk, D, 0, 1), v = make(B, H, Lk, D, 0, 1);
    buf a = make(B, H, Lq, D, 0, 0), b = make(B, H, Lq, D, 0, 0);
    long long lengths[3] = { 3, 11, 0 };
    pa_sdpa_options o = { .causal = PA_CAUSAL_BOTTOM_RIGHT, .window_extents = 1, .window_left = 1,
                          .window_right = -1, .key_lengths = lengths, .key_lengths_count = 3 };
    int rc = pa_sdpa(&q.t, &k.t, &v.t, &a.t, &o);
    pa_tensor dq = q.t, dk = k.t, dv = v.t, db = b.t;
    dq.data = dk.data = dv.data = db.data = NULL;
    rc = rc != PA_OK ? rc : pa_sdpa_buffers(&dq, &dk, &dv, &db, &o, q.t.data, k.t.data, v.t.data, b.t.data, NULL,
                                            NULL, NULL, NULL, NULL);
    CHECK(rc == PA_OK && memcmp(a.t.data, b.t.data, sizeof(float) * (size_t)(B * H * Lq * D)) == 0
          && guards_intact(&b), "pa_sdpa_buffers with key lengths and a window: %s", pa_last_error());
    free(q.base); free(k.base); free(v.base); free(a.base); free(b.base);
}

/* The other rules take the same options through the shared driver. */
static void test_additive_rule(void)
{
    const long long B = 3, H = 2, Lq = 6, Lk = 9, A = 7, Dv = 4;
    buf qp = make(B, H, Lq, A, 0, 1), kp = make(B, H, Lk, A, 0, 1), v = make(B, H, Lk, Dv, 0, 1);
    buf out = make(B, H, Lq, Dv, 0, 0), w = make(B, H, Lq, Lk, 0, 0);
    long long lengths[3] = { 0, 9, 4 };
    pa_sdpa_options o = { .window_extents = 1, .window_left = 1, .window_right = 2, .key_lengths = lengths,
                          .key_lengths_count = 3, .weights = &w.t };
    double ref[3 * 2 * 6 * 4], ref_w[3 * 2 * 6 * 9];
    ref_rule r = { REF_ADDITIVE, &qp.t, &kp.t, NULL, NULL, NULL };
    ref_attention(&r, &v.t, &o, ref, ref_w);
    int rc = pa_additive_attention(&qp.t, &kp.t, NULL, &v.t, &out.t, &o);
    CHECK(rc == PA_OK && rel_error(&out.t, ref) < 1e-5 && rel_error(&w.t, ref_w) < 1e-5
          && guards_intact(&out) && guards_intact(&w), "additive rule with a window and key lengths: %s",
          pa_last_error());
    free(qp.base); free(kp.base); free(v.base); free(out.base); free(w.base);
}

/* Each bad window or length option returns PA_EINVAL naming it; nothing is written. */
static void test_bad_options(void)
{
    buf q = make(2, 2, 3, 4, 0, 1), k = make(2, 2, 5, 4, 0, 1), v = make(2, 2, 5, 3, 0, 1);
    buf out = make(2, 2, 3, 3, 0, 0);
    long long lengths[3] = { 2, 5, 1 };
    long long storage[4];
    pa_sdpa_options o;
    int rc;
#define EXPECT_EINVAL(word)                                                                     \
    do {                                                                                        \
        rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);                                             \
        CHECK(rc == PA_EINVAL && strstr(pa_last_error(), word) != NULL,                         \
              "status %d, message '%s', expected PA_EINVAL naming '%s'", rc, pa_last_error(), word); \
        memset(&o, 0, sizeof o);                                                                \
    } while (0)

    memset(&o, 0, sizeof o);
    o.window_extents = 2;
    EXPECT_EINVAL("window_extents = 2 must be 0 or 1");
    o.window_left = 3;
    EXPECT_EINVAL("window_left = 3, window_right = 0 need window_extents = 1");
    o.window_right = -1;
    EXPECT_EINVAL("need window_extents = 1");
    o.window_extents = 1; o.window_left = -2;
    EXPECT_EINVAL("window_left = -2, window_right = 0: each must be >= 0, or -1 (unbounded)");
    o.window_extents = 1; o.window_right = -5;
    EXPECT_EINVAL("window_right = -5");
    o.window_extents = 1; o.window = 3; o.causal = PA_CAUSAL_TOP_LEFT;
    EXPECT_EINVAL("window = 3 and window_extents = 1: set one of them");
    o.key_lengths_count = 2;
    EXPECT_EINVAL("key_lengths_count = 2 without key_lengths, expected 0");
    o.key_lengths = lengths; o.key_lengths_count = 3;
    EXPECT_EINVAL("key_lengths_count = 3, expected B = 2");
    o.key_lengths = lengths; o.key_lengths_count = 0;
    EXPECT_EINVAL("key_lengths_count = 0, expected B = 2");
    lengths[1] = 6;
    o.key_lengths = lengths; o.key_lengths_count = 2;
    EXPECT_EINVAL("key_lengths[1] = 6, expected 0 to Lk = 5");
    lengths[1] = -1;
    o.key_lengths = lengths; o.key_lengths_count = 2;
    EXPECT_EINVAL("key_lengths[1] = -1");
    o.key_lengths = (const long long *)((char *)storage + 1); o.key_lengths_count = 2;
    EXPECT_EINVAL("is not aligned to 8 bytes");
    /* Lengths inside an output: writing it would change them. */
    float *d = out.t.data;
    ((long long *)(void *)d)[0] = 1;
    ((long long *)(void *)d)[1] = 1;
    o.key_lengths = (const long long *)(void *)d; o.key_lengths_count = 2;
    rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
    CHECK(rc == PA_EINVAL && strstr(pa_last_error(), "key_lengths") != NULL,
          "lengths inside out: status %d, '%s'", rc, pa_last_error());
    for (int i = 0; i < 4; i++)
        d[i] = SENTINEL;
    long long ws_bytes = 0;
    lengths[0] = 1; lengths[1] = 1;
    memset(&o, 0, sizeof o);
    o.key_lengths = lengths; o.key_lengths_count = 2;
    rc = pa_sdpa_workspace_size(&q.t, &k.t, &v.t, &out.t, &o, &ws_bytes);
    CHECK(rc == PA_OK, "workspace size with key lengths: %s", pa_last_error());
    o.workspace = lengths; o.workspace_bytes = ws_bytes;
    EXPECT_EINVAL("workspace shares memory with key_lengths");
    for (long long i = 0; i < 2 * 2 * 3 * 3; i++)
        CHECK(d[i] == SENTINEL, "a refused call wrote out[%lld] = %g", i, d[i]);
    CHECK(guards_intact(&out), "a refused call wrote outside out");
#undef EXPECT_EINVAL
    free(q.base); free(k.base); free(v.base); free(out.base);
}

int main(void)
{
    select_isa();
    test_random_shapes();
    test_one_sided_window_is_a_special_case();
    test_hidden_keys_are_never_read();
    test_buffers_twin();
    test_additive_rule();
    test_bad_options();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
