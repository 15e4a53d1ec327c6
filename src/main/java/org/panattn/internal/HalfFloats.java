package org.panattn.internal;

/**
 * Conversions between float32 and the half-precision storage formats, on
 * their bits. Widening is exact; narrowing rounds to the nearest
 * representable value, ties to even, and keeps NaN a NaN.
 */
public final class HalfFloats {
    private HalfFloats() {
    }

    /** {@return the binary16 value {@code bits} as a float, exactly} */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** {@return {@code f} rounded to binary16: ties to even, ±infinity beyond 65504 + half an ulp} */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /** {@return the bfloat16 value {@code bits} as a float: the top half of its bits} */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /**
     * {@return {@code f} rounded to bfloat16, ties to even} A NaN keeps its sign
     * and top fraction bits and gets the quiet bit: dropping the low half of a
     * NaN whose payload lies there alone would make an infinity.
     */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) (bits >>> 16 | 0x0040);
        }
        // Adding 0x7FFF plus the kept part's lowest bit carries into it exactly when the dropped
        // half is above one half, or is one half and the kept part is odd; a carry out of the
        // fraction raises the exponent, up to infinity.
        return (short) ((bits + 0x7FFF + (bits >>> 16 & 1)) >>> 16);
    }
}
