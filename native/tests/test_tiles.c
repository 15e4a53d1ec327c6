/*
 * C tests of the query tiles' micro-kernels (panel_scores, block_values)
 * at the ISA level PANATTN_MAX_ISA selects (CTest runs every level):
 * against double sums on odd sizes, every row its own end, strided rows,
 * nothing written past a row's n columns, block_values fresh, rescaled
 * and normalised; online_rows against online_row
 * row by row, bit for bit; then pa_sdpa with the keys
 * packed and, under a zero budget, unpacked (sgemm), against the float64
 * reference, causal and windowed rows trimmed inside the diagonal block,
 * the packed keys aligned inside a caller's workspace at any offset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attend.h"
#include "internal.h"
#include "panattn.h"
#include "reference.h"
#include "testing.h"

/* Keys (n rows of d floats, row stride ld) packed as panel_scores reads
 * them (PA_PANEL); the caller frees the result. */
static float *pack(const float *k, long long n, long long d, long long ld)
{
    const long long keys = (n + PA_PANEL - 1) / PA_PANEL * PA_PANEL;
    float *panels = malloc(sizeof(float) * (size_t)(keys * d > 0 ? keys * d : 1));
    for (long long j = 0; j < keys; j++)
        for (long long c = 0; c < d; c++)
            panels[(j / PA_PANEL) * d * PA_PANEL + c * PA_PANEL + j % PA_PANEL] = j < n ? k[j * ld + c] : 0.0f;
    return panels;
}

/* Row r's end: all n, or a staircase as a causal diagonal block gives,
 * some rows empty. */
static long long end_of(long long r, long long n, int staircase)
{
    if (!staircase)
        return n;
    const long long e = (r * 5 + 3) % (n + 2) - 1;
    return e < 0 ? 0 : e > n ? n : e;
}

static void test_kernels(void)
{
    const pa_kernels *kern = pa_active_kernels();
    const long long ds[] = { 1, 3, 8, 15, 16, 17, 33, 64, 80, 130 };
    const long long ns[] = { 1, 2, 7, 15, 16, 17, 31, 33, 64, 65, 100 };
    const long long rowss[] = { 1, 2, 5, 6, 7, 12, 13 };
    for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof rowss / sizeof rowss[0]; c++)
                for (int staircase = 0; staircase < 2; staircase++) {
                    const long long d = ds[a], n = ns[b], rows = rowss[c];
                    const long long ldq = d + 2, ldk = d + 1, lds = n + 3, ldo = d + 5;
                    buf q = make(1, 1, rows, ldq, 0, 1), k = make(1, 1, n, ldk, 0, 1);
                    buf s = make(1, 1, rows, lds, 0, 0), o = make(1, 1, rows, ldo, 0, 1);
                    long long *ends = malloc(sizeof(long long) * (size_t)rows);
                    for (long long r = 0; r < rows; r++)
                        ends[r] = end_of(r, n, staircase);
                    const float *Q = q.t.data, *K = k.t.data;
                    float *S = s.t.data, *O = o.t.data;
                    float *panels = pack(K, n, d, ldk);
                    kern->panel_scores(S, lds, Q, ldq, rows, panels, d, n, staircase ? ends : NULL, 0.75f);
                    double worst = 0.0;
                    int outside = 0;
                    for (long long r = 0; r < rows; r++)
                        for (long long j = 0; j < lds; j++) {
                            if (j >= n) {
                                outside |= S[r * lds + j] != SENTINEL;
                                continue;
                            }
                            if (j >= ends[r])
                                continue;   /* may hold anything */
                            double want = 0.0;
                            for (long long x = 0; x < d; x++)
                                want += (double)Q[r * ldq + x] * K[j * ldk + x];
                            want *= 0.75;
                            double e = fabs(S[r * lds + j] - want) / (1.0 + fabs(want));
                            worst = e > worst || e != e ? e : worst;
                        }
                    CHECK(worst < 1e-5 && !outside && guards_intact(&s),
                          "panel_scores d=%lld n=%lld rows=%lld staircase=%d: error %.3g, wrote outside %d", d,
                          n, rows, staircase, worst, outside || !guards_intact(&s));
                    /* The weights: row r's zero from its end on, as the driver leaves them. */
                    for (long long r = 0; r < rows; r++)
                        for (long long j = 0; j < lds; j++)
                            S[r * lds + j] = j < ends[r] ? frand() : 0.0f;
                    /* Each way in: a first block (o not read: NaN there), rescaled, normalised. */
                    double *want_o = malloc(sizeof(double) * (size_t)(rows * ldo));
                    float corr[13], scale[13];
                    for (int way = 0; way < 4; way++) {
                        const int rescale = way & 1, normalise = way >> 1;
                        for (long long r = 0; r < rows; r++) {
                            corr[r] = 0.25f + frand();
                            scale[r] = 0.5f + frand();
                            for (long long x = 0; x < d && !rescale; x++)
                                O[r * ldo + x] = NAN;
                        }
                        for (long long r = 0; r < rows; r++)
                            for (long long x = 0; x < ldo; x++) {
                                if (x >= d) {
                                    want_o[r * ldo + x] = O[r * ldo + x];   /* columns past d unchanged */
                                    continue;
                                }
                                double acc = rescale ? (double)corr[r] * O[r * ldo + x] : 0.0;
                                for (long long j = 0; j < ends[r]; j++)
                                    acc += (double)S[r * lds + j] * K[j * ldk + x];
                                want_o[r * ldo + x] = normalise ? acc * scale[r] : acc;
                            }
                        kern->block_values(O, ldo, S, lds, rows, K, ldk, d, n, staircase ? ends : NULL,
                                           rescale ? corr : NULL, normalise ? scale : NULL);
                        CHECK(rel_error(&o.t, want_o) < 1e-5 && guards_intact(&o),
                              "block_values d=%lld n=%lld rows=%lld staircase=%d rescale=%d normalise=%d: error %.3g",
                              d, n, rows, staircase, rescale, normalise, rel_error(&o.t, want_o));
                    }
                    free(want_o);
                    free(panels);
                    free(ends);
                    free(q.base); free(k.base); free(s.base); free(o.base);
                }
}

/* online_rows gives each row exactly what online_row gives it alone:
 * the weights, running max and sum, and factor, for ranges of every length
 * (empty ones too) at any offset, first blocks (max -inf) and later ones,
 * rows of -inf or a NaN; nothing outside a row's range is written. */
static void test_online_rows(void)
{
    const pa_kernels *kern = pa_active_kernels();
    const long long lds = 150;
    for (long long rows = 1; rows <= 13; rows += 3)
        for (int later = 0; later < 2; later++) {
            float *s = malloc(sizeof(float) * (size_t)(rows * lds)), *alone = malloc(sizeof(float) * (size_t)(rows * lds));
            long long lo[13], hi[13];
            float m[13], l[13], corr[13], m1[13], l1[13];
            for (long long r = 0; r < rows; r++) {
                lo[r] = (r * 7) % 19;
                hi[r] = r % 5 == 3 ? lo[r] - 1 : lo[r] + (r * 37 + 5) % 129;   /* some empty */
                for (long long j = 0; j < lds; j++)
                    s[r * lds + j] = j >= lo[r] && j < hi[r] ? 6.0f * frand() : SENTINEL;
                if (r % 6 == 4 && hi[r] > lo[r])            /* nothing kept in this block */
                    for (long long j = lo[r]; j < hi[r]; j++)
                        s[r * lds + j] = -INFINITY;
                if (r % 6 == 5 && hi[r] > lo[r])
                    s[r * lds + (lo[r] + hi[r]) / 2] = NAN;
                m[r] = m1[r] = later ? 2.0f * frand() : -INFINITY;
                l[r] = l1[r] = later ? 3.0f + frand() : 0.0f;
            }
            memcpy(alone, s, sizeof(float) * (size_t)(rows * lds));
            kern->online_rows(s, lds, rows, lo, hi, m, l, corr);
            int same = 1;
            for (long long r = 0; r < rows; r++) {
                float c1 = hi[r] > lo[r] ? kern->online_row(alone + r * lds + lo[r], hi[r] - lo[r], NULL, NULL,
                                                            &m1[r], &l1[r])
                                         : 1.0f;
                same &= memcmp(&c1, &corr[r], sizeof c1) == 0 && memcmp(&m1[r], &m[r], sizeof c1) == 0
                     && memcmp(&l1[r], &l[r], sizeof c1) == 0;
            }
            same &= memcmp(alone, s, sizeof(float) * (size_t)(rows * lds)) == 0;
            int outside = 0;
            for (long long r = 0; r < rows; r++)
                for (long long j = 0; j < lds; j++)
                    outside |= (j < lo[r] || j >= hi[r]) && s[r * lds + j] != SENTINEL;
            CHECK(same && !outside, "online_rows rows=%lld later=%d: same as online_row %d, wrote outside %d",
                  rows, later, same, outside);
            free(s);
            free(alone);
        }
}

/* ---- pa_sdpa with packed and unpacked keys ------------------------------- */

typedef struct shape { long long B, H, Hkv, Lq, Lk, Dk, Dv; } shape;

/* One call against the float64 reference; window > 0 trims each row's
 * keys from below too. */
static void check_call(const shape *s, int causal, long long window, int dtype)
{
    buf q = make(s->B, s->H, s->Lq, s->Dk, 1, 1), k = make(s->B, s->Hkv, s->Lk, s->Dk, 0, 1);
    buf v = make(s->B, s->Hkv, s->Lk, s->Dv, 0, 1), out = make(s->B, s->H, s->Lq, s->Dv, 1, 0);
    if (dtype != PA_F32)
        to_half(&k, dtype);
    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    o.causal = causal;
    o.window = window;
    const long long n = s->B * s->H * s->Lq * s->Dv;
    double *want = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    ref_sdpa(&q.t, &k.t, &v.t, &o, want, NULL);
    int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
    CHECK(rc == PA_OK && rel_error(&out.t, want) < 2e-5 && guards_intact(&out),
          "sdpa B=%lld H=%lld Hkv=%lld Lq=%lld Lk=%lld Dk=%lld Dv=%lld causal=%d window=%lld dtype=%d "
          "budget=%lld: rc %d, error %.3g", s->B, s->H, s->Hkv, s->Lq, s->Lk, s->Dk, s->Dv, causal, window,
          dtype, pa_panel_budget_bytes, rc, rel_error(&out.t, want));
    free(want);
    free(q.base); free(k.base); free(v.base); free(out.base);
}

static void test_calls(void)
{
    const shape shapes[] = {
        { 1, 1, 1, 16, 16, 64, 64 },
        { 2, 4, 2, 37, 53, 17, 9 },      /* GQA: one packing serves two heads */
        { 1, 2, 1, 130, 700, 33, 20 },   /* query tiles, key blocks, a short last panel */
        { 1, 3, 3, 200, 200, 64, 64 },   /* causal tiles of unequal work */
        { 1, 1, 1, 20, 3000, 16, 16 },   /* keys split over threads */
    };
    const long long budgets[] = { 1LL << 28, 0 };
    for (size_t b = 0; b < 2; b++) {
        pa_panel_budget_bytes = budgets[b];
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            if (quick_tests() && shapes[i].Lq * shapes[i].Lk * shapes[i].Dk > 2000000)
                continue;
            for (int causal = 0; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++)
                check_call(&shapes[i], causal, 0, PA_F32);
            check_call(&shapes[i], PA_CAUSAL_TOP_LEFT, 7, PA_F32);
            check_call(&shapes[i], PA_CAUSAL_BOTTOM_RIGHT, 40, PA_F16);
            check_call(&shapes[i], PA_CAUSAL_NONE, 0, PA_BF16);
        }
    }
    pa_panel_budget_bytes = budgets[0];
}

/* The packed keys start on a 64-byte line inside a caller's workspace of
 * exactly pa_sdpa_workspace_size bytes at any 4-byte offset, and nothing
 * past it is written. */
static void test_workspace_offsets(void)
{
    const shape s = { 1, 2, 1, 130, 700, 33, 20 };
    buf q = make(s.B, s.H, s.Lq, s.Dk, 0, 1), k = make(s.B, s.Hkv, s.Lk, s.Dk, 0, 1);
    buf v = make(s.B, s.Hkv, s.Lk, s.Dv, 0, 1), out = make(s.B, s.H, s.Lq, s.Dv, 0, 0);
    pa_sdpa_options o;
    memset(&o, 0, sizeof o);
    o.causal = PA_CAUSAL_TOP_LEFT;
    double *want = malloc(sizeof(double) * (size_t)(s.B * s.H * s.Lq * s.Dv));
    ref_sdpa(&q.t, &k.t, &v.t, &o, want, NULL);
    long long bytes = 0;
    CHECK(pa_sdpa_workspace_size(&q.t, &k.t, &v.t, &out.t, &o, &bytes) == PA_OK && bytes > 0, "workspace size");
    for (int offset = 4; offset < 64; offset += 28) {
        unsigned char *block = malloc((size_t)bytes + 128);
        memset(block, 0xA5, (size_t)bytes + 128);
        o.workspace = block + offset;
        o.workspace_bytes = bytes;
        int rc = pa_sdpa(&q.t, &k.t, &v.t, &out.t, &o);
        int intact = 1;
        for (long long i = offset + bytes; i < bytes + 128; i++)
            intact &= block[i] == 0xA5;
        CHECK(rc == PA_OK && rel_error(&out.t, want) < 2e-5 && intact,
              "workspace at offset %d: rc %d, error %.3g, past its end intact %d", offset, rc,
              rel_error(&out.t, want), intact);
        free(block);
    }
    free(want);
    free(q.base); free(k.base); free(v.base); free(out.base);
}

int main(void)
{
    select_isa();
    test_kernels();
    test_online_rows();
    test_calls();
    test_workspace_offsets();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
