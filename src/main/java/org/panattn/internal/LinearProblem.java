package org.panattn.internal;

import org.panattn.Tensor;

/**
 * A validated linear layer {@code y = x·Wᵀ + bias}, all rank 4 with
 * contiguous last dimensions.
 *
 * @param x    (A, B, M, K)
 * @param w    (1, 1, N, K), PyTorch's weight layout
 * @param bias null, or (1, 1, 1, N)
 * @param y    (A, B, M, N)
 */
public record LinearProblem(Tensor x, Tensor w, Tensor bias, Tensor y) {
}
