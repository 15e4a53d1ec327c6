/*
 * C tests of the _buffers twins of the tensor entry points: with every
 * descriptor's data field NULL, a twin reads each tensor at its buffer
 * argument and gives the plain entry point's result bit for bit; a NULL
 * buffer for a tensor that is present is refused by name, writing nothing;
 * the buffer of an absent tensor is ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "panattn.h"
#include "testing.h"

#define MAX_BUFFERS 11

/* One entry point's buffer arguments, in the twin's order. */
typedef struct twin_case {
    const char *fn;
    int n;
    const char *names[MAX_BUFFERS];     /* the tensor each buffer belongs to */
    pa_tensor *tensors[MAX_BUFFERS];    /* its descriptor (data set), NULL when absent */
    pa_sdpa_options o;                  /* the options' non-tensor fields */
} twin_case;

/* Calls the plain entry point (data == NULL) or its twin on descriptors t. */
typedef int (*entry)(const twin_case *c, pa_tensor *const t[], void *const data[]);

static size_t bytes_of(const pa_tensor *t)
{
    return (size_t)t->capacity * (t->dtype == PA_BOOL ? 1 : sizeof(float));
}

/* The options of c with its tensors taken from t[first..first+4]. */
static pa_sdpa_options options(const twin_case *c, pa_tensor *const t[], int first)
{
    pa_sdpa_options o = c->o;
    o.mask = t[first];
    o.weights = t[first + 1];
    o.key_padding = t[first + 2];
    o.alibi_slopes = t[first + 3];
    o.rel_bias = t[first + 4];
    return o;
}

static int sdpa(const twin_case *c, pa_tensor *const t[], void *const d[])
{
    pa_sdpa_options o = options(c, t, 4);
    if (d == NULL)
        return pa_sdpa(t[0], t[1], t[2], t[3], &o);
    return pa_sdpa_buffers(t[0], t[1], t[2], t[3], &o, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8]);
}

static int additive(const twin_case *c, pa_tensor *const t[], void *const d[])
{
    pa_sdpa_options o = options(c, t, 5);
    if (d == NULL)
        return pa_additive_attention(t[0], t[1], t[2], t[3], t[4], &o);
    return pa_additive_attention_buffers(t[0], t[1], t[2], t[3], t[4], &o, d[0], d[1], d[2], d[3], d[4], d[5],
                                         d[6], d[7], d[8], d[9]);
}

static int concat(const twin_case *c, pa_tensor *const t[], void *const d[])
{
    pa_sdpa_options o = options(c, t, 6);
    if (d == NULL)
        return pa_concat_attention(t[0], t[1], t[2], t[3], t[4], t[5], &o);
    return pa_concat_attention_buffers(t[0], t[1], t[2], t[3], t[4], t[5], &o, d[0], d[1], d[2], d[3], d[4],
                                       d[5], d[6], d[7], d[8], d[9], d[10]);
}

static int linear(const twin_case *c, pa_tensor *const t[], void *const d[])
{
    (void)c;
    if (d == NULL)
        return pa_linear(t[0], t[1], t[2], t[3]);
    return pa_linear_buffers(t[0], t[1], t[2], t[3], d[0], d[1], d[2], d[3]);
}

static int rope(const twin_case *c, pa_tensor *const t[], void *const d[])
{
    (void)c;
    if (d == NULL)
        return pa_rope(t[0], 3, 10000.0f, PA_ROPE_INTERLEAVED);
    return pa_rope_buffers(t[0], 3, 10000.0f, PA_ROPE_INTERLEAVED, d[0]);
}

/* Puts every buffer back to its contents before the first call. */
static void restore(const twin_case *c, unsigned char *const saved[])
{
    for (int i = 0; i < c->n; i++)
        if (c->tensors[i] != NULL)
            memcpy(c->tensors[i]->data, saved[i], bytes_of(c->tensors[i]));
}

/* True when every buffer holds what it held in `want`. */
static int same(const twin_case *c, unsigned char *const want[])
{
    for (int i = 0; i < c->n; i++)
        if (c->tensors[i] != NULL && memcmp(c->tensors[i]->data, want[i], bytes_of(c->tensors[i])) != 0)
            return 0;
    return 1;
}

static void check_twin(const twin_case *c, entry call)
{
    unsigned char *saved[MAX_BUFFERS] = { 0 }, *want[MAX_BUFFERS] = { 0 };
    pa_tensor blank[MAX_BUFFERS];
    pa_tensor *blanks[MAX_BUFFERS];
    void *data[MAX_BUFFERS];
    static float decoy;     /* the buffer passed for an absent tensor */
    for (int i = 0; i < c->n; i++) {
        pa_tensor *t = c->tensors[i];
        blanks[i] = NULL;
        data[i] = &decoy;
        if (t == NULL)
            continue;
        saved[i] = malloc(bytes_of(t));
        memcpy(saved[i], t->data, bytes_of(t));
        blank[i] = *t;
        blank[i].data = NULL;
        blanks[i] = &blank[i];
        data[i] = t->data;
    }
    int rc = call(c, c->tensors, NULL);
    CHECK(rc == PA_OK, "%s: %s", c->fn, pa_last_error());
    for (int i = 0; i < c->n; i++)
        if (c->tensors[i] != NULL) {
            want[i] = malloc(bytes_of(c->tensors[i]));
            memcpy(want[i], c->tensors[i]->data, bytes_of(c->tensors[i]));
        }

    restore(c, saved);
    rc = call(c, blanks, data);
    CHECK(rc == PA_OK && same(c, want), "%s_buffers gives %s's bits (%s)", c->fn, c->fn, pa_last_error());

    for (int i = 0; i < c->n; i++) {
        if (c->tensors[i] == NULL)
            continue;
        char expected[64];
        snprintf(expected, sizeof expected, "%s.data is NULL", c->names[i]);
        void *missing = data[i];
        data[i] = NULL;
        restore(c, saved);
        rc = call(c, blanks, data);
        CHECK(rc == PA_EINVAL && strstr(pa_last_error(), expected) != NULL && same(c, (unsigned char **)saved),
              "%s_buffers with no %s buffer: status %d, '%s'", c->fn, c->names[i], rc, pa_last_error());
        data[i] = missing;
    }
    restore(c, saved);
    for (int i = 0; i < c->n; i++) {
        free(saved[i]);
        free(want[i]);
    }
}

/* A PA_BOOL (B, H, L, D) keep-mask keeping about three elements of four. */
static pa_tensor keep_mask(long long B, long long H, long long L, long long D)
{
    pa_tensor t;
    memset(&t, 0, sizeof t);
    long long n = B * H * L * D;
    unsigned char *m = malloc((size_t)n);
    for (long long i = 0; i < n; i++)
        m[i] = frand() > -0.5f;
    t.data = m;
    t.dtype = PA_BOOL;
    const long long shape[4] = { B, H, L, D }, strides[4] = { H * L * D, L * D, D, 1 };
    memcpy(t.shape, shape, sizeof shape);
    memcpy(t.strides, strides, sizeof strides);
    t.capacity = n;
    return t;
}

/* The options' five tensors, every one present: a keep-mask, the weights,
 * an additive key-padding mask, ALiBi slopes and a T5 bias table. */
typedef struct option_tensors {
    pa_tensor mask;
    buf weights, key_padding, alibi, rel;
} option_tensors;

static void make_options(option_tensors *t, twin_case *c, int first, long long B, long long H, long long Lq,
                         long long Lk)
{
    t->mask = keep_mask(1, 1, Lq, Lk);
    t->weights = make(B, H, Lq, Lk, 0, 0);
    t->key_padding = make(B, 1, 1, Lk, 0, 1);
    t->alibi = make(1, 1, 1, H, 0, 1);
    t->rel = make(1, 1, H, 8, 0, 1);
    pa_tensor *ts[5] = { &t->mask, &t->weights.t, &t->key_padding.t, &t->alibi.t, &t->rel.t };
    const char *names[5] = { "mask", "weights", "key_padding", "alibi_slopes", "rel_bias" };
    for (int i = 0; i < 5; i++) {
        c->names[first + i] = names[i];
        c->tensors[first + i] = ts[i];
    }
    c->n = first + 5;
    c->o.causal = PA_CAUSAL_BOTTOM_RIGHT;
    c->o.softcap = 5.0f;
    c->o.rel_bidirectional = 1;
    c->o.rel_max_distance = 16;
}

static void free_options(option_tensors *t)
{
    free(t->mask.data);
    free(t->weights.base);
    free(t->key_padding.base);
    free(t->alibi.base);
    free(t->rel.base);
}

/* Lists the call's own tensors first. */
static void set_args(twin_case *c, int n, const char *const names[], buf *const bufs[])
{
    for (int i = 0; i < n; i++) {
        c->names[i] = names[i];
        c->tensors[i] = bufs[i] != NULL ? &bufs[i]->t : NULL;
    }
    c->n = n;
}

static void test_sdpa(void)
{
    twin_case c = { .fn = "pa_sdpa" };
    buf q = make(2, 4, 5, 6, 1, 1), k = make(2, 2, 7, 6, 0, 1), v = make(2, 2, 7, 3, 0, 1);
    buf out = make(2, 4, 5, 3, 0, 0);
    set_args(&c, 4, (const char *[]){ "q", "k", "v", "out" }, (buf *[]){ &q, &k, &v, &out });
    option_tensors o;
    make_options(&o, &c, 4, 2, 4, 5, 7);
    check_twin(&c, sdpa);
    c.tensors[4] = c.tensors[5] = c.tensors[8] = NULL;     /* absent: no mask, weights or T5 table */
    check_twin(&c, sdpa);
    free_options(&o);
    free(q.base); free(k.base); free(v.base); free(out.base);
}

static void test_additive(void)
{
    twin_case c = { .fn = "pa_additive_attention" };
    buf qp = make(2, 4, 5, 9, 0, 1), kp = make(2, 2, 7, 9, 0, 1), vvec = make(1, 1, 1, 9, 0, 1);
    buf values = make(2, 2, 7, 3, 1, 1), out = make(2, 4, 5, 3, 0, 0);
    set_args(&c, 5, (const char *[]){ "qp", "kp", "vvec", "values", "out" },
             (buf *[]){ &qp, &kp, &vvec, &values, &out });
    option_tensors o;
    make_options(&o, &c, 5, 2, 4, 5, 7);
    check_twin(&c, additive);
    c.tensors[2] = c.tensors[6] = c.tensors[7] = NULL;     /* no vvec (all ones), no key padding or ALiBi */
    check_twin(&c, additive);
    free_options(&o);
    free(qp.base); free(kp.base); free(vvec.base); free(values.base); free(out.base);
}

static void test_concat(void)
{
    twin_case c = { .fn = "pa_concat_attention" };
    buf q = make(2, 3, 5, 4, 0, 1), k = make(2, 3, 5, 6, 0, 1), w = make(1, 1, 7, 10, 0, 1);
    buf bias = make(1, 1, 1, 7, 0, 1), values = make(2, 3, 7, 3, 0, 1), out = make(2, 3, 5, 3, 0, 0);
    set_args(&c, 6, (const char *[]){ "q", "k", "w", "bias", "values", "out" },
             (buf *[]){ &q, &k, &w, &bias, &values, &out });
    option_tensors o;
    make_options(&o, &c, 6, 2, 3, 5, 7);
    check_twin(&c, concat);
    c.tensors[3] = c.tensors[7] = NULL;                    /* no bias, no weights */
    check_twin(&c, concat);
    free_options(&o);
    free(q.base); free(k.base); free(w.base); free(bias.base); free(values.base); free(out.base);
}

static void test_linear(void)
{
    twin_case c = { .fn = "pa_linear" };
    buf x = make(1, 2, 5, 6, 1, 1), w = make(1, 1, 4, 6, 0, 1), bias = make(1, 1, 1, 4, 0, 1);
    buf y = make(1, 2, 5, 4, 0, 0);
    set_args(&c, 4, (const char *[]){ "x", "w", "bias", "y" }, (buf *[]){ &x, &w, &bias, &y });
    check_twin(&c, linear);
    c.tensors[2] = NULL;
    check_twin(&c, linear);
    free(x.base); free(w.base); free(bias.base); free(y.base);
}

static void test_rope(void)
{
    twin_case c = { .fn = "pa_rope" };
    buf x = make(2, 3, 5, 8, 1, 1);
    set_args(&c, 1, (const char *[]){ "x" }, (buf *[]){ &x });
    check_twin(&c, rope);
    free(x.base);
}

int main(void)
{
    select_isa();
    test_sdpa();
    test_additive();
    test_concat();
    test_linear();
    test_rope();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
