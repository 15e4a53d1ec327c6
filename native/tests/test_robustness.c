/*
 * Robustness of the C API at the ISA level PANATTN_MAX_ISA selects (CTest
 * runs every level): the header's rules for NaN, infinities and huge
 * logits against the float64 reference, arguments that must be refused
 * without writing anything (the _buffers twins: test_buffers.c).
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "panattn.h"
#include "reference.h"
#include "test_support.h"

static float *F(const pa_tensor *t) { return (float *)t->data; }

typedef struct problem {
    pa_tensor q, k, v, out, w, mask;
    pa_sdpa_options o;
} problem;

static void make_problem(problem *p, long long Lq, long long Lk, long long Dk, long long Dv, int causal)
{
    memset(p, 0, sizeof *p);
    p->q = ts_tensor(1, 2, Lq, Dk, 1);
    p->k = ts_tensor(1, 2, Lk, Dk, 1);
    p->v = ts_tensor(1, 2, Lk, Dv, 1);
    p->out = ts_tensor(1, 2, Lq, Dv, 0);
    p->w = ts_tensor(1, 2, Lq, Lk, 0);
    p->o.causal = causal;
    p->o.weights = &p->w;
}

static void add_mask(problem *p, int dtype)
{
    long long Lq = p->q.shape[2], Lk = p->k.shape[2];
    pa_tensor m = { NULL, dtype, 0, { 1, 1, Lq, Lk }, { 0, 0, Lk, 1 }, Lq * Lk };
    if (dtype == PA_BOOL) {
        m.data = malloc((size_t)(Lq * Lk));
        memset(m.data, 1, (size_t)(Lq * Lk));
    } else {
        m.data = calloc((size_t)(Lq * Lk), sizeof(float));
    }
    p->mask = m;
    p->o.mask = &p->mask;
}

static void release(problem *p)
{
    free(p->q.data); free(p->k.data); free(p->v.data); free(p->out.data); free(p->w.data);
    free(p->mask.data);
}

/* got (contiguous) against want: the same NaNs and infinities, and finite
 * values within 1e-5 of the largest finite |want|. */
static int agrees(const float *got, const double *want, long long n, const char *what)
{
    double scale = 1e-30;
    for (long long i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (long long i = 0; i < n; i++) {
        int ok = isnan(want[i]) ? isnan(got[i])
               : isinf(want[i]) ? got[i] == want[i]
               : isfinite(got[i]) && fabs(got[i] - want[i]) <= 1e-5 * scale;
        if (!ok) {
            CHECK(0, "%s: element %lld is %g, expected %g", what, i, (double)got[i], want[i]);
            return 0;
        }
    }
    CHECK(1, "%s", what);
    return 1;
}

/* Runs pa_sdpa and compares output and weights with the reference. */
static void run(problem *p, const char *what)
{
    long long nout = ts_numel(&p->out), nw = ts_numel(&p->w);
    double *ref_out = malloc(sizeof(double) * (size_t)(nout + 1));
    double *ref_w = malloc(sizeof(double) * (size_t)(nw + 1));
    ref_sdpa(&p->q, &p->k, &p->v, &p->o, ref_out, ref_w);
    int rc = pa_sdpa(&p->q, &p->k, &p->v, &p->out, &p->o);
    CHECK(rc == PA_OK, "%s: status %s: %s", what, pa_status_name(rc), pa_last_error());
    char name[200];
    snprintf(name, sizeof name, "%s (causal %d): output", what, p->o.causal);
    agrees(F(&p->out), ref_out, nout, name);
    snprintf(name, sizeof name, "%s (causal %d): weights", what, p->o.causal);
    agrees(F(&p->w), ref_w, nw, name);
    free(ref_out);
    free(ref_w);
}

/* Row i of head 0 of a (1, 2, L, D) tensor. */
static float *row(const pa_tensor *t, long long i) { return F(t) + i * t->shape[3]; }

static void test_nan_in_q(void)
{
    for (int causal = 0; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++) {
        problem p; make_problem(&p, 19, 23, 5, 3, causal);
        row(&p.q, 3)[2] = NAN;
        run(&p, "NaN in q row 3");
        CHECK(isnan(row(&p.out, 3)[0]) && isfinite(row(&p.out, 4)[0]),
              "NaN in q reaches its own row only");
        release(&p);
    }
}

static void test_nan_in_k_hidden_by_keep_mask(void)
{
    problem p; make_problem(&p, 17, 17, 9, 4, PA_CAUSAL_NONE);
    add_mask(&p, PA_BOOL);
    for (long long i = 0; i < 17; i += 2)
        ((unsigned char *)p.mask.data)[i * 17 + 5] = 0;
    row(&p.k, 5)[0] = NAN;
    run(&p, "NaN in k key 5, hidden from even rows");
    CHECK(isfinite(row(&p.out, 0)[0]) && isnan(row(&p.out, 1)[0]),
          "a hidden NaN key leaves the row finite, a seen one makes it NaN");
    release(&p);

    /* Hidden by the causal rule instead: only the last rows see key 16. */
    make_problem(&p, 17, 17, 9, 4, PA_CAUSAL_TOP_LEFT);
    row(&p.k, 16)[3] = INFINITY;
    run(&p, "Inf in k key 16 under top-left causal");
    CHECK(isfinite(row(&p.out, 15)[0]), "a causally hidden Inf key leaves the row finite");
    release(&p);
}

static void test_infinite_and_nan_scores(void)
{
    for (int causal = 0; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++) {
        problem p; make_problem(&p, 21, 21, 3, 5, causal);
        add_mask(&p, PA_F32);
        float *m = F(&p.mask);
        for (long long i = 0; i < 21 * 21; i++)
            m[i] = ts_rand();
        m[2 * 21 + 0] = INFINITY;                 /* row 2: +Inf score -> NaN row */
        for (long long j = 0; j < 21; j++)
            m[6 * 21 + j] = -INFINITY;            /* row 6: fully masked -> zeros */
        for (long long j = 1; j < 21; j++)
            m[7 * 21 + j] = -INFINITY;            /* row 7: only key 0 */
        m[8 * 21 + 0] = NAN;                      /* row 8: NaN score -> NaN row */
        m[9 * 21 + 20] = NAN;                     /* row 9: NaN beyond top-left limit */
        run(&p, "additive mask with +Inf, -Inf and NaN");
        CHECK(isnan(row(&p.out, 2)[0]) && isnan(row(&p.out, 8)[4]), "+Inf and NaN rows are NaN");
        CHECK(row(&p.out, 6)[0] == 0.0f && row(&p.w, 6)[0] == 0.0f, "a fully masked row is zeros");
        CHECK(row(&p.w, 7)[0] == 1.0f && row(&p.out, 7)[1] == row(&p.v, 0)[1],
              "a row keeping one key copies its value row");
        CHECK(causal == PA_CAUSAL_NONE ? isnan(row(&p.out, 9)[0]) : isfinite(row(&p.out, 9)[0]),
              "a NaN score counts only when the causal rule shows its key");
        release(&p);
    }
}

static void test_huge_logits(void)
{
    const float big[] = { 1e30f, -1e30f, 3e38f, -3e38f, FLT_MAX, -FLT_MAX };
    problem p; make_problem(&p, 13, 37, 8, 6, PA_CAUSAL_NONE);
    add_mask(&p, PA_F32);
    for (long long i = 0; i < 13 * 37; i++)
        F(&p.mask)[i] = big[(i * 7) % 6] * (1.0f - 0.1f * fabsf(ts_rand())); /* stays finite */
    run(&p, "additive mask of +-1e30 .. +-FLT_MAX");
    for (long long i = 0; i < 13; i++) {
        double sum = 0.0;
        for (long long j = 0; j < 37; j++)
            sum += row(&p.w, i)[j];
        CHECK(fabs(sum - 1.0) < 1e-5, "row %lld: weights sum to %g with huge logits", i, sum);
    }
    release(&p);
}

static void test_nonfinite_v(void)
{
    problem p; make_problem(&p, 15, 11, 4, 5, PA_CAUSAL_NONE);
    add_mask(&p, PA_BOOL);
    unsigned char *keep = p.mask.data;
    for (long long i = 0; i < 15; i += 3)
        keep[i * 11 + 6] = 0;                     /* rows 0, 3, 6, ... hide key 6 */
    memset(keep + 4 * 11, 0, 11);                 /* row 4 sees no key */
    row(&p.v, 6)[1] = NAN;
    row(&p.v, 2)[3] = INFINITY;
    int rc = pa_sdpa(&p.q, &p.k, &p.v, &p.out, &p.o);
    CHECK(rc == PA_OK, "status %d: %s", rc, pa_last_error());
    for (long long i = 0; i < 15; i++) {
        const float *o = row(&p.out, i);
        if (i == 4) {
            CHECK(o[0] == 0.0f && o[1] == 0.0f && o[3] == 0.0f,
                  "a row that sees no key is zeros even with NaN and Inf in V");
            continue;
        }
        CHECK(i % 3 == 0 || isnan(o[1]), "row %lld weighs key 6: column 1 is NaN", i);
        CHECK(o[3] == INFINITY, "row %lld weighs key 2: column 3 is +Inf, got %g", i, (double)o[3]);
        CHECK(isfinite(o[0]) && isfinite(o[2]) && isfinite(o[4]),
              "row %lld: columns without a non-finite V value stay finite", i);
        CHECK(isfinite(row(&p.w, i)[6]), "row %lld: weights do not see V", i);
    }
    release(&p);
}

static void test_small_and_tiled_sizes(void)
{
    const long long sizes[][4] = { { 1, 1, 1, 1 }, { 1, 7, 1, 1 }, { 7, 1, 1, 3 },
                                   { 600, 300, 4, 3 } /* 3 query tiles */ };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int causal = 0; causal <= PA_CAUSAL_BOTTOM_RIGHT; causal++) {
            problem p; make_problem(&p, sizes[s][0], sizes[s][1], sizes[s][2], sizes[s][3], causal);
            if (s == 3)
                p.o.weights = NULL;               /* the tiled path's own scratch */
            char what[80];
            snprintf(what, sizeof what, "Lq=%lld Lk=%lld Dk=%lld Dv=%lld", sizes[s][0],
                     sizes[s][1], sizes[s][2], sizes[s][3]);
            if (s == 3) {
                long long n = ts_numel(&p.out);
                double *ref = malloc(sizeof(double) * (size_t)n);
                ref_sdpa(&p.q, &p.k, &p.v, &p.o, ref, NULL);
                CHECK(pa_sdpa(&p.q, &p.k, &p.v, &p.out, &p.o) == PA_OK, "%s", pa_last_error());
                agrees(F(&p.out), ref, n, what);
                free(ref);
            } else {
                run(&p, what);
            }
            release(&p);
        }
}

/* Dv = 0: no output values, but the weights are still written. */
static void test_weights_without_values(void)
{
    problem p; make_problem(&p, 5, 6, 3, 0, PA_CAUSAL_BOTTOM_RIGHT);
    run(&p, "Dv = 0 with weights");
    CHECK(row(&p.w, 4)[0] > 0.0f, "weights written with Dv = 0");
    release(&p);
}

#define EXPECT(status, call, word)                                                  \
    do {                                                                            \
        int rc_ = (call);                                                           \
        CHECK(rc_ == (status) && strstr(pa_last_error(), word) != NULL,             \
              "%s: status %s, message '%s', expected %s naming '%s'", #call,         \
              pa_status_name(rc_), pa_last_error(), pa_status_name(status), word);  \
    } while (0)

/* Bad arguments are refused with a status naming them, and write nothing. */
static void test_refusals(void)
{
    problem p; make_problem(&p, 6, 5, 8, 3, PA_CAUSAL_NONE);
    pa_tensor bad;
    pa_sdpa_options o = p.o;
    for (long long i = 0; i < ts_numel(&p.out); i++)
        F(&p.out)[i] = 7.0f;
    for (long long i = 0; i < ts_numel(&p.w); i++)
        F(&p.w)[i] = 7.0f;

    bad = p.q; bad.data = (char *)bad.data + 2; bad.capacity -= 1;
    EXPECT(PA_EINVAL, pa_sdpa(&bad, &p.k, &p.v, &p.out, &o), "not aligned");
    bad = p.out; bad.strides[1] = 0;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &bad, &o), "share memory");
    bad = p.out; bad.strides[2] = 6; bad.strides[1] = 3 * 2; bad.capacity = 2 * 6 * 6;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &bad, &o), "share memory"); /* interleaved rows */
    problem alias; make_problem(&alias, 5, 5, 3, 3, PA_CAUSAL_NONE);
    EXPECT(PA_EINVAL, pa_sdpa(&alias.q, &alias.k, &alias.v, &alias.v, NULL), "out shares memory with v");
    float *shared = calloc(50, sizeof(float));   /* weights (1,2,5,5) and q in one buffer */
    pa_tensor q_in_shared = alias.q, w_in_shared = alias.w;
    q_in_shared.data = w_in_shared.data = shared;
    q_in_shared.capacity = w_in_shared.capacity = 50;
    alias.o.weights = &w_in_shared;
    EXPECT(PA_EINVAL, pa_sdpa(&q_in_shared, &alias.k, &alias.v, &alias.out, &alias.o),
           "weights shares memory with q");
    free(shared);
    release(&alias);

    bad = p.q; bad.strides[1] = LLONG_MAX / 2;
    EXPECT(PA_EINVAL, pa_sdpa(&bad, &p.k, &p.v, &p.out, &o), "capacity");
    bad = p.q; bad.shape[1] = 3; bad.strides[1] = LLONG_MAX / 2;
    EXPECT(PA_EINVAL, pa_sdpa(&bad, &p.k, &p.v, &p.out, &o), "64-bit offsets");
    bad = p.q; bad.capacity = -1;
    EXPECT(PA_EINVAL, pa_sdpa(&bad, &p.k, &p.v, &p.out, &o), "capacity is -1");
    bad = p.q; bad.reserved = 1;
    EXPECT(PA_EINVAL, pa_sdpa(&bad, &p.k, &p.v, &p.out, &o), "reserved");
    bad = p.q; bad.dtype = 9;
    EXPECT(PA_EINVAL, pa_sdpa(&bad, &p.k, &p.v, &p.out, &o), "dtype 9");
    bad = p.k; bad.shape[2] = 1LL << 32; bad.strides[2] = 0; bad.strides[1] = 0;
    EXPECT(PA_EUNSUPPORTED, pa_sdpa(&p.q, &bad, &p.v, &p.out, &o), "32-bit");
    bad = p.k; bad.shape[0] = 0; bad.shape[2] = 1LL << 40;
    EXPECT(PA_EUNSUPPORTED, pa_sdpa(&p.q, &bad, &p.v, &p.out, &o), "32-bit");
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, NULL, &o), "out is NULL");
    o.causal = -1;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &p.out, &o), "causal = -1");
    o.causal = 0;
    o.scale = INFINITY;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &p.out, &o), "scale");
    o.scale = 0.0f;
    add_mask(&p, PA_F32);
    o.mask = &p.mask;
    bad = p.mask; bad.dtype = 7;
    o.mask = &bad;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &p.out, &o), "PA_BOOL (keep-mask) or PA_F32");
    bad = p.mask; bad.strides[3] = 2; bad.capacity *= 2;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &p.out, &o), "mask.strides[3]");
    bad = p.mask; bad.shape[2] = 5;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &p.out, &o), "mask.shape[2]");
    bad = p.mask; bad.capacity -= 1;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &p.out, &o), "mask's shape and strides");
    o.mask = NULL;

    long long bytes = 0;
    EXPECT(PA_EINVAL, pa_sdpa_workspace_size(&p.q, &p.k, &p.v, &p.out, NULL, NULL), "bytes is NULL");
    o.weights = NULL;
    CHECK(pa_sdpa_workspace_size(&p.q, &p.k, &p.v, &p.out, &o, &bytes) == PA_OK && bytes > 0,
          "workspace size %lld", bytes);
    o.workspace_bytes = bytes;
    float *misaligned = malloc((size_t)bytes + 8);
    o.workspace = (char *)misaligned + 1;
    EXPECT(PA_EINVAL, pa_sdpa(&p.q, &p.k, &p.v, &p.out, &o), "workspace");
    /* A workspace over q's memory. q is copied to the start of a block that
     * holds the whole workspace, so the workspace overlaps q and nothing
     * else, wherever the allocator puts the other tensors. */
    size_t q_bytes = (size_t)p.q.capacity * sizeof(float);
    char *block = malloc((size_t)bytes + q_bytes);
    memcpy(block, p.q.data, q_bytes);
    pa_tensor q_in_block = p.q;
    q_in_block.data = block;
    o.workspace = block;
    EXPECT(PA_EINVAL, pa_sdpa(&q_in_block, &p.k, &p.v, &p.out, &o), "workspace shares memory with q");
    free(block);
    free(misaligned);

    int untouched = 1;
    for (long long i = 0; i < ts_numel(&p.out); i++)
        untouched &= F(&p.out)[i] == 7.0f;
    for (long long i = 0; i < ts_numel(&p.w); i++)
        untouched &= F(&p.w)[i] == 7.0f;
    CHECK(untouched, "refused calls wrote nothing");
    release(&p);
}

/* Empty tensors are legal whatever the order of their sizes and whatever
 * their strides: a zero size makes the product 0, not an overflow. */
static void test_empty_tensors(void)
{
    const long long huge = 1LL << 62;
    pa_tensor q = { NULL, PA_F32, 0, { huge, huge, 0, 4 }, { LLONG_MAX, 3, 0, 1 }, 0 };
    pa_tensor k = { NULL, PA_F32, 0, { huge, 1, 0, 4 }, { 0, 0, 0, 1 }, 0 };
    pa_tensor v = k, out = q;
    int rc = pa_sdpa(&q, &k, &v, &out, NULL);
    CHECK(rc == PA_OK, "empty tensors of huge sizes: %s", pa_last_error());
    q.shape[2] = 2; q.shape[3] = 0;                                   /* (h, h, 2, 0) */
    k.shape[0] = huge; k.shape[3] = 0; k.shape[2] = 2;
    v = k; v.shape[3] = 0;
    out = q;
    rc = pa_sdpa(&q, &k, &v, &out, NULL);
    CHECK(rc == PA_OK, "(h, h, 2, 0) is empty, not an overflow: %s", pa_last_error());

    /* Lq = 0 with a (1, 1, Lq, Lk) mask: the mask is empty too, and legal. */
    problem p;
    make_problem(&p, 0, 5, 3, 2, PA_CAUSAL_NONE);
    add_mask(&p, PA_BOOL);
    rc = pa_sdpa(&p.q, &p.k, &p.v, &p.out, &p.o);
    CHECK(rc == PA_OK, "Lq = 0 with an empty mask: %s", pa_last_error());
    release(&p);
}

static void test_names(void)
{
    CHECK(strcmp(pa_status_name(-99), "PA_UNKNOWN") == 0, "unknown status name");
    CHECK(strcmp(pa_isa_name(99), "unknown") == 0 && strcmp(pa_isa_name(-1), "unknown") == 0,
          "unknown ISA name");
    CHECK(pa_version() != NULL && pa_blas_info() != NULL && pa_last_error() != NULL, "strings");
    CHECK(pa_set_max_isa(-1) == PA_EINVAL && pa_set_max_isa(99) == PA_EINVAL, "bad ISA caps");
}

int main(void)
{
    ts_select_isa("test_robustness");
    test_nan_in_q();
    test_nan_in_k_hidden_by_keep_mask();
    test_infinite_and_nan_scores();
    test_huge_logits();
    test_nonfinite_v();
    test_small_and_tiled_sizes();
    test_weights_without_values();
    test_refusals();
    test_empty_tensors();
    test_names();
    return ts_report();
}
