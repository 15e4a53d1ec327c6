#include <math.h>
#include <stdlib.h>

#include "reference.h"

double ref_half(unsigned short bits, int dtype)
{
    const int negative = bits >> 15;
    /* binary16: 5 exponent bits (bias 15), 10 fraction bits; bfloat16: 8 (bias 127), 7. */
    const int fraction_bits = dtype == PA_BF16 ? 7 : 10, bias = dtype == PA_BF16 ? 127 : 15;
    const int exponent = (bits & 0x7FFF) >> fraction_bits, top = (1 << (15 - fraction_bits)) - 1;
    const int fraction = bits & ((1 << fraction_bits) - 1);
    double x;
    if (exponent == top)
        x = fraction != 0 ? NAN : INFINITY;
    else if (exponent == 0)
        x = ldexp(fraction, 1 - bias - fraction_bits);
    else
        x = ldexp(fraction + (1 << fraction_bits), exponent - bias - fraction_bits);
    return negative ? -x : x;
}

static double at(const pa_tensor *t, long long a, long long b, long long c, long long d)
{
    long long off = a * t->strides[0] + b * t->strides[1] + c * t->strides[2] + d * t->strides[3];
    if (t->dtype == PA_F16 || t->dtype == PA_BF16)
        return ref_half(((const unsigned short *)t->data)[off], t->dtype);
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

/* T5's bucket, written from the T5 paper's code. */
static long long bucket(long long d, long long buckets, int bidirectional, int max_distance)
{
    long long ret = 0, n = -d;
    if (bidirectional) {
        buckets /= 2;
        ret += n < 0 ? buckets : 0;
        n = llabs(n);
    } else {
        n = n > 0 ? n : 0;
    }
    long long max_exact = buckets / 2;
    if (n < max_exact)
        return ret + n;
    if (n >= max_distance || max_exact == 0)    /* as panattn.h words it: the last bucket */
        return ret + buckets - 1;
    long long large = max_exact + (long long)(log((double)n / max_exact) / log((double)max_distance / max_exact)
                                              * (buckets - max_exact));
    return ret + (large < buckets - 1 ? large : buckets - 1);
}

static double raw_score(const ref_rule *r, long long b, long long h, long long kh, long long i,
                        long long j, const pa_sdpa_options *o)
{
    double s = 0.0;
    if (r->kind == REF_DOT) {
        long long D = r->q->shape[3];
        for (long long d = 0; d < D; d++)
            s += at(r->q, b, h, i, d) * at(r->k, b, kh, j, d);
        return s * (o->scale != 0.0f ? o->scale : D > 0 ? 1.0 / sqrt((double)D) : 1.0);
    }
    if (r->kind == REF_ADDITIVE) {
        for (long long a = 0; a < r->q->shape[3]; a++)
            s += (r->vvec != NULL ? at(r->vvec, 0, 0, 0, a) : 1.0)
               * tanh(at(r->q, b, h, i, a) + at(r->k, b, kh, j, a));
    } else {
        long long Dq = r->q->shape[3];
        s = r->bias != NULL ? at(r->bias, 0, 0, 0, j) : 0.0;
        for (long long d = 0; d < Dq; d++)
            s += at(r->w, 0, 0, j, d) * at(r->q, b, h, i, d);
        for (long long d = 0; d < r->k->shape[3]; d++)
            s += at(r->w, 0, 0, j, Dq + d) * at(r->k, b, h, i, d);
    }
    return s * (o->scale != 0.0f ? o->scale : 1.0);
}

/* Whether the causal rule, the window and the key length n show key j to
 * query i; the differences are taken before any comparison, as none of
 * them can overflow. */
static int shows(const pa_sdpa_options *o, long long i, long long j, long long n, long long Lq)
{
    const long long pos = o->causal == PA_CAUSAL_BOTTOM_RIGHT ? i + n - Lq : i;
    if (j >= n || (o->causal != PA_CAUSAL_NONE && j > pos))
        return 0;
    if (o->window > 0 && pos - j >= o->window)
        return 0;
    if (o->window_extents && o->window_left >= 0 && pos - j > o->window_left)
        return 0;
    if (o->window_extents && o->window_right >= 0 && j - pos > o->window_right)
        return 0;
    return 1;
}

void ref_attention(const ref_rule *r, const pa_tensor *v, const pa_sdpa_options *opts,
                   double *out, double *weights)
{
    const long long B = r->q->shape[0], H = r->q->shape[1], Lq = r->q->shape[2];
    const long long Hkv = v->shape[1], Lk = v->shape[2], Dv = v->shape[3];
    double *s = malloc(sizeof(double) * (size_t)(Lk > 0 ? Lk : 1));
    int *kept = malloc(sizeof(int) * (size_t)(Lk > 0 ? Lk : 1));
    for (long long b = 0; b < B; b++)
        for (long long h = 0; h < H; h++) {
            long long kh = h / (H / Hkv);
            /* The batch row's keys: it is computed as if Lk were n. */
            const long long n = opts->key_lengths != NULL ? opts->key_lengths[b] : Lk;
            for (long long i = 0; i < Lq; i++) {
                /* The query's position on the key axis. */
                long long pos = opts->causal == PA_CAUSAL_BOTTOM_RIGHT ? i + n - Lq : i;
                double max = -INFINITY;
                int poisoned = 0; /* a kept NaN or +Inf score: the row is NaN */
                for (long long j = 0; j < Lk; j++) {
                    s[j] = raw_score(r, b, h, kh, i, j, opts);
                    long long d = j - pos;
                    if (opts->softcap > 0.0f)
                        s[j] = opts->softcap * tanh(s[j] / opts->softcap);
                    if (opts->alibi_slopes != NULL)
                        s[j] -= at(opts->alibi_slopes, 0, 0, 0, h) * (double)llabs(d);
                    if (opts->rel_bias != NULL)
                        s[j] += at(opts->rel_bias, 0, 0, h,
                                   bucket(d, opts->rel_bias->shape[3], opts->rel_bidirectional,
                                          opts->rel_max_distance));
                    int keep2 = 1;
                    kept[j] = 1;
                    if (opts->mask != NULL)
                        s[j] += mask_at(opts->mask, b, h, i, j, &kept[j]);
                    if (opts->key_padding != NULL)
                        s[j] += mask_at(opts->key_padding, b, h, i, j, &keep2);
                    kept[j] = kept[j] && keep2 && shows(opts, i, j, n, Lq);
                    if (s[j] == -INFINITY)
                        kept[j] = 0;
                    if (kept[j] && (isnan(s[j]) || s[j] == INFINITY))
                        poisoned = 1;
                    if (kept[j] && s[j] > max)
                        max = s[j];
                }
                double sum = 0.0;
                for (long long j = 0; j < Lk; j++) {
                    s[j] = kept[j] && !poisoned ? exp(s[j] - max) : 0.0;
                    sum += s[j];
                }
                for (long long j = 0; j < Lk; j++) {
                    /* A poisoned row is NaN on every key its causal rule, window and length show. */
                    s[j] = poisoned ? (shows(opts, i, j, n, Lq) ? NAN : 0.0) : sum > 0.0 ? s[j] / sum : 0.0;
                    if (weights != NULL)
                        weights[((b * H + h) * Lq + i) * Lk + j] = s[j];
                }
                for (long long d = 0; d < Dv; d++) {
                    double acc = 0.0;
                    for (long long j = 0; j < n; j++)   /* keys beyond the length are never read */
                        acc += s[j] * at(v, b, kh, j, d);
                    out[((b * H + h) * Lq + i) * Dv + d] = acc;
                }
            }
        }
    free(s);
    free(kept);
}

void ref_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
              const pa_sdpa_options *opts, double *out, double *weights)
{
    ref_rule r = { REF_DOT, q, k, NULL, NULL, NULL };
    ref_attention(&r, v, opts, out, weights);
}

void ref_linear(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias, double *y)
{
    const long long N = w->shape[2], K = x->shape[3];
    long long idx = 0;
    for (long long a = 0; a < x->shape[0]; a++)
        for (long long b = 0; b < x->shape[1]; b++)
            for (long long m = 0; m < x->shape[2]; m++)
                for (long long n = 0; n < N; n++) {
                    double acc = bias != NULL ? at(bias, 0, 0, 0, n) : 0.0;
                    for (long long k = 0; k < K; k++)
                        acc += at(x, a, b, m, k) * at(w, 0, 0, n, k);
                    y[idx++] = acc;
                }
}

void ref_rope(const pa_tensor *x, long long position, double base, int layout, double *y)
{
    const long long D = x->shape[3], half = D / 2;
    long long idx = 0;
    for (long long b = 0; b < x->shape[0]; b++)
        for (long long h = 0; h < x->shape[1]; h++)
            for (long long l = 0; l < x->shape[2]; l++)
                for (long long d = 0; d < D; d++, idx++) {
                    /* d's pair index k, its partner, and whether d is the first of the pair. */
                    long long k = layout == PA_ROPE_HALF ? d % half : d / 2;
                    int first = layout == PA_ROPE_HALF ? d < half : d % 2 == 0;
                    long long partner = layout == PA_ROPE_HALF ? (first ? d + half : d - half)
                                                               : (first ? d + 1 : d - 1);
                    double angle = (double)(position + l) * pow(base, -2.0 * (double)k / (double)D);
                    double self = at(x, b, h, l, d), other = at(x, b, h, l, partner);
                    y[idx] = first ? self * cos(angle) - other * sin(angle)
                                   : other * sin(angle) + self * cos(angle);
                }
}
