package org.panattn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The tiny call (W3: B=1 H=1 L=16 D=64) at steady state on the native
 * backend allocates nothing when prepared, on arrays or repeated through
 * the tensor call, and little through a tensor call on new tensors:
 * allocation per call is what made it slow.
 */
class TinyCallAllocationTest {
    private static final int WINDOWS = 60, CALLS = 10_000;
    /** Bytes per call that count as none: any object a call made would be 16 or more. */
    private static final double NONE = 0.01;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final AttentionSpec NATIVE = AttentionSpec.builder().backend(Backend.NATIVE).build();

    @BeforeAll
    static void nativeLibrary() {
        Panattn.ensureNativeAvailable();
    }

    /**
     * The fewest bytes this thread allocates per run of {@code call} in a
     * window of runs. Windows repeat until one is within {@code bound}, or
     * {@value #WINDOWS} ran: until the JIT has compiled the call path (an
     * interpreted call allocates), which on a busy machine takes a while.
     */
    private static double steadyBytesPerCall(Runnable call, double bound) {
        double least = Double.MAX_VALUE;
        for (int w = 0; w < WINDOWS && least > bound; w++) {
            long before = THREADS.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < CALLS; i++) {
                call.run();
            }
            least = Math.min(least, (double) (THREADS.getCurrentThreadAllocatedBytes() - before) / CALLS);
        }
        return least;
    }

    @Test
    void aPreparedRunAllocatesNothing() {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(1);
            Tensor q = Reference.random(arena, rnd, 1, 1, 16, 64), k = Reference.random(arena, rnd, 1, 1, 16, 64);
            Tensor v = Reference.random(arena, rnd, 1, 1, 16, 64), out = Tensor.allocate(arena, 1, 1, 16, 64);
            PreparedAttention call = Attention.prepare(q, k, v, out, NATIVE);
            double bytes = steadyBytesPerCall(call::run, NONE);
            assertTrue(bytes <= NONE, bytes + " bytes per prepared run");
        }
    }

    @Test
    void anArraysCallAllocatesNothing() {
        SplittableRandom rnd = new SplittableRandom(2);
        float[] q = Reference.random(Arena.ofAuto(), rnd, 1024).toArray(), k = q.clone(), v = q.clone();
        float[] out = new float[1024];
        Attention.Dims dims = Attention.Dims.of(1, 1, 16, 64);
        double bytes = steadyBytesPerCall(() -> Attention.scaledDotProduct(q, k, v, out, dims, NATIVE), NONE);
        assertTrue(bytes <= NONE, bytes + " bytes per arrays call");
    }

    /** Bytes per plain tensor call: its plan, rule and call objects; it was 2,200 when every check copied shapes. */
    private static final double LITTLE = 400;

    /** The same tensor call again runs prepared: nothing is allocated. */
    @Test
    void aRepeatedTensorCallAllocatesNothing() {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(3);
            Tensor q = Reference.random(arena, rnd, 1, 1, 16, 64), k = Reference.random(arena, rnd, 1, 1, 16, 64);
            Tensor v = Reference.random(arena, rnd, 1, 1, 16, 64), out = Tensor.allocate(arena, 1, 1, 16, 64);
            double bytes = steadyBytesPerCall(() -> Attention.scaledDotProduct(q, k, v, out, NATIVE), NONE);
            assertTrue(bytes <= NONE, bytes + " bytes per repeated tensor call");
        }
    }

    /** A call on other tensors than the last builds a plan of views of its own; a few objects, no copies of shapes. */
    @Test
    void aTensorCallOnOtherTensorsAllocatesLittle() {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(4);
            Tensor q = Reference.random(arena, rnd, 1, 1, 16, 64), k = Reference.random(arena, rnd, 1, 1, 16, 64);
            Tensor v = Reference.random(arena, rnd, 1, 1, 16, 64);
            Tensor[] outs = {Tensor.allocate(arena, 1, 1, 16, 64), Tensor.allocate(arena, 1, 1, 16, 64)};
            int[] turn = {0};
            double bytes = steadyBytesPerCall(() -> Attention.scaledDotProduct(q, k, v, outs[turn[0]++ & 1], NATIVE),
                    LITTLE);
            assertTrue(bytes <= LITTLE, bytes + " bytes per tensor call");
        }
    }
}
