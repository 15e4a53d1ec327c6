/*
 * The AVX-512F intrinsics kernels_avx512.c uses that SIMDe 0.7 lacks,
 * written with plain loops. Only the emulated test build includes this.
 */
#ifndef PANATTN_SIMDE_AVX512_EXTRA_H
#define PANATTN_SIMDE_AVX512_EXTRA_H

#include <stdint.h>

#include <simde/x86/f16c.h>

static inline __m512i _mm512_cvttps_epi32(__m512 x)
{
    float f[16];
    int32_t r[16];
    _mm512_storeu_ps(f, x);
    for (int i = 0; i < 16; i++)
        r[i] = f[i] != f[i] || f[i] >= 2147483648.0f || f[i] < -2147483648.0f
             ? INT32_MIN : (int32_t)f[i];
    return _mm512_loadu_si512(r);
}

static inline __m512 _mm512_maskz_loadu_ps(simde__mmask16 m, const float *p)
{
    float f[16] = {0};
    for (int i = 0; i < 16; i++)
        if (m >> i & 1)
            f[i] = p[i];
    return _mm512_loadu_ps(f);
}

static inline void _mm512_mask_storeu_ps(float *p, simde__mmask16 m, __m512 x)
{
    float f[16];
    _mm512_storeu_ps(f, x);
    for (int i = 0; i < 16; i++)
        if (m >> i & 1)
            p[i] = f[i];
}

static inline __m512i _mm512_cvtepu16_epi32(__m256i x)
{
    uint16_t h[16];
    int32_t r[16];
    _mm256_storeu_si256((__m256i *)h, x);
    for (int i = 0; i < 16; i++)
        r[i] = h[i];
    return _mm512_loadu_si512(r);
}

/* Through SIMDe's F16C, eight at a time. */
static inline __m512 _mm512_cvtph_ps(__m256i x)
{
    float f[16];
    _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm256_castsi256_si128(x)));
    _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(x, 1)));
    return _mm512_loadu_ps(f);
}

static inline float _mm512_reduce_add_ps(__m512 x)
{
    float f[16], sum = 0.0f;
    _mm512_storeu_ps(f, x);
    for (int i = 0; i < 16; i++)
        sum += f[i];
    return sum;
}

static inline float _mm512_reduce_max_ps(__m512 x)
{
    float f[16], max;
    _mm512_storeu_ps(f, x);
    max = f[0];
    for (int i = 1; i < 16; i++)
        max = f[i] > max ? f[i] : max;
    return max;
}

#endif
