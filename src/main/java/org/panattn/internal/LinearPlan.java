package org.panattn.internal;

/**
 * A validated linear layer {@code y = x·Wᵀ + bias}, with contiguous last
 * dimensions.
 *
 * @param x    (A, B, M, K)
 * @param w    (1, 1, N, K), PyTorch's weight layout
 * @param bias null, or (1, 1, 1, N)
 * @param y    (A, B, M, N)
 */
public record LinearPlan(View x, View w, View bias, View y) {
}
