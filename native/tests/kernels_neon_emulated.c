/* The NEON kernels built against SIMDe's portable NEON (the target defines
 * PANATTN_EMULATE_NEON), so the C tests exercise their logic on CPUs that
 * are not aarch64. */
#include "kernels_neon.c"
