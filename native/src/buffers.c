/* What the _buffers twins of the tensor entry points (see panattn.h) share:
 * each runs its plain entry point on copies of the descriptors and options
 * whose data fields are the call's buffer arguments. A rule's twin lives
 * in the rule's own file; the twins of linear and RoPE live here. */
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

const pa_tensor *pa_with_data(const pa_tensor *t, const void *data, pa_tensor *copy)
{
    if (t == NULL)
        return NULL;
    *copy = *t;
    copy->data = (void *)(uintptr_t)data;
    return copy;
}

const pa_sdpa_options *pa_options_with_data(pa_option_copies *c, const pa_sdpa_options *opts,
                                            const void *mask, const void *weights,
                                            const void *key_padding, const void *alibi_slopes,
                                            const void *rel_bias)
{
    if (opts == NULL)
        return NULL;
    c->o = *opts;
    c->o.mask = pa_with_data(opts->mask, mask, &c->mask);
    c->o.weights = pa_with_data(opts->weights, weights, &c->weights);
    c->o.key_padding = pa_with_data(opts->key_padding, key_padding, &c->key_padding);
    c->o.alibi_slopes = pa_with_data(opts->alibi_slopes, alibi_slopes, &c->alibi_slopes);
    c->o.rel_bias = pa_with_data(opts->rel_bias, rel_bias, &c->rel_bias);
    return &c->o;
}

int pa_rope_buffers(const pa_tensor *x, long long position, float base, int layout, void *x_data)
{
    pa_tensor c;
    return pa_rope(pa_with_data(x, x_data, &c), position, base, layout);
}

int pa_linear_buffers(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias, const pa_tensor *y,
                      const void *x_data, const void *w_data, const void *bias_data, void *y_data)
{
    pa_tensor c[4];
    return pa_linear(pa_with_data(x, x_data, &c[0]), pa_with_data(w, w_data, &c[1]), pa_with_data(bias, bias_data, &c[2]),
                     pa_with_data(y, y_data, &c[3]));
}
