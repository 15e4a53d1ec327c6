package org.panattn.internal;

import java.lang.foreign.MemorySegment;

/**
 * What a {@link Rule} passes to its {@code _buffers} entry point: the
 * descriptors of its own inputs (slots 0 to 3), the shared ones (values,
 * out, options), and every data segment as an argument of its own.
 */
public final class NativeCall {
    private final NativeBackend.Scratch scratch;
    private final Plan plan;
    private final MemorySegment options;

    NativeCall(NativeBackend.Scratch scratch, Plan plan, MemorySegment options) {
        this.scratch = scratch;
        this.plan = plan;
        this.options = options;
    }

    /** The descriptor of the rule's input in slot 0..3 (NULL for null). */
    public MemorySegment arg(int slot, View v) {
        if (slot < 0 || slot >= NativeBackend.Scratch.ARGS - 2) {
            throw new IllegalArgumentException("slot " + slot + ": a rule has slots 0 to 3");
        }
        return scratch.arg(slot, v);
    }

    public MemorySegment values() {
        return scratch.arg(NativeBackend.Scratch.ARGS - 2, plan.values());
    }

    public MemorySegment out() {
        return scratch.arg(NativeBackend.Scratch.ARGS - 1, plan.out());
    }

    public MemorySegment options() {
        return options;
    }

    /** The segment of a view, as a call argument (NULL when absent). */
    public static MemorySegment data(View v) {
        return v == null ? MemorySegment.NULL : v.segment();
    }

    public MemorySegment valuesData() {
        return plan.values().segment();
    }

    public MemorySegment outData() {
        return plan.out().segment();
    }

    public MemorySegment maskData() {
        return data(plan.mask());
    }

    public MemorySegment weightsData() {
        return data(plan.weights());
    }

    public MemorySegment keyPaddingData() {
        return data(plan.keyPadding());
    }

    public MemorySegment alibiData() {
        return data(plan.alibi());
    }

    public MemorySegment relBiasData() {
        return data(plan.relTable());
    }
}
