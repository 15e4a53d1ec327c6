package org.panattn.internal;

import org.panattn.Tensor;

/** One implementation of the attention operations; the arguments are validated. */
public interface AttentionBackend {
    /** Scaled dot-product attention. */
    void sdpa(SdpaProblem p);

    /** Additive attention on projected queries and keys. */
    void additive(AdditiveProblem p);

    /** Concat-linear attention. */
    void concat(ConcatProblem p);

    /** {@code p.y = p.x·Wᵀ + bias}. */
    void linear(LinearProblem p);

    /** Rotary position embedding of x (B, H, L, D) in place, row l at position {@code position + l}. */
    void rope(Tensor x, long position, float base, boolean interleaved);
}
