package org.panattn.internal;

/**
 * One score rule as the backends see it: its Java score fill and its
 * native entry point. Everything else (positional terms, masks, softmax,
 * values) is the driver's: {@link JavaDriver} in Java, attend.c natively.
 */
public interface Rule {
    /**
     * Writes the scores of query i (batch b, head h, key head kvh) against
     * keys [lo, hi) into {@code row[lo..hi)}, with {@code ops}'s loops; the
     * driver then multiplies them by the plan's scale.
     */
    void scores(Ops ops, long b, long h, long kvh, long i, float[] row, int lo, int hi);

    /** Runs the whole call through the rule's {@code _buffers} entry point; returns its status. */
    int callNative(NativeCall call);

    /** The C function, for messages. */
    String nativeName();

    /** The rule's own input views (the Vector backend splits work over threads only if all are shared). */
    View[] inputs();
}
