package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Soft-capping, ALiBi, T5 relative bias and RoPE: native (each ISA cap) and Java against float64 references. */
class PositionalTest {
    private static final double TOLERANCE = 1e-5;

    record Case(String name, Causal causal, float softcap, boolean alibi, boolean rel, boolean bidirectional,
                int lq, int lk) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("softcap", Causal.NONE, 3f, false, false, true, 9, 9),
                new Case("ALiBi + causal", Causal.TOP_LEFT, 0f, true, false, true, 17, 17),
                new Case("ALiBi + causal decode (Lq < Lk)", Causal.BOTTOM_RIGHT, 0f, true, false, true, 3, 40),
                new Case("T5 bidirectional", Causal.NONE, 0f, false, true, true, 31, 200),
                new Case("T5 causal buckets + causal", Causal.TOP_LEFT, 0f, false, true, false, 150, 150),
                new Case("all three + causal", Causal.BOTTOM_RIGHT, 2f, true, true, false, 7, 64));
    }

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void positionalTermsMatchReference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.name.hashCode());
            int b = 2, h = 6, d = 8;
            Tensor q = Reference.random(arena, rnd, b, h, c.lq, d);
            Tensor k = Reference.random(arena, rnd, b, h, c.lk, d);
            Tensor v = Reference.random(arena, rnd, b, h, c.lk, d);
            float[] qv = q.toArray();
            for (int i = 0; i < qv.length; i++) {
                qv[i] *= 6; // large logits, so the cap matters
            }
            q.copyFrom(qv);
            AttentionSpec.Builder spec = AttentionSpec.builder().causal(c.causal).softcap(c.softcap);
            double[] slopes = null;
            double[][] rel = null;
            if (c.alibi) {
                spec.alibi(Alibi.slopes(arena, h));
                float[] f = Alibi.slopes(h);
                slopes = new double[h];
                for (int i = 0; i < h; i++) {
                    slopes[i] = f[i];
                }
            }
            if (c.rel) {
                Tensor table = Reference.random(arena, rnd, 32, h);
                spec.relativeBias(new RelativePositionBias(table, c.bidirectional, 64));
                rel = new double[h][32];
                for (int x = 0; x < 32; x++) {
                    for (int y = 0; y < h; y++) {
                        rel[y][x] = table.get(x, y);
                    }
                }
            }
            Reference.Result ref = Reference.sdpa(q, k, v, null, null, c.causal, 0, 1 / Math.sqrt(d),
                    new Reference.Pos(c.softcap, slopes, rel, c.bidirectional, 64));
            for (Target target : Target.all()) {
                Backend backend = target.select();
                Tensor out = Tensor.allocate(arena, b, h, c.lq, d);
                Attention.scaledDotProduct(q, k, v, out, spec.backend(backend).build());
                double err = Reference.relativeError(out.toArray(), ref.out());
                assertTrue(err < TOLERANCE, target + ": relative error " + err);
            }
        }
    }

    @Test
    void degenerateT5TablesTakeTheLastBucket() {
        try (Arena arena = Arena.ofConfined()) {
            // 8 buckets a side, 4 exact, but distances from 3 on are "far": no logarithmic bucket exists.
            RelativePositionBias shortRange = new RelativePositionBias(Tensor.allocate(arena, 16, 1), true, 3);
            assertEquals(3, shortRange.bucket(-3));
            assertEquals(7, shortRange.bucket(-5)); // T5's formula would give a bucket below the exact ones
            assertEquals(15, shortRange.bucket(10));
            // One bucket a side: no exact bucket at all.
            RelativePositionBias two = new RelativePositionBias(Tensor.allocate(arena, 2, 1), true, 128);
            assertEquals(0, two.bucket(-5));
            assertEquals(1, two.bucket(5));
        }
    }

    /** Degenerate T5 tables and a window too large to subtract from a position, on every backend and ISA. */
    @ParameterizedTest
    @EnumSource(Causal.class)
    void degenerateTablesAndHugeWindowsAgreeWithTheReference(Causal causal) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(causal.ordinal() + 40);
            int h = 2, lq = 9, lk = 5, d = 4; // Lq > Lk: bottom-right positions start below zero
            Tensor q = Reference.random(arena, rnd, 1, h, lq, d);
            Tensor k = Reference.random(arena, rnd, 1, h, lk, d);
            Tensor v = Reference.random(arena, rnd, 1, h, lk, d);
            Tensor table = Reference.random(arena, rnd, 8, h); // 2 exact buckets a side, far from distance 2
            double[][] rel = new double[h][8];
            for (int x = 0; x < 8; x++) {
                for (int y = 0; y < h; y++) {
                    rel[y][x] = table.get(x, y);
                }
            }
            long window = causal == Causal.NONE ? 0 : Long.MAX_VALUE;
            Reference.Result ref = Reference.sdpa(q, k, v, null, null, causal, window, 1 / Math.sqrt(d),
                    new Reference.Pos(0, null, rel, true, 2));
            AttentionSpec.Builder spec = AttentionSpec.builder().causal(causal).window(window)
                    .relativeBias(new RelativePositionBias(table, true, 2));
            for (Target target : Target.all()) {
                Backend backend = target.select();
                Tensor out = Tensor.allocate(arena, 1, h, lq, d);
                Attention.scaledDotProduct(q, k, v, out, spec.backend(backend).build());
                double err = Reference.relativeError(out.toArray(), ref.out());
                assertTrue(err < TOLERANCE, target + ": relative error " + err);
            }
        }
    }

    @Test
    void alibiSlopesFollowThePaper() {
        float[] eight = Alibi.slopes(8);
        for (int i = 0; i < 8; i++) {
            assertEquals(Math.pow(2, -(i + 1)), eight[i], 1e-9);
        }
        // 6 heads: the 4-head slopes 2^-2, 2^-4, 2^-6, 2^-8, then 2^-1, 2^-3 from the 8-head ones.
        assertArrayEquals(new float[] {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f}, Alibi.slopes(6));
    }

    @Test
    void t5BucketsMatchKnownValues() {
        // T5 defaults: 32 buckets, max distance 128.
        Tensor table;
        try (Arena arena = Arena.ofConfined()) {
            table = Tensor.allocate(arena, 32, 1);
            RelativePositionBias bi = new RelativePositionBias(table, true, 128);
            assertEquals(0, bi.bucket(0));
            assertEquals(1, bi.bucket(-1));      // key one step back
            assertEquals(17, bi.bucket(1));      // key one step ahead: the second half
            assertEquals(7, bi.bucket(-7));      // exact up to 8
            assertEquals(8, bi.bucket(-8));      // first logarithmic bucket
            assertEquals(15, bi.bucket(-1000));  // far back: the last bucket of its half
            RelativePositionBias causal = new RelativePositionBias(table, false, 128);
            assertEquals(0, causal.bucket(5));   // the future all in bucket 0
            assertEquals(31, causal.bucket(-1000));
        }
    }

    @ParameterizedTest
    @EnumSource(Rope.Layout.class)
    void ropeMatchesReferenceOnBothBackends(Rope.Layout layout) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(layout.ordinal());
            Tensor x = Reference.random(arena, rnd, 2, 3, 11, 12);
            float[] original = x.toArray();
            double[] ref = new double[original.length];
            int idx = 0;
            for (int b = 0; b < 2; b++) {
                for (int h = 0; h < 3; h++) {
                    for (int l = 0; l < 11; l++) {
                        for (int d = 0; d < 12; d++, idx++) {
                            int pair = layout == Rope.Layout.HALF ? d % 6 : d / 2;
                            boolean first = layout == Rope.Layout.HALF ? d < 6 : d % 2 == 0;
                            int partner = layout == Rope.Layout.HALF ? (first ? d + 6 : d - 6) : (first ? d + 1 : d - 1);
                            double angle = (500 + l) * Math.pow(10000, -2.0 * pair / 12);
                            double self = x.get(b, h, l, d), other = x.get(b, h, l, partner);
                            ref[idx] = first ? self * Math.cos(angle) - other * Math.sin(angle)
                                    : other * Math.sin(angle) + self * Math.cos(angle);
                        }
                    }
                }
            }
            for (Backend backend : Backend.values()) {
                x.copyFrom(original);
                Rope.apply(x, 500, 10000f, layout, backend);
                double err = Reference.relativeError(x.toArray(), ref);
                assertTrue(err < TOLERANCE, backend + ": " + err);
            }
        }
    }
}
