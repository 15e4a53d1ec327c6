package org.panattn.examples;

import java.lang.foreign.Arena;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.ScoreRule;
import org.panattn.Tensor;

/**
 * The classic self-attention walk-through, step by step: three inputs of
 * four features, 4×3 key, query and value matrices, unscaled dot-product
 * scores, softmax, and the weighted sum of the values.
 */
public final class SelfAttentionWalkthroughExample {
    static final float[][] X = {{1, 0, 1, 0}, {0, 2, 0, 2}, {1, 1, 1, 1}};
    static final float[][] W_KEY = {{0, 0, 1}, {1, 1, 0}, {0, 1, 0}, {1, 1, 0}};
    static final float[][] W_QUERY = {{1, 0, 1}, {1, 0, 0}, {0, 0, 1}, {0, 1, 1}};
    static final float[][] W_VALUE = {{0, 2, 0}, {0, 3, 0}, {1, 0, 3}, {1, 1, 0}};

    private SelfAttentionWalkthroughExample() {
    }

    /** Steps 3-7: the outputs (3 × 3) and the weights (3 × 3). */
    public static Tensor[] run(Arena arena) {
        Tensor keys = Tensor.of(arena, times(X, W_KEY), 1, 3, 3);
        Tensor queries = Tensor.of(arena, times(X, W_QUERY), 1, 3, 3);
        Tensor values = Tensor.of(arena, times(X, W_VALUE), 1, 3, 3);
        Tensor weights = Tensor.allocate(arena, 1, 3, 3);
        Tensor out = Tensor.allocate(arena, 1, 3, 3);
        Attention.attend(ScoreRule.dot(), queries, keys, values, out, AttentionSpec.builder().weights(weights).build());
        return new Tensor[] {out, weights};
    }

    /** x · w, row-major. */
    static float[] times(float[][] x, float[][] w) {
        float[] y = new float[x.length * w[0].length];
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < w[0].length; j++) {
                for (int k = 0; k < w.length; k++) {
                    y[i * w[0].length + j] += x[i][k] * w[k][j];
                }
            }
        }
        return y;
    }

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor[] r = run(arena);
            for (int i = 0; i < 3; i++) {
                System.out.printf("output %d: [%.4f, %.4f, %.4f]%n", i + 1, r[0].get(0, i, 0), r[0].get(0, i, 1),
                        r[0].get(0, i, 2));
            }
        }
    }
}
