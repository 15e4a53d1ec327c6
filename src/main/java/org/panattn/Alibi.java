package org.panattn;

import java.lang.foreign.Arena;

/**
 * ALiBi's head slopes (Press et al., "Train Short, Test Long"): for n heads
 * a geometric sequence starting at 2^(−8/n); when n is not a power of two,
 * the slopes of the nearest lower power of two m, then every other slope
 * of 2m.
 */
public final class Alibi {
    private Alibi() {
    }

    /**
     * The slopes of {@code heads} heads.
     *
     * @param heads the number of heads
     * @return the slopes
     */
    public static float[] slopes(int heads) {
        if (heads <= 0) {
            throw new IllegalArgumentException("heads must be > 0, got " + heads);
        }
        int m = Integer.highestOneBit(heads);
        float[] out = new float[heads];
        double[] base = powerOfTwoSlopes(m);
        for (int i = 0; i < m; i++) {
            out[i] = (float) base[i];
        }
        double[] extra = powerOfTwoSlopes(2 * m);
        for (int i = 0; i < heads - m; i++) {
            out[m + i] = (float) extra[2 * i];
        }
        return out;
    }

    /**
     * The slopes as a tensor (H) in {@code arena}, for {@link AttentionSpec.Builder#alibi}.
     *
     * @param arena the arena to allocate in
     * @param heads the number of heads
     * @return the slopes
     */
    public static Tensor slopes(Arena arena, int heads) {
        return Tensor.of(arena, slopes(heads), heads);
    }

    private static double[] powerOfTwoSlopes(int n) {
        double start = Math.pow(2, -8.0 / n);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = Math.pow(start, i + 1);
        }
        return s;
    }
}
