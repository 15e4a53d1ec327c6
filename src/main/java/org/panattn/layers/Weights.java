package org.panattn.layers;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.panattn.Tensor;

/** What every layer does with its weights: allocate them by name, load PyTorch's arrays, fill them at random. */
final class Weights {
    private Weights() {
    }

    /**
     * A zero-filled weight in {@code arena}: {@link Tensor#allocate}, with a
     * shape whose element or byte count overflows refused under the weight's
     * PyTorch name, since a layer's caller gave sizes, not a shape.
     */
    static Tensor allocate(String name, Arena arena, long... shape) {
        if (arena == null) {
            throw new IllegalArgumentException("arena must not be null");
        }
        // Counted as Tensor.allocate counts: a size of 0 anywhere makes 0, whatever the others.
        long count = Arrays.stream(shape).anyMatch(s -> s == 0) ? 0 : 1;
        try {
            for (int d = 0; count != 0 && d < shape.length; d++) {
                count = Math.multiplyExact(count, shape[d]);
            }
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(name + " " + Arrays.toString(shape)
                    + ": element count overflows 64 bits", e);
        }
        if (count > Long.MAX_VALUE / Float.BYTES) {
            throw new IllegalArgumentException(name + " " + Arrays.toString(shape) + ": byte size overflows 64 bits");
        }
        return Tensor.allocate(arena, shape);
    }

    /**
     * Copies named PyTorch weights into their tensors (a null tensor: a bias
     * the layer was built without), checking every count and the layer's
     * arena before copying any, so a refused load changes nothing.
     */
    static void load(String[] names, Tensor[] dst, float[]... values) {
        for (int i = 0; i < dst.length; i++) {
            if (dst[i] == null) {
                if (values[i] != null) {
                    throw new IllegalArgumentException(names[i] + ": this layer was built without biases");
                }
                continue;
            }
            if (values[i] == null || values[i].length != dst[i].size()) {
                throw new IllegalArgumentException(names[i] + ": expected " + dst[i].size() + " values, shape "
                        + Checks.format(dst[i].shape()) + ", got " + (values[i] == null ? "null" : values[i].length));
            }
            Checks.usable(names[i], dst[i], null);
        }
        for (int i = 0; i < dst.length; i++) {
            if (dst[i] != null) {
                dst[i].copyFrom(values[i]);
            }
        }
    }

    /** Fills {@code t} with values uniform in ±{@code bound}, in row-major order. */
    static void fillUniform(Tensor t, SplittableRandom rnd, double bound) {
        float[] x = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        }
        t.copyFrom(x);
    }

    /** Fills {@code t} with normal values of mean 0 and standard deviation {@code std}, in row-major order. */
    static void fillNormal(Tensor t, SplittableRandom rnd, double std) {
        float[] x = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextGaussian() * std);
        }
        t.copyFrom(x);
    }
}
