package org.panattn.examples;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Mask;
import org.panattn.ScoreRule;
import org.panattn.Tensor;

/**
 * One decoder step of a Bahdanau encoder-decoder: the decoder state scores
 * every encoder state with {@code vᵀ·tanh(W_q·s + W_k·h_j + b)}, the
 * weights (over the real, unpadded source words) mix the encoder states
 * into a context vector.
 */
public final class BahdanauStepExample {
    private BahdanauStepExample() {
    }

    /** The context vectors (B, 1, H) and weights (B, 1, L) for a batch of two sources of 6 and 4 words. */
    public static Tensor[] run(Arena arena) {
        int batch = 2, length = 6, hidden = 8, attnSize = 10;
        SplittableRandom rnd = new SplittableRandom(2);
        Tensor encoder = random(arena, rnd, batch, length, hidden);   // h_j: keys and values
        Tensor decoder = random(arena, rnd, batch, 1, hidden);        // s: one query per sequence
        ScoreRule rule = ScoreRule.additive(random(arena, rnd, attnSize, hidden), random(arena, rnd, attnSize, hidden),
                random(arena, rnd, attnSize), random(arena, rnd, attnSize));
        Tensor context = Tensor.allocate(arena, batch, 1, hidden);
        Tensor weights = Tensor.allocate(arena, batch, 1, length);
        AttentionSpec spec = AttentionSpec.builder().keyPadding(Mask.keyPadding(arena, new long[] {6, 4}, length))
                .weights(weights).build();
        Attention.attend(rule, decoder, encoder, encoder, context, spec);
        return new Tensor[] {context, weights};
    }

    static Tensor random(Arena arena, SplittableRandom rnd, long... shape) {
        Tensor t = Tensor.allocate(arena, shape);
        float[] x = new float[(int) t.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian() * 0.5f;
        }
        return t.copyFrom(x);
    }

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = run(arena)[1];
            for (int b = 0; b < 2; b++) {
                StringBuilder sb = new StringBuilder("source " + b + " weights:");
                for (int j = 0; j < 6; j++) {
                    sb.append(String.format(" %.3f", w.get(b, 0, j)));
                }
                System.out.println(sb);
            }
        }
    }
}
