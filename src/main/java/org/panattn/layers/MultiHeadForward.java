package org.panattn.layers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

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
 * heads by strides, extended by the keys the layer appends, attended,
 * merged by strides and projected out.
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
        Backend backend = checkCall(arena, spec, need);
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
        long lq = config.lengthOf(query), lk = config.lengthOf(key), keys = lk + config.appendedKeys();
        // Keys and values are projected into buffers with rows to spare for the keys the layer appends.
        Heads q, k, v;
        if (query == key && key == value && config.isPacked()) {
            Tensor qkv = project(arena, backend, query, w.inProj, w.inBias, keys);
            q = new Heads(qkv, 0, numHeads);
            k = new Heads(qkv, embedDim, numKvHeads);
            v = new Heads(qkv, embedDim + kvDim, numKvHeads);
        } else {
            q = new Heads(project(arena, backend, query, w.qW, w.qB, lq), 0, numHeads);
            if (key == value && config.isPacked()) {
                Tensor kv = project(arena, backend, key, w.kvW, w.kvB, keys);
                k = new Heads(kv, 0, numKvHeads);
                v = new Heads(kv, kvDim, numKvHeads);
            } else {
                k = new Heads(project(arena, backend, key, w.kW, w.kB, keys), 0, numKvHeads);
                v = new Heads(project(arena, backend, value, w.vW, w.vB, keys), 0, numKvHeads);
            }
        }
        return attend(arena, backend, q, k, v, lq, lk, spec, need);
    }

    /** Self-attention from a ready projection, as {@code MultiHeadAttention.forwardPacked}. */
    LayerOutput forwardPacked(Arena arena, Tensor qkv, AttentionSpec spec, MultiHeadAttention.NeedWeights need) {
        Backend backend = checkCall(arena, spec, need);
        long embedDim = config.embedDim(), kvDim = config.kvDim();
        checkInput("qkv", qkv, embedDim + 2 * kvDim, backend);
        w.checkUsable(backend);
        long length = config.lengthOf(qkv);
        // Read in place, unless keys are appended (the caller's tensor has no rows to spare) or rotated
        // (which must not change the caller's tensor): then a copy.
        Tensor packed = config.appendedKeys() == 0 && config.ropeBase() == 0f ? qkv
                : copyTokens(arena, qkv, length + config.appendedKeys());
        long numKvHeads = config.numKvHeads();
        return attend(arena, backend, new Heads(packed, 0, config.numHeads()), new Heads(packed, embedDim, numKvHeads),
                new Heads(packed, embedDim + kvDim, numKvHeads), length, length, spec, need);
    }

    /**
     * The rest of a forward pass from projected heads: the appended keys, the
     * rotary embeddings, attention of {@code lq} queries over {@code lk} keys
     * and those appended, and the output projection.
     */
    private LayerOutput attend(Arena arena, Backend backend, Heads q, Heads k, Heads v, long lq, long lk,
                               AttentionSpec spec, MultiHeadAttention.NeedWeights need) {
        int appended = config.appendedKeys();
        long keys = lk + appended, batch = q.batch(), numHeads = config.numHeads();
        AttentionSpec attention = appended == 0 ? spec : AppendedKeys.spec(arena, spec, batch, numHeads, lq, lk, appended);
        if (config.addBiasKv()) { // token lk; the zero key and value after it are zeros from the allocation
            k.fillRow(lk, w.biasK);
            v.fillRow(lk, w.biasV);
        }
        rotate(q.view(lq), 0, backend);
        rotate(k.view(lk), 0, backend); // the appended keys have no position
        Tensor merged = tokens(arena, batch, lq, config.embedDim());
        Tensor weights = need == MultiHeadAttention.NeedWeights.NONE ? null
                : Tensor.allocate(arena, batch, numHeads, lq, keys);
        AttentionSpec headSpec = attention.toBuilder().weights(weights).backend(backend).build();
        Attention.scaledDotProduct(q.view(lq), k.view(keys), v.view(keys), new Heads(merged, 0, numHeads).view(lq),
                headSpec);
        Tensor out = project(arena, backend, merged, w.outW, w.outB, lq);
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
        if (config.appendedKeys() > 0) {
            throw new IllegalStateException("forwardCached: a layer with addBiasKv or addZeroAttn appends keys after "
                    + "every sequence, and a KV cache has no place for them; use forward");
        }
        Backend backend = spec.resolvedBackend();
        checkInput("x", x, config.embedDim(), backend);
        w.checkUsable(backend);
        checkCache(cache, config.batchOf(x));
        long embedDim = config.embedDim(), kvDim = config.kvDim(), length = config.lengthOf(x);
        long numHeads = config.numHeads(), numKvHeads = config.numKvHeads();
        Tensor qkv = project(arena, backend, x, w.inProj, w.inBias, length);
        Tensor q = new Heads(qkv, 0, numHeads).view(length), k = new Heads(qkv, embedDim, numKvHeads).view(length);
        if (config.ropeBase() > 0f) {
            long position = ropePosition(cache);
            rotate(q, position, backend);
            rotate(k, position, backend);
        }
        cache.append(k, new Heads(qkv, embedDim + kvDim, numKvHeads).view(length));
        Tensor merged = tokens(arena, config.batchOf(x), length, embedDim);
        cache.attend(q, new Heads(merged, 0, numHeads).view(length), spec.toBuilder().backend(backend).build());
        return project(arena, backend, merged, w.outW, w.outB, length);
    }

    /** The arguments every forward pass takes are there, and the spec leaves the weights to the layer. */
    private static Backend checkCall(Arena arena, AttentionSpec spec, MultiHeadAttention.NeedWeights need) {
        if (arena == null || spec == null || need == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : spec == null ? "spec" : "need")
                    + " must not be null");
        }
        if (spec.weights() != null) {
            throw new IllegalArgumentException("spec.weights: MultiHeadAttention allocates the weights; use need");
        }
        return spec.resolvedBackend();
    }

    /** The position of the new tokens: the cache's length, one for every batch row. */
    private static long ropePosition(KvCache cache) {
        long[] lengths = cache.lengths();
        for (long n : lengths) {
            if (n != lengths[0]) {
                throw new IllegalArgumentException("cache: its batch rows hold different numbers of tokens, "
                        + Arrays.toString(lengths) + "; a layer with RoPE needs one position for them all");
            }
        }
        return lengths.length == 0 ? 0 : lengths[0];
    }

    /** Applies the layer's rotary embedding, if any, to projected heads at {@code position}. */
    private void rotate(Tensor heads, long position, Backend backend) {
        if (config.ropeBase() > 0f) {
            Rope.apply(heads, position, config.ropeBase(), config.ropeLayout(), backend);
        }
    }

    /**
     * Head-split views {@code (B, heads, rows, headDim)} of a token-major
     * buffer {@code (d0, d1, width)} in the layer's layout (rows of contiguous
     * features, any strides between them), starting at column {@code column}.
     */
    private final class Heads {
        private final Tensor buffer;
        private final long column, heads;

        Heads(Tensor buffer, long column, long heads) {
            this.buffer = buffer;
            this.column = column;
            this.heads = heads;
        }

        long batch() {
            return config.batchOf(buffer);
        }

        /** The heads of the first {@code rows} tokens of every sequence. */
        Tensor view(long rows) {
            long[] st = buffer.strides();
            long headDim = config.headDim();
            long[] strides = config.batchFirst()
                    ? new long[] {st[0], headDim, st[1], 1}
                    : new long[] {st[1], headDim, st[0], 1};
            // An empty buffer (B = 0 or L = 0) has no bytes to slice; its views reach none.
            MemorySegment seg = buffer.size() == 0 ? buffer.segment() : buffer.segment().asSlice(column * Float.BYTES);
            return Tensor.wrap(seg, new long[] {batch(), heads, rows, headDim}, strides);
        }

        /** Writes {@code vector} (heads·headDim) as token {@code row} of every sequence. */
        void fillRow(long row, Tensor vector) {
            long[] st = buffer.strides();
            long batchStride = config.batchFirst() ? st[0] : st[1], rowStride = config.batchFirst() ? st[1] : st[0];
            for (long b = 0; b < batch(); b++) {
                MemorySegment.copy(vector.segment(), 0, buffer.segment(),
                        (b * batchStride + row * rowStride + column) * Float.BYTES, vector.size() * Float.BYTES);
            }
        }
    }

    /** A new zero-filled {@code (batch, length, width)} tensor, or {@code (length, batch, width)} when not batch-first. */
    private Tensor tokens(Arena arena, long batch, long length, long width) {
        return config.batchFirst() ? Tensor.allocate(arena, batch, length, width)
                : Tensor.allocate(arena, length, batch, width);
    }

    /** The first {@code length} tokens of every sequence of a {@link #tokens} buffer. */
    private Tensor firstTokens(Tensor buffer, long length) {
        if (config.lengthOf(buffer) == length) {
            return buffer;
        }
        long[] shape = buffer.shape();
        shape[config.batchFirst() ? 1 : 0] = length;
        return Tensor.wrap(buffer.segment(), shape, buffer.strides());
    }

    /**
     * y = x·Wᵀ + b over the last dimension of a rank-3 input, into the first
     * tokens of a new {@link #tokens} buffer of {@code length} tokens a sequence.
     */
    private Tensor project(Arena arena, Backend backend, Tensor x, Tensor w, Tensor bias, long length) {
        Tensor y = tokens(arena, config.batchOf(x), length, w.size(0));
        Attention.linear(x, w, bias, firstTokens(y, config.lengthOf(x)), backend);
        return y;
    }

    /** {@code x}'s tokens, copied into the first tokens of a new {@link #tokens} buffer of {@code length} a sequence. */
    private Tensor copyTokens(Arena arena, Tensor x, long length) {
        long width = x.size(2);
        Tensor y = tokens(arena, config.batchOf(x), length, width);
        long[] xs = x.strides(), ys = y.strides();
        for (long d0 = 0; d0 < x.size(0); d0++) {
            for (long d1 = 0; d1 < x.size(1); d1++) {
                MemorySegment.copy(x.segment(), (d0 * xs[0] + d1 * xs[1]) * Float.BYTES, y.segment(),
                        (d0 * ys[0] + d1 * ys[1]) * Float.BYTES, width * Float.BYTES);
            }
        }
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
