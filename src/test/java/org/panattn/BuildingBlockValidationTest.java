package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.panattn.Refusals.closed;
import static org.panattn.Refusals.closedArena;
import static org.panattn.Refusals.expect;
import static org.panattn.Refusals.expectOnOtherThread;
import static org.panattn.Refusals.on;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The pieces the attention variants are built from (tensors, masks, spec
 * options, RoPE, the linear layer, ALiBi, T5 tables) refuse bad arguments by name, with what
 * was expected, before touching memory.
 */
class BuildingBlockValidationTest {
    private static final Class<IllegalArgumentException> IAE = IllegalArgumentException.class;
    private static final Class<IllegalStateException> ISE = IllegalStateException.class;

    @Test
    void tensorAllocationNamesItsArenaAndShape() {
        try (Arena arena = Arena.ofConfined()) {
            expect(IAE, "arena must not be null", () -> Tensor.allocate(null, 2, 3));
            expect(ISE, "arena: it is closed", () -> Tensor.allocate(closedArena(), 2, 3));
            expectOnOtherThread(ISE, "arena: it is confined to another thread", () -> Tensor.allocate(arena, 2, 3));
            expect(IAE, "shape must have 1 to 4 dimensions|null", () -> Tensor.allocate(arena, (long[]) null));
            expect(IAE, "shape must have 1 to 4 dimensions|[]", () -> Tensor.allocate(arena));
            expect(IAE, "shape must have 1 to 4 dimensions|[1, 1, 1, 1, 1]", () -> Tensor.allocate(arena, 1, 1, 1, 1, 1));
            expect(IAE, "shape must be >= 0 in every dimension|[2, -1]", () -> Tensor.allocate(arena, 2, -1));
            expect(IAE, "shape [4294967296, 4294967296]: element count overflows 64 bits",
                    () -> Tensor.allocate(arena, 1L << 32, 1L << 32));
            expect(IAE, "shape [4611686018427387904]: byte size overflows 64 bits",
                    () -> Tensor.allocate(arena, 1L << 62));
            expect(IAE, "values must not be null", () -> Tensor.of(arena, null, 2));
            expect(IAE, "values has 3 elements|needs 4", () -> Tensor.of(arena, new float[3], 2, 2));
        }
    }

    @Test
    void wrappedSegmentsMustHoldTheirShapeAndStrides() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(64, 4); // 16 floats
            expect(IAE, "segment must not be null", () -> Tensor.wrap(null, 2, 2));
            expect(ISE, "segment's arena is closed", () -> Tensor.wrap(closed(4).segment(), 4));
            expect(IAE, "too small for shape [3, 6]|needs 72 bytes", () -> Tensor.wrap(seg, 3, 6));
            expect(IAE, "too small for shape [2, 2]|strides [16, 1]", () -> Tensor.wrap(seg, new long[] {2, 2},
                    new long[] {16, 1}));
            // The message itself must not overflow when the shape needs more than 2^63 bytes.
            expect(IAE, "too small for shape [4611686018427387904]|needs more than 2^63 bytes",
                    () -> Tensor.wrap(seg, 1L << 62));
            expect(IAE, "shape [4294967296, 4294967296]: element count overflows 64 bits",
                    () -> Tensor.wrap(seg, new long[] {1L << 32, 1L << 32}, new long[] {0, 0}));
            expect(IAE, "strides must have one entry per dimension (2)|null", () -> Tensor.wrap(seg, new long[] {2, 2},
                    null));
            expect(IAE, "strides must have one entry per dimension (2)|[1]", () -> Tensor.wrap(seg, new long[] {2, 2},
                    new long[] {1}));
            expect(IAE, "strides must be >= 0|[-2, 1]", () -> Tensor.wrap(seg, new long[] {2, 2}, new long[] {-2, 1}));
            expect(IAE, "not 4-byte aligned", () -> Tensor.wrap(seg.asSlice(1), 2));
            expect(IAE, "segment: float32 data needs 4-byte alignment|guarantees 1",
                    () -> Tensor.wrap(MemorySegment.ofArray(new byte[64]), 4, 4));
            assertArrayEquals(new long[] {4, 4}, Tensor.wrap(MemorySegment.ofArray(new float[16]), 4, 4).shape());
        }
    }

    @Test
    void viewsNameWhatTheyExpected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, 2, 3, 4);
            expect(IAE, "permute needs 3 dimensions|null", () -> t.permute((int[]) null));
            expect(IAE, "permute needs 3 dimensions|[1, 0]", () -> t.permute(1, 0));
            expect(IAE, "[0, 0, 1] is not a permutation of 0..2", () -> t.permute(0, 0, 1));
            expect(IAE, "[0, 3, 1] is not a permutation of 0..2", () -> t.permute(0, 3, 1));
            expect(IAE, "cannot insert dimension 4 into shape [2, 3, 4]", () -> t.unsqueeze(4));
            expect(IAE, "cannot insert dimension -1", () -> t.unsqueeze(-1));
            expect(IAE, "cannot insert dimension 0 into shape [1, 2, 3, 4]", () -> t.unsqueeze(0).unsqueeze(0));
            expect(IAE, "index [1, 1] has 2 dimensions, tensor has 3", () -> t.get(1, 1));
            expect(IndexOutOfBoundsException.class, "index [1, 3, 0] outside shape [2, 3, 4]", () -> t.get(1, 3, 0));
            expect(IAE, "values must have 24 elements, got 23", () -> t.copyFrom(new float[23]));
            expect(IAE, "values must have 24 elements, got null", () -> t.copyFrom(null));
        }
    }

    @Test
    void maskFactoriesCheckTheirShapeAndStorage() {
        try (Arena arena = Arena.ofConfined()) {
            expect(IAE, "arena must not be null", () -> Mask.keep((Arena) null, new boolean[4], 2, 2));
            expect(IAE, "values must not be null", () -> Mask.keep(arena, null, 2, 2));
            expect(ISE, "arena: it is closed", () -> Mask.keep(closedArena(), new boolean[4], 2, 2));
            expectOnOtherThread(ISE, "arena: it is confined to another thread",
                    () -> Mask.keep(arena, new boolean[4], 2, 2));
            expect(IAE, "mask shape must be (Lq, Lk), (B, Lq, Lk) or (B, H, Lq, Lk), got [4]",
                    () -> Mask.keep(arena, new boolean[4], 4));
            expect(IAE, "mask shape must be (Lq, Lk)|[1, 1, 1, 2, 2]", () -> Mask.keep(arena, new boolean[4], 1, 1, 1, 2, 2));
            expect(IAE, "mask shape must be >= 0|[-2, 2]", () -> Mask.keep(arena, new boolean[4], -2, 2));
            expect(IAE, "values has 4 elements, mask shape [2, 3] needs 6", () -> Mask.keep(arena, new boolean[4], 2, 3));
            expect(IAE, "mask shape: element count overflows 64 bits",
                    () -> Mask.keep(arena, new boolean[4], 1L << 32, 1L << 32));
            expect(IAE, "bytes must not be null", () -> Mask.keep((MemorySegment) null, 2, 2));
            expect(IAE, "mask segment of 5 bytes is too small for shape [2, 3]: needs 6",
                    () -> Mask.keep(arena.allocate(5), 2, 3));
            expect(IAE, "values must not be null", () -> Mask.additive(null));
            expect(IAE, "mask shape must be (Lq, Lk)|got [4]", () -> Mask.additive(Tensor.allocate(arena, 4)));
            expect(IAE, "additive mask: last dimension must be contiguous (stride 1)",
                    () -> Mask.additive(Tensor.allocate(arena, 3, 2).permute(1, 0)));
            expect(IAE, "validLengths must not be null", () -> Mask.keyPadding(arena, null, 4));
            expect(IAE, "lk must be >= 0, got -1", () -> Mask.keyPadding(arena, new long[] {1}, -1));
            expect(IAE, "validLengths[1] = -1, expected 0..4", () -> Mask.keyPadding(arena, new long[] {1, -1}, 4));
            expect(ISE, "arena: it is closed", () -> Mask.keyPadding(closedArena(), new long[] {1}, 4));
        }
    }

    @Test
    void specBuilderRefusesBadOptionsAsTheyAreSet() {
        AttentionSpec.Builder b = AttentionSpec.builder();
        expect(IAE, "causal must not be null (use Causal.NONE)", () -> b.causal(null));
        expect(IAE, "window must be >= 0, got -1", () -> b.window(-1));
        for (float bad : new float[] {-1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            expect(IAE, "softcap must be finite and >= 0, got " + bad, () -> b.softcap(bad));
        }
        for (float bad : new float[] {0f, Float.NaN, Float.NEGATIVE_INFINITY}) {
            expect(IAE, "scale must be finite and nonzero, got " + bad, () -> b.scale(bad));
        }
        expect(IAE, "window 4 needs a causal rule", () -> AttentionSpec.builder().window(4).build());
        expect(IAE, "window: left = -2: an extent must be >= 0, or AttentionSpec.UNBOUNDED (-1)", () -> b.window(-2, 0));
        expect(IAE, "window: right = -7: an extent must be >= 0, or AttentionSpec.UNBOUNDED (-1)", () -> b.window(0, -7));
        expect(IAE, "keyLengths[1] = -1 must be >= 0", () -> b.keyLengths(3, -1));
        // The refused settings left the builder's defaults.
        AttentionSpec spec = b.build();
        assertEquals(Causal.NONE, spec.causal());
        assertEquals(0, spec.window());
        assertEquals(AttentionSpec.UNBOUNDED, spec.windowLeft());
        assertEquals(AttentionSpec.UNBOUNDED, spec.windowRight());
        assertEquals(null, spec.keyLengths());
        assertEquals(0f, spec.softcap());
        assertEquals(Float.NaN, spec.scale());
    }

    /** The two forms of a window replace each other, and a two-sided one needs no causal rule. */
    @Test
    void specWindowsAndKeyLengthsReadBackAsSet() {
        AttentionSpec oneSided = AttentionSpec.builder().causal(Causal.TOP_LEFT).window(5).build();
        assertEquals(5, oneSided.window());
        assertEquals(4, oneSided.windowLeft());
        assertEquals(0, oneSided.windowRight());
        AttentionSpec twoSided = oneSided.toBuilder().causal(Causal.NONE).window(2, AttentionSpec.UNBOUNDED).build();
        assertEquals(0, twoSided.window());
        assertEquals(2, twoSided.windowLeft());
        assertEquals(AttentionSpec.UNBOUNDED, twoSided.windowRight());
        AttentionSpec back = twoSided.toBuilder().causal(Causal.BOTTOM_RIGHT).window(3).build();
        assertEquals(2, back.windowLeft());
        assertEquals(0, back.windowRight());
        long[] lengths = {4, 0, 9};
        AttentionSpec ragged = AttentionSpec.builder().keyLengths(lengths).build();
        lengths[0] = 1;
        assertArrayEquals(new long[] {4, 0, 9}, ragged.keyLengths(), "the builder copies the lengths");
        ragged.keyLengths()[1] = 5;
        assertArrayEquals(new long[] {4, 0, 9}, ragged.keyLengths(), "the getter hands out a copy");
        assertEquals(null, ragged.toBuilder().keyLengths((long[]) null).build().keyLengths());
    }

    /** Options that are tensors are checked when a call uses them: shape, arena, thread, heap memory. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void specTensorsAreCheckedByTheCallThatUsesThem(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(3);
            Tensor q = Reference.random(arena, rnd, 1, 4, 3, 8);
            Tensor kv = Reference.random(arena, rnd, 1, 4, 5, 8);
            Tensor out = Refusals.sentinel(arena, 1, 4, 3, 8);
            AttentionSpec spec = on(backend);
            expect(IAE, "alibiSlopes: expected shape (H) = (4), got (3)", () -> Attention.scaledDotProduct(q, kv, kv,
                    out, spec.toBuilder().alibi(Alibi.slopes(arena, 3)).build()));
            expect(IAE, "alibiSlopes: expected shape (H) = (4), got (1, 4)", () -> Attention.scaledDotProduct(q, kv,
                    kv, out, spec.toBuilder().alibi(Alibi.slopes(arena, 4).unsqueeze(0)).build()));
            expect(ISE, "alibiSlopes: its arena is closed", () -> Attention.scaledDotProduct(q, kv, kv, out,
                    spec.toBuilder().alibi(closed(4)).build()));
            expect(IAE, "relativeBias.table: expected shape (numBuckets, H = 4), got (8, 2)",
                    () -> Attention.scaledDotProduct(q, kv, kv, out, spec.toBuilder()
                            .relativeBias(new RelativePositionBias(Tensor.allocate(arena, 8, 2), true, 16)).build()));
            expect(ISE, "relativeBias.table: its arena is closed", () -> Attention.scaledDotProduct(q, kv, kv, out,
                    spec.toBuilder().relativeBias(new RelativePositionBias(closed(8, 4), true, 16)).build()));
            expect(IAE, "weights: expected rank 4, got shape (3, 5)", () -> Attention.scaledDotProduct(q, kv, kv, out,
                    spec.toBuilder().weights(Tensor.allocate(arena, 3, 5)).build()));
            expect(IAE, "mask: last dimension must be Lk = 5|(1, 1, 3, 4)", () -> Attention.scaledDotProduct(q, kv,
                    kv, out, spec.toBuilder().mask(Mask.additive(Tensor.allocate(arena, 3, 4))).build()));
            expect(ISE, "mask: its arena is closed", () -> Attention.scaledDotProduct(q, kv, kv, out,
                    spec.toBuilder().mask(Mask.additive(closed(3, 5))).build()));
            expect(IAE, "keyPadding: last dimension must be Lk = 5|(1, 1, 1, 6)", () -> Attention.scaledDotProduct(q,
                    kv, kv, out, spec.toBuilder().keyPadding(Mask.keyPadding(arena, new long[] {2}, 6)).build()));
            Tensor slopes = Alibi.slopes(arena, 4);
            expectOnOtherThread(ISE, "alibiSlopes: its arena is confined to another thread", () -> {
                try (Arena shared = Arena.ofShared()) {
                    Tensor sq = Tensor.allocate(shared, 1, 4, 3, 8), skv = Tensor.allocate(shared, 1, 4, 5, 8);
                    Attention.scaledDotProduct(sq, skv, skv, Tensor.allocate(shared, 1, 4, 3, 8),
                            spec.toBuilder().alibi(slopes).build());
                }
            });
            if (backend == Backend.NATIVE) {
                Tensor heapSlopes = Tensor.wrap(MemorySegment.ofArray(Alibi.slopes(4)), 4);
                expect(IAE, "alibiSlopes: the native backend needs off-heap memory", () -> Attention.scaledDotProduct(
                        q, kv, kv, out, spec.toBuilder().alibi(heapSlopes).build()));
            }
            Refusals.assertUntouched(out, backend.toString());
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void ropeRefusesWhatItCannotRotateInPlace(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Reference.random(arena, new SplittableRandom(4), 2, 3, 5, 8);
            float[] before = x.toArray();
            Rope.Layout half = Rope.Layout.HALF;
            expect(IAE, "x must not be null", () -> Rope.apply(null, 0, 10000f, half, backend));
            expect(IAE, "layout must not be null", () -> Rope.apply(x, 0, 10000f, null, backend));
            expect(IAE, "backend must not be null", () -> Rope.apply(x, 0, 10000f, half, null));
            expect(IAE, "x: expected rank 4 (B, H, L, D) or rank 3 (B, L, D), got shape (5, 8)",
                    () -> Rope.apply(Tensor.allocate(arena, 5, 8), 0, 10000f, half, backend));
            expect(IAE, "x: last dimension must be even, got shape (2, 5, 7)",
                    () -> Rope.apply(Tensor.allocate(arena, 2, 5, 7), 0, 10000f, half, backend));
            expect(IAE, "x: the last dimension must be contiguous", () -> Rope.apply(x.permute(0, 1, 3, 2), 0, 10000f,
                    half, backend));
            expect(IAE, "base must be finite and > 1, got 1.0", () -> Rope.apply(x, 0, 1f, half, backend));
            expect(IAE, "base must be finite and > 1, got NaN", () -> Rope.apply(x, 0, Float.NaN, half, backend));
            expect(IAE, "position must be >= 0, got -1", () -> Rope.apply(x, -1, 10000f, half, backend));
            expect(IAE, "position: 9223372036854775804 + L - 1 (L = 5) overflows 64 bits",
                    () -> Rope.apply(x, Long.MAX_VALUE - 3, 10000f, half, backend));
            expect(IAE, "x: its segment is read-only", () -> Rope.apply(Tensor.wrap(x.segment().asReadOnly(),
                    x.shape()), 0, 10000f, half, backend));
            expect(IAE, "x: elements share memory", () -> Rope.apply(Tensor.wrap(x.segment(), new long[] {2, 3, 5, 8},
                    new long[] {0, 40, 8, 1}), 0, 10000f, half, backend));
            expect(ISE, "x: its arena is closed", () -> Rope.apply(closed(1, 2, 4), 0, 10000f, half, backend));
            expectOnOtherThread(ISE, "x: its arena is confined to another thread",
                    () -> Rope.apply(x, 0, 10000f, half, backend));
            if (backend == Backend.NATIVE) {
                expect(IAE, "x: the native backend needs off-heap memory", () -> Rope.apply(
                        Tensor.wrap(MemorySegment.ofArray(new float[16]), 1, 2, 8), 0, 10000f, half, backend));
            }
            assertArrayEquals(before, x.toArray(), "refused calls left x as it was");
            Rope.apply(x, Long.MAX_VALUE - 4, 10000f, half, backend); // the last row at Long.MAX_VALUE is legal
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void linearNamesEachBadArgument(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(5);
            Tensor x = Reference.random(arena, rnd, 2, 3, 4), w = Reference.random(arena, rnd, 5, 4);
            Tensor bias = Reference.random(arena, rnd, 5);
            Tensor y = Refusals.sentinel(arena, 2, 3, 5);
            expect(IAE, "x must not be null", () -> Attention.linear(null, w, bias, y, backend));
            expect(IAE, "w must not be null", () -> Attention.linear(x, null, bias, y, backend));
            expect(IAE, "y must not be null", () -> Attention.linear(x, w, bias, null, backend));
            expect(IAE, "w: expected shape (N, K) = (*, 4), got (5, 3)",
                    () -> Attention.linear(x, Tensor.allocate(arena, 5, 3), bias, y, backend));
            expect(IAE, "w: expected shape (N, K) = (*, 4), got (1, 5, 4)",
                    () -> Attention.linear(x, w.unsqueeze(0), bias, y, backend));
            expect(IAE, "bias: expected shape (N) = (5), got (4)",
                    () -> Attention.linear(x, w, Tensor.allocate(arena, 4), y, backend));
            expect(IAE, "bias: expected a contiguous vector (stride 1), got strides (2)", () -> Attention.linear(x, w,
                    Tensor.wrap(arena.allocate(40, 4), new long[] {5}, new long[] {2}), y, backend));
            expect(IAE, "y: expected shape (..., N) = (2, 3, 5), like x with N = 5 last, got (2, 3, 4)",
                    () -> Attention.linear(x, w, bias, Tensor.allocate(arena, 2, 3, 4), backend));
            expect(IAE, "y: expected shape (..., N) = (2, 3, 5), like x with N = 5 last, got (6, 5)",
                    () -> Attention.linear(x, w, bias, Tensor.allocate(arena, 6, 5), backend));
            expect(IAE, "x: the last dimension must be contiguous",
                    () -> Attention.linear(Tensor.allocate(arena, 2, 4, 3).permute(0, 2, 1), w, bias, y, backend));
            expect(IAE, "w: the last dimension must be contiguous",
                    () -> Attention.linear(x, Tensor.allocate(arena, 4, 5).permute(1, 0), bias, y, backend));
            expect(IAE, "y: the last dimension must be contiguous", () -> Attention.linear(x, w, bias,
                    Tensor.allocate(arena, 2, 5, 3).permute(0, 2, 1), backend));
            expect(IAE, "y: its segment is read-only", () -> Attention.linear(x, w, bias,
                    Tensor.wrap(y.segment().asReadOnly(), y.shape()), backend));
            expect(IAE, "y: elements share memory", () -> Attention.linear(x, w, bias,
                    Tensor.wrap(y.segment(), new long[] {2, 3, 5}, new long[] {0, 5, 1}), backend));
            Tensor xy = Reference.random(arena, rnd, 2, 3, 9); // x in columns 0..3, y in 4..8: y overlaps x's rows
            expect(IAE, "y: shares memory with x", () -> Attention.linear(
                    Tensor.wrap(xy.segment(), new long[] {2, 3, 4}, new long[] {27, 9, 1}), w, bias,
                    Tensor.wrap(xy.segment().asSlice(16), new long[] {2, 3, 5}, new long[] {27, 9, 1}), backend));
            expect(IAE, "y: shares memory with w", () -> Attention.linear(Reference.random(arena, rnd, 4, 4),
                    Tensor.wrap(w.segment(), 5, 4), null, Tensor.wrap(w.segment(), 4, 5), backend));
            expect(IAE, "y: shares memory with bias", () -> Attention.linear(Reference.random(arena, rnd, 1, 4), w,
                    bias, Tensor.wrap(bias.segment(), 1, 5), backend));
            expect(ISE, "x: its arena is closed", () -> Attention.linear(closed(2, 3, 4), w, bias, y, backend));
            expect(ISE, "bias: its arena is closed", () -> Attention.linear(x, w, closed(5), y, backend));
            expect(ISE, "y: its arena is closed", () -> Attention.linear(x, w, bias, closed(2, 3, 5), backend));
            expectOnOtherThread(ISE, "x: its arena is confined to another thread",
                    () -> Attention.linear(x, w, bias, y, backend));
            if (backend == Backend.NATIVE) {
                expect(IAE, "w: the native backend needs off-heap memory", () -> Attention.linear(x,
                        Tensor.wrap(MemorySegment.ofArray(w.toArray()), 5, 4), bias, y, backend));
            }
            Refusals.assertUntouched(y, backend.toString());
        }
    }

    @Test
    void alibiAndRelativeBiasCheckTheirSizes() {
        expect(IAE, "heads must be > 0, got 0", () -> Alibi.slopes(0));
        expect(IAE, "heads must be > 0, got -3", () -> Alibi.slopes(-3));
        expect(IAE, "arena must not be null", () -> Alibi.slopes(null, 4));
        expect(ISE, "arena: it is closed", () -> Alibi.slopes(closedArena(), 4));
        try (Arena arena = Arena.ofConfined()) {
            expect(IAE, "table: expected shape (numBuckets >= 2, H), got null",
                    () -> new RelativePositionBias(null, true, 16));
            expect(IAE, "table: expected shape (numBuckets >= 2, H), got (8)",
                    () -> new RelativePositionBias(Tensor.allocate(arena, 8), true, 16));
            expect(IAE, "table: expected shape (numBuckets >= 2, H), got (1, 4)",
                    () -> new RelativePositionBias(Tensor.allocate(arena, 1, 4), true, 16));
            expect(IAE, "maxDistance must be >= 2, got 1",
                    () -> new RelativePositionBias(Tensor.allocate(arena, 8, 4), true, 1));
        }
    }
}
