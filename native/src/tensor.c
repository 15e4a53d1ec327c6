/* Validation of pa_tensor descriptors. */
#include <limits.h>

#include "internal.h"

long long pa_numel(const pa_tensor *t)
{
    long long n = 1;
    for (int i = 0; i < 4; i++)
        n *= t->shape[i];
    return n;
}

/* a * b + c for non-negative operands, or -1 on overflow. */
static long long mul_add(long long a, long long b, long long c)
{
    if (a != 0 && b > (LLONG_MAX - c) / a)
        return -1;
    return a * b + c;
}

int pa_check_tensor(const char *fn, const char *name, const pa_tensor *t,
                    int dtype, int unit_last)
{
    if (t == NULL)
        return pa_fail(PA_EINVAL, "%s: %s is NULL", fn, name);
    if (t->dtype != dtype)
        return pa_fail(PA_EINVAL, "%s: %s has dtype %d, expected %s", fn, name,
                       t->dtype, dtype == PA_F32 ? "PA_F32" : "PA_BOOL");
    if (t->reserved != 0)
        return pa_fail(PA_EINVAL, "%s: %s.reserved must be 0", fn, name);
    long long numel = 1;
    long long last = 0; /* offset of the last reachable element */
    for (int i = 0; i < 4; i++) {
        if (t->shape[i] < 0 || t->strides[i] < 0)
            return pa_fail(PA_EINVAL,
                           "%s: %s.shape[%d] = %lld and strides[%d] = %lld must be >= 0",
                           fn, name, i, t->shape[i], i, t->strides[i]);
        numel = t->shape[i] == 0 ? 0 : mul_add(numel, t->shape[i], 0);
        if (numel < 0)
            return pa_fail(PA_EINVAL, "%s: %s has more elements than fit in 64 bits",
                           fn, name);
    }
    if (numel == 0)
        return PA_OK;
    for (int i = 0; i < 4; i++) {
        last = mul_add(t->shape[i] - 1, t->strides[i], last);
        if (last < 0)
            return pa_fail(PA_EINVAL, "%s: %s's strides reach past 64-bit offsets",
                           fn, name);
    }
    if (t->data == NULL)
        return pa_fail(PA_EINVAL, "%s: %s.data is NULL", fn, name);
    if (last >= t->capacity)
        return pa_fail(PA_EINVAL,
                       "%s: %s's shape and strides reach element %lld, but capacity is %lld",
                       fn, name, last, t->capacity);
    if (unit_last) {
        if (t->shape[3] > 1 && t->strides[3] != 1)
            return pa_fail(PA_EINVAL, "%s: %s.strides[3] = %lld, expected 1 (contiguous rows)",
                           fn, name, t->strides[3]);
        if (t->shape[2] > 1 && t->strides[2] < t->shape[3])
            return pa_fail(PA_EINVAL, "%s: %s.strides[2] = %lld overlaps rows of %lld elements",
                           fn, name, t->strides[2], t->shape[3]);
        if (t->shape[2] > INT_MAX || t->shape[3] > INT_MAX || t->strides[2] > INT_MAX)
            return pa_fail(PA_EUNSUPPORTED,
                           "%s: %s's rows exceed the BLAS's 32-bit sizes", fn, name);
    }
    return PA_OK;
}
