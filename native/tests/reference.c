#include <math.h>
#include <stdlib.h>

#include "reference.h"

static double at(const pa_tensor *t, long long a, long long b, long long c, long long d)
{
    long long off = a * t->strides[0] + b * t->strides[1] + c * t->strides[2] + d * t->strides[3];
    return ((const float *)t->data)[off];
}

/* Mask entry for (b,h,i,j): keeps (1/0) for boolean masks, the addend for
 * float masks. Dimensions of size 1 broadcast. */
static double mask_at(const pa_tensor *m, long long b, long long h, long long i, long long j,
                      int *keep)
{
    long long idx[4] = { b, h, i, j };
    long long off = 0;
    for (int d = 0; d < 4; d++)
        off += (m->shape[d] == 1 ? 0 : idx[d]) * m->strides[d];
    if (m->dtype == PA_BOOL) {
        *keep = ((const unsigned char *)m->data)[off] != 0;
        return 0.0;
    }
    *keep = 1;
    return ((const float *)m->data)[off];
}

void ref_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
              const pa_sdpa_options *opts, double *out, double *weights)
{
    const long long B = q->shape[0], H = q->shape[1], Lq = q->shape[2], Dk = q->shape[3];
    const long long Hkv = k->shape[1], Lk = k->shape[2], Dv = v->shape[3];
    const double scale = opts->scale != 0.0f ? opts->scale : Dk > 0 ? 1.0 / sqrt((double)Dk) : 1.0;
    double *s = malloc(sizeof(double) * (size_t)(Lk > 0 ? Lk : 1));
    int *kept = malloc(sizeof(int) * (size_t)(Lk > 0 ? Lk : 1));
    for (long long b = 0; b < B; b++)
        for (long long h = 0; h < H; h++) {
            long long kh = h / (H / Hkv);
            for (long long i = 0; i < Lq; i++) {
                double max = -INFINITY;
                int poisoned = 0;   /* a kept NaN or +Inf score: the row is NaN */
                long long shown = Lk; /* keys the causal rule shows */
                if (opts->causal == PA_CAUSAL_TOP_LEFT)
                    shown = i + 1;
                if (opts->causal == PA_CAUSAL_BOTTOM_RIGHT)
                    shown = i + 1 + Lk - Lq;
                for (long long j = 0; j < Lk; j++) {
                    double dot = 0.0;
                    for (long long d = 0; d < Dk; d++)
                        dot += at(q, b, h, i, d) * at(k, b, kh, j, d);
                    s[j] = dot * scale;
                    kept[j] = 1;
                    if (opts->mask != NULL)
                        s[j] += mask_at(opts->mask, b, h, i, j, &kept[j]);
                    if (opts->causal == PA_CAUSAL_TOP_LEFT && j > i)
                        kept[j] = 0;
                    if (opts->causal == PA_CAUSAL_BOTTOM_RIGHT && j > i + Lk - Lq)
                        kept[j] = 0;
                    if (s[j] == -INFINITY)
                        kept[j] = 0;
                    if (kept[j] && (isnan(s[j]) || s[j] == INFINITY))
                        poisoned = 1;
                    if (kept[j] && s[j] > max)
                        max = s[j];
                }
                int empty = max == -INFINITY && !poisoned;
                double sum = 0.0;
                for (long long j = 0; j < Lk; j++) {
                    s[j] = kept[j] && !poisoned ? exp(s[j] - max) : 0.0;
                    sum += s[j];
                }
                for (long long j = 0; j < Lk; j++) {
                    s[j] = poisoned ? (j < shown ? NAN : 0.0) : sum > 0.0 ? s[j] / sum : 0.0;
                    if (weights != NULL)
                        weights[((b * H + h) * Lq + i) * Lk + j] = s[j];
                }
                for (long long d = 0; d < Dv && empty; d++)
                    out[((b * H + h) * Lq + i) * Dv + d] = 0.0;
                for (long long d = 0; d < Dv && !empty; d++) {
                    double acc = 0.0;
                    for (long long j = 0; j < Lk; j++)
                        acc += s[j] * at(v, b, kh, j, d);
                    out[((b * H + h) * Lq + i) * Dv + d] = acc;
                }
            }
        }
    free(s);
    free(kept);
}
