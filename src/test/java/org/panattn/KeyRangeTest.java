package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The keys a query sees: two-sided windows ({@code window(left, right)},
 * with and without a causal rule) and per-row key lengths
 * ({@code keyLengths}), on every backend and native ISA level, against the
 * float64 reference and against what they promise: a one-sided window is
 * a two-sided one, a row with key length n is the same call on its first n
 * keys, and keys hidden from every row are never read.
 */
class KeyRangeTest {
    private static final double TOLERANCE = 1e-5;
    private static final long U = AttentionSpec.UNBOUNDED;

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    /** One edge case: sizes, causal rule, the keys it sees, and what else the call has. */
    record Case(String name, int b, int h, int hkv, int lq, int lk, int d, Causal causal, Reference.Keys keys,
                boolean mask, boolean weights, boolean alibi) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Reference.Keys window(long left, long right) {
        return Reference.Keys.extents(left, right);
    }

    static Stream<Case> cases() {
        Reference.Keys all = Reference.Keys.ALL;
        return Stream.of(
                new Case("window (0, 0): each query sees its own key", 1, 2, 2, 9, 9, 5, Causal.NONE, window(0, 0),
                        false, true, false),
                new Case("bidirectional window (2, 3), GQA", 2, 4, 2, 37, 37, 7, Causal.NONE, window(2, 3), false,
                        true, false),
                new Case("right extent past Lk", 1, 1, 1, 11, 7, 3, Causal.NONE, window(3, 1000), false, true, false),
                new Case("left unbounded", 2, 1, 1, 13, 13, 4, Causal.NONE, window(U, 2), false, false, false),
                new Case("right unbounded, Lq < Lk", 1, 2, 1, 5, 19, 4, Causal.NONE, window(4, U), false, true, false),
                new Case("both unbounded is no window", 1, 1, 1, 6, 8, 3, Causal.NONE, window(U, U), false, true,
                        false),
                new Case("window (3, 5) with top-left causal", 1, 2, 2, 21, 21, 6, Causal.TOP_LEFT, window(3, 5), false,
                        true, false),
                new Case("window (3, 0), bottom-right causal, Lq < Lk", 2, 2, 1, 5, 40, 8, Causal.BOTTOM_RIGHT,
                        window(3, 0), false, true, false),
                new Case("window with a keep-mask and ALiBi", 2, 3, 3, 17, 23, 5, Causal.NONE, window(4, 2), true, true,
                        true),
                new Case("window over several query tiles and key blocks", 1, 1, 1, 150, 700, 8, Causal.NONE,
                        window(40, 9), false, false, false),
                new Case("key lengths with a row of 0", 3, 2, 2, 6, 13, 5, Causal.NONE, all.withLengths(0, 7, 13),
                        false, true, false),
                new Case("key lengths, bottom-right: each row aligned to its own length", 3, 2, 1, 3, 10,
                        4, Causal.BOTTOM_RIGHT, all.withLengths(3, 10, 6), false, true, false),
                new Case("key lengths shorter than Lq, bottom-right", 2, 1, 1, 5, 9, 4, Causal.BOTTOM_RIGHT,
                        all.withLengths(2, 0), false, true, false),
                new Case("key lengths, top-left causal", 2, 2, 2, 8, 8, 6, Causal.TOP_LEFT, all.withLengths(5, 8), false,
                        true, false),
                new Case("key lengths with a mask, GQA and ALiBi", 2, 4, 2, 7, 12, 5, Causal.BOTTOM_RIGHT,
                        all.withLengths(12, 4), true, true, true),
                new Case("key lengths and a window, bottom-right", 3, 2, 2, 4, 30, 5, Causal.BOTTOM_RIGHT,
                        window(5, U).withLengths(30, 11, 1), false, true, false),
                new Case("key lengths and a one-sided window", 2, 2, 2, 4, 30, 5, Causal.BOTTOM_RIGHT,
                        Reference.Keys.window(6).withLengths(17, 29), false, false, false),
                new Case("key lengths, decoding Lq = 1 over keys split among threads", 3, 8, 2, 1, 2100, 16,
                        Causal.BOTTOM_RIGHT, all.withLengths(2100, 1031, 0), false, false, false),
                new Case("key lengths, several query tiles and key blocks", 2, 1, 1, 90, 600, 8, Causal.BOTTOM_RIGHT,
                        window(70, 0).withLengths(600, 333), false, false, false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyTargetMatchesTheFloat64Reference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.name.hashCode());
            Tensor q = Reference.random(arena, rnd, c.b, c.h, c.lq, c.d);
            Tensor k = Reference.random(arena, rnd, c.b, c.hkv, c.lk, c.d);
            Tensor v = Reference.random(arena, rnd, c.b, c.hkv, c.lk, c.d);
            Mask mask = c.mask ? Mask.keep(arena, keep(rnd, c.b * c.lq * c.lk), c.b, c.lq, c.lk) : null;
            AttentionSpec.Builder spec = SdpaPropertyTest.withKeys(AttentionSpec.builder().causal(c.causal).mask(mask),
                    c.keys);
            double[] slopes = null;
            if (c.alibi) {
                spec.alibi(Alibi.slopes(arena, c.h));
                slopes = Reference.toDouble(Alibi.slopes(c.h));
            }
            Reference.Result ref = Reference.sdpa(q, k, v, mask, null, c.causal, c.keys, 1 / Math.sqrt(c.d),
                    new Reference.Pos(0, slopes, null, true, 128));
            for (Target t : Target.all()) {
                Tensor out = Tensor.allocate(arena, c.b, c.h, c.lq, c.d);
                Tensor w = c.weights ? Tensor.allocate(arena, c.b, c.h, c.lq, c.lk) : null;
                Attention.scaledDotProduct(q, k, v, out, spec.weights(w).backend(t.select()).build());
                double err = Reference.relativeError(out.toArray(), ref.out());
                assertTrue(err < TOLERANCE, t + ": output relative error " + err);
                if (w != null) {
                    double werr = Reference.relativeError(w.toArray(), ref.weights());
                    assertTrue(werr < TOLERANCE, t + ": weights relative error " + werr);
                }
            }
        }
    }

    private static boolean[] keep(SplittableRandom rnd, int n) {
        boolean[] keep = new boolean[n];
        for (int i = 0; i < n; i++) {
            keep[i] = rnd.nextInt(10) < 7;
        }
        return keep;
    }

    /** window(w) is window(w - 1, 0) and window(w - 1, UNBOUNDED) under its causal rule: the same keys, the same bits. */
    @Test
    void oneSidedWindowIsTheTwoSidedWithRightExtentZero() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(5);
            Tensor q = Reference.random(arena, rnd, 2, 2, 70, 8);
            Tensor k = Reference.random(arena, rnd, 2, 2, 90, 8);
            Tensor v = Reference.random(arena, rnd, 2, 2, 90, 8);
            for (Target t : Target.all()) {
                for (Causal causal : new Causal[] {Causal.TOP_LEFT, Causal.BOTTOM_RIGHT}) {
                    for (long w : new long[] {1, 2, 34, 100}) {
                        AttentionSpec.Builder spec = AttentionSpec.builder().causal(causal).backend(t.select());
                        float[] one = Attention.scaledDotProduct(q, k, v, spec.window(w).build()).toArray();
                        for (long right : new long[] {0, U, 5}) {
                            float[] two = Attention.scaledDotProduct(q, k, v, spec.window(w - 1, right).build()).toArray();
                            assertSame(t, one, two, t + " " + causal + ": window(" + w + ") vs window(" + (w - 1)
                                    + ", " + right + ")");
                        }
                    }
                }
            }
        }
    }

    /**
     * Batch row b with key length n computes what the same call on its own
     * first n keys computes: causal alignment, window and ALiBi included.
     */
    @Test
    void aRowWithKeyLengthNIsTheCallOnItsFirstNKeys() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(8);
            int b = 3, h = 4, hkv = 2, lq = 6, lk = 23, d = 5;
            long[] lengths = {23, 9, 1};
            Tensor q = Reference.random(arena, rnd, b, h, lq, d);
            Tensor k = Reference.random(arena, rnd, b, hkv, lk, d);
            Tensor v = Reference.random(arena, rnd, b, hkv, lk, d);
            for (Target t : Target.all()) {
                for (Causal causal : Causal.values()) {
                    AttentionSpec.Builder spec = AttentionSpec.builder().causal(causal).window(4, 1)
                            .alibi(Alibi.slopes(arena, h)).backend(t.select());
                    Tensor out = Tensor.allocate(arena, b, h, lq, d);
                    Tensor w = Tensor.allocate(arena, b, h, lq, lk);
                    Attention.scaledDotProduct(q, k, v, out, spec.keyLengths(lengths).weights(w).build());
                    for (int row = 0; row < b; row++) {
                        long n = lengths[row];
                        Tensor alone = Tensor.allocate(arena, 1, h, lq, d);
                        Tensor aloneW = Tensor.allocate(arena, 1, h, lq, n);
                        Attention.scaledDotProduct(slice(q, row, lq), slice(k, row, n), slice(v, row, n), alone,
                                spec.keyLengths((long[]) null).weights(aloneW).build());
                        String what = t + " " + causal + " row " + row;
                        assertClose(alone.toArray(), slice(out, row, lq).toArray(), what + " output");
                        Tensor rowW = Tensor.wrap(slice(w, row, lq).segment(), new long[] {1, h, lq, n}, w.strides());
                        assertClose(aloneW.toArray(), rowW.toArray(), what + " weights");
                        for (int hi = 0; hi < h; hi++) {
                            for (int i = 0; i < lq; i++) {
                                for (long j = n; j < lk; j++) {
                                    assertTrue(w.get(row, hi, i, j) == 0f, what + ": weight of key " + j + " beyond the length");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** Batch row {@code row} of t (B, H, L, D) with its first {@code n} positions, as a view. */
    static Tensor slice(Tensor t, long row, long n) {
        long[] shape = t.shape();
        shape[0] = 1;
        shape[2] = n;
        return Tensor.wrap(t.segment().asSlice(row * t.strides()[0] * Float.BYTES), shape, t.strides());
    }

    private static void assertClose(float[] want, float[] got, String what) {
        double err = Reference.relativeError(got, Reference.toDouble(want));
        assertTrue(err < TOLERANCE, what + ": relative difference " + err);
    }

    /**
     * Keys beyond a row's length are skipped, not masked: NaN there (in K and
     * in V, which a masked key would still multiply by its weight 0)
     * changes no bit of the output or the weights, on every target.
     */
    @Test
    void keysBeyondTheLengthAreNeverRead() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(9);
            int b = 3, h = 4, hkv = 2, lk = 1500, d = 8;
            long[] lengths = {700, 0, 1499};
            for (int lq : new int[] {1, 70}) {
                Tensor q = Reference.random(arena, rnd, b, h, lq, d);
                Tensor k = Reference.random(arena, rnd, b, hkv, lk, d);
                Tensor v = Reference.random(arena, rnd, b, hkv, lk, d);
                for (boolean weights : new boolean[] {false, true}) {
                    for (Target t : Target.all()) {
                        Tensor w = weights ? Tensor.allocate(arena, b, h, lq, lk) : null;
                        AttentionSpec spec = AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).keyLengths(lengths)
                                .weights(w).backend(t.select()).build();
                        float[] clean = Attention.scaledDotProduct(q, k, v, spec).toArray();
                        float[] cleanW = weights ? w.toArray() : null;
                        Tensor kDirty = poisoned(arena, k, lengths), vDirty = poisoned(arena, v, lengths);
                        float[] dirty = Attention.scaledDotProduct(q, kDirty, vDirty, spec).toArray();
                        assertSame(t, clean, dirty, t + " Lq=" + lq + ": NaN beyond the key lengths reached the output");
                        if (weights) {
                            assertSame(t, cleanW, w.toArray(), t + " Lq=" + lq + ": ... or the weights");
                        }
                    }
                }
            }
        }
    }

    private static void assertSame(Target t, float[] want, float[] got, String what) {
        Target.assertSameRun(t.backend(), want, got, what);
    }

    /** A prepared call keeps its window and key lengths, its own copy of them, for every run. */
    @Test
    void preparedCallsKeepWindowsAndKeyLengths() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(11);
            Tensor q = Reference.random(arena, rnd, 3, 2, 4, 8);
            Tensor k = Reference.random(arena, rnd, 3, 1, 9, 8);
            Tensor v = Reference.random(arena, rnd, 3, 1, 9, 5);
            long[] lengths = {9, 3, 0};
            for (Target t : Target.all()) {
                AttentionSpec spec = AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).window(2, 0).keyLengths(lengths)
                        .backend(t.select()).build();
                float[] want = Attention.scaledDotProduct(q, k, v, spec).toArray();
                Tensor out = Tensor.allocate(arena, 3, 2, 4, 5);
                PreparedAttention call = Attention.prepare(q, k, v, out, spec);
                for (int run = 0; run < 2; run++) {
                    call.run();
                    assertSame(t, want, out.toArray(), t + ": prepared run " + run);
                    Attention.scaledDotProduct(q, k, v, Tensor.allocate(arena, 3, 2, 4, 5), spec.toBuilder()
                            .keyLengths(1, 1, 1).window(0, 0).build()); // another call on this thread between runs
                }
            }
        }
    }

    /** Sizes of 0 take key lengths too: no batch row (no lengths), no keys (lengths 0), no queries. */
    @Test
    void emptySizesTakeKeyLengths() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(10);
            for (Target t : Target.all()) {
                AttentionSpec.Builder spec = AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).window(1, 1)
                        .backend(t.select());
                Tensor none = Tensor.allocate(arena, 0, 2, 3, 4);
                Attention.scaledDotProduct(none, Tensor.allocate(arena, 0, 2, 5, 4), Tensor.allocate(arena, 0, 2, 5, 4),
                        Tensor.allocate(arena, 0, 2, 3, 4), spec.keyLengths().build());
                Tensor out = Refusals.sentinel(arena, 2, 2, 3, 4);
                Attention.scaledDotProduct(Reference.random(arena, rnd, 2, 2, 3, 4), Tensor.allocate(arena, 2, 2, 0, 4),
                        Tensor.allocate(arena, 2, 2, 0, 4), out, spec.keyLengths(0, 0).build());
                for (float x : out.toArray()) {
                    assertTrue(x == 0f, t + ": no keys give zeros, got " + x);
                }
                Attention.scaledDotProduct(Tensor.allocate(arena, 2, 2, 0, 4), Reference.random(arena, rnd, 2, 2, 5, 4),
                        Reference.random(arena, rnd, 2, 2, 5, 4), Tensor.allocate(arena, 2, 2, 0, 4),
                        spec.keyLengths(5, 2).build());
            }
        }
    }

    /** A copy of t (B, H, L, D) with NaN at every position j >= lengths[b]. */
    private static Tensor poisoned(Arena arena, Tensor t, long[] lengths) {
        Tensor c = t.contiguous(arena);
        for (int b = 0; b < t.size(0); b++) {
            for (long h = 0; h < t.size(1); h++) {
                for (long j = lengths[b]; j < t.size(2); j++) {
                    for (long x = 0; x < t.size(3); x++) {
                        c.set(Float.NaN, b, h, j, x);
                    }
                }
            }
        }
        return c;
    }
}
