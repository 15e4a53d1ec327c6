/* Helpers shared by the C robustness tests (not by test_sdpa.c). */
#ifndef PANATTN_TEST_SUPPORT_H
#define PANATTN_TEST_SUPPORT_H

#include <stdio.h>

#include "panattn.h"

extern int ts_passed, ts_failed;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (cond) {                                                   \
            ts_passed++;                                              \
        } else {                                                      \
            ts_failed++;                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);               \
            printf(__VA_ARGS__);                                      \
            printf("\n");                                             \
        }                                                             \
    } while (0)

/* Uniform in [-1, 1), never all zeros; deterministic per process. */
float ts_rand(void);

/* Applies PANATTN_MAX_ISA as the CTest runs expect: on a CPU without
 * AVX-512 the avx512 level installs the SIMDe-emulated kernels. Prints
 * the level in use. */
void ts_select_isa(const char *test_name);

/* Prints the counts; the process exit status. */
int ts_report(void);

/* A (B,H,L,D) f32 tensor over malloc'd storage of exactly its elements,
 * random or zero. */
pa_tensor ts_tensor(long long B, long long H, long long L, long long D, int random);

/* Number of elements of a tensor's shape. */
long long ts_numel(const pa_tensor *t);

#endif
