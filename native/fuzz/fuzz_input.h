/* Reading a fuzzer's bytes as values. Past the end every read is 0, so a
 * short input still decodes, to the most ordinary choices. */
#ifndef PANATTN_FUZZ_INPUT_H
#define PANATTN_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static inline uint8_t read_u8(reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

static inline uint32_t read_u32(reader *r)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x = x << 8 | read_u8(r);
    return x;
}

static inline uint64_t read_u64(reader *r)
{
    return (uint64_t)read_u32(r) << 32 | read_u32(r);
}

/* A size or stride that breaks assumptions: 0, 1, negatives, 32-bit
 * limits, 2^62, the extremes of long long, or any 64-bit pattern. */
static inline long long read_hostile(reader *r)
{
    static const long long table[] = {
        0, 1, -1, 2, 3, -2, 255, 256, 257, 2147483647LL, 2147483648LL, 4294967296LL,
        1LL << 40, 1LL << 62, 9223372036854775807LL, -9223372036854775807LL - 1,
    };
    uint8_t b = read_u8(r);
    if (b < 16 * 15)
        return table[b % 16];
    return (long long)read_u64(r);
}

#endif
