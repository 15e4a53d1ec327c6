package org.panattn.internal;

import org.panattn.Tensor;

/**
 * A validated additive-attention call on projected inputs:
 * {@code score(i, j) = scale·Σ_a vvec[a]·tanh(qp[i][a] + kp[j][a])}.
 *
 * @param qp     (B, H, Lq, A)
 * @param kp     (B, Hkv, Lk, A)
 * @param vvec   null (all ones), or (A)
 * @param common values, output, masks and options
 */
public record AdditiveProblem(Tensor qp, Tensor kp, Tensor vvec, float scale, AttendProblem common) {
}
