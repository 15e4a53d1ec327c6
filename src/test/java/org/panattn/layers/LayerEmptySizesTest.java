package org.panattn.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.panattn.Refusals.on;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.KvCache;
import org.panattn.Mask;
import org.panattn.Reference;
import org.panattn.Tensor;

/**
 * Which sizes of 0 the layers take, on every backend (the operations' are
 * in {@code org.panattn.EmptySizesTest}): any batch or length of their
 * inputs may be 0. A layer whose attention sees no key returns its output
 * projection's bias; pooling over no position gives zeros. Sizes that
 * define a layer (embedDim, numHeads, the encoder-decoder sizes, a pooling
 * query's width) must be positive.
 */
class LayerEmptySizesTest {
    private static void assertAll(float expected, Tensor t, String what) {
        for (float x : t.toArray()) {
            assertEquals(expected, x, what);
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void multiHeadLayerTakesEmptyInputs(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(2);
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).build(arena).initRandom(2);
            float[] outBias = Reference.random(arena, rnd, 8).toArray();
            mha.loadOutProj(mha.outProjWeight().toArray(), outBias);
            AttentionSpec spec = on(backend);
            LayerOutput noQueries = mha.forward(arena, Tensor.allocate(arena, 2, 0, 8), spec,
                    MultiHeadAttention.NeedWeights.AVERAGED);
            assertArrayEquals(new long[] {2, 0, 8}, noQueries.output().shape());
            assertArrayEquals(new long[] {2, 0, 0}, noQueries.weights().shape());
            assertArrayEquals(new long[] {0, 3, 8},
                    mha.forward(arena, Tensor.allocate(arena, 0, 3, 8), spec, MultiHeadAttention.NeedWeights.NONE)
                            .output().shape());
            // Cross-attention over an empty memory: the heads give zeros, the output is out_proj's bias.
            Tensor memory = Tensor.allocate(arena, 2, 0, 8);
            Tensor out = mha.forward(arena, Reference.random(arena, rnd, 2, 3, 8), memory, memory, spec,
                    MultiHeadAttention.NeedWeights.NONE).output();
            for (int b = 0; b < 2; b++) {
                for (int i = 0; i < 3; i++) {
                    for (int e = 0; e < 8; e++) {
                        assertEquals(outBias[e], out.get(b, i, e), 1e-6f, "Lk = 0: out_proj.bias");
                    }
                }
            }
            KvCache cache = KvCache.allocate(arena, 2, 2, 4, 4);
            Tensor step = mha.forwardCached(arena, Tensor.allocate(arena, 2, 0, 8), cache, spec);
            assertArrayEquals(new long[] {2, 0, 8}, step.shape());
            assertEquals(0, cache.length());
        }
    }

    /** With no input key, the appended keys remain: bias_k alone is attended, so every head gives bias_v. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void appendedKeysRemainWhenTheInputHasNone(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).addBiasKv(true).build(arena).initRandom(4);
            AttentionSpec spec = on(backend);
            Tensor memory = Tensor.allocate(arena, 2, 0, 8);
            LayerOutput r = mha.forward(arena, Reference.random(arena, new SplittableRandom(4), 2, 3, 8), memory,
                    memory, spec, MultiHeadAttention.NeedWeights.AVERAGED);
            assertArrayEquals(new long[] {2, 3, 1}, r.weights().shape());
            assertAll(1f, r.weights(), "bias_k takes all the weight");
            float[] w = mha.outProjWeight().toArray(), biasV = mha.biasV().toArray();
            for (int e = 0; e < 8; e++) {
                double want = 0;
                for (int f = 0; f < 8; f++) {
                    want += (double) w[e * 8 + f] * biasV[f]; // out_proj.bias is 0 after initRandom
                }
                assertEquals(want, r.output().get(1, 2, e), 1e-6, "out_proj(bias_v)");
            }
            LayerOutput none = mha.forward(arena, Tensor.allocate(arena, 2, 0, 8), spec,
                    MultiHeadAttention.NeedWeights.PER_HEAD);
            assertArrayEquals(new long[] {2, 2, 0, 1}, none.weights().shape());
            assertArrayEquals(new long[] {0, 3, 8}, mha.forward(arena, Tensor.allocate(arena, 0, 3, 8), spec,
                    MultiHeadAttention.NeedWeights.NONE).output().shape());
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void encoderDecoderAndPoolingTakeEmptyInputs(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(3);
            EncoderDecoderAttention step = new EncoderDecoderAttention(arena, 4, 3, 5, 6, 2).initRandom(3);
            LayerOutput r = step.forward(arena, Tensor.allocate(arena, 2, 0, 4),
                    Tensor.allocate(arena, 2, 0, 3), Reference.random(arena, rnd, 2, 5, 6), on(backend));
            assertArrayEquals(new long[] {2, 0, 2}, r.output().shape());
            assertArrayEquals(new long[] {2, 0, 5}, r.weights().shape());
            assertArrayEquals(new long[] {0, 3, 2}, step.forward(arena, Tensor.allocate(arena, 0, 3, 4),
                    Tensor.allocate(arena, 0, 3, 3), Tensor.allocate(arena, 0, 5, 6), on(backend)).output().shape());

            AttentionPooling pool = AttentionPooling.random(arena, 4, 3);
            LayerOutput pooled = pool.forward(arena, Tensor.allocate(arena, 2, 0, 4), null, backend);
            assertAll(0f, pooled.output(), "pooling over L = 0");
            assertArrayEquals(new long[] {2, 4}, pooled.output().shape());
            assertArrayEquals(new long[] {2, 0}, pooled.weights().shape());
            // Every position padded away is the same as none: zeros.
            Tensor x = Reference.random(arena, rnd, 2, 3, 4);
            assertAll(0f, pool.forward(arena, x, Mask.keyPadding(arena, new long[] {0, 0}, 3), backend).output(),
                    "pooling with every position padded");
        }
    }
}
