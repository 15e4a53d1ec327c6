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

/* e^x for x <= 0 (Cephes polynomial, ~2 ulp); 0 below -87.3, NaN stays
 * NaN. Softmax only exponentiates x - max <= 0. */
static inline __m512 exp_nonpos(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-87.33654f);
    mask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(lo, x);
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     ROUND_NEAREST);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i pow2 = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvttps_epi32(fx), _mm512_set1_epi32(127)), 23);
    y = _mm512_mul_ps(y, _mm512_castsi512_ps(pow2));
    return _mm512_mask_mov_ps(y, tiny, _mm512_setzero_ps());
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

const pa_kernels PA_AVX512_TABLE = { PA_ISA_AVX512, softmax_row, online_row, additive_row, widen };
