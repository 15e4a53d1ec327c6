/* Portable C row kernels: the reference for the vector ones. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

static float online_row(float *s, long long n, const float *add, const unsigned char *keep,
                        float *m, float *l)
{
    float max = *m;
    int nan = isnan(*m);
    for (long long j = 0; j < n; j++) {
        float x = s[j];
        if (add != NULL)
            x += add[j];
        if (keep != NULL && keep[j] == 0)
            x = -INFINITY;
        s[j] = x;
        nan |= isnan(x);
        if (x > max)
            max = x;
    }
    if (nan)
        max = NAN; /* poisons every weight of the row: it is NaN */
    if (max == -INFINITY) { /* nothing kept yet: no change */
        for (long long j = 0; j < n; j++)
            s[j] = 0.0f;
        return 1.0f;
    }
    float sum = 0.0f;
    for (long long j = 0; j < n; j++) {
        s[j] = expf(s[j] - max);
        sum += s[j];
    }
    float corr = *m == -INFINITY ? 0.0f : expf(*m - max);
    *l = *l * corr + sum;
    *m = max;
    return corr;
}

static void softmax_row(float *s, long long n, const float *add, const unsigned char *keep)
{
    float m = -INFINITY, l = 0.0f;
    online_row(s, n, add, keep, &m, &l);
    float inv = l != 0.0f ? 1.0f / l : 0.0f;
    for (long long j = 0; j < n; j++)
        s[j] *= inv;
}

static void additive_row(float *s, long long n, const float *q, const float *k, long long ldk,
                         long long A, const float *v, float scale)
{
    for (long long j = 0; j < n; j++) {
        const float *kj = k + j * ldk;
        float acc = 0.0f;
        for (long long a = 0; a < A; a++)
            acc += (v != NULL ? v[a] : 1.0f) * tanhf(q[a] + kj[a]);
        s[j] = scale * acc;
    }
}

/* binary16 to float, by its fields: sign, 5 exponent bits (bias 15), 10
 * fraction bits. Every binary16 value is a float exactly. */
static float f16_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = h >> 10 & 0x1Fu, fraction = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0x1F)           /* infinity, or NaN made quiet as the vector conversions do */
        bits = sign | 0x7F800000u | (fraction != 0 ? 0x400000u : 0) | fraction << 13;
    else if (exponent != 0)         /* normal: rebias the exponent to 127 */
        bits = sign | (exponent + 112) << 23 | fraction << 13;
    else                            /* zero or subnormal: fraction * 2^-24 */
        return sign != 0 ? -((float)fraction * 0x1p-24f) : (float)fraction * 0x1p-24f;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 to float: the top half of a float. */
static float bf16_to_float(uint16_t h)
{
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void widen(float *dst, const void *src, long long n, int dtype)
{
    const uint16_t *h = src;
    for (long long j = 0; j < n; j++)
        dst[j] = dtype == PA_BF16 ? bf16_to_float(h[j]) : f16_to_float(h[j]);
}

/* Element c of a K or V row, by dtype. */
static inline float row_element(const void *row, long long c, int dtype)
{
    switch (dtype) {
    case PA_F16: return f16_to_float(((const uint16_t *)row)[c]);
    case PA_BF16: return bf16_to_float(((const uint16_t *)row)[c]);
    default: return ((const float *)row)[c];
    }
}

static void decode_scores(float *s, long long lds, const float *q, long long rows, const void *k,
                          long long ldk, int dtype, long long n, long long d, float scale)
{
    const long long stride = ldk * pa_dtype_size(dtype);
    for (long long j = 0; j < n; j++) {
        const void *kj = (const char *)k + j * stride;
        for (long long r = 0; r < rows; r++) {
            const float *qr = q + r * d;
            float acc = 0.0f;
            for (long long c = 0; c < d; c++)
                acc += qr[c] * row_element(kj, c, dtype);
            s[r * lds + j] = scale * acc;
        }
    }
}

static void decode_values(float *o, const float *corr, const float *p, long long ldp, long long rows,
                          const void *v, long long ldv, int dtype, long long n, long long dv)
{
    const long long stride = ldv * pa_dtype_size(dtype);
    for (long long r = 0; r < rows; r++) {
        float *orow = o + r * dv;
        for (long long c = 0; c < dv; c++)
            orow[c] *= corr[r];
        for (long long j = 0; j < n; j++) {
            const void *vj = (const char *)v + j * stride;
            const float pj = p[r * ldp + j];
            for (long long c = 0; c < dv; c++)
                orow[c] += pj * row_element(vj, c, dtype);
        }
    }
}

/* ---- query tiles (attend.c) ---- */

static void panel_scores(float *s, long long lds, const float *q, long long ldq, long long rows,
                         const float *panels, long long d, long long n, const long long *ends, float scale)
{
    for (long long r = 0; r < rows; r++) {
        const long long end = ends != NULL ? ends[r] : n;
        for (long long j = 0; j < end; j++) {
            const float *kj = panels + (j / PA_PANEL) * d * PA_PANEL + j % PA_PANEL;
            float acc = 0.0f;
            for (long long c = 0; c < d; c++)
                acc += q[r * ldq + c] * kj[c * PA_PANEL];
            s[r * lds + j] = scale * acc;
        }
    }
}

static void block_values(float *o, long long ldo, const float *p, long long ldp, long long rows,
                         const float *v, long long ldv, long long dv, long long n, const long long *ends,
                         const float *corr, const float *scale)
{
    for (long long r = 0; r < rows; r++) {
        const long long end = ends != NULL ? ends[r] : n;
        float *orow = o + r * ldo;
        for (long long c = 0; c < dv; c++)
            orow[c] = corr != NULL ? corr[r] * orow[c] : 0.0f;
        for (long long j = 0; j < end; j++) {
            const float pj = p[r * ldp + j];
            for (long long c = 0; c < dv; c++)
                orow[c] += pj * v[j * ldv + c];
        }
        for (long long c = 0; c < dv && scale != NULL; c++)
            orow[c] *= scale[r];
    }
}

static void online_rows(float *s, long long lds, long long rows, const long long *lo, const long long *hi,
                        float *m, float *l, float *corr)
{
    pa_online_rows_each(online_row, s, lds, rows, lo, hi, m, l, corr);
}

const pa_kernels pa_kernels_scalar = { PA_ISA_SCALAR, softmax_row, online_row, additive_row, widen,
                                       decode_scores, decode_values, panel_scores, block_values,
                                       online_rows };
