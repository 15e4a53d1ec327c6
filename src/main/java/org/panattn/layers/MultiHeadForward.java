package org.panattn.layers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.KvCache;
import org.panattn.Rope;
import org.panattn.Tensor;

/**
 * A {@link MultiHeadAttention} layer's forward passes, on its weights:
 * the inputs checked by name, projected (one matrix product over all
 * tokens; one for q, k and v together in self-attention), split into
 * heads by strides, attended, merged by strides and projected out.
 */
final class MultiHeadForward {
    private final MultiHeadConfig config;
    private final MultiHeadWeights w;

    MultiHeadForward(MultiHeadConfig config, MultiHeadWeights weights) {
        this.config = config;
        this.w = weights;
    }

    /** Attention of query over key and value, as {@code MultiHeadAttention.forward}. */
    LayerOutput forward(Arena arena, Tensor query, Tensor key, Tensor value, AttentionSpec spec,
                        MultiHeadAttention.NeedWeights need) {
        if (arena == null || spec == null || need == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : spec == null ? "spec" : "need")
                    + " must not be null");
        }
        if (spec.weights() != null) {
            throw new IllegalArgumentException("spec.weights: MultiHeadAttention allocates the weights; use need");
        }
        Backend backend = spec.resolvedBackend();
        checkInput("query", query, config.embedDim(), backend);
        checkInput("key", key, config.kdim(), backend);
        checkInput("value", value, config.vdim(), backend);
        w.checkUsable(backend);
        long batch = config.batchOf(query);
        if (config.batchOf(key) != batch || config.batchOf(value) != batch) {
            throw new IllegalArgumentException("key and value: batch must be " + batch + " like query, got "
                    + config.batchOf(key) + " and " + config.batchOf(value));
        }
        if (config.lengthOf(key) != config.lengthOf(value)) {
            throw new IllegalArgumentException("value: length must be " + config.lengthOf(key) + " like key, got "
                    + config.lengthOf(value));
        }
        long embedDim = config.embedDim(), kvDim = config.kvDim();
        long numHeads = config.numHeads(), numKvHeads = config.numKvHeads();
        Heads q, k, v;
        if (query == key && key == value && config.isPacked()) {
            Tensor qkv = project(arena, backend, query, w.inProj, w.inBias);
            q = new Heads(qkv, 0, numHeads);
            k = new Heads(qkv, embedDim, numKvHeads);
            v = new Heads(qkv, embedDim + kvDim, numKvHeads);
        } else {
            q = new Heads(project(arena, backend, query, w.qW, w.qB), 0, numHeads);
            if (key == value && config.isPacked()) {
                Tensor kv = project(arena, backend, key, w.kvW, w.kvB);
                k = new Heads(kv, 0, numKvHeads);
                v = new Heads(kv, kvDim, numKvHeads);
            } else {
                k = new Heads(project(arena, backend, key, w.kW, w.kB), 0, numKvHeads);
                v = new Heads(project(arena, backend, value, w.vW, w.vB), 0, numKvHeads);
            }
        }
        rotate(q, 0, backend);
        rotate(k, 0, backend);
        Tensor merged = Tensor.allocate(arena, query.shape());
        Tensor weights = need == MultiHeadAttention.NeedWeights.NONE ? null
                : Tensor.allocate(arena, batch, numHeads, config.lengthOf(query), config.lengthOf(key));
        AttentionSpec headSpec = spec.toBuilder().weights(weights).backend(backend).build();
        Attention.scaledDotProduct(q.view(), k.view(), v.view(), new Heads(merged, 0, numHeads).view(), headSpec);
        Tensor out = project(arena, backend, merged, w.outW, w.outB);
        return new LayerOutput(out, need == MultiHeadAttention.NeedWeights.AVERAGED
                ? averageOverHeads(arena, weights) : weights);
    }

    /** One decoding step through the cache, as {@code MultiHeadAttention.forwardCached}. */
    Tensor forwardCached(Arena arena, Tensor x, KvCache cache, AttentionSpec spec) {
        if (arena == null || cache == null || spec == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : cache == null ? "cache" : "spec")
                    + " must not be null");
        }
        if (!config.isPacked()) {
            throw new IllegalStateException("forwardCached needs kdim == vdim == embedDim");
        }
        Backend backend = spec.resolvedBackend();
        checkInput("x", x, config.embedDim(), backend);
        w.checkUsable(backend);
        checkCache(cache, config.batchOf(x));
        long embedDim = config.embedDim(), kvDim = config.kvDim();
        long numHeads = config.numHeads(), numKvHeads = config.numKvHeads();
        Tensor qkv = project(arena, backend, x, w.inProj, w.inBias);
        Heads q = new Heads(qkv, 0, numHeads), k = new Heads(qkv, embedDim, numKvHeads);
        rotate(q, cache.length(), backend);
        rotate(k, cache.length(), backend);
        cache.append(k.view(), new Heads(qkv, embedDim + kvDim, numKvHeads).view());
        Tensor merged = Tensor.allocate(arena, x.shape());
        cache.attend(q.view(), new Heads(merged, 0, numHeads).view(), spec.toBuilder().backend(backend).build());
        return project(arena, backend, merged, w.outW, w.outB);
    }

    /** Applies the layer's rotary embedding, if any, to projected heads at {@code position}. */
    private void rotate(Heads heads, long position, Backend backend) {
        if (config.ropeBase() > 0f) {
            Rope.apply(heads.view(), position, config.ropeBase(), config.ropeLayout(), backend);
        }
    }

    /**
     * A head-split view {@code (B, heads, L, headDim)} of a token-major
     * buffer {@code (d0, d1, width)} in the layer's layout, starting at
     * column {@code column}.
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
            long d0 = buffer.size(0), d1 = buffer.size(1), width = buffer.size(2), headDim = config.headDim();
            boolean batchFirst = config.batchFirst();
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
            throw new IllegalArgumentException(name + ": expected shape "
                    + (config.batchFirst() ? "(B, L, " : "(L, B, ") + width + "), got " + Checks.format(t.shape()));
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
        long kvHeads = config.numKvHeads(), headDim = config.headDim();
        if (k[0] != batch || k[1] != kvHeads || k[3] != headDim || v[3] != headDim) {
            throw new IllegalArgumentException("cache: expected keys and values (B, Hkv, maxLen, D) = (" + batch
                    + ", " + kvHeads + ", *, " + headDim + "), got " + Checks.format(k) + " and " + Checks.format(v));
        }
    }

    /** PyTorch's averaged weights {@code (B, Lq, Lk)}: the mean over heads of {@code perHead (B, H, Lq, Lk)}. */
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
