/* NEON (Advanced SIMD) row kernels for aarch64, where every CPU has NEON
 * (isa.c). The C tests also build this file against SIMDe's portable NEON
 * (PANATTN_EMULATE_NEON), so its logic is tested on x86-64 too. */
#if defined(PANATTN_EMULATE_NEON)
#  define SIMDE_ENABLE_NATIVE_ALIASES
#  include <simde/arm/neon.h>
#  define PA_NEON_TABLE pa_kernels_neon_emulated
#else
#  include <arm_neon.h>
#  define PA_NEON_TABLE pa_kernels_neon
#endif
#include <math.h>
#include <string.h>

#include "internal.h"

/* e^x for x <= 0 (Cephes polynomial, ~2 ulp); 0 below -87.3, NaN stays
 * NaN. Softmax only exponentiates x - max <= 0. The same steps as the AVX
 * kernels; vfmaq_f32(a, b, c) is a + b * c. */
static inline float32x4_t exp_nonpos(float32x4_t x)
{
    const float32x4_t lo = vdupq_n_f32(-87.33654f);
    uint32x4_t tiny = vcltq_f32(x, lo);
    x = vmaxq_f32(lo, x);
    float32x4_t fx = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmaq_f32(x, fx, vdupq_n_f32(-0.693359375f));
    r = vfmaq_f32(r, fx, vdupq_n_f32(2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    float32x4_t y = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    int32x4_t pow2 = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(fx), vdupq_n_s32(127)), 23);
    y = vmulq_f32(y, vreinterpretq_f32_s32(pow2));
    return vbslq_f32(tiny, vdupq_n_f32(0.0f), y);
}

/* A block of 4 lanes; a tail block is copied into it so that no load or
 * store reaches past the row. */
typedef struct block {
    float *dst;
    int count;
    float x[4];
} block;

static inline float32x4_t load(block *b, float *s, long long j, long long end, float pad)
{
    long long left = end - j;
    b->dst = s + j;
    b->count = left >= 4 ? 4 : (int)left;
    if (b->count == 4)
        return vld1q_f32(s + j);
    for (int i = 0; i < 4; i++)
        b->x[i] = i < b->count ? s[j + i] : pad;
    return vld1q_f32(b->x);
}

static inline void store(block *b, float32x4_t v)
{
    if (b->count == 4) {
        vst1q_f32(b->dst, v);
        return;
    }
    vst1q_f32(b->x, v);
    memcpy(b->dst, b->x, sizeof(float) * (size_t)b->count);
}

static inline float32x4_t addend(const float *add, long long j, int count)
{
    if (count == 4)
        return vld1q_f32(add + j);
    float x[4] = {0};
    memcpy(x, add + j, sizeof(float) * (size_t)count);
    return vld1q_f32(x);
}

/* All-ones lanes where the keep byte is zero. */
static inline uint32x4_t dropped(const unsigned char *keep, int count)
{
    unsigned char bytes[4] = {1, 1, 1, 1};
    memcpy(bytes, keep, (size_t)count);
    const uint32_t k[4] = {bytes[0], bytes[1], bytes[2], bytes[3]};
    return vceqq_u32(vld1q_u32(k), vdupq_n_u32(0));
}

static float hmax(float32x4_t v) { return vmaxvq_f32(v); }
static float hsum(float32x4_t v) { return vaddvq_f32(v); }

static float online_row(float *s, long long n, const float *add, const unsigned char *keep,
                        float *m, float *l)
{
    const float32x4_t neg_inf = vdupq_n_f32(-INFINITY);
    float32x4_t vmax = vdupq_n_f32(*m);
    int nan = isnan(*m);
    block b;
    for (long long j = 0; j < n; j += 4) {
        float32x4_t x = load(&b, s, j, n, -INFINITY);
        if (add != NULL)
            x = vaddq_f32(x, addend(add, j, b.count));
        if (keep != NULL)
            x = vbslq_f32(dropped(keep + j, b.count), neg_inf, x);
        store(&b, x);
        vmax = vmaxq_f32(vmax, x);
    }
    for (long long j = 0; j < n && !nan; j++)
        nan = isnan(s[j]);
    /* A NaN score poisons every weight of the row: it is NaN. */
    float max = nan ? NAN : hmax(vmax);
    if (max == -INFINITY) { /* nothing kept yet: no change */
        memset(s, 0, sizeof(float) * (size_t)n);
        return 1.0f;
    }
    float32x4_t vsum = vdupq_n_f32(0.0f);
    const float32x4_t vmaxb = vdupq_n_f32(max);
    for (long long j = 0; j < n; j += 4) {
        float32x4_t e = exp_nonpos(vsubq_f32(load(&b, s, j, n, -INFINITY), vmaxb));
        store(&b, e);
        vsum = vaddq_f32(vsum, e);
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
    const float32x4_t inv = vdupq_n_f32(l != 0.0f ? 1.0f / l : 0.0f);
    block b;
    for (long long j = 0; j < n; j += 4) {
        float32x4_t x = load(&b, s, j, n, 0.0f);
        store(&b, vmulq_f32(x, inv));
    }
}

/* tanh(x) = sign(x) * (1 - e) / (1 + e), e = exp(-2|x|) <= 1. */
static inline float32x4_t tanh_f32(float32x4_t x)
{
    float32x4_t e = exp_nonpos(vmulq_f32(vabsq_f32(x), vdupq_n_f32(-2.0f)));
    float32x4_t one = vdupq_n_f32(1.0f);
    /* 1 / (1 + e) by the reciprocal estimate and two Newton steps (float
     * precision); vdivq_f32 is aarch64-only and SIMDe 0.7 lacks it. */
    float32x4_t d = vaddq_f32(one, e), r = vrecpeq_f32(d);
    r = vmulq_f32(r, vrecpsq_f32(d, r));
    r = vmulq_f32(r, vrecpsq_f32(d, r));
    float32x4_t t = vmulq_f32(vsubq_f32(one, e), r);
    return vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), vnegq_f32(t), t);
}

static void additive_row(float *s, long long n, const float *q, const float *k, long long ldk,
                         long long A, const float *v, float scale)
{
    for (long long j = 0; j < n; j++) {
        const float *kj = k + j * ldk;
        float32x4_t acc = vdupq_n_f32(0.0f);
        long long a = 0;
        for (; a + 4 <= A; a += 4) {
            float32x4_t t = tanh_f32(vaddq_f32(vld1q_f32(q + a), vld1q_f32(kj + a)));
            acc = v != NULL ? vfmaq_f32(acc, vld1q_f32(v + a), t) : vaddq_f32(acc, t);
        }
        float sum = hsum(acc);
        for (; a < A; a++)
            sum += (v != NULL ? v[a] : 1.0f) * tanhf(q[a] + kj[a]);
        s[j] = scale * sum;
    }
}

/* Four half-precision values to floats: NEON's conversion for binary16;
 * bfloat16 is the top half of a float, so zero-extend and shift by 16
 * (vshll_n_u16 by 16 is valid NEON, but SIMDe refuses a shift that large). */
static inline float32x4_t widen4(const unsigned short *h, int dtype)
{
    const uint16x4_t bits = vld1_u16(h);
    return dtype == PA_BF16 ? vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(bits), 16))
                            : vcvt_f32_f16(vreinterpret_f16_u16(bits));
}

static void widen(float *dst, const void *src, long long n, int dtype)
{
    const unsigned short *h = src;
    long long j = 0;
    for (; j + 4 <= n; j += 4)
        vst1q_f32(dst + j, widen4(h + j, dtype));
    if (j < n) {                    /* the tail goes through copies: no access past either end */
        unsigned short tail[4] = {0};
        float out[4];
        memcpy(tail, h + j, sizeof(unsigned short) * (size_t)(n - j));
        vst1q_f32(out, widen4(tail, dtype));
        memcpy(dst + j, out, sizeof(float) * (size_t)(n - j));
    }
}

/* ---- decoding (decode.c) ---- */

/* Elements of a block of 4 starting at c that lie below end: 0 to 4. */
static inline int count4(long long c, long long end)
{
    return c >= end ? 0 : end - c >= 4 ? 4 : (int)(end - c);
}

/* count elements from x, the rest 0; a short block is copied, so that no
 * load reaches past the row. */
static inline float32x4_t load_floats(const float *x, int count)
{
    if (count == 4)
        return vld1q_f32(x);
    float b[4] = {0};
    memcpy(b, x, sizeof(float) * (size_t)count);
    return vld1q_f32(b);
}

static inline void store_floats(float *x, float32x4_t v, int count)
{
    if (count == 4) {
        vst1q_f32(x, v);
        return;
    }
    float b[4];
    vst1q_f32(b, v);
    memcpy(x, b, sizeof(float) * (size_t)count);
}

/* count elements from c of a K or V row, by dtype, the rest 0: half ones
 * read 2 bytes each and widened (vcvt_f32_f16, or bfloat16's shift). */
static inline float32x4_t load_row(const void *row, long long c, int count, int dtype)
{
    if (dtype == PA_F32)
        return load_floats((const float *)row + c, count);
    const unsigned short *h = (const unsigned short *)row + c;
    if (count == 4)
        return widen4(h, dtype);
    unsigned short tail[4] = {0};
    memcpy(tail, h, sizeof(unsigned short) * (size_t)count);
    return widen4(tail, dtype);
}

/* Four keys at a time, one query row after another: the keys' rows are
 * read from memory once and from L1 for the other rows, and pairwise adds
 * give four scores at once. */
static void decode_scores(float *s, long long lds, const float *q, long long rows, const void *k,
                          long long ldk, int dtype, long long n, long long d, float scale)
{
    const long long stride = ldk * pa_dtype_size(dtype);
    for (long long j = 0; j < n; j += 4) {
        const int keys = n - j < 4 ? (int)(n - j) : 4;
        /* A tail's missing keys repeat its last one: computed, not stored. */
        const char *k0 = (const char *)k + j * stride;
        const char *k1 = k0 + (keys > 1 ? 1 : 0) * stride;
        const char *k2 = k0 + (keys > 2 ? 2 : keys - 1) * stride;
        const char *k3 = k0 + (keys - 1) * stride;
        for (long long r = 0; r < rows; r++) {
            const float *qr = q + r * d;
            float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
            for (long long c = 0; c < d; c += 4) {
                const int count = count4(c, d);
                const float32x4_t x = load_floats(qr + c, count);
                a0 = vfmaq_f32(a0, x, load_row(k0, c, count, dtype));
                a1 = vfmaq_f32(a1, x, load_row(k1, c, count, dtype));
                a2 = vfmaq_f32(a2, x, load_row(k2, c, count, dtype));
                a3 = vfmaq_f32(a3, x, load_row(k3, c, count, dtype));
            }
            float out[4];
            vst1q_f32(out, vmulq_n_f32(vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3)), scale));
            for (int t = 0; t < keys; t++)
                s[r * lds + j + t] = out[t];
        }
    }
}

/* Output columns c .. c + 4 * cw - 1 of rows r .. r + rt - 1, in registers
 * across the block's keys: each V element loaded once serves rt rows. rt
 * and cw are constants where this is inlined. */
static PA_TILE_INLINE void values_tile(float *o, const float *corr, const float *p, long long ldp, long long r,
                               int rt, const char *v, long long stride, int dtype, long long n, long long c,
                               int cw, long long dv)
{
    float32x4_t acc[4][8];
    int count[8];
    for (int x = 0; x < cw; x++)
        count[x] = count4(c + 4 * x, dv);
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < cw; x++)
            acc[y][x] = vmulq_n_f32(load_floats(o + (r + y) * dv + c + 4 * x, count[x]), corr[r + y]);
    for (long long j = 0; j < n; j++) {
        const char *vj = v + j * stride;
        for (int x = 0; x < cw; x++) {
            const float32x4_t vx = load_row(vj, c + 4 * x, count[x], dtype);
            for (int y = 0; y < rt; y++)
                acc[y][x] = vfmaq_n_f32(acc[y][x], vx, p[(r + y) * ldp + j]);
        }
    }
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < cw; x++)
            store_floats(o + (r + y) * dv + c + 4 * x, acc[y][x], count[x]);
}

/* Tiles of 16 accumulators at most: 1 row x 32 columns, 2 x 32, 3 x 16 or
 * 4 x 16. */
static void decode_values(float *o, const float *corr, const float *p, long long ldp, long long rows,
                          const void *v, long long ldv, int dtype, long long n, long long dv)
{
    const long long stride = ldv * pa_dtype_size(dtype);
    for (long long r = 0; r < rows; r += 4) {
        const long long rt = rows - r < 4 ? rows - r : 4;
        const int cw = rt <= 2 ? 8 : 4;
        for (long long c = 0; c < dv; c += 4 * cw)
            switch (rt) {
            case 1: values_tile(o, corr, p, ldp, r, 1, v, stride, dtype, n, c, 8, dv); break;
            case 2: values_tile(o, corr, p, ldp, r, 2, v, stride, dtype, n, c, 8, dv); break;
            case 3: values_tile(o, corr, p, ldp, r, 3, v, stride, dtype, n, c, 4, dv); break;
            default: values_tile(o, corr, p, ldp, r, 4, v, stride, dtype, n, c, 4, dv); break;
            }
    }
}

/* ---- query tiles (attend.c) ---- */

/* Scores of rt rows for the 16 keys of one panel from key j: per element
 * of d, the panel row (four vectors) loaded once serves rt rows. rt is a
 * constant where this is inlined. */
static PA_TILE_INLINE void scores_tile(float *s, long long lds, const float *q, long long ldq, int rt,
                               const float *panel, long long d, long long j, long long end, float scale)
{
    float32x4_t acc[6][4];
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < 4; x++)
            acc[y][x] = vdupq_n_f32(0.0f);
    for (long long c = 0; c < d; c++) {
        float32x4_t kx[4];
        for (int x = 0; x < 4; x++)
            kx[x] = vld1q_f32(panel + c * PA_PANEL + 4 * x);
        for (int y = 0; y < rt; y++) {
            const float32x4_t qc = vdupq_n_f32(q[y * ldq + c]);
            for (int x = 0; x < 4; x++)
                acc[y][x] = vfmaq_f32(acc[y][x], qc, kx[x]);
        }
    }
    for (int x = 0; x < 4; x++) {
        const int count = count4(j + 4 * x, end);
        for (int y = 0; y < rt && count > 0; y++)
            store_floats(s + y * lds + j + 4 * x, vmulq_n_f32(acc[y][x], scale), count);
    }
}

/* Tiles of 6 rows x 16 keys: 24 accumulators, 4 loads and 6 broadcasts
 * per 24 multiply-adds. */
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
    float32x4_t acc[6][4];
    int count[4];
    for (int x = 0; x < 4; x++)
        count[x] = count4(c + 4 * x, dv);
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < 4; x++)
            acc[y][x] = corr != NULL && count[x] > 0
                      ? vmulq_n_f32(load_floats(o + y * ldo + c + 4 * x, count[x]), corr[y]) : vdupq_n_f32(0.0f);
    for (long long j = 0; j < n; j++) {
        float32x4_t vx[4];
        for (int x = 0; x < 4; x++)
            vx[x] = count[x] == 4 ? vld1q_f32(v + j * ldv + c + 4 * x)
                  : count[x] > 0 ? load_floats(v + j * ldv + c + 4 * x, count[x]) : vdupq_n_f32(0.0f);
        for (int y = 0; y < rt; y++) {
            const float32x4_t pj = vdupq_n_f32(p[y * ldp + j]);
            for (int x = 0; x < 4; x++)
                acc[y][x] = vfmaq_f32(acc[y][x], pj, vx[x]);
        }
    }
    for (int y = 0; y < rt; y++)
        for (int x = 0; x < 4; x++)
            if (count[x] > 0)
                store_floats(o + y * ldo + c + 4 * x, scale != NULL ? vmulq_n_f32(acc[y][x], scale[y]) : acc[y][x],
                             count[x]);
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

static void online_rows(float *s, long long lds, long long rows, const long long *lo, const long long *hi,
                        float *m, float *l, float *corr)
{
    pa_online_rows_each(online_row, s, lds, rows, lo, hi, m, l, corr);
}

const pa_kernels PA_NEON_TABLE = { PA_ISA_NEON, softmax_row, online_row, additive_row, widen,
                                   decode_scores, decode_values, panel_scores, block_values,
                                   online_rows };
