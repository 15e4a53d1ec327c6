package org.panattn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every score rule, native (each ISA cap) and Java, against a float64
 * reference on random data with odd sizes, alone and with masks and a
 * causal rule.
 */
class ScoreRulesTest {
    private static final double TOLERANCE = 1e-5;

    enum Rule { DOT, SCALED_DOT, GENERAL, ADDITIVE, CONCAT_TANH_SUM, CONCAT_LINEAR }

    record Case(Rule rule, int b, int lq, int lk, int dq, int dk, int dv, int a, boolean masked) {
        @Override
        public String toString() {
            return rule + " B=" + b + " Lq=" + lq + " Lk=" + lk + " Dq=" + dq + " Dk=" + dk + " Dv=" + dv + " A=" + a
                    + (masked ? " masked+causal" : "");
        }
    }

    static Stream<Case> cases() {
        Stream.Builder<Case> s = Stream.builder();
        for (Rule r : Rule.values()) {
            boolean sameWidth = r == Rule.DOT || r == Rule.SCALED_DOT;
            s.add(new Case(r, 1, 1, 1, 1, 1, 1, 1, false));
            s.add(new Case(r, 2, 7, 13, 5, sameWidth ? 5 : 3, 4, 9, false));
            s.add(new Case(r, 3, 33, 129, 16, sameWidth ? 16 : 11, 7, 24, true));
        }
        return s.build();
    }

    @AfterAll
    static void restoreIsa() {
        Panattn.setMaxIsa(Panattn.supportedIsa());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void nativeAndJavaMatchFloat64Reference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.toString().hashCode());
            boolean concat = c.rule == Rule.CONCAT_LINEAR;
            int lk = concat ? c.lk : c.lk; // concat: Lk is the number of value positions Lv
            Tensor q = Reference.random(arena, rnd, c.b, c.lq, c.dq);
            Tensor k = Reference.random(arena, rnd, c.b, concat ? c.lq : lk, c.dk);
            Tensor v = Reference.random(arena, rnd, c.b, lk, c.dv);
            Tensor w = Reference.random(arena, rnd, switch (c.rule) {
                case GENERAL -> new long[] {c.dq, c.dk};
                case CONCAT_TANH_SUM -> new long[] {c.a, c.dq + c.dk};
                case CONCAT_LINEAR -> new long[] {lk, c.dq + c.dk};
                default -> new long[] {c.a, c.dq};
            });
            Tensor wk = Reference.random(arena, rnd, c.a, c.dk);
            Tensor bias = Reference.random(arena, rnd, concat ? lk : c.a);
            Tensor vvec = Reference.random(arena, rnd, c.a);
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
            Reference.Result ref = Reference.attend(score(c, q, k, w, wk, bias, vvec), c.b, 1, 1, c.lq, lk,
                    v.unsqueeze(1), null, mask, causal, 0, Reference.Pos.NONE);
            ScoreRule rule = switch (c.rule) {
                case DOT -> ScoreRule.dot();
                case SCALED_DOT -> ScoreRule.scaledDot();
                case GENERAL -> ScoreRule.general(w);
                case ADDITIVE -> ScoreRule.additive(w, wk, bias, vvec);
                case CONCAT_TANH_SUM -> ScoreRule.concatTanhSum(w, bias, c.dq);
                case CONCAT_LINEAR -> null;
            };
            float[] javaOut = null;
            for (Backend backend : Backend.values()) {
                for (Isa isa : backend != Backend.NATIVE ? new Isa[] {null} : Panattn.isaLevels().toArray(Isa[]::new)) {
                    if (backend == Backend.NATIVE) {
                        Panattn.setMaxIsa(isa);
                    }
                    Tensor out = Tensor.allocate(arena, c.b, c.lq, c.dv);
                    Tensor weights = Tensor.allocate(arena, c.b, c.lq, lk);
                    AttentionSpec s = spec.backend(backend).weights(weights).build();
                    if (rule == null) {
                        Attention.concatLinear(q, k, v, w, bias, out, s);
                    } else {
                        Attention.attend(rule, q, k, v, out, s);
                    }
                    String who = backend + (backend == Backend.NATIVE ? " " + Panattn.isa() : "");
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

    /** Each rule's score written from its formula, in double. */
    static Reference.Score score(Case c, Tensor q, Tensor k, Tensor w, Tensor wk, Tensor bias, Tensor vvec) {
        return switch (c.rule) {
            case DOT, SCALED_DOT -> (b, h, kh, i, j) -> {
                double s = 0;
                for (int d = 0; d < c.dq; d++) {
                    s += (double) q.get(b, i, d) * k.get(b, j, d);
                }
                return c.rule == Rule.DOT ? s : s / Math.sqrt(c.dq);
            };
            case GENERAL -> (b, h, kh, i, j) -> {
                double s = 0;
                for (int x = 0; x < c.dq; x++) {
                    for (int y = 0; y < c.dk; y++) {
                        s += (double) q.get(b, i, x) * w.get(x, y) * k.get(b, j, y);
                    }
                }
                return s;
            };
            case ADDITIVE, CONCAT_TANH_SUM -> (b, h, kh, i, j) -> {
                boolean concat = c.rule == Rule.CONCAT_TANH_SUM;
                double s = 0;
                for (int a = 0; a < c.a; a++) {
                    double z = bias.get(a);
                    for (int d = 0; d < c.dq; d++) {
                        z += (double) w.get(a, d) * q.get(b, i, d);
                    }
                    for (int d = 0; d < c.dk; d++) {
                        z += (double) (concat ? w.get(a, c.dq + d) : wk.get(a, d)) * k.get(b, j, d);
                    }
                    s += (concat ? 1.0 : vvec.get(a)) * Math.tanh(z);
                }
                return s;
            };
            case CONCAT_LINEAR -> (b, h, kh, i, j) -> {
                double s = bias.get(j);
                for (int d = 0; d < c.dq; d++) {
                    s += (double) w.get(j, d) * q.get(b, i, d);
                }
                for (int d = 0; d < c.dk; d++) {
                    s += (double) w.get(j, c.dq + d) * k.get(b, i, d);
                }
                return s;
            };
        };
    }

}
