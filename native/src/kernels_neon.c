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

static void softmax_row(float *s, long long n, long long limit,
                        const float *add, const unsigned char *keep)
{
    const float32x4_t neg_inf = vdupq_n_f32(-INFINITY);
    float32x4_t vmax = neg_inf;
    block b;
    for (long long j = 0; j < limit; j += 4) {
        float32x4_t x = load(&b, s, j, limit, -INFINITY);
        if (add != NULL)
            x = vaddq_f32(x, addend(add, j, b.count));
        if (keep != NULL)
            x = vbslq_f32(dropped(keep + j, b.count), neg_inf, x);
        store(&b, x);
        vmax = vmaxq_f32(vmax, x);
    }
    float max = vmaxvq_f32(vmax);
    if (max == -INFINITY)
        limit = 0;
    float32x4_t vsum = vdupq_n_f32(0.0f);
    const float32x4_t vmaxb = vdupq_n_f32(max);
    for (long long j = 0; j < limit; j += 4) {
        float32x4_t e = exp_nonpos(vsubq_f32(load(&b, s, j, limit, -INFINITY), vmaxb));
        store(&b, e);
        vsum = vaddq_f32(vsum, e);
    }
    const float32x4_t inv = vdupq_n_f32(1.0f / vaddvq_f32(vsum));
    for (long long j = 0; j < limit; j += 4) {
        float32x4_t x = load(&b, s, j, limit, 0.0f);
        store(&b, vmulq_f32(x, inv));
    }
    for (long long j = limit; j < n; j++)
        s[j] = 0.0f;
}

const pa_kernels PA_NEON_TABLE = { PA_ISA_NEON, softmax_row };
