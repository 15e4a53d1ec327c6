/* Internal declarations shared by libpanattn's translation units. */
#ifndef PANATTN_INTERNAL_H
#define PANATTN_INTERNAL_H

#include <math.h>
#include <stddef.h>

#include "panattn.h"

#if defined(_MSC_VER)
#  define PA_THREAD_LOCAL __declspec(thread)
#else
#  define PA_THREAD_LOCAL _Thread_local
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define PA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define PA_PRINTF(f, a)
#endif

/* For the micro-kernels' tile functions: inlined at each call, their
 * tile sizes become constants and their accumulators registers. */
#if defined(__GNUC__) || defined(__clang__)
#  define PA_TILE_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#  define PA_TILE_INLINE __forceinline
#else
#  define PA_TILE_INLINE inline
#endif

/* Records a failure message for pa_last_error() and returns status. */
int pa_fail(int status, const char *fmt, ...) PA_PRINTF(2, 3);

/*
 * Row kernels, one table per ISA level.
 *
 * softmax_row turns raw scores s[0..n) into attention weights in place:
 * each entry gets s[j] + add[j] (add may be NULL) and is dropped when keep
 * is non-NULL and keep[j] == 0; the kept entries are softmax-normalised
 * (max-subtracted), dropped ones become 0, and a row whose kept entries are
 * all -INFINITY (or that keeps none) becomes all zeros. Otherwise a NaN or
 * +INFINITY among the kept entries makes every entry NaN, identically at
 * every ISA level (online_row likewise: the running max becomes NaN).
 */
typedef struct pa_kernels {
    int isa;
    void (*softmax_row)(float *s, long long n, const float *add, const unsigned char *keep);
    /* One block of an online softmax (flash attention): applies add/keep
     * as softmax_row does, raises the running max *m, writes
     * p[j] = exp(x[j] - *m) into s (0 where dropped), adds them to the
     * running sum *l (after rescaling it), and returns exp(old max - new
     * max): the factor for sums and outputs accumulated so far. A block
     * with nothing kept changes nothing and returns 1. */
    float (*online_row)(float *s, long long n, const float *add, const unsigned char *keep,
                        float *m, float *l);
    /* Additive scores: s[j] = scale * sum_a v[a] * tanh(q[a] + k[j * ldk + a])
     * for j in [0, n), a in [0, A); v NULL means all ones. */
    void (*additive_row)(float *s, long long n, const float *q, const float *k, long long ldk,
                         long long A, const float *v, float scale);
    /* Half-precision storage widened to float, exactly: dst[j] = src[j]
     * for j in [0, n), src holding n elements of dtype PA_F16 or PA_BF16.
     * Reads and writes nothing beyond them; a signalling NaN may come out
     * quiet, any NaN stays NaN. */
    void (*widen)(float *dst, const void *src, long long n, int dtype);
    /* The decode kernel's two passes over a block of n keys (decode.c).
     * K and V rows are read by dtype (the tensor's) from row j at element
     * j * ld of k or v; query rows, scores and outputs are f32 and dense.
     * decode_scores: s[r * lds + j] = scale * (q_r . k_j), q_r the d floats
     * at q + r * d, for r < rows and j < n. */
    void (*decode_scores)(float *s, long long lds, const float *q, long long rows, const void *k,
                          long long ldk, int dtype, long long n, long long d, float scale);
    /* decode_values: o_r = corr[r] * o_r + sum_j p[r * ldp + j] * v_j for
     * r < rows and j < n, o_r the dv floats at o + r * dv. */
    void (*decode_values)(float *o, const float *corr, const float *p, long long ldp, long long rows,
                          const void *v, long long ldv, int dtype, long long n, long long dv);
    /* The query tiles' two products (attend.c), register-blocked.
     * panel_scores: s[r * lds + j] = scale * (q_r . k_j) for r < rows and
     * j < end_r, q_r the d floats at q + r * ldq, k_j read from keys
     * packed as panels (PA_PANEL below). end_r is ends[r], or n for every
     * row when ends is NULL, each at most n; entries of row r from end_r
     * up to n may be written too (with finite or NaN values), none past n. */
    void (*panel_scores)(float *s, long long lds, const float *q, long long ldq, long long rows,
                         const float *panels, long long d, long long n, const long long *ends, float scale);
    /* block_values: o_r = scale_r * (corr_r * o_r + sum_j p[r * ldp + j] * v_j)
     * over j < end_r (ends and n as above), o_r the dv floats at o + r * ldo,
     * v_j the dv floats at v + j * ldv; corr NULL: o_r starts at zero and is
     * not read (a first block), scale NULL: 1. Every row is written, those
     * with no key too. p[r * ldp + j] must be 0 from end_r up to n: a row
     * may be computed over its neighbours' longer range. */
    void (*block_values)(float *o, long long ldo, const float *p, long long ldp, long long rows,
                         const float *v, long long ldv, long long dv, long long n, const long long *ends,
                         const float *corr, const float *scale);
    /* online_row with add = keep = NULL for `rows` rows at once (their
     * chains interleave): row r's scores are s[r * lds + lo[r]] up to
     * s[r * lds + hi[r]] (none when hi[r] <= lo[r]), its running max and
     * sum m[r] and l[r], and corr[r] gets what online_row returns (1 for
     * an empty range). */
    void (*online_rows)(float *s, long long lds, long long rows, const long long *lo, const long long *hi,
                        float *m, float *l, float *corr);
} pa_kernels;

/* The end of one row of online_rows: from the block's max and sum of
 * exponentials (n keys), the factor for what came before, with *m and *l
 * updated as online_row updates them; an empty or all -inf block changes
 * nothing. */
static inline float pa_online_update(long long n, float max, float sum, float *m, float *l)
{
    if (n == 0 || max == -INFINITY)
        return 1.0f;
    const float corr = *m == -INFINITY ? 0.0f : expf(*m - max);
    *l = *l * corr + sum;
    *m = max;
    return corr;
}

/* online_rows a row at a time with an ISA's online_row: for the levels
 * that do not interleave rows, and the rows left over by those that do. */
typedef float (*pa_online_row_fn)(float *s, long long n, const float *add, const unsigned char *keep,
                                  float *m, float *l);
static inline void pa_online_rows_each(pa_online_row_fn online_row, float *s, long long lds, long long rows,
                                       const long long *lo, const long long *hi, float *m, float *l, float *corr)
{
    for (long long r = 0; r < rows; r++)
        corr[r] = hi[r] > lo[r] ? online_row(s + r * lds + lo[r], hi[r] - lo[r], NULL, NULL, m + r, l + r)
                                : 1.0f;
}

/* The largest end of rows r .. r + rt - 1 for the tile kernels (n for
 * every row without ends): how far a tile of rows computes. */
static inline long long pa_tile_end(const long long *ends, long long r, long long rt, long long n)
{
    if (ends == NULL)
        return n;
    long long end = 0;
    for (long long y = 0; y < rt; y++)
        end = ends[r + y] > end ? ends[r + y] : end;
    return end;
}

/* Keys packed for panel_scores: panels of PA_PANEL consecutive keys, each
 * d rows of PA_PANEL floats, so key j's element c is at
 * panels[(j / PA_PANEL) * d * PA_PANEL + c * PA_PANEL + j % PA_PANEL];
 * the last panel is padded with zeros. A micro-kernel loads a panel row
 * as one vector of PA_PANEL keys (one zmm, two ymm, four NEON registers). */
#define PA_PANEL 16

extern const pa_kernels pa_kernels_scalar;
#if defined(PANATTN_X86)
extern const pa_kernels pa_kernels_avx2;
extern const pa_kernels pa_kernels_avx512;
#endif
#if defined(PANATTN_AARCH64)
extern const pa_kernels pa_kernels_neon;
#endif
#if defined(PANATTN_EMULATE_AVX512)
extern const pa_kernels pa_kernels_avx512_emulated;
#endif
#if defined(PANATTN_EMULATE_NEON)
extern const pa_kernels pa_kernels_neon_emulated;
#endif

/* The kernel table in force (see pa_isa / pa_set_max_isa). */
const pa_kernels *pa_active_kernels(void);

/* Installs a kernel table; for the C tests, which link the objects. */
void pa_install_kernels(const pa_kernels *table);

/* The dtype argument of pa_check_tensor and pa_load_tensor that accepts
 * any floating-point storage: PA_F32, PA_F16 or PA_BF16. */
#define PA_ANY_FLOAT (-1)

/* Validates a descriptor: non-NULL, dtype (the one given, or any float
 * type for PA_ANY_FLOAT), non-negative shape and strides, every reachable
 * element below capacity, and (when unit_last) a contiguous last dimension
 * with non-overlapping rows, as cblas needs. name appears in the message. */
int pa_check_tensor(const char *fn, const char *name, const pa_tensor *t,
                    int dtype, int unit_last);

/* Number of elements of a validated tensor (0 when any size is 0). */
long long pa_numel(const pa_tensor *t);

/* Runs fn(ctx, item, thread) for item in [0, count) on the pool; thread
 * is in [0, threads), distinct among concurrent calls of one loop (for
 * per-thread scratch sized by the caller for threads). threads is the
 * count the caller planned with, read once from pa_num_threads(): a
 * pa_set_num_threads() since then changes nothing for this loop. Runs on
 * the caller alone when the pool is busy with another loop. */
void pa_parallel_for(long long count, int threads, void (*fn)(void *ctx, long long item, int thread),
                     void *ctx);

/* Copies *t into *copy and validates the copy like pa_check_tensor, so a
 * descriptor changed by another thread during the call cannot slip past
 * the checks; then zeroes the strides the computation never steps along
 * (dimensions of size <= 1, every dimension of an empty tensor), so no
 * offset arithmetic can overflow on an unused stride. Entry points work on
 * such copies only. */
int pa_load_tensor(const char *fn, const char *name, const pa_tensor *t, pa_tensor *copy,
                   int dtype, int unit_last);

/* Fails unless no two elements of a loaded tensor share memory: an output
 * with a broadcast (stride 0) or interleaved dimension would be written
 * several times, a silently wrong result. */
int pa_check_distinct_elements(const char *fn, const char *name, const pa_tensor *t);

/* Fails when the bytes two loaded tensors reach (from their first to their
 * last element) overlap; an empty tensor overlaps nothing. An output must
 * not share memory with an input or another output. */
int pa_check_disjoint(const char *fn, const char *name, const pa_tensor *t,
                      const char *other_name, const pa_tensor *other);

/* Bytes of one element of a dtype (pa_check_tensor has validated it). */
int pa_dtype_size(int dtype);

/* "PA_F32", "PA_BOOL", "PA_F16", "PA_BF16", or "not an enum pa_dtype value". */
const char *pa_dtype_name(int dtype);

/* For the _buffers twins (buffers.c): copies of a descriptor, and of the
 * options and their tensors, whose data fields are the call's buffer
 * arguments (NULL stays NULL). */
typedef struct pa_option_copies {
    pa_sdpa_options o;
    pa_tensor mask, weights, key_padding, alibi_slopes, rel_bias;
} pa_option_copies;
const pa_tensor *pa_with_data(const pa_tensor *t, const void *data, pa_tensor *copy);
const pa_sdpa_options *pa_options_with_data(pa_option_copies *c, const pa_sdpa_options *opts,
                                            const void *mask, const void *weights,
                                            const void *key_padding, const void *alibi_slopes,
                                            const void *rel_bias);

/* The BLAS must run single-threaded: panattn owns the threading. */
void pa_blas_init(void);

#endif
