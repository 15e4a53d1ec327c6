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
 * @param mask    null, or broadcastable to (B, H, Lq, Lk)
 * @param weights null, or (B, H, Lq, Lk)
 * @param scale   the resolved scale
 */
public record SdpaProblem(Tensor q, Tensor k, Tensor v, Tensor out, Mask mask, Tensor weights,
                          float scale, Causal causal) {

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

    /** Keys query i may see under the causal rule: [0, limit). */
    public long causalLimit(long i) {
        long lq = queries();
        long lk = keys();
        long limit = switch (causal) {
            case NONE -> lk;
            case TOP_LEFT -> i + 1;
            case BOTTOM_RIGHT -> i + 1 + lk - lq;
        };
        return Math.max(0, Math.min(lk, limit));
    }
}
