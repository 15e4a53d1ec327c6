package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A validated strided 4-D view: the segment (element (0, 0, 0, 0) at its
 * offset 0), the shape, strides in elements, and the element type. The
 * stride of every dimension of size 1 (or 0) is 0, so a broadcast needs no
 * special case anywhere and no unused stride enters offset arithmetic.
 *
 * @param segment the memory
 * @param shape   four sizes
 * @param strides four strides in elements, 0 where the size is at most 1
 * @param type    the elements: float32, half-precision storage, or a keep-mask's bytes
 */
public record View(MemorySegment segment, long[] shape, long[] strides, ElementType type) {
    /** Copies shape and strides, zeroing the strides that broadcast. */
    public View {
        shape = shape.clone();
        strides = strides.clone();
        for (int d = 0; d < 4; d++) {
            strides[d] = shape[d] <= 1 ? 0 : strides[d];
        }
    }

    /** A float32 view. */
    public static View of(MemorySegment segment, long[] shape, long[] strides) {
        return new View(segment, shape, strides, ElementType.F32);
    }

    public long size(int d) {
        return shape[d];
    }

    /** Number of elements. */
    public long count() {
        return shape[0] * shape[1] * shape[2] * shape[3];
    }

    /** Whether this is a keep-mask (one byte per element). */
    public boolean bool() {
        return type == ElementType.BOOL;
    }

    /** Element offset of (a, b, c, d). */
    public long offset(long a, long b, long c, long d) {
        return a * strides[0] + b * strides[1] + c * strides[2] + d * strides[3];
    }

    /** Byte offset of row (a, b, c), whose elements are contiguous. */
    public long row(long a, long b, long c) {
        return offset(a, b, c, 0) * type.bytes();
    }

    /** The element at (a, b, c, d), as a float. */
    public float get(long a, long b, long c, long d) {
        return type.get(segment, offset(a, b, c, d) * type.bytes());
    }

    /** Stores an element, rounded to the view's type. */
    public void set(long a, long b, long c, long d, float value) {
        type.set(segment, offset(a, b, c, d) * type.bytes(), value);
    }

    /** A keep-mask's element: true where the key is kept. */
    public boolean keeps(long a, long b, long c, long d) {
        return segment.get(ValueLayout.JAVA_BYTE, offset(a, b, c, d)) != 0;
    }

    /** Elements the segment holds, as the C descriptors' capacity. */
    public long capacity() {
        return segment.byteSize() / type.bytes();
    }
}
