package org.panattn.examples;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.panattn.AttentionSpec;
import org.panattn.Mask;
import org.panattn.Tensor;
import org.panattn.layers.LayerOutput;
import org.panattn.layers.MultiHeadAttention;

/**
 * An encoder self-attention block: every token of a padded batch attends
 * to every real token of its own sentence, and the block adds the result
 * to its input (the residual connection).
 */
public final class EncoderSelfAttentionExample {
    private EncoderSelfAttentionExample() {
    }

    /** Runs the block on a batch of two sentences of 5 and 3 tokens (padded to 5); returns the weights. */
    public static LayerOutput run(Arena arena) {
        int batch = 2, length = 5, embed = 32, heads = 4;
        MultiHeadAttention attention = MultiHeadAttention.builder(embed, heads).build(arena).initRandom(42);
        Tensor x = Tensor.allocate(arena, batch, length, embed);
        SplittableRandom rnd = new SplittableRandom(1);
        float[] tokens = new float[batch * length * embed];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (float) rnd.nextGaussian();
        }
        x.copyFrom(tokens);

        Mask padding = Mask.keyPadding(arena, new long[] {5, 3}, length);
        LayerOutput y = attention.forward(arena, x,
                AttentionSpec.builder().keyPadding(padding).build(), MultiHeadAttention.NeedWeights.AVERAGED);

        float[] residual = y.output().toArray();
        for (int i = 0; i < residual.length; i++) {
            residual[i] += tokens[i];
        }
        System.out.printf("encoder block: input %s -> output %s%n", java.util.Arrays.toString(x.shape()),
                java.util.Arrays.toString(y.output().shape()));
        return y;
    }

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = run(arena).weights();
            System.out.println("sentence 2, token 0 attends to: " + java.util.Arrays.toString(
                    new float[] {w.get(1, 0, 0), w.get(1, 0, 1), w.get(1, 0, 2), w.get(1, 0, 3), w.get(1, 0, 4)}));
        }
    }
}
