package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Decoding through the KV cache equals causal attention over the whole sequence at once. */
class KvCacheTest {

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

    /** Tokens [from, from + count) of a (B, H, L, D) tensor, as a view. */
    static Tensor tokens(Tensor t, long from, long count) {
        long[] shape = t.shape();
        long[] st = t.strides();
        shape[2] = count;
        long offset = from * st[2] * Float.BYTES;
        return Tensor.wrap(t.segment().asSlice(offset), shape, st);
    }

}
