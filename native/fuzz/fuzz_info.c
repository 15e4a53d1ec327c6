/*
 * libFuzzer harness for the small entry points: pa_status_name,
 * pa_isa_name, pa_set_max_isa and pa_set_num_threads with any int, and
 * pa_version, pa_last_error, pa_blas_info, pa_isa, pa_isa_supported,
 * pa_num_threads, pa_blas_threads. Each string must be a NUL-terminated
 * text (AddressSanitizer checks the reads); the ISA cap and the thread
 * count must be applied or refused as documented, and the BLAS must run
 * one thread per call (or not tell).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_input.h"
#include "panattn.h"

static void trap_if(int bad) { if (bad) __builtin_trap(); }

static void text(const char *s) { trap_if(s == NULL || strlen(s) > 4096); }

/* A count is applied (0: one per CPU) or refused with a message, leaving
 * the pool as it was; any count up to 64 is accepted. */
static void set_threads(int x)
{
    const int before = pa_num_threads();
    int rc = pa_set_num_threads(x);
    if (rc == PA_OK) {
        trap_if(x < 0 || (x > 0 && pa_num_threads() != x) || pa_num_threads() < 1);
    } else {
        trap_if(rc != PA_EINVAL || strstr(pa_last_error(), "pa_set_num_threads") == NULL);
        trap_if(pa_num_threads() != before || (x >= 0 && x <= 64));
    }
    int blas = pa_blas_threads();
    trap_if(blas != 0 && blas != 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = { data, size };
    while (r.n > 0) {
        int x = (int)read_u32(&r);
        text(pa_status_name(x));
        text(pa_isa_name(x));
        int rc = pa_set_max_isa(x);
#if defined(__x86_64__) || defined(_M_X64)
        const int here = x >= PA_ISA_SCALAR && x <= PA_ISA_AVX512;
#elif defined(__aarch64__) || defined(_M_ARM64)
        const int here = x == PA_ISA_SCALAR || x == PA_ISA_NEON;
#else
        const int here = x == PA_ISA_SCALAR;
#endif
        if (here) {
            int want = x < pa_isa_supported() ? x : pa_isa_supported();
            trap_if(rc != PA_OK || pa_isa() != want);
        } else if (x >= PA_ISA_SCALAR && x <= PA_ISA_NEON) {
            /* another architecture's level */
            trap_if(rc != PA_EUNSUPPORTED || strstr(pa_last_error(), "pa_set_max_isa") == NULL);
        } else {
            trap_if(rc != PA_EINVAL || strstr(pa_last_error(), "pa_set_max_isa") == NULL);
        }
        text(pa_last_error());
        set_threads(x);
        text(pa_version());
        text(pa_blas_info());
    }
    return 0;
}
