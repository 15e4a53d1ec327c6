package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.layers.MultiHeadAttention;

/**
 * A KV cache stored in F16 or BF16: what it holds (the rounding of what
 * was appended, float32 or its own dtype or the other half), and decoding
 * through it on every backend and ISA level against the float64 reference
 * of causal attention over the rounded keys and values.
 */
class KvCacheDtypeTest {
    private static final double TOLERANCE = 1e-5;

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    /** Float32 storage of {@link HalfReference}'s rounding of x to t. */
    private static Tensor rounded(Arena arena, Tensor x, Dtype t) {
        float[] v = x.toArray();
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) HalfReference.rounded(v[i], t);
        }
        return Tensor.of(arena, v, x.shape());
    }

    @ParameterizedTest
    @EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void decodingThroughAHalfCacheMatchesTheReferenceOnRoundedKeysAndValues(Dtype t) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(21 + t.ordinal());
            int b = 2, h = 6, hkv = 2, len = 11, dk = 7, dv = 5;
            Tensor q = Reference.random(arena, rnd, b, h, len, dk);
            Tensor k = Reference.random(arena, rnd, b, hkv, len, dk);
            Tensor v = Reference.random(arena, rnd, b, hkv, len, dv);
            Tensor kExact = rounded(arena, k, t), vExact = rounded(arena, v, t);
            Reference.Result ref = Reference.sdpa(q, kExact, vExact, null, Causal.TOP_LEFT, 1 / Math.sqrt(dk));
            for (Target target : Target.all()) {
                Backend backend = target.select();
                KvCache cache = KvCache.allocate(arena, t, b, hkv, 16, dk, dv);
                assertEquals(t, cache.dtype());
                Tensor out = Tensor.allocate(arena, b, h, len, dv);
                int[] chunks = {3, 1, 2, 1, 4};
                int at = 0;
                for (int c = 0; c < chunks.length; c++) {
                    Tensor kt = KvCacheTest.tokens(k, at, chunks[c]), vt = KvCacheTest.tokens(v, at, chunks[c]);
                    if (c % 2 == 1) { // tokens already in the cache's dtype: copied as they are
                        kt = kt.to(arena, t);
                        vt = vt.to(arena, t);
                    }
                    cache.append(kt, vt);
                    cache.attend(KvCacheTest.tokens(q, at, chunks[c]), KvCacheTest.tokens(out, at, chunks[c]),
                            AttentionSpec.builder().backend(backend).build());
                    at += chunks[c];
                }
                assertEquals(len, cache.length());
                assertEquals(t, cache.keys().dtype());
                assertArrayEquals(kExact.toArray(), cache.keys().toArray(), "the cache holds the rounded keys");
                assertArrayEquals(vExact.toArray(), cache.values().toArray(), "the cache holds the rounded values");
                double err = Reference.relativeError(out.toArray(), ref.out());
                assertTrue(err < TOLERANCE, target + " " + t + " cache: relative error " + err);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void tokensOfTheOtherHalfTypeAreConvertedThroughTheirValues(Dtype t) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(5);
            Dtype other = t == Dtype.F16 ? Dtype.BF16 : Dtype.F16;
            Tensor k = Reference.random(arena, rnd, 1, 2, 3, 9).to(arena, other);
            Tensor v = Reference.random(arena, rnd, 1, 2, 3, 4).permute(0, 1, 3, 2).to(arena, other)
                    .permute(0, 1, 3, 2); // strided rows: converted element by element
            KvCache cache = KvCache.allocate(arena, t, 1, 2, 8, 9, 4);
            cache.append(k, v);
            float[] kv = k.toArray(), vv = v.toArray(), kc = cache.keys().toArray(), vc = cache.values().toArray();
            for (int i = 0; i < kv.length; i++) {
                assertEquals((float) HalfReference.rounded(kv[i], t), kc[i], "key element " + i);
            }
            for (int i = 0; i < vv.length; i++) {
                assertEquals((float) HalfReference.rounded(vv[i], t), vc[i], "value element " + i);
            }
        }
    }

    /** A layer decoding through a BF16 cache stores what its float32 twin's cache holds, rounded. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void aLayerDecodesThroughAHalfCache(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).kvHeads(2).build(arena).initRandom(3);
            Tensor x = Reference.random(arena, new SplittableRandom(9), 1, 5, 16);
            KvCache f32 = KvCache.allocate(arena, 1, 2, 8, 4), bf16 = KvCache.allocate(arena, Dtype.BF16, 1, 2, 8, 4);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            for (int step = 0; step < 5; step++) {
                Tensor xt = Tensor.wrap(x.segment().asSlice(step * 16L * Float.BYTES, 16L * Float.BYTES), 1, 1, 16);
                float[] want = mha.forwardCached(arena, xt, f32, spec).toArray();
                float[] got = mha.forwardCached(arena, xt, bf16, spec).toArray();
                assertTrue(Reference.relativeError(got, Reference.toDouble(want)) < 2e-2, "step " + step
                        + ": bfloat16 keys and values, within their precision");
                assertArrayEquals(rounded(arena, f32.keys(), Dtype.BF16).toArray(), bf16.keys().toArray());
                assertArrayEquals(rounded(arena, f32.values(), Dtype.BF16).toArray(), bf16.values().toArray());
            }
        }
    }
}
