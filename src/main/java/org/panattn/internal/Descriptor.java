package org.panattn.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.panattn.internal.ffi.Panattn_h;
import org.panattn.internal.ffi.pa_tensor;

/**
 * One {@code pa_tensor} descriptor in native memory, written from a view.
 * A view's shape and strides arrays never change and the descriptor holds
 * nothing else of it (its data travels as a call argument), so describing
 * a view with the arrays, element type and capacity written last rewrites
 * nothing: calls on the same tensors write their descriptors once. Only
 * those arrays are remembered, never the view or its segment, so no
 * tensor's memory is kept reachable.
 */
final class Descriptor {
    private final MemorySegment segment;
    private long[] shape, strides;
    private ElementType type;
    private long capacity;

    Descriptor(Arena arena) {
        segment = pa_tensor.allocate(arena);
    }

    /** The descriptor of v (NULL for null). */
    MemorySegment describe(View v) {
        if (v == null) {
            return MemorySegment.NULL;
        }
        long elements = v.capacity();
        if (v.shape() == shape && v.strides() == strides && v.type() == type && elements == capacity) {
            return segment;
        }
        pa_tensor.data(segment, MemorySegment.NULL);
        pa_tensor.dtype(segment, switch (v.type()) {
            case F32 -> Panattn_h.PA_F32();
            case BOOL -> Panattn_h.PA_BOOL();
            case F16 -> Panattn_h.PA_F16();
            case BF16 -> Panattn_h.PA_BF16();
        });
        pa_tensor.reserved(segment, 0);
        for (int i = 0; i < 4; i++) {
            pa_tensor.shape(segment, i, v.shape()[i]);
            pa_tensor.strides(segment, i, v.strides()[i]);
        }
        pa_tensor.capacity(segment, elements);
        shape = v.shape();
        strides = v.strides();
        type = v.type();
        capacity = elements;
        return segment;
    }
}
