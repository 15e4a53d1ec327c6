package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A native tensor call made again with the same arguments runs prepared
 * (the checks passed last time and tensors never change): it still
 * computes on the tensors' current contents, refuses an arena closed since
 * by name before writing, follows a change of default backend, and does
 * not mix up the last call with another one.
 */
class RepeatedTensorCallTest {
    private static final AttentionSpec NATIVE = AttentionSpec.builder().backend(Backend.NATIVE).build();

    @BeforeAll
    static void nativeLibrary() {
        Panattn.ensureNativeAvailable();
    }

    @AfterAll
    static void restore() {
        Panattn.setDefaultBackend(null);
    }

    private static void assertMatchesReference(Tensor q, Tensor k, Tensor v, Tensor out, Causal causal) {
        Reference.Result want = Reference.sdpa(q, k, v, null, causal, 1.0 / Math.sqrt(q.size(3)));
        double e = Reference.relativeError(out.toArray(), want.out());
        assertTrue(e < 1e-5, "relative error " + e);
    }

    @Test
    void repeatsComputeOnTheCurrentContents() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(21);
            Tensor q = Reference.random(arena, rnd, 2, 3, 17, 9), k = Reference.random(arena, rnd, 2, 3, 23, 9);
            Tensor v = Reference.random(arena, rnd, 2, 3, 23, 5), out = Tensor.allocate(arena, 2, 3, 17, 5);
            for (int round = 0; round < 4; round++) {
                q.copyFrom(Reference.random(arena, rnd, 2, 3, 17, 9).toArray());
                v.copyFrom(Reference.random(arena, rnd, 2, 3, 23, 5).toArray());
                Attention.scaledDotProduct(q, k, v, out, NATIVE);
                assertMatchesReference(q, k, v, out, Causal.NONE);
            }
        }
    }

    @Test
    void anotherCallBetweenRepeatsIsItsOwn() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(22);
            Tensor q = Reference.random(arena, rnd, 1, 2, 11, 8), k = Reference.random(arena, rnd, 1, 2, 11, 8);
            Tensor v = Reference.random(arena, rnd, 1, 2, 11, 4);
            Tensor plain = Tensor.allocate(arena, 1, 2, 11, 4), causal = Tensor.allocate(arena, 1, 2, 11, 4);
            AttentionSpec causalSpec = AttentionSpec.builder().backend(Backend.NATIVE).causal(Causal.TOP_LEFT).build();
            for (int round = 0; round < 3; round++) {
                Attention.scaledDotProduct(q, k, v, plain, NATIVE);
                Attention.scaledDotProduct(q, k, v, plain, NATIVE);
                Attention.scaledDotProduct(q, k, v, causal, causalSpec);
                Attention.scaledDotProduct(q, k, v, causal, causalSpec);
                assertMatchesReference(q, k, v, plain, Causal.NONE);
                assertMatchesReference(q, k, v, causal, Causal.TOP_LEFT);
            }
        }
    }

    @Test
    void aRepeatRefusesAnArenaClosedSinceAndWritesNothing() {
        SplittableRandom rnd = new SplittableRandom(23);
        try (Arena outputs = Arena.ofConfined()) {
            Tensor out = Tensor.allocate(outputs, 1, 1, 16, 8);
            Arena inputs = Arena.ofConfined();
            Tensor q = Reference.random(inputs, rnd, 1, 1, 16, 8), k = Reference.random(inputs, rnd, 1, 1, 16, 8);
            Tensor v = Reference.random(inputs, rnd, 1, 1, 16, 8);
            Attention.scaledDotProduct(q, k, v, out, NATIVE);
            Attention.scaledDotProduct(q, k, v, out, NATIVE);  // prepared from here on
            float[] before = out.toArray();
            inputs.close();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> Attention.scaledDotProduct(q, k, v, out, NATIVE));
            assertEquals("q: its arena is closed", e.getMessage());
            assertArrayEquals(before, out.toArray());
        }
    }

    @Test
    void aRepeatFollowsTheDefaultBackend() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(24);
            Tensor q = Reference.random(arena, rnd, 1, 2, 9, 6), k = Reference.random(arena, rnd, 1, 2, 9, 6);
            Tensor v = Reference.random(arena, rnd, 1, 2, 9, 6), out = Tensor.allocate(arena, 1, 2, 9, 6);
            Tensor heap = Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(new float[2 * 9 * 6]), 1, 2, 9, 6);
            Panattn.setDefaultBackend(Backend.NATIVE);
            Attention.scaledDotProduct(q, k, v, out, AttentionSpec.DEFAULT);
            Attention.scaledDotProduct(q, k, v, out, AttentionSpec.DEFAULT);
            assertMatchesReference(q, k, v, out, Causal.NONE);
            // The same arguments on the Java backend: a heap output is fine there, refused natively.
            Panattn.setDefaultBackend(Backend.JAVA);
            Attention.scaledDotProduct(q, k, v, heap, AttentionSpec.DEFAULT);
            Attention.scaledDotProduct(q, k, v, heap, AttentionSpec.DEFAULT);
            assertMatchesReference(q, k, v, heap, Causal.NONE);
            Panattn.setDefaultBackend(Backend.NATIVE);
            assertThrows(IllegalArgumentException.class,
                    () -> Attention.scaledDotProduct(q, k, v, heap, AttentionSpec.DEFAULT));
            assertThrows(IllegalArgumentException.class,
                    () -> Attention.scaledDotProduct(q, k, v, heap, AttentionSpec.DEFAULT));
        } finally {
            Panattn.setDefaultBackend(null);
        }
    }
}
