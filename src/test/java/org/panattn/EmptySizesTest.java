package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.panattn.Refusals.on;
import static org.panattn.Refusals.sentinel;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Which sizes of 0 are legal, on every backend. Any batch, head, length or
 * width may be 0 in the attention calls, the arrays overload, the cache
 * and RoPE; a call with no key (Lk = 0, Lv = 0, an empty cache) writes
 * zeros: every query sees nothing, so its output (and its weights) are
 * zeros, never NaN. ALiBi's heads must be positive. The layers' empty
 * inputs are in {@code org.panattn.layers.LayerEmptySizesTest}.
 */
class EmptySizesTest {
    private static void assertAll(float expected, Tensor t, String what) {
        for (float x : t.toArray()) {
            assertEquals(expected, x, what);
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void everyScoreRuleGivesZerosWithoutKeys(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(1);
            Tensor q = Reference.random(arena, rnd, 2, 3, 4);
            ScoreRule[] rules = {ScoreRule.dot(), ScoreRule.scaledDot(),
                ScoreRule.general(Reference.random(arena, rnd, 4, 4)),
                ScoreRule.additive(Reference.random(arena, rnd, 5, 4), Reference.random(arena, rnd, 5, 4),
                        Reference.random(arena, rnd, 5), Reference.random(arena, rnd, 5)),
                ScoreRule.concatTanhSum(Reference.random(arena, rnd, 5, 8), null, 4)};
            for (ScoreRule rule : rules) {
                Tensor out = sentinel(arena, 2, 3, 6);
                Tensor weights = Tensor.allocate(arena, 2, 3, 0);
                Attention.attend(rule, q, Tensor.allocate(arena, 2, 0, 4), Tensor.allocate(arena, 2, 0, 6), out,
                        on(backend).toBuilder().weights(weights).build());
                assertAll(0f, out, rule + ", Lk = 0");
                // No query at all: nothing to write, and no failure.
                Attention.attend(rule, Tensor.allocate(arena, 2, 0, 4), Reference.random(arena, rnd, 2, 5, 4),
                        Reference.random(arena, rnd, 2, 5, 6), Tensor.allocate(arena, 2, 0, 6), on(backend));
            }
            Tensor out = sentinel(arena, 2, 3, 6);
            Attention.concatLinear(q, Reference.random(arena, rnd, 2, 3, 2), Tensor.allocate(arena, 2, 0, 6),
                    Tensor.allocate(arena, 0, 6), Tensor.allocate(arena, 0), out, on(backend));
            assertAll(0f, out, "concatLinear, Lv = 0");
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void noHeadsAtAllIsAnEmptyCall(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, 2, 0, 3, 4), kv = Tensor.allocate(arena, 2, 0, 5, 4);
            Attention.scaledDotProduct(q, kv, kv, Tensor.allocate(arena, 2, 0, 3, 4), on(backend));
            Attention.scaledDotProduct(new float[0], new float[0], new float[0], new float[0],
                    new Attention.Dims(2, 0, 0, 3, 5, 4, 4), on(backend));
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void arraysWithoutKeysGiveZeros(Backend backend) {
        Attention.Dims noKeys = new Attention.Dims(1, 2, 1, 3, 0, 4, 5);
        float[] out = new float[30];
        Arrays.fill(out, Refusals.SENTINEL);
        float[] q = new float[24];
        Arrays.fill(q, 0.25f);
        Attention.scaledDotProduct(q, new float[0], new float[0], out, noKeys, on(backend));
        assertArrayEquals(new float[30], out, "lk = 0");
        Attention.Dims noBatch = new Attention.Dims(0, 2, 1, 3, 4, 4, 5);
        Attention.scaledDotProduct(new float[0], new float[0], new float[0], new float[0], noBatch, on(backend));
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void emptyCacheAndEmptySteps(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            KvCache cache = KvCache.allocate(arena, 1, 1, 4, 2);
            cache.append(Tensor.allocate(arena, 1, 1, 0, 2), Tensor.allocate(arena, 1, 1, 0, 2));
            assertEquals(0, cache.length());
            cache.attend(Tensor.allocate(arena, 1, 2, 0, 2), Tensor.allocate(arena, 1, 2, 0, 2), on(backend));
            assertArrayEquals(new long[] {1, 1, 0, 2}, cache.keys().shape());
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void ropeOfNothingIsANoOp(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Rope.apply(Tensor.allocate(arena, 2, 3, 0, 8), 5, 10000f, Rope.Layout.HALF, backend);
            Rope.apply(Tensor.allocate(arena, 2, 3, 4, 0), 5, 10000f, Rope.Layout.INTERLEAVED, backend);
            Rope.apply(Tensor.allocate(arena, 0, 3, 4, 8), Long.MAX_VALUE, 10000f, Rope.Layout.HALF, backend);
        }
    }
}
