package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Decoding shapes, which the native library runs through its streaming
 * decode kernel (a few query rows per key head: Lq <= 8 and Lq * H / Hkv <=
 * 16), on every backend and ISA cap against the float64 reference and the
 * Java backend: GQA groups, odd sizes, every option, float and half (F16,
 * BF16) caches and queries, 1, 2, 3 and 7 native threads (key heads fewer
 * and more than the threads, so keys split into chunks and merged), strided
 * views whose other bytes must stay untouched, and rows that are masked,
 * NaN or infinite in one key chunk only.
 */
class DecodeTest {
    private static final double TOLERANCE = 1e-5;
    private static final int[] THREADS = {1, 2, 3, 7};

    record Shape(int b, int h, int hkv, int lq, int lk, int dk, int dv) {
    }

    /** One option (or pair) on top of the plain call. */
    enum Option {
        PLAIN, SCALE, KEEP_MASK, ADDITIVE_MASK, KEY_PADDING, TWO_ADDITIVE_MASKS, CAUSAL_TOP_LEFT,
        BOTTOM_RIGHT_WINDOW, TWO_SIDED_WINDOW, KEY_LENGTHS, KEY_LENGTHS_AND_WINDOW, SOFTCAP, ALIBI,
        T5_BIDIRECTIONAL, T5_CAUSAL_BUCKETS, ALL_POSITIONAL
    }

    /** How q, and k and v, are stored: float, a half cache under float queries, or all half. */
    record Dtypes(Dtype q, Dtype kv) {
        @Override
        public String toString() {
            return q == Dtype.F32 && kv == Dtype.F32 ? "" : " q " + q + " kv " + kv;
        }
    }

    static final Dtypes[] DTYPES = {new Dtypes(Dtype.F32, Dtype.F32), new Dtypes(Dtype.F32, Dtype.F16),
                                    new Dtypes(Dtype.F32, Dtype.BF16), new Dtypes(Dtype.BF16, Dtype.BF16)};

    record Case(Shape s, Option option, boolean weights, int threads, Dtypes dtypes) {
        @Override
        public String toString() {
            return s + " " + option + (weights ? " +weights" : "") + dtypes + " on " + threads + " threads";
        }
    }

    static final Shape[] SHAPES = {
        new Shape(1, 3, 1, 1, 37, 5, 3),        // a group of 3, odd sizes
        new Shape(2, 8, 2, 2, 517, 33, 17),     // groups of 4, two queries each
        new Shape(1, 4, 1, 1, 6000, 24, 40),    // one key head, its keys split over the threads
        new Shape(3, 6, 3, 1, 1500, 64, 63),    // 9 key heads: more than the threads, or as many
        new Shape(1, 2, 1, 8, 900, 7, 9),       // 16 rows, the most the kernel takes
        new Shape(1, 4, 4, 3, 1111, 19, 40),
    };

    static Stream<Case> cases() {
        List<Case> cases = new ArrayList<>();
        int n = 0;
        for (Shape s : SHAPES) {
            for (Option o : Option.values()) {
                n++;
                cases.add(new Case(s, o, n % 2 == 0, THREADS[n % THREADS.length], DTYPES[(n / 2) % DTYPES.length]));
            }
        }
        return cases.stream();
    }

    @AfterAll
    static void restore() {
        Target.restore();
        Panattn.setThreads(0);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyBackendMatchesTheReferenceAndWritesOnlyItsOutputs(Case c) {
        Shape s = c.s;
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.toString().hashCode());
            GuardedTensor q = GuardedTensor.allocate(arena, rnd, true, c.dtypes.q(), s.b, s.h, s.lq, s.dk);
            GuardedTensor k = GuardedTensor.allocate(arena, rnd, true, c.dtypes.kv(), s.b, s.hkv, s.lk, s.dk);
            GuardedTensor v = GuardedTensor.allocate(arena, rnd, true, c.dtypes.kv(), s.b, s.hkv, s.lk, s.dv);
            List<GuardedTensor> inputs = List.of(q, k, v);
            Setup setup = setup(arena, rnd, c);
            Reference.Result ref = Reference.sdpa(q.view(), k.view(), v.view(), setup.mask, setup.padding,
                    setup.causal, setup.keys, setup.scale, setup.pos);
            Panattn.setThreads(c.threads);
            float[] java = null;
            for (Target t : Target.all()) {
                Backend backend = t.select();
                GuardedTensor out = GuardedTensor.allocate(arena, rnd, false, s.b, s.h, s.lq, s.dv);
                GuardedTensor w = c.weights ? GuardedTensor.allocate(arena, rnd, false, s.b, s.h, s.lq, s.lk) : null;
                List<byte[]> before = inputs.stream().map(GuardedTensor::snapshot).toList();
                Attention.scaledDotProduct(q.view(), k.view(), v.view(), out.view(), setup.spec.toBuilder()
                        .weights(w == null ? null : w.view()).backend(backend).build());
                GuardedTensor.assertOnlyOutputsWritten(t.toString(), out, w, inputs, before);
                float[] got = out.view().toArray();
                double err = Reference.relativeError(got, ref.out());
                assertTrue(err < TOLERANCE, t + ": output relative error " + err);
                if (w != null) {
                    double werr = Reference.relativeError(w.view().toArray(), ref.weights());
                    assertTrue(werr < TOLERANCE, t + ": weights relative error " + werr);
                }
                if (java == null) {
                    java = got;
                } else {
                    double vsJava = Reference.relativeError(got, Reference.toDouble(java));
                    assertTrue(vsJava < TOLERANCE, t + " vs Java: " + vsJava);
                }
            }
        }
    }

    /** A case's spec and what the reference needs to compute it. */
    private record Setup(AttentionSpec spec, Mask mask, Mask padding, Causal causal, Reference.Keys keys,
                         double scale, Reference.Pos pos) {
    }

    private static Setup setup(Arena arena, SplittableRandom rnd, Case c) {
        Shape s = c.s;
        AttentionSpec.Builder spec = AttentionSpec.builder();
        Mask mask = null, padding = null;
        Causal causal = Causal.NONE;
        Reference.Keys keys = Reference.Keys.ALL;
        double scale = 1 / Math.sqrt(s.dk);
        double softcap = 0;
        double[] slopes = null;
        double[][] rel = null;
        boolean bidirectional = true;
        switch (c.option) {
            case SCALE -> {
                spec.scale(0.37f);
                scale = 0.37f;
            }
            case KEEP_MASK -> mask = keepMask(arena, rnd, s);
            case ADDITIVE_MASK -> mask = additive(arena, rnd, s.b, s.h, s.lq, s.lk);
            case KEY_PADDING -> {
                long[] valid = new long[s.b];
                for (int i = 0; i < s.b; i++) {
                    valid[i] = 1 + rnd.nextInt(s.lk);
                }
                padding = Mask.keyPadding(arena, valid, s.lk);
                mask = keepMask(arena, rnd, s);
            }
            case TWO_ADDITIVE_MASKS -> {
                mask = additive(arena, rnd, 1, s.h, 1, s.lk);
                padding = additive(arena, rnd, s.b, 1, 1, s.lk);
            }
            case CAUSAL_TOP_LEFT -> causal = Causal.TOP_LEFT;
            case BOTTOM_RIGHT_WINDOW -> {
                causal = Causal.BOTTOM_RIGHT;
                keys = Reference.Keys.window(1 + s.lk / 3);
                spec.window(keys.window());
            }
            case TWO_SIDED_WINDOW -> {
                keys = Reference.Keys.extents(s.lk / 4, 3);
                spec.window(keys.left(), keys.right());
            }
            case KEY_LENGTHS, KEY_LENGTHS_AND_WINDOW -> {
                long[] lengths = new long[s.b];
                for (int i = 0; i < s.b; i++) {
                    lengths[i] = i % 3 == 1 ? s.lk : i % 3 == 2 ? 0 : 1 + rnd.nextInt(s.lk);
                }
                causal = Causal.BOTTOM_RIGHT; // the queries sit at the end of each row's keys
                slopes = slopes(s.h);
                keys = (c.option == Option.KEY_LENGTHS ? Reference.Keys.ALL
                        : Reference.Keys.extents(1 + s.lk / 5, AttentionSpec.UNBOUNDED)).withLengths(lengths);
                if (c.option == Option.KEY_LENGTHS_AND_WINDOW) {
                    spec.window(keys.left(), keys.right());
                }
                spec.keyLengths(lengths);
            }
            case SOFTCAP -> softcap = 0.8;
            case ALIBI -> slopes = slopes(s.h);
            case T5_BIDIRECTIONAL, T5_CAUSAL_BUCKETS -> {
                rel = new double[s.h][];
                bidirectional = c.option == Option.T5_BIDIRECTIONAL;
            }
            case ALL_POSITIONAL -> {
                causal = Causal.BOTTOM_RIGHT;
                softcap = 0.8;
                slopes = slopes(s.h);
                rel = new double[s.h][];
                bidirectional = false;
            }
            default -> {
            }
        }
        if (slopes != null) {
            spec.alibi(Alibi.slopes(arena, s.h));
        }
        if (rel != null) {
            Tensor table = Reference.random(arena, rnd, 32, s.h);
            for (int h = 0; h < s.h; h++) {
                rel[h] = new double[32];
                for (int x = 0; x < 32; x++) {
                    rel[h][x] = table.get(x, h);
                }
            }
            spec.relativeBias(new RelativePositionBias(table, bidirectional, 64));
        }
        spec.causal(causal).mask(mask).keyPadding(padding).softcap((float) softcap);
        return new Setup(spec.build(), mask, padding, causal, keys, scale,
                new Reference.Pos((float) softcap, slopes, rel, bidirectional, 64));
    }

    private static double[] slopes(int heads) {
        float[] f = Alibi.slopes(heads);
        double[] d = new double[heads];
        for (int i = 0; i < heads; i++) {
            d[i] = f[i];
        }
        return d;
    }

    /** A (B, 1, Lq, Lk) keep-mask: about 70% kept, every fourth row nothing. */
    private static Mask keepMask(Arena arena, SplittableRandom rnd, Shape s) {
        boolean[] keep = new boolean[s.b * s.lq * s.lk];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = (i / s.lk) % 4 != 3 && rnd.nextInt(10) < 7;
        }
        return Mask.keep(arena, keep, s.b, 1, s.lq, s.lk);
    }

    /** Random addends, -Infinity on every fifth key. */
    private static Mask additive(Arena arena, SplittableRandom rnd, long... shape) {
        Tensor t = Reference.random(arena, rnd, shape);
        float[] x = t.toArray();
        for (int i = 0; i < x.length; i++) {
            x[i] = i % 5 == 3 ? Float.NEGATIVE_INFINITY : 2 * x[i];
        }
        return Mask.additive(t.copyFrom(x));
    }

    /**
     * One key head of five query heads, one query each, its keys split into
     * chunks on several threads: head 0 keeps only keys of the first chunk,
     * head 1 only keys of the last, head 2 none, head 3 has a NaN score in
     * the first chunk and every other key masked, head 4 keeps every key.
     */
    @Test
    void rowsMaskedNaNOrInfiniteInOneChunkMergeAsOneRow() {
        int h = 5, lk = 6000, d = 32;
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(31);
            Tensor q = Reference.random(arena, rnd, 1, h, 1, d);
            Tensor k = Reference.random(arena, rnd, 1, 1, lk, d);
            Tensor v = Reference.random(arena, rnd, 1, 1, lk, d);
            float[] add = Reference.random(arena, rnd, 1, h, 1, lk).toArray();
            for (int j = 0; j < lk; j++) {
                boolean first = j < lk / 8, last = j >= lk - lk / 8;
                add[j] = first ? add[j] : Float.NEGATIVE_INFINITY;
                add[lk + j] = last ? add[lk + j] : Float.NEGATIVE_INFINITY;
                add[2 * lk + j] = Float.NEGATIVE_INFINITY;
                add[3 * lk + j] = j == 10 ? Float.NaN : first ? add[3 * lk + j] : Float.NEGATIVE_INFINITY;
            }
            Mask mask = Mask.additive(Tensor.allocate(arena, 1, h, 1, lk).copyFrom(add));
            Reference.Result ref = Reference.sdpa(q, k, v, mask, Causal.NONE, 1 / Math.sqrt(d));
            for (int threads : THREADS) {
                Panattn.setThreads(threads);
                for (Target t : Target.all()) {
                    Tensor out = Tensor.allocate(arena, 1, h, 1, d), w = Tensor.allocate(arena, 1, h, 1, lk);
                    Attention.scaledDotProduct(q, k, v, out, AttentionSpec.builder().mask(mask).weights(w)
                            .backend(t.select()).build());
                    float[] o = out.toArray(), weights = w.toArray();
                    String who = t + " on " + threads + " threads";
                    for (int x = 0; x < d; x++) {
                        assertEquals(ref.out()[x], o[x], 1e-5, who + ": head 0");
                        assertEquals(ref.out()[d + x], o[d + x], 1e-5, who + ": head 1");
                        assertEquals(0.0f, o[2 * d + x], who + ": head 2 sees no key");
                        assertTrue(Float.isNaN(o[3 * d + x]), who + ": head 3 has a NaN score");
                        assertEquals(ref.out()[4 * d + x], o[4 * d + x], 1e-5, who + ": head 4");
                    }
                    for (int j = 0; j < lk; j++) {
                        assertEquals(0.0f, weights[2 * lk + j], who + ": head 2's weights");
                        assertTrue(Float.isNaN(weights[3 * lk + j]), who + ": head 3's weights");
                        assertEquals(ref.weights()[j], weights[j], 1e-6, who + ": head 0's weights");
                    }
                }
            }
        }
    }
}
