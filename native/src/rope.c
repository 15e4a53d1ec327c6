/* Rotary position embedding, in place. */
#include <limits.h>
#include <math.h>

#include "internal.h"

int pa_rope(const pa_tensor *x, long long position, float base, int layout)
{
    static const char *FN = "pa_rope";
    pa_tensor copy;  /* a checked copy of the caller's descriptor */
    int rc = pa_load_tensor(FN, "x", x, &copy, PA_F32, 1);
    if (rc == PA_OK)
        rc = pa_check_distinct_elements(FN, "x", &copy);
    if (rc != PA_OK)
        return rc;
    x = &copy;
    const long long D = x->shape[3], half = D / 2;
    if (D % 2 != 0)
        return pa_fail(PA_EINVAL, "%s: x.shape[3] = %lld must be even", FN, D);
    if (!(base > 1.0f) || !isfinite(base))
        return pa_fail(PA_EINVAL, "%s: base = %g must be finite and > 1", FN, (double)base);
    if (layout != PA_ROPE_HALF && layout != PA_ROPE_INTERLEAVED)
        return pa_fail(PA_EINVAL, "%s: layout = %d is not an enum pa_rope_layout value", FN, layout);
    if (position < 0)
        return pa_fail(PA_EINVAL, "%s: position = %lld must be >= 0", FN, position);
    if (pa_numel(x) == 0)
        return PA_OK;   /* no row is rotated (the loops below would still run over L and D / 2) */
    if (position > LLONG_MAX - (x->shape[2] - 1))
        return pa_fail(PA_EINVAL, "%s: position %lld + row %lld is past the largest long long", FN, position,
                       x->shape[2] - 1);
    const long long first = layout == PA_ROPE_HALF ? half : 1; /* partner offset */
    const long long step = layout == PA_ROPE_HALF ? 1 : 2;     /* pair start stride */
    for (long long l = 0; l < x->shape[2]; l++) {
        const double pos = (double)(position + l);
        for (long long k = 0; k < half; k++) {
            /* Angles in double: positions reach 1e5 and beyond. */
            double angle = pos * pow((double)base, -2.0 * (double)k / (double)D);
            float c = (float)cos(angle), s = (float)sin(angle);
            for (long long b = 0; b < x->shape[0]; b++)
                for (long long h = 0; h < x->shape[1]; h++) {
                    float *row = (float *)x->data + b * x->strides[0] + h * x->strides[1] + l * x->strides[2];
                    float *a = row + k * step, *z = a + first;
                    float x0 = *a, x1 = *z;
                    *a = x0 * c - x1 * s;
                    *z = x0 * s + x1 * c;
                }
        }
    }
    return PA_OK;
}
