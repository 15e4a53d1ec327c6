/* What the library knows of its BLAS. */
#include "internal.h"

#if defined(PANATTN_OPENBLAS)
char *openblas_get_config(void);
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif

void pa_blas_init(void)
{
#if defined(PANATTN_OPENBLAS)
    openblas_set_num_threads(1);
#endif
}

const char *pa_blas_info(void)
{
#if defined(PANATTN_OPENBLAS)
    return openblas_get_config();
#elif defined(PANATTN_BLAS_NAME)
    return PANATTN_BLAS_NAME;
#else
    return "unknown BLAS";
#endif
}

int pa_blas_threads(void)
{
#if defined(PANATTN_OPENBLAS)
    pa_blas_init();  /* as the library's initialisation does: asking must not depend on it */
    return openblas_get_num_threads();
#else
    return 0;
#endif
}
