/* The NEON kernels built against SIMDe's portable NEON (the target defines
 * PANATTN_EMULATE_NEON), so the C tests exercise their logic on CPUs that
 * are not aarch64. */
/* MinGW's C runtime lacks roundevenf, which SIMDe reaches through GCC's
 * builtin; nearbyintf rounds half to even too in the default mode. */
#if defined(__MINGW32__)
#  include <math.h>
#  define simde_math_roundevenf(v) nearbyintf(v)
#endif
#include "kernels_neon.c"
