package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.internal.HalfFloats;

/**
 * The conversions between float32 and F16 / BF16 against {@link HalfReference},
 * written from the formats' definitions: every one of the 65536 bit
 * patterns widened; narrowing at every representable value, at every
 * midpoint between neighbours (ties to even) and one float either side of
 * it, on a million random float bit patterns (NaN, infinities, subnormals
 * included), and at the edges: overflow, underflow, signed zeros, and
 * bfloat16's NaN whose payload lies in the dropped half.
 */
class HalfConversionTest {

    private static float widen(short bits, Dtype t) {
        return t == Dtype.F16 ? HalfFloats.f16ToFloat(bits) : HalfFloats.bf16ToFloat(bits);
    }

    private static int narrow(float x, Dtype t) {
        return Short.toUnsignedInt(t == Dtype.F16 ? HalfFloats.floatToF16(x) : HalfFloats.floatToBf16(x));
    }

    /** got is the reference's rounding of x: the same bits, or a NaN for a NaN. */
    private static void assertRounds(float x, Dtype t, int got) {
        int want = HalfReference.round(x, t);
        boolean ok = Double.isNaN(HalfReference.value(want, t)) ? Double.isNaN(HalfReference.value(got, t))
                : got == want;
        if (!ok) {
            fail(t + ": " + x + " (0x" + Integer.toHexString(Float.floatToRawIntBits(x)) + ") rounds to 0x"
                    + Integer.toHexString(got) + ", expected 0x" + Integer.toHexString(want));
        }
    }

    @ParameterizedTest
    @EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void everyBitPatternWidensToItsValue(Dtype t) {
        for (int bits = 0; bits < 65536; bits++) {
            double want = HalfReference.value(bits, t);
            float got = widen((short) bits, t);
            if (Double.isNaN(want) ? !Float.isNaN(got) : Double.compare(got, want) != 0) {
                fail(t + " 0x" + Integer.toHexString(bits) + " widens to " + got + ", expected " + want);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void valuesMidpointsAndTheirNeighboursRoundToNearestEven(Dtype t) {
        int ties = 0;
        for (int bits = 0; bits <= HalfReference.maxFinite(t); bits++) {
            for (int sign : new int[] {0, 0x8000}) {
                float value = (float) HalfReference.value(sign | bits, t);
                assertEquals(sign | bits, narrow(value, t), t + ": a representable value converts exactly");
                double next = bits == HalfReference.maxFinite(t)
                        ? 2 * HalfReference.value(bits, t) - HalfReference.value(bits - 1, t)
                        : HalfReference.value(bits + 1, t);
                float mid = (float) ((HalfReference.value(bits, t) + next) / 2 * (sign != 0 ? -1 : 1));
                assertEquals((HalfReference.value(bits, t) + next) / 2, Math.abs((double) mid), "the midpoint is a float");
                assertRounds(mid, t, narrow(mid, t));
                int even = (bits & 1) == 0 ? bits : bits + 1;
                assertEquals(sign | even, narrow(mid, t), t + ": tie at " + mid + " goes to the even neighbour");
                assertRounds(Math.nextDown(mid), t, narrow(Math.nextDown(mid), t));
                assertRounds(Math.nextUp(mid), t, narrow(Math.nextUp(mid), t));
                ties++;
            }
        }
        assertTrue(ties > 60000, "ties checked: " + ties);
    }

    @ParameterizedTest
    @EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void randomFloatBitPatternsRoundAsTheReference(Dtype t) {
        SplittableRandom rnd = new SplittableRandom(t.ordinal() + 7);
        for (int i = 0; i < 1_000_000; i++) {
            float x = Float.intBitsToFloat(rnd.nextInt());
            assertRounds(x, t, narrow(x, t));
        }
    }

    @org.junit.jupiter.api.Test
    void f16EdgesOverflowToInfinityAndUnderflowToZeroEvenly() {
        assertEquals(0x7BFF, narrow(65504f, Dtype.F16), "the largest value");
        assertEquals(0x7BFF, narrow(65519.996f, Dtype.F16), "just below the midpoint to infinity");
        assertEquals(0x7C00, narrow(65520f, Dtype.F16), "the midpoint rounds to infinity (its even neighbour)");
        assertEquals(0xFC00, narrow(-1e10f, Dtype.F16), "overflow keeps the sign");
        assertEquals(0x7C00, narrow(Float.MAX_VALUE, Dtype.F16), "Float.MAX_VALUE");
        assertEquals(0x0001, narrow(0x1p-24f, Dtype.F16), "the smallest subnormal");
        assertEquals(0x0000, narrow(0x1p-25f, Dtype.F16), "half of it ties to zero, the even neighbour");
        assertEquals(0x0001, narrow(Math.nextUp(0x1p-25f), Dtype.F16), "just above half of it rounds up");
        assertEquals(0x0002, narrow(0x1.8p-24f, Dtype.F16), "1.5 of it ties to 2, even");
        assertEquals(0x8000, narrow(-0f, Dtype.F16), "negative zero stays negative");
        assertEquals(0x8000, narrow(-Float.MIN_VALUE, Dtype.F16), "a tiny negative rounds to -0");
        assertEquals(0x0400, narrow(0x1p-14f, Dtype.F16), "the smallest normal");
        assertTrue(Float.isNaN(widen((short) narrow(Float.NaN, Dtype.F16), Dtype.F16)), "NaN stays NaN");
        assertTrue(Float.isNaN(widen((short) narrow(Float.intBitsToFloat(0x7F800001), Dtype.F16), Dtype.F16)),
                "a NaN whose payload is in the low bits stays NaN");
        assertEquals(Float.NEGATIVE_INFINITY, widen((short) narrow(Float.NEGATIVE_INFINITY, Dtype.F16), Dtype.F16));
    }

    @org.junit.jupiter.api.Test
    void bf16IsTheTopHalfOfAFloat() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < 100_000; i++) {
            int top = rnd.nextInt(65536);
            float f = Float.intBitsToFloat(top << 16); // low half zero: a bf16 value, NaN or not
            assertEquals(top << 16, Float.floatToRawIntBits(widen((short) top, Dtype.BF16)), "widening is << 16");
            if (!Float.isNaN(f)) {
                assertEquals(top, narrow(f, Dtype.BF16), "a float with a zero low half converts exactly");
            }
        }
        assertEquals(0x3F80, narrow(Float.intBitsToFloat(0x3F807FFF), Dtype.BF16), "below half of the dropped ulp");
        assertEquals(0x3F80, narrow(Float.intBitsToFloat(0x3F808000), Dtype.BF16), "a tie to the even 0x3F80");
        assertEquals(0x3F82, narrow(Float.intBitsToFloat(0x3F818000), Dtype.BF16), "a tie to the even 0x3F82");
        assertEquals(0x7F80, narrow(Float.MAX_VALUE, Dtype.BF16), "the largest float rounds up to infinity");
        assertEquals(0x0001, narrow(Float.intBitsToFloat(0x00008000 + 1), Dtype.BF16), "a subnormal rounds up");
        int nan = narrow(Float.intBitsToFloat(0x7F800001), Dtype.BF16);
        assertTrue(Float.isNaN(widen((short) nan, Dtype.BF16)),
                "a NaN whose payload lies in the dropped half is still NaN, not infinity: 0x" + Integer.toHexString(nan));
        assertEquals(0xFFC1, narrow(Float.intBitsToFloat(0xFF810000), Dtype.BF16) | 0x0040,
                "a NaN keeps its sign and top payload");
    }

    @ParameterizedTest
    @EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void tensorsRoundWhatTheyStoreAndWidenWhatTheyRead(Dtype t) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(11 + t.ordinal());
            float[] x = new float[999];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) ((rnd.nextDouble() * 2 - 1) * Math.pow(2, rnd.nextInt(40) - 20));
            }
            x[0] = 1e9f;
            x[1] = Float.NaN;
            x[2] = 0x1p-30f;
            Tensor f32 = Tensor.of(arena, x, 27, 37);
            Tensor half = f32.to(arena, t);
            Tensor viaCopy = Tensor.allocate(arena, t, 27, 37).copyFrom(x);
            Tensor viaSet = Tensor.allocate(arena, t, 27, 37);
            float[] got = half.toArray(), copied = viaCopy.toArray();
            for (int i = 0; i < x.length; i++) {
                viaSet.set(x[i], i / 37, i % 37);
                double want = HalfReference.rounded(x[i], t);
                for (float g : new float[] {got[i], copied[i], viaSet.get(i / 37, i % 37)}) {
                    assertTrue(Double.isNaN(want) ? Float.isNaN(g) : g == want,
                            t + " element " + i + ": " + x[i] + " stored as " + g + ", expected " + want);
                }
            }
            float[] back = half.to(arena, Dtype.F32).toArray();
            assertEquals(Dtype.F32, half.to(arena, Dtype.F32).dtype());
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToIntBits(got[i]), Float.floatToIntBits(back[i]), "widening back is exact");
            }
        }
    }
}
