package org.panattn.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.Reference;
import org.panattn.Tensor;

/** Attention pooling against the float64 reference: one query broadcast over the batch, padding hidden. */
class AttentionPoolingTest {

    @ParameterizedTest
    @EnumSource(Backend.class)
    void poolsLikeTheReference(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(4);
            int b = 3, l = 129, d = 7;
            Tensor x = Reference.random(arena, rnd, b, l, d);
            AttentionPooling pool = AttentionPooling.random(arena, d, 9);
            Mask padding = Mask.keyPadding(arena, new long[] {129, 5, 1}, l);
            LayerOutput r = pool.forward(arena, x, padding, backend);
            assertArrayEquals(new long[] {b, d}, r.output().shape());
            assertArrayEquals(new long[] {b, l}, r.weights().shape());
            Tensor q = Tensor.allocate(arena, b, 1, 1, d);
            for (int i = 0; i < b; i++) {
                for (int j = 0; j < d; j++) {
                    q.set(pool.query().get(j), i, 0, 0, j);
                }
            }
            Reference.Result ref = Reference.sdpa(q, x.unsqueeze(1), x.unsqueeze(1), null, padding, Causal.NONE, 0,
                    1 / Math.sqrt(d));
            assertTrue(Reference.relativeError(r.output().toArray(), ref.out()) < 1e-5, "pooled");
            assertTrue(Reference.relativeError(r.weights().toArray(), ref.weights()) < 1e-5, "weights");
        }
    }
}
