package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Properties of every score rule of {@link TestRule} on random problems, one seed per case:
 * random sizes (0 and odd ones included), every tensor a strided view with
 * guard bytes around it, random keep-masks and key padding, causal rules,
 * windows (one-sided, or two extents) and per-row key lengths,
 * soft-capping, ALiBi and T5 bias, the weights output. For each: the Java
 * backend matches the float64 reference, the native backend at every ISA
 * cap and the Vector API backend match the Java backend, and no call writes
 * a byte outside out and weights or changes an input.
 */
class RulePropertyTest {
    static final int CASES = 300;
    private static final double TOLERANCE = 1e-5;

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    static LongStream seeds() {
        return LongStream.range(0, CASES);
    }

    /** One random problem: the rule's sizes and tensors (all guarded views), masks and positional terms. */
    private record Problem(ScoreRulesTest.Case c, List<GuardedTensor> inputs, Tensor q, Tensor k, Tensor v,
                           Tensor w, Tensor wk, Tensor bias, Tensor vvec, Mask mask, Mask keyPadding,
                           Causal causal, float softcap, float[] slopes, Tensor table, boolean weights,
                           Reference.Keys keys) {
        /** The value positions: Lk, or Lv for concat-linear. */
        long lk() {
            return c.lk();
        }

        @Override
        public String toString() {
            return c + " " + causal + " mask=" + (mask != null) + " keyPadding=" + (keyPadding != null)
                    + " softcap=" + softcap + " alibi=" + (slopes != null) + " t5=" + (table != null)
                    + " weights=" + weights + " window=" + keys.window() + " extents=(" + keys.left() + ", "
                    + keys.right() + ") lengths=" + Arrays.toString(keys.lengths());
        }
    }

    private static Problem problem(Arena arena, SplittableRandom rnd) {
        TestRule rule = TestRule.values()[rnd.nextInt(TestRule.values().length)];
        boolean concat = rule.keyPerQuery();
        int b = 1 + rnd.nextInt(3);
        int lq = rnd.nextInt(12) == 0 ? 0 : 1 + rnd.nextInt(30);
        int lk = rnd.nextInt(12) == 0 ? 0 : 1 + rnd.nextInt(40);
        int dq = 1 + rnd.nextInt(20);
        int dk = rule.sameWidth() ? dq : 1 + rnd.nextInt(20);
        int dv = rnd.nextInt(10) == 0 ? 0 : 1 + rnd.nextInt(20);
        int a = 1 + rnd.nextInt(24);
        ScoreRulesTest.Case c = new ScoreRulesTest.Case(rule, b, lq, lk, dq, dk, dv, a, false, Dtype.F32);
        List<GuardedTensor> inputs = new ArrayList<>();
        Tensor q = guarded(arena, rnd, inputs, b, lq, dq);
        Tensor k = guarded(arena, rnd, inputs, b, concat ? lq : lk, dk);
        Tensor v = guarded(arena, rnd, inputs, b, lk, dv);
        Tensor w = guarded(arena, rnd, inputs, rule.weightShape(dq, dk, lk, a));
        Tensor wk = guarded(arena, rnd, inputs, a, dk);
        Tensor bias = guarded(arena, rnd, inputs, rule.biasSize(lk, a));
        Tensor vvec = guarded(arena, rnd, inputs, a);
        Mask mask = null;
        if (rnd.nextBoolean()) {
            boolean[] keep = new boolean[lq * lk];
            for (int i = 0; i < keep.length; i++) {
                keep[i] = rnd.nextInt(10) < 7;
            }
            mask = Mask.keep(arena, keep, lq, lk);
        }
        Mask keyPadding = null;
        if (rnd.nextBoolean()) {
            long[] valid = new long[b];
            for (int i = 0; i < b; i++) {
                valid[i] = rnd.nextInt(lk + 1);
            }
            keyPadding = Mask.keyPadding(arena, valid, lk);
        }
        Causal causal = Causal.values()[rnd.nextInt(3)];
        float softcap = rnd.nextInt(3) == 0 ? 0.5f + 4 * rnd.nextFloat() : 0f;
        float[] slopes = rnd.nextInt(3) == 0 ? new float[] {0.05f + rnd.nextFloat()} : null;
        Tensor table = rnd.nextInt(3) == 0 ? guarded(arena, rnd, inputs, 8 + 2 * rnd.nextInt(8), 1) : null;
        return new Problem(c, inputs, q, k, v, w, wk, bias, vvec, mask, keyPadding, causal, softcap, slopes, table,
                rnd.nextBoolean(), SdpaPropertyTest.keys(rnd, causal, b, lk));
    }

    private static Tensor guarded(Arena arena, SplittableRandom rnd, List<GuardedTensor> inputs, long... shape) {
        GuardedTensor t = GuardedTensor.allocate(arena, rnd, true, shape);
        inputs.add(t);
        return t.view();
    }

    /** Output and weights of one run, after checking nothing outside them was written. */
    private record Run(float[] out, float[] weights) {
    }

    private static Run run(Arena arena, SplittableRandom rnd, Problem p, Backend backend) {
        ScoreRulesTest.Case c = p.c;
        GuardedTensor out = GuardedTensor.allocate(arena, rnd, false, c.b(), c.lq(), c.dv());
        GuardedTensor w = p.weights ? GuardedTensor.allocate(arena, rnd, false, c.b(), c.lq(), p.lk()) : null;
        List<byte[]> before = p.inputs.stream().map(GuardedTensor::snapshot).toList();
        AttentionSpec.Builder spec = SdpaPropertyTest.withKeys(AttentionSpec.builder().causal(p.causal).mask(p.mask)
                .keyPadding(p.keyPadding).softcap(p.softcap).weights(w == null ? null : w.view()).backend(backend),
                p.keys);
        if (p.slopes != null) {
            spec.alibi(Tensor.allocate(arena, 1).copyFrom(p.slopes));
        }
        if (p.table != null) {
            spec.relativeBias(new RelativePositionBias(p.table, p.causal == Causal.NONE, 20));
        }
        c.rule().bind(new TestRule.Weights(p.w, p.wk, p.bias, p.vvec), c.dq()).attend(p.q, p.k, p.v, out.view(),
                spec.build());
        String who = backend + (backend == Backend.NATIVE ? " " + Panattn.isa() : "");
        GuardedTensor.assertOnlyOutputsWritten(who, out, w, p.inputs, before);
        return new Run(out.view().toArray(), w == null ? null : w.view().toArray());
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void everyBackendMatchesJavaAndWritesOnlyItsOutputs(long seed) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + 29);
            Problem p = problem(arena, rnd);
            Run java = run(arena, rnd, p, Backend.JAVA);
            Reference.Result ref = reference(p);
            check(java, ref.out(), p.weights ? ref.weights() : null, "Java vs float64 reference", p);
            double[] javaOut = Reference.toDouble(java.out);
            double[] javaWeights = p.weights ? Reference.toDouble(java.weights) : null;
            for (Target t : Target.others()) {
                check(run(arena, rnd, p, t.select()), javaOut, javaWeights, t + " vs Java", p);
            }
        }
    }

    private static Reference.Result reference(Problem p) {
        ScoreRulesTest.Case c = p.c;
        double[][] rel = null;
        if (p.table != null) {
            rel = new double[1][(int) p.table.size(0)];
            for (int i = 0; i < rel[0].length; i++) {
                rel[0][i] = p.table.get(i, 0);
            }
        }
        double[] slopes = p.slopes == null ? null : new double[] {p.slopes[0]};
        Reference.Pos pos = new Reference.Pos(p.softcap, slopes, rel, p.causal == Causal.NONE, 20);
        Reference.Score score = c.rule().reference(new TestRule.Inputs(p.q, p.k, new TestRule.Weights(p.w, p.wk, p.bias,
                p.vvec), c.dq(), c.dk(), c.a()));
        return Reference.attend(score, c.b(), 1, 1, c.lq(), p.lk(), p.v.unsqueeze(1), p.mask, p.keyPadding, p.causal,
                p.keys, pos);
    }

    private static void check(Run got, double[] out, double[] weights, String what, Problem p) {
        assertEquals(out.length, got.out.length, what + ": output size");
        double err = Reference.relativeError(got.out, out);
        assertTrue(err <= TOLERANCE, () -> what + ", out: relative error " + err + " (" + p + ")");
        if (weights != null) {
            double werr = Reference.relativeError(got.weights, weights);
            assertTrue(werr <= TOLERANCE, () -> what + ", weights: relative error " + werr + " (" + p + ")");
        }
    }

}
