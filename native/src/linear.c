/* Linear layer y = x . w^T + bias: one sgemm per leading index pair, or
 * per slice of it when there are fewer pairs than threads. */
#include <cblas.h>

#include "internal.h"

static const char *FN = "pa_linear";

/* One slice of one (a, b) matrix, the pool's work item: a slice of its
 * output columns when w has enough of them, so that each thread packs
 * only its own part of w (sgemm packs w on every call), else of its rows. */
typedef struct linear_job {
    const pa_tensor *x, *w, *bias, *y;
    long long slices, rows_per_slice, cols_per_slice;
    int by_cols;
} linear_job;

static int row_ld(const pa_tensor *t);

static void run_slice(void *ctx, long long item, int thread)
{
    (void)thread;
    const linear_job *j = ctx;
    const pa_tensor *x = j->x, *w = j->w, *y = j->y;
    const long long ab = item / j->slices, slice = item % j->slices;
    const long long a = ab / x->shape[1], b = ab % x->shape[1], K = x->shape[3];
    const long long m0 = j->by_cols ? 0 : slice * j->rows_per_slice;
    const long long n0 = j->by_cols ? slice * j->cols_per_slice : 0;
    const long long M = x->shape[2] - m0 < j->rows_per_slice ? x->shape[2] - m0 : j->rows_per_slice;
    const long long N = w->shape[2] - n0 < j->cols_per_slice ? w->shape[2] - n0 : j->cols_per_slice;
    if (M <= 0 || N <= 0)
        return;
    float *yp = (float *)y->data + a * y->strides[0] + b * y->strides[1] + m0 * y->strides[2] + n0;
    const int ldy = row_ld(y);
    if (K > 0) {    /* else x is empty and may have no memory to form an address in */
        const float *xp = (const float *)x->data + a * x->strides[0] + b * x->strides[1] + m0 * x->strides[2];
        const float *wp = (const float *)w->data + n0 * w->strides[2];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f,
                    xp, row_ld(x), wp, row_ld(w), 0.0f, yp, ldy);
    }
    const float *bp = j->bias != NULL ? (const float *)j->bias->data + n0 * j->bias->strides[3] : NULL;
    const long long bs = j->bias != NULL ? j->bias->strides[3] : 0;
    for (long long m = 0; m < M; m++) {
        float *row = yp + m * (long long)ldy;
        for (long long n = 0; n < N; n++)
            row[n] = (K > 0 ? row[n] : 0.0f) + (bp != NULL ? bp[n * bs] : 0.0f);
    }
}

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
    /* Slices for the pool; small layers stay on the caller. */
    const int threads = M * N * K < (1LL << 20) ? 1 : pa_num_threads();
    linear_job job = { x, w, bias, y, 1, M, N, 0 };
    if (threads > 1 && A * B < threads) {
        job.slices = threads;
        job.by_cols = N >= 64 * threads;
        if (job.by_cols)
            job.cols_per_slice = ((N + threads - 1) / threads + 15) / 16 * 16;
        else
            job.rows_per_slice = (M + threads - 1) / threads;
    }
    if (threads > 1)
        pa_parallel_for(A * B * job.slices, threads, run_slice, &job);
    else
        for (long long item = 0; item < A * B; item++)
            run_slice(&job, item, 0);
    return PA_OK;
}
