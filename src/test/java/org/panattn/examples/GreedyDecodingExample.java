package org.panattn.examples;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.panattn.AttentionSpec;
import org.panattn.Causal;
import org.panattn.KvCache;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

/**
 * Greedy causal decoding with a KV cache: a toy language model (token
 * embeddings, one causal self-attention layer, logits against the
 * embeddings) generates tokens one at a time, attending over the cached
 * keys and values instead of recomputing the whole prefix.
 */
public final class GreedyDecodingExample {
    static final int VOCAB = 10, EMBED = 16, HEADS = 4, KV_HEADS = 2;

    private GreedyDecodingExample() {
    }

    /** The toy model's weights. */
    record Model(float[] embeddings, MultiHeadAttention attention) {
        static Model create(Arena arena) {
            SplittableRandom rnd = new SplittableRandom(7);
            float[] e = new float[VOCAB * EMBED];
            for (int i = 0; i < e.length; i++) {
                e[i] = (float) rnd.nextGaussian();
            }
            return new Model(e, MultiHeadAttention.builder(EMBED, HEADS).kvHeads(KV_HEADS).build(arena).initRandom(9));
        }

        Tensor embed(Arena arena, List<Integer> tokens) {
            float[] x = new float[tokens.size() * EMBED];
            for (int t = 0; t < tokens.size(); t++) {
                System.arraycopy(embeddings, tokens.get(t) * EMBED, x, t * EMBED, EMBED);
            }
            return Tensor.of(arena, x, 1, tokens.size(), EMBED);
        }

        /** The most likely next token after the hidden state of position {@code t}. */
        int next(Tensor hidden, int t) {
            int best = 0;
            double bestLogit = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < VOCAB; v++) {
                double logit = 0;
                for (int i = 0; i < EMBED; i++) {
                    logit += hidden.get(0, t, i) * embeddings[v * EMBED + i];
                }
                if (logit > bestLogit) {
                    bestLogit = logit;
                    best = v;
                }
            }
            return best;
        }
    }

    /** Generates {@code steps} tokens after {@code prompt} with the cache. */
    public static List<Integer> decodeWithCache(Arena arena, List<Integer> prompt, int steps) {
        Model m = Model.create(arena);
        KvCache cache = KvCache.allocate(arena, 1, KV_HEADS, prompt.size() + steps, EMBED / HEADS);
        List<Integer> tokens = new ArrayList<>(prompt);
        Tensor hidden = m.attention.forwardCached(arena, m.embed(arena, prompt), cache, AttentionSpec.DEFAULT);
        for (int s = 0; s < steps; s++) {
            int next = m.next(hidden, (int) hidden.size(1) - 1);
            tokens.add(next);
            hidden = m.attention.forwardCached(arena, m.embed(arena, List.of(next)), cache, AttentionSpec.DEFAULT);
        }
        return tokens;
    }

    /** The same generation, recomputing causal attention over the whole prefix at every step. */
    public static List<Integer> decodeWithoutCache(Arena arena, List<Integer> prompt, int steps) {
        Model m = Model.create(arena);
        List<Integer> tokens = new ArrayList<>(prompt);
        AttentionSpec causal = AttentionSpec.builder().causal(Causal.TOP_LEFT).build();
        for (int s = 0; s < steps; s++) {
            Tensor hidden = m.attention.forward(arena, m.embed(arena, tokens), causal,
                    MultiHeadAttention.NeedWeights.NONE).output();
            tokens.add(m.next(hidden, tokens.size() - 1));
        }
        return tokens;
    }

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            System.out.println("generated: " + decodeWithCache(arena, List.of(1, 4, 2), 8));
        }
    }
}
