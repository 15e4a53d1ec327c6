package org.panattn.layers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Tensor;

/**
 * The seq2seq tutorials' attention step ({@code Attn}): the concat-linear
 * rule gives weights over the value positions, they weight the values
 * (bmm), q is concatenated with the result, and an output linear layer
 * combines the two:
 * <pre>
 * weights = softmax(attn([q; k]))            (B, Lq, Lv)
 * applied = weights · V                       (B, Lq, Dv)
 * output  = combine([q; applied])             (B, Lq, outputSize)
 * </pre>
 * with {@code attn} a linear layer {@code (Dq + Dk) → Lv} and {@code combine}
 * {@code (Dq + Dv) → outputSize}. Query, key, value and output sizes are
 * independent; q {@code (B, Lq, Dq)}, k {@code (B, Lq, Dk)} (one key per
 * query, e.g. the decoder's hidden state), V {@code (B, Lv, Dv)}.
 */
public final class EncoderDecoderAttention {
    private final long querySize, keySize, valuePositions, valueSize, outputSize;
    private final Tensor attnW, attnB, combineW, combineB;

    /**
     * A step with zero weights in {@code arena}, sized as the tutorial's
     * {@code Attn(query_size, key_size, value_size1, value_size2, output_size)}.
     *
     * @param arena the arena to allocate in
     * @param querySize Dq, the query width
     * @param keySize Dk, the key width
     * @param valuePositions Lv, the value positions
     * @param valueSize Dv, the value width
     * @param outputSize the output width
     */
    public EncoderDecoderAttention(Arena arena, long querySize, long keySize, long valuePositions, long valueSize,
                                   long outputSize) {
        for (long n : new long[] {querySize, keySize, valuePositions, valueSize, outputSize}) {
            if (n <= 0) {
                throw new IllegalArgumentException("sizes must be > 0, got querySize " + querySize + ", keySize "
                        + keySize + ", valuePositions " + valuePositions + ", valueSize " + valueSize
                        + ", outputSize " + outputSize);
            }
        }
        this.querySize = querySize;
        this.keySize = keySize;
        this.valuePositions = valuePositions;
        this.valueSize = valueSize;
        this.outputSize = outputSize;
        if (querySize > Long.MAX_VALUE - Math.max(keySize, valueSize)) {
            throw new IllegalArgumentException("querySize + keySize and querySize + valueSize, the widths of [q; k] "
                    + "and [q; applied], must fit in 64 bits, got querySize " + querySize + ", keySize " + keySize
                    + ", valueSize " + valueSize);
        }
        attnW = Weights.allocate("attn.weight", arena, valuePositions, querySize + keySize);
        attnB = Weights.allocate("attn.bias", arena, valuePositions);
        combineW = Weights.allocate("attn_combine.weight", arena, outputSize, querySize + valueSize);
        combineB = Weights.allocate("attn_combine.bias", arena, outputSize);
    }

    /**
     * Seeded weights as PyTorch's nn.Linear initialises them: uniform in ±1/√fan_in.
     *
     * @param seed the seed of the random numbers
     * @return this layer
     */
    public EncoderDecoderAttention initRandom(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Tensor[] layer : new Tensor[][] {{attnW, attnB}, {combineW, combineB}}) {
            double bound = 1.0 / Math.sqrt(layer[0].size(1));
            for (Tensor t : layer) {
                Weights.fillUniform(t, rnd, bound);
            }
        }
        return this;
    }

    /**
     * Loads PyTorch's {@code attn.weight (Lv, Dq + Dk)}, {@code attn.bias}, {@code attn_combine.weight}, {@code attn_combine.bias}.
     *
     * @param attnWeight attn.weight (Lv, Dq + Dk)
     * @param attnBias attn.bias (Lv)
     * @param combineWeight attn_combine.weight (out, Dq + Dv)
     * @param combineBias attn_combine.bias (out)
     * @return this step
     */
    public EncoderDecoderAttention load(float[] attnWeight, float[] attnBias, float[] combineWeight, float[] combineBias) {
        Weights.load(new String[] {"attn.weight", "attn.bias", "attn_combine.weight", "attn_combine.bias"},
                new Tensor[] {attnW, attnB, combineW, combineB}, attnWeight, attnBias, combineWeight, combineBias);
        return this;
    }

    /**
     * One step; the spec's masks, backend and options apply to the attention.
     * Lq = 0 (or B = 0) is legal and gives an empty output. The spec must not
     * name a weights tensor: the weights come back in the {@link LayerOutput}.
     *
     * @param arena the arena to allocate in
     * @param q the queries
     * @param k the keys
     * @param v the values
     * @param spec the masks, causal rule, scale, positional terms and backend
     * @return the output and the attention weights (null when not asked for)
     */
    public LayerOutput forward(Arena arena, Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        if (arena == null || spec == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : "spec") + " must not be null");
        }
        if (spec.weights() != null) {
            throw new IllegalArgumentException("spec.weights: EncoderDecoderAttention allocates the weights and "
                    + "returns them in its LayerOutput");
        }
        Backend backend = spec.resolvedBackend();
        // q is copied below before the attention call checks it, so it is checked here.
        Checks.usable("q", q, backend);
        if (q.rank() != 3 || q.size(2) != querySize) {
            throw new IllegalArgumentException("q: expected shape (B, Lq, Dq) = (*, *, " + querySize + "), got "
                    + Checks.format(q.shape()));
        }
        long b = q.size(0), lq = q.size(1);
        if (k != null && (k.rank() != 3 || k.size(0) != b || k.size(1) != lq || k.size(2) != keySize)) {
            throw new IllegalArgumentException("k: expected shape (B, Lq, Dk) = (" + b + ", " + lq + ", " + keySize
                    + "), one key per query, got " + Checks.format(k.shape()));
        }
        if (v != null && (v.rank() != 3 || v.size(0) != b || v.size(1) != valuePositions || v.size(2) != valueSize)) {
            throw new IllegalArgumentException("v: expected shape (B, Lv, Dv) = (" + b + ", " + valuePositions + ", "
                    + valueSize + "), got " + Checks.format(v.shape()));
        }
        Checks.usable("the layer's weights", attnW, backend);
        // [q; applied] in one buffer: attention writes `applied` into its right-hand columns.
        Tensor cat = Tensor.allocate(arena, b, lq, querySize + valueSize);
        MemorySegment seg = cat.segment();
        long[] rowStrides = {lq * (querySize + valueSize), querySize + valueSize, 1};
        Tensor qPart = Tensor.wrap(seg, new long[] {b, lq, querySize}, rowStrides);
        // An empty buffer (B = 0 or Lq = 0) has no bytes to slice; its views reach none.
        Tensor applied = Tensor.wrap(cat.size() == 0 ? seg : seg.asSlice(querySize * Float.BYTES),
                new long[] {b, lq, valueSize}, rowStrides);
        qPart.copyFrom(q.toArray());
        Tensor weights = Tensor.allocate(arena, b, lq, valuePositions);
        Attention.concatLinear(q, k, v, attnW, attnB, applied, spec.toBuilder().weights(weights).backend(backend).build());
        Tensor out = Tensor.allocate(arena, b, lq, outputSize);
        Attention.linear(cat, combineW, combineB, out, backend);
        return new LayerOutput(out, weights);
    }
}
