package org.panattn.layers;

import java.lang.foreign.Arena;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.KvCache;
import org.panattn.Rope;
import org.panattn.Tensor;

/**
 * The Transformer's multi-head attention layer, as PyTorch's
 * {@code nn.MultiheadAttention}:
 * <pre>
 * MultiHead(Q, K, V) = Concat(head_1 .. head_H)·W_Oᵀ + b_O
 * head_i = Attention(Q·W_Q,iᵀ + b_Q,i,  K·W_K,iᵀ + b_K,i,  V·W_V,iᵀ + b_V,i)
 * </pre>
 * with {@code Attention} the scaled dot-product attention of
 * {@link Attention#scaledDotProduct} (scale 1/√headDim).
 *
 * <ul>
 * <li>Inputs are {@code (B, L, E)} when {@code batchFirst} (the default), else
 * {@code (L, B, E)}; query width {@code embedDim}, key width {@code kdim},
 * value width {@code vdim}.</li>
 * <li>Self-attention: {@code forward(arena, x, spec, need)}; cross-attention
 * (queries from a decoder, keys and values from an encoder, Lq ≠ Lk): the
 * same {@code forward} with distinct key and value tensors.</li>
 * <li>{@code numKvHeads} keys/values heads serve {@code numHeads} query heads
 * (grouped-query attention; 1 is multi-query attention).</li>
 * <li>Projections are {@link Attention#linear}: one sgemm over all B·L
 * tokens of an input whose rows are evenly strided (one for q, k and v
 * together in self-attention, through the fused {@code in_proj_weight});
 * heads are split and merged by strides. {@link #forwardPacked} takes that
 * projection ready-made: one {@code (B, L, E + 2·kvDim)} tensor.</li>
 * <li>{@code addBiasKv} and {@code addZeroAttn} append keys as PyTorch does:
 * after the projection, {@code bias_k}/{@code bias_v}, then a zero key and
 * value, to every sequence (Lk + 1 or Lk + 2 keys, and as many columns of
 * weights); masks and key padding are extended with columns that attend,
 * and the causal rule, the window and the key lengths apply to the input's
 * keys only (as PyTorch's causal {@code attn_mask}, padded, does), so the
 * appended keys are seen by every query. They are not rotated by RoPE;
 * ALiBi and T5 bias, which need a key's position, are refused with them.</li>
 * </ul>
 *
 * <p>Weights use PyTorch's layout: {@code in_proj_weight}
 * {@code (E + 2·kvDim, E)} rows q, k, v (kvDim = numKvHeads·headDim; with
 * numKvHeads = numHeads that is {@code (3E, E)}), {@code in_proj_bias},
 * {@code out_proj.weight (E, E)}, {@code out_proj.bias}; or separate
 * {@code q_proj_weight (E, E)}, {@code k_proj_weight (kvDim, kdim)},
 * {@code v_proj_weight (kvDim, vdim)} when kdim or vdim differ from E. A
 * load with a wrong count for any of its arrays is refused, naming it, and
 * changes none of the weights.
 *
 * <p>A layer is immutable once its weights are loaded, and may be shared by
 * threads when built in a shared arena (a call on a thread its arena does
 * not allow is refused, naming the layer's weights); each call allocates
 * its intermediates in the caller's arena.
 */
public final class MultiHeadAttention {
    /** Which attention weights {@link #forward} returns. */
    public enum NeedWeights {
        /** None. */
        NONE,
        /** Per head, {@code (B, H, Lq, Lk)}. */
        PER_HEAD,
        /** Averaged over heads, {@code (B, Lq, Lk)} (PyTorch's default). */
        AVERAGED
    }

    private final MultiHeadConfig config;
    private final MultiHeadWeights weights;
    private final MultiHeadForward forward;

    private MultiHeadAttention(MultiHeadConfig config, Arena arena) {
        this.config = config;
        this.weights = new MultiHeadWeights(config, arena);
        this.forward = new MultiHeadForward(config, weights);
    }

    /**
     * A builder for a layer of width {@code embedDim} with {@code numHeads} heads.
     *
     * @param embedDim the width E of the layer
     * @param numHeads the number of heads
     * @return this builder
     */
    public static Builder builder(long embedDim, long numHeads) {
        return new Builder(embedDim, numHeads);
    }

    /** Builds a {@link MultiHeadAttention}. */
    public static final class Builder {
        private final long embedDim, numHeads;
        private long numKvHeads, kdim, vdim;
        private boolean bias = true;
        private boolean batchFirst = true;
        private boolean addBiasKv, addZeroAttn;
        private float ropeBase;
        private Rope.Layout ropeLayout = Rope.Layout.HALF;

        private Builder(long embedDim, long numHeads) {
            if (embedDim <= 0 || numHeads <= 0 || embedDim % numHeads != 0) {
                throw new IllegalArgumentException("embedDim (" + embedDim + ") must be a positive multiple of numHeads ("
                        + numHeads + ")");
            }
            this.embedDim = embedDim;
            this.numHeads = numHeads;
            this.numKvHeads = numHeads;
            this.kdim = embedDim;
            this.vdim = embedDim;
        }

        /**
         * Key/value heads (default numHeads); numHeads must be a multiple of it.
         *
         * @param numKvHeads the number of key/value heads
         * @return this builder
         */
        public Builder kvHeads(long numKvHeads) {
            if (numKvHeads <= 0 || numHeads % numKvHeads != 0) {
                throw new IllegalArgumentException("numKvHeads (" + numKvHeads + ") must divide numHeads (" + numHeads + ")");
            }
            this.numKvHeads = numKvHeads;
            return this;
        }

        /**
         * Width of the key input (default embedDim).
         *
         * @param kdim the width of the key input
         * @return this builder
         */
        public Builder kdim(long kdim) {
            this.kdim = positive("kdim", kdim);
            return this;
        }

        /**
         * Width of the value input (default embedDim).
         *
         * @param vdim the width of the value input
         * @return this builder
         */
        public Builder vdim(long vdim) {
            this.vdim = positive("vdim", vdim);
            return this;
        }

        /**
         * Whether the projections have biases (default true).
         *
         * @param bias the bias, or null
         * @return this builder
         */
        public Builder bias(boolean bias) {
            this.bias = bias;
            return this;
        }

        /**
         * Inputs {@code (B, L, E)} when true (default), {@code (L, B, E)} when false.
         *
         * @param batchFirst true for (B, L, E) inputs
         * @return this builder
         */
        public Builder batchFirst(boolean batchFirst) {
            this.batchFirst = batchFirst;
            return this;
        }

        /**
         * PyTorch's {@code add_bias_kv} (default false): learned vectors
         * {@code bias_k} and {@code bias_v} (kvDim each; PyTorch's
         * {@code (1, 1, E)}) are appended to every sequence's projected keys
         * and values, so there are Lk + 1 keys, and the masks gain a column
         * that attends. Load them with {@link #loadBiasKv}.
         *
         * @param addBiasKv true to append bias_k and bias_v
         * @return this builder
         */
        public Builder addBiasKv(boolean addBiasKv) {
            this.addBiasKv = addBiasKv;
            return this;
        }

        /**
         * PyTorch's {@code add_zero_attn} (default false): a key and a value
         * of zeros are appended to every sequence after the projection (after
         * {@code bias_k}, {@code bias_v}), and the masks gain a column that attends.
         *
         * @param addZeroAttn true to append a zero key and value
         * @return this builder
         */
        public Builder addZeroAttn(boolean addZeroAttn) {
            this.addZeroAttn = addZeroAttn;
            return this;
        }

        /**
         * Rotary position embeddings of the projected queries and keys
         * (positions from 0; with {@link #forwardCached}, from the cache's
         * length). Typical base: 10000.
         *
         * @param base the rotation base (10000 in most models)
         * @param layout which features form a pair
         * @return this builder
         */
        public Builder rope(float base, Rope.Layout layout) {
            if (!(base > 1f) || !Float.isFinite(base) || layout == null) {
                throw new IllegalArgumentException("rope needs a finite base > 1 and a layout, got " + base + ", " + layout);
            }
            this.ropeBase = base;
            this.ropeLayout = layout;
            return this;
        }

        /**
         * A layer with zero weights in {@code arena}; load or initialise them next.
         *
         * @param arena the arena to allocate in
         * @return the built object
         */
        public MultiHeadAttention build(Arena arena) {
            if (arena == null) {
                throw new IllegalArgumentException("arena must not be null");
            }
            return new MultiHeadAttention(new MultiHeadConfig(embedDim, numHeads, numKvHeads, kdim, vdim, bias,
                    batchFirst, ropeBase, ropeLayout, addBiasKv, addZeroAttn), arena);
        }

        private static long positive(String name, long value) {
            if (value <= 0) {
                throw new IllegalArgumentException(name + " must be > 0, got " + value);
            }
            return value;
        }
    }

    /** {@return the width E} */
    public long embedDim() {
        return config.embedDim();
    }

    /** {@return the number of query heads} */
    public long numHeads() {
        return config.numHeads();
    }

    /** {@return the number of key/value heads} */
    public long numKvHeads() {
        return config.numKvHeads();
    }

    /** {@return the width of one head, E / numHeads} */
    public long headDim() {
        return config.headDim();
    }

    /**
     * The query projection weight (E, E): a view of {@code in_proj_weight} when packed.
     *
     * @return the q proj weight
     */
    public Tensor qProjWeight() {
        return weights.qW;
    }

    /**
     * The key projection weight (kvDim, kdim).
     *
     * @return the k proj weight
     */
    public Tensor kProjWeight() {
        return weights.kW;
    }

    /**
     * The value projection weight (kvDim, vdim).
     *
     * @return the v proj weight
     */
    public Tensor vProjWeight() {
        return weights.vW;
    }

    /**
     * {@code in_proj_bias} (E + 2·kvDim), or null without biases.
     *
     * @return the in proj bias
     */
    public Tensor inProjBias() {
        return weights.inBias;
    }

    /**
     * {@code out_proj.weight} (E, E).
     *
     * @return the out proj weight
     */
    public Tensor outProjWeight() {
        return weights.outW;
    }

    /**
     * {@code out_proj.bias} (E), or null without biases.
     *
     * @return the out proj bias
     */
    public Tensor outProjBias() {
        return weights.outB;
    }

    /**
     * {@code bias_k} (kvDim), appended to the projected keys, or null without {@code addBiasKv}.
     *
     * @return the bias k
     */
    public Tensor biasK() {
        return weights.biasK;
    }

    /**
     * {@code bias_v} (kvDim), appended to the projected values, or null without {@code addBiasKv}.
     *
     * @return the bias v
     */
    public Tensor biasV() {
        return weights.biasV;
    }

    /**
     * Whether a zero key and value are appended to every sequence ({@code add_zero_attn}).
     *
     * @return the add zero attn
     */
    public boolean addZeroAttn() {
        return config.addZeroAttn();
    }

    /**
     * True when q, k and v projections share one {@code in_proj_weight} (kdim == vdim == embedDim).
     *
     * @return whether the projections are packed
     */
    public boolean isPacked() {
        return config.isPacked();
    }

    // ---- weights, kept, loaded and initialised by MultiHeadWeights ----------

    /**
     * Seeded random weights as PyTorch initialises them: Xavier-uniform
     * projections of q, k and v (jointly for a packed {@code in_proj_weight}),
     * zero biases, {@code out_proj.weight} uniform in ±1/√E (the default
     * of {@code nn.Linear}), and Xavier-normal {@code bias_k}, {@code bias_v}.
     *
     * @param seed the seed of the random numbers
     * @return this layer
     */
    public MultiHeadAttention initRandom(long seed) {
        weights.initRandom(seed);
        return this;
    }

    /**
     * Loads PyTorch's packed {@code in_proj_weight (E + 2·kvDim, E)} and {@code in_proj_bias} (null when bias-free).
     *
     * @param weight the weight, PyTorch layout
     * @param bias the bias, or null
     * @return this layer
     */
    public MultiHeadAttention loadInProj(float[] weight, float[] bias) {
        weights.loadInProj(weight, bias);
        return this;
    }

    /**
     * Loads separate {@code q_proj_weight (E, E)}, {@code k_proj_weight (kvDim, kdim)}, {@code v_proj_weight (kvDim, vdim)}.
     *
     * @param qWeight q_proj_weight (E, E)
     * @param kWeight k_proj_weight (kvDim, kdim)
     * @param vWeight v_proj_weight (kvDim, vdim)
     * @param inProjBias in_proj_bias (E + 2·kvDim), or null
     * @return this layer
     */
    public MultiHeadAttention loadQkv(float[] qWeight, float[] kWeight, float[] vWeight, float[] inProjBias) {
        weights.loadQkv(qWeight, kWeight, vWeight, inProjBias);
        return this;
    }

    /**
     * Loads {@code out_proj.weight (E, E)} and {@code out_proj.bias} (null when bias-free).
     *
     * @param weight the weight, PyTorch layout
     * @param bias the bias, or null
     * @return this layer
     */
    public MultiHeadAttention loadOutProj(float[] weight, float[] bias) {
        weights.loadOutProj(weight, bias);
        return this;
    }

    /**
     * Loads PyTorch's {@code bias_k} and {@code bias_v} ({@code (1, 1, E)},
     * kvDim values each), for a layer built with {@code addBiasKv(true)}.
     *
     * @param biasK bias_k, kvDim values
     * @param biasV bias_v, kvDim values
     * @return this layer
     */
    public MultiHeadAttention loadBiasKv(float[] biasK, float[] biasV) {
        weights.loadBiasKv(biasK, biasV);
        return this;
    }

    // ---- forward passes, run by MultiHeadForward ---------------------------

    /**
     * Self-attention: {@code forward(arena, x, x, x, spec, need)}.
     *
     * @param arena the arena to allocate in
     * @param x the input
     * @param spec the masks, causal rule, scale, positional terms and backend
     * @param need which attention weights to return
     * @return the output and the attention weights (null when not asked for)
     */
    public LayerOutput forward(Arena arena, Tensor x, AttentionSpec spec, NeedWeights need) {
        return forward(arena, x, x, x, spec, need);
    }

    /**
     * Multi-head attention of {@code query} over {@code key} and {@code value},
     * with the spec's causal rule, masks ({@code mask}: {@code (Lq, Lk)},
     * {@code (B, Lq, Lk)} or {@code (B, H, Lq, Lk)}; {@code keyPadding}:
     * {@code (B, 1, 1, Lk)}), window and backend. The spec must not name a
     * weights tensor: ask with {@code need}. Output and weights are
     * allocated in {@code arena}; with {@code addBiasKv} or
     * {@code addZeroAttn} the weights have a column more for each appended
     * key, after the input's Lk (masks stay over the input's Lk keys).
     *
     * @param arena the arena to allocate in
     * @param query the queries
     * @param key the keys
     * @param value the values
     * @param spec the masks, causal rule, scale, positional terms and backend
     * @param need which attention weights to return
     * @return the output and the attention weights (null when not asked for)
     */
    public LayerOutput forward(Arena arena, Tensor query, Tensor key, Tensor value, AttentionSpec spec, NeedWeights need) {
        return forward.forward(arena, query, key, value, spec, need);
    }

    /**
     * Self-attention from an already packed projection: {@code qkv} is
     * {@code (B, L, E + 2·kvDim)} (or {@code (L, B, E + 2·kvDim)}) holding
     * each token's projected query, key and value side by side, in the order
     * of {@code in_proj_weight}'s rows ({@code x·in_proj_weightᵀ + in_proj_bias},
     * or three projections concatenated; FlashAttention's {@code qkvpacked}
     * layout {@code (B, L, 3, H, D)} is the same memory). The in-projection is
     * skipped; the rest is {@link #forward(Arena, Tensor, AttentionSpec, NeedWeights)}:
     * appended keys, rotary embeddings, attention and {@code out_proj}. The
     * thirds are read in place, without a copy (unless keys are appended,
     * which copies the keys and values).
     *
     * @param arena the arena to allocate in
     * @param qkv the projected queries, keys and values
     * @param spec the masks, causal rule, scale, positional terms and backend
     * @param need which attention weights to return
     * @return the output {@code (B, L, E)} and the attention weights (null when not asked for)
     */
    public LayerOutput forwardPacked(Arena arena, Tensor qkv, AttentionSpec spec, NeedWeights need) {
        return forward.forwardPacked(arena, qkv, spec, need);
    }

    /**
     * One step of incremental self-attention decoding: projects the new
     * tokens {@code x} ({@code (B, T, E)}, or {@code (T, B, E)}), appends their
     * keys and values to {@code cache} ({@code (B, numKvHeads, maxLen, headDim)}),
     * attends over everything cached (bottom-right causal) and returns the
     * output for the new tokens. Needs packed projections, and a layer that
     * appends no keys ({@code addBiasKv}, {@code addZeroAttn}): the cache
     * has no place for them. Each batch row attends over its own cached
     * tokens, so rows may hold different numbers of them
     * ({@link KvCache#lengths()}), except with RoPE, whose position is one
     * for the whole batch.
     *
     * @param arena the arena to allocate in
     * @param x the input
     * @param cache the KV cache
     * @param spec the masks, causal rule, scale, positional terms and backend
     * @return the output for the new tokens
     */
    public Tensor forwardCached(Arena arena, Tensor x, KvCache cache, AttentionSpec spec) {
        return forward.forwardCached(arena, x, cache, spec);
    }
}
