package org.panattn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One thread's native calls that alternate between tensors, views of one
 * tensor and optional inputs each compute what that call computes alone:
 * the thread reuses its descriptors only while a view is the same (its
 * shape, strides, dtype and size), and rewrites them whenever it changes.
 */
class ChangingTensorsTest {
    @BeforeAll
    static void nativeLibrary() {
        Panattn.ensureNativeAvailable();
    }

    private record Call(Tensor q, Tensor k, Tensor v, Tensor out, Mask mask, Causal causal) {
        void runAndCheck(String what) {
            AttentionSpec spec = AttentionSpec.builder().mask(mask).causal(causal).backend(Backend.NATIVE).build();
            Attention.scaledDotProduct(q, k, v, out, spec);
            double want = 1.0 / Math.sqrt(q.size(3));
            double error = Reference.relativeError(out.toArray(), Reference.sdpa(q, k, v, mask, causal, want).out());
            assertTrue(error < 1e-5, what + ": error " + error);
        }
    }

    @Test
    void alternatingCallsOnOneThreadEachComputeTheirOwn() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(21);
            Tensor q = Reference.random(arena, rnd, 1, 2, 5, 8), k = Reference.random(arena, rnd, 1, 2, 6, 8);
            Tensor v = Reference.random(arena, rnd, 1, 2, 6, 4);
            // The same sizes in another layout: v stored (B, L, H, D) and viewed as (B, H, L, D).
            Tensor vStored = Reference.random(arena, rnd, 1, 6, 2, 4).permute(0, 2, 1, 3);
            // Other sizes: fewer queries, more keys, a wider value.
            Tensor q2 = Reference.random(arena, rnd, 1, 2, 3, 8), k2 = Reference.random(arena, rnd, 1, 2, 9, 8);
            Tensor v2 = Reference.random(arena, rnd, 1, 2, 9, 7);
            Mask mask = Mask.additive(Reference.random(arena, rnd, 1, 2, 5, 6));
            Call[] calls = {
                new Call(q, k, v, Tensor.allocate(arena, 1, 2, 5, 4), null, Causal.NONE),
                new Call(q, k, vStored, Tensor.allocate(arena, 1, 2, 5, 4), mask, Causal.NONE),
                new Call(q2, k2, v2, Tensor.allocate(arena, 1, 2, 3, 7), null, Causal.BOTTOM_RIGHT),
                // Queries 1 to 3 of each head: q's storage at another offset and shape.
                new Call(Tensor.wrap(q.segment().asSlice(8 * Float.BYTES), new long[] {1, 2, 3, 8},
                        new long[] {80, 40, 8, 1}), k, v, Tensor.allocate(arena, 1, 2, 3, 4), null, Causal.NONE),
                new Call(q, k, v, Tensor.allocate(arena, 1, 2, 5, 4), mask, Causal.TOP_LEFT),
            };
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < calls.length; i++) {
                    calls[i].runAndCheck("round " + round + ", call " + i);
                }
            }
        }
    }
}
