/* The _buffers twins of the tensor entry points (see panattn.h): each runs
 * its plain entry point on copies of the descriptors and options whose data
 * fields are the call's buffer arguments. */
#include <stddef.h>
#include <stdint.h>

#include "panattn.h"

enum { OPTION_TENSORS = 5 };    /* mask, weights, key_padding, alibi_slopes, rel_bias */

/* A copy of *t reading its data at `data` (NULL stays NULL). */
static const pa_tensor *with_data(const pa_tensor *t, const void *data, pa_tensor *copy)
{
    if (t == NULL)
        return NULL;
    *copy = *t;
    copy->data = (void *)(uintptr_t)data;
    return copy;
}

/* A copy of *opts whose tensors read their data at `data` (NULL stays NULL). */
static const pa_sdpa_options *options_with_data(const pa_sdpa_options *opts,
                                                const void *const data[OPTION_TENSORS],
                                                pa_sdpa_options *o, pa_tensor copies[OPTION_TENSORS])
{
    if (opts == NULL)
        return NULL;
    *o = *opts;
    o->mask = with_data(o->mask, data[0], &copies[0]);
    o->weights = with_data(o->weights, data[1], &copies[1]);
    o->key_padding = with_data(o->key_padding, data[2], &copies[2]);
    o->alibi_slopes = with_data(o->alibi_slopes, data[3], &copies[3]);
    o->rel_bias = with_data(o->rel_bias, data[4], &copies[4]);
    return o;
}

int pa_sdpa_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                    const pa_tensor *out, const pa_sdpa_options *opts,
                    const void *q_data, const void *k_data, const void *v_data,
                    void *out_data, const void *mask_data, void *weights_data,
                    const void *key_padding_data, const void *alibi_slopes_data,
                    const void *rel_bias_data)
{
    const void *const option_data[OPTION_TENSORS] = { mask_data, weights_data, key_padding_data,
                                                      alibi_slopes_data, rel_bias_data };
    pa_tensor c[4], oc[OPTION_TENSORS];
    pa_sdpa_options o;
    return pa_sdpa(with_data(q, q_data, &c[0]), with_data(k, k_data, &c[1]), with_data(v, v_data, &c[2]),
                   with_data(out, out_data, &c[3]), options_with_data(opts, option_data, &o, oc));
}

int pa_additive_attention_buffers(const pa_tensor *qp, const pa_tensor *kp, const pa_tensor *vvec,
                                  const pa_tensor *values, const pa_tensor *out,
                                  const pa_sdpa_options *opts, const void *qp_data,
                                  const void *kp_data, const void *vvec_data, const void *values_data,
                                  void *out_data, const void *mask_data, void *weights_data,
                                  const void *key_padding_data, const void *alibi_slopes_data,
                                  const void *rel_bias_data)
{
    const void *const option_data[OPTION_TENSORS] = { mask_data, weights_data, key_padding_data,
                                                      alibi_slopes_data, rel_bias_data };
    pa_tensor c[5], oc[OPTION_TENSORS];
    pa_sdpa_options o;
    return pa_additive_attention(with_data(qp, qp_data, &c[0]), with_data(kp, kp_data, &c[1]),
                                 with_data(vvec, vvec_data, &c[2]), with_data(values, values_data, &c[3]),
                                 with_data(out, out_data, &c[4]), options_with_data(opts, option_data, &o, oc));
}

int pa_concat_attention_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *w,
                                const pa_tensor *bias, const pa_tensor *values, const pa_tensor *out,
                                const pa_sdpa_options *opts, const void *q_data, const void *k_data,
                                const void *w_data, const void *bias_data, const void *values_data,
                                void *out_data, const void *mask_data, void *weights_data,
                                const void *key_padding_data, const void *alibi_slopes_data,
                                const void *rel_bias_data)
{
    const void *const option_data[OPTION_TENSORS] = { mask_data, weights_data, key_padding_data,
                                                      alibi_slopes_data, rel_bias_data };
    pa_tensor c[6], oc[OPTION_TENSORS];
    pa_sdpa_options o;
    return pa_concat_attention(with_data(q, q_data, &c[0]), with_data(k, k_data, &c[1]),
                               with_data(w, w_data, &c[2]), with_data(bias, bias_data, &c[3]),
                               with_data(values, values_data, &c[4]), with_data(out, out_data, &c[5]),
                               options_with_data(opts, option_data, &o, oc));
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
