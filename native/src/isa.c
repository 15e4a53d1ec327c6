/*
 * CPU feature detection and the choice of kernel table. Compiled without
 * ISA flags, so it runs on any CPU of the architecture.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int detect_supported(void)
{
#if defined(PANATTN_X86) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return PA_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return PA_ISA_AVX2;
#endif
    return PA_ISA_SCALAR;
}

static const pa_kernels *table_for(int level)
{
    switch (level) {
#if defined(PANATTN_X86)
    case PA_ISA_AVX512: return &pa_kernels_avx512;
    case PA_ISA_AVX2: return &pa_kernels_avx2;
#endif
    default: return &pa_kernels_scalar;
    }
}

/* Level named by PANATTN_MAX_ISA, or the highest level when unset. */
static int env_cap(void)
{
    const char *cap = getenv("PANATTN_MAX_ISA");
    if (cap == NULL || *cap == '\0')
        return PA_ISA_AVX512;
    for (int level = PA_ISA_SCALAR; level <= PA_ISA_AVX512; level++)
        if (strcmp(cap, pa_isa_name(level)) == 0)
            return level;
    return PA_ISA_AVX512;
}

static int min_int(int a, int b) { return a < b ? a : b; }

/* Written once by the first caller (every racing caller computes the same
 * table), and afterwards only by pa_set_max_isa. */
static _Atomic(const pa_kernels *) active;

const pa_kernels *pa_active_kernels(void)
{
    const pa_kernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (k == NULL) {
        pa_blas_init();
        k = table_for(min_int(detect_supported(), env_cap()));
        const pa_kernels *expected = NULL;
        if (!atomic_compare_exchange_strong(&active, &expected, k))
            k = expected;
    }
    return k;
}

int pa_isa(void) { return pa_active_kernels()->isa; }

int pa_isa_supported(void) { return detect_supported(); }

int pa_set_max_isa(int level)
{
    if (level < PA_ISA_SCALAR || level > PA_ISA_AVX512)
        return pa_fail(PA_EINVAL,
                       "pa_set_max_isa: level %d is not an enum pa_isa value "
                       "(0 scalar, 1 avx2, 2 avx512)", level);
    pa_install_kernels(table_for(min_int(detect_supported(), level)));
    return PA_OK;
}

void pa_install_kernels(const pa_kernels *table)
{
    pa_active_kernels();
    atomic_store_explicit(&active, table, memory_order_release);
}

const char *pa_isa_name(int level)
{
    switch (level) {
    case PA_ISA_SCALAR: return "scalar";
    case PA_ISA_AVX2: return "avx2";
    case PA_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}
