package org.panattn.internal;

/**
 * A validated call a backend has readied to run many times, on the same
 * tensors: whatever it can do once (descriptors, options) is done.
 */
@FunctionalInterface
public interface PreparedCall {
    /** Runs the call once more; the caller has checked that its memory is still usable. */
    void run();
}
