package org.panattn.examples;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.KvCache;
import org.panattn.Panattn;
import org.panattn.Tensor;

/**
 * Batched greedy decoding of prompts of different lengths, with one KV
 * cache whose batch rows have lengths of their own. A toy decoder (token
 * and learned position embeddings, one self-attention layer with grouped
 * heads over the cache and a residual connection, an output projection,
 * argmax) runs the whole batch
 * in each step: the prompts are left-padded to the longest, each row
 * appends only its own tokens ({@link KvCache#append(Tensor, Tensor, long[])})
 * and attends over them alone ({@link KvCache#attend}), so every row
 * generates what decoding it on its own generates. Each row's tokens take
 * their positions from the row's own length ({@link KvCache#length(long)}).
 */
public final class BatchedDecodingExample {
    static final int VOCAB = 13, EMBED = 16, HEADS = 4, KV_HEADS = 2, HEAD_DIM = EMBED / HEADS, MAX_LEN = 32;

    private BatchedDecodingExample() {
    }

    /** The toy model's weights, in PyTorch's (out, in) layout. */
    record Model(Tensor tokens, Tensor positions, Tensor wq, Tensor wk, Tensor wv, Tensor wo, Tensor unembed) {
        static Model create(Arena arena) {
            SplittableRandom rnd = new SplittableRandom(31);
            int kv = KV_HEADS * HEAD_DIM;
            return new Model(random(arena, rnd, 1, VOCAB, EMBED), random(arena, rnd, 0.5, MAX_LEN, EMBED),
                    random(arena, rnd, 0.5, EMBED, EMBED), random(arena, rnd, 0.5, kv, EMBED),
                    random(arena, rnd, 0.5, kv, EMBED), random(arena, rnd, 0.5, EMBED, EMBED),
                    random(arena, rnd, 1, VOCAB, EMBED));
        }

        /**
         * One decoding step of the batch: row b's {@code fresh[b]} tokens are
         * its last positions of (B, T), T the longest; they are appended to
         * the cache at the row's own length. Returns each row's next token.
         */
        int[] step(Arena arena, KvCache cache, List<List<Integer>> fresh, Backend backend) {
            int b = fresh.size(), t = fresh.stream().mapToInt(List::size).max().orElse(0);
            long[] counts = new long[b];
            float[] x = new float[b * t * EMBED]; // padding positions stay zero
            for (int r = 0; r < b; r++) {
                List<Integer> row = fresh.get(r);
                counts[r] = row.size();
                int pad = t - row.size();
                for (int i = 0; i < row.size(); i++) {
                    long position = cache.length(r) + i;
                    for (int e = 0; e < EMBED; e++) {
                        x[(r * t + pad + i) * EMBED + e] = tokens.get(row.get(i), e) + positions.get(position, e);
                    }
                }
            }
            Tensor input = Tensor.of(arena, x, b, t, EMBED);
            Tensor q = project(arena, input, wq, backend), k = project(arena, input, wk, backend);
            Tensor v = project(arena, input, wv, backend);
            cache.append(heads(k, KV_HEADS), heads(v, KV_HEADS), counts);
            Tensor merged = Tensor.allocate(arena, b, t, EMBED);
            cache.attend(heads(q, HEADS), heads(merged, HEADS), AttentionSpec.builder().backend(backend).build());
            Tensor hidden = project(arena, merged, wo, backend);
            hidden.copyFrom(add(hidden.toArray(), x)); // the residual connection
            Tensor logits = project(arena, hidden, unembed, backend);
            int[] next = new int[b];
            for (int r = 0; r < b; r++) { // each row's last position is its last real token
                for (int w = 1; w < VOCAB; w++) {
                    next[r] = logits.get(r, t - 1, w) > logits.get(r, t - 1, next[r]) ? w : next[r];
                }
            }
            return next;
        }
    }

    private static float[] add(float[] a, float[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
        return a;
    }

    private static Tensor random(Arena arena, SplittableRandom rnd, double scale, long... shape) {
        Tensor t = Tensor.allocate(arena, shape);
        float[] values = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (scale * rnd.nextGaussian());
        }
        return t.copyFrom(values);
    }

    /** y = x·Wᵀ, x (B, T, in), into a new (B, T, out). */
    private static Tensor project(Arena arena, Tensor x, Tensor w, Backend backend) {
        Tensor y = Tensor.allocate(arena, x.size(0), x.size(1), w.size(0));
        Attention.linear(x, w, null, y, backend);
        return y;
    }

    /** A (B, T, heads·D) tensor seen as (B, heads, T, D), without a copy. */
    private static Tensor heads(Tensor x, long heads) {
        long b = x.size(0), t = x.size(1), width = x.size(2);
        return Tensor.wrap(x.segment(), new long[] {b, heads, t, width / heads}, new long[] {t * width, width / heads,
            width, 1});
    }

    /** Generates {@code steps} tokens after each prompt, the whole batch in each step. */
    public static List<List<Integer>> decode(Arena arena, List<List<Integer>> prompts, int steps, Backend backend) {
        Model m = Model.create(arena);
        int longest = prompts.stream().mapToInt(List::size).max().orElse(0);
        KvCache cache = KvCache.allocate(arena, prompts.size(), KV_HEADS, longest + steps, HEAD_DIM);
        List<List<Integer>> tokens = new ArrayList<>();
        for (List<Integer> p : prompts) {
            tokens.add(new ArrayList<>(p));
        }
        List<List<Integer>> fresh = prompts;
        for (int s = 0; s < steps; s++) {
            int[] next = m.step(arena, cache, fresh, backend);
            fresh = new ArrayList<>();
            for (int r = 0; r < next.length; r++) {
                tokens.get(r).add(next[r]);
                fresh.add(List.of(next[r]));
            }
        }
        return tokens;
    }

    public static void main(String[] args) {
        try (Arena arena = Arena.ofConfined()) {
            List<List<Integer>> prompts = List.of(List.of(3, 1, 4, 1, 5), List.of(9), List.of(2, 6, 5, 3, 5, 8, 9));
            System.out.println("generated: " + decode(arena, prompts, 6, Panattn.defaultBackend()));
        }
    }
}
