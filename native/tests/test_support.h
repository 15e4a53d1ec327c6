/* Helpers of the C robustness and thread tests, on top of testing.h. */
#ifndef PANATTN_TEST_SUPPORT_H
#define PANATTN_TEST_SUPPORT_H

#include "testing.h"

/* Uniform in [-1, 1), never all zeros; deterministic per process. */
#define ts_rand frand

/* Applies PANATTN_MAX_ISA as the CTest runs expect (testing.h). */
#define ts_select_isa(test_name) select_isa()

/* Prints the counts; the process exit status. */
int ts_report(void);

/* A (B,H,L,D) f32 tensor over malloc'd storage of exactly its elements,
 * random or zero. */
pa_tensor ts_tensor(long long B, long long H, long long L, long long D, int random);

/* Number of elements of a tensor's shape. */
long long ts_numel(const pa_tensor *t);

#endif
