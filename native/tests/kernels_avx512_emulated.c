/* The AVX-512 kernels built against SIMDe's portable AVX-512 (the target
 * defines PANATTN_EMULATE_AVX512), so the C tests exercise their logic on
 * CPUs without AVX-512. */
#include "kernels_avx512.c"
