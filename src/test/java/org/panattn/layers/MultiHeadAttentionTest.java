package org.panattn.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.panattn.Alibi;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.KvCache;
import org.panattn.Mask;
import org.panattn.Reference;
import org.panattn.Rope;
import org.panattn.Tensor;

/**
 * MultiHeadAttention, native and Java, against a float64 reference built
 * from double projections and {@link Reference#sdpa}: self and cross
 * attention, GQA/MQA, kdim/vdim, both layouts, masks, windows; and
 * decoding through a KV cache (with RoPE and ALiBi) against the whole
 * causal sequence.
 */
class MultiHeadAttentionTest {
    private static final double TOLERANCE = 1e-5;

    record Case(String name, int e, int h, int hkv, int kdim, int vdim, int b, int lq, int lk, boolean self,
                boolean batchFirst, boolean bias, Causal causal, long window, boolean masks) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("encoder self", 16, 4, 4, 16, 16, 2, 7, 7, true, true, true, Causal.NONE, 0, true),
                new Case("decoder causal self, GQA", 24, 6, 2, 24, 24, 3, 9, 9, true, true, true, Causal.TOP_LEFT, 0, false),
                new Case("MQA, window, seq-first", 32, 4, 1, 32, 32, 2, 13, 13, true, false, false, Causal.TOP_LEFT, 4, true),
                new Case("cross, kdim/vdim", 12, 3, 3, 7, 5, 2, 4, 11, false, true, true, Causal.NONE, 0, true),
                new Case("cross seq-first, odd sizes", 6, 2, 2, 6, 6, 1, 1, 129, false, false, true,
                        Causal.BOTTOM_RIGHT, 0, false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void nativeAndJavaMatchFloat64Reference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.name.hashCode());
            MultiHeadAttention mha = MultiHeadAttention.builder(c.e, c.h).kvHeads(c.hkv).kdim(c.kdim).vdim(c.vdim)
                    .bias(c.bias).batchFirst(c.batchFirst).build(arena).initRandom(c.name.hashCode());
            if (c.bias) { // initRandom zeroes biases; make them count
                float[] b = Reference.random(arena, rnd, c.e + 2L * c.hkv * (c.e / c.h)).toArray();
                float[] ob = Reference.random(arena, rnd, c.e).toArray();
                loadBiases(mha, b, ob);
            }
            Tensor query = input(arena, rnd, c, c.lq, c.e);
            Tensor key = c.self ? query : input(arena, rnd, c, c.lk, c.kdim);
            Tensor value = c.self ? query : input(arena, rnd, c, c.lk, c.vdim);
            AttentionSpec.Builder spec = AttentionSpec.builder().causal(c.causal).window(c.window);
            if (c.masks) {
                long[] valid = new long[c.b];
                for (int i = 0; i < c.b; i++) {
                    valid[i] = 1 + rnd.nextInt(c.lk);
                }
                spec.keyPadding(Mask.keyPadding(arena, valid, c.lk))
                        .mask(Mask.additive(Reference.random(arena, rnd, c.lq, c.lk)));
            }
            double[] ref = reference(arena, mha, c, query, key, value, spec.build());
            float[] javaOut = null;
            for (Backend backend : Backend.values()) {
                LayerOutput r = mha.forward(arena, query, key, value, spec.backend(backend).build(),
                        MultiHeadAttention.NeedWeights.NONE);
                assertArrayEquals(query.shape(), r.output().shape());
                double err = Reference.relativeError(r.output().toArray(), ref);
                assertTrue(err < TOLERANCE, backend + ": relative error " + err);
                if (javaOut == null) {
                    javaOut = r.output().toArray();
                } else {
                    double vsJava = Reference.relativeError(r.output().toArray(), Reference.toDouble(javaOut));
                    assertTrue(vsJava < TOLERANCE, "native vs Java " + vsJava);
                }
            }
        }
    }

    private static void loadBiases(MultiHeadAttention mha, float[] inBias, float[] outBias) {
        if (mha.isPacked()) {
            float[] w = new float[(int) (mha.qProjWeight().size() + mha.kProjWeight().size() + mha.vProjWeight().size())];
            int at = 0;
            for (Tensor t : new Tensor[] {mha.qProjWeight(), mha.kProjWeight(), mha.vProjWeight()}) {
                float[] part = t.toArray();
                System.arraycopy(part, 0, w, at, part.length);
                at += part.length;
            }
            mha.loadInProj(w, inBias);
        } else {
            mha.loadQkv(mha.qProjWeight().toArray(), mha.kProjWeight().toArray(), mha.vProjWeight().toArray(), inBias);
        }
        mha.loadOutProj(mha.outProjWeight().toArray(), outBias);
    }

    /** Part [from, from + count) of the in-projection bias, or zeros without biases. */
    private static float[] bias(MultiHeadAttention mha, int from, int count) {
        float[] b = new float[count];
        if (mha.inProjBias() != null) {
            System.arraycopy(mha.inProjBias().toArray(), from, b, 0, count);
        }
        return b;
    }

    private static Tensor input(Arena arena, SplittableRandom rnd, Case c, int length, int width) {
        return c.batchFirst ? Reference.random(arena, rnd, c.b, length, width)
                : Reference.random(arena, rnd, length, c.b, width);
    }

    /** Projections in double (rounded to float for the SDPA reference), SDPA in double, output projection. */
    private static double[] reference(Arena arena, MultiHeadAttention mha, Case c, Tensor query, Tensor key,
                                      Tensor value, AttentionSpec spec) {
        int d = c.e / c.h;
        int kvDim = c.hkv * d;
        Tensor qh = headsOf(arena, c, query, mha.qProjWeight().toArray(), bias(mha, 0, c.e), c.h, d, c.lq);
        Tensor kh = headsOf(arena, c, key, mha.kProjWeight().toArray(), bias(mha, c.e, kvDim), c.hkv, d, c.lk);
        Tensor vh = headsOf(arena, c, value, mha.vProjWeight().toArray(), bias(mha, c.e + kvDim, kvDim), c.hkv, d,
                c.lk);
        Reference.Result r = Reference.sdpa(qh, kh, vh, spec.mask(), spec.keyPadding(), spec.causal(), spec.window(),
                1.0 / Math.sqrt(d));
        float[] outW = mha.outProjWeight().toArray();
        float[] outB = mha.outProjBias() == null ? new float[c.e] : mha.outProjBias().toArray();
        double[] out = new double[(int) query.size()];
        for (int b = 0; b < c.b; b++) {
            for (int i = 0; i < c.lq; i++) {
                for (int o = 0; o < c.e; o++) {
                    double acc = outB[o];
                    for (int hh = 0; hh < c.h; hh++) {
                        for (int dd = 0; dd < d; dd++) {
                            acc += r.out()[((b * c.h + hh) * c.lq + i) * d + dd] * outW[o * c.e + hh * d + dd];
                        }
                    }
                    int idx = c.batchFirst ? (b * c.lq + i) * c.e + o : (i * c.b + b) * c.e + o;
                    out[idx] = acc;
                }
            }
        }
        return out;
    }

    /** x·Wᵀ + b in double, split into (B, heads, L, d). */
    private static Tensor headsOf(Arena arena, Case c, Tensor x, float[] w, float[] b, int heads, int d, int len) {
        int width = (int) x.size(2);
        Tensor out = Tensor.allocate(arena, c.b, heads, len, d);
        for (int bi = 0; bi < c.b; bi++) {
            for (int t = 0; t < len; t++) {
                for (int o = 0; o < heads * d; o++) {
                    double acc = b[o];
                    for (int kk = 0; kk < width; kk++) {
                        float xv = c.batchFirst ? x.get(bi, t, kk) : x.get(t, bi, kk);
                        acc += (double) xv * w[o * width + kk];
                    }
                    out.set((float) acc, bi, o / d, t, o % d);
                }
            }
        }
        return out;
    }

    @Test
    void averagedWeightsAreTheMeanOfPerHeadWeights() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(5);
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).build(arena).initRandom(5);
            Tensor x = Reference.random(arena, rnd, 2, 3, 8);
            for (Backend backend : Backend.values()) {
                AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
                Tensor perHead = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.PER_HEAD).weights();
                Tensor avg = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.AVERAGED).weights();
                assertArrayEquals(new long[] {2, 2, 3, 3}, perHead.shape());
                assertArrayEquals(new long[] {2, 3, 3}, avg.shape());
                for (int b = 0; b < 2; b++) {
                    for (int i = 0; i < 3; i++) {
                        for (int j = 0; j < 3; j++) {
                            float mean = (perHead.get(b, 0, i, j) + perHead.get(b, 1, i, j)) / 2;
                            assertEquals(mean, avg.get(b, i, j), 1e-6f);
                        }
                    }
                }
            }
        }
    }

    @Test
    void badArgumentsAreNamed() {
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> MultiHeadAttention.builder(10, 3))
                    .getMessage().contains("multiple of numHeads"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> MultiHeadAttention.builder(12, 4).kvHeads(3))
                    .getMessage().contains("must divide numHeads"));
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).build(arena);
            Tensor wrong = Tensor.allocate(arena, 2, 3, 7);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> mha.forward(arena, wrong, AttentionSpec.DEFAULT,
                    MultiHeadAttention.NeedWeights.NONE)).getMessage().contains("query: expected shape (B, L, 8), got (2, 3, 7)"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> mha.loadOutProj(new float[3], new float[8]))
                    .getMessage().contains("out_proj.weight: expected 64 values"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> mha.forward(arena, Tensor.allocate(arena, 2, 3, 8),
                    Tensor.allocate(arena, 3, 5, 8), Tensor.allocate(arena, 3, 5, 8), AttentionSpec.DEFAULT,
                    MultiHeadAttention.NeedWeights.NONE)).getMessage().contains("batch must be 2"));
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void greedyDecodingWithMultiHeadAttentionEqualsCausalForward(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(12);
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).kvHeads(2).build(arena).initRandom(3);
            Tensor x = Reference.random(arena, rnd, 1, 6, 16);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            Tensor whole = mha.forward(arena, x, spec.toBuilder().causal(Causal.TOP_LEFT).build(),
                    MultiHeadAttention.NeedWeights.NONE).output();
            KvCache cache = KvCache.allocate(arena, 1, 2, 6, 4);
            float[] stepped = new float[6 * 16];
            for (int t = 0; t < 6; t++) {
                Tensor xt = Tensor.wrap(x.segment().asSlice(t * 16L * Float.BYTES, 16L * Float.BYTES), 1, 1, 16);
                float[] y = mha.forwardCached(arena, xt, cache, spec).toArray();
                System.arraycopy(y, 0, stepped, t * 16, 16);
            }
            double err = Reference.relativeError(stepped, Reference.toDouble(whole.toArray()));
            assertTrue(err < 1e-5, "decoded vs whole: " + err);
        }
    }

    /** RoPE with the KV cache at an offset: decoding token by token equals the whole causal sequence. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void ropeWithKvCacheEqualsWholeSequence(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(31);
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).kvHeads(2).rope(10000f, Rope.Layout.HALF)
                    .build(arena).initRandom(8);
            Tensor x = Reference.random(arena, rnd, 1, 7, 16);
            Tensor alibi = Alibi.slopes(arena, 4);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).alibi(alibi).build();
            float[] whole = mha.forward(arena, x, spec.toBuilder().causal(Causal.TOP_LEFT).build(),
                    MultiHeadAttention.NeedWeights.NONE).output().toArray();
            KvCache cache = KvCache.allocate(arena, 1, 2, 7, 4);
            float[] stepped = new float[7 * 16];
            Tensor prefix = Tensor.wrap(x.segment(), 1, 3, 16);
            System.arraycopy(mha.forwardCached(arena, prefix, cache, spec).toArray(), 0, stepped, 0, 3 * 16);
            for (int t = 3; t < 7; t++) {
                Tensor xt = Tensor.wrap(x.segment().asSlice(t * 16L * Float.BYTES, 16L * Float.BYTES), 1, 1, 16);
                System.arraycopy(mha.forwardCached(arena, xt, cache, spec).toArray(), 0, stepped, t * 16, 16);
            }
            double[] w = new double[whole.length];
            for (int i = 0; i < w.length; i++) {
                w[i] = whole[i];
            }
            assertTrue(Reference.relativeError(stepped, w) < TOLERANCE, "RoPE + ALiBi + cache vs whole sequence");
        }
    }

    /** An input whose rows do not merge into one matrix (a (B, L, E) view of (L, B, E) storage) works like its copy. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void permutedInputsGiveWhatTheirContiguousCopiesGive(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).build(arena).initRandom(1);
            Tensor x = Reference.random(arena, new SplittableRandom(1), 3, 2, 8).permute(1, 0, 2);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            float[] got = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.NONE).output().toArray();
            float[] want = mha.forward(arena, x.contiguous(arena), spec, MultiHeadAttention.NeedWeights.NONE).output()
                    .toArray();
            double err = Reference.relativeError(got, Reference.toDouble(want));
            assertTrue(err < TOLERANCE, backend + ": permuted vs contiguous input " + err);
        }
    }
}
