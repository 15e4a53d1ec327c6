package org.panattn.internal;

import org.panattn.Tensor;

/**
 * A validated concat-linear attention call:
 * {@code score(i, j) = scale·(w[j]·[q_i; k_i] + bias[j])} over Lv value positions.
 *
 * @param q      (B, H, Lq, Dq)
 * @param k      (B, H, Lq, Dk): one key per query row
 * @param w      (Lv, Dq + Dk)
 * @param bias   null, or (Lv)
 * @param common values (B, H, Lv, Dv), output, masks and options
 */
public record ConcatProblem(Tensor q, Tensor k, Tensor w, Tensor bias, float scale, AttendProblem common) {
}
