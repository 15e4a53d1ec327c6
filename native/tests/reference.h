/* A float64 reference of pa_sdpa, written for clarity, not speed. */
#ifndef PANATTN_REFERENCE_H
#define PANATTN_REFERENCE_H

#include "panattn.h"

/* Same arguments and semantics as pa_sdpa; writes double results to
 * out (B,H,Lq,Dv) and, if weights != NULL, weights (B,H,Lq,Lk), both
 * contiguous. */
void ref_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
              const pa_sdpa_options *opts, double *out, double *weights);

/* y = x . w^T + bias in double, contiguous (A, B, M, N). */
void ref_linear(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias, double *y);

#endif
