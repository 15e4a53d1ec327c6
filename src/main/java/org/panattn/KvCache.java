package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import org.panattn.internal.ElementType;

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
 * Each batch row has a length of its own: {@link #append(Tensor, Tensor, long[])}
 * appends a different number of tokens to each row, and {@link #attend}
 * attends each row over its own tokens, so sequences at different
 * positions decode in one batch (ONNX Runtime's {@code seqlens_k}).
 *
 * <p>The cache may hold its keys and values in half precision
 * ({@code KvCache.allocate(arena, Dtype.BF16, ...)}): half the memory, and
 * half the bytes each decoding step reads. {@link #append} then rounds
 * float32 tokens to it (nearest, ties to even) and copies tokens of its own
 * dtype as they are; {@link #attend} computes in float32 as ever, and its
 * output stays float32.
 *
 * Not thread-safe: one decoding loop owns a cache.
 */
public final class KvCache {
    private final Tensor keys;
    private final Tensor values;
    /** Tokens each batch row holds. */
    private final long[] lengths;

    private KvCache(Tensor keys, Tensor values) {
        this.keys = keys;
        this.values = values;
        this.lengths = new long[Math.toIntExact(keys.size(0))];
    }

    /**
     * A float32 cache for {@code maxLen} tokens, with keys and values of width {@code headDim}.
     *
     * @param arena the arena to allocate in
     * @param batch the batch size
     * @param kvHeads the key/value heads
     * @param maxLen the tokens it can hold
     * @param headDim the width of keys and values
     * @return a new zero-filled tensor
     */
    public static KvCache allocate(Arena arena, long batch, long kvHeads, long maxLen, long headDim) {
        return allocate(arena, Dtype.F32, batch, kvHeads, maxLen, headDim);
    }

    /**
     * A cache for {@code maxLen} tokens, with keys and values of width
     * {@code headDim} stored as {@code dtype}.
     *
     * @param arena the arena to allocate in
     * @param dtype how keys and values are stored: F32, or F16 or BF16 for half the memory
     * @param batch the batch size
     * @param kvHeads the key/value heads
     * @param maxLen the tokens it can hold
     * @param headDim the width of keys and values
     * @return a new zero-filled tensor
     */
    public static KvCache allocate(Arena arena, Dtype dtype, long batch, long kvHeads, long maxLen, long headDim) {
        if (headDim < 0) {
            throw new IllegalArgumentException("headDim must be >= 0, got " + headDim);
        }
        return allocate(arena, dtype, batch, kvHeads, maxLen, headDim, headDim);
    }

    /**
     * A float32 cache for {@code maxLen} tokens, with keys of width {@code keyDim} and values of width
     * {@code valueDim}.
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
        return allocate(arena, Dtype.F32, batch, kvHeads, maxLen, keyDim, valueDim);
    }

    /**
     * A cache for {@code maxLen} tokens, with keys of width {@code keyDim} and values of width
     * {@code valueDim} stored as {@code dtype}.
     *
     * @param arena the arena to allocate in
     * @param dtype how keys and values are stored: F32, or F16 or BF16 for half the memory
     * @param batch the batch size
     * @param kvHeads the key/value heads
     * @param maxLen the tokens it can hold
     * @param keyDim the width of the keys
     * @param valueDim the width of the values
     * @return a new zero-filled tensor
     */
    public static KvCache allocate(Arena arena, Dtype dtype, long batch, long kvHeads, long maxLen, long keyDim,
                                   long valueDim) {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype must not be null");
        }
        String[] names = {"batch", "kvHeads", "maxLen", "keyDim", "valueDim"};
        long[] sizes = {batch, kvHeads, maxLen, keyDim, valueDim};
        for (int i = 0; i < sizes.length; i++) {
            if (sizes[i] < 0) {
                throw new IllegalArgumentException(names[i] + " must be >= 0, got " + sizes[i]);
            }
        }
        Tensor keys = Tensor.allocate("cache keys (batch, kvHeads, maxLen, keyDim)", arena, dtype, batch, kvHeads,
                maxLen, keyDim);
        Tensor values = Tensor.allocate("cache values (batch, kvHeads, maxLen, valueDim)", arena, dtype, batch,
                kvHeads, maxLen, valueDim);
        if (batch > Integer.MAX_VALUE) { // an empty cache (kvHeads or maxLen 0) may get this far
            throw new IllegalArgumentException("batch must be <= " + Integer.MAX_VALUE + " (a length each), got " + batch);
        }
        return new KvCache(keys, values);
    }

    /**
     * How keys and values are stored.
     *
     * @return the cache's element type
     */
    public Dtype dtype() {
        return keys.dtype();
    }

    /**
     * Tokens held, when every batch row holds as many (0 for a batch of 0).
     *
     * @return the tokens held
     * @throws IllegalStateException when the rows hold different numbers: see {@link #lengths()}
     */
    public long length() {
        long longest = longest();
        for (long n : lengths) {
            if (n != longest) {
                throw new IllegalStateException("the cache's batch rows hold different numbers of tokens, "
                        + Arrays.toString(lengths) + ": use length(b) or lengths()");
            }
        }
        return longest;
    }

    /**
     * Tokens batch row b holds.
     *
     * @param b the batch row
     * @return the tokens it holds
     */
    public long length(long b) {
        if (b < 0 || b >= lengths.length) {
            throw new IllegalArgumentException("b = " + b + ", expected a batch row, 0 to " + (lengths.length - 1));
        }
        return lengths[(int) b];
    }

    /**
     * Tokens each batch row holds.
     *
     * @return a copy, one length a batch row
     */
    public long[] lengths() {
        return lengths.clone();
    }

    /** The longest row's length: the filled part of the storage. */
    private long longest() {
        long longest = 0;
        for (long n : lengths) {
            longest = Math.max(longest, n);
        }
        return longest;
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
        Arrays.fill(lengths, 0);
    }

    /**
     * The filled keys, {@code (B, Hkv, L, Dk)} with L the longest row's
     * length: a view, valid until the next append or reset. Row b's keys
     * from {@link #length(long) length(b)} on are no tokens of it
     * ({@link AttentionSpec.Builder#keyLengths} with {@link #lengths()} leaves them out).
     *
     * @return the filled keys
     */
    public Tensor keys() {
        return filled(keys);
    }

    /**
     * The filled values, {@code (B, Hkv, L, Dv)}, as {@link #keys()}.
     *
     * @return the filled values
     */
    public Tensor values() {
        return filled(values);
    }

    private Tensor filled(Tensor t) {
        checkStorage("cache");
        long[] shape = t.shape();
        shape[2] = longest();
        return Tensor.wrap(t.segment(), t.dtype(), shape, t.strides());
    }

    /**
     * Appends T new tokens to every batch row: {@code k (B, Hkv, T, Dk)},
     * {@code v (B, Hkv, T, Dv)}, any strides, any dtype: each element is
     * converted to the cache's (rounded to nearest, ties to even, when that
     * is narrower); T = 0 is legal and appends nothing. Refused, with
     * nothing written, when they do not fit: an
     * {@link IllegalStateException} for more tokens than the capacity has
     * left, for a closed arena or one confined to another thread (the
     * cache's or k's or v's), an {@link IllegalArgumentException} for a
     * wrong shape.
     *
     * @param k the keys
     * @param v the values
     */
    public void append(Tensor k, Tensor v) {
        appendTokens(k, v, null);
    }

    /**
     * Appends a different number of tokens to each batch row: row b takes
     * the last {@code counts[b]} of the T positions of {@code k (B, Hkv, T, Dk)}
     * and {@code v (B, Hkv, T, Dv)}; the positions before them are padding
     * (a left-padded batch, as batched generation pads prompts of different
     * lengths). So the queries of the same T positions line up with
     * {@link #attend}'s bottom-right alignment: row b's query t sits at its
     * own token's position. A count of 0 appends nothing to that row (a
     * finished sequence). Refused as {@link #append(Tensor, Tensor)}, and
     * for counts that are not B numbers from 0 to T, with nothing written.
     *
     * @param k the keys
     * @param v the values
     * @param counts how many of the T positions each batch row takes (B)
     */
    public void append(Tensor k, Tensor v, long[] counts) {
        if (counts == null) {
            throw new IllegalArgumentException("counts must not be null (append(k, v) appends all T tokens to every row)");
        }
        appendTokens(k, v, counts);
    }

    /** Appends the last counts[b] of the T tokens to each row b (null: all T). */
    private void appendTokens(Tensor k, Tensor v, long[] counts) {
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
        long[] take = counts != null ? counts.clone() : filledWith(t);
        if (take.length != lengths.length) {
            throw new IllegalArgumentException("counts: expected B = " + lengths.length
                    + " counts, one a batch row, got " + take.length);
        }
        for (int b = 0; b < take.length; b++) {
            if (take[b] < 0 || take[b] > t) {
                throw new IllegalArgumentException("counts[" + b + "] = " + take[b] + ", expected 0 to T = " + t);
            }
        }
        boolean uniform = Arrays.stream(take).distinct().count() <= 1 && Arrays.stream(lengths).distinct().count() <= 1;
        for (int b = 0; b < take.length; b++) {
            if (take[b] > capacity() - lengths[b]) {
                throw new IllegalStateException("KV cache overflow: " + (uniform ? "" : "batch row " + b + " ")
                        + "holds " + lengths[b] + " of " + capacity() + " tokens, cannot append " + take[b]);
            }
        }
        copyRows(k, keys, take);
        copyRows(v, values, take);
        for (int b = 0; b < take.length; b++) {
            lengths[b] += take[b];
        }
    }

    private long[] filledWith(long count) {
        long[] all = new long[lengths.length];
        Arrays.fill(all, count);
        return all;
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

    /**
     * Copies the last {@code counts[b]} tokens of each batch row b of src
     * (B, Hkv, T, D) into dst after the row's tokens, token by token: as
     * bytes when the dtypes agree, else element by element, converted.
     */
    private void copyRows(Tensor src, Tensor dst, long[] counts) {
        long[] ss = src.strides();
        long[] ds = dst.strides();
        long d = src.size(3), tokens = src.size(2);
        MemorySegment from = src.segment();
        MemorySegment to = dst.segment();
        ElementType fromType = src.dtype().element(), toType = dst.dtype().element();
        int fromBytes = src.dtype().byteSize(), toBytes = dst.dtype().byteSize();
        boolean bytes = src.dtype() == dst.dtype() && ss[3] == 1;
        for (long b = 0; b < src.size(0); b++) {
            long skip = tokens - counts[(int) b], at = lengths[(int) b] - skip;
            for (long h = 0; h < src.size(1); h++) {
                for (long t = skip; t < tokens; t++) {
                    long fromOff = b * ss[0] + h * ss[1] + t * ss[2];
                    long toOff = b * ds[0] + h * ds[1] + (at + t) * ds[2];
                    if (bytes) {
                        MemorySegment.copy(from, fromOff * toBytes, to, toOff * toBytes, d * toBytes);
                    } else {
                        for (long i = 0; i < d; i++) {
                            toType.set(to, (toOff + i) * toBytes,
                                    fromType.get(from, (fromOff + i * ss[3]) * fromBytes));
                        }
                    }
                }
            }
        }
    }

    /**
     * Attends queries {@code q (B, H, T, Dk)} (the last T positions of the
     * sequence, already appended; any dtype) over every cached token, writing
     * the float32 {@code out (B, H, T, Dv)}. The causal rule is bottom-right aligned,
     * so query t sees the tokens up to its own position; the spec's mask,
     * window, scale and backend apply. Each batch row attends over its own
     * tokens: row b's query t sits at position {@code length(b) - T + t}
     * (with rows of different lengths this is scaled dot-product
     * attention over {@link #keys()} and {@link #values()} with
     * {@link AttentionSpec.Builder#keyLengths} = {@link #lengths()}, so the
     * spec must set no key lengths of its own; queries before a short row's
     * first token see nothing and get zeros).
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
        long longest = longest();
        boolean ragged = Arrays.stream(lengths).anyMatch(n -> n != longest);
        if (q.size(2) > longest) {
            throw new IllegalArgumentException("q: has " + q.size(2) + " queries but the cache" + (ragged
                    ? "'s longest batch row" : "") + " holds only " + longest + " tokens; append their keys and values first");
        }
        if (spec.keyLengths() != null) {
            throw new IllegalArgumentException("spec: keyLengths must be unset: the cache attends each batch row over its"
                    + " own tokens (lengths())");
        }
        AttentionSpec.Builder rows = spec.toBuilder().causal(Causal.BOTTOM_RIGHT);
        Attention.scaledDotProduct(q, keys(), values(), out, (ragged ? rows.keyLengths(lengths) : rows).build());
    }
}
