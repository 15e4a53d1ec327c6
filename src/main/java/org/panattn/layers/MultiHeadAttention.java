package org.panattn.layers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
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
 * <li>Projections are one sgemm over all B·L tokens (one for q, k and v
 * together in self-attention); heads are split and merged by strides.</li>
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

    private final long embedDim, numHeads, numKvHeads, headDim, kdim, vdim;
    private final boolean batchFirst;
    /** Rotary embeddings of q and k after projection: base, or 0 for none. */
    private final float ropeBase;
    private final Rope.Layout ropeLayout;
    /** (E + 2·kvDim, E) when kdim == vdim == E, else null; qW, kW, vW are then its row views. */
    private final Tensor inProj;
    private final Tensor qW, kW, vW, outW;
    /** Null when the layer has no biases. */
    private final Tensor inBias, qB, kB, vB, outB;

    private MultiHeadAttention(Builder b, Arena arena) {
        embedDim = b.embedDim;
        numHeads = b.numHeads;
        numKvHeads = b.numKvHeads;
        headDim = embedDim / numHeads;
        kdim = b.kdim;
        vdim = b.vdim;
        batchFirst = b.batchFirst;
        ropeBase = b.ropeBase;
        ropeLayout = b.ropeLayout;
        long kvDim = kvDim();
        long inRows; // E + 2·kvDim, the rows of in_proj_weight
        try {
            inRows = Math.addExact(embedDim, Math.multiplyExact(2, kvDim));
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("embedDim: in_proj_weight's E + 2·kvDim rows overflow 64 bits (E = "
                    + embedDim + ", kvDim = " + kvDim + ")", e);
        }
        if (isPacked()) {
            inProj = Weights.allocate("in_proj_weight", arena, inRows, embedDim);
            qW = rows(inProj, 0, embedDim);
            kW = rows(inProj, embedDim, kvDim);
            vW = rows(inProj, embedDim + kvDim, kvDim);
        } else {
            inProj = null;
            qW = Weights.allocate("q_proj_weight", arena, embedDim, embedDim);
            kW = Weights.allocate("k_proj_weight", arena, kvDim, kdim);
            vW = Weights.allocate("v_proj_weight", arena, kvDim, vdim);
        }
        outW = Weights.allocate("out_proj.weight", arena, embedDim, embedDim);
        if (b.bias) {
            inBias = Weights.allocate("in_proj_bias", arena, inRows);
            qB = slice(inBias, 0, embedDim);
            kB = slice(inBias, embedDim, kvDim);
            vB = slice(inBias, embedDim + kvDim, kvDim);
            outB = Tensor.allocate(arena, embedDim);
        } else {
            inBias = qB = kB = vB = outB = null;
        }
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
            return new MultiHeadAttention(this, arena);
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
        return embedDim;
    }

    /** {@return the number of query heads} */
    public long numHeads() {
        return numHeads;
    }

    /** {@return the number of key/value heads} */
    public long numKvHeads() {
        return numKvHeads;
    }

    /** {@return the width of one head, E / numHeads} */
    public long headDim() {
        return headDim;
    }

    private long kvDim() {
        return numKvHeads * headDim;
    }

    /**
     * The query projection weight (E, E): a view of {@code in_proj_weight} when packed.
     *
     * @return the q proj weight
     */
    public Tensor qProjWeight() {
        return qW;
    }

    /**
     * The key projection weight (kvDim, kdim).
     *
     * @return the k proj weight
     */
    public Tensor kProjWeight() {
        return kW;
    }

    /**
     * The value projection weight (kvDim, vdim).
     *
     * @return the v proj weight
     */
    public Tensor vProjWeight() {
        return vW;
    }

    /**
     * {@code in_proj_bias} (E + 2·kvDim), or null without biases.
     *
     * @return the in proj bias
     */
    public Tensor inProjBias() {
        return inBias;
    }

    /**
     * {@code out_proj.weight} (E, E).
     *
     * @return the out proj weight
     */
    public Tensor outProjWeight() {
        return outW;
    }

    /**
     * {@code out_proj.bias} (E), or null without biases.
     *
     * @return the out proj bias
     */
    public Tensor outProjBias() {
        return outB;
    }

    /**
     * True when q, k and v projections share one {@code in_proj_weight} (kdim == vdim == embedDim).
     *
     * @return whether the projections are packed
     */
    public boolean isPacked() {
        return kdim == embedDim && vdim == embedDim;
    }

    private static Tensor rows(Tensor m, long first, long count) {
        return Tensor.wrap(m.segment().asSlice(first * m.size(1) * Float.BYTES, count * m.size(1) * Float.BYTES),
                count, m.size(1));
    }

    private static Tensor slice(Tensor v, long first, long count) {
        return Tensor.wrap(v.segment().asSlice(first * Float.BYTES, count * Float.BYTES), count);
    }

    // ---- weights ----------------------------------------------------------

    /**
     * Seeded random weights as PyTorch initialises them: Xavier-uniform
     * projections of q, k and v (jointly for a packed {@code in_proj_weight}),
     * zero biases, and {@code out_proj.weight} uniform in ±1/√E (the default
     * of {@code nn.Linear}).
     *
     * @param seed the seed of the random numbers
     * @return this layer
     */
    public MultiHeadAttention initRandom(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        if (isPacked()) {
            Weights.fillUniform(inProj, rnd, Math.sqrt(6.0 / (inProj.size(0) + inProj.size(1))));
        } else {
            for (Tensor w : new Tensor[] {qW, kW, vW}) {
                Weights.fillUniform(w, rnd, Math.sqrt(6.0 / (w.size(0) + w.size(1))));
            }
        }
        Weights.fillUniform(outW, rnd, 1.0 / Math.sqrt(embedDim));
        if (inBias != null) {
            inBias.copyFrom(new float[(int) inBias.size()]);
            outB.copyFrom(new float[(int) outB.size()]);
        }
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
        if (!isPacked()) {
            throw new IllegalStateException("kdim/vdim differ from embedDim: load q/k/v projections with loadQkv");
        }
        Weights.load(new String[] {"in_proj_weight", "in_proj_bias"}, new Tensor[] {inProj, inBias}, weight, bias);
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
        Weights.load(new String[] {"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias"},
                new Tensor[] {qW, kW, vW, inBias}, qWeight, kWeight, vWeight, inProjBias);
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
        Weights.load(new String[] {"out_proj.weight", "out_proj.bias"}, new Tensor[] {outW, outB}, weight, bias);
        return this;
    }

    // ---- forward ----------------------------------------------------------

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
     * allocated in {@code arena}.
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
        if (arena == null || spec == null || need == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : spec == null ? "spec" : "need")
                    + " must not be null");
        }
        if (spec.weights() != null) {
            throw new IllegalArgumentException("spec.weights: MultiHeadAttention allocates the weights; use need");
        }
        Backend backend = Checks.backend(spec);
        checkInput("query", query, embedDim, backend);
        checkInput("key", key, kdim, backend);
        checkInput("value", value, vdim, backend);
        checkLayer(backend);
        long batch = batchOf(query);
        if (batchOf(key) != batch || batchOf(value) != batch) {
            throw new IllegalArgumentException("key and value: batch must be " + batch + " like query, got "
                    + batchOf(key) + " and " + batchOf(value));
        }
        if (lengthOf(key) != lengthOf(value)) {
            throw new IllegalArgumentException("value: length must be " + lengthOf(key) + " like key, got "
                    + lengthOf(value));
        }
        Heads q, k, v;
        if (query == key && key == value && isPacked()) {
            Tensor qkv = project(arena, backend, query, inProj, inBias);
            q = new Heads(qkv, 0, numHeads);
            k = new Heads(qkv, embedDim, numKvHeads);
            v = new Heads(qkv, embedDim + kvDim(), numKvHeads);
        } else {
            q = new Heads(project(arena, backend, query, qW, qB), 0, numHeads);
            if (key == value && isPacked()) {
                Tensor kv = project(arena, backend, key, rows(inProj, embedDim, 2 * kvDim()),
                        inBias == null ? null : slice(inBias, embedDim, 2 * kvDim()));
                k = new Heads(kv, 0, numKvHeads);
                v = new Heads(kv, kvDim(), numKvHeads);
            } else {
                k = new Heads(project(arena, backend, key, kW, kB), 0, numKvHeads);
                v = new Heads(project(arena, backend, value, vW, vB), 0, numKvHeads);
            }
        }
        rotate(q, 0, backend);
        rotate(k, 0, backend);
        Tensor merged = Tensor.allocate(arena, query.shape());
        Tensor weights = need == NeedWeights.NONE ? null
                : Tensor.allocate(arena, batch, numHeads, lengthOf(query), lengthOf(key));
        AttentionSpec headSpec = spec.toBuilder().weights(weights).backend(backend).build();
        Attention.scaledDotProduct(q.view(), k.view(), v.view(), new Heads(merged, 0, numHeads).view(), headSpec);
        Tensor out = project(arena, backend, merged, outW, outB);
        return new LayerOutput(out, need == NeedWeights.AVERAGED ? averageOverHeads(arena, weights) : weights);
    }

    /**
     * One step of incremental self-attention decoding: projects the new
     * tokens {@code x} ({@code (B, T, E)}, or {@code (T, B, E)}), appends their
     * keys and values to {@code cache} ({@code (B, numKvHeads, maxLen, headDim)}),
     * attends over everything cached (bottom-right causal) and returns the
     * output for the new tokens. Needs packed projections.
     *
     * @param arena the arena to allocate in
     * @param x the input
     * @param cache the KV cache
     * @param spec the masks, causal rule, scale, positional terms and backend
     * @return the output for the new tokens
     */
    public Tensor forwardCached(Arena arena, Tensor x, KvCache cache, AttentionSpec spec) {
        if (arena == null || cache == null || spec == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : cache == null ? "cache" : "spec")
                    + " must not be null");
        }
        if (!isPacked()) {
            throw new IllegalStateException("forwardCached needs kdim == vdim == embedDim");
        }
        Backend backend = Checks.backend(spec);
        checkInput("x", x, embedDim, backend);
        checkLayer(backend);
        checkCache(cache, batchOf(x));
        Tensor qkv = project(arena, backend, x, inProj, inBias);
        rotate(new Heads(qkv, 0, numHeads), cache.length(), backend);
        rotate(new Heads(qkv, embedDim, numKvHeads), cache.length(), backend);
        cache.append(new Heads(qkv, embedDim, numKvHeads).view(), new Heads(qkv, embedDim + kvDim(), numKvHeads).view());
        Tensor merged = Tensor.allocate(arena, x.shape());
        cache.attend(new Heads(qkv, 0, numHeads).view(), new Heads(merged, 0, numHeads).view(),
                spec.toBuilder().backend(backend).build());
        return project(arena, backend, merged, outW, outB);
    }

    /** Applies the layer's rotary embedding, if any, to projected heads at {@code position}. */
    private void rotate(Heads heads, long position, Backend backend) {
        if (ropeBase > 0f) {
            Rope.apply(heads.view(), position, ropeBase, ropeLayout, backend);
        }
    }

    /**
     * A head-split view {@code (B, heads, L, headDim)} of a token-major
     * buffer {@code (d0, d1, width)}, starting at column {@code column}.
     */
    private final class Heads {
        private final Tensor buffer;
        private final long column, heads;

        Heads(Tensor buffer, long column, long heads) {
            this.buffer = buffer;
            this.column = column;
            this.heads = heads;
        }

        Tensor view() {
            long d0 = buffer.size(0), d1 = buffer.size(1), width = buffer.size(2);
            long b = batchFirst ? d0 : d1, l = batchFirst ? d1 : d0;
            long[] strides = batchFirst
                    ? new long[] {d1 * width, headDim, width, 1}
                    : new long[] {width, headDim, d1 * width, 1};
            long offset = column * Float.BYTES;
            // An empty buffer (B = 0 or L = 0) has no bytes to slice; its views reach none.
            MemorySegment seg = buffer.size() == 0 ? buffer.segment() : buffer.segment().asSlice(offset);
            return Tensor.wrap(seg, new long[] {b, heads, l, headDim}, strides);
        }
    }

    /** y = x·Wᵀ + b over the last dimension of a rank-3 input, into a new (d0, d1, N) tensor. */
    private static Tensor project(Arena arena, Backend backend, Tensor x, Tensor w, Tensor bias) {
        Tensor y = Tensor.allocate(arena, x.size(0), x.size(1), w.size(0));
        Attention.linear(x, w, bias, y, backend);
        return y;
    }

    private void checkInput(String name, Tensor t, long width, Backend backend) {
        if (t == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        Checks.usable(name, t, backend);
        if (t.rank() != 3 || t.size(2) != width) {
            throw new IllegalArgumentException(name + ": expected shape " + (batchFirst ? "(B, L, " : "(L, B, ")
                    + width + "), got " + Checks.format(t.shape()));
        }
        Checks.contiguousRows(name, t);
    }

    /**
     * The cache holds keys and values {@code (batch, numKvHeads, maxLen, headDim)} in storage this thread
     * may use; failures name it {@code cache}.
     */
    private void checkCache(KvCache cache, long batch) {
        long[] k = cache.keys().shape(), v = cache.values().shape(); // refused by the cache itself when unusable
        k[2] = v[2] = cache.capacity();
        if (k[0] != batch || k[1] != numKvHeads || k[3] != headDim || v[3] != headDim) {
            throw new IllegalArgumentException("cache: expected keys and values (B, Hkv, maxLen, D) = (" + batch
                    + ", " + numKvHeads + ", *, " + headDim + "), got " + Checks.format(k) + " and "
                    + Checks.format(v));
        }
    }

    /** The layer's weights live in the arena it was built in: alive, and usable by this thread. */
    private void checkLayer(Backend backend) {
        Checks.usable("the layer's weights", outW, backend);
    }

    private long batchOf(Tensor t) {
        return t.size(batchFirst ? 0 : 1);
    }

    private long lengthOf(Tensor t) {
        return t.size(batchFirst ? 1 : 0);
    }

    private static Tensor averageOverHeads(Arena arena, Tensor perHead) {
        long b = perHead.size(0), h = perHead.size(1), lq = perHead.size(2), lk = perHead.size(3);
        float[] w = perHead.toArray();
        float[] avg = new float[Math.toIntExact(b * lq * lk)];
        for (long bi = 0; bi < b; bi++) {
            for (long hi = 0; hi < h; hi++) {
                for (long i = 0; i < lq * lk; i++) {
                    avg[(int) (bi * lq * lk + i)] += w[(int) ((bi * h + hi) * lq * lk + i)] / h;
                }
            }
        }
        return Tensor.of(arena, avg, b, lq, lk);
    }
}
