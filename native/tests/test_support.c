/* Helpers of the C robustness and thread tests (test_support.h). */
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

int ts_report(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

pa_tensor ts_tensor(long long B, long long H, long long L, long long D, int random)
{
    pa_tensor t;
    memset(&t, 0, sizeof t);
    long long n = B * H * L * D;
    float *f = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    for (long long i = 0; random && i < n; i++)
        f[i] = ts_rand();
    t.data = f;
    t.dtype = PA_F32;
    long long shape[4] = { B, H, L, D }, strides[4] = { H * L * D, L * D, D, 1 };
    memcpy(t.shape, shape, sizeof shape);
    memcpy(t.strides, strides, sizeof strides);
    t.capacity = n;
    return t;
}

long long ts_numel(const pa_tensor *t)
{
    return t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
}
