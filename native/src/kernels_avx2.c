/* AVX2 + FMA + F16C row kernels. Built with -mavx2 -mfma -mf16c; called
 * only on CPUs that have all three (isa.c). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* e^x for x <= 0: x = n ln2 + r (Cody-Waite, |r| <= ln2 / 2), e^r by its
 * degree-6 Taylor polynomial (relative error below 2e-7), times 2^n built
 * in the exponent bits; 0 below -87.3, NaN stays NaN. Softmax only
 * exponentiates x - max <= 0. */
static inline __m256 exp_nonpos(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f);
    __m256 tiny = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(lo, x);
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.3888889e-3f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3333333e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1666667e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666667e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i pow2 = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(p, _mm256_castsi256_ps(pow2)));
}

/* A block of 8 lanes; a tail block is copied into it so that no load or
 * store reaches past the row. */
typedef struct block {
    float *dst;
    int count;
    float x[8];
} block;

static inline __m256 load(block *b, float *s, long long j, long long end, float pad)
{
    long long left = end - j;
    b->dst = s + j;
    b->count = left >= 8 ? 8 : (int)left;
    if (b->count == 8)
        return _mm256_loadu_ps(s + j);
    for (int i = 0; i < 8; i++)
        b->x[i] = i < b->count ? s[j + i] : pad;
    return _mm256_loadu_ps(b->x);
}

static inline void store(block *b, __m256 v)
{
    if (b->count == 8) {
        _mm256_storeu_ps(b->dst, v);
        return;
    }
    _mm256_storeu_ps(b->x, v);
    memcpy(b->dst, b->x, sizeof(float) * (size_t)b->count);
}

static inline __m256 addend(const float *add, long long j, int count)
{
    if (count == 8)
        return _mm256_loadu_ps(add + j);
    float x[8] = {0};
    memcpy(x, add + j, sizeof(float) * (size_t)count);
    return _mm256_loadu_ps(x);
}

/* All-ones lanes where the keep byte is zero. */
static inline __m256 dropped(const unsigned char *keep, int count)
{
    unsigned char bytes[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    memcpy(bytes, keep, (size_t)count);
    __m256i k32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)bytes));
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(k32, _mm256_setzero_si256()));
}

static float hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float online_row(float *s, long long n, const float *add, const unsigned char *keep,
                        float *m, float *l)
{
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    __m256 vmax = _mm256_set1_ps(*m);
    __m256 vnan = _mm256_cmp_ps(vmax, vmax, _CMP_UNORD_Q);
    block b;
    for (long long j = 0; j < n; j += 8) {
        __m256 x = load(&b, s, j, n, -INFINITY);
        if (add != NULL)
            x = _mm256_add_ps(x, addend(add, j, b.count));
        if (keep != NULL)
            x = _mm256_blendv_ps(x, neg_inf, dropped(keep + j, b.count));
        if (add != NULL || keep != NULL)    /* else the scores stand as they are */
            store(&b, x);
        vmax = _mm256_max_ps(vmax, x);
        vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    }
    /* A NaN score poisons every weight of the row: it is NaN. */
    float max = _mm256_movemask_ps(vnan) ? NAN : hmax(vmax);
    if (max == -INFINITY) { /* nothing kept yet: no change */
        memset(s, 0, sizeof(float) * (size_t)n);
        return 1.0f;
    }
    __m256 vsum = _mm256_setzero_ps();
    const __m256 vmaxb = _mm256_set1_ps(max);
    for (long long j = 0; j < n; j += 8) {
        __m256 e = exp_nonpos(_mm256_sub_ps(load(&b, s, j, n, -INFINITY), vmaxb));
        store(&b, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float corr = *m == -INFINITY ? 0.0f : expf(*m - max);
    *l = *l * corr + hsum(vsum);
    *m = max;
    return corr;
}

static void softmax_row(float *s, long long n, const float *add, const unsigned char *keep)
{
    float m = -INFINITY, l = 0.0f;
    online_row(s, n, add, keep, &m, &l);
    const __m256 inv = _mm256_set1_ps(l != 0.0f ? 1.0f / l : 0.0f);
    block b;
    for (long long j = 0; j < n; j += 8) {
        __m256 x = load(&b, s, j, n, 0.0f);
        store(&b, _mm256_mul_ps(x, inv));
    }
}

/* tanh(x) = sign(x) * (1 - e) / (1 + e), e = exp(-2|x|) <= 1. */
static inline __m256 tanh_ps(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 e = exp_nonpos(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    return _mm256_or_ps(t, _mm256_and_ps(x, sign));
}

static void additive_row(float *s, long long n, const float *q, const float *k, long long ldk,
                         long long A, const float *v, float scale)
{
    for (long long j = 0; j < n; j++) {
        const float *kj = k + j * ldk;
        __m256 acc = _mm256_setzero_ps();
        long long a = 0;
        for (; a + 8 <= A; a += 8) {
            __m256 t = tanh_ps(_mm256_add_ps(_mm256_loadu_ps(q + a), _mm256_loadu_ps(kj + a)));
            acc = v != NULL ? _mm256_fmadd_ps(_mm256_loadu_ps(v + a), t, acc) : _mm256_add_ps(acc, t);
        }
        float sum = hsum(acc);
        for (; a < A; a++)
            sum += (v != NULL ? v[a] : 1.0f) * tanhf(q[a] + kj[a]);
        s[j] = scale * sum;
    }
}

/* Eight half-precision values to floats: F16C's conversion for binary16;
 * bfloat16 is the top half of a float, so zero-extend and shift. */
static inline __m256 widen8(__m128i h, int dtype)
{
    return dtype == PA_BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
                            : _mm256_cvtph_ps(h);
}

static void widen(float *dst, const void *src, long long n, int dtype)
{
    const unsigned short *h = src;
    long long j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(dst + j, widen8(_mm_loadu_si128((const __m128i *)(h + j)), dtype));
    if (j < n) {                    /* the tail goes through copies: no access past either end */
        unsigned short tail[8] = {0};
        float out[8];
        memcpy(tail, h + j, sizeof(unsigned short) * (size_t)(n - j));
        _mm256_storeu_ps(out, widen8(_mm_loadu_si128((const __m128i *)tail), dtype));
        memcpy(dst + j, out, sizeof(float) * (size_t)(n - j));
    }
}

/* ---- decoding (decode.c) ---- */

/* Elements of a block of 8 starting at c that lie below end: 0 to 8. */
static inline int count8(long long c, long long end)
{
    return c >= end ? 0 : end - c >= 8 ? 8 : (int)(end - c);
}

static inline __m256i lanes_below(int count)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* count elements from x, the rest 0. A short block is a masked move, which
 * neither reads nor writes the lanes past count (nor faults there), and
 * keeps the accumulators of the tiles that inline it in registers. */
static inline __m256 load_floats(const float *x, int count)
{
    return count == 8 ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, lanes_below(count));
}

static inline void store_floats(float *x, __m256 v, int count)
{
    if (count == 8)
        _mm256_storeu_ps(x, v);
    else
        _mm256_maskstore_ps(x, lanes_below(count), v);
}

/* count elements from c of a K or V row, by dtype, the rest 0: half ones
 * read 2 bytes each and widened (F16C, or bfloat16's shift). */
static inline __m256 load_row(const void *row, long long c, int count, int dtype)
{
    if (dtype == PA_F32)
        return load_floats((const float *)row + c, count);
    const unsigned short *h = (const unsigned short *)row + c;
    if (count == 8)
        return widen8(_mm_loadu_si128((const __m128i *)h), dtype);
    unsigned short tail[8] = {0};
    memcpy(tail, h, sizeof(unsigned short) * (size_t)count);
    return widen8(_mm_loadu_si128((const __m128i *)tail), dtype);
}

/* The lane sums of a, b, c, d, in lanes 0 to 3. */
static inline __m128 sum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* The lanes of row qr times key row kr, summed over d: the key's row read
 * in order, so that the four keys of a step stream through memory one
 * after another (interleaving their vectors kept fewer lines in flight). */
static inline __m256 dot_row(const float *qr, const void *kr, long long d, int dtype)
{
    __m256 a = _mm256_setzero_ps();
    long long c = 0;
    for (; c + 8 <= d; c += 8)      /* whole vectors; then one short block */
        a = _mm256_fmadd_ps(_mm256_loadu_ps(qr + c), load_row(kr, c, 8, dtype), a);
    if (c < d)
        a = _mm256_fmadd_ps(load_floats(qr + c, (int)(d - c)), load_row(kr, c, (int)(d - c), dtype), a);
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
            const __m256 a0 = dot_row(qr, k0, d, dtype), a1 = dot_row(qr, k1, d, dtype);
            const __m256 a2 = dot_row(qr, k2, d, dtype), a3 = dot_row(qr, k3, d, dtype);
            float out[4];
            _mm_storeu_ps(out, _mm_mul_ps(sum4(a0, a1, a2, a3), vscale));
            for (int t = 0; t < keys; t++)
                s[r * lds + j + t] = out[t];
        }
    }
}

/* Output columns c .. c + 8 * cw - 1 of rows r .. r + rt - 1, in registers
 * across the block's keys: each V element loaded once serves rt rows. rt
 * and cw are constants where this is inlined. */
static PA_TILE_INLINE void values_tile(float *o, const float *corr, const float *p, long long ldp, long long r,
                               int rt, const char *v, long long stride, int dtype, long long n, long long c,
                               int cw, long long dv)
{
    __m256 acc[4][8];
    int count[8];
    for (int x = 0; x < cw; x++)
        count[x] = count8(c + 8 * x, dv);
    for (int y = 0; y < rt; y++) {
        const __m256 f = _mm256_set1_ps(corr[r + y]);
        for (int x = 0; x < cw; x++)
            acc[y][x] = _mm256_mul_ps(f, load_floats(o + (r + y) * dv + c + 8 * x, count[x]));
    }
    if (c + 8 * cw <= dv) {     /* whole vectors: a constant count keeps acc in registers */
        for (long long j = 0; j < n; j++) {
            const char *vj = v + j * stride;
            for (int x = 0; x < cw; x++) {
                const __m256 vx = load_row(vj, c + 8 * x, 8, dtype);
                for (int y = 0; y < rt; y++)
                    acc[y][x] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + (r + y) * ldp + j), vx, acc[y][x]);
            }
        }
    } else {
        for (long long j = 0; j < n; j++) {
            const char *vj = v + j * stride;
            for (int x = 0; x < cw; x++) {
                const __m256 vx = load_row(vj, c + 8 * x, count[x], dtype);
                for (int y = 0; y < rt; y++)
                    acc[y][x] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + (r + y) * ldp + j), vx, acc[y][x]);
            }
        }
    }
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < cw; x++)
            store_floats(o + (r + y) * dv + c + 8 * x, acc[y][x], count[x]);
}

/* Tiles of 8 accumulators at most: 1 row x 64 columns, 2 x 32, 3 x 16 or
 * 4 x 16. */
static void decode_values(float *o, const float *corr, const float *p, long long ldp, long long rows,
                          const void *v, long long ldv, int dtype, long long n, long long dv)
{
    const long long stride = ldv * pa_dtype_size(dtype);
    for (long long r = 0; r < rows; r += 4) {
        const long long rt = rows - r < 4 ? rows - r : 4;
        const int cw = rt == 1 ? 8 : rt == 2 ? 4 : 2;
        for (long long c = 0; c < dv; c += 8 * cw)
            switch (rt) {
            case 1: values_tile(o, corr, p, ldp, r, 1, v, stride, dtype, n, c, 8, dv); break;
            case 2: values_tile(o, corr, p, ldp, r, 2, v, stride, dtype, n, c, 4, dv); break;
            case 3: values_tile(o, corr, p, ldp, r, 3, v, stride, dtype, n, c, 2, dv); break;
            default: values_tile(o, corr, p, ldp, r, 4, v, stride, dtype, n, c, 2, dv); break;
            }
    }
}

/* ---- query tiles (attend.c) ---- */

/* online_row without masks for ROWS_AT_ONCE rows together: a row's steps
 * form one dependent chain (max, its reduction, exp, the sum), so rows
 * interleave to keep the vector units busy. Each row's arithmetic is
 * online_row's, in its order (a short block padded with -inf). Up to the
 * shortest row's last whole vector no lane is masked (AMD's masked stores
 * are slow). Two rows: with the exp's constants they fill the 16 ymm
 * registers; more spill. */
#define ROWS_AT_ONCE 2
static void online_group(float *s, long long lds, const long long *lo, const long long *hi,
                         float *m, float *l, float *corr)
{
    float *row[ROWS_AT_ONCE], max[ROWS_AT_ONCE];
    long long n[ROWS_AT_ONCE], most = 0, whole = -1;
    __m256 vmax[ROWS_AT_ONCE], vnan[ROWS_AT_ONCE], vsum[ROWS_AT_ONCE];
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    for (int q = 0; q < ROWS_AT_ONCE; q++) {
        row[q] = s + q * lds + lo[q];
        n[q] = hi[q] > lo[q] ? hi[q] - lo[q] : 0;
        most = n[q] > most ? n[q] : most;
        whole = whole < 0 || n[q] < whole ? n[q] : whole;
        vmax[q] = _mm256_set1_ps(m[q]);
        vnan[q] = _mm256_cmp_ps(vmax[q], vmax[q], _CMP_UNORD_Q);
        vsum[q] = _mm256_setzero_ps();
    }
    whole -= whole % 8;
    long long j = 0;
    for (; j < whole; j += 8)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const __m256 x = _mm256_loadu_ps(row[q] + j);
            vmax[q] = _mm256_max_ps(vmax[q], x);
            vnan[q] = _mm256_or_ps(vnan[q], _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
        }
    for (; j < most; j += 8)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const __m256 in = _mm256_castsi256_ps(lanes_below(count8(j, n[q])));
            const __m256 x = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(row[q] + j, _mm256_castps_si256(in)), in);
            vmax[q] = _mm256_max_ps(vmax[q], x);
            vnan[q] = _mm256_or_ps(vnan[q], _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
        }
    for (int q = 0; q < ROWS_AT_ONCE; q++) {
        max[q] = _mm256_movemask_ps(vnan[q]) ? NAN : hmax(vmax[q]);
        /* Nothing kept (every score -inf): -inf - inf exponentiates to
         * the zeros it needs, with no test in the loops. */
        vmax[q] = _mm256_set1_ps(max[q] == -INFINITY ? INFINITY : max[q]);
    }
    for (j = 0; j < whole; j += 8)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const __m256 e = exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(row[q] + j), vmax[q]));
            _mm256_storeu_ps(row[q] + j, e);
            vsum[q] = _mm256_add_ps(vsum[q], e);
        }
    for (; j < most; j += 8)
        for (int q = 0; q < ROWS_AT_ONCE; q++) {
            const __m256i in = lanes_below(count8(j, n[q]));
            const __m256 x = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(row[q] + j, in), _mm256_castsi256_ps(in));
            const __m256 e = exp_nonpos(_mm256_sub_ps(x, vmax[q]));
            _mm256_maskstore_ps(row[q] + j, in, e);
            vsum[q] = _mm256_add_ps(vsum[q], e);
        }
    for (int q = 0; q < ROWS_AT_ONCE; q++)
        corr[q] = pa_online_update(n[q], max[q], hsum(vsum[q]), &m[q], &l[q]);
}

static void online_rows(float *s, long long lds, long long rows, const long long *lo, const long long *hi,
                        float *m, float *l, float *corr)
{
    long long r = 0;
    for (; r + ROWS_AT_ONCE <= rows; r += ROWS_AT_ONCE)
        online_group(s + r * lds, lds, lo + r, hi + r, m + r, l + r, corr + r);
    pa_online_rows_each(online_row, s + r * lds, lds, rows - r, lo + r, hi + r, m + r, l + r, corr + r);
}


/* Scores of rt rows for the 16 keys of one panel from key j: per element
 * of d, the panel row (two vectors) loaded once serves rt rows. rt is a
 * constant where this is inlined. */
static PA_TILE_INLINE void scores_tile(float *s, long long lds, const float *q, long long ldq, int rt,
                               const float *panel, long long d, long long j, long long end, float scale)
{
    __m256 acc[6][2];
    for (int y = 0; y < rt; y++)
        acc[y][0] = acc[y][1] = _mm256_setzero_ps();
    for (long long c = 0; c < d; c++) {
        const __m256 k0 = _mm256_loadu_ps(panel + c * PA_PANEL), k1 = _mm256_loadu_ps(panel + c * PA_PANEL + 8);
        for (int y = 0; y < rt; y++) {
            const __m256 qc = _mm256_broadcast_ss(q + y * ldq + c);
            acc[y][0] = _mm256_fmadd_ps(qc, k0, acc[y][0]);
            acc[y][1] = _mm256_fmadd_ps(qc, k1, acc[y][1]);
        }
    }
    const __m256 vscale = _mm256_set1_ps(scale);
    const int c0 = count8(j, end), c1 = count8(j + 8, end);
    for (int y = 0; y < rt; y++) {
        store_floats(s + y * lds + j, _mm256_mul_ps(acc[y][0], vscale), c0);
        if (c1 > 0)
            store_floats(s + y * lds + j + 8, _mm256_mul_ps(acc[y][1], vscale), c1);
    }
}

/* Tiles of 6 rows x 16 keys: 12 accumulators, 2 loads and 6 broadcasts
 * per 12 multiply-adds. */
static void panel_scores(float *s, long long lds, const float *q, long long ldq, long long rows,
                         const float *panels, long long d, long long n, const long long *ends, float scale)
{
    for (long long r = 0; r < rows; r += 6) {
        const long long rt = rows - r < 6 ? rows - r : 6;
        const long long end = pa_tile_end(ends, r, rt, n);
        float *sr = s + r * lds;
        const float *qr = q + r * ldq;
        for (long long j = 0; j < end; j += PA_PANEL) {
            const float *panel = panels + (j / PA_PANEL) * d * PA_PANEL;
            switch (rt) {
            case 1: scores_tile(sr, lds, qr, ldq, 1, panel, d, j, end, scale); break;
            case 2: scores_tile(sr, lds, qr, ldq, 2, panel, d, j, end, scale); break;
            case 3: scores_tile(sr, lds, qr, ldq, 3, panel, d, j, end, scale); break;
            case 4: scores_tile(sr, lds, qr, ldq, 4, panel, d, j, end, scale); break;
            case 5: scores_tile(sr, lds, qr, ldq, 5, panel, d, j, end, scale); break;
            default: scores_tile(sr, lds, qr, ldq, 6, panel, d, j, end, scale); break;
            }
        }
    }
}

/* Output columns c .. c + 15 of rt rows over keys [0, n), from corr times
 * o (zeros without corr), times scale when given: each V element loaded
 * once serves rt rows. */
static PA_TILE_INLINE void values_block_tile(float *o, long long ldo, const float *p, long long ldp, int rt,
                                     const float *v, long long ldv, long long n, long long c, long long dv,
                                     const float *corr, const float *scale)
{
    __m256 acc[6][2];
    const int c0 = count8(c, dv), c1 = count8(c + 8, dv);
    for (int y = 0; y < rt; y++) {
        acc[y][0] = acc[y][1] = _mm256_setzero_ps();
        if (corr == NULL)
            continue;
        const __m256 f = _mm256_set1_ps(corr[y]);
        acc[y][0] = _mm256_mul_ps(f, load_floats(o + y * ldo + c, c0));
        if (c1 > 0)
            acc[y][1] = _mm256_mul_ps(f, load_floats(o + y * ldo + c + 8, c1));
    }
    if (c1 == 8) {
        for (long long j = 0; j < n; j++) {
            const __m256 v0 = _mm256_loadu_ps(v + j * ldv + c), v1 = _mm256_loadu_ps(v + j * ldv + c + 8);
            for (int y = 0; y < rt; y++) {
                const __m256 pj = _mm256_broadcast_ss(p + y * ldp + j);
                acc[y][0] = _mm256_fmadd_ps(pj, v0, acc[y][0]);
                acc[y][1] = _mm256_fmadd_ps(pj, v1, acc[y][1]);
            }
        }
    } else {    /* a short last column block: loads that stop at dv */
        for (long long j = 0; j < n; j++) {
            const __m256 v0 = load_floats(v + j * ldv + c, c0);
            const __m256 v1 = c1 > 0 ? load_floats(v + j * ldv + c + 8, c1) : _mm256_setzero_ps();
            for (int y = 0; y < rt; y++) {
                const __m256 pj = _mm256_broadcast_ss(p + y * ldp + j);
                acc[y][0] = _mm256_fmadd_ps(pj, v0, acc[y][0]);
                acc[y][1] = _mm256_fmadd_ps(pj, v1, acc[y][1]);
            }
        }
    }
    for (int y = 0; y < rt; y++) {
        if (scale != NULL) {
            const __m256 f = _mm256_set1_ps(scale[y]);
            acc[y][0] = _mm256_mul_ps(f, acc[y][0]);
            acc[y][1] = _mm256_mul_ps(f, acc[y][1]);
        }
        store_floats(o + y * ldo + c, acc[y][0], c0);
        if (c1 > 0)
            store_floats(o + y * ldo + c + 8, acc[y][1], c1);
    }
}

#define VALUES_TILE(RT)                                                                                 \
    values_block_tile(orow, ldo, prow, ldp, RT, v, ldv, end, c, dv, corr != NULL ? corr + r : NULL,    \
                      scale != NULL ? scale + r : NULL)

/* Tiles of 6 rows x 16 columns, as the scores. */
static void block_values(float *o, long long ldo, const float *p, long long ldp, long long rows,
                         const float *v, long long ldv, long long dv, long long n, const long long *ends,
                         const float *corr, const float *scale)
{
    for (long long r = 0; r < rows; r += 6) {
        const long long rt = rows - r < 6 ? rows - r : 6;
        const long long end = pa_tile_end(ends, r, rt, n);
        float *orow = o + r * ldo;
        const float *prow = p + r * ldp;
        for (long long c = 0; c < dv; c += 16)
            switch (rt) {
            case 1: VALUES_TILE(1); break;
            case 2: VALUES_TILE(2); break;
            case 3: VALUES_TILE(3); break;
            case 4: VALUES_TILE(4); break;
            case 5: VALUES_TILE(5); break;
            default: VALUES_TILE(6); break;
            }
    }
}

const pa_kernels pa_kernels_avx2 = { PA_ISA_AVX2, softmax_row, online_row, additive_row, widen,
                                     decode_scores, decode_values, panel_scores, block_values,
                                     online_rows };
