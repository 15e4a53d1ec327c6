package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link Attention#linear} against a float64 reference on every backend:
 * ranks 1 to 4, with and without bias, column views of wider tensors,
 * permuted inputs whose rows do not merge, and sizes of 0.
 */
class LinearTest {
    private static final double TOLERANCE = 1e-5;

    /** x (..., K)·wᵀ + bias in double, in x's row-major order of the shape. */
    private static double[] reference(Tensor x, Tensor w, Tensor bias) {
        float[] xs = x.toArray(), ws = w.toArray(), bs = bias == null ? null : bias.toArray();
        int k = (int) w.size(1), n = (int) w.size(0), rows = 1;
        for (int d = 0; d < x.rank() - 1; d++) {
            rows *= (int) x.size(d);
        }
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < n; o++) {
                double acc = bs == null ? 0 : bs[o];
                for (int i = 0; i < k; i++) {
                    acc += (double) xs[r * k + i] * ws[o * k + i];
                }
                y[r * n + o] = acc;
            }
        }
        return y;
    }

    private static void check(Arena arena, Backend backend, String what, Tensor x, Tensor w, Tensor bias) {
        long[] shape = x.shape();
        shape[shape.length - 1] = w.size(0);
        Tensor y = Refusals.sentinel(arena, shape);
        Attention.linear(x, w, bias, y, backend);
        double err = Reference.relativeError(y.toArray(), reference(x, w, bias));
        assertTrue(err < TOLERANCE, backend + " " + what + ": relative error " + err);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void matchesTheFloat64Reference(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(11);
            Tensor w = Reference.random(arena, rnd, 5, 7), bias = Reference.random(arena, rnd, 5);
            check(arena, backend, "rank 1", Reference.random(arena, rnd, 7), w, bias);
            check(arena, backend, "rank 2, no bias", Reference.random(arena, rnd, 3, 7), w, null);
            check(arena, backend, "rank 3", Reference.random(arena, rnd, 2, 3, 7), w, bias);
            check(arena, backend, "rank 4", Reference.random(arena, rnd, 2, 3, 4, 7), w, bias);
            // Columns 2..8 of a (2, 3, 12) tensor: strided rows, read in place.
            Tensor wide = Reference.random(arena, rnd, 2, 3, 12);
            Tensor columns = Tensor.wrap(wide.segment().asSlice(2L * Float.BYTES), new long[] {2, 3, 7},
                    new long[] {36, 12, 1});
            check(arena, backend, "column view", columns, w, bias);
            // (L, B, K) storage seen as (B, L, K): its rows do not merge into one matrix.
            check(arena, backend, "permuted", Reference.random(arena, rnd, 4, 3, 7).permute(1, 0, 2), w, bias);
            check(arena, backend, "stride-0 batch", Tensor.wrap(Reference.random(arena, rnd, 3, 7).segment(),
                    new long[] {2, 3, 7}, new long[] {0, 7, 1}), w, bias);
            // A weight whose rows are padded.
            Tensor padded = Reference.random(arena, rnd, 5, 9);
            check(arena, backend, "padded weight", Reference.random(arena, rnd, 2, 7),
                    Tensor.wrap(padded.segment(), new long[] {5, 7}, new long[] {9, 1}), bias);
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void sizesOfZeroAreLegal(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(12);
            Tensor w = Reference.random(arena, rnd, 5, 7), bias = Reference.random(arena, rnd, 5);
            Tensor noRows = Tensor.allocate(arena, 2, 0, 5);
            Attention.linear(Tensor.allocate(arena, 2, 0, 7), w, bias, noRows, backend);
            Attention.linear(Tensor.allocate(arena, 0, 3, 7), w, bias, Tensor.allocate(arena, 0, 3, 5), backend);
            Tensor noOutputs = Tensor.allocate(arena, 2, 0);
            Attention.linear(Reference.random(arena, rnd, 2, 7), Tensor.allocate(arena, 0, 7), null, noOutputs,
                    backend);
            // K = 0: every row is the bias.
            check(arena, backend, "K = 0", Tensor.allocate(arena, 2, 3, 0), Tensor.allocate(arena, 5, 0), bias);
            Tensor y = Tensor.allocate(arena, 3, 5);
            Attention.linear(Tensor.allocate(arena, 3, 0), Tensor.allocate(arena, 5, 0), null, y, backend);
            assertArrayEquals(new float[15], y.toArray(), "K = 0 without bias: zeros");
        }
    }
}
