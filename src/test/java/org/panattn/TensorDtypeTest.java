package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Tensors of each {@link Dtype}: their memory, views, copies and refusals. */
class TensorDtypeTest {

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void allocatesItsElementSizeAndKeepsItsDtypeThroughViewsAndCopies(Dtype t) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.allocate(arena, t, 2, 3, 5);
            assertEquals(t, x.dtype());
            assertEquals(2 * 3 * 5 * t.byteSize(), x.segment().byteSize());
            x.copyFrom(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                24, 25, 26, 27, 28, 29, 30});
            Tensor p = x.permute(2, 0, 1);
            assertEquals(t, p.dtype());
            assertEquals(t, x.unsqueeze(0).dtype());
            assertEquals(7f, p.get(1, 0, 1), "element (0, 1, 1) is the 7th");
            Tensor c = p.contiguous(arena);
            assertEquals(t, c.dtype());
            assertTrue(c.isContiguous());
            assertArrayEquals(p.toArray(), c.toArray());
            assertEquals(t == Dtype.F32 ? "Tensor[2, 3, 5] strides [15, 5, 1]" : "Tensor[2, 3, 5] " + t
                    + " strides [15, 5, 1]", x.toString());
        }
    }

    @Test
    void convertsBetweenEveryPairOfDtypesThroughFloat() {
        try (Arena arena = Arena.ofConfined()) {
            float[] x = {0.1f, -3.14159f, 65519f, 1e-6f, 300.7f, -0f};
            Tensor f32 = Tensor.of(arena, x, 2, 3);
            for (Dtype from : Dtype.values()) {
                Tensor a = f32.to(arena, from);
                for (Dtype into : Dtype.values()) {
                    Tensor b = a.permute(1, 0).to(arena, into).permute(1, 0);
                    float[] got = b.toArray();
                    for (int i = 0; i < x.length; i++) {
                        // F16 to F32 is exact, so any chain rounds once per narrowing step, from a's values.
                        double want = HalfReference.rounded(a.toArray()[i], into);
                        assertEquals(want, got[i], from + " -> " + into + " element " + i);
                    }
                }
            }
        }
    }

    @Test
    void wrapsHalfPrecisionMemoryAlignedToTwoBytes() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(64, 4);
            seg.set(ValueLayout.JAVA_SHORT, 2, (short) 0x3C00); // binary16 1.0
            seg.set(ValueLayout.JAVA_SHORT, 6, (short) 0x4000); // bfloat16 2.0
            Tensor f16 = Tensor.wrap(seg.asSlice(2), Dtype.F16, new long[] {3}, new long[] {1});
            assertEquals(1f, f16.get(0));
            Tensor bf16 = Tensor.wrap(seg.asSlice(6), Dtype.BF16, new long[] {2}, new long[] {1});
            assertEquals(2f, bf16.get(0));
            IllegalArgumentException odd = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(seg.asSlice(1), Dtype.F16, new long[] {3}, new long[] {1}));
            assertTrue(odd.getMessage().contains("is not 2-byte aligned, as F16 data must be"), odd.getMessage());
            IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(seg.asSlice(60), Dtype.BF16, new long[] {3}, new long[] {1}));
            assertTrue(small.getMessage().contains("of BF16: needs 6 bytes"), small.getMessage());
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(
                    MemorySegment.ofArray(new byte[8]), Dtype.F16, new long[] {2}, new long[] {1})).getMessage()
                    .contains("F16 data needs 2-byte alignment"));
            assertEquals(1f, Tensor.wrap(MemorySegment.ofArray(new short[] {0x3C00}), Dtype.F16, new long[] {1},
                    new long[] {1}).get(0), "a short[] holds F16 elements");
        }
    }

    @Test
    void refusesANullDtype() {
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(arena, (Dtype) null, 2))
                    .getMessage().contains("dtype must not be null"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(arena, 2).to(arena, null))
                    .getMessage().contains("dtype must not be null"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> KvCache.allocate(arena, null, 1, 1, 2, 2))
                    .getMessage().contains("dtype must not be null"));
        }
    }
}
