/*
 * libFuzzer harness for the attention entry points: pa_sdpa,
 * pa_sdpa_buffers and pa_sdpa_workspace_size, at every ISA level.
 *
 * The input describes a problem (sizes, causal rule, scale, mask, weights,
 * workspace) and then, tensor by tensor, how to spoil it: hostile sizes
 * and strides, wrong dtypes, nonzero reserved fields, NULL descriptors or
 * data, misaligned data, one element too little memory, outputs aliasing
 * inputs, NaN and infinities in the data. Every descriptor's capacity is
 * the honest size of the memory the harness allocated for it (the library
 * can only check against the declared capacity).
 *
 * What must hold, or the harness traps:
 *  - a failed call writes nothing and leaves a message;
 *  - a successful call writes only elements of out and weights;
 *  - on finite data, a successful result matches the float64 reference.
 * AddressSanitizer and UndefinedBehaviorSanitizer catch the rest. Problems
 * too big to compute within the fuzzer's time are only validated
 * (pa_sdpa_workspace_size runs the same checks).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "internal.h"
#include "panattn.h"
#include "reference.h"

#define MAX_ELEMENTS 20000      /* per buffer the harness allocates */
#define MAX_WORK 3000000.0      /* multiply-adds beyond which a call is only validated */

enum { Q, K, V, OUT, MASK, WEIGHTS, WORKSPACE, SLOTS };

typedef struct slot {
    unsigned char *mem;         /* allocation, exactly bytes long */
    size_t bytes;
    unsigned char *before;      /* its contents before the call */
} slot;

typedef struct fuzz_case {
    reader in;
    slot slots[SLOTS];
    pa_tensor t[WORKSPACE];     /* descriptors as given to the library */
    int given[WORKSPACE];       /* descriptor passed (not NULL) */
    int finite;                 /* every value small and finite, no aliasing */
    pa_sdpa_options o;
    int opts_given;
} fuzz_case;

static void trap_if(int bad) { if (bad) __builtin_trap(); }

static int elem_size(int dtype) { return dtype == PA_BOOL ? 1 : 4; }

/* 1 + the largest offset a shape and strides reach, or -1 when a size or
 * stride is negative or the reach exceeds MAX_ELEMENTS; 0 when empty. */
static long long extent(const long long shape[4], const long long strides[4])
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

static void fill(fuzz_case *c, unsigned char *mem, size_t bytes, int dtype)
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
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
        seed = seed * 1664525u + 1013904223u;
        float x = (float)(int)(seed >> 20) / 2048.0f - 1.0f;   /* [-1, 1) */
        if (mode % 8 == 7 && (seed >> 8) % 16 == 0) {
            x = special[(seed >> 12) % 8];
            c->finite = 0;
        }
        memcpy(mem + i, &x, 4);
    }
}

/* Builds descriptor i: the intended shape `want`, then the spoiling the
 * input asks for, over memory allocated to fit (honest capacity). */
static void make_tensor(fuzz_case *c, int i, const long long want[4], int dtype)
{
    reader *r = &c->in;
    pa_tensor *t = &c->t[i];
    memset(t, 0, sizeof *t);
    uint8_t m = read_u8(r);
    memcpy(t->shape, want, sizeof t->shape);
    if ((m & 3) == 3)
        t->shape[read_u8(r) % 4] = read_hostile(r);
    t->dtype = (m >> 2 & 7) == 7 ? (int)read_u32(r) : dtype;
    t->reserved = (m >> 5) == 7 ? (int)read_u8(r) : 0;
    c->given[i] = (m >> 5) != 6;

    /* Strides follow the sizes, clamped so the harness's own arithmetic
     * stays small; hostile strides come from the input below. */
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

    uint8_t mem_mode = read_u8(r);
    long long need = extent(t->shape, t->strides);
    if (need < 0)
        need = read_u8(r) % 64;
    if ((mem_mode & 7) == 7 && need > 0)
        need--;                                     /* one element too little */
    int es = elem_size(t->dtype == PA_BOOL ? PA_BOOL : PA_F32);
    int misalign = (mem_mode >> 3 & 7) == 7 && es > 1;
    int null_data = (mem_mode >> 3 & 7) == 6;
    int alias = (mem_mode >> 6) == 3 && i != Q;
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
    slot *sl = &c->slots[i];
    sl->bytes = (size_t)need * (size_t)es + (size_t)misalign;
    sl->mem = malloc(sl->bytes > 0 ? sl->bytes : 1);
    fill(c, sl->mem, sl->bytes, t->dtype == PA_BOOL ? PA_BOOL : PA_F32);
    t->data = sl->mem + misalign;
    t->capacity = need;
}

static long long small(reader *r, int range) { return read_u8(r) % range; }

static void make_case(fuzz_case *c)
{
    reader *r = &c->in;
    c->finite = 1;
    long long B = 1 + small(r, 3), Hkv = 1 + small(r, 3), H = Hkv * (1 + small(r, 3));
    uint8_t lengths = read_u8(r);
    long long Lq = 1 + small(r, 40), Lk = 1 + small(r, 40), Dk = 1 + small(r, 17), Dv = 1 + small(r, 17);
    if (lengths & 1)
        Lq = small(r, 2) ? 257 + small(r, 60) : 0;   /* several query tiles, or none */
    if (lengths & 2)
        Lk = 0;
    if (lengths & 4)
        Dv = 0;
    if (lengths & 8)
        Dk = 0;

    uint8_t opt = read_u8(r);
    c->opts_given = (opt & 7) != 7;
    c->o.causal = (opt >> 3 & 3) == 3 ? (int)read_u32(r) : opt >> 3 & 3;
    static const float scales[] = { 0.0f, 0.5f, -1.0f, 1e-30f, 1e30f, NAN, INFINITY, 3.0f };
    c->o.scale = scales[opt >> 5];

    const long long q[4] = { B, H, Lq, Dk }, k[4] = { B, Hkv, Lk, Dk };
    const long long v[4] = { B, Hkv, Lk, Dv }, out[4] = { B, H, Lq, Dv };
    make_tensor(c, Q, q, PA_F32);
    make_tensor(c, K, k, PA_F32);
    make_tensor(c, V, v, PA_F32);
    make_tensor(c, OUT, out, PA_F32);

    uint8_t extras = read_u8(r);
    if (extras & 3) {           /* a keep-mask or an additive mask, broadcast where bits say */
        const long long mask[4] = { extras & 4 ? B : 1, extras & 8 ? H : 1, extras & 16 ? Lq : 1, Lk };
        make_tensor(c, MASK, mask, (extras & 3) == 1 ? PA_BOOL : PA_F32);
        c->o.mask = c->given[MASK] ? &c->t[MASK] : NULL;
    }
    if (extras & 32) {
        const long long w[4] = { B, H, Lq, Lk };
        make_tensor(c, WEIGHTS, w, PA_F32);
        c->o.weights = c->given[WEIGHTS] ? &c->t[WEIGHTS] : NULL;
    }
    if (extras & 64) {          /* a caller workspace, maybe too small, misaligned or aliased */
        uint8_t w = read_u8(r);
        long long bytes = (long long)(w & 3) * Lk * 256 * 4 / 3 + (w >> 2);
        if (w >> 6 == 3 && c->slots[Q].mem != NULL) {
            c->o.workspace = c->slots[Q].mem;
            c->o.workspace_bytes = (long long)c->slots[Q].bytes;
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
}

/* Marks the bytes of every element of t that lie in slot sl. */
static void mark(const pa_tensor *t, const slot *sl, unsigned char *written)
{
    if (t->data == NULL || sl->mem == NULL || extent(t->shape, t->strides) <= 0)
        return;
    for (long long a = 0; a < t->shape[0]; a++)
        for (long long b = 0; b < t->shape[1]; b++)
            for (long long i = 0; i < t->shape[2]; i++)
                for (long long d = 0; d < t->shape[3]; d++) {
                    long long off = a * t->strides[0] + b * t->strides[1] + i * t->strides[2]
                                  + d * t->strides[3];
                    const unsigned char *p = (const unsigned char *)t->data + off * 4;
                    if (p >= sl->mem && p + 4 <= sl->mem + sl->bytes)
                        memset(written + (p - sl->mem), 1, 4);
                }
}

/* Every changed byte belongs to an element of out or weights, and only a
 * successful call changes any. The workspace is the library's to use. */
static void check_memory(const fuzz_case *c, int rc)
{
    for (int s = 0; s < WORKSPACE; s++) {
        const slot *sl = &c->slots[s];
        if (sl->mem == NULL || memcmp(sl->mem, sl->before, sl->bytes) == 0)
            continue;
        trap_if(rc != PA_OK);
        unsigned char *written = calloc(sl->bytes, 1);
        mark(&c->t[OUT], sl, written);
        if (c->o.weights != NULL)
            mark(&c->t[WEIGHTS], sl, written);
        for (size_t b = 0; b < sl->bytes; b++)
            trap_if(sl->mem[b] != sl->before[b] && !written[b]);
        free(written);
    }
}

static double max_abs(const double *x, long long n)
{
    double m = 1e-30;
    for (long long i = 0; i < n; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* A finite successful result against the float64 reference. */
static void check_result(const fuzz_case *c)
{
    const pa_tensor *out = &c->t[OUT], *w = c->o.weights;
    const long long nout = pa_numel(out), nw = w != NULL ? pa_numel(w) : 0;
    double *ref_out = malloc(sizeof(double) * (size_t)(nout + 1));
    double *ref_w = malloc(sizeof(double) * (size_t)(nw + 1));
    pa_sdpa_options o = c->o;
    ref_sdpa(&c->t[Q], &c->t[K], &c->t[V], &o, ref_out, w != NULL ? ref_w : NULL);
    const double tol_out = 1e-4 * max_abs(ref_out, nout), tol_w = 1e-4;
    long long n = 0;
    for (long long a = 0; a < out->shape[0]; a++)
        for (long long b = 0; b < out->shape[1]; b++)
            for (long long i = 0; i < out->shape[2]; i++) {
                for (long long d = 0; d < out->shape[3]; d++, n++) {
                    float got = ((const float *)out->data)[a * out->strides[0] + b * out->strides[1]
                                                           + i * out->strides[2] + d * out->strides[3]];
                    trap_if(!(fabs(got - ref_out[n]) <= tol_out));
                }
                for (long long j = 0; w != NULL && j < w->shape[3]; j++) {
                    float got = ((const float *)w->data)[a * w->strides[0] + b * w->strides[1]
                                                         + i * w->strides[2] + j * w->strides[3]];
                    trap_if(!(fabs(got - ref_w[((a * w->shape[1] + b) * w->shape[2] + i)
                                                 * w->shape[3] + j]) <= tol_w));
                }
            }
    free(ref_out);
    free(ref_w);
}

/* Multiply-adds the call would do, saturating; sizes as declared. */
static double work(const fuzz_case *c)
{
    const pa_tensor *q = &c->t[Q];
    return fabs((double)q->shape[0]) * fabs((double)q->shape[1]) * fabs((double)q->shape[2])
         * fabs((double)c->t[K].shape[2])
         * (fabs((double)q->shape[3]) + fabs((double)c->t[V].shape[3]) + 2.0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_case c;
    memset(&c, 0, sizeof c);
    c.in.p = data;
    c.in.n = size;
    uint8_t how = read_u8(&c.in);
#if defined(PANATTN_EMULATE_AVX512)
    if (how % 3 == 2 && pa_isa_supported() < PA_ISA_AVX512)
        pa_install_kernels(&pa_kernels_avx512_emulated);
    else
#endif
        pa_set_max_isa(how % 3);
    make_case(&c);
    for (int s = 0; s < SLOTS; s++)
        if (c.slots[s].mem != NULL) {
            c.slots[s].before = malloc(c.slots[s].bytes);
            memcpy(c.slots[s].before, c.slots[s].mem, c.slots[s].bytes);
        }
    const pa_tensor *q = c.given[Q] ? &c.t[Q] : NULL, *k = c.given[K] ? &c.t[K] : NULL;
    const pa_tensor *v = c.given[V] ? &c.t[V] : NULL, *out = c.given[OUT] ? &c.t[OUT] : NULL;
    const pa_sdpa_options *opts = c.opts_given ? &c.o : NULL;
    int entry = how / 3 % 3, rc;
    long long bytes = -1;
    if (entry == 2 || work(&c) > MAX_WORK) {
        rc = pa_sdpa_workspace_size(q, k, v, out, opts, (how & 0x80) ? NULL : &bytes);
        trap_if(rc == PA_OK && bytes < 0);
    } else if (entry == 1) {
        /* The data pointers as arguments; the descriptors' own are cleared. */
        pa_tensor copies[WORKSPACE];
        memcpy(copies, c.t, sizeof copies);
        for (int i = 0; i < WORKSPACE; i++)
            copies[i].data = NULL;
        pa_sdpa_options o = c.o;
        o.mask = c.o.mask != NULL ? &copies[MASK] : NULL;
        o.weights = c.o.weights != NULL ? &copies[WEIGHTS] : NULL;
        rc = pa_sdpa_buffers(q ? &copies[Q] : NULL, k ? &copies[K] : NULL, v ? &copies[V] : NULL,
                             out ? &copies[OUT] : NULL, opts ? &o : NULL, c.t[Q].data, c.t[K].data,
                             c.t[V].data, c.t[OUT].data, c.t[MASK].data, c.t[WEIGHTS].data,
                             NULL, NULL, NULL);
    } else {
        rc = pa_sdpa(q, k, v, out, opts);
    }
    trap_if(rc != PA_OK && pa_last_error()[0] == '\0');
    check_memory(&c, rc);
    /* Scales beyond a few units turn float rounding into different argmaxes:
     * the reference is not comparable there. */
    if (rc == PA_OK && entry != 2 && work(&c) <= MAX_WORK && c.finite && opts != NULL &&
        fabsf(c.o.scale) <= 3.0f)
        check_result(&c);
    for (int s = 0; s < SLOTS; s++) {
        free(c.slots[s].mem);
        free(c.slots[s].before);
    }
    return 0;
}
