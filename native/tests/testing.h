/* Shared helpers of the C tests. */
#ifndef PANATTN_TESTING_H
#define PANATTN_TESTING_H

#include <stdio.h>

#include "panattn.h"

extern int passed, failed;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (cond) {                                                   \
            passed++;                                                 \
        } else {                                                      \
            failed++;                                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);               \
            printf(__VA_ARGS__);                                      \
            printf("\n");                                             \
        }                                                             \
    } while (0)

#define GUARD 16
#define SENTINEL 12345.0f

/* A contiguous (or permuted) f32 tensor with GUARD sentinel floats on each
 * side of its storage. */
typedef struct buf {
    float *base;
    pa_tensor t;
} buf;

/* Uniform in [-1, 1), never all zeros. */
float frand(void);

/* bhld = 0: storage (B,H,L,D); bhld = 1: storage (B,L,H,D) seen as (B,H,L,D).
 * random = 0 fills with SENTINEL. */
buf make(long long B, long long H, long long L, long long D, int bhld, int random);

/* Stores b's elements as PA_F16 or PA_BF16 in place (its strides and
 * capacity, in elements, stay): test data of half precision, each value
 * its float's truncation (any half value serves as input). */
void to_half(buf *b, int dtype);

/* True when the sentinels around b's storage are untouched. */
int guards_intact(const buf *b);

/* max |got - want| / max |want| over a tensor; got read through strides. */
double rel_error(const pa_tensor *got, const double *want);

/* True when PANATTN_TEST_QUICK is set (emulated runs): the tests skip
 * their largest shapes and compute on one thread. */
int quick_tests(void);

/* Checks that PANATTN_MAX_ISA selected its level; on a CPU without AVX-512
 * installs the SIMDe-emulated AVX-512 kernels for the avx512 level. Prints
 * the level in use. */
void select_isa(void);

#endif
