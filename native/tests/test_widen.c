/*
 * C tests of the kernels that widen half-precision storage (PA_F16,
 * PA_BF16) to float, at the ISA level PANATTN_MAX_ISA selects (CTest runs
 * every level), and on the SIMDe-emulated tables the tests were built
 * with: every one of the 65536 bit patterns of each type against the
 * reference's field-by-field conversion, and every length up to a few
 * vectors at odd offsets, from a source allocated to its exact size (so
 * the sanitizers and valgrind catch a read past it) into a destination
 * between sentinels (so a write past it fails here).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "panattn.h"
#include "reference.h"
#include "testing.h"

static const char *dtype_name(int dtype) { return dtype == PA_F16 ? "f16" : "bf16"; }

/* The float equals the reference's value: NaN for NaN, and the sign of a zero too. */
static int same(float got, double want)
{
    if (isnan(want))
        return isnan(got);
    return (double)got == want && !signbit(got) == !signbit(want);
}

static void test_every_value(const pa_kernels *k, const char *level, int dtype)
{
    const long long n = 65536;
    unsigned short *src = malloc(sizeof(unsigned short) * (size_t)n);
    float *dst = malloc(sizeof(float) * (size_t)n);
    for (long long i = 0; i < n; i++)
        src[i] = (unsigned short)i;
    k->widen(dst, src, n, dtype);
    int wrong = 0;
    for (long long i = 0; i < n; i++)
        if (!same(dst[i], ref_half(src[i], dtype)) && wrong++ < 5)
            printf("  %s %s 0x%04llx: got %a, expected %a\n", level, dtype_name(dtype), i, (double)dst[i],
                   ref_half(src[i], dtype));
    CHECK(wrong == 0, "%s %s: %d of the 65536 values widened wrongly", level, dtype_name(dtype), wrong);
    free(src);
    free(dst);
}

/* Lengths 0 to 70 (tails of every size after 0 to 4 whole vectors of 16,
 * 8 or 4 lanes), with the source and the destination each one element off
 * their allocation's alignment or not. */
static void test_tails(const pa_kernels *k, const char *level, int dtype)
{
    for (long long n = 0; n <= 70; n++)
        for (int src_off = 0; src_off < 2; src_off++)
            for (int dst_off = 0; dst_off < 2; dst_off++) {
                const long long count = n + src_off;   /* malloc(0) may return NULL */
                unsigned short *src = malloc(sizeof(unsigned short) * (size_t)(count > 0 ? count : 1));
                float *dst = malloc(sizeof(float) * (size_t)(n + dst_off + 2 * GUARD));
                for (long long i = 0; i < n; i++)   /* random patterns, NaN and infinities included */
                    src[src_off + i] = (unsigned short)((frand() + 1.0f) * 32768.0f);
                for (long long i = 0; i < n + dst_off + 2 * GUARD; i++)
                    dst[i] = SENTINEL;
                float *out = dst + GUARD + dst_off;
                k->widen(out, src + src_off, n, dtype);
                int wrong = 0, outside = 0;
                for (long long i = 0; i < n; i++)
                    wrong += !same(out[i], ref_half(src[src_off + i], dtype));
                for (long long i = 0; i < GUARD + dst_off; i++)
                    outside += dst[i] != SENTINEL;
                for (long long i = 0; i < GUARD; i++)
                    outside += out[n + i] != SENTINEL;
                CHECK(wrong == 0 && outside == 0, "%s %s n=%lld offsets %d/%d: %d wrong, %d written outside",
                      level, dtype_name(dtype), n, src_off, dst_off, wrong, outside);
                free(src);
                free(dst);
            }
}

static void test_table(const pa_kernels *k, const char *level)
{
    CHECK(k->widen != NULL, "%s has a widen kernel", level);
    if (k->widen == NULL)
        return;
    for (int dtype = PA_F16; dtype <= PA_BF16; dtype++) {
        test_every_value(k, level, dtype);
        test_tails(k, level, dtype);
    }
}

int main(void)
{
    select_isa();
    test_table(pa_active_kernels(), pa_isa_name(pa_isa()));
#if defined(PANATTN_EMULATE_AVX512)
    test_table(&pa_kernels_avx512_emulated, "avx512 (SIMDe)");
#endif
#if defined(PANATTN_EMULATE_NEON)
    test_table(&pa_kernels_neon_emulated, "neon (SIMDe)");
#endif
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
