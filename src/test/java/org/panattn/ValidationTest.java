package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.panattn.Refusals.expect;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Each bad argument gets an exception naming it and what was expected, on both backends; the JVM lives on. */
class ValidationTest {

    @ParameterizedTest
    @EnumSource(Backend.class)
    void badArgumentsAreNamed(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, 2, 4, 6, 8);
            Tensor k = Tensor.allocate(arena, 2, 2, 5, 8);
            Tensor v = Tensor.allocate(arena, 2, 2, 5, 3);
            Tensor out = Tensor.allocate(arena, 2, 4, 6, 3);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            expect(IllegalArgumentException.class, "q must not be null",
                    () -> Attention.scaledDotProduct(null, k, v, out, spec));
            expect(IllegalArgumentException.class, "k: expected shape|(2, *, *, 8)|got (2, 2, 5, 7)",
                    () -> Attention.scaledDotProduct(q, Tensor.allocate(arena, 2, 2, 5, 7), v, out, spec));
            expect(IllegalArgumentException.class, "v: expected shape|got (2, 2, 4, 3)",
                    () -> Attention.scaledDotProduct(q, k, Tensor.allocate(arena, 2, 2, 4, 3), out, spec));
            expect(IllegalArgumentException.class, "out: expected shape|(2, 4, 6, 3)",
                    () -> Attention.scaledDotProduct(q, k, v, Tensor.allocate(arena, 2, 4, 6, 4), spec));
            expect(IllegalArgumentException.class, "k: its 3 heads must divide q's 4 heads",
                    () -> Attention.scaledDotProduct(q, Tensor.allocate(arena, 2, 3, 5, 8),
                            Tensor.allocate(arena, 2, 3, 5, 3), out, spec));
            expect(IllegalArgumentException.class, "k: expected rank 4",
                    () -> Attention.scaledDotProduct(q, Tensor.allocate(arena, 2, 5, 8), v, out, spec));
            expect(IllegalArgumentException.class, "q: expected rank 4",
                    () -> Attention.scaledDotProduct(Tensor.allocate(arena, 6, 8), k, v, out, spec));
            expect(IllegalArgumentException.class, "q: the last dimension must be contiguous",
                    () -> Attention.scaledDotProduct(Tensor.allocate(arena, 2, 4, 8, 6).permute(0, 1, 3, 2), k, v,
                            out, spec));
            expect(IllegalArgumentException.class, "weights: expected shape|(2, 4, 6, 5)",
                    () -> Attention.scaledDotProduct(q, k, v, out,
                            spec.toBuilder().weights(Tensor.allocate(arena, 2, 4, 6, 6)).build()));
            expect(IllegalArgumentException.class, "mask: last dimension must be Lk = 5|(1, 1, 6, 4)",
                    () -> Attention.scaledDotProduct(q, k, v, out,
                            spec.toBuilder().mask(Mask.keep(arena, new boolean[24], 6, 4)).build()));
            expect(IllegalArgumentException.class, "mask: shape (3, 1, 6, 5)|B must be 1 or 2",
                    () -> Attention.scaledDotProduct(q, k, v, out,
                            spec.toBuilder().mask(Mask.keep(arena, new boolean[90], 3, 6, 5)).build()));
            expect(IllegalArgumentException.class, "keyPadding: shape (3, 1, 1, 5)|B must be 1 or 2",
                    () -> Attention.scaledDotProduct(q, k, v, out, spec.toBuilder()
                            .keyPadding(Mask.keyPadding(arena, new long[] {1, 2, 3}, 5)).build()));
            expect(IllegalArgumentException.class, "window 3 needs a causal rule",
                    () -> AttentionSpec.builder().window(3).build());
            expect(IllegalArgumentException.class, "keyLengths: expected B = 2 lengths, one a batch row, got 3",
                    () -> Attention.scaledDotProduct(q, k, v, out, spec.toBuilder().keyLengths(1, 2, 3).build()));
            expect(IllegalArgumentException.class, "keyLengths[1] = 6, expected 0 to Lk = 5",
                    () -> Attention.scaledDotProduct(q, k, v, out, spec.toBuilder().keyLengths(5, 6).build()));
            expect(IllegalArgumentException.class, "keyLengths: expected B = 2 lengths, one a batch row, got 1",
                    () -> Attention.attend(ScoreRule.dot(), q, k, v, out, spec.toBuilder().keyLengths(1).build()));
            // The failed calls above wrote nothing.
            for (float x : out.toArray()) {
                assertEquals(0f, x);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void closedAndForeignSegmentsAreRefused(Backend backend) throws Exception {
        AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
        Arena closed = Arena.ofConfined();
        Tensor dead = Tensor.allocate(closed, 1, 1, 2, 2);
        closed.close();
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, 1, 1, 2, 2);
            expect(IllegalStateException.class, "k: its arena is closed",
                    () -> Attention.scaledDotProduct(t, dead, t, t, spec));
            CompletableFuture<Throwable> other = CompletableFuture.supplyAsync(() -> {
                try {
                    Attention.scaledDotProduct(t, t, t, t, spec);
                    return null;
                } catch (Throwable e) {
                    return e;
                }
            });
            Throwable e = other.get();
            assertTrue(e instanceof IllegalStateException && e.getMessage().contains("q: its arena is confined"),
                    String.valueOf(e));
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void segmentsTooSmallOrOverflowingAreRefused(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = arena.allocate(4 * 15, 4);
            expect(IllegalArgumentException.class, "too small for shape [1, 1, 4, 4]",
                    () -> Tensor.wrap(small, 1, 1, 4, 4));
            expect(IllegalArgumentException.class, "overflows 64 bits",
                    () -> Tensor.allocate(arena, 1L << 40, 1L << 40));
            expect(IllegalArgumentException.class, "must be >= 0",
                    () -> Tensor.allocate(arena, 1, -2, 3, 4));
            expect(IllegalArgumentException.class, "not 4-byte aligned",
                    () -> Tensor.wrap(arena.allocate(64, 8).asSlice(2), 1, 1, 2, 2));
            expect(IllegalArgumentException.class, "scale must be finite",
                    () -> AttentionSpec.builder().scale(Float.NaN));
        }
    }

    @org.junit.jupiter.api.Test
    void heapSegmentsAreRefusedByTheNativeBackendOnly() {
        Tensor heap = Tensor.wrap(MemorySegment.ofArray(new float[16]), 1, 1, 4, 4);
        expect(IllegalArgumentException.class, "q: the native backend needs off-heap memory",
                () -> Attention.scaledDotProduct(heap, heap, heap, heap,
                        AttentionSpec.builder().backend(Backend.NATIVE).build()));
        Tensor heapOut = Tensor.wrap(MemorySegment.ofArray(new float[16]), 1, 1, 4, 4);
        Attention.scaledDotProduct(heap, heap, heap, heapOut, AttentionSpec.builder().backend(Backend.JAVA).build());
    }

    @org.junit.jupiter.api.Test
    void emptySizesAreLegal() {
        try (Arena arena = Arena.ofConfined()) {
            for (Backend backend : Backend.values()) {
                Tensor q = Reference.random(arena, new java.util.SplittableRandom(1), 1, 2, 3, 4);
                Tensor out = Attention.scaledDotProduct(q, Tensor.allocate(arena, 1, 2, 0, 4),
                        Tensor.allocate(arena, 1, 2, 0, 5), AttentionSpec.builder().backend(backend).build());
                assertEquals(30, out.toArray().length);
                for (float x : out.toArray()) {
                    assertEquals(0f, x, backend + ": Lk = 0 gives zeros");
                }
            }
        }
    }
}
