package org.panattn.internal;

import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.Tensor;

/**
 * What every score rule shares, validated: the values, the output, masks,
 * causal rule, window and positional terms, and the problem's sizes. All
 * tensors rank 4.
 *
 * @param values     (B, Hkv, Lk, Dv)
 * @param out        (B, H, Lq, Dv)
 * @param mask       null, or broadcastable to (B, H, Lq, Lk)
 * @param keyPadding null, or a second mask with the same rules
 * @param weights    null, or (B, H, Lq, Lk)
 * @param window     0, or the sliding window (with a causal rule)
 */
public record AttendProblem(Tensor values, Tensor out, Mask mask, Mask keyPadding, Tensor weights, Causal causal,
                            long window, Positional positional, long batch, long heads, long kvHeads, long queries,
                            long keys) {

    /** Query i's position on the key axis: i, or i + Lk − Lq with bottom-right causal alignment. */
    public long queryPosition(long i) {
        return causal == Causal.BOTTOM_RIGHT ? i + keys - queries : i;
    }

    /** First key query i may see. */
    public long firstKey(long i) {
        long end = queryPosition(i) + 1;
        return window > 0 && window < end ? Math.min(keys, end - window) : 0; // end - window cannot overflow
    }

    /** One past the last key query i may see. */
    public long endKey(long i) {
        return causal == Causal.NONE ? keys : Math.max(0, Math.min(keys, queryPosition(i) + 1));
    }
}
