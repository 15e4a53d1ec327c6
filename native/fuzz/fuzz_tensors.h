/*
 * What the harnesses of the tensor entry points share (fuzz_sdpa.c,
 * fuzz_ops.c): tensors drawn from the input, the options of the attention
 * rules, the arguments of a plain call or of its _buffers twin, and the
 * checks that follow every call.
 *
 * Each tensor has a slot: the memory the harness allocated for it and a
 * copy of that memory from before the call. The input gives the intended
 * shape and then how to spoil it: hostile sizes and strides, wrong dtypes
 * (and, where a tensor may be of half precision, PA_F16 or PA_BF16),
 * nonzero reserved fields, NULL descriptors or data, misaligned data, one
 * element too little memory, the memory of an earlier slot (outputs over
 * inputs), NaN and infinities in the data. Every descriptor's capacity is
 * the honest size of its memory: the library can only check against the
 * declared capacity.
 */
#ifndef PANATTN_FUZZ_TENSORS_H
#define PANATTN_FUZZ_TENSORS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "internal.h"
#include "panattn.h"
#include "reference.h"

#define MAX_ELEMENTS 20000      /* per buffer the harness allocates */
#define MAX_WORK 3000000.0      /* multiply-adds beyond which a call is not computed */
#define MAX_CHECKED_WORK 300000.0   /* ... nor checked: the float64 reference is slower */

/* Slots: up to ARGS tensors of the call itself, then the options' tensors
 * in the order of pa_sdpa_options, then a caller's workspace and the key
 * lengths (memory only). */
enum { ARGS = 6, MASK = ARGS, WEIGHTS, KEY_PADDING, ALIBI, REL_BIAS, TENSORS, WORKSPACE = TENSORS, KEY_LENGTHS,
       SLOTS };

typedef struct slot {
    unsigned char *mem;         /* allocation, exactly bytes long */
    size_t bytes;
    unsigned char *before;      /* its contents before the call */
} slot;

typedef struct fuzz_case {
    reader in;
    slot slots[SLOTS];
    pa_tensor t[TENSORS];       /* descriptors as the plain entry point gets them */
    int given[TENSORS];         /* descriptor passed (not NULL) */
    unsigned outputs;           /* bit i: a successful call may write tensor i */
    double max_work;            /* beyond which a call is not computed (select_isa) */
    int finite;                 /* every value small and finite, no aliasing */
    pa_sdpa_options o;          /* its tensors point into t */
    int opts_given;
} fuzz_case;

static inline void trap_if(int bad) { if (bad) __builtin_trap(); }

/* Bytes of an element as the harness allocates them: a dtype the library
 * does not know gets float32's. */
static inline int elem_size(int dtype) { return dtype == PA_BOOL ? 1 : dtype == PA_F16 || dtype == PA_BF16 ? 2 : 4; }

/* x as PA_F16 or PA_BF16 bits, truncated (any value will do as data);
 * beyond binary16's range an infinity, a NaN a NaN. */
static inline uint16_t half_bits(float x, int dtype)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if (dtype == PA_BF16)
        return (uint16_t)(bits >> 16);
    const uint16_t sign = (uint16_t)(bits >> 16 & 0x8000);
    if (isnan(x))
        return 0x7E00;
    const float a = fabsf(x);
    if (!(a < 65504.0f))
        return (uint16_t)(sign | 0x7C00);
    if (a < 0x1p-14f)           /* subnormal (or zero): multiples of 2^-24 */
        return (uint16_t)(sign | (uint16_t)(a * 16777216.0f));
    return (uint16_t)(sign | ((bits >> 23 & 0xFF) - 112) << 10 | (bits >> 13 & 0x3FF));
}

static inline long long small(reader *r, int range) { return read_u8(r) % range; }

/* One of n sizes, as the input says, becomes hostile. The value is read
 * before the choice: the order clang gave the one-expression form that
 * older inputs were recorded with (C leaves it unspecified). */
static inline void spoil_one(reader *r, long long *const each[], int n)
{
    long long x = read_hostile(r);
    *each[read_u8(r) % n] = x;
}

/* PANATTN_FUZZ_TRACE=1 prints each call and its status: what an input
 * decodes to (a seed, say, should be a valid call). */
static inline void trace(const char *fn, int rc)
{
    static int on = -1;
    if (on < 0)
        on = getenv("PANATTN_FUZZ_TRACE") != NULL;
    if (on)
        fprintf(stderr, "%s: %s %s\n", fn, pa_status_name(rc), rc != PA_OK ? pa_last_error() : "");
}

/* Scalar, AVX2 or AVX-512 kernels; SIMDe's emulation stands in for
 * AVX-512 on a CPU without it, so every level is fuzzed everywhere.
 * Returns the work a call may do: the emulation runs some twenty times
 * slower than the real kernels, so it gets smaller problems. */
static inline double select_isa(int level)
{
#if defined(PANATTN_EMULATE_AVX512)
    if (level == PA_ISA_AVX512 && pa_isa_supported() < PA_ISA_AVX512) {
        pa_install_kernels(&pa_kernels_avx512_emulated);
        return MAX_WORK / 16;
    }
#endif
    pa_set_max_isa(level);
    return MAX_WORK;
}

/* 1 + the largest offset a shape and strides reach, or -1 when a size or
 * stride is negative or the reach exceeds MAX_ELEMENTS; 0 when empty. */
static inline long long extent(const long long shape[4], const long long strides[4])
{
    for (int d = 0; d < 4; d++)
        if (shape[d] == 0)
            return 0;
    long long last = 0;
    for (int d = 0; d < 4; d++) {
        if (shape[d] == 1)
            continue;               /* never stepped: any stride is fine */
        if (shape[d] < 0 || strides[d] < 0 || shape[d] > MAX_ELEMENTS || strides[d] > MAX_ELEMENTS)
            return -1;
        last += (shape[d] - 1) * strides[d];
        if (last >= MAX_ELEMENTS)
            return -1;
    }
    return last + 1;
}

static inline void fill(fuzz_case *c, unsigned char *mem, size_t bytes, int dtype)
{
    uint8_t mode = read_u8(&c->in);
    uint32_t seed = read_u32(&c->in) | 1u;
    static const float special[] = { NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 3.4e38f, -3.4e38f, 0.0f };
    if (dtype == PA_BOOL) {     /* mostly keep; mode 1: keep all; mode >= 2: any byte */
        for (size_t i = 0; i < bytes; i++) {
            seed = seed * 1664525u + 1013904223u;
            mem[i] = mode == 0 ? (seed >> 24) % 4 != 0 : mode == 1 ? 1 : (unsigned char)(seed >> 24);
        }
        return;
    }
    const int size = elem_size(dtype);  /* 4, or 2 for half precision */
    for (size_t i = 0; i + (size_t)size <= bytes; i += (size_t)size) {
        seed = seed * 1664525u + 1013904223u;
        float x = (float)(int)(seed >> 20) / 2048.0f - 1.0f;   /* [-1, 1) */
        if (mode % 8 == 7 && (seed >> 8) % 16 == 0) {
            x = special[(seed >> 12) % 8];
            c->finite = 0;
        }
        if (size == 2) {
            const uint16_t h = half_bits(x, dtype);
            memcpy(mem + i, &h, 2);
        } else {
            memcpy(mem + i, &x, 4);
        }
    }
}

/* Allocates slot i, bytes long, and fills it from the input. */
static inline unsigned char *allocate(fuzz_case *c, int i, size_t bytes, int dtype)
{
    slot *sl = &c->slots[i];
    sl->bytes = bytes;
    sl->mem = malloc(bytes > 0 ? bytes : 1);
    fill(c, sl->mem, bytes, dtype);
    return sl->mem;
}

/* Strides for t's shape in one of several layouts the input picks;
 * hostile strides come from the input too. */
static inline void make_strides(reader *r, pa_tensor *t)
{
    /* Strides follow the sizes, clamped so the harness's own arithmetic
     * stays small. */
    long long s[4];
    for (int d = 0; d < 4; d++)
        s[d] = t->shape[d] > 0 && t->shape[d] < MAX_ELEMENTS ? t->shape[d] : 1;
    uint8_t layout = read_u8(r);
    long long pad = layout >> 4 & 3;
    long long *st = t->strides;
    st[3] = 1;
    switch (layout % 8) {
    case 3: {   /* storage order of dims 0..2 permuted, last dim contiguous */
        static const int perms[6][3] = { {0,1,2}, {0,2,1}, {1,0,2}, {1,2,0}, {2,0,1}, {2,1,0} };
        const int *p = perms[(layout >> 3) % 6];
        long long step = s[3] + pad;
        for (int k = 2; k >= 0; k--) {
            st[p[k]] = step;
            step *= s[p[k]];
        }
        break;
    }
    case 4:     /* a broadcast (stride 0) dimension */
    case 5: {   /* strides from the input, hostile or small */
        for (int d = 0; d < 4; d++)
            st[d] = layout % 8 == 5 ? ((read_u8(r) & 1) ? read_hostile(r) : (long long)read_u8(r) - 2)
                                    : d == 3 ? 1 : s[d + 1] * (d == 2 ? 1 : 4);
        if (layout % 8 == 4)
            st[read_u8(r) % 3] = 0;
        break;
    }
    case 6:     /* a non-unit last stride */
        st[3] = 2;
        /* fall through */
    default: {  /* row-major, rows padded by pad elements */
        long long step = s[3] * st[3] + pad;
        st[2] = step;
        for (int d = 1; d >= 0; d--) {
            step *= s[d + 1];
            st[d] = step;
        }
    }
    }
}

/* Builds descriptor i: the intended shape `want`, then the spoiling the
 * input asks for, over memory allocated to fit (honest capacity). A dtype
 * of PA_ANY_FLOAT intends PA_F32, or PA_F16 or PA_BF16 as the input says. */
static inline void make_tensor(fuzz_case *c, int i, const long long want[4], int dtype)
{
    reader *r = &c->in;
    pa_tensor *t = &c->t[i];
    memset(t, 0, sizeof *t);
    uint8_t m = read_u8(r);
    memcpy(t->shape, want, sizeof t->shape);
    if ((m & 3) == 3) {
        long long *const each[] = { &t->shape[0], &t->shape[1], &t->shape[2], &t->shape[3] };
        spoil_one(r, each, 4);
    }
    const int pick = m >> 2 & 7;
    if (dtype == PA_ANY_FLOAT)
        dtype = pick == 5 ? PA_F16 : pick == 6 ? PA_BF16 : PA_F32;
    t->dtype = pick == 7 ? (int)read_u32(r) : dtype;
    t->reserved = (m >> 5) == 7 ? (int)read_u8(r) : 0;
    c->given[i] = (m >> 5) != 6;
    make_strides(r, t);

    uint8_t mem_mode = read_u8(r);
    long long need = extent(t->shape, t->strides);
    if (need < 0)
        need = read_u8(r) % 64;
    if ((mem_mode & 7) == 7 && need > 0)
        need--;                                     /* one element too little */
    int es = elem_size(t->dtype);
    int misalign = (mem_mode >> 3 & 7) == 7 && es > 1;
    int null_data = (mem_mode >> 3 & 7) == 6;
    int alias = (mem_mode >> 6) == 3 && i != 0;
    if (alias) {        /* the memory of an earlier slot (outputs over inputs...) */
        slot *other = &c->slots[read_u8(r) % i];
        size_t off = (size_t)read_u8(r) * 4;
        if (other->mem != NULL && off < other->bytes) {
            t->data = other->mem + off;
            t->capacity = (long long)((other->bytes - off) / (size_t)es);
            c->finite = 0;
            return;
        }
    }
    if (null_data) {
        t->data = NULL;
        t->capacity = 0;
        return;
    }
    t->data = allocate(c, i, (size_t)need * (size_t)es + (size_t)misalign, t->dtype) + misalign;
    t->capacity = need;
}

/* Descriptor i as an argument: NULL when the input withheld it. */
static inline const pa_tensor *arg(const fuzz_case *c, int i) { return c->given[i] ? &c->t[i] : NULL; }

/* Tensor i is part of the call: given, and an option only with options. */
static inline int present(const fuzz_case *c, int i) { return c->given[i] && (i < ARGS || c->opts_given); }

/* ---- problems and options of the attention rules ------------------------ */

/* Sizes of an attention problem; D is the rule's own width (Dk, A or Dq). */
typedef struct sizes {
    long long B, H, Hkv, Lq, Lk, D, Dv;
} sizes;

static inline sizes read_sizes(reader *r)
{
    sizes s;
    s.B = 1 + small(r, 3);
    s.Hkv = 1 + small(r, 3);
    s.H = s.Hkv * (1 + small(r, 3));
    uint8_t lengths = read_u8(r);
    s.Lq = 1 + small(r, 40);
    s.Lk = 1 + small(r, 40);
    s.D = 1 + small(r, 17);
    s.Dv = 1 + small(r, 17);
    if (lengths & 1)
        s.Lq = small(r, 2) ? 257 + small(r, 60) : 0;   /* several query tiles, or none */
    if (lengths & 2)
        s.Lk = 0;
    if (lengths & 4)
        s.Dv = 0;
    if (lengths & 8)
        s.D = 0;
    if (lengths & 64) {         /* one size hostile in every tensor alike */
        long long *const each[] = { &s.B, &s.H, &s.Hkv, &s.Lq, &s.Lk, &s.D, &s.Dv };
        spoil_one(r, each, 7);
    }
    return s;
}

/* The options' scalars of a rule: passed or NULL, causal rule, scale. */
static inline void read_rule(fuzz_case *c)
{
    uint8_t opt = read_u8(&c->in);
    c->opts_given = (opt & 7) != 7;
    c->o.causal = (opt >> 3 & 3) == 3 ? (int)read_u32(&c->in) : opt >> 3 & 3;
    static const float scales[] = { 0.0f, 0.5f, -1.0f, 1e-30f, 1e30f, NAN, INFINITY, 3.0f };
    c->o.scale = scales[opt >> 5];
}

/* A mask over `dims` (B, H, Lq, Lk) in slot i: a keep-mask when bits & 3
 * is 1, else additive; bits 4, 8, 16 keep B, H, Lq (else broadcast). */
static inline const pa_tensor *make_mask(fuzz_case *c, int i, unsigned bits, const long long dims[4])
{
    const long long shape[4] = { bits & 4 ? dims[0] : 1, bits & 8 ? dims[1] : 1, bits & 16 ? dims[2] : 1,
                                 dims[3] };
    make_tensor(c, i, shape, (bits & 3) == 1 ? PA_BOOL : PA_F32);
    return arg(c, i);
}

/* A caller workspace, maybe too small, misaligned or over the memory of
 * a tensor of the call (the memory of one left out is the library's to
 * use). */
static inline void make_workspace(fuzz_case *c, long long Lk)
{
    uint8_t w = read_u8(&c->in);
    const long long keys = Lk >= 0 && Lk <= MAX_ELEMENTS ? Lk : 0;    /* a hostile Lk */
    long long bytes = (long long)(w & 3) * keys * 256 * 4 / 3 + (w >> 2);
    const int over = w >> 6 == 3 ? read_u8(&c->in) % TENSORS : -1;
    const slot *other = over >= 0 && present(c, over) ? &c->slots[over] : NULL;
    if (other != NULL && other->mem != NULL) {
        c->o.workspace = other->mem;
        c->o.workspace_bytes = (long long)other->bytes;
        c->finite = 0;
    } else if (bytes < MAX_ELEMENTS * 4) {
        slot *sl = &c->slots[WORKSPACE];
        sl->bytes = (size_t)bytes + 1;
        sl->mem = malloc(sl->bytes);
        memset(sl->mem, 0x5A, sl->bytes);
        c->o.workspace = sl->mem + (w >> 5 == 5);
        c->o.workspace_bytes = bytes;
    }
}

/* Softcap, ALiBi slopes, a T5 bias table and a sliding window, as the
 * bits of `more` ask. */
static inline void make_positional(fuzz_case *c, uint8_t more, long long H)
{
    reader *r = &c->in;
    if (more & 4) {
        const long long slopes[4] = { 1, 1, 1, H };
        make_tensor(c, ALIBI, slopes, PA_F32);
        c->o.alibi_slopes = arg(c, ALIBI);
    }
    if (more & 8) {
        const long long table[4] = { 1, 1, H, 2 + small(r, 40) };
        make_tensor(c, REL_BIAS, table, PA_F32);
        c->o.rel_bias = arg(c, REL_BIAS);
        uint8_t b = read_u8(r), d = read_u8(r);
        c->o.rel_bidirectional = b == 255 ? (int)read_u32(r) : b & 1;
        c->o.rel_max_distance = d == 255 ? (int)read_u32(r) : d;    /* T5: 128 */
    }
    if (more & 16) {
        static const float caps[] = { 5.0f, 0.5f, 30.0f, 0.0f, 1e-30f, -1.0f, NAN, INFINITY };
        c->o.softcap = caps[read_u8(r) % 8];
    }
    if (more & 32) {
        uint8_t w = read_u8(r);
        c->o.window = w < 200 ? 1 + w % 50 : read_hostile(r);
    }
}

/* A two-sided window (window_extents, extents from -1 up, or hostile) and
 * per-row key lengths, as the bits of `ranges` ask. The lengths' memory
 * holds exactly their count (honest, as a capacity): B lengths, mostly in
 * [0, Lk], or another count, misaligned, or a NULL pointer with a count. */
static inline void make_key_ranges(fuzz_case *c, uint8_t ranges, const long long dims[4])
{
    reader *r = &c->in;
    if (ranges & 1) {
        uint8_t e = read_u8(r);
        c->o.window_extents = e == 255 ? (int)read_u32(r) : 1;
        c->o.window_left = e & 2 ? read_hostile(r) : small(r, 50) - 1;
        c->o.window_right = e & 4 ? read_hostile(r) : small(r, 50) - 1;
    }
    if (!(ranges & 2))
        return;
    uint8_t m = read_u8(r);
    const long long count = m & 1 ? read_hostile(r) : dims[0];
    if (count < 0 || count > MAX_ELEMENTS / 8 || (m & 6) == 6) {
        c->o.key_lengths_count = count;     /* without the memory a count would need */
        return;
    }
    const long long keys = dims[3] >= 0 && dims[3] <= MAX_ELEMENTS ? dims[3] : 40;
    const size_t misalign = (m & 6) == 4 ? 4 : 0;
    slot *sl = &c->slots[KEY_LENGTHS];
    sl->bytes = (size_t)count * 8 + misalign;
    sl->mem = malloc(sl->bytes > 0 ? sl->bytes : 1);
    for (long long b = 0; b < count; b++) {
        uint8_t x = read_u8(r);
        long long n = x == 255 ? read_hostile(r) : x % 4 == 0 ? keys : (long long)(x / 4) % (keys + 1);
        memcpy(sl->mem + misalign + (size_t)b * 8, &n, 8);
    }
    c->o.key_lengths = (const long long *)(void *)(sl->mem + misalign);
    c->o.key_lengths_count = count;
}

/* The options' tensors and workspace for a problem of `dims` (B, H, Lq, Lk). */
static inline void make_options(fuzz_case *c, const long long dims[4])
{
    reader *r = &c->in;
    uint8_t extras = read_u8(r);
    if (extras & 3)
        c->o.mask = make_mask(c, MASK, extras, dims);
    if (extras & 32) {
        make_tensor(c, WEIGHTS, dims, PA_F32);
        c->o.weights = arg(c, WEIGHTS);
        if (c->o.weights != NULL && c->opts_given)
            c->outputs |= 1u << WEIGHTS;
    }
    /* Behind a bit older inputs leave clear, so inputs written before
     * these options existed decode to the same calls. */
    uint8_t more = extras & 128 ? read_u8(r) : 0;
    if (more & 3)
        c->o.key_padding = make_mask(c, KEY_PADDING, (more & 3u) | (read_u8(r) & 0x1cu), dims);
    make_positional(c, more, dims[1]);
    if (extras & 64)            /* it may lie over any tensor */
        make_workspace(c, dims[3]);
    /* Last: read where older inputs end, so they decode to the same calls. */
    make_key_ranges(c, read_u8(r), dims);
}

/* values (B, Hkv, Lk, Dv) and out (B, H, Lq, Dv) in their slots, then the
 * options: what every attention rule takes after its own inputs. */
static inline void make_attention_rest(fuzz_case *c, const sizes *s, int values, int out)
{
    const long long v[4] = { s->B, s->Hkv, s->Lk, s->Dv }, o[4] = { s->B, s->H, s->Lq, s->Dv };
    make_tensor(c, values, v, PA_ANY_FLOAT);
    make_tensor(c, out, o, PA_F32);
    c->outputs |= 1u << out;
    const long long dims[4] = { s->B, s->H, s->Lq, s->Lk };
    make_options(c, dims);
}

/* A size as it counts toward a call's work. One beyond the harness's
 * memory (or negative) counts as 0: no honest output can hold it, so the
 * call must fail or compute nothing (one that computes anyway shows as a
 * timeout). */
static inline double call_size(long long x) { return x >= 0 && x <= MAX_ELEMENTS ? (double)x : 0.0; }

/* A size as the float64 reference loops over it: as declared. */
static inline double reference_size(long long x) { return fabs((double)x); }

/* Steps of loops nested as n[0] { n[1] { ... n[k - 1] } }: each loop
 * counts even when the loops inside it are empty (B = 2^62 with H = 0
 * still loops 2^62 times). */
static inline double nested(const double n[], int k)
{
    double steps = 1.0;
    for (int i = k - 1; i >= 0; i--)
        steps = 1.0 + n[i] * steps;
    return steps;
}

/* Work of an attention rule, in multiply-adds: B * H * Lq query rows
 * (queries), Lk keys of width D (keys, dims 2 and 3) at width_cost each,
 * values of width Dv, and some 16 for each score's softmax and masks;
 * plus a row of Lk scores, which the reference allocates in any case. */
static inline double attention_work(const pa_tensor *queries, const pa_tensor *keys, const pa_tensor *values,
                                    double width_cost, double (*size)(long long))
{
    const double n[] = { size(queries->shape[0]), size(queries->shape[1]), size(queries->shape[2]),
                         size(keys->shape[2]), width_cost * size(keys->shape[3]) + size(values->shape[3]) + 16.0 };
    return nested(n, 5) + size(keys->shape[2]);
}

/* ---- calls -------------------------------------------------------------- */

/* The arguments of one call. A _buffers twin gets descriptors whose data
 * field is a decoy it must ignore, each tensor's memory as an argument of
 * its own, and the decoy for every tensor that is absent. */
typedef struct call_args {
    pa_tensor t[TENSORS];
    const pa_tensor *arg[TENSORS];  /* NULL where not given */
    void *data[TENSORS];            /* the twin's buffer arguments */
    pa_sdpa_options o;
    const pa_sdpa_options *opts;
} call_args;

static inline void make_call_args(const fuzz_case *c, int twin, call_args *a)
{
    void *const decoy = (void *)(uintptr_t)256;    /* never mapped, aligned */
    for (int i = 0; i < TENSORS; i++) {
        a->t[i] = c->t[i];
        if (twin)
            a->t[i].data = decoy;
        a->arg[i] = c->given[i] ? &a->t[i] : NULL;
        a->data[i] = present(c, i) ? c->t[i].data : decoy;
    }
    a->o = c->o;
    a->o.mask = c->o.mask != NULL ? &a->t[MASK] : NULL;
    a->o.weights = c->o.weights != NULL ? &a->t[WEIGHTS] : NULL;
    a->o.key_padding = c->o.key_padding != NULL ? &a->t[KEY_PADDING] : NULL;
    a->o.alibi_slopes = c->o.alibi_slopes != NULL ? &a->t[ALIBI] : NULL;
    a->o.rel_bias = c->o.rel_bias != NULL ? &a->t[REL_BIAS] : NULL;
    a->opts = c->opts_given ? &a->o : NULL;
}

/* ---- checks ------------------------------------------------------------- */

/* Keeps a copy of every slot's memory. */
static inline void snapshot(fuzz_case *c)
{
    for (int s = 0; s < SLOTS; s++)
        if (c->slots[s].mem != NULL) {
            c->slots[s].before = malloc(c->slots[s].bytes > 0 ? c->slots[s].bytes : 1);
            memcpy(c->slots[s].before, c->slots[s].mem, c->slots[s].bytes);
        }
}

static inline void release(fuzz_case *c)
{
    for (int s = 0; s < SLOTS; s++) {
        free(c->slots[s].mem);
        free(c->slots[s].before);
    }
}

/* Offset of element (a, b, i, d) of t, in elements. */
static inline long long offset(const pa_tensor *t, long long a, long long b, long long i, long long d)
{
    return a * t->strides[0] + b * t->strides[1] + i * t->strides[2] + d * t->strides[3];
}

/* Marks the bytes of every element of t that lie in slot sl. */
static inline void mark(const pa_tensor *t, const slot *sl, unsigned char *written)
{
    if (t->data == NULL || sl->mem == NULL || extent(t->shape, t->strides) <= 0)
        return;
    const int size = elem_size(t->dtype);
    for (long long a = 0; a < t->shape[0]; a++)
        for (long long b = 0; b < t->shape[1]; b++)
            for (long long i = 0; i < t->shape[2]; i++)
                for (long long d = 0; d < t->shape[3]; d++) {
                    const unsigned char *p = (const unsigned char *)t->data + offset(t, a, b, i, d) * size;
                    if (p >= sl->mem && p + size <= sl->mem + sl->bytes)
                        memset(written + (p - sl->mem), 1, (size_t)size);
                }
}

/* A failed call leaves a message. Every changed byte belongs to an element
 * of an output, and only a successful call changes any. The workspace is
 * the library's to use. */
static inline void check_call(const fuzz_case *c, int rc)
{
    trap_if(rc != PA_OK && pa_last_error()[0] == '\0');
    for (int s = 0; s < SLOTS; s++) {
        const slot *sl = &c->slots[s];
        if (s == WORKSPACE || sl->mem == NULL || memcmp(sl->mem, sl->before, sl->bytes) == 0)
            continue;
        trap_if(rc != PA_OK);
        unsigned char *written = calloc(sl->bytes, 1);
        for (int i = 0; i < TENSORS; i++)
            if (c->outputs >> i & 1)
                mark(&c->t[i], sl, written);
        for (size_t b = 0; b < sl->bytes; b++)
            trap_if(sl->mem[b] != sl->before[b] && !written[b]);
        free(written);
    }
}

/* The largest magnitude among the elements of t (float32 or half). */
static inline double max_abs(const pa_tensor *t)
{
    double m = 1e-30;
    if (pa_numel(t) == 0)
        return m;               /* its other sizes may be huge */
    for (long long a = 0; a < t->shape[0]; a++)
        for (long long b = 0; b < t->shape[1]; b++)
            for (long long i = 0; i < t->shape[2]; i++)
                for (long long d = 0; d < t->shape[3]; d++) {
                    const long long at = offset(t, a, b, i, d);
                    double x = fabs(t->dtype == PA_F16 || t->dtype == PA_BF16
                                    ? ref_half(((const uint16_t *)t->data)[at], t->dtype)
                                    : ((const float *)t->data)[at]);
                    m = x > m ? x : m;
                }
    return m;
}

/* Every element of the float tensor t lies within tol of ref, its
 * contiguous float64 reference. */
static inline void compare(const pa_tensor *t, const double *ref, double tol)
{
    long long n = 0;
    for (long long a = 0; a < t->shape[0]; a++)
        for (long long b = 0; b < t->shape[1]; b++)
            for (long long i = 0; i < t->shape[2]; i++)
                for (long long d = 0; d < t->shape[3]; d++, n++) {
                    float got = ((const float *)t->data)[offset(t, a, b, i, d)];
                    trap_if(!(fabs(got - ref[n]) <= tol));
                }
}

/* A successful attention result on finite data against ref_attention.
 * Scales beyond a few units turn float rounding into different argmaxes:
 * the reference is not comparable there. */
static inline void check_attention(const fuzz_case *c, const ref_rule *rule, int values, int out)
{
    static const pa_sdpa_options defaults;
    const pa_sdpa_options *opts = c->opts_given ? &c->o : &defaults;
    if (!c->finite || !(fabsf(opts->scale) <= 3.0f))
        return;
    const pa_tensor *o = &c->t[out], *w = c->outputs >> WEIGHTS & 1 ? &c->t[WEIGHTS] : NULL;
    const long long nout = pa_numel(o), nw = w != NULL ? pa_numel(w) : 0;
    if (nout == 0 && nw == 0)
        return;                 /* nothing to compare; H = 0 may pair with huge broadcast values */
    /* A row's output mixes values; its float error scales with them, not
     * with the output, which may cancel to almost nothing. */
    const double tol_out = 1e-4 * max_abs(&c->t[values]);
    double *ref_out = malloc(sizeof(double) * (size_t)(nout + 1));
    double *ref_w = malloc(sizeof(double) * (size_t)(nw + 1));
    ref_attention(rule, &c->t[values], opts, ref_out, w != NULL ? ref_w : NULL);
    compare(o, ref_out, tol_out);
    if (w != NULL)
        compare(w, ref_w, 1e-4);
    free(ref_out);
    free(ref_w);
}

#endif
