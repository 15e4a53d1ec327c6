package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Decoding through the KV cache equals causal attention over the whole sequence at once. */
class KvCacheTest {

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void tokenByTokenEqualsWholeSequenceSdpa(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(11);
            int b = 2, h = 4, hkv = 2, len = 9, d = 5;
            Tensor q = Reference.random(arena, rnd, b, h, len, d);
            Tensor k = Reference.random(arena, rnd, b, hkv, len, d);
            Tensor v = Reference.random(arena, rnd, b, hkv, len, d);
            AttentionSpec spec = AttentionSpec.builder().causal(Causal.TOP_LEFT).backend(backend).build();
            Tensor whole = Attention.scaledDotProduct(q, k, v, spec);

            KvCache cache = KvCache.allocate(arena, b, hkv, 16, d);
            Tensor out = Tensor.allocate(arena, b, h, len, d);
            // Prefill 3 tokens, then decode one at a time, then a final chunk of 2.
            int[] chunks = {3, 1, 1, 1, 1, 2};
            int at = 0;
            for (int t : chunks) {
                cache.append(tokens(k, at, t), tokens(v, at, t));
                cache.attend(tokens(q, at, t), tokens(out, at, t), AttentionSpec.builder().backend(backend).build());
                at += t;
            }
            assertEquals(len, cache.length());
            double err = Reference.relativeError(out.toArray(), Reference.toDouble(whole.toArray()));
            assertTrue(err < 1e-5, "cached vs whole: " + err);
        }
    }

    @org.junit.jupiter.api.Test
    void overflowIsRefusedWithNothingWritten() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(13);
            KvCache cache = KvCache.allocate(arena, 1, 1, 4, 2);
            cache.append(Reference.random(arena, rnd, 1, 1, 3, 2), Reference.random(arena, rnd, 1, 1, 3, 2));
            float[] before = cache.keys().toArray();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> cache.append(Reference.random(arena, rnd, 1, 1, 2, 2), Reference.random(arena, rnd, 1, 1, 2, 2)));
            assertTrue(e.getMessage().contains("holds 3 of 4 tokens, cannot append 2"), e.getMessage());
            assertEquals(3, cache.length());
            assertTrue(java.util.Arrays.equals(before, cache.keys().toArray()));
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> cache.append(Tensor.allocate(arena, 1, 2, 1, 2), Tensor.allocate(arena, 1, 2, 1, 2)))
                    .getMessage().contains("k: expected shape (B, Hkv, T, D) = (1, 1, T, 2)"));
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> cache.attend(Tensor.allocate(arena, 1, 1, 4, 2), Tensor.allocate(arena, 1, 1, 4, 2),
                            AttentionSpec.DEFAULT)).getMessage().contains("cache holds only 3"));
        }
    }

    /**
     * Rows at different lengths decode together: a left-padded prefill
     * (each row takes the last counts[b] of T positions), steps where a
     * finished row appends nothing, and a chunk of 2; every row's outputs
     * are those of causal attention over its own sequence alone, on every
     * backend and ISA level. The padding holds random values it must not
     * reach.
     */
    @Test
    void raggedRowsDecodeAsEachRowAlone() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(21);
            int b = 3, h = 4, hkv = 2, d = 5;
            long[][] steps = {{4, 1, 0}, {1, 1, 1}, {1, 0, 1}, {2, 1, 2}, {1, 1, 0}};
            long[] total = new long[b];
            for (long[] counts : steps) {
                for (int r = 0; r < b; r++) {
                    total[r] += counts[r];
                }
            }
            Tensor[] q = new Tensor[b], k = new Tensor[b], v = new Tensor[b];
            double[][] whole = new double[b][];
            for (int r = 0; r < b; r++) { // each row's whole sequence, and causal attention over it alone in float64
                q[r] = Reference.random(arena, rnd, 1, h, total[r], d);
                k[r] = Reference.random(arena, rnd, 1, hkv, total[r], d);
                v[r] = Reference.random(arena, rnd, 1, hkv, total[r], d);
                whole[r] = Reference.sdpa(q[r], k[r], v[r], null, Causal.TOP_LEFT, 1 / Math.sqrt(d)).out();
            }
            for (Target target : Target.all()) {
                AttentionSpec spec = AttentionSpec.builder().backend(target.select()).build();
                KvCache cache = KvCache.allocate(arena, b, hkv, 10, d);
                long[] at = new long[b];
                for (long[] counts : steps) {
                    long t = Arrays.stream(counts).max().orElseThrow();
                    Tensor qs = Reference.random(arena, rnd, b, h, t, d);
                    Tensor ks = Reference.random(arena, rnd, b, hkv, t, d);
                    Tensor vs = Reference.random(arena, rnd, b, hkv, t, d);
                    for (int r = 0; r < b; r++) { // row r's new tokens at the last counts[r] positions
                        long pad = t - counts[r];
                        copy(tokens(q[r], at[r], counts[r]), tokens(row(qs, r), pad, counts[r]));
                        copy(tokens(k[r], at[r], counts[r]), tokens(row(ks, r), pad, counts[r]));
                        copy(tokens(v[r], at[r], counts[r]), tokens(row(vs, r), pad, counts[r]));
                    }
                    cache.append(ks, vs, counts);
                    Tensor out = Tensor.allocate(arena, b, h, t, d);
                    cache.attend(qs, out, spec);
                    for (int r = 0; r < b; r++) {
                        at[r] += counts[r];
                        assertEquals(at[r], cache.length(r));
                        float[] got = tokens(row(out, r), t - counts[r], counts[r]).toArray();
                        double[] want = new double[got.length];
                        int x = 0;
                        for (long hi = 0; hi < h; hi++) {
                            for (long i = at[r] - counts[r]; i < at[r]; i++) {
                                for (long e = 0; e < d; e++) {
                                    want[x++] = whole[r][(int) ((hi * total[r] + i) * d + e)];
                                }
                            }
                        }
                        double err = Reference.relativeError(got, want);
                        assertTrue(err < 1e-5, target + ": row " + r + " after " + at[r] + " tokens: " + err);
                    }
                }
                assertArrayEquals(total, cache.lengths());
                assertThrows(IllegalStateException.class, cache::length);
            }
        }
    }

    /** Batch row r of a (B, H, L, D) tensor, as a (1, H, L, D) view. */
    static Tensor row(Tensor t, long r) {
        long[] shape = t.shape();
        shape[0] = 1;
        return Tensor.wrap(t.segment().asSlice(r * t.strides()[0] * Float.BYTES), shape, t.strides());
    }

    private static void copy(Tensor from, Tensor to) {
        to.copyFrom(from.toArray());
    }

    /** Tokens [from, from + count) of a (B, H, L, D) tensor, as a view. */
    static Tensor tokens(Tensor t, long from, long count) {
        long[] shape = t.shape();
        long[] st = t.strides();
        shape[2] = count;
        long offset = from * st[2] * Float.BYTES;
        return Tensor.wrap(t.segment().asSlice(offset), shape, st);
    }

}
