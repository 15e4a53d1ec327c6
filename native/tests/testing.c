/* Shared helpers of the C tests: counters, random data, guarded buffers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testing.h"

int passed, failed;

static unsigned long long rng = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1), never all zeros. */
float frand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* bhld = 0: storage (B,H,L,D); bhld = 1: storage (B,L,H,D) seen as (B,H,L,D). */
buf make(long long B, long long H, long long L, long long D, int bhld, int random)
{
    buf b;
    long long n = B * H * L * D;
    b.base = malloc(sizeof(float) * (size_t)(n + 2 * GUARD));
    for (long long i = 0; i < n + 2 * GUARD; i++)
        b.base[i] = SENTINEL;
    for (long long i = 0; i < n; i++)
        b.base[GUARD + i] = random ? frand() : SENTINEL;
    memset(&b.t, 0, sizeof b.t);
    b.t.data = b.base + GUARD;
    b.t.dtype = PA_F32;
    long long shape[4] = { B, H, L, D };
    memcpy(b.t.shape, shape, sizeof shape);
    if (bhld) {
        long long st[4] = { L * H * D, D, H * D, 1 };
        memcpy(b.t.strides, st, sizeof st);
    } else {
        long long st[4] = { H * L * D, L * D, D, 1 };
        memcpy(b.t.strides, st, sizeof st);
    }
    b.t.capacity = n;
    return b;
}

/* f truncated to a PA_F16 or PA_BF16 value; |f| below 65504, binary16's largest. */
static unsigned short truncate_to_half(float f, int dtype)
{
    unsigned int bits;
    memcpy(&bits, &f, sizeof bits);
    if (dtype == PA_BF16)
        return (unsigned short)(bits >> 16);
    const unsigned short sign = (unsigned short)(bits >> 16 & 0x8000);
    const int exponent = (int)(bits >> 23 & 0xFF) - 127 + 15;
    if (exponent <= 0)          /* a binary16 subnormal (or zero): whole multiples of 2^-24 */
        return (unsigned short)(sign | (unsigned short)(fabsf(f) * 16777216.0f));
    return (unsigned short)(sign | exponent << 10 | (bits >> 13 & 0x3FF));
}

void to_half(buf *b, int dtype)
{
    unsigned short *h = (unsigned short *)(void *)(b->base + GUARD);
    /* In place, upwards: half i overwrites bytes of floats already read. */
    for (long long i = 0; i < b->t.capacity; i++)
        h[i] = truncate_to_half(b->base[GUARD + i], dtype);
    b->t.dtype = dtype;
}

int guards_intact(const buf *b)
{
    long long n = b->t.capacity;
    for (int i = 0; i < GUARD; i++)
        if (b->base[i] != SENTINEL || b->base[GUARD + n + i] != SENTINEL)
            return 0;
    return 1;
}

/* max |got - want| / max |want| over a tensor; got read through strides. */
double rel_error(const pa_tensor *got, const double *want)
{
    double err = 0.0, scale = 1e-30;
    long long i = 0;
    for (long long a = 0; a < got->shape[0]; a++)
        for (long long b = 0; b < got->shape[1]; b++)
            for (long long c = 0; c < got->shape[2]; c++)
                for (long long d = 0; d < got->shape[3]; d++, i++) {
                    float g = ((float *)got->data)[a * got->strides[0] + b * got->strides[1]
                                                   + c * got->strides[2] + d * got->strides[3]];
                    double e = fabs((double)g - want[i]);
                    if (!(e <= err)) /* NaN counts as the largest error */
                        err = isnan(e) ? INFINITY : e;
                    if (fabs(want[i]) > scale)
                        scale = fabs(want[i]);
                }
    return err / scale;
}


/* Whether level is one of this architecture's (the library's own list is
 * in isa.c; this one states what the tests expect). */
static int level_of_this_arch(int level)
{
#if defined(PANATTN_X86)
    return level == PA_ISA_SCALAR || level == PA_ISA_AVX2 || level == PA_ISA_AVX512;
#elif defined(PANATTN_AARCH64)
    return level == PA_ISA_SCALAR || level == PA_ISA_NEON;
#else
    return level == PA_ISA_SCALAR;
#endif
}

/* The kernels of a level this CPU cannot run, on SIMDe's portable
 * intrinsics when the tests were built with them; else NULL. */
static const pa_kernels *emulated(int level)
{
#if defined(PANATTN_EMULATE_AVX512)
    if (level == PA_ISA_AVX512)
        return &pa_kernels_avx512_emulated;
#endif
#if defined(PANATTN_EMULATE_NEON)
    if (level == PA_ISA_NEON)
        return &pa_kernels_neon_emulated;
#endif
    (void)level;
    return NULL;
}

/* Applies PANATTN_MAX_ISA (which the library read at its first call) and
 * checks that the library obeyed it; says how the level runs. */
static const char *select_level(void)
{
    const char *cap = getenv("PANATTN_MAX_ISA");
    if (cap == NULL || *cap == '\0')
        return "native";
    int want = -1;
    for (int level = PA_ISA_SCALAR; level <= PA_ISA_NEON; level++)
        if (strcmp(cap, pa_isa_name(level)) == 0)
            want = level;
    CHECK(want >= 0, "PANATTN_MAX_ISA=%s names no level", cap);
    const int supported = pa_isa_supported();
    if (level_of_this_arch(want)) {
        int expected = want < supported ? want : supported;
        CHECK(pa_isa() == expected, "PANATTN_MAX_ISA=%s selects %s", cap, pa_isa_name(pa_isa()));
        if (want <= supported)
            return "native";
    } else if (want >= 0) {
        CHECK(pa_isa() == supported, "PANATTN_MAX_ISA=%s (another architecture's) is no cap, "
              "yet %s runs", cap, pa_isa_name(pa_isa()));
        int rc = pa_set_max_isa(want);
        CHECK(rc == PA_EUNSUPPORTED && strstr(pa_last_error(), cap) != NULL,
              "pa_set_max_isa(%s) refused: status %d, '%s'", cap, rc, pa_last_error());
        CHECK(pa_isa() == supported, "a refused cap changed the level to %s", pa_isa_name(pa_isa()));
    }
    const pa_kernels *table = emulated(want);
    CHECK(table != NULL, "this CPU cannot run %s and SIMDe was not found to emulate it", cap);
    if (table == NULL)
        return "missing";
    pa_install_kernels(table);
    return "emulated by SIMDe: this CPU lacks it";
}

int quick_tests(void)
{
    const char *q = getenv("PANATTN_TEST_QUICK");
    return q != NULL && *q != '\0' && strcmp(q, "0") != 0;
}

void select_isa(void)
{
    /* Emulated runs compute on one thread: under qemu-user, OpenBLAS's
     * locks livelock when two threads call it at once (native runs and the
     * thread tests cover the pool). */
    if (quick_tests())
        pa_set_num_threads(1);
    const char *how = select_level();
    printf("panattn %s, ISA %s (%s; CPU supports %s), BLAS: %s (%d BLAS thread)\n", pa_version(),
           pa_isa_name(pa_isa()), how, pa_isa_name(pa_isa_supported()), pa_blas_info(),
           pa_blas_threads());
}
