/*
 * C tests of the other score rules (additive, concat-linear), the
 * positional variants (softcap, ALiBi, T5 relative bias, RoPE) against the
 * float64 references, at the ISA level PANATTN_MAX_ISA selects.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "panattn.h"
#include "reference.h"
#include "testing.h"

/* A (1, 1, 1, n) tensor of random values. */
static buf vec(long long n) { return make(1, 1, 1, n, 0, 1); }

static void check(const char *what, int rc, const buf *out, const double *ref, const buf *w,
                  const double *ref_w)
{
    CHECK(rc == PA_OK, "%s: %s", what, pa_last_error());
    double e = rel_error(&out->t, ref);
    CHECK(e < 1e-5, "%s: output relative error %.3g", what, e);
    if (w != NULL) {
        double ew = rel_error(&w->t, ref_w);
        CHECK(ew < 1e-5, "%s: weights relative error %.3g", what, ew);
        CHECK(guards_intact(w), "%s: wrote outside weights", what);
    }
    CHECK(guards_intact(out), "%s: wrote outside out", what);
}

static void test_additive(void)
{
    const long long shapes[][7] = { /* B, H, Hkv, Lq, Lk, A, Dv */
        { 1, 1, 1, 1, 1, 1, 1 }, { 2, 2, 2, 7, 9, 13, 5 }, { 1, 4, 2, 33, 17, 64, 8 }, { 2, 1, 1, 5, 129, 3, 7 },
    };
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int variant = 0; variant < 4; variant++) {
            const long long *s = shapes[c];
            buf qp = make(s[0], s[1], s[3], s[5], 0, 1), kp = make(s[0], s[2], s[4], s[5], variant % 2, 1);
            buf v = make(s[0], s[2], s[4], s[6], 0, 1), out = make(s[0], s[1], s[3], s[6], 0, 0);
            buf w = make(s[0], s[1], s[3], s[4], 0, 0), vv = vec(s[5]);
            if (variant == 3)   /* values in half precision: every rule reads them as sdpa does */
                to_half(&v, c % 2 ? PA_BF16 : PA_F16);
            unsigned char keep[129];
            for (int j = 0; j < 129; j++)
                keep[j] = j % 3 != 1;
            pa_tensor mask = { keep, PA_BOOL, 0, { 1, 1, 1, s[4] }, { 0, 0, 0, 1 }, 129 };
            pa_sdpa_options o = { .weights = &w.t };
            if (variant >= 2) {
                o.mask = &mask;
                o.causal = PA_CAUSAL_BOTTOM_RIGHT;
                o.scale = 0.7f;
            }
            const pa_tensor *vvec = variant == 1 ? NULL : &vv.t;
            ref_rule r = { REF_ADDITIVE, &qp.t, &kp.t, vvec, NULL, NULL };
            long long n_out = s[0] * s[1] * s[3] * s[6], n_w = s[0] * s[1] * s[3] * s[4];
            double *ref = malloc(sizeof(double) * (size_t)n_out), *ref_w = malloc(sizeof(double) * (size_t)n_w);
            ref_attention(&r, &v.t, &o, ref, ref_w);
            char what[96];
            snprintf(what, sizeof what, "additive shape %zu variant %d", c, variant);
            check(what, pa_additive_attention(&qp.t, &kp.t, vvec, &v.t, &out.t, &o), &out, ref, &w, ref_w);
            free(ref); free(ref_w);
            free(qp.base); free(kp.base); free(v.base); free(out.base); free(w.base); free(vv.base);
        }
}

static void test_concat(void)
{
    const long long shapes[][6] = { /* B, Lq, Dq, Dk, Lv, Dv */
        { 1, 1, 32, 32, 32, 64 }, /* the seq2seq tutorial's Attn sizes */
        { 3, 5, 7, 3, 11, 2 }, { 2, 129, 1, 4, 9, 16 },
    };
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const long long *s = shapes[c];
            buf q = make(s[0], 1, s[1], s[2], 0, 1), k = make(s[0], 1, s[1], s[3], 0, 1);
            buf wt = make(1, 1, s[4], s[2] + s[3], 0, 1), bias = vec(s[4]);
            buf v = make(s[0], 1, s[4], s[5], 0, 1), out = make(s[0], 1, s[1], s[5], 0, 0);
            buf w = make(s[0], 1, s[1], s[4], 0, 0);
            if (with_bias)
                to_half(&v, c % 2 ? PA_F16 : PA_BF16);
            pa_sdpa_options o = { .weights = &w.t };
            const pa_tensor *b = with_bias ? &bias.t : NULL;
            ref_rule r = { REF_CONCAT, &q.t, &k.t, NULL, &wt.t, b };
            double *ref = malloc(sizeof(double) * (size_t)(s[0] * s[1] * s[5]));
            double *ref_w = malloc(sizeof(double) * (size_t)(s[0] * s[1] * s[4]));
            ref_attention(&r, &v.t, &o, ref, ref_w);
            char what[96];
            snprintf(what, sizeof what, "concat shape %zu bias %d", c, with_bias);
            check(what, pa_concat_attention(&q.t, &k.t, &wt.t, b, &v.t, &out.t, &o), &out, ref, &w, ref_w);
            free(ref); free(ref_w);
            free(q.base); free(k.base); free(wt.base); free(bias.base); free(v.base); free(out.base); free(w.base);
        }
}

static void test_positional(void)
{
    const long long B = 2, H = 3, Lq = 37, Lk = 300, D = 16;
    buf q = make(B, H, Lq, D, 0, 1), k = make(B, H, Lk, D, 0, 1), v = make(B, H, Lk, D, 1, 1);
    buf out = make(B, H, Lq, D, 0, 0), w = make(B, H, Lq, Lk, 0, 0);
    for (long long i = 0; i < B * H * Lq * D; i++)
        ((float *)q.t.data)[i] *= 8.0f; /* large logits, so softcap bites */
    buf slopes = vec(H), table = make(1, 1, H, 32, 0, 1);
    for (long long h = 0; h < H; h++)
        ((float *)slopes.t.data)[h] = 0.05f * (float)(h + 1);
    for (int variant = 0; variant < 6; variant++) {
        pa_sdpa_options o = { .weights = &w.t };
        o.causal = variant % 3;                       /* none, top-left, bottom-right */
        o.softcap = variant < 3 ? 5.0f : 0.0f;
        o.alibi_slopes = variant % 2 ? &slopes.t : NULL;
        o.rel_bias = variant != 1 ? &table.t : NULL;
        o.rel_bidirectional = variant % 3 == 0;
        o.rel_max_distance = variant == 4 ? 20 : 128;
        double *ref = malloc(sizeof(double) * (size_t)(B * H * Lq * D));
        double *ref_w = malloc(sizeof(double) * (size_t)(B * H * Lq * Lk));
        ref_sdpa(&q.t, &k.t, &v.t, &o, ref, ref_w);
        char what[96];
        snprintf(what, sizeof what, "positional variant %d", variant);
        check(what, pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o), &out, ref, &w, ref_w);
        free(ref); free(ref_w);
    }
    pa_sdpa_options bad = { .softcap = -1.0f };
    CHECK(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &bad) == PA_EINVAL && strstr(pa_last_error(), "softcap"),
          "negative softcap refused");
    bad.softcap = 0.0f;
    slopes.t.shape[3] = 2;
    bad.alibi_slopes = &slopes.t;
    CHECK(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &bad) == PA_EINVAL && strstr(pa_last_error(), "alibi_slopes"),
          "ALiBi slopes of the wrong length refused: %s", pa_last_error());
    bad.alibi_slopes = NULL;
    bad.rel_bias = &table.t;
    bad.rel_max_distance = 1;
    CHECK(pa_sdpa(&q.t, &k.t, &v.t, &out.t, &bad) == PA_EINVAL && strstr(pa_last_error(), "rel_max_distance"),
          "rel_max_distance < 2 refused");
    free(q.base); free(k.base); free(v.base); free(out.base); free(w.base); free(slopes.base); free(table.base);
}

static void test_rope(void)
{
    for (int layout = PA_ROPE_HALF; layout <= PA_ROPE_INTERLEAVED; layout++)
        for (int permuted = 0; permuted < 2; permuted++) {
            buf x = make(2, 3, 17, 10, permuted, 1);
            long long n = 2 * 3 * 17 * 10;
            double *ref = malloc(sizeof(double) * (size_t)n);
            ref_rope(&x.t, 1000, 10000.0, layout, ref);
            int rc = pa_rope(&x.t, 1000, 10000.0f, layout);
            CHECK(rc == PA_OK, "rope: %s", pa_last_error());
            double e = rel_error(&x.t, ref);
            CHECK(e < 1e-5, "rope layout %d permuted %d: relative error %.3g", layout, permuted, e);
            CHECK(guards_intact(&x), "rope wrote outside x");
            free(ref);
            free(x.base);
        }
    buf odd = make(1, 1, 2, 3, 0, 1);
    CHECK(pa_rope(&odd.t, 0, 10000.0f, PA_ROPE_HALF) == PA_EINVAL && strstr(pa_last_error(), "even"),
          "odd head size refused");
    CHECK(pa_rope(&odd.t, 0, 10000.0f, 7) == PA_EINVAL, "bad layout refused");
    buf two_rows = make(1, 1, 2, 4, 0, 1), no_rows = make(2, 3, 0, 4, 0, 1);
    CHECK(pa_rope(&two_rows.t, LLONG_MAX, 10000.0f, PA_ROPE_HALF) == PA_EINVAL &&
          strstr(pa_last_error(), "past the largest"), "a position whose last row overflows is refused");
    CHECK(pa_rope(&no_rows.t, LLONG_MAX, 10000.0f, PA_ROPE_HALF) == PA_OK, "an empty x rotates nothing: %s",
          pa_last_error());
    free(two_rows.base); free(no_rows.base);
    free(odd.base);
}

static void test_bad_arguments(void)
{
    buf qp = make(1, 2, 3, 4, 0, 1), kp = make(1, 2, 5, 6, 0, 1), v = make(1, 2, 5, 2, 0, 1);
    buf out = make(1, 2, 3, 2, 0, 0);
    CHECK(pa_additive_attention(&qp.t, &kp.t, NULL, &v.t, &out.t, NULL) == PA_EINVAL
          && strstr(pa_last_error(), "kp.shape[3]"), "additive: A mismatch named: %s", pa_last_error());
    CHECK(pa_concat_attention(&qp.t, &kp.t, &v.t, NULL, &v.t, &out.t, NULL) == PA_EINVAL
          && strstr(pa_last_error(), "k.shape[2]"), "concat: one key per query: %s", pa_last_error());
    /* Half precision is for values (and sdpa's q and k): the rules' own inputs are float. */
    pa_tensor half = kp.t;
    half.dtype = PA_F16;
    CHECK(pa_additive_attention(&qp.t, &half, NULL, &v.t, &out.t, NULL) == PA_EINVAL
          && strstr(pa_last_error(), "kp has dtype 2 (PA_F16), expected PA_F32"), "additive: half kp refused: %s",
          pa_last_error());
    half = qp.t;
    half.dtype = PA_BF16;
    CHECK(pa_concat_attention(&half, &kp.t, &v.t, NULL, &v.t, &out.t, NULL) == PA_EINVAL
          && strstr(pa_last_error(), "q has dtype 3 (PA_BF16), expected PA_F32"), "concat: half q refused: %s",
          pa_last_error());
    CHECK(pa_rope(&half, 0, 10000.0f, PA_ROPE_HALF) == PA_EINVAL && strstr(pa_last_error(), "expected PA_F32"),
          "rope: half x refused: %s", pa_last_error());
    CHECK(pa_linear(&qp.t, &half, NULL, &out.t) == PA_EINVAL && strstr(pa_last_error(), "expected PA_F32"),
          "linear: half w refused: %s", pa_last_error());
    free(qp.base); free(kp.base); free(v.base); free(out.base);
}

int main(void)
{
    select_isa();
    test_additive();
    test_concat();
    test_positional();
    test_rope();
    test_bad_arguments();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
