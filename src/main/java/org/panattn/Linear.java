package org.panattn;

import java.lang.foreign.Arena;

import org.panattn.internal.LinearPlan;

/** The linear layer {@code y = x·Wᵀ + bias} the rules and layers project with. */
final class Linear {
    private Linear() {
    }

    /**
     * x (B, H, L, K) · wᵀ (+ bias) into a new (B, H, L, N) tensor in {@code arena};
     * the caller has checked the bias, {@code weightName} names w in messages.
     */
    static Tensor project(Arena arena, Backend backend, String name, Tensor x4, String weightName, Tensor w,
                          Tensor bias) {
        AttentionValidation.contiguousRows(name, x4);
        AttentionValidation.usable(weightName, w, backend);
        AttentionValidation.contiguousRows(weightName, w.unsqueeze(0).unsqueeze(0));
        Tensor y = Tensor.allocate(arena, x4.size(0), x4.size(1), x4.size(2), w.size(0));
        apply(backend, x4, w, bias, y);
        return y;
    }

    /** {@code y4 = x4·wᵀ + bias}: x4 (A, B, M, K), w (N, K), bias (N) or null, y4 (A, B, M, N); all checked. */
    static void apply(Backend backend, Tensor x4, Tensor w, Tensor bias, Tensor y4) {
        Attention.implementation(backend).linear(new LinearPlan(x4.view(), w.view(), bias == null ? null : bias.view(),
                y4.view()));
    }
}
