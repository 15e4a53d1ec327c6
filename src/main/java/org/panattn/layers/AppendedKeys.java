package org.panattn.layers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.panattn.AttentionSpec;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.Tensor;

/**
 * The attention options of a {@link MultiHeadAttention} call whose keys the
 * layer extends ({@code add_bias_kv}, {@code add_zero_attn}), as PyTorch
 * extends them: {@code attn_mask} and {@code key_padding_mask} are padded
 * with columns that attend. PyTorch users give a causal rule as an
 * {@code attn_mask}, padded the same way, so here the causal rule, the
 * window and the key lengths become that mask over the input's keys: the
 * appended keys stay visible to every query, where a causal rule, a window
 * or a key length over all the keys would hide them.
 */
final class AppendedKeys {
    private AppendedKeys() {
    }

    /**
     * The spec for {@code lq} queries over {@code lk} input keys followed by
     * {@code appended} keys, in {@code batch} sequences of {@code heads}
     * heads: no causal rule, window or key lengths, and the masks over all
     * {@code lk + appended} keys.
     */
    static AttentionSpec spec(Arena arena, AttentionSpec spec, long batch, long heads, long lq, long lk,
                              int appended) {
        if (spec.alibiSlopes() != null || spec.relativeBias() != null) {
            throw new IllegalArgumentException("spec." + (spec.alibiSlopes() != null ? "alibi" : "relativeBias")
                    + ": a positional bias needs every key's position, and the keys addBiasKv and addZeroAttn "
                    + "append have none");
        }
        long keys = lk + appended;
        long[] lengths = spec.keyLengths();
        if (lengths != null && lengths.length != batch) {
            throw new IllegalArgumentException("spec.keyLengths: expected B = " + batch + " lengths, one a batch row, got "
                    + lengths.length);
        }
        for (int b = 0; lengths != null && b < lengths.length; b++) {
            if (lengths[b] > lk) { // the appended keys are no keys of the input's
                throw new IllegalArgumentException("spec.keyLengths[" + b + "] = " + lengths[b] + ", expected 0 to Lk = "
                        + lk);
            }
        }
        boolean windowed = spec.windowLeft() != AttentionSpec.UNBOUNDED || spec.windowRight() != AttentionSpec.UNBOUNDED;
        Visibility causal = spec.causal() == Causal.NONE && !windowed && lengths == null ? null
                : new Visibility(spec.causal(), spec.windowLeft(), spec.windowRight(), lengths, lq, lk);
        long[] sizes = {batch, heads, lq, lk};
        Mask mask = spec.mask() == null && causal == null ? null
                : extend(arena, "spec.mask", spec.mask(), causal, sizes, keys);
        Mask keyPadding = spec.keyPadding() == null ? null
                : extend(arena, "spec.keyPadding", spec.keyPadding(), null, sizes, keys);
        return spec.toBuilder().window(AttentionSpec.UNBOUNDED, AttentionSpec.UNBOUNDED).keyLengths((long[]) null)
                .causal(Causal.NONE).mask(mask).keyPadding(keyPadding).build();
    }

    /**
     * Which input keys a query sees under a causal rule, a window and key
     * lengths (null: all lk): the rule of {@link AttentionSpec}.
     */
    private record Visibility(Causal causal, long left, long right, long[] lengths, long lq, long lk) {
        boolean sees(long b, long i, long j) {
            long n = lengths == null ? lk : lengths[(int) b];
            long position = causal == Causal.BOTTOM_RIGHT ? i + n - lq : i; // the differences below cannot overflow
            return j < n && (causal == Causal.NONE || j <= position) && (left == AttentionSpec.UNBOUNDED
                    || position - j <= left) && (right == AttentionSpec.UNBOUNDED || j - position <= right);
        }

        /** Whether batch rows differ, so the mask needs a row per batch. */
        boolean perBatch() {
            return lengths != null;
        }
    }

    /**
     * {@code mask} (or, when null, a keep-mask of trues) over {@code keys}
     * columns: its own values for the first {@code lk}, hidden where
     * {@code causal} (when not null) hides them, and attending in the rest.
     * Its batch and head sizes are kept, unless key lengths need a row per
     * batch; its query size too, unless a causal rule or window needs a row
     * per query. {@code sizes}: (B, H, Lq, Lk) of the call.
     */
    private static Mask extend(Arena arena, String name, Mask mask, Visibility causal, long[] sizes, long keys) {
        long lq = sizes[2], lk = sizes[3];
        long[] from = mask == null ? new long[] {1, 1, 1, lk} : mask.shape();
        long[] st = mask == null ? new long[4] : mask.strides();
        for (int d = 0; d < 4; d++) {
            if (from[d] != sizes[d] && (from[d] != 1 || d == 3)) {
                throw new IllegalArgumentException(name + ": expected shape (B|1, H|1, Lq|1, Lk) = (" + sizes[0]
                        + "|1, " + sizes[1] + "|1, " + lq + "|1, " + lk + "), got " + Checks.format(from));
            }
        }
        if (mask != null) {
            usable(name, mask.segment());
        }
        long rows = causal != null ? lq : from[2];
        long batches = causal != null && causal.perBatch() ? sizes[0] : from[0];
        long[] shape = {batches, from[1], rows, keys};
        boolean keep = mask == null || mask.kind() == Mask.Kind.KEEP;
        long count = Math.multiplyExact(Math.multiplyExact(Math.multiplyExact(shape[0], shape[1]), rows), keys);
        MemorySegment out = keep ? arena.allocate(Math.max(count, 1))
                : Tensor.allocate(arena, shape).segment();
        long at = 0;
        for (long b = 0; b < shape[0]; b++) {
            for (long h = 0; h < shape[1]; h++) {
                for (long i = 0; i < rows; i++) {
                    long row = (from[0] == 1 ? 0 : b * st[0]) + h * st[1] + (from[2] == 1 ? 0 : i * st[2]);
                    for (long j = 0; j < keys; j++, at++) {
                        boolean seen = j >= lk || causal == null || causal.sees(b, i, j);
                        boolean appendedKey = j >= lk;
                        if (keep) {
                            boolean kept = seen && (appendedKey || mask == null
                                    || mask.segment().get(ValueLayout.JAVA_BYTE, row + j * st[3]) != 0);
                            out.set(ValueLayout.JAVA_BYTE, at, kept ? (byte) 1 : (byte) 0);
                        } else {
                            float term = appendedKey ? 0f : !seen ? Float.NEGATIVE_INFINITY
                                    : mask.segment().getAtIndex(ValueLayout.JAVA_FLOAT, row + j * st[3]);
                            out.setAtIndex(ValueLayout.JAVA_FLOAT, at, term);
                        }
                    }
                }
            }
        }
        return keep ? Mask.keep(out, shape) : Mask.additive(Tensor.wrap(out, shape));
    }

    /** The mask's memory is alive and this thread may read it. */
    private static void usable(String name, MemorySegment segment) {
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException(name + ": its arena is closed");
        }
        if (!segment.isAccessibleBy(Thread.currentThread())) {
            throw new IllegalStateException(name + ": its arena is confined to another thread");
        }
    }
}
