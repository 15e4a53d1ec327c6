package org.panattn.internal;

import java.lang.foreign.MemorySegment;

/**
 * What a {@link Rule} passes to its {@code _buffers} entry point: the
 * descriptors of its own inputs (slots 0 to 3), the shared ones (values,
 * out, options), and every data segment as an argument of its own.
 *
 * <p>A call made once describes each view as the rule asks for it. A
 * prepared call describes its views when it is made, the rule's inputs
 * in the order of {@link Rule#inputs()}, and its runs write nothing.
 */
public final class NativeCall {
    private static final int VALUES = NativeBackend.Scratch.ARGS - 2, OUT = NativeBackend.Scratch.ARGS - 1;

    private final NativeBackend.Scratch scratch;
    private final Plan plan;
    private final MemorySegment options;
    /** The view each slot describes for good (a prepared call), or null: described per use. */
    private final View[] described;

    private NativeCall(NativeBackend.Scratch scratch, Plan plan, MemorySegment options, View[] described) {
        this.scratch = scratch;
        this.plan = plan;
        this.options = options;
        this.described = described;
    }

    /** A call made once, describing into the thread's scratch. */
    static NativeCall once(NativeBackend.Scratch scratch, Plan plan, MemorySegment options) {
        return new NativeCall(scratch, plan, options, null);
    }

    /** A call whose descriptors, in its own {@code scratch}, are written now for every run. */
    static NativeCall prepared(NativeBackend.Scratch scratch, Plan plan, MemorySegment options, View[] inputs) {
        if (inputs.length > VALUES) {
            throw new IllegalArgumentException(inputs.length + " inputs: a rule has slots 0 to 3");
        }
        View[] described = new View[NativeBackend.Scratch.ARGS];
        for (int i = 0; i < inputs.length; i++) {
            scratch.arg(i, described[i] = inputs[i]);
        }
        scratch.arg(VALUES, described[VALUES] = plan.values());
        scratch.arg(OUT, described[OUT] = plan.out());
        return new NativeCall(scratch, plan, options, described);
    }

    /** The descriptor of the rule's input in slot 0..3 (NULL for null). */
    public MemorySegment arg(int slot, View v) {
        if (slot < 0 || slot >= VALUES) {
            throw new IllegalArgumentException("slot " + slot + ": a rule has slots 0 to 3");
        }
        return slot(slot, v);
    }

    public MemorySegment values() {
        return slot(VALUES, plan.values());
    }

    public MemorySegment out() {
        return slot(OUT, plan.out());
    }

    private MemorySegment slot(int slot, View v) {
        if (described == null) {
            return scratch.arg(slot, v);
        }
        if (described[slot] != v) { // a rule whose inputs() disagrees with its callNative
            throw new IllegalStateException("slot " + slot + " of a prepared call describes another view");
        }
        return scratch.arg(slot, v); // described when prepared: rewrites nothing
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
