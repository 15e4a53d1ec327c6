package org.panattn.internal;

import org.panattn.Tensor;

/**
 * A validated scaled dot-product attention call. Backends trust it.
 *
 * @param q      (B, H, Lq, Dk)
 * @param k      (B, Hkv, Lk, Dk)
 * @param scale  the resolved scale
 * @param common values (B, Hkv, Lk, Dv), output, masks and options
 */
public record SdpaProblem(Tensor q, Tensor k, float scale, AttendProblem common) {
}
