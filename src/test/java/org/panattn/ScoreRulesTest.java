package org.panattn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every score rule of {@link TestRule}, on every backend and ISA cap, against a float64
 * reference on random data with odd sizes, alone and with masks and a
 * causal rule, and with values in F16 and BF16 (the reference reads their
 * rounded values).
 */
class ScoreRulesTest {
    private static final double TOLERANCE = 1e-5;

    record Case(TestRule rule, int b, int lq, int lk, int dq, int dk, int dv, int a, boolean masked, Dtype values) {
        @Override
        public String toString() {
            return rule + " B=" + b + " Lq=" + lq + " Lk=" + lk + " Dq=" + dq + " Dk=" + dk + " Dv=" + dv + " A=" + a
                    + (masked ? " masked+causal" : "") + (values == Dtype.F32 ? "" : " v " + values);
        }
    }

    static Stream<Case> cases() {
        Stream.Builder<Case> s = Stream.builder();
        for (TestRule r : TestRule.values()) {
            boolean sameWidth = r.sameWidth();
            s.add(new Case(r, 1, 1, 1, 1, 1, 1, 1, false, Dtype.F32));
            s.add(new Case(r, 2, 7, 13, 5, sameWidth ? 5 : 3, 4, 9, false, Dtype.F32));
            s.add(new Case(r, 3, 33, 129, 16, sameWidth ? 16 : 11, 7, 24, true, Dtype.F32));
            s.add(new Case(r, 2, 9, 21, 6, sameWidth ? 6 : 5, 11, 7, true, Dtype.F16));
            s.add(new Case(r, 1, 5, 17, 3, sameWidth ? 3 : 7, 9, 4, false, Dtype.BF16));
        }
        return s.build();
    }

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyBackendMatchesFloat64Reference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.toString().hashCode());
            boolean concat = c.rule.keyPerQuery(); // concat: Lk is the number of value positions Lv
            int lk = c.lk;
            Tensor q = Reference.random(arena, rnd, c.b, c.lq, c.dq);
            Tensor k = Reference.random(arena, rnd, c.b, concat ? c.lq : lk, c.dk);
            Tensor v = Reference.random(arena, rnd, c.b, lk, c.dv).to(arena, c.values); // the reference reads it back
            TestRule.Weights weights4 = new TestRule.Weights(Reference.random(arena, rnd, c.rule.weightShape(c.dq, c.dk,
                    lk, c.a)), Reference.random(arena, rnd, c.a, c.dk), Reference.random(arena, rnd,
                    c.rule.biasSize(lk, c.a)), Reference.random(arena, rnd, c.a));
            AttentionSpec.Builder spec = AttentionSpec.builder();
            Mask mask = null;
            Causal causal = Causal.NONE;
            if (c.masked) {
                long[] valid = new long[c.b];
                for (int i = 0; i < c.b; i++) {
                    valid[i] = 1 + rnd.nextInt(lk);
                }
                mask = Mask.keyPadding(arena, valid, lk);
                causal = Causal.BOTTOM_RIGHT;
                spec.keyPadding(mask).causal(causal);
            }
            Reference.Result ref = Reference.attend(c.rule.reference(new TestRule.Inputs(q, k, weights4, c.dq, c.dk,
                    c.a)), c.b, 1, 1, c.lq, lk, v.unsqueeze(1), null, mask, causal, 0, Reference.Pos.NONE);
            TestRule.Call call = c.rule.bind(weights4, c.dq);
            float[] javaOut = null;
            for (Target target : Target.all()) {
                Backend backend = target.select();
                Tensor out = Tensor.allocate(arena, c.b, c.lq, c.dv);
                Tensor weights = Tensor.allocate(arena, c.b, c.lq, lk);
                AttentionSpec s = spec.backend(backend).weights(weights).build();
                call.attend(q, k, v, out, s);
                String who = target.toString();
                double err = Reference.relativeError(out.toArray(), ref.out());
                assertTrue(err < TOLERANCE, who + ": output relative error " + err);
                double werr = Reference.relativeError(weights.toArray(), ref.weights());
                assertTrue(werr < TOLERANCE, who + ": weights relative error " + werr);
                if (javaOut == null) {
                    javaOut = out.toArray();
                } else {
                    assertTrue(Reference.relativeError(out.toArray(), Reference.toDouble(javaOut)) < TOLERANCE,
                            who + " vs Java");
                }
            }
        }
    }
}
