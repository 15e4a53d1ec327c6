/* Portable C row kernels: the reference for the vector ones. */
#include <math.h>

#include "internal.h"

static void softmax_row(float *s, long long n, long long limit,
                        const float *add, const unsigned char *keep)
{
    float max = -INFINITY;
    int nan = 0;
    for (long long j = 0; j < limit; j++) {
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
        max = NAN;  /* poisons every kept weight: the row is NaN */
    if (max == -INFINITY) {
        for (long long j = 0; j < n; j++)
            s[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (long long j = 0; j < limit; j++) {
        s[j] = expf(s[j] - max);
        sum += s[j];
    }
    float inv = 1.0f / sum;
    for (long long j = 0; j < limit; j++)
        s[j] *= inv;
    for (long long j = limit; j < n; j++)
        s[j] = 0.0f;
}

const pa_kernels pa_kernels_scalar = { PA_ISA_SCALAR, softmax_row };
