/*
 * libFuzzer harness for scaled dot-product attention: pa_sdpa,
 * pa_sdpa_buffers and pa_sdpa_workspace_size, at every ISA level.
 *
 * The input describes a problem (sizes, one of them maybe hostile, causal
 * rule, scale) and every option: a keep-mask or additive mask, the
 * weights output, a caller workspace, a key-padding mask, ALiBi slopes, a
 * T5 bias table (buckets, direction, max distance), a softcap, a
 * sliding window, a two-sided window and per-row key lengths (their count,
 * alignment and values maybe hostile); then, tensor by tensor, its dtype
 * (q, k and v may be of half precision) and how to spoil it (see
 * fuzz_tensors.h). pa_sdpa_buffers gets descriptors with a decoy data
 * field and every tensor's memory as an argument.
 *
 * What must hold, or the harness traps:
 *  - a failed call writes nothing and leaves a message;
 *  - a successful call writes only elements of out and weights;
 *  - on finite data, a successful result matches the float64 reference.
 * AddressSanitizer and UndefinedBehaviorSanitizer catch the rest. Problems
 * too big to compute within the fuzzer's time are only validated
 * (pa_sdpa_workspace_size runs the same checks).
 */
#include "fuzz_tensors.h"

enum { Q, K, V, OUT };

static void make_case(fuzz_case *c)
{
    c->finite = 1;
    const sizes s = read_sizes(&c->in);
    read_rule(c);
    const long long q[4] = { s.B, s.H, s.Lq, s.D }, k[4] = { s.B, s.Hkv, s.Lk, s.D };
    make_tensor(c, Q, q, PA_ANY_FLOAT);
    make_tensor(c, K, k, PA_ANY_FLOAT);
    make_attention_rest(c, &s, V, OUT);
}

/* Computes with pa_sdpa or pa_sdpa_buffers, or, for entry 2 or a problem
 * too big, only validates with pa_sdpa_workspace_size. */
static int call(const fuzz_case *c, int entry, int bytes_given)
{
    call_args a;
    make_call_args(c, entry == 1, &a);
    if (entry == 2) {
        long long bytes = -1;
        int rc = pa_sdpa_workspace_size(a.arg[Q], a.arg[K], a.arg[V], a.arg[OUT], a.opts,
                                        bytes_given ? &bytes : NULL);
        trap_if(rc == PA_OK && bytes < 0);
        trace("pa_sdpa_workspace_size", rc);
        return rc;
    }
    if (entry == 1) {
        int rc = pa_sdpa_buffers(a.arg[Q], a.arg[K], a.arg[V], a.arg[OUT], a.opts, a.data[Q], a.data[K],
                                 a.data[V], a.data[OUT], a.data[MASK], a.data[WEIGHTS], a.data[KEY_PADDING],
                                 a.data[ALIBI], a.data[REL_BIAS]);
        trace("pa_sdpa_buffers", rc);
        return rc;
    }
    int rc = pa_sdpa(a.arg[Q], a.arg[K], a.arg[V], a.arg[OUT], a.opts);
    trace("pa_sdpa", rc);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_case c;
    memset(&c, 0, sizeof c);
    c.in.p = data;
    c.in.n = size;
    uint8_t how = read_u8(&c.in);
    c.max_work = select_isa(how % 3);
    make_case(&c);
    snapshot(&c);
    int entry = how / 3 % 3;           /* pa_sdpa, pa_sdpa_buffers, pa_sdpa_workspace_size */
    if (attention_work(&c.t[Q], &c.t[K], &c.t[V], 1.0, call_size) > c.max_work)
        entry = 2;
    int rc = call(&c, entry, !(how & 0x80));
    check_call(&c, rc);
    const double checked_work = attention_work(&c.t[Q], &c.t[K], &c.t[V], 1.0, reference_size);
    if (rc == PA_OK && entry != 2 && checked_work <= MAX_CHECKED_WORK) {
        const ref_rule rule = { REF_DOT, &c.t[Q], &c.t[K], NULL, NULL, NULL };
        check_attention(&c, &rule, V, OUT);
    }
    release(&c);
    return 0;
}
