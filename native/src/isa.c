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

#if defined(PANATTN_X86) && defined(_MSC_VER) && !defined(__clang__)
#  include <intrin.h>
#  define PA_X86_CPUID_MSVC
#elif defined(PANATTN_X86) && (defined(__GNUC__) || defined(__clang__))
#  include <cpuid.h>
#endif
#if defined(_WIN32)
#  include <windows.h>
#else
#  include <pthread.h>
#endif

#include "internal.h"

/* This architecture's levels, lowest first (enum pa_isa values increase
 * along each list, so a cap is the smaller of two values). */
#if defined(PANATTN_X86)
static const int levels[] = { PA_ISA_SCALAR, PA_ISA_AVX2, PA_ISA_AVX512 };
static const char ARCH[] = "x86-64";
#elif defined(PANATTN_AARCH64)
static const int levels[] = { PA_ISA_SCALAR, PA_ISA_NEON };
static const char ARCH[] = "aarch64";
#else
static const int levels[] = { PA_ISA_SCALAR };
static const char ARCH[] = "this architecture";
#endif
#define LEVELS ((int)(sizeof levels / sizeof levels[0]))

static int is_level_here(int level)
{
    for (int i = 0; i < LEVELS; i++)
        if (levels[i] == level)
            return 1;
    return 0;
}

#if defined(PA_X86_CPUID_MSVC)
/* MSVC has no __builtin_cpu_supports: CPUID says what the CPU has, XGETBV
 * whether the OS saves the registers those instructions use. */
static int detect_x86_msvc(void)
{
    int r[4];
    __cpuid(r, 0);
    if (r[0] < 7)
        return PA_ISA_SCALAR;
    __cpuid(r, 1);
    const int fma = r[2] >> 12 & 1, osxsave = r[2] >> 27 & 1, avx = r[2] >> 28 & 1, f16c = r[2] >> 29 & 1;
    if (!fma || !osxsave || !avx || !f16c)
        return PA_ISA_SCALAR;
    const unsigned long long xcr0 = _xgetbv(0);
    if ((xcr0 & 0x6) != 0x6)            /* XMM and YMM state */
        return PA_ISA_SCALAR;
    __cpuidex(r, 7, 0);
    if ((r[1] >> 16 & 1) && (xcr0 & 0xE6) == 0xE6)  /* AVX-512F; opmask and ZMM state */
        return PA_ISA_AVX512;
    return r[1] >> 5 & 1 ? PA_ISA_AVX2 : PA_ISA_SCALAR;
}
#endif

#if defined(PANATTN_X86) && !defined(PA_X86_CPUID_MSVC) && (defined(__GNUC__) || defined(__clang__))
/* F16C: CPUID leaf 1, ECX bit 29. Asked of CPUID itself, since clang's
 * __builtin_cpu_supports does not know "f16c". */
static int has_f16c(void)
{
    unsigned int a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
}
#endif

static int detect_supported(void)
{
#if defined(PA_X86_CPUID_MSVC)
    return detect_x86_msvc();
#elif defined(PANATTN_X86) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return PA_ISA_AVX512;
    /* The AVX2 kernels widen half-precision inputs with F16C, which every
     * AVX2 CPU made so far has; one without it runs the scalar kernels. */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
        return PA_ISA_AVX2;
    return PA_ISA_SCALAR;
#elif defined(PANATTN_AARCH64)
    /* The aarch64 ABIs of Linux, macOS and Windows require Advanced SIMD
     * (floating-point arguments travel in its registers). */
    return PA_ISA_NEON;
#else
    return PA_ISA_SCALAR;
#endif
}

static const pa_kernels *table_for(int level)
{
    switch (level) {
#if defined(PANATTN_X86)
    case PA_ISA_AVX512: return &pa_kernels_avx512;
    case PA_ISA_AVX2: return &pa_kernels_avx2;
#endif
#if defined(PANATTN_AARCH64)
    case PA_ISA_NEON: return &pa_kernels_neon;
#endif
    default: return &pa_kernels_scalar;
    }
}

/* Level named by PANATTN_MAX_ISA if it is one of this architecture's, else
 * the highest level (no cap). */
static int env_cap(void)
{
    const char *cap = getenv("PANATTN_MAX_ISA");
    if (cap != NULL)
        for (int i = 0; i < LEVELS; i++)
            if (strcmp(cap, pa_isa_name(levels[i])) == 0)
                return levels[i];
    return levels[LEVELS - 1];
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
    if (level < PA_ISA_SCALAR || level > PA_ISA_NEON)
        return pa_fail(PA_EINVAL,
                       "pa_set_max_isa: level %d is not an enum pa_isa value "
                       "(0 scalar, 1 avx2, 2 avx512, 3 neon)", level);
    if (!is_level_here(level))
        return pa_fail(PA_EUNSUPPORTED,
                       "pa_set_max_isa: %s is not a level of %s, where this library runs",
                       pa_isa_name(level), ARCH);
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
    case PA_ISA_NEON: return "neon";
    default: return "unknown";
    }
}
