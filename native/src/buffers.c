/* The _buffers twins of the tensor entry points (see panattn.h): each runs
 * its plain entry point on copies of the descriptors and options whose data
 * fields are the call's buffer arguments. */
#include <stddef.h>
#include <stdint.h>

#include "panattn.h"

/* Options whose tensors read their data at buffer arguments, and where they live. */
typedef struct option_copies {
    pa_sdpa_options o;
    pa_tensor mask, weights, key_padding, alibi_slopes, rel_bias;
} option_copies;

/* A copy of *t reading its data at `data` (NULL stays NULL). */
static const pa_tensor *with_data(const pa_tensor *t, const void *data, pa_tensor *copy)
{
    if (t == NULL)
        return NULL;
    *copy = *t;
    copy->data = (void *)(uintptr_t)data;
    return copy;
}

/* A copy of *opts, in c, whose tensors read their data at the given buffers (NULL stays NULL). */
static const pa_sdpa_options *options_with_data(option_copies *c, const pa_sdpa_options *opts,
                                                const void *mask, const void *weights,
                                                const void *key_padding, const void *alibi_slopes,
                                                const void *rel_bias)
{
    if (opts == NULL)
        return NULL;
    c->o = *opts;
    c->o.mask = with_data(opts->mask, mask, &c->mask);
    c->o.weights = with_data(opts->weights, weights, &c->weights);
    c->o.key_padding = with_data(opts->key_padding, key_padding, &c->key_padding);
    c->o.alibi_slopes = with_data(opts->alibi_slopes, alibi_slopes, &c->alibi_slopes);
    c->o.rel_bias = with_data(opts->rel_bias, rel_bias, &c->rel_bias);
    return &c->o;
}

int pa_sdpa_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                    const pa_tensor *out, const pa_sdpa_options *opts,
                    const void *q_data, const void *k_data, const void *v_data,
                    void *out_data, const void *mask_data, void *weights_data,
                    const void *key_padding_data, const void *alibi_slopes_data,
                    const void *rel_bias_data)
{
    pa_tensor c[4];
    option_copies oc;
    const pa_sdpa_options *o = options_with_data(&oc, opts, mask_data, weights_data, key_padding_data,
                                                 alibi_slopes_data, rel_bias_data);
    return pa_sdpa(with_data(q, q_data, &c[0]), with_data(k, k_data, &c[1]), with_data(v, v_data, &c[2]),
                   with_data(out, out_data, &c[3]), o);
}

int pa_additive_attention_buffers(const pa_tensor *qp, const pa_tensor *kp, const pa_tensor *vvec,
                                  const pa_tensor *values, const pa_tensor *out,
                                  const pa_sdpa_options *opts, const void *qp_data,
                                  const void *kp_data, const void *vvec_data, const void *values_data,
                                  void *out_data, const void *mask_data, void *weights_data,
                                  const void *key_padding_data, const void *alibi_slopes_data,
                                  const void *rel_bias_data)
{
    pa_tensor c[5];
    option_copies oc;
    const pa_sdpa_options *o = options_with_data(&oc, opts, mask_data, weights_data, key_padding_data,
                                                 alibi_slopes_data, rel_bias_data);
    return pa_additive_attention(with_data(qp, qp_data, &c[0]), with_data(kp, kp_data, &c[1]),
                                 with_data(vvec, vvec_data, &c[2]), with_data(values, values_data, &c[3]),
                                 with_data(out, out_data, &c[4]), o);
}

int pa_concat_attention_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *w,
                                const pa_tensor *bias, const pa_tensor *values, const pa_tensor *out,
                                const pa_sdpa_options *opts, const void *q_data, const void *k_data,
                                const void *w_data, const void *bias_data, const void *values_data,
                                void *out_data, const void *mask_data, void *weights_data,
                                const void *key_padding_data, const void *alibi_slopes_data,
                                const void *rel_bias_data)
{
    pa_tensor c[6];
    option_copies oc;
    const pa_sdpa_options *o = options_with_data(&oc, opts, mask_data, weights_data, key_padding_data,
                                                 alibi_slopes_data, rel_bias_data);
    return pa_concat_attention(with_data(q, q_data, &c[0]), with_data(k, k_data, &c[1]),
                               with_data(w, w_data, &c[2]), with_data(bias, bias_data, &c[3]),
                               with_data(values, values_data, &c[4]), with_data(out, out_data, &c[5]), o);
}

int pa_rope_buffers(const pa_tensor *x, long long position, float base, int layout, void *x_data)
{
    pa_tensor c;
    return pa_rope(with_data(x, x_data, &c), position, base, layout);
}

int pa_linear_buffers(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias, const pa_tensor *y,
                      const void *x_data, const void *w_data, const void *bias_data, void *y_data)
{
    pa_tensor c[4];
    return pa_linear(with_data(x, x_data, &c[0]), with_data(w, w_data, &c[1]), with_data(bias, bias_data, &c[2]),
                     with_data(y, y_data, &c[3]));
}
