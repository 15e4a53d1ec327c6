/*
 * libFuzzer harness for the tensor entry points beside pa_sdpa:
 * pa_additive_attention, pa_concat_attention, pa_linear and pa_rope, each
 * plain or as its _buffers twin, and pa_sdpa_dense, at every ISA level.
 *
 * The first byte picks the ISA level, the entry point and plain or twin;
 * the rest describes the problem: sizes (one maybe hostile; any number
 * for pa_sdpa_dense, whose size arithmetic is its own), the rule's
 * options (masks, weights, workspace, key padding, ALiBi, a T5 table,
 * softcap, windows, key lengths) for the attention rules, position, base
 * and layout for pa_rope, and tensor by tensor how to spoil it (see
 * fuzz_tensors.h).
 * pa_sdpa_dense takes bare arrays: each is exactly its size, NULL,
 * misaligned, the output over an input, or NULL when too big to allocate.
 *
 * What must hold, or the harness traps:
 *  - a failed call writes nothing and leaves a message;
 *  - a successful call writes only its outputs (out and weights, y, or x
 *    in place for pa_rope);
 *  - on finite data, a successful result matches the float64 reference
 *    (ref_attention, ref_linear, ref_rope, ref_sdpa).
 * AddressSanitizer and UndefinedBehaviorSanitizer catch the rest. Problems
 * too big to compute within the fuzzer's time are skipped.
 */
#include <limits.h>

#include "fuzz_tensors.h"

enum { ADDITIVE, CONCAT, LINEAR, ROPE, DENSE, ENTRIES };

/* Slots of each entry point's own tensors, in its argument order. */
enum { A_QP, A_KP, A_VVEC, A_VALUES, A_OUT };
enum { C_Q, C_K, C_W, C_BIAS, C_VALUES, C_OUT };
enum { L_X, L_W, L_BIAS, L_Y };
enum { R_X };
enum { D_Q, D_K, D_V, D_OUT };

typedef struct ops_case {
    fuzz_case c;
    int entry, twin;
    long long position;         /* pa_rope */
    float base;
    int layout;
    int dims[7];                /* pa_sdpa_dense: B, H, Hkv, Lq, Lk, Dk, Dv */
} ops_case;

/* ---- pa_additive_attention ---------------------------------------------- */

static void make_additive(ops_case *oc)
{
    fuzz_case *c = &oc->c;
    const sizes s = read_sizes(&c->in);
    read_rule(c);
    const long long qp[4] = { s.B, s.H, s.Lq, s.D }, kp[4] = { s.B, s.Hkv, s.Lk, s.D }, vvec[4] = { 1, 1, 1, s.D };
    make_tensor(c, A_QP, qp, PA_F32);
    make_tensor(c, A_KP, kp, PA_F32);
    if (read_u8(&c->in) & 1)    /* else NULL: the all-ones rule */
        make_tensor(c, A_VVEC, vvec, PA_F32);
    make_attention_rest(c, &s, A_VALUES, A_OUT);
}

static int call_additive(const ops_case *oc, const call_args *a)
{
    if (!oc->twin)
        return pa_additive_attention(a->arg[A_QP], a->arg[A_KP], a->arg[A_VVEC], a->arg[A_VALUES], a->arg[A_OUT],
                                     a->opts);
    return pa_additive_attention_buffers(a->arg[A_QP], a->arg[A_KP], a->arg[A_VVEC], a->arg[A_VALUES],
                                         a->arg[A_OUT], a->opts, a->data[A_QP], a->data[A_KP], a->data[A_VVEC],
                                         a->data[A_VALUES], a->data[A_OUT], a->data[MASK], a->data[WEIGHTS],
                                         a->data[KEY_PADDING], a->data[ALIBI], a->data[REL_BIAS]);
}

static double work_additive(const ops_case *oc, double (*size)(long long))
{
    const pa_tensor *t = oc->c.t;
    return attention_work(&t[A_QP], &t[A_KP], &t[A_VALUES], 8.0, size);    /* a tanh per term */
}

static void check_additive(const ops_case *oc)
{
    const fuzz_case *c = &oc->c;
    const ref_rule rule = { REF_ADDITIVE, &c->t[A_QP], &c->t[A_KP], arg(c, A_VVEC), NULL, NULL };
    check_attention(c, &rule, A_VALUES, A_OUT);
}

/* ---- pa_concat_attention ------------------------------------------------ */

static void make_concat(ops_case *oc)
{
    fuzz_case *c = &oc->c;
    sizes s = read_sizes(&c->in);
    s.Hkv = s.H;                /* one key per query row: no grouped heads */
    const long long Dk = (small(&c->in, 10) + 1) % 10;   /* 1 .. 9, or 0 */
    read_rule(c);
    const long long q[4] = { s.B, s.H, s.Lq, s.D }, k[4] = { s.B, s.H, s.Lq, Dk };
    const long long width = s.D > LLONG_MAX - Dk ? s.D : s.D + Dk;     /* a hostile Dq */
    const long long w[4] = { 1, 1, s.Lk, width }, bias[4] = { 1, 1, 1, s.Lk };
    make_tensor(c, C_Q, q, PA_F32);
    make_tensor(c, C_K, k, PA_F32);
    make_tensor(c, C_W, w, PA_F32);
    if (read_u8(&c->in) & 1)
        make_tensor(c, C_BIAS, bias, PA_F32);
    make_attention_rest(c, &s, C_VALUES, C_OUT);
}

static int call_concat(const ops_case *oc, const call_args *a)
{
    if (!oc->twin)
        return pa_concat_attention(a->arg[C_Q], a->arg[C_K], a->arg[C_W], a->arg[C_BIAS], a->arg[C_VALUES],
                                   a->arg[C_OUT], a->opts);
    return pa_concat_attention_buffers(a->arg[C_Q], a->arg[C_K], a->arg[C_W], a->arg[C_BIAS], a->arg[C_VALUES],
                                       a->arg[C_OUT], a->opts, a->data[C_Q], a->data[C_K], a->data[C_W],
                                       a->data[C_BIAS], a->data[C_VALUES], a->data[C_OUT], a->data[MASK],
                                       a->data[WEIGHTS], a->data[KEY_PADDING], a->data[ALIBI], a->data[REL_BIAS]);
}

static double work_concat(const ops_case *oc, double (*size)(long long))
{
    /* Query rows from q; Lv keys of width Dq + Dk from w. */
    const pa_tensor *t = oc->c.t;
    return attention_work(&t[C_Q], &t[C_W], &t[C_VALUES], 1.0, size);
}

static void check_concat(const ops_case *oc)
{
    const fuzz_case *c = &oc->c;
    const ref_rule rule = { REF_CONCAT, &c->t[C_Q], &c->t[C_K], NULL, &c->t[C_W], arg(c, C_BIAS) };
    check_attention(c, &rule, C_VALUES, C_OUT);
}

/* ---- pa_linear ---------------------------------------------------------- */

static void make_linear(ops_case *oc)
{
    fuzz_case *c = &oc->c;
    reader *r = &c->in;
    long long A = 1 + small(r, 3), B = 1 + small(r, 3), M = 1 + small(r, 40), K = 1 + small(r, 33),
              N = 1 + small(r, 40);
    uint8_t shape = read_u8(r);
    if ((shape >> 3 & 7) == 7) {    /* big enough for the pool's row slices (M * N * K >= 2^20) */
        A = B = 1;
        M = N = K = 128 + small(r, 9);
    }
    if (shape & 1)
        M = 0;
    if (shape & 2)
        K = 0;
    if (shape & 4)
        N = 0;
    if (shape & 64) {
        long long *const each[] = { &A, &B, &M, &K, &N };
        spoil_one(r, each, 5);
    }
    const long long x[4] = { A, B, M, K }, w[4] = { 1, 1, N, K }, bias[4] = { 1, 1, 1, N }, y[4] = { A, B, M, N };
    make_tensor(c, L_X, x, PA_F32);
    make_tensor(c, L_W, w, PA_F32);
    if (read_u8(r) & 1)
        make_tensor(c, L_BIAS, bias, PA_F32);
    make_tensor(c, L_Y, y, PA_F32);
    c->outputs = 1u << L_Y;
}

static int call_linear(const ops_case *oc, const call_args *a)
{
    if (!oc->twin)
        return pa_linear(a->arg[L_X], a->arg[L_W], a->arg[L_BIAS], a->arg[L_Y]);
    return pa_linear_buffers(a->arg[L_X], a->arg[L_W], a->arg[L_BIAS], a->arg[L_Y], a->data[L_X], a->data[L_W],
                             a->data[L_BIAS], a->data[L_Y]);
}

static double work_linear(const ops_case *oc, double (*size)(long long))
{
    const pa_tensor *x = &oc->c.t[L_X];
    const double n[] = { size(x->shape[0]), size(x->shape[1]), size(x->shape[2]), size(oc->c.t[L_W].shape[2]),
                         size(x->shape[3]) };
    return nested(n, 5);
}

static void check_linear(const ops_case *oc)
{
    const fuzz_case *c = &oc->c;
    const pa_tensor *y = &c->t[L_Y];
    double *ref = malloc(sizeof(double) * (size_t)(pa_numel(y) + 1));
    ref_linear(&c->t[L_X], &c->t[L_W], arg(c, L_BIAS), ref);
    /* Float sums of K products of values below 1. */
    compare(y, ref, 1e-5 * (double)(c->t[L_X].shape[3] + 1));
    free(ref);
}

/* ---- pa_rope ------------------------------------------------------------ */

static void make_rope(ops_case *oc)
{
    fuzz_case *c = &oc->c;
    reader *r = &c->in;
    long long B = 1 + small(r, 3), H = 1 + small(r, 3), L = 1 + small(r, 40), D = 2 + 2 * small(r, 8);
    uint8_t p = read_u8(r), b = read_u8(r), l = read_u8(r), shape = read_u8(r);
    oc->position = p < 200 ? p * (long long)p : read_hostile(r);
    static const float bases[] = { 10000.0f, 500000.0f, 2.0f, 1.0001f, 1.0f, 0.5f, -10000.0f, 0.0f, NAN, INFINITY };
    oc->base = bases[b % 10];
    oc->layout = l < 254 ? l & 1 : (int)read_u32(r);
    if (shape & 1)
        L = 0;
    if (shape & 2)
        D = 0;
    if (shape & 64) {
        long long *const each[] = { &B, &H, &L, &D };
        spoil_one(r, each, 4);
    }
    const long long x[4] = { B, H, L, D };
    make_tensor(c, R_X, x, PA_F32);
    c->outputs = 1u << R_X;     /* in place */
}

static int call_rope(const ops_case *oc, const call_args *a)
{
    if (!oc->twin)
        return pa_rope(a->arg[R_X], oc->position, oc->base, oc->layout);
    return pa_rope_buffers(a->arg[R_X], oc->position, oc->base, oc->layout, a->data[R_X]);
}

static double work_rope(const ops_case *oc, double (*size)(long long))
{
    const pa_tensor *x = &oc->c.t[R_X];
    const double n[] = { size(x->shape[0]), size(x->shape[1]), size(x->shape[2]), size(x->shape[3]) };
    return nested(n, 4);
}

static void check_rope(const ops_case *oc)
{
    const fuzz_case *c = &oc->c;
    const slot *sl = &c->slots[R_X];
    if (sl->mem == NULL)
        return;                 /* an empty x without memory */
    pa_tensor before = c->t[R_X];     /* x as it was, for the reference */
    before.data = sl->before + ((unsigned char *)c->t[R_X].data - sl->mem);
    double *ref = malloc(sizeof(double) * (size_t)(pa_numel(&before) + 1));
    ref_rope(&before, oc->position, oc->base, oc->layout, ref);
    compare(&c->t[R_X], ref, 1e-5);
    free(ref);
}

/* ---- pa_sdpa_dense ------------------------------------------------------ */

/* Array i of pa_sdpa_dense, dense (B, H, L, D) as `shape` says: exactly
 * its size, or NULL (asked for, or too big to allocate). Its descriptor
 * in c->t describes it for the checks, empty when there is no array. */
static void make_dense_array(fuzz_case *c, int i, const int shape[4])
{
    uint8_t m = read_u8(&c->in);
    pa_tensor *t = &c->t[i];
    memset(t, 0, sizeof *t);
    double count = 1.0;
    for (int d = 0; d < 4; d++)
        count *= shape[d];
    c->given[i] = 1;
    if (count < 0.0 || count > MAX_ELEMENTS)
        return;                 /* NULL: negative sizes fail before any array is touched */
    long long step = 1;
    for (int d = 3; d >= 0; d--) {
        t->shape[d] = shape[d];
        t->strides[d] = step;
        step *= shape[d] > 0 && shape[d] <= MAX_ELEMENTS ? shape[d] : 1;   /* larger only when empty */
    }
    t->dtype = PA_F32;
    t->capacity = (long long)count;
    if ((m & 7) == 6)
        return;                 /* NULL asked for: legal when the array is empty */
    if ((m & 7) == 7 && i == D_OUT) {   /* out over an input of at least its size */
        const slot *other = &c->slots[read_u8(&c->in) % D_OUT];
        if (other->mem != NULL && other->bytes >= (size_t)count * 4) {
            t->data = other->mem;
            c->finite = 0;
            return;
        }
    }
    const int misalign = (m >> 3 & 3) == 3;
    t->data = allocate(c, i, (size_t)count * 4 + (size_t)misalign, PA_F32) + misalign;
}

static void make_dense(ops_case *oc)
{
    fuzz_case *c = &oc->c;
    const sizes s = read_sizes(&c->in);
    read_rule(c);
    c->opts_given = 1;          /* scale and causal are arguments: the reference reads them from c->o */
    long long each[7] = { s.B, s.H, s.Hkv, s.Lq, s.Lk, s.D, s.Dv };
    const uint8_t wild = read_u8(&c->in);   /* any sizes hostile at once: their products overflow */
    for (int d = 0; d < 7; d++)
        if (wild >> d & 1)
            each[d] = read_hostile(&c->in);
    for (int d = 0; d < 7; d++)     /* a hostile size as the int the call takes: its low 32 bits */
        oc->dims[d] = (int)(unsigned)each[d];
    const int *n = oc->dims;
    const int q[4] = { n[0], n[1], n[3], n[5] }, k[4] = { n[0], n[2], n[4], n[5] };
    const int v[4] = { n[0], n[2], n[4], n[6] }, out[4] = { n[0], n[1], n[3], n[6] };
    make_dense_array(c, D_Q, q);
    make_dense_array(c, D_K, k);
    make_dense_array(c, D_V, v);
    make_dense_array(c, D_OUT, out);
    c->outputs = 1u << D_OUT;
}

static int call_dense(const ops_case *oc, const call_args *a)
{
    (void)a;                    /* bare arrays: no descriptors, no twin */
    const pa_tensor *t = oc->c.t;
    const int *n = oc->dims;
    return pa_sdpa_dense(t[D_Q].data, t[D_K].data, t[D_V].data, t[D_OUT].data, n[0], n[1], n[2], n[3], n[4], n[5],
                         n[6], oc->c.o.scale, oc->c.o.causal);
}

static double work_dense(const ops_case *oc, double (*size)(long long))
{
    const int *d = oc->dims;     /* as attention_work counts, from the sizes (an array may be NULL) */
    const double n[] = { size(d[0]), size(d[1]), size(d[3]), size(d[4]), size(d[5]) + size(d[6]) + 16.0 };
    return nested(n, 5) + size(d[4]);
}

static void check_dense(const ops_case *oc)
{
    const fuzz_case *c = &oc->c;
    const ref_rule rule = { REF_DOT, &c->t[D_Q], &c->t[D_K], NULL, NULL, NULL };
    check_attention(c, &rule, D_V, D_OUT);
}

/* ---- the entry points --------------------------------------------------- */

typedef struct entry_point {
    const char *name, *twin_name;
    void (*make)(ops_case *oc);
    int (*call)(const ops_case *oc, const call_args *a);
    double (*work)(const ops_case *oc, double (*size)(long long));
    void (*check)(const ops_case *oc);     /* a successful call on finite data */
} entry_point;

static const entry_point entries[ENTRIES] = {
    { "pa_additive_attention", "pa_additive_attention_buffers", make_additive, call_additive, work_additive,
      check_additive },
    { "pa_concat_attention", "pa_concat_attention_buffers", make_concat, call_concat, work_concat, check_concat },
    { "pa_linear", "pa_linear_buffers", make_linear, call_linear, work_linear, check_linear },
    { "pa_rope", "pa_rope_buffers", make_rope, call_rope, work_rope, check_rope },
    { "pa_sdpa_dense", "pa_sdpa_dense", make_dense, call_dense, work_dense, check_dense },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ops_case oc;
    memset(&oc, 0, sizeof oc);
    fuzz_case *c = &oc.c;
    c->in.p = data;
    c->in.n = size;
    c->finite = 1;
    uint8_t how = read_u8(&c->in);
    c->max_work = select_isa(how % 3);
    oc.entry = how / 3 % ENTRIES;
    oc.twin = how / (3 * ENTRIES) % 2 && oc.entry != DENSE;
    const entry_point *e = &entries[oc.entry];
    e->make(&oc);
    if (e->work(&oc, call_size) <= c->max_work) {
        snapshot(c);
        call_args a;
        make_call_args(c, oc.twin, &a);
        int rc = e->call(&oc, &a);
        trace(oc.twin ? e->twin_name : e->name, rc);
        check_call(c, rc);
        if (rc == PA_OK && c->finite && e->work(&oc, reference_size) <= MAX_CHECKED_WORK)
            e->check(&oc);
    }
    release(c);
    return 0;
}
