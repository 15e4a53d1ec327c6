package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.panattn.Refusals.assertUntouched;
import static org.panattn.Refusals.closed;
import static org.panattn.Refusals.closedArena;
import static org.panattn.Refusals.expect;
import static org.panattn.Refusals.expectOnOtherThread;
import static org.panattn.Refusals.on;
import static org.panattn.Refusals.sentinel;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A KV cache refuses bad sizes, tokens and queries by name, and more tokens
 * than it can hold with nothing written (through a layer's forwardCached:
 * {@code org.panattn.layers.LayerValidationTest}).
 */
class KvCacheValidationTest {
    private static final Class<IllegalArgumentException> IAE = IllegalArgumentException.class;
    private static final Class<IllegalStateException> ISE = IllegalStateException.class;

    @Test
    void allocationNamesEachSize() {
        try (Arena arena = Arena.ofConfined()) {
            expect(IAE, "batch must be >= 0, got -1", () -> KvCache.allocate(arena, -1, 1, 4, 2));
            expect(IAE, "kvHeads must be >= 0, got -1", () -> KvCache.allocate(arena, 1, -1, 4, 2));
            expect(IAE, "maxLen must be >= 0, got -4", () -> KvCache.allocate(arena, 1, 1, -4, 2));
            expect(IAE, "headDim must be >= 0, got -2", () -> KvCache.allocate(arena, 1, 1, 4, -2));
            expect(IAE, "keyDim must be >= 0, got -2", () -> KvCache.allocate(arena, 1, 1, 4, -2, 3));
            expect(IAE, "valueDim must be >= 0, got -3", () -> KvCache.allocate(arena, 1, 1, 4, 2, -3));
            expect(IAE, "cache keys (batch, kvHeads, maxLen, keyDim) [1099511627776, 1099511627776, 4, 2]: "
                    + "element count overflows 64 bits", () -> KvCache.allocate(arena, 1L << 40, 1L << 40, 4, 2));
            expect(IAE, "arena must not be null", () -> KvCache.allocate(null, 1, 1, 4, 2));
            expect(ISE, "arena: it is closed", () -> KvCache.allocate(closedArena(), 1, 1, 4, 2));
            // Zero sizes are legal: a cache of capacity 0 takes zero tokens.
            KvCache empty = KvCache.allocate(arena, 1, 1, 0, 2);
            empty.append(Tensor.allocate(arena, 1, 1, 0, 2), Tensor.allocate(arena, 1, 1, 0, 2));
            assertEquals(0, empty.capacity());
            expect(ISE, "KV cache overflow: holds 0 of 0 tokens, cannot append 1",
                    () -> empty.append(Tensor.allocate(arena, 1, 1, 1, 2), Tensor.allocate(arena, 1, 1, 1, 2)));
        }
    }

    @Test
    void appendNamesBadTokensAndWritesNothingWhenRefused() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(1);
            KvCache cache = KvCache.allocate(arena, 2, 1, 4, 3, 2); // keys (2, 1, 4, 3), values (2, 1, 4, 2)
            cache.append(Reference.random(arena, rnd, 2, 1, 3, 3), Reference.random(arena, rnd, 2, 1, 3, 2));
            float[] keys = cache.keys().toArray(), values = cache.values().toArray();
            Tensor k = Reference.random(arena, rnd, 2, 1, 1, 3), v = Reference.random(arena, rnd, 2, 1, 1, 2);
            expect(IAE, "k must not be null", () -> cache.append(null, v));
            expect(IAE, "v must not be null", () -> cache.append(k, null));
            expect(IAE, "k: expected shape (B, Hkv, T, D) = (2, 1, T, 3), got (2, 1, 1, 2)", () -> cache.append(v, v));
            expect(IAE, "v: expected shape (B, Hkv, T, D) = (2, 1, T, 2), got (2, 1, 1, 3)", () -> cache.append(k, k));
            expect(IAE, "k: expected shape (B, Hkv, T, D) = (2, 1, T, 3), got (2, 1, 3)",
                    () -> cache.append(Tensor.allocate(arena, 2, 1, 3), v));
            expect(IAE, "v: expected shape (B, Hkv, T, D) = (2, 1, T, 2), got (1, 1, 1, 2)",
                    () -> cache.append(k, Tensor.allocate(arena, 1, 1, 1, 2)));
            expect(IAE, "v: has 2 tokens, k has 1", () -> cache.append(k, Tensor.allocate(arena, 2, 1, 2, 2)));
            expect(ISE, "k: its arena is closed", () -> cache.append(closed(2, 1, 1, 3), v));
            expect(ISE, "v: its arena is closed", () -> cache.append(k, closed(2, 1, 1, 2)));
            expect(ISE, "KV cache overflow: holds 3 of 4 tokens, cannot append 2", () -> cache.append(
                    Reference.random(arena, rnd, 2, 1, 2, 3), Reference.random(arena, rnd, 2, 1, 2, 2)));
            try (Arena shared = Arena.ofShared()) {
                KvCache sharedCache = KvCache.allocate(shared, 2, 1, 4, 3, 2);
                Tensor sharedV = v.contiguous(shared);
                expectOnOtherThread(ISE, "k: its arena is confined to another thread",
                        () -> sharedCache.append(k, sharedV));
                expectOnOtherThread(ISE, "cache: its arena is confined to another thread", () -> cache.append(
                        Tensor.allocate(shared, 2, 1, 1, 3), Tensor.allocate(shared, 2, 1, 1, 2)));
                assertEquals(0, sharedCache.length());
            }
            assertEquals(3, cache.length(), "refused appends added no token");
            assertArrayEquals(keys, cache.keys().toArray(), "refused appends wrote no key");
            assertArrayEquals(values, cache.values().toArray(), "refused appends wrote no value");
            Arena cacheArena = Arena.ofConfined();
            KvCache dead = KvCache.allocate(cacheArena, 2, 1, 4, 3, 2);
            cacheArena.close();
            expect(ISE, "cache: its arena is closed", () -> dead.append(k, v));
            expect(ISE, "cache: its arena is closed", dead::keys);
        }
    }

    @Test
    void perRowAppendsNameBadCountsAndWriteNothingWhenRefused() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(3);
            KvCache cache = KvCache.allocate(arena, 2, 1, 4, 3, 2);
            Tensor k = Reference.random(arena, rnd, 2, 1, 3, 3), v = Reference.random(arena, rnd, 2, 1, 3, 2);
            cache.append(k, v, new long[] {3, 1});
            assertArrayEquals(new long[] {3, 1}, cache.lengths());
            assertEquals(3, cache.length(0));
            assertEquals(1, cache.length(1));
            assertEquals(3, cache.keys().size(2), "the filled part reaches the longest row");
            float[] keys = cache.keys().toArray(), values = cache.values().toArray();
            expect(IAE, "counts must not be null", () -> cache.append(k, v, null));
            expect(IAE, "counts: expected B = 2 counts, one a batch row, got 3", () -> cache.append(k, v,
                    new long[] {1, 1, 1}));
            expect(IAE, "counts[1] = -1, expected 0 to T = 3", () -> cache.append(k, v, new long[] {0, -1}));
            expect(IAE, "counts[0] = 4, expected 0 to T = 3", () -> cache.append(k, v, new long[] {4, 0}));
            expect(IAE, "k: expected shape (B, Hkv, T, D) = (2, 1, T, 3), got (2, 1, 3, 2)",
                    () -> cache.append(v, v, new long[] {1, 1}));
            expect(ISE, "KV cache overflow: batch row 0 holds 3 of 4 tokens, cannot append 2",
                    () -> cache.append(k, v, new long[] {2, 2}));
            expect(ISE, "KV cache overflow: batch row 0 holds 3 of 4 tokens, cannot append 3",
                    () -> cache.append(k, v));
            expect(ISE, "the cache's batch rows hold different numbers of tokens, [3, 1]: use length(b) or lengths()",
                    cache::length);
            expect(IAE, "b = 2, expected a batch row, 0 to 1", () -> cache.length(2));
            expect(IAE, "b = -1, expected a batch row, 0 to 1", () -> cache.length(-1));
            assertArrayEquals(new long[] {3, 1}, cache.lengths(), "refused appends added no token");
            assertArrayEquals(keys, cache.keys().toArray(), "refused appends wrote no key");
            assertArrayEquals(values, cache.values().toArray(), "refused appends wrote no value");
            long[] copy = cache.lengths();
            copy[0] = 0;
            assertEquals(3, cache.length(0), "lengths() is a copy");
            cache.reset();
            assertArrayEquals(new long[] {0, 0}, cache.lengths());
            assertEquals(0, cache.length());
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void perRowAttendNamesBadQueriesAndSpecs(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(4);
            KvCache cache = KvCache.allocate(arena, 2, 1, 8, 3, 2);
            cache.append(Reference.random(arena, rnd, 2, 1, 3, 3), Reference.random(arena, rnd, 2, 1, 3, 2),
                    new long[] {3, 2});
            Tensor q = Reference.random(arena, rnd, 2, 2, 1, 3);
            Tensor out = sentinel(arena, 2, 2, 1, 2);
            AttentionSpec spec = on(backend);
            expect(IAE, "q: has 4 queries but the cache's longest batch row holds only 3 tokens",
                    () -> cache.attend(Tensor.allocate(arena, 2, 2, 4, 3), Tensor.allocate(arena, 2, 2, 4, 2), spec));
            expect(IAE, "spec: keyLengths must be unset: the cache attends each batch row over its own tokens",
                    () -> cache.attend(q, out, spec.toBuilder().keyLengths(3, 2).build()));
            expect(IAE, "weights: expected shape (B, H, Lq, Lk) = (2, 2, 1, 3), got (2, 2, 1, 8)", () -> cache.attend(
                    q, out, spec.toBuilder().weights(Tensor.allocate(arena, 2, 2, 1, 8)).build()));
            assertUntouched(out, backend.toString());
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void attendNamesBadQueriesAndWritesNothingWhenRefused(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(2);
            KvCache cache = KvCache.allocate(arena, 2, 2, 8, 4, 3);
            cache.append(Reference.random(arena, rnd, 2, 2, 3, 4), Reference.random(arena, rnd, 2, 2, 3, 3));
            Tensor q = Reference.random(arena, rnd, 2, 4, 2, 4);
            Tensor out = sentinel(arena, 2, 4, 2, 3);
            AttentionSpec spec = on(backend);
            expect(IAE, "spec must not be null", () -> cache.attend(q, out, null));
            expect(IAE, "q must not be null", () -> cache.attend(null, out, spec));
            expect(IAE, "out must not be null", () -> cache.attend(q, null, spec));
            expect(IAE, "q: expected shape (B, H, T, Dk) = (2, *, *, 4), got (2, 2, 4)",
                    () -> cache.attend(Tensor.allocate(arena, 2, 2, 4), out, spec));
            expect(IAE, "q: expected shape (B, H, T, Dk) = (2, *, *, 4), got (3, 4, 2, 4)",
                    () -> cache.attend(Tensor.allocate(arena, 3, 4, 2, 4), out, spec));
            expect(IAE, "q: expected shape (B, H, T, Dk) = (2, *, *, 4), got (2, 4, 2, 3)",
                    () -> cache.attend(Tensor.allocate(arena, 2, 4, 2, 3), out, spec));
            expect(IAE, "q: its 3 heads must be a multiple of the cache's 2 key/value heads",
                    () -> cache.attend(Tensor.allocate(arena, 2, 3, 2, 4), out, spec));
            expect(IAE, "q: has 4 queries but the cache holds only 3 tokens",
                    () -> cache.attend(Tensor.allocate(arena, 2, 4, 4, 4), out, spec));
            expect(IAE, "out: expected shape (B, H, Lq, Dv) = (2, 4, 2, 3), got (2, 4, 2, 4)",
                    () -> cache.attend(q, Tensor.allocate(arena, 2, 4, 2, 4), spec));
            expect(ISE, "q: its arena is closed", () -> cache.attend(closed(2, 4, 2, 4), out, spec));
            expect(IAE, "mask: last dimension must be Lk = 3, got shape (1, 1, 2, 8)", () -> cache.attend(q, out,
                    spec.toBuilder().mask(Mask.keep(arena, new boolean[16], 2, 8)).build()));
            expect(IAE, "weights: expected shape (B, H, Lq, Lk) = (2, 4, 2, 3), got (2, 4, 2, 8)", () -> cache.attend(
                    q, out, spec.toBuilder().weights(Tensor.allocate(arena, 2, 4, 2, 8)).build()));
            expectOnOtherThread(ISE, "cache: its arena is confined to another thread",
                    () -> cache.attend(q, out, spec));
            Arena cacheArena = Arena.ofConfined();
            KvCache dead = KvCache.allocate(cacheArena, 2, 2, 8, 4, 3);
            cacheArena.close();
            expect(ISE, "cache: its arena is closed", () -> dead.attend(q, out, spec));
            assertUntouched(out, backend.toString());
        }
    }
}
