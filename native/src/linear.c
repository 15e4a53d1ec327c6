/* Linear layer y = x . w^T + bias: one sgemm per leading index pair. */
#include <cblas.h>

#include "internal.h"

static const char *FN = "pa_linear";

static int row_ld(const pa_tensor *t)
{
    return (int)(t->strides[2] > t->shape[3] ? t->strides[2] : t->shape[3] > 0 ? t->shape[3] : 1);
}

int pa_linear(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias, const pa_tensor *y)
{
    int rc;
    pa_tensor xc, wc, yc, bc;  /* checked copies of the caller's descriptors */
    if ((rc = pa_load_tensor(FN, "x", x, &xc, PA_F32, 1)) != PA_OK ||
        (rc = pa_load_tensor(FN, "w", w, &wc, PA_F32, 1)) != PA_OK ||
        (rc = pa_load_tensor(FN, "y", y, &yc, PA_F32, 1)) != PA_OK ||
        (bias != NULL && (rc = pa_load_tensor(FN, "bias", bias, &bc, PA_F32, 1)) != PA_OK))
        return rc;
    x = &xc;
    w = &wc;
    y = &yc;
    bias = bias != NULL ? &bc : NULL;
    if ((rc = pa_check_distinct_elements(FN, "y", y)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "y", y, "x", x)) != PA_OK ||
        (rc = pa_check_disjoint(FN, "y", y, "w", w)) != PA_OK ||
        (bias != NULL && (rc = pa_check_disjoint(FN, "y", y, "bias", bias)) != PA_OK))
        return rc;
    const long long A = x->shape[0], B = x->shape[1], M = x->shape[2], K = x->shape[3];
    const long long N = w->shape[2];
    if (w->shape[0] != 1 || w->shape[1] != 1 || w->shape[3] != K)
        return pa_fail(PA_EINVAL, "%s: w has shape (%lld, %lld, %lld, %lld), expected (1, 1, N, %lld)",
                       FN, w->shape[0], w->shape[1], w->shape[2], w->shape[3], K);
    if (bias != NULL && (bias->shape[0] != 1 || bias->shape[1] != 1 || bias->shape[2] != 1
                         || bias->shape[3] != N))
        return pa_fail(PA_EINVAL, "%s: bias has shape (%lld, %lld, %lld, %lld), expected (1, 1, 1, %lld)",
                       FN, bias->shape[0], bias->shape[1], bias->shape[2], bias->shape[3], N);
    if (y->shape[0] != A || y->shape[1] != B || y->shape[2] != M || y->shape[3] != N)
        return pa_fail(PA_EINVAL, "%s: y has shape (%lld, %lld, %lld, %lld), expected (%lld, %lld, %lld, %lld)",
                       FN, y->shape[0], y->shape[1], y->shape[2], y->shape[3], A, B, M, N);
    if (M == 0 || N == 0)
        return PA_OK;
    pa_active_kernels(); /* first use: BLAS set to one thread */
    const float *bp = bias != NULL ? bias->data : NULL;
    for (long long a = 0; a < A; a++)
        for (long long b = 0; b < B; b++) {
            const float *xp = (const float *)x->data + a * x->strides[0] + b * x->strides[1];
            float *yp = (float *)y->data + a * y->strides[0] + b * y->strides[1];
            const int ldy = row_ld(y);
            if (K > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f,
                            xp, row_ld(x), w->data, row_ld(w), 0.0f, yp, ldy);
            for (long long m = 0; m < M; m++) {
                float *row = yp + m * (long long)ldy;
                for (long long n = 0; n < N; n++)
                    row[n] = (K > 0 ? row[n] : 0.0f) + (bp != NULL ? bp[n * bias->strides[3]] : 0.0f);
            }
        }
    return PA_OK;
}
