package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Scaled dot-product attention on F16 and BF16 q, k and v (all half, or
 * mixed with float32 ones) with every option, on every backend and native
 * ISA level, against the float64 reference computed on the rounded values:
 * the inputs are random floats, the half tensors their conversions, and the
 * reference reads float32 tensors holding {@link HalfReference}'s rounding
 * of the same floats (which the half tensors are checked to hold). Odd
 * sizes throughout; strided (B, L, H, D) views; decoding shapes long
 * enough to split the keys over threads natively.
 */
class HalfAttentionTest {
    private static final double TOLERANCE = 1e-5;

    /** One problem and the spec options it turns on. */
    record Scenario(String name, int rank, int b, int h, int hkv, int lq, int lk, int dk, int dv, Causal causal,
                    Reference.Keys keys, boolean keep, boolean additive, boolean keyPadding, float softcap, boolean alibi,
                    boolean t5, boolean weights, boolean permuted) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static final List<Scenario> SCENARIOS = List.of(
            new Scenario("GQA, weights", 4, 2, 4, 2, 13, 37, 19, 11, Causal.NONE, Reference.Keys.ALL, false, false, false, 0, false,
                    false, true, false),
            new Scenario("causal top-left, window, keep-mask", 4, 1, 3, 3, 29, 29, 9, 7, Causal.TOP_LEFT,
                    Reference.Keys.window(6), true,
                    false, false, 0, false, false, true, true),
            new Scenario("causal bottom-right, additive mask, key padding", 4, 2, 2, 1, 5, 23, 16, 5,
                    Causal.BOTTOM_RIGHT, Reference.Keys.ALL, false, true, true, 0, false, false, false, false),
            new Scenario("softcap, ALiBi", 4, 1, 4, 2, 17, 31, 33, 3, Causal.TOP_LEFT, Reference.Keys.ALL, false, false, false, 2f, true,
                    false, true, true),
            new Scenario("T5 bidirectional, weights", 4, 1, 2, 2, 21, 40, 8, 9, Causal.NONE, Reference.Keys.ALL, false, false, false, 0,
                    false, true, true, false),
            new Scenario("decoding, grouped heads, keys split, T5 causal buckets", 4, 1, 8, 1, 1, 3000, 64, 64,
                    Causal.BOTTOM_RIGHT, Reference.Keys.ALL, false, false, false, 0, false, true, false, false),
            new Scenario("decoding, key padding, window", 4, 2, 3, 3, 1, 1030, 24, 17, Causal.BOTTOM_RIGHT,
                    Reference.Keys.window(700), false, false, true, 0, false, false, false, true),
            new Scenario("decoding a ragged batch: key lengths per row", 4, 3, 4, 2, 1, 600, 20, 13,
                    Causal.BOTTOM_RIGHT, Reference.Keys.ALL.withLengths(600, 17, 333), false, false, false, 0, false,
                    false, true, false),
            new Scenario("two-sided window, key lengths, ALiBi", 4, 2, 2, 1, 19, 27, 7, 6, Causal.NONE,
                    Reference.Keys.extents(4, 2).withLengths(20, 0), false, false, false, 0, true, false, true, true),
            new Scenario("rank 3, two query tiles", 3, 1, 1, 1, 70, 45, 5, 4, Causal.TOP_LEFT, Reference.Keys.ALL, false,
                    true, false, 0,
                    false, false, true, false));

    /** Dtypes of q, k and v. */
    private static final Dtype[][] COMBOS = {
        {Dtype.F16, Dtype.F16, Dtype.F16}, {Dtype.BF16, Dtype.BF16, Dtype.BF16}, {Dtype.F32, Dtype.F16, Dtype.F16},
        {Dtype.F32, Dtype.BF16, Dtype.BF16}, {Dtype.BF16, Dtype.F16, Dtype.F32},
    };

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (Scenario s : SCENARIOS) {
            for (Dtype[] c : COMBOS) {
                all.add(Arguments.of(s, c[0], c[1], c[2]));
            }
        }
        return all.stream();
    }

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    /** The shape of a (B, heads, L, D) input in the scenario's rank, in storage order. */
    private static long[] storage(Scenario s, long heads, long l, long d) {
        return s.rank == 3 ? new long[] {s.b, l, d} : s.permuted ? new long[] {s.b, l, heads, d}
                : new long[] {s.b, heads, l, d};
    }

    /** A stored tensor seen as (B, heads, L, D) (or rank 3 as it is). */
    private static Tensor logical(Scenario s, Tensor stored) {
        return s.rank == 4 && s.permuted ? stored.permute(0, 2, 1, 3) : stored;
    }

    /** Float32 storage of {@link HalfReference}'s rounding of x to t. */
    private static Tensor rounded(Arena arena, Tensor x, Dtype t) {
        float[] v = x.toArray();
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) HalfReference.rounded(v[i], t);
        }
        return Tensor.of(arena, v, x.shape());
    }

    /**
     * One key, so its weight is 1 and the output row is v's row: a v holding
     * every one of the 65536 bit patterns comes out as the reference's values
     * (zeros of either sign as zero, NaN as NaN) on every backend and level.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void everyHalfValueReachesTheOutputAsItsValue(Dtype t) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, new float[] {1}, 1, 1, 1, 1), k = Tensor.allocate(arena, 1, 1, 1, 1);
            Tensor v = Tensor.allocate(arena, t, 1, 1, 1, 65536);
            for (int bits = 0; bits < 65536; bits++) {
                v.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, bits, (short) bits);
            }
            for (Target target : Target.all()) {
                Tensor out = Tensor.allocate(arena, 1, 1, 1, 65536);
                Attention.scaledDotProduct(q, k, v, out, AttentionSpec.builder().backend(target.select()).build());
                float[] got = out.toArray();
                for (int bits = 0; bits < 65536; bits++) {
                    double want = HalfReference.value(bits, t);
                    assertTrue(Double.isNaN(want) ? Float.isNaN(got[bits]) : got[bits] == want, target + " " + t
                            + " 0x" + Integer.toHexString(bits) + ": " + got[bits] + ", expected " + want);
                }
            }
        }
    }

    /** A prepared call on half tensors computes what the call itself does, on every backend and level. */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = Dtype.class, names = {"F16", "BF16"})
    void aPreparedCallOnHalfTensorsGivesTheCallsResult(Dtype t) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(t.ordinal());
            Tensor q = Reference.random(arena, rnd, 1, 4, 3, 16), k = Reference.random(arena, rnd, 1, 2, 9, 16)
                    .to(arena, t), v = Reference.random(arena, rnd, 1, 2, 9, 5).to(arena, t);
            for (Target target : Target.all()) {
                AttentionSpec spec = AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).backend(target.select())
                        .build();
                Tensor want = Tensor.allocate(arena, 1, 4, 3, 5), got = Tensor.allocate(arena, 1, 4, 3, 5);
                Attention.scaledDotProduct(q, k, v, want, spec);
                Attention.prepare(q, k, v, got, spec).run();
                Target.assertSameRun(target.backend(), want.toArray(), got.toArray(), target + ": prepared vs called");
            }
        }
    }

    @ParameterizedTest(name = "{0}: q {1}, k {2}, v {3}")
    @MethodSource("cases")
    void everyBackendMatchesTheFloat64ReferenceOnRoundedInputs(Scenario s, Dtype qt, Dtype kt, Dtype vt) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom((s.name + qt + kt + vt).hashCode());
            Tensor q32 = Reference.random(arena, rnd, storage(s, s.h, s.lq, s.dk));
            if (s.softcap > 0) { // large logits, so the cap matters
                float[] x = q32.toArray();
                for (int i = 0; i < x.length; i++) {
                    x[i] *= 6;
                }
                q32.copyFrom(x);
            }
            Tensor k32 = Reference.random(arena, rnd, storage(s, s.hkv, s.lk, s.dk));
            Tensor v32 = Reference.random(arena, rnd, storage(s, s.hkv, s.lk, s.dv));
            Tensor[] given = {q32.to(arena, qt), k32.to(arena, kt), v32.to(arena, vt)};
            Tensor[] exact = {rounded(arena, q32, qt), rounded(arena, k32, kt), rounded(arena, v32, vt)};
            Dtype[] types = {qt, kt, vt};
            for (int i = 0; i < 3; i++) {
                assertEquals(types[i], given[i].dtype());
                float[] g = given[i].toArray(), want = exact[i].toArray();
                for (int j = 0; j < g.length; j++) {
                    assertEquals(want[j], g[j], "input " + i + " element " + j + " holds the rounded value");
                }
            }
            Tensor q = logical(s, given[0]), k = logical(s, given[1]), v = logical(s, given[2]);

            AttentionSpec.Builder spec = SdpaPropertyTest.withKeys(AttentionSpec.builder().causal(s.causal), s.keys)
                    .softcap(s.softcap);
            long mb = s.b, mh = s.rank == 4 ? s.h : 1;
            Mask mask = null;
            if (s.keep) {
                boolean[] keep = new boolean[s.b * s.lq * s.lk];
                for (int i = 0; i < keep.length; i++) {
                    keep[i] = rnd.nextInt(4) != 0;
                }
                mask = Mask.keep(arena, keep, mb, 1, s.lq, s.lk);
            } else if (s.additive) {
                float[] add = new float[(int) (mh * s.lq * s.lk)];
                for (int i = 0; i < add.length; i++) {
                    add[i] = rnd.nextInt(5) == 0 ? Float.NEGATIVE_INFINITY : (float) rnd.nextDouble() * 2 - 1;
                }
                mask = Mask.additive(Tensor.of(arena, add, 1, mh, s.lq, s.lk));
            }
            spec.mask(mask);
            Mask padding = null;
            if (s.keyPadding) {
                long[] valid = new long[s.b];
                for (int i = 0; i < s.b; i++) {
                    valid[i] = 1 + rnd.nextInt(s.lk);
                }
                padding = Mask.keyPadding(arena, valid, s.lk);
                spec.keyPadding(padding);
            }
            double[] slopes = null;
            double[][] rel = null;
            if (s.alibi) {
                spec.alibi(Alibi.slopes(arena, s.h));
                slopes = Reference.toDouble(Alibi.slopes(s.h));
            }
            boolean bidirectional = s.causal == Causal.NONE;
            if (s.t5) {
                Tensor table = Reference.random(arena, rnd, 32, mh);
                spec.relativeBias(new RelativePositionBias(table, bidirectional, 128));
                rel = new double[(int) mh][32];
                for (int x = 0; x < 32; x++) {
                    for (int y = 0; y < mh; y++) {
                        rel[y][x] = table.get(x, y);
                    }
                }
            }
            Tensor q4 = logical(s, exact[0]), k4 = logical(s, exact[1]), v4 = logical(s, exact[2]);
            if (s.rank == 3) {
                q4 = q4.unsqueeze(1);
                k4 = k4.unsqueeze(1);
                v4 = v4.unsqueeze(1);
            }
            Reference.Result ref = Reference.sdpa(q4, k4, v4, mask, padding, s.causal, s.keys,
                    1 / Math.sqrt(s.dk), new Reference.Pos(s.softcap, slopes, rel, bidirectional, 128));

            long[] outShape = s.rank == 3 ? new long[] {s.b, s.lq, s.dv} : new long[] {s.b, s.h, s.lq, s.dv};
            long[] weightShape = s.rank == 3 ? new long[] {s.b, s.lq, s.lk} : new long[] {s.b, s.h, s.lq, s.lk};
            for (Target target : Target.all()) {
                Backend backend = target.select();
                Tensor out = Tensor.allocate(arena, outShape);
                Tensor weights = s.weights ? Tensor.allocate(arena, weightShape) : null;
                Attention.scaledDotProduct(q, k, v, out, spec.backend(backend).weights(weights).build());
                double err = Reference.relativeError(out.toArray(), ref.out());
                assertTrue(err < TOLERANCE, target + ": output relative error " + err);
                if (weights != null) {
                    double werr = Reference.relativeError(weights.toArray(), ref.weights());
                    assertTrue(werr < TOLERANCE, target + ": weights relative error " + werr);
                }
            }
        }
    }
}
