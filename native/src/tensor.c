/* Validation of pa_tensor descriptors. */
#include <limits.h>
#include <stdint.h>

#include "internal.h"

long long pa_numel(const pa_tensor *t)
{
    /* A zero first: the other sizes of an empty tensor may multiply past
     * 64 bits (a valid non-empty tensor's product fits). */
    for (int i = 0; i < 4; i++)
        if (t->shape[i] == 0)
            return 0;
    long long n = 1;
    for (int i = 0; i < 4; i++)
        n *= t->shape[i];
    return n;
}

int pa_dtype_size(int dtype)
{
    return dtype == PA_BOOL ? 1 : dtype == PA_F16 || dtype == PA_BF16 ? 2 : 4;
}

const char *pa_dtype_name(int dtype)
{
    switch (dtype) {
    case PA_F32: return "PA_F32";
    case PA_BOOL: return "PA_BOOL";
    case PA_F16: return "PA_F16";
    case PA_BF16: return "PA_BF16";
    default: return "not an enum pa_dtype value";
    }
}

static int accepts(int wanted, int dtype)
{
    return wanted == PA_ANY_FLOAT ? dtype == PA_F32 || dtype == PA_F16 || dtype == PA_BF16 : dtype == wanted;
}

/* a * b + c for non-negative operands, or -1 on overflow. */
static long long mul_add(long long a, long long b, long long c)
{
    if (a != 0 && b > (LLONG_MAX - c) / a)
        return -1;
    return a * b + c;
}

/* Offset of the last element a non-empty validated tensor reaches. */
static long long last_offset(const pa_tensor *t)
{
    long long last = 0;
    for (int i = 0; i < 4; i++)
        last += (t->shape[i] - 1) * t->strides[i];
    return last;
}

int pa_check_tensor(const char *fn, const char *name, const pa_tensor *t,
                    int dtype, int unit_last)
{
    if (t == NULL)
        return pa_fail(PA_EINVAL, "%s: %s is NULL", fn, name);
    if (!accepts(dtype, t->dtype))
        return pa_fail(PA_EINVAL, "%s: %s has dtype %d (%s), expected %s", fn, name, t->dtype,
                       pa_dtype_name(t->dtype),
                       dtype == PA_ANY_FLOAT ? "PA_F32, PA_F16 or PA_BF16" : pa_dtype_name(dtype));
    if (t->reserved != 0)
        return pa_fail(PA_EINVAL, "%s: %s.reserved must be 0", fn, name);
    /* A zero anywhere makes the tensor empty: its size is 0, not an
     * overflow, whatever the order of its dimensions. */
    int empty = 0;
    for (int i = 0; i < 4; i++) {
        if (t->shape[i] < 0 || t->strides[i] < 0)
            return pa_fail(PA_EINVAL,
                           "%s: %s.shape[%d] = %lld and strides[%d] = %lld must be >= 0",
                           fn, name, i, t->shape[i], i, t->strides[i]);
        empty |= t->shape[i] == 0;
    }
    if (unit_last && (t->shape[2] > INT_MAX || t->shape[3] > INT_MAX))
        return pa_fail(PA_EUNSUPPORTED, "%s: %s's rows exceed the BLAS's 32-bit sizes", fn, name);
    if (empty)
        return PA_OK;
    long long numel = 1;
    long long last = 0; /* offset of the last reachable element */
    for (int i = 0; i < 4; i++) {
        numel = mul_add(numel, t->shape[i], 0);
        if (numel < 0)
            return pa_fail(PA_EINVAL, "%s: %s has more elements than fit in 64 bits",
                           fn, name);
    }
    for (int i = 0; i < 4; i++) {
        last = mul_add(t->shape[i] - 1, t->strides[i], last);
        if (last < 0)
            return pa_fail(PA_EINVAL, "%s: %s's strides reach past 64-bit offsets",
                           fn, name);
    }
    if (t->data == NULL)
        return pa_fail(PA_EINVAL, "%s: %s.data is NULL", fn, name);
    const int size = pa_dtype_size(t->dtype);
    if ((uintptr_t)t->data % (uintptr_t)size != 0)
        return pa_fail(PA_EINVAL, "%s: %s.data = %p is not aligned to its %d-byte elements",
                       fn, name, t->data, size);
    if (last >= t->capacity)
        return pa_fail(PA_EINVAL,
                       "%s: %s's shape and strides reach element %lld, but capacity is %lld",
                       fn, name, last, t->capacity);
    if ((uintptr_t)last > (UINTPTR_MAX - (uintptr_t)t->data) / (uintptr_t)size)
        return pa_fail(PA_EINVAL, "%s: %s reaches past the end of the address space", fn, name);
    if (unit_last) {
        if (t->shape[3] > 1 && t->strides[3] != 1)
            return pa_fail(PA_EINVAL, "%s: %s.strides[3] = %lld, expected 1 (contiguous rows)",
                           fn, name, t->strides[3]);
        if (t->shape[2] > 1 && t->strides[2] < t->shape[3])
            return pa_fail(PA_EINVAL, "%s: %s.strides[2] = %lld overlaps rows of %lld elements",
                           fn, name, t->strides[2], t->shape[3]);
        if (t->strides[2] > INT_MAX)
            return pa_fail(PA_EUNSUPPORTED,
                           "%s: %s's rows exceed the BLAS's 32-bit sizes", fn, name);
    }
    return PA_OK;
}

int pa_load_tensor(const char *fn, const char *name, const pa_tensor *t, pa_tensor *copy,
                   int dtype, int unit_last)
{
    if (t == NULL)
        return pa_fail(PA_EINVAL, "%s: %s is NULL", fn, name);
    *copy = *t;
    int rc = pa_check_tensor(fn, name, copy, dtype, unit_last);
    if (rc != PA_OK)
        return rc;
    int empty = pa_numel(copy) == 0;
    for (int i = 0; i < 4; i++)
        if (empty || copy->shape[i] <= 1)
            copy->strides[i] = 0;
    return PA_OK;
}

int pa_check_distinct_elements(const char *fn, const char *name, const pa_tensor *t)
{
    /* Sufficient condition: taking the stepped dimensions by increasing
     * stride, each stride exceeds the largest offset the smaller ones reach.
     * Every permutation of a dense or row-padded layout passes. */
    int order[4], n = 0;
    if (pa_numel(t) == 0)
        return PA_OK;
    for (int i = 0; i < 4; i++)
        if (t->shape[i] > 1)
            order[n++] = i;
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && t->strides[order[b]] < t->strides[order[b - 1]]; b--) {
            int swap = order[b]; order[b] = order[b - 1]; order[b - 1] = swap;
        }
    long long reach = 0;
    for (int a = 0; a < n; a++) {
        int d = order[a];
        if (t->strides[d] <= reach)
            return pa_fail(PA_EINVAL,
                           "%s: %s.strides[%d] = %lld makes elements share memory "
                           "(an output needs a distinct place for every element)",
                           fn, name, d, t->strides[d]);
        reach += (t->shape[d] - 1) * t->strides[d];
    }
    return PA_OK;
}

int pa_check_disjoint(const char *fn, const char *name, const pa_tensor *t,
                      const char *other_name, const pa_tensor *other)
{
    if (pa_numel(t) == 0 || pa_numel(other) == 0)
        return PA_OK;
    uintptr_t a = (uintptr_t)t->data, b = (uintptr_t)other->data;
    uintptr_t a_end = a + (uintptr_t)(last_offset(t) + 1) * (uintptr_t)pa_dtype_size(t->dtype);
    uintptr_t b_end = b + (uintptr_t)(last_offset(other) + 1) * (uintptr_t)pa_dtype_size(other->dtype);
    if (a < b_end && b < a_end)
        return pa_fail(PA_EINVAL, "%s: %s shares memory with %s (an output must not "
                       "overlap an input or another output)", fn, name, other_name);
    return PA_OK;
}
