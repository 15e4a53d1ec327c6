package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link OnnxAttention} against {@link OnnxReference}, the float64 reading
 * of the ONNX specification, on every {@link Target}: random problems (one
 * seed each) over 3-D and 4-D inputs, grouped-query heads, boolean and float
 * masks of every rank with random broadcasting and short last dimensions,
 * past and present, is_causal with and without a past, nonpad_kv_seqlen,
 * softcap with a mask, custom scales and each qk_matmul_output mode; every
 * tensor a strided view with guard bytes. Then the cases the specification
 * singles out, one test each.
 */
class OnnxAttentionTest {
    static final int CASES = 200;
    private static final double TOLERANCE = 1e-5;

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    static LongStream seeds() {
        return LongStream.range(0, CASES);
    }

    /** One random problem: the operator, its inputs as guarded views, and what the reference needs. */
    private record Problem(OnnxAttention.Builder op, OnnxReference.Attributes attributes, int rank, long b, long hq,
                           long hkv, long lq, long lkv, long past, long d, long dv, List<GuardedTensor> inputs,
                           Tensor q, Tensor k, Tensor v, Tensor pastKey, Tensor pastValue,
                           OnnxAttention.AttnMask mask, OnnxReference.MaskData maskData, long[] nonpad,
                           boolean present, boolean qk) {
        long total() {
            return past + lkv;
        }

        long[] yShape() {
            return rank == 3 ? new long[] {b, lq, hq * dv} : new long[] {b, hq, lq, dv};
        }

        @Override
        public String toString() {
            return "rank " + rank + " B=" + b + " Hq=" + hq + " Hkv=" + hkv + " Lq=" + lq + " Lkv=" + lkv + " past="
                    + (pastKey == null ? "none" : past) + " D=" + d + " Dv=" + dv + " " + attributes + " mask="
                    + mask + " nonpad=" + java.util.Arrays.toString(nonpad) + " present=" + present + " qk=" + qk;
        }
    }

    private static Problem problem(Arena arena, SplittableRandom rnd) {
        int rank = rnd.nextBoolean() ? 3 : 4;
        long b = 1 + rnd.nextInt(3), hkv = 1 + rnd.nextInt(3), hq = hkv * (1 + rnd.nextInt(3));
        long lq = rnd.nextInt(12) == 0 ? 0 : 1 + rnd.nextInt(9);
        long lkv = rnd.nextInt(12) == 0 ? 0 : 1 + rnd.nextInt(11);
        boolean hasPast = rnd.nextInt(3) == 0;
        long past = hasPast ? rnd.nextInt(8) : 0;
        long d = 1 + rnd.nextInt(17), dv = 1 + rnd.nextInt(13);
        long[] nonpad = null;
        if (!hasPast && rnd.nextInt(3) == 0) {
            nonpad = new long[(int) b];
            for (int i = 0; i < b; i++) {
                nonpad[i] = rnd.nextInt((int) lkv + 1);
            }
        }
        boolean isCausal = rnd.nextBoolean();
        double softcap = rnd.nextInt(3) == 0 ? 0.5 + 2.5 * rnd.nextDouble() : 0;
        double scale = rnd.nextBoolean() ? Double.NaN : 0.1 + 2 * rnd.nextDouble();
        int mode = rnd.nextInt(4);
        OnnxAttention.Builder op = OnnxAttention.builder().isCausal(isCausal).qkMatmulOutputMode(mode)
                .softcap((float) softcap);
        if (!Double.isNaN(scale)) {
            op.scale((float) scale);
        }
        if (rank == 3 || rnd.nextBoolean()) {
            op.qNumHeads(hq).kvNumHeads(hkv);
        }
        List<GuardedTensor> inputs = new ArrayList<>();
        GuardedTensor q = input(arena, rnd, inputs, rank == 3 ? new long[] {b, lq, hq * d} : new long[] {b, hq, lq, d});
        GuardedTensor k = input(arena, rnd, inputs, rank == 3 ? new long[] {b, lkv, hkv * d}
                : new long[] {b, hkv, lkv, d});
        GuardedTensor v = input(arena, rnd, inputs, rank == 3 ? new long[] {b, lkv, hkv * dv}
                : new long[] {b, hkv, lkv, dv});
        GuardedTensor pk = hasPast ? input(arena, rnd, inputs, b, hkv, past, d) : null;
        GuardedTensor pv = hasPast ? input(arena, rnd, inputs, b, hkv, past, dv) : null;
        long[] full = {b, hq, lq, past + lkv};
        OnnxAttention.AttnMask mask = null;
        OnnxReference.MaskData maskData = null;
        int kind = rnd.nextInt(3);
        if (kind > 0) {
            int r = 1 + rnd.nextInt(4);
            long[] shape = new long[r];
            for (int i = 0; i < r; i++) {
                long want = full[4 - r + i];
                shape[i] = i == r - 1 ? (rnd.nextInt(4) == 0 && want > 0 ? 1 + rnd.nextInt((int) want) : want)
                        : rnd.nextBoolean() ? want : 1;
            }
            int n = (int) Shapes.count("mask", shape);
            if (kind == 1) {
                boolean[] keep = new boolean[n];
                for (int i = 0; i < n; i++) {
                    keep[i] = rnd.nextInt(10) < 7;
                }
                mask = OnnxAttention.AttnMask.keep(arena, keep, shape);
                maskData = new OnnxReference.MaskData(keep, null, shape);
            } else {
                GuardedTensor t = GuardedTensor.allocate(arena, rnd, true, shape);
                float[] x = t.view().toArray();
                for (int i = 0; i < n; i++) {
                    x[i] = rnd.nextInt(6) == 0 ? Float.NEGATIVE_INFINITY : 3 * x[i];
                }
                t.view().copyFrom(x);
                inputs.add(t);
                mask = OnnxAttention.AttnMask.additive(t.view());
                maskData = new OnnxReference.MaskData(null, x, shape);
            }
        }
        OnnxReference.Attributes attributes = new OnnxReference.Attributes(isCausal, hq, hkv, scale, softcap, mode);
        return new Problem(op, attributes, rank, b, hq, hkv, lq, lkv, past, d, dv, inputs, q.view(), k.view(),
                v.view(), pk == null ? null : pk.view(), pv == null ? null : pv.view(), mask, maskData, nonpad,
                rnd.nextBoolean(), rnd.nextInt(3) > 0);
    }

    private static GuardedTensor input(Arena arena, SplittableRandom rnd, List<GuardedTensor> inputs, long... shape) {
        GuardedTensor t = GuardedTensor.allocate(arena, rnd, true, shape);
        inputs.add(t);
        return t;
    }

    /** Y, present_key, present_value, qk_matmul_output of one run (null when not asked for). */
    private record Run(float[] y, float[] presentKey, float[] presentValue, float[] qk) {
    }

    private static Run run(Arena arena, SplittableRandom rnd, Problem p, Backend backend) {
        GuardedTensor y = GuardedTensor.allocate(arena, rnd, false, p.yShape());
        GuardedTensor pk = p.present ? GuardedTensor.allocate(arena, rnd, false, p.b, p.hkv, p.total(), p.d) : null;
        GuardedTensor pv = p.present ? GuardedTensor.allocate(arena, rnd, false, p.b, p.hkv, p.total(), p.dv) : null;
        GuardedTensor qk = p.qk ? GuardedTensor.allocate(arena, rnd, false, p.b, p.hq, p.lq, p.total()) : null;
        List<byte[]> before = p.inputs.stream().map(GuardedTensor::snapshot).toList();
        p.op.backend(backend).build().run(p.q, p.k, p.v, p.mask, p.pastKey, p.pastValue, p.nonpad, y.view(),
                pk == null ? null : pk.view(), pv == null ? null : pv.view(), qk == null ? null : qk.view());
        String who = backend + (backend == Backend.NATIVE ? " " + Panattn.isa() : "");
        for (GuardedTensor out : new GuardedTensor[] {y, pk, pv, qk}) {
            if (out != null) {
                out.assertNothingOutsideWritten(who);
            }
        }
        for (int i = 0; i < before.size(); i++) {
            p.inputs.get(i).assertUnchanged(before.get(i), who);
        }
        return new Run(y.view().toArray(), pk == null ? null : pk.view().toArray(),
                pv == null ? null : pv.view().toArray(), qk == null ? null : qk.view().toArray());
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void everyTargetMatchesTheSpecificationInFloat64(long seed) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + 23);
            Problem p = problem(arena, rnd);
            OnnxReference.Result want = OnnxReference.attention(p.q, p.k, p.v, p.maskData, p.pastKey, p.pastValue,
                    p.nonpad, p.attributes);
            Run java = null;
            for (Target t : Target.all()) {
                Run got = run(arena, rnd, p, t.select());
                check(got, want, t + " vs float64", p);
                if (java == null) {
                    java = got;
                } else {
                    check(got, asDouble(java), t + " vs java", p);
                }
            }
        }
    }

    private static OnnxReference.Result asDouble(Run r) {
        return new OnnxReference.Result(Reference.toDouble(r.y), r.presentKey == null ? null
                : Reference.toDouble(r.presentKey), r.presentValue == null ? null : Reference.toDouble(r.presentValue),
                r.qk == null ? null : Reference.toDouble(r.qk));
    }

    private static void check(Run got, OnnxReference.Result want, String what, Problem p) {
        close(got.y, want.y(), what + ", Y", p);
        if (got.presentKey != null) {
            close(got.presentKey, want.presentKey(), what + ", present_key", p);
            close(got.presentValue, want.presentValue(), what + ", present_value", p);
        }
        if (got.qk != null) {
            close(got.qk, want.qk(), what + ", qk_matmul_output", p);
        }
    }

    /** Equal infinities, else within TOLERANCE of the largest finite |want| (and of 1). */
    private static void close(float[] got, double[] want, String what, Object p) {
        assertEquals(want.length, got.length, what + ": element count");
        double scale = 1;
        for (double x : want) {
            if (Double.isFinite(x)) {
                scale = Math.max(scale, Math.abs(x));
            }
        }
        for (int i = 0; i < want.length; i++) {
            int at = i;
            boolean ok = Double.isInfinite(want[i]) ? got[i] == want[i]
                    : Math.abs(got[i] - want[i]) <= TOLERANCE * scale;
            assertTrue(ok, () -> what + ": element " + at + " is " + got[at] + ", expected " + want[at] + " (" + p
                    + ")");
        }
    }

    // The cases the specification singles out, each on every target.

    /** Inputs, the operator and the reference's attributes of a hand-made case. */
    private record Case(OnnxAttention.Builder op, OnnxReference.Attributes attributes) {
    }

    private static float[] runOn(Target t, Case c, Tensor q, Tensor k, Tensor v, OnnxAttention.AttnMask mask,
                                 Tensor pastKey, Tensor pastValue, long[] nonpad, Tensor y, Tensor qk) {
        c.op.backend(t.select()).build().run(q, k, v, mask, pastKey, pastValue, nonpad, y, null, null, qk);
        return y.toArray();
    }

    @Test
    void softcapComesBeforeTheMaskAsTheSpecificationNowSays() {
        // One query, two keys, scale 1, softcap 1: scores (2, -2) and float mask (0, -1).
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, new float[] {2}, 1, 1, 1, 1);
            Tensor k = Tensor.of(arena, new float[] {1, -1}, 1, 1, 2, 1);
            Tensor v = Tensor.of(arena, new float[] {1, 3}, 1, 1, 2, 1);
            OnnxAttention.AttnMask mask = OnnxAttention.AttnMask.additive(Tensor.of(arena, new float[] {0, -1}, 2));
            double capped0 = Math.tanh(2), capped1 = Math.tanh(-2) - 1; // softcap, then the mask
            double p0 = 1 / (1 + Math.exp(capped1 - capped0));
            double maskFirst = 1 / (1 + Math.exp(Math.tanh(-3) - Math.tanh(2))); // the first text of opset 23
            assertTrue(Math.abs(p0 - maskFirst) > 0.05, "the two orders differ here");
            for (int mode = 0; mode < 4; mode++) {
                double[] want = {2 * 1, -2, capped0, Math.tanh(-2), capped0, capped1, p0, 1 - p0};
                Case c = new Case(OnnxAttention.builder().scale(1f).softcap(1f).qkMatmulOutputMode(mode), null);
                for (Target t : Target.all()) {
                    Tensor y = Tensor.allocate(arena, 1, 1, 1, 1), qk = Tensor.allocate(arena, 1, 1, 1, 2);
                    float[] out = runOn(t, c, q, k, v, mask, null, null, null, y, qk);
                    assertEquals(p0 * 1 + (1 - p0) * 3, out[0], 1e-6, t + ": Y");
                    float[] scores = qk.toArray();
                    assertEquals(want[2 * mode], scores[0], 1e-6, t + ": mode " + mode + ", key 0");
                    assertEquals(want[2 * mode + 1], scores[1], 1e-6, t + ": mode " + mode + ", key 1");
                }
            }
        }
    }

    @Test
    void isCausalWithAPastSeesThePastAndTheQueriesOwnPrefix() {
        // Lq = 2 new queries, Lkv = 3 new keys, past 4: query i sees keys j <= i + 4 (not j <= i + 5,
        // the bottom-right alignment to all 7 keys); with Lkv = Lq both are the same.
        SplittableRandom rnd = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            for (long lkv : new long[] {3, 2}) {
                Tensor q = Reference.random(arena, rnd, 1, 2, 2, 4);
                Tensor k = Reference.random(arena, rnd, 1, 1, lkv, 4);
                Tensor v = Reference.random(arena, rnd, 1, 1, lkv, 3);
                Tensor pk = Reference.random(arena, rnd, 1, 1, 4, 4);
                Tensor pv = Reference.random(arena, rnd, 1, 1, 4, 3);
                OnnxReference.Attributes a = new OnnxReference.Attributes(true, 0, 0, Double.NaN, 0, 3);
                OnnxReference.Result want = OnnxReference.attention(q, k, v, null, pk, pv, null, a);
                Case c = new Case(OnnxAttention.builder().isCausal(true).qkMatmulOutputMode(3), a);
                for (Target t : Target.all()) {
                    Tensor y = Tensor.allocate(arena, 1, 2, 2, 3), qk = Tensor.allocate(arena, 1, 2, 2, 4 + lkv);
                    close(runOn(t, c, q, k, v, null, pk, pv, null, y, qk), want.y(), t + ": Y, Lkv " + lkv, c);
                    float[] w = qk.toArray();
                    close(w, want.qk(), t + ": weights, Lkv " + lkv, c);
                    for (int i = 0; i < 2; i++) {
                        for (int j = 0; j < 4 + lkv; j++) {
                            assertEquals(j <= i + 4, w[(int) (i * (4 + lkv) + j)] > 0,
                                    t + ": query " + i + ", key " + j);
                        }
                    }
                }
            }
        }
    }

    @Test
    void nonpadKvSeqlenAlignsCausalPerBatchAndZeroesRowsThatSeeNoKey() {
        // Batch 0 keeps 5 keys, batch 1 keeps 1 of 6: with 3 queries, batch 1's queries 0 and 1
        // (offset 1 - 3 = -2) see no key and are zeros; a full row of float mask -inf is zeros too.
        SplittableRandom rnd = new SplittableRandom(6);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Reference.random(arena, rnd, 2, 3, 8);
            Tensor k = Reference.random(arena, rnd, 2, 6, 8);
            Tensor v = Reference.random(arena, rnd, 2, 6, 6);
            long[] nonpad = {5, 1};
            float[] m = Reference.random(arena, rnd, 2, 1, 3, 6).toArray();
            java.util.Arrays.fill(m, 12, 18, Float.NEGATIVE_INFINITY); // batch 0, query 2
            OnnxAttention.AttnMask mask = OnnxAttention.AttnMask.additive(Tensor.of(arena, m, 2, 1, 3, 6));
            OnnxReference.Attributes a = new OnnxReference.Attributes(true, 2, 2, Double.NaN, 0, 2);
            OnnxReference.Result want = OnnxReference.attention(q, k, v, new OnnxReference.MaskData(null, m,
                    new long[] {2, 1, 3, 6}), null, null, nonpad, a);
            Case c = new Case(OnnxAttention.builder().isCausal(true).qNumHeads(2).kvNumHeads(2)
                    .qkMatmulOutputMode(2), a);
            for (Target t : Target.all()) {
                Tensor y = Tensor.allocate(arena, 2, 3, 6), qk = Tensor.allocate(arena, 2, 2, 3, 6);
                float[] out = runOn(t, c, q, k, v, mask, null, null, nonpad, y, qk);
                close(out, want.y(), t + ": Y", c);
                close(qk.toArray(), want.qk(), t + ": qk_matmul_output", c);
                for (int at : new int[] {2, 3 + 0, 3 + 1}) { // (batch, query): (0, 2), (1, 0), (1, 1)
                    for (int e = 0; e < 6; e++) {
                        assertEquals(0f, out[at * 6 + e], t + ": row " + at + " is zeros");
                    }
                }
            }
        }
    }

    @Test
    void threeDimensionalInputsAreTheirHeadsSideBySide() {
        SplittableRandom rnd = new SplittableRandom(7);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q4 = Reference.random(arena, rnd, 2, 4, 3, 5).permute(0, 2, 1, 3).contiguous(arena);
            Tensor k4 = Reference.random(arena, rnd, 2, 2, 4, 5).permute(0, 2, 1, 3).contiguous(arena);
            Tensor v4 = Reference.random(arena, rnd, 2, 2, 4, 7).permute(0, 2, 1, 3).contiguous(arena);
            // (B, L, H, D) storage: as 3-D it is (B, L, H·D), as 4-D its permuted view.
            Tensor q3 = Tensor.wrap(q4.segment(), 2, 3, 20), k3 = Tensor.wrap(k4.segment(), 2, 4, 10);
            Tensor v3 = Tensor.wrap(v4.segment(), 2, 4, 14);
            OnnxAttention op3 = OnnxAttention.builder().qNumHeads(4).kvNumHeads(2).isCausal(true).build();
            OnnxAttention op4 = OnnxAttention.builder().isCausal(true).build();
            for (Target t : Target.all()) {
                Backend backend = t.select();
                Tensor y3 = Tensor.allocate(arena, 2, 3, 28), y4 = Tensor.allocate(arena, 2, 3, 4, 7);
                op3.toBuilder().backend(backend).build().run(q3, k3, v3, null, null, null, null, y3, null, null, null);
                op4.toBuilder().backend(backend).build().run(q4.permute(0, 2, 1, 3), k4.permute(0, 2, 1, 3),
                        v4.permute(0, 2, 1, 3), null, null, null, null, y4.permute(0, 2, 1, 3), null, null, null);
                assertEquals(java.util.Arrays.toString(y4.toArray()), java.util.Arrays.toString(y3.toArray()),
                        t + ": 3-D Y is 4-D Y with its heads side by side");
            }
        }
    }
}
