/* AVX-512F row kernels. Built with -mavx512f; called only on CPUs that
 * have it (isa.c). The C tests also build this file against SIMDe's
 * portable AVX-512 (PANATTN_EMULATE_AVX512), so its logic is tested on
 * CPUs without AVX-512 too. */
#if defined(PANATTN_EMULATE_AVX512)
#  define SIMDE_ENABLE_NATIVE_ALIASES
#  include <simde/x86/avx512.h>
#  include "simde_avx512_extra.h"
#  define PA_AVX512_TABLE pa_kernels_avx512_emulated
typedef simde__mmask16 mask16;
#  define ROUND_NEAREST (SIMDE_MM_FROUND_TO_NEAREST_INT | SIMDE_MM_FROUND_NO_EXC)
#else
#  include <immintrin.h>
#  define PA_AVX512_TABLE pa_kernels_avx512
typedef __mmask16 mask16;
#  define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#endif
#include <math.h>
#include <string.h>

#include "internal.h"

/* e^x for x <= 0: x = n ln2 + r (Cody-Waite, |r| <= ln2 / 2), e^r by its
 * degree-6 Taylor polynomial (relative error below 2e-7), times 2^n by
 * scalef; 0 below -87.3, NaN stays NaN. Softmax only exponentiates
 * x - max <= 0. */
static inline __m512 exp_nonpos(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-87.33654f);
    mask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(lo, x);
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     ROUND_NEAREST);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.3888889e-3f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3333333e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1666667e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666667e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps((mask16)~tiny, _mm512_scalef_ps(p, fx));
}

/* Lanes of the block starting at j that lie below end. */
static inline mask16 lanes(long long j, long long end)
{
    long long left = end - j;
    return left >= 16 ? (mask16)0xFFFF : (mask16)((1u << left) - 1u);
}

/* Lanes whose keep byte is zero, reading only the valid lanes. */
static inline mask16 dropped(const unsigned char *keep, mask16 valid)
{
    unsigned bits = 0;
    for (int i = 0; i < 16; i++)
        if ((valid >> i & 1u) && keep[i] == 0)
            bits |= 1u << i;
    return (mask16)bits;
}

static float online_row(float *s, long long n, const float *add, const unsigned char *keep,
                        float *m, float *l)
{
    const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
    __m512 vmax = _mm512_set1_ps(*m);
    int nan = isnan(*m);
    for (long long j = 0; j < n; j += 16) {
        mask16 k = lanes(j, n);
        __m512 x = _mm512_maskz_loadu_ps(k, s + j);
        if (add != NULL)
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, add + j));
        if (keep != NULL)
            x = _mm512_mask_mov_ps(x, dropped(keep + j, k), neg_inf);
        if (add != NULL || keep != NULL)    /* else the scores stand as they are */
            _mm512_mask_storeu_ps(s + j, k, x);
        vmax = _mm512_mask_max_ps(vmax, k, vmax, x);
        nan |= (_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q) & k) != 0;
    }
    /* A NaN score poisons every weight of the row: it is NaN. */
    float max = nan ? NAN : _mm512_reduce_max_ps(vmax);
    if (max == -INFINITY) { /* nothing kept yet: no change */
        for (long long j = 0; j < n; j += 16)
            _mm512_mask_storeu_ps(s + j, lanes(j, n), _mm512_setzero_ps());
        return 1.0f;
    }
    __m512 vsum = _mm512_setzero_ps();
    const __m512 vmaxb = _mm512_set1_ps(max);
    for (long long j = 0; j < n; j += 16) {
        mask16 k = lanes(j, n);
        __m512 e = exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), vmaxb));
        _mm512_mask_storeu_ps(s + j, k, e);
        vsum = _mm512_mask_add_ps(vsum, k, vsum, e);
    }
    float corr = *m == -INFINITY ? 0.0f : expf(*m - max);
    *l = *l * corr + _mm512_reduce_add_ps(vsum);
    *m = max;
    return corr;
}

/* Lanes of the block starting at c that lie below end; none past it. */
static inline mask16 lanes_upto(long long c, long long end)
{
    return c >= end ? (mask16)0 : lanes(c, end);
}

/* online_row without masks for ROWS_AT_ONCE rows together: a row's steps
 * form one dependent chain (max, its reduction, exp, the sum), so rows
 * interleave to keep the vector units busy. Each row's arithmetic is
 * online_row's, in its order. Up to the shortest row's last whole vector
 * no lane is masked; past it, each row masks its own tail. */
#define ROWS_AT_ONCE 4
static void online_group(float *s, long long lds, const long long *lo, const long long *hi,
                         float *m, float *l, float *corr)
{
    float *row[ROWS_AT_ONCE], max[ROWS_AT_ONCE];
    long long n[ROWS_AT_ONCE], most = 0, whole = -1;
    __m512 vmax[ROWS_AT_ONCE], vsum[ROWS_AT_ONCE];
    mask16 nan[ROWS_AT_ONCE];
    for (int q = 0; q < ROWS_AT_ONCE; q++) {
        row[q] = s + q * lds + lo[q];
        n[q] = hi[q] > lo[q] ? hi[q] - lo[q] : 0;
        most = n[q] > most ? n[q] : most;
        whole = whole < 0 || n[q] < whole ? n[q] : whole;
        vmax[q] = _mm512_set1_ps(m[q]);
        vsum[q] = _mm512_setzero_ps();
        nan[q] = isnan(m[q]) ? (mask16)1 : (mask16)0;
    }
    whole -= whole % 16;
    long long j = 0;
    for (; j < whole; j += 16)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const __m512 x = _mm512_loadu_ps(row[q] + j);
            vmax[q] = _mm512_max_ps(vmax[q], x);
            nan[q] |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        }
    for (; j < most; j += 16)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const mask16 k = lanes_upto(j, n[q]);
            const __m512 x = _mm512_maskz_loadu_ps(k, row[q] + j);
            vmax[q] = _mm512_mask_max_ps(vmax[q], k, vmax[q], x);
            nan[q] |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);    /* lanes past the row load as 0 */
        }
    for (int q = 0; q < ROWS_AT_ONCE; q++) {
        max[q] = nan[q] ? NAN : _mm512_reduce_max_ps(vmax[q]);
        /* Nothing kept (every score -inf): -inf - inf exponentiates to
         * the zeros it needs, with no test in the loops. */
        vmax[q] = _mm512_set1_ps(max[q] == -INFINITY ? INFINITY : max[q]);
    }
    for (j = 0; j < whole; j += 16)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const __m512 e = exp_nonpos(_mm512_sub_ps(_mm512_loadu_ps(row[q] + j), vmax[q]));
            _mm512_storeu_ps(row[q] + j, e);
            vsum[q] = _mm512_add_ps(vsum[q], e);
        }
    for (; j < most; j += 16)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const mask16 k = lanes_upto(j, n[q]);
            const __m512 e = exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row[q] + j), vmax[q]));
            _mm512_mask_storeu_ps(row[q] + j, k, e);
            vsum[q] = _mm512_mask_add_ps(vsum[q], k, vsum[q], e);
        }
    for (int q = 0; q < ROWS_AT_ONCE; q++)
        corr[q] = pa_online_update(n[q], max[q], _mm512_reduce_add_ps(vsum[q]), &m[q], &l[q]);
}

static void online_rows(float *s, long long lds, long long rows, const long long *lo, const long long *hi,
                        float *m, float *l, float *corr)
{
    long long r = 0;
    for (; r + ROWS_AT_ONCE <= rows; r += ROWS_AT_ONCE)
        online_group(s + r * lds, lds, lo + r, hi + r, m + r, l + r, corr + r);
    pa_online_rows_each(online_row, s + r * lds, lds, rows - r, lo + r, hi + r, m + r, l + r, corr + r);
}

static void softmax_row(float *s, long long n, const float *add, const unsigned char *keep)
{
    float m = -INFINITY, l = 0.0f;
    online_row(s, n, add, keep, &m, &l);
    const __m512 inv = _mm512_set1_ps(l != 0.0f ? 1.0f / l : 0.0f);
    for (long long j = 0; j < n; j += 16) {
        mask16 k = lanes(j, n);
        _mm512_mask_storeu_ps(s + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), inv));
    }
}

/* tanh(x) = sign(x) * (1 - e) / (1 + e), e = exp(-2|x|) <= 1. */
static inline __m512 tanh_ps(__m512 x)
{
    __m512 ax = _mm512_abs_ps(x);
    __m512 e = exp_nonpos(_mm512_mul_ps(ax, _mm512_set1_ps(-2.0f)));
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
    mask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_sub_ps(t, negative, _mm512_setzero_ps(), t);
}

static void additive_row(float *s, long long n, const float *q, const float *k, long long ldk,
                         long long A, const float *v, float scale)
{
    for (long long j = 0; j < n; j++) {
        const float *kj = k + j * ldk;
        __m512 acc = _mm512_setzero_ps();
        for (long long a = 0; a < A; a += 16) {
            mask16 m = lanes(a, A);
            __m512 t = tanh_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(m, q + a), _mm512_maskz_loadu_ps(m, kj + a)));
            __m512 w = v != NULL ? _mm512_maskz_loadu_ps(m, v + a) : _mm512_maskz_mov_ps(m, _mm512_set1_ps(1.0f));
            acc = _mm512_fmadd_ps(w, t, acc);
        }
        s[j] = scale * _mm512_reduce_add_ps(acc);
    }
}

/* Sixteen half-precision values to floats: AVX-512F's conversion for
 * binary16; bfloat16 is the top half of a float, so zero-extend and shift. */
static inline __m512 widen16(__m256i h, int dtype)
{
    return dtype == PA_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                            : _mm512_cvtph_ps(h);
}

static void widen(float *dst, const void *src, long long n, int dtype)
{
    const unsigned short *h = src;
    long long j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(dst + j, widen16(_mm256_loadu_si256((const __m256i *)(h + j)), dtype));
    if (j < n) {                    /* the tail is read from a copy, stored through a mask */
        unsigned short tail[16] = {0};
        memcpy(tail, h + j, sizeof(unsigned short) * (size_t)(n - j));
        _mm512_mask_storeu_ps(dst + j, lanes(j, n), widen16(_mm256_loadu_si256((const __m256i *)tail), dtype));
    }
}

/* ---- decoding (decode.c) ---- */

/* Elements c .. c + 15 (those in m, the others 0) of a K or V row, by
 * dtype: half ones read 2 bytes each and widened, a short block from a
 * copy (AVX-512F has no masked 16-bit load). */
static inline __m512 load_row(const void *row, long long c, mask16 m, int dtype)
{
    if (dtype == PA_F32)
        return _mm512_maskz_loadu_ps(m, (const float *)row + c);
    const unsigned short *h = (const unsigned short *)row + c;
    if (m == (mask16)0xFFFF)
        return widen16(_mm256_loadu_si256((const __m256i *)h), dtype);
    unsigned short tail[16] = {0};
    for (int i = 0; i < 16; i++)
        if (m >> i & 1)
            tail[i] = h[i];
    return widen16(_mm256_loadu_si256((const __m256i *)tail), dtype);
}

static inline __m256 fold(__m512 a)
{
    return _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}

/* The lane sums of a, b, c, d, in lanes 0 to 3. */
static inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(fold(a), fold(b)), _mm256_hadd_ps(fold(c), fold(d)));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* The lanes of row qr times key row kr, summed over d: the key's row read
 * in order, so that the four keys of a step stream through memory one
 * after another (interleaving their vectors kept fewer lines in flight,
 * at 60% of the read speed). */
static inline __m512 dot_row(const float *qr, const void *kr, long long d, int dtype)
{
    __m512 a = _mm512_setzero_ps();
    long long c = 0;
    for (; c + 16 <= d; c += 16)    /* whole vectors; then one short block */
        a = _mm512_fmadd_ps(_mm512_loadu_ps(qr + c), load_row(kr, c, (mask16)0xFFFF, dtype), a);
    if (c < d)
        a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes(c, d), qr + c), load_row(kr, c, lanes(c, d), dtype), a);
    return a;
}

/* Four keys at a time, one query row after another: the keys' rows are
 * read from memory once and from L1 for the other rows, and one reduction
 * gives four scores. */
static void decode_scores(float *s, long long lds, const float *q, long long rows, const void *k,
                          long long ldk, int dtype, long long n, long long d, float scale)
{
    const long long stride = ldk * pa_dtype_size(dtype);
    const __m128 vscale = _mm_set1_ps(scale);
    for (long long j = 0; j < n; j += 4) {
        const int keys = n - j < 4 ? (int)(n - j) : 4;
        /* A tail's missing keys repeat its last one: computed, not stored. */
        const char *k0 = (const char *)k + j * stride;
        const char *k1 = k0 + (keys > 1 ? 1 : 0) * stride;
        const char *k2 = k0 + (keys > 2 ? 2 : keys - 1) * stride;
        const char *k3 = k0 + (keys - 1) * stride;
        for (long long r = 0; r < rows; r++) {
            const float *qr = q + r * d;
            const __m512 a0 = dot_row(qr, k0, d, dtype), a1 = dot_row(qr, k1, d, dtype);
            const __m512 a2 = dot_row(qr, k2, d, dtype), a3 = dot_row(qr, k3, d, dtype);
            float out[4];
            _mm_storeu_ps(out, _mm_mul_ps(sum4(a0, a1, a2, a3), vscale));
            for (int t = 0; t < keys; t++)
                s[r * lds + j + t] = out[t];
        }
    }
}

/* Output columns c .. c + 16 * cw - 1 of rows r .. r + rt - 1, in
 * registers across the block's keys: each V element loaded once serves rt
 * rows. rt and cw are constants where this is inlined. */
static PA_TILE_INLINE void values_tile(float *o, const float *corr, const float *p, long long ldp, long long r,
                               int rt, const char *v, long long stride, int dtype, long long n, long long c,
                               int cw, long long dv)
{
    __m512 acc[4][8];
    mask16 m[8];
    for (int x = 0; x < cw; x++)
        m[x] = lanes_upto(c + 16 * x, dv);
    for (int y = 0; y < rt; y++) {
        const __m512 f = _mm512_set1_ps(corr[r + y]);
        for (int x = 0; x < cw; x++)
            acc[y][x] = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(m[x], o + (r + y) * dv + c + 16 * x));
    }
    const int whole = c + 16 * cw <= dv;   /* then constant masks keep acc in registers */
    for (long long j = 0; j < n; j++) {
        const char *vj = v + j * stride;
        __m512 vx[8];
        if (whole)
            for (int x = 0; x < cw; x++)
                vx[x] = load_row(vj, c + 16 * x, (mask16)0xFFFF, dtype);
        else
            for (int x = 0; x < cw; x++)
                vx[x] = load_row(vj, c + 16 * x, m[x], dtype);
        for (int y = 0; y < rt; y++) {
            const __m512 pj = _mm512_set1_ps(p[(r + y) * ldp + j]);
            for (int x = 0; x < cw; x++)
                acc[y][x] = _mm512_fmadd_ps(pj, vx[x], acc[y][x]);
        }
    }
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < cw; x++)
            _mm512_mask_storeu_ps(o + (r + y) * dv + c + 16 * x, m[x], acc[y][x]);
}

/* Tiles of 16 accumulators at most: 1 row x 128 columns, 2 x 128, 3 x 64
 * or 4 x 64. */
static void decode_values(float *o, const float *corr, const float *p, long long ldp, long long rows,
                          const void *v, long long ldv, int dtype, long long n, long long dv)
{
    const long long stride = ldv * pa_dtype_size(dtype);
    for (long long r = 0; r < rows; r += 4) {
        const long long rt = rows - r < 4 ? rows - r : 4;
        const int cw = rt <= 2 ? 8 : 4;
        for (long long c = 0; c < dv; c += 16 * cw)
            switch (rt) {
            case 1: values_tile(o, corr, p, ldp, r, 1, v, stride, dtype, n, c, 8, dv); break;
            case 2: values_tile(o, corr, p, ldp, r, 2, v, stride, dtype, n, c, 8, dv); break;
            case 3: values_tile(o, corr, p, ldp, r, 3, v, stride, dtype, n, c, 4, dv); break;
            default: values_tile(o, corr, p, ldp, r, 4, v, stride, dtype, n, c, 4, dv); break;
            }
    }
}

/* ---- query tiles (attend.c) ---- */

/* Scores of rt rows for the 16 * cw keys of cw panels from key j: per
 * element of d, cw panel rows loaded once serve rt rows (rt x cw
 * accumulators). rt and cw are constants where this is inlined. */
static PA_TILE_INLINE void scores_tile(float *s, long long lds, const float *q, long long ldq, int rt,
                               const float *panel, long long d, long long j, int cw, long long end,
                               float scale)
{
    __m512 acc[6][4];
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < cw; x++)
            acc[y][x] = _mm512_setzero_ps();
    for (long long c = 0; c < d; c++) {
        __m512 kx[4];
        for (int x = 0; x < cw; x++)
            kx[x] = _mm512_loadu_ps(panel + x * d * PA_PANEL + c * PA_PANEL);
        for (int y = 0; y < rt; y++) {
            const __m512 qc = _mm512_set1_ps(q[y * ldq + c]);
            for (int x = 0; x < cw; x++)
                acc[y][x] = _mm512_fmadd_ps(qc, kx[x], acc[y][x]);
        }
    }
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int x = 0; x < cw; x++) {
        const mask16 m = lanes_upto(j + 16 * x, end);
        for (int y = 0; y < rt; y++)
            _mm512_mask_storeu_ps(s + y * lds + j + 16 * x, m, _mm512_mul_ps(acc[y][x], vscale));
    }
}

#define SCORES_TILE(RT)                                                                             \
    switch (cw) {                                                                                   \
    case 1: scores_tile(s + r * lds, lds, q + r * ldq, ldq, RT, panel, d, j, 1, end, scale); break; \
    case 2: scores_tile(s + r * lds, lds, q + r * ldq, ldq, RT, panel, d, j, 2, end, scale); break; \
    case 3: scores_tile(s + r * lds, lds, q + r * ldq, ldq, RT, panel, d, j, 3, end, scale); break; \
    default: scores_tile(s + r * lds, lds, q + r * ldq, ldq, RT, panel, d, j, 4, end, scale); break; \
    }

/* Tiles of 6 rows x 64 keys: 24 accumulators, 4 loads and 6 broadcasts
 * per 24 multiply-adds. Key chunks outside, row tiles inside, so a
 * chunk's panels (16 KB at d = 64) stay in L1 for every row tile. */
static void panel_scores(float *s, long long lds, const float *q, long long ldq, long long rows,
                         const float *panels, long long d, long long n, const long long *ends, float scale)
{
    const long long most = pa_tile_end(ends, 0, rows, n);
    for (long long j = 0; j < most; j += 4 * PA_PANEL) {
        const float *panel = panels + (j / PA_PANEL) * d * PA_PANEL;
        for (long long r = 0; r < rows; r += 6) {
            const long long rt = rows - r < 6 ? rows - r : 6;
            const long long end = pa_tile_end(ends, r, rt, n);
            if (j >= end)
                continue;
            const long long left = (end - j + PA_PANEL - 1) / PA_PANEL;
            const int cw = left < 4 ? (int)left : 4;
            switch (rt) {
            case 1: SCORES_TILE(1) break;
            case 2: SCORES_TILE(2) break;
            case 3: SCORES_TILE(3) break;
            case 4: SCORES_TILE(4) break;
            case 5: SCORES_TILE(5) break;
            default: SCORES_TILE(6) break;
            }
        }
    }
}

/* Output columns c .. c + 16 * cw - 1 of rt rows over keys [0, n), from o
 * (zeros without corr, else times corr), times scale when given: each
 * V element loaded once serves rt rows. */
static PA_TILE_INLINE void values_block_tile(float *o, long long ldo, const float *p, long long ldp, int rt,
                                     const float *v, long long ldv, long long n, long long c, int cw,
                                     long long dv, const float *corr, const float *scale)
{
    __m512 acc[6][4];
    mask16 m[4];
    for (int x = 0; x < cw; x++)
        m[x] = lanes_upto(c + 16 * x, dv);
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < cw; x++) {
            acc[y][x] = corr == NULL ? _mm512_setzero_ps()
                      : _mm512_mul_ps(_mm512_set1_ps(corr[y]), _mm512_maskz_loadu_ps(m[x], o + y * ldo + c + 16 * x));
        }
    if (c + 16 * cw <= dv) {    /* whole vectors: plain loads, no mask registers held */
        for (long long j = 0; j < n; j++) {
            __m512 vx[4];
            for (int x = 0; x < cw; x++)
                vx[x] = _mm512_loadu_ps(v + j * ldv + c + 16 * x);
            for (int y = 0; y < rt; y++) {
                const __m512 pj = _mm512_set1_ps(p[y * ldp + j]);
                for (int x = 0; x < cw; x++)
                    acc[y][x] = _mm512_fmadd_ps(pj, vx[x], acc[y][x]);
            }
        }
    } else {
        for (long long j = 0; j < n; j++) {
            __m512 vx[4];
            for (int x = 0; x < cw; x++)
                vx[x] = _mm512_maskz_loadu_ps(m[x], v + j * ldv + c + 16 * x);
            for (int y = 0; y < rt; y++) {
                const __m512 pj = _mm512_set1_ps(p[y * ldp + j]);
                for (int x = 0; x < cw; x++)
                    acc[y][x] = _mm512_fmadd_ps(pj, vx[x], acc[y][x]);
            }
        }
    }
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < cw; x++) {
            if (scale != NULL)
                acc[y][x] = _mm512_mul_ps(_mm512_set1_ps(scale[y]), acc[y][x]);
            _mm512_mask_storeu_ps(o + y * ldo + c + 16 * x, m[x], acc[y][x]);
        }
}

#define VALUES_BLOCK_TILE(RT, CW)                                                                         \
    values_block_tile(o + r * ldo, ldo, p + r * ldp, ldp, RT, v, ldv, end, c, CW, dv, tile_corr, tile_scale)
#define VALUES_TILE(RT)                                                  \
    switch (cw) {                                                        \
    case 1: VALUES_BLOCK_TILE(RT, 1); break;                             \
    case 2: VALUES_BLOCK_TILE(RT, 2); break;                             \
    case 3: VALUES_BLOCK_TILE(RT, 3); break;                             \
    default: VALUES_BLOCK_TILE(RT, 4); break;                            \
    }

/* Tiles of 6 rows x 64 columns, as the scores. A tile walks all its keys
 * with its outputs held in registers: the V rows come from L2 (a block's
 * are at most 512 x Dv floats), which keeps up with the multiply-adds,
 * and o is read and written once a block. */
static void block_values(float *o, long long ldo, const float *p, long long ldp, long long rows,
                         const float *v, long long ldv, long long dv, long long n, const long long *ends,
                         const float *corr, const float *scale)
{
    for (long long r = 0; r < rows; r += 6) {
        const long long rt = rows - r < 6 ? rows - r : 6;
        const long long end = pa_tile_end(ends, r, rt, n);
        const float *tile_corr = corr != NULL ? corr + r : NULL;
        const float *tile_scale = scale != NULL ? scale + r : NULL;
        for (long long c = 0; c < dv; c += 64) {
            const long long left = (dv - c + 15) / 16;
            const int cw = left < 4 ? (int)left : 4;
            switch (rt) {
            case 1: VALUES_TILE(1) break;
            case 2: VALUES_TILE(2) break;
            case 3: VALUES_TILE(3) break;
            case 4: VALUES_TILE(4) break;
            case 5: VALUES_TILE(5) break;
            default: VALUES_TILE(6) break;
            }
        }
    }
}

const pa_kernels PA_AVX512_TABLE = { PA_ISA_AVX512, softmax_row, online_row, additive_row, widen,
                                     decode_scores, decode_values, panel_scores, block_values,
                                     online_rows };
