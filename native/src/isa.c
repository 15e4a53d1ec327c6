/*
 * CPU feature detection and the choice of kernel table. Compiled without
 * ISA flags, so it runs on any CPU of the architecture.
 *
 * Global state: the CPU's level and the initial table are computed exactly
 * once (pthread_once / InitOnceExecuteOnce), together with the BLAS setup,
 * and never change afterwards. The only later write is pa_set_max_isa, a
 * documented test hook, through an atomic pointer.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#  include <windows.h>
#else
#  include <pthread.h>
#endif

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

/* Written once, inside initialise(); read-only afterwards. */
static int supported;
/* Set by initialise(), then only by pa_set_max_isa / pa_install_kernels. */
static _Atomic(const pa_kernels *) active;

static void initialise(void)
{
    pa_blas_init();
    supported = detect_supported();
    atomic_store_explicit(&active, table_for(min_int(supported, env_cap())),
                          memory_order_release);
}

#if defined(_WIN32)
static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static BOOL CALLBACK initialise_win(PINIT_ONCE o, PVOID p, PVOID *c)
{
    (void)o; (void)p; (void)c;
    initialise();
    return TRUE;
}
static void ensure_initialised(void) { InitOnceExecuteOnce(&once, initialise_win, NULL, NULL); }
#else
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void ensure_initialised(void) { pthread_once(&once, initialise); }
#endif

const pa_kernels *pa_active_kernels(void)
{
    ensure_initialised();
    return atomic_load_explicit(&active, memory_order_acquire);
}

int pa_isa(void) { return pa_active_kernels()->isa; }

int pa_isa_supported(void)
{
    ensure_initialised();
    return supported;
}

int pa_set_max_isa(int level)
{
    if (level < PA_ISA_SCALAR || level > PA_ISA_AVX512)
        return pa_fail(PA_EINVAL,
                       "pa_set_max_isa: level %d is not an enum pa_isa value "
                       "(0 scalar, 1 avx2, 2 avx512)", level);
    pa_install_kernels(table_for(min_int(pa_isa_supported(), level)));
    return PA_OK;
}

void pa_install_kernels(const pa_kernels *table)
{
    ensure_initialised();
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
