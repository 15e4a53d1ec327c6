package org.panattn.examples;

import java.lang.foreign.Arena;

import org.panattn.Backend;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.Tensor;
import org.panattn.layers.AttentionPooling;
import org.panattn.layers.LayerOutput;

/**
 * Attention pooling for classification: a query that looks for one
 * feature pools each padded sequence into one vector, which a linear
 * classifier labels. The sequence holding a token with that feature gets
 * the positive label.
 */
public final class PoolingClassifierExample {
    private PoolingClassifierExample() {
    }

    /** Labels for three sequences (the second contains the keyword, the third hides it in padding). */
    public static boolean[] run(Arena arena, Backend backend) {
        int d = 4, length = 5;
        float[] tokens = new float[3 * length * d];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i % 3) * 0.1f; // background tokens
        }
        tokens[(1 * length + 2) * d] = 5f;  // sequence 1, token 2: the keyword feature
        tokens[(2 * length + 4) * d] = 5f;  // sequence 2, token 4: but it is padding
        Tensor x = Tensor.of(arena, tokens, 3, length, d);
        AttentionPooling pool = new AttentionPooling(Tensor.of(arena, new float[] {3, 0, 0, 0}, d));
        LayerOutput r = pool.forward(arena, x, Mask.keyPadding(arena, new long[] {5, 5, 4}, length), backend);
        boolean[] labels = new boolean[3];
        for (int b = 0; b < 3; b++) {
            labels[b] = r.output().get(b, 0) > 1f; // the classifier: feature 0 above a threshold
        }
        return labels;
    }

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            System.out.println("labels: " + java.util.Arrays.toString(run(arena, Panattn.defaultBackend())));
        }
    }
}
