package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The element types the backends read (panattn.h's {@code enum pa_dtype}):
 * float32 and the two half-precision storage formats (read as floats,
 * widened exactly), and the bytes of a keep-mask.
 */
public enum ElementType {
    F32(Float.BYTES),
    BOOL(1),
    F16(2),
    BF16(2);

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final int bytes;

    ElementType(int bytes) {
        this.bytes = bytes;
    }

    /** {@return the bytes of one element} */
    public int bytes() {
        return bytes;
    }

    /** {@return the element at {@code byteOffset} as a float (a keep-mask's as 1 or 0)} */
    public float get(MemorySegment s, long byteOffset) {
        return switch (this) {
            case F32 -> s.get(FLOAT, byteOffset);
            case F16 -> HalfFloats.f16ToFloat(s.get(SHORT, byteOffset));
            case BF16 -> HalfFloats.bf16ToFloat(s.get(SHORT, byteOffset));
            case BOOL -> s.get(ValueLayout.JAVA_BYTE, byteOffset) != 0 ? 1f : 0f;
        };
    }

    /** Stores {@code value} at {@code byteOffset}, rounded to this type (a keep-mask's: nonzero is true). */
    public void set(MemorySegment s, long byteOffset, float value) {
        switch (this) {
            case F32 -> s.set(FLOAT, byteOffset, value);
            case F16 -> s.set(SHORT, byteOffset, HalfFloats.floatToF16(value));
            case BF16 -> s.set(SHORT, byteOffset, HalfFloats.floatToBf16(value));
            case BOOL -> s.set(ValueLayout.JAVA_BYTE, byteOffset, value != 0f ? (byte) 1 : (byte) 0);
        }
    }
}
