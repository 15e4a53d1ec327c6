package org.panattn.internal;

/** One implementation of the attention operations. */
public interface AttentionBackend {
    /** Computes {@code p.out = softmax(Q·Kᵀ·scale + mask)·V} (and the weights if asked). */
    void sdpa(SdpaProblem p);

    /** Computes {@code p.y = p.x·Wᵀ + bias}. */
    void linear(LinearProblem p);
}
