package org.panattn.internal;

import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.Tensor;

/**
 * A validated scaled dot-product attention call: every tensor rank 4,
 * shapes consistent, segments alive and accessible, last dimensions
 * contiguous. Backends trust it.
 *
 * @param q       (B, H, Lq, Dk)
 * @param k       (B, Hkv, Lk, Dk)
 * @param v       (B, Hkv, Lk, Dv)
 * @param out     (B, H, Lq, Dv)
 * @param mask       null, or broadcastable to (B, H, Lq, Lk)
 * @param keyPadding null, or a second mask with the same rules
 * @param weights    null, or (B, H, Lq, Lk)
 * @param scale      the resolved scale
 * @param window     0, or the sliding window (with a causal rule)
 */
public record SdpaProblem(Tensor q, Tensor k, Tensor v, Tensor out, Mask mask, Mask keyPadding, Tensor weights,
                          float scale, Causal causal, long window) {

    public long batch() {
        return q.size(0);
    }

    public long heads() {
        return q.size(1);
    }

    public long kvHeads() {
        return k.size(1);
    }

    public long queries() {
        return q.size(2);
    }

    public long keys() {
        return k.size(2);
    }

    /** Position of query i on the key axis under the causal rule (keys after it are hidden). */
    private long position(long i) {
        return switch (causal) {
            case NONE -> keys() - 1;
            case TOP_LEFT -> i;
            case BOTTOM_RIGHT -> i + keys() - queries();
        };
    }

    /** First key query i may see. */
    public long firstKey(long i) {
        return window > 0 ? Math.max(0, Math.min(keys(), position(i) - window + 1)) : 0;
    }

    /** One past the last key query i may see. */
    public long endKey(long i) {
        return Math.max(0, Math.min(keys(), position(i) + 1));
    }
}
