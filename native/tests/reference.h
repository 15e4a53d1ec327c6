/* float64 references of the library's functions, written for clarity, not
 * speed. Results are contiguous doubles. */
#ifndef PANATTN_REFERENCE_H
#define PANATTN_REFERENCE_H

#include "panattn.h"

/* A PA_F16 or PA_BF16 element's value, from its sign, exponent and
 * fraction fields (NaN for every NaN): the references read half-precision
 * tensors through it, independently of the library's conversions. */
double ref_half(unsigned short bits, int dtype);

/* How a reference computes the raw score of (query i, key j). */
typedef enum ref_kind { REF_DOT, REF_ADDITIVE, REF_CONCAT } ref_kind;

typedef struct ref_rule {
    ref_kind kind;
    const pa_tensor *q, *k;     /* DOT: q, k; ADDITIVE: qp, kp; CONCAT: q, k */
    const pa_tensor *vvec;      /* ADDITIVE: NULL or (1,1,1,A) */
    const pa_tensor *w, *bias;  /* CONCAT: (1,1,Lv,Dq+Dk), NULL or (1,1,1,Lv) */
} ref_rule;

/* Attention with any rule: out (B,H,Lq,Dv), weights (B,H,Lq,Lk) if not NULL;
 * all of pa_sdpa_options applies (scale 0 means 1/sqrt(Dk) for DOT, 1 otherwise). */
void ref_attention(const ref_rule *rule, const pa_tensor *values, const pa_sdpa_options *opts,
                   double *out, double *weights);

/* Same arguments and semantics as pa_sdpa. */
void ref_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
              const pa_sdpa_options *opts, double *out, double *weights);

/* y = x . w^T + bias in double, contiguous (A, B, M, N). */
void ref_linear(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias, double *y);

/* pa_rope in double: returns x rotated, contiguous. */
void ref_rope(const pa_tensor *x, long long position, double base, int layout, double *y);

#endif
