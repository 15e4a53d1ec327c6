package org.panattn.internal;

/** One implementation of the operations; the arguments are validated. */
public interface AttentionBackend {
    /** Attention with a score rule: the rule's scores, then what every rule shares. */
    void attend(Plan plan, Rule rule);

    /**
     * {@link #attend} readied for many runs on the same views. The Java
     * backends have nothing to do once, so by default each run is a call.
     */
    default PreparedCall prepare(Plan plan, Rule rule) {
        return () -> attend(plan, rule);
    }

    /** {@code p.y = p.x·Wᵀ + bias}. */
    void linear(LinearPlan p);

    /** Rotary position embedding of x (B, H, L, D) in place, row l at position {@code position + l}. */
    void rope(View x, long position, float base, boolean interleaved);
}
