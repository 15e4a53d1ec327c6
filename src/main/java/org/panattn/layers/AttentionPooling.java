package org.panattn.layers;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.Tensor;

/**
 * Attention pooling: one query vector (learned, or given) attends over a
 * sequence and returns one vector per sequence, for classification:
 * {@code pooled[b] = softmax(q·x[b]ᵀ/√D + padding)·x[b]}. It is scaled
 * dot-product attention with the query broadcast over the batch (stride 0,
 * no copies); keys and values are the sequence itself.
 */
public final class AttentionPooling {
    private final Tensor query;

    /**
     * Pools with the given query {@code (D)}.
     *
     * @param query the queries
     */
    public AttentionPooling(Tensor query) {
        if (query == null || query.rank() != 1 || query.size(0) == 0) {
            throw new IllegalArgumentException("query: expected shape (D), got "
                    + (query == null ? "null" : Checks.format(query.shape())));
        }
        if (query.size(0) > 1 && query.strides()[0] != 1) {
            throw new IllegalArgumentException("query: expected a contiguous vector (stride 1), got strides "
                    + Checks.format(query.strides()) + "; use contiguous() for a copy");
        }
        this.query = query;
    }

    /**
     * Pools with a seeded random query of width {@code d} (Xavier-uniform), allocated in {@code arena}.
     *
     * @param arena the arena to allocate in
     * @param d the width
     * @param seed the seed of the random numbers
     * @return the pooling
     */
    public static AttentionPooling random(Arena arena, long d, long seed) {
        if (d <= 0 || d > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("d must be 1 to " + (Integer.MAX_VALUE - 8) + " (a Java array's length), got "
                    + d);
        }
        Tensor q = Tensor.allocate(arena, d);
        Weights.fillUniform(q, new SplittableRandom(seed), Math.sqrt(6.0 / (d + 1)));
        return new AttentionPooling(q);
    }

    /** {@return the query vector (D)} */
    public Tensor query() {
        return query;
    }

    /**
     * Pools x {@code (B, L, D)}; {@code keyPadding} (e.g.
     * {@link Mask#keyPadding}) hides padding positions, null for none.
     *
     * @param arena the arena to allocate in
     * @param x the input
     * @param keyPadding the key-padding mask, or null
     * @param backend the backend to compute with, or null for {@link Panattn#defaultBackend()}
     * @return the pooled vectors and the attention weights; with L = 0 the pooled vectors are zeros
     */
    public LayerOutput forward(Arena arena, Tensor x, Mask keyPadding, Backend backend) {
        if (arena == null || x == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : "x") + " must not be null");
        }
        // Checked by their own names before the views below take their places as q, k and v.
        Backend resolved = backend != null ? backend : Panattn.defaultBackend();
        Checks.usable("query", query, resolved);
        Checks.usable("x", x, resolved);
        long d = query.size(0);
        if (x.rank() != 3 || x.size(2) != d) {
            throw new IllegalArgumentException("x: expected shape (B, L, " + d + "), got " + Checks.format(x.shape()));
        }
        long b = x.size(0), l = x.size(1);
        Tensor q = Tensor.wrap(query.segment(), new long[] {b, 1, 1, d}, new long[] {0, 0, 0, query.strides()[0]});
        Tensor pooled = Tensor.allocate(arena, b, d);
        Tensor weights = Tensor.allocate(arena, b, l);
        Tensor kv = x.unsqueeze(1);
        AttentionSpec spec = AttentionSpec.builder().keyPadding(keyPadding).backend(resolved)
                .weights(Tensor.wrap(weights.segment(), b, 1, 1, l)).build();
        Attention.scaledDotProduct(q, kv, kv, Tensor.wrap(pooled.segment(), b, 1, 1, d), spec);
        return new LayerOutput(pooled, weights);
    }
}
