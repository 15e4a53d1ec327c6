package org.panattn.examples;

import java.lang.foreign.Arena;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Tensor;

/**
 * Encoder-decoder (cross) attention, the translation picture: while the
 * decoder writes a target word, its query attends over the encoder's
 * source words; the weights show which source word it looks at. Keys here
 * are small hand-made embeddings, and each target query is close to the
 * key of the word it translates.
 */
public final class TranslationCrossAttentionExample {
    static final String[] SOURCE = {"我", "爱", "机器", "学习"};
    static final String[] TARGET = {"I", "love", "machine", "learning"};
    /** For each target word, the source word it translates. */
    static final int[] ALIGNED = {0, 1, 2, 3};

    private TranslationCrossAttentionExample() {
    }

    /** The cross-attention weights (target word × source word). */
    public static float[][] run(Arena arena) {
        int d = 4;
        // Source keys: one direction per word; values carry the same embedding.
        float[] keys = new float[SOURCE.length * d];
        for (int s = 0; s < SOURCE.length; s++) {
            keys[s * d + s] = 1f;
            keys[s * d + (s + 1) % d] = 0.3f;
        }
        // Target queries: near the key of the aligned source word.
        float[] queries = new float[TARGET.length * d];
        for (int t = 0; t < TARGET.length; t++) {
            for (int i = 0; i < d; i++) {
                queries[t * d + i] = 4f * keys[ALIGNED[t] * d + i];
            }
        }
        Tensor q = Tensor.of(arena, queries, 1, 1, TARGET.length, d);
        Tensor k = Tensor.of(arena, keys, 1, 1, SOURCE.length, d);
        Tensor v = Tensor.of(arena, keys, 1, 1, SOURCE.length, d);
        Tensor w = Tensor.allocate(arena, 1, 1, TARGET.length, SOURCE.length);
        Attention.scaledDotProduct(q, k, v, AttentionSpec.builder().weights(w).build());

        float[][] weights = new float[TARGET.length][SOURCE.length];
        for (int t = 0; t < TARGET.length; t++) {
            for (int s = 0; s < SOURCE.length; s++) {
                weights[t][s] = w.get(0, 0, t, s);
            }
        }
        return weights;
    }

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            float[][] w = run(arena);
            System.out.printf("%-10s", "");
            for (String s : SOURCE) {
                System.out.printf("%8s", s);
            }
            System.out.println();
            for (int t = 0; t < TARGET.length; t++) {
                System.out.printf("%-10s", TARGET[t]);
                for (float x : w[t]) {
                    System.out.printf("%8.3f", x);
                }
                System.out.println();
            }
        }
    }
}
