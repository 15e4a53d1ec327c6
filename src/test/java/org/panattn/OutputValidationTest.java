package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Outputs that would be written wrongly (read-only, elements sharing
 * memory, overlapping an input or each other) and the remaining argument
 * mistakes are refused on both backends by name, before anything is written.
 */
class OutputValidationTest {
    private static void expect(String words, Refusals.Call call) {
        Refusals.expect(IllegalArgumentException.class, words, call);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void outputsThatCannotHoldTheResultAreRefused(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(1);
            Tensor q = Reference.random(arena, rnd, 1, 2, 4, 3);
            Tensor k = Reference.random(arena, rnd, 1, 2, 5, 3);
            Tensor v = Reference.random(arena, rnd, 1, 2, 5, 3);
            Tensor out = Tensor.allocate(arena, 1, 2, 4, 3);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            float[] before = q.toArray();

            Tensor readOnly = Tensor.wrap(out.segment().asReadOnly(), 1, 2, 4, 3);
            expect("out: its segment is read-only", () -> Attention.scaledDotProduct(q, k, v, readOnly, spec));
            Tensor headsShareMemory = Tensor.wrap(out.segment(), new long[] {1, 2, 4, 3}, new long[] {24, 0, 3, 1});
            expect("out: elements share memory|stride 0",
                    () -> Attention.scaledDotProduct(q, k, v, headsShareMemory, spec));
            Tensor interleaved = Tensor.wrap(out.segment(), new long[] {1, 2, 4, 3}, new long[] {24, 3, 3, 1});
            expect("out: elements share memory", () -> Attention.scaledDotProduct(q, k, v, interleaved, spec));
            expect("out: shares memory with q", () -> Attention.scaledDotProduct(q, k, v, q, spec));
            expect("out: shares memory with v", () -> Attention.scaledDotProduct(q, k, v, Tensor.wrap(v.segment(),
                    1, 2, 4, 3), spec));
            Tensor w = Tensor.allocate(arena, 1, 2, 4, 5);
            MemorySegment both = arena.allocate(4L * (40 + 24), 4);
            Tensor outInBoth = Tensor.wrap(both, 1, 2, 4, 3);
            Tensor wInBoth = Tensor.wrap(both.asSlice(4L * 20), 1, 2, 4, 5);
            expect("weights: shares memory with out", () -> Attention.scaledDotProduct(q, k, v, outInBoth,
                    spec.toBuilder().weights(wInBoth).build()));
            Tensor additive = Tensor.allocate(arena, 1, 2, 4, 5);
            expect("weights: shares memory with mask", () -> Attention.scaledDotProduct(q, k, v, out,
                    spec.toBuilder().mask(Mask.additive(additive))
                            .weights(Tensor.wrap(additive.segment(), 1, 2, 4, 5)).build()));
            // Views of one buffer that do not overlap are fine: q, k, v fused, out apart.
            MemorySegment fused = arena.allocate(4L * 3 * 30, 4);
            Tensor fq = Tensor.wrap(fused, 1, 2, 4, 3);
            Tensor fk = Tensor.wrap(fused.asSlice(4L * 30), 1, 2, 5, 3);
            Tensor fv = Tensor.wrap(fused.asSlice(4L * 60), 1, 2, 5, 3);
            Attention.scaledDotProduct(fq, fk, fv, out, spec.toBuilder().weights(w).build());
            assertEquals(before.length, q.toArray().length);
            for (int i = 0; i < before.length; i++) {
                assertEquals(before[i], q.toArray()[i], "refused calls left q alone");
            }
        }
    }

    @Test
    void heapOutputsOverlappingHeapInputsAreRefusedToo() {
        float[] data = new float[64];
        Tensor q = Tensor.wrap(MemorySegment.ofArray(data), 1, 1, 4, 4);
        Tensor elsewhere = Tensor.wrap(MemorySegment.ofArray(new float[16]), 1, 1, 4, 4);
        AttentionSpec java = AttentionSpec.builder().backend(Backend.JAVA).build();
        expect("out: shares memory with q", () -> Attention.scaledDotProduct(q, q, q, Tensor.wrap(
                MemorySegment.ofArray(data).asSlice(8), 1, 1, 4, 4), java));
        // Apart from the inputs, in the same array or another one: fine.
        Attention.scaledDotProduct(q, q, q, Tensor.wrap(MemorySegment.ofArray(data).asSlice(128), 1, 1, 4, 4), java);
        Attention.scaledDotProduct(q, q, q, elsewhere, java);
        assertTrue(elsewhere.get(0, 0, 0, 0) == 0 && data[32] == 0, "q is zeros, so the outputs are zeros");
    }

    @ParameterizedTest
    @EnumSource(value = Backend.class, names = {"JAVA", "JAVA_VECTOR"})
    void anOutputOverAReadOnlyViewOfAnInputsArrayIsRefused(Backend backend) {
        float[] buf = new float[32];
        java.util.Arrays.fill(buf, 0.5f);
        Tensor q = Tensor.wrap(MemorySegment.ofArray(new float[16]), 1, 1, 4, 4);
        Tensor v = Tensor.wrap(MemorySegment.ofArray(buf).asReadOnly(), 1, 1, 4, 4); // heapBase() is empty
        Tensor out = Tensor.wrap(MemorySegment.ofArray(buf).asSlice(8), 1, 1, 4, 4);
        AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
        expect("out: shares memory with v", () -> Attention.scaledDotProduct(q, q, v, out, spec));
        expect("out: shares memory with k", () -> Attention.scaledDotProduct(q, v, q, out, spec));
        for (float x : buf) {
            assertEquals(0.5f, x, "the refused call wrote nothing");
        }
        // A read-only view of another array is no overlap.
        Attention.scaledDotProduct(q, q, Tensor.wrap(MemorySegment.ofArray(new float[16]).asReadOnly(), 1, 1, 4, 4),
                out, spec);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void emptyTensorsOfHugeSizesAreLegal(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            long huge = 1L << 62;
            Tensor q = Tensor.allocate(arena, huge, huge, 0, 4); // 0 elements: no overflow
            assertEquals(0, q.size());
            Tensor kv = Tensor.allocate(arena, huge, 1, 0, 4);
            Tensor out = Tensor.allocate(arena, huge, huge, 0, 4);
            Attention.scaledDotProduct(q, kv, kv, out, AttentionSpec.builder().backend(backend).build());
            expect("overflows 64 bits", () -> Tensor.allocate(arena, huge, huge, 1, 4));
        }
    }

    @Test
    void keyPaddingAndMaskBuildersCheckTheirSizes() {
        try (Arena arena = Arena.ofConfined()) {
            expect("lk must be >= 0", () -> Mask.keyPadding(arena, new long[] {1}, -3));
            expect("overflows 64 bits", () -> Mask.keyPadding(arena, new long[] {1, 2}, Long.MAX_VALUE));
            expect("more than 2^31 elements", () -> Mask.keyPadding(arena, new long[] {1, 2}, 1L << 31));
            expect("validLengths[0] = 5, expected 0..4", () -> Mask.keyPadding(arena, new long[] {5}, 4));
            expect("too small for shape", () -> Mask.keep(arena.allocate(11), 3, 4));
            expect("strides reach past 64-bit offsets", () -> Tensor.wrap(arena.allocate(64, 4),
                    new long[] {3, 2}, new long[] {Long.MAX_VALUE / 2, 1}));
            expect("must be >= 0", () -> Tensor.wrap(arena.allocate(64, 4), new long[] {2, 2}, new long[] {-2, 1}));
        }
    }
}
