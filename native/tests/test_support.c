#include "test_support.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ts_passed, ts_failed;

static unsigned long long rng = 0x2545F4914F6CDD1Dull;

float ts_rand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

void ts_select_isa(const char *test_name)
{
    const char *cap = getenv("PANATTN_MAX_ISA");
    const char *how = "native";
    if (cap != NULL && strcmp(cap, "avx512") == 0 && pa_isa_supported() < PA_ISA_AVX512) {
#if defined(PANATTN_EMULATE_AVX512)
        pa_install_kernels(&pa_kernels_avx512_emulated);
        how = "emulated by SIMDe";
#else
        CHECK(0, "this CPU lacks AVX-512 and SIMDe was not found to emulate it");
#endif
    }
    printf("%s: ISA %s (%s; CPU supports %s)\n", test_name, pa_isa_name(pa_isa()), how,
           pa_isa_name(pa_isa_supported()));
}

int ts_report(void)
{
    printf("%d passed, %d failed\n", ts_passed, ts_failed);
    return ts_failed == 0 ? 0 : 1;
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
