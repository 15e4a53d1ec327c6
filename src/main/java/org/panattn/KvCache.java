package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Keys and values of the tokens decoded so far, for incremental decoding:
 * preallocated {@code (B, Hkv, maxLen, Dk)} and {@code (B, Hkv, maxLen, Dv)}
 * storage, filled by {@link #append} and read through {@link #keys()} and
 * {@link #values()} views of the filled part. Decoding token by token
 * through the cache equals causal attention over the whole sequence.
 *
 * <pre>{@code
 * KvCache cache = KvCache.allocate(arena, 1, 8, 2048, 64);
 * cache.append(kNew, vNew);                 // (B, Hkv, T, D), T new tokens
 * cache.attend(qNew, out, AttentionSpec.DEFAULT); // qNew (B, H, T, D)
 * }</pre>
 *
 * Not thread-safe: one decoding loop owns a cache.
 */
public final class KvCache {
    private final Tensor keys;
    private final Tensor values;
    private long length;

    private KvCache(Tensor keys, Tensor values) {
        this.keys = keys;
        this.values = values;
    }

    /**
     * A cache for {@code maxLen} tokens, with keys and values of width {@code headDim}.
     *
     * @param arena the arena to allocate in
     * @param batch the batch size
     * @param kvHeads the key/value heads
     * @param maxLen the tokens it can hold
     * @param headDim the width of keys and values
     * @return a new zero-filled tensor
     */
    public static KvCache allocate(Arena arena, long batch, long kvHeads, long maxLen, long headDim) {
        if (headDim < 0) {
            throw new IllegalArgumentException("headDim must be >= 0, got " + headDim);
        }
        return allocate(arena, batch, kvHeads, maxLen, headDim, headDim);
    }

    /**
     * A cache for {@code maxLen} tokens, with keys of width {@code keyDim} and values of width {@code valueDim}.
     *
     * @param arena the arena to allocate in
     * @param batch the batch size
     * @param kvHeads the key/value heads
     * @param maxLen the tokens it can hold
     * @param keyDim the width of the keys
     * @param valueDim the width of the values
     * @return a new zero-filled tensor
     */
    public static KvCache allocate(Arena arena, long batch, long kvHeads, long maxLen, long keyDim, long valueDim) {
        String[] names = {"batch", "kvHeads", "maxLen", "keyDim", "valueDim"};
        long[] sizes = {batch, kvHeads, maxLen, keyDim, valueDim};
        for (int i = 0; i < sizes.length; i++) {
            if (sizes[i] < 0) {
                throw new IllegalArgumentException(names[i] + " must be >= 0, got " + sizes[i]);
            }
        }
        return new KvCache(Tensor.allocate("cache keys (batch, kvHeads, maxLen, keyDim)", arena, batch, kvHeads,
                maxLen, keyDim), Tensor.allocate("cache values (batch, kvHeads, maxLen, valueDim)", arena, batch,
                kvHeads, maxLen, valueDim));
    }

    /**
     * Tokens held.
     *
     * @return the tokens held
     */
    public long length() {
        return length;
    }

    /**
     * Tokens it can hold.
     *
     * @return the tokens it can hold
     */
    public long capacity() {
        return keys.size(2);
    }

    /** Forgets every token (the storage is kept). */
    public void reset() {
        length = 0;
    }

    /**
     * The filled keys, {@code (B, Hkv, length, Dk)}: a view, valid until the next append or reset.
     *
     * @return the filled keys
     */
    public Tensor keys() {
        return filled(keys);
    }

    /**
     * The filled values, {@code (B, Hkv, length, Dv)}: a view, valid until the next append or reset.
     *
     * @return the filled values
     */
    public Tensor values() {
        return filled(values);
    }

    private Tensor filled(Tensor t) {
        checkStorage("cache");
        long[] shape = t.shape();
        shape[2] = length;
        return Tensor.wrap(t.segment(), shape, t.strides());
    }

    /**
     * Appends T new tokens: {@code k (B, Hkv, T, Dk)}, {@code v (B, Hkv, T, Dv)},
     * any strides; T = 0 is legal and appends nothing. Refused, with nothing
     * written, when they do not fit: an {@link IllegalStateException} for more
     * tokens than the capacity has left, for a closed arena or one confined to
     * another thread (the cache's or k's or v's), an
     * {@link IllegalArgumentException} for a wrong shape.
     *
     * @param k the keys
     * @param v the values
     */
    public void append(Tensor k, Tensor v) {
        if (k == null || v == null) {
            throw new IllegalArgumentException((k == null ? "k" : "v") + " must not be null");
        }
        checkStorage("cache");
        expectTokens("k", k, keys);
        expectTokens("v", v, values);
        long t = k.size(2);
        if (v.size(2) != t) {
            throw new IllegalArgumentException("v: has " + v.size(2) + " tokens, k has " + t);
        }
        if (t > capacity() - length) {
            throw new IllegalStateException("KV cache overflow: holds " + length + " of " + capacity()
                    + " tokens, cannot append " + t);
        }
        copyRows(k, keys, length);
        copyRows(v, values, length);
        length += t;
    }

    private static void expectTokens(String name, Tensor t, Tensor store) {
        long[] s = store.shape();
        if (t.rank() != 4 || t.size(0) != s[0] || t.size(1) != s[1] || t.size(3) != s[3]) {
            throw new IllegalArgumentException(name + ": expected shape (B, Hkv, T, D) = (" + s[0] + ", " + s[1]
                    + ", T, " + s[3] + "), got " + Shapes.format(t.shape()));
        }
        AttentionValidation.usable(name, t, null); // copied in Java: any arena this thread may use, heap too
    }

    /** The storage is alive and usable by this thread; failures name the cache as {@code name}. */
    private void checkStorage(String name) {
        AttentionValidation.usable(name, keys, null);
    }

    /** Copies src (B, Hkv, T, D) into dst at token offset {@code at}, row by row. */
    private static void copyRows(Tensor src, Tensor dst, long at) {
        long[] ss = src.strides();
        long[] ds = dst.strides();
        long d = src.size(3);
        MemorySegment from = src.segment();
        MemorySegment to = dst.segment();
        for (long b = 0; b < src.size(0); b++) {
            for (long h = 0; h < src.size(1); h++) {
                for (long t = 0; t < src.size(2); t++) {
                    long fromOff = b * ss[0] + h * ss[1] + t * ss[2];
                    long toOff = b * ds[0] + h * ds[1] + (at + t) * ds[2];
                    if (ss[3] == 1) {
                        MemorySegment.copy(from, fromOff * Float.BYTES, to, toOff * Float.BYTES, d * Float.BYTES);
                    } else {
                        for (long i = 0; i < d; i++) {
                            to.setAtIndex(Tensor.FLOAT, toOff + i, from.getAtIndex(Tensor.FLOAT, fromOff + i * ss[3]));
                        }
                    }
                }
            }
        }
    }

    /**
     * Attends queries {@code q (B, H, T, Dk)} (the last T positions of the
     * sequence, already appended) over every cached token, writing
     * {@code out (B, H, T, Dv)}. The causal rule is bottom-right aligned,
     * so query t sees the tokens up to its own position; the spec's mask,
     * window, scale and backend apply.
     *
     * @param q the queries
     * @param out where the output is written
     * @param spec the masks, causal rule, scale, positional terms and backend
     */
    public void attend(Tensor q, Tensor out, AttentionSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null (use AttentionSpec.DEFAULT)");
        }
        if (q == null) {
            throw new IllegalArgumentException("q must not be null");
        }
        checkStorage("cache");
        // q is checked against the cache here, so a mismatch names q rather than the cache's keys.
        long[] s = keys.shape();
        if (q.rank() != 4 || q.size(0) != s[0] || q.size(3) != s[3]) {
            throw new IllegalArgumentException("q: expected shape (B, H, T, Dk) = (" + s[0] + ", *, *, " + s[3]
                    + "), got " + Shapes.format(q.shape()));
        }
        if (s[1] == 0 ? q.size(1) != 0 : q.size(1) % s[1] != 0) {
            throw new IllegalArgumentException("q: its " + q.size(1) + " heads must be a multiple of the cache's "
                    + s[1] + " key/value heads");
        }
        if (q.size(2) > length) {
            throw new IllegalArgumentException("q: has " + q.size(2) + " queries but the cache holds only " + length
                    + " tokens; append their keys and values first");
        }
        Attention.scaledDotProduct(q, keys(), values(), out, spec.toBuilder().causal(Causal.BOTTOM_RIGHT).build());
    }
}
