/* The AVX-512 kernels built against SIMDe's portable AVX-512 (the target
 * defines PANATTN_EMULATE_AVX512), so the C tests exercise their logic on
 * CPUs without AVX-512. */
/* MinGW's C runtime lacks roundevenf, which SIMDe reaches through GCC's
 * builtin; nearbyintf rounds half to even too in the default mode. */
#if defined(__MINGW32__)
#  include <math.h>
#  define simde_math_roundevenf(v) nearbyintf(v)
#endif
#include "kernels_avx512.c"
