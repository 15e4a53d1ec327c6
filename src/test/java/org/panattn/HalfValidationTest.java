package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Where half precision is not taken, a half tensor is refused before any
 * work, on every backend, by a message naming it, its dtype and the one it
 * needs; and where it is taken beyond scaled dot-product attention (every
 * rule's v, the general rule's k), the call works.
 */
class HalfValidationTest {

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    static Backend[] backends() {
        return Backend.values();
    }

    private static Tensor random(Arena arena, long... shape) {
        return Reference.random(arena, new SplittableRandom(shape.length), shape);
    }

    @ParameterizedTest
    @MethodSource("backends")
    void halfTensorsAreRefusedWhereOnlyFloat32IsTaken(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = random(arena, 2, 4, 3, 8), k = random(arena, 2, 2, 5, 8), v = random(arena, 2, 2, 5, 6);
            Tensor out = Tensor.allocate(arena, 2, 4, 3, 6);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            float[] before = out.toArray();
            Refusals.expect(IllegalArgumentException.class, "out: dtype F16, expected F32 (outputs are float32",
                    () -> Attention.scaledDotProduct(q, k, v, Tensor.allocate(arena, Dtype.F16, 2, 4, 3, 6), spec));
            Refusals.expect(IllegalArgumentException.class, "weights: dtype BF16, expected F32", () -> Attention
                    .scaledDotProduct(q, k, v, out, spec.toBuilder().weights(Tensor.allocate(arena, Dtype.BF16, 2, 4,
                            3, 5)).build()));
            Refusals.expect(IllegalArgumentException.class, "values: dtype F16, expected F32 (an additive mask",
                    () -> Mask.additive(Tensor.allocate(arena, Dtype.F16, 3, 5)));
            Refusals.expect(IllegalArgumentException.class, "alibiSlopes: dtype BF16, expected F32", () -> Attention
                    .scaledDotProduct(q, k, v, out, spec.toBuilder().alibi(Tensor.allocate(arena, Dtype.BF16, 4))
                            .build()));
            Refusals.expect(IllegalArgumentException.class, "relativeBias.table: dtype F16, expected F32",
                    () -> Attention.scaledDotProduct(q, k, v, out, spec.toBuilder().relativeBias(
                            new RelativePositionBias(Tensor.allocate(arena, Dtype.F16, 8, 4), true, 16)).build()));

            Tensor q16 = q.to(arena, Dtype.F16), k16 = k.to(arena, Dtype.BF16);
            Refusals.expect(IllegalArgumentException.class, "q: dtype F16, expected F32 (this rule projects it",
                    () -> Attention.attend(ScoreRule.general(random(arena, 8, 8)), q16, k, v, out, spec));
            Refusals.expect(IllegalArgumentException.class, "k: dtype BF16, expected F32 (this rule projects it",
                    () -> Attention.attend(ScoreRule.additive(random(arena, 7, 8), random(arena, 7, 8), null,
                            random(arena, 7)), q, k16, v, out, spec));
            Refusals.expect(IllegalArgumentException.class, "q: dtype F16, expected F32 (concat-linear",
                    () -> Attention.concatLinear(q16, random(arena, 2, 4, 3, 2), random(arena, 2, 4, 5, 6),
                            random(arena, 5, 10), null, out, spec));
            Refusals.expect(IllegalArgumentException.class, "w: dtype F16, expected F32 (a score rule's weights",
                    () -> ScoreRule.general(Tensor.allocate(arena, Dtype.F16, 8, 8)));
            Refusals.expect(IllegalArgumentException.class, "wk: dtype BF16, expected F32",
                    () -> ScoreRule.additive(random(arena, 7, 8), Tensor.allocate(arena, Dtype.BF16, 7, 8), null,
                            random(arena, 7)));
            Refusals.expect(IllegalArgumentException.class, "w: dtype BF16, expected F32",
                    () -> ScoreRule.concatTanhSum(Tensor.allocate(arena, Dtype.BF16, 7, 16), null, 8));
            Refusals.expect(IllegalArgumentException.class, "x: dtype F16, expected F32 (the linear layer",
                    () -> Attention.linear(q16, random(arena, 5, 8), null, Tensor.allocate(arena, 2, 4, 3, 5),
                            backend));
            Refusals.expect(IllegalArgumentException.class, "y: dtype BF16, expected F32",
                    () -> Attention.linear(q, random(arena, 5, 8), null, Tensor.allocate(arena, Dtype.BF16, 2, 4, 3, 5),
                            backend));
            Refusals.expect(IllegalArgumentException.class, "x: dtype F16, expected F32 (RoPE",
                    () -> Rope.apply(q16, 0, 10000f, Rope.Layout.HALF, backend));
            assertArrayEquals(before, out.toArray(), "a refused call writes nothing");
        }
    }

    /** Every rule reads a half v, and the general rule a half k too (it is dot-product attention of q·W with k). */
    @ParameterizedTest
    @MethodSource("backends")
    void halfValuesServeEveryRule(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = random(arena, 2, 3, 8), k = random(arena, 2, 5, 8), v = random(arena, 2, 5, 6);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            ScoreRule[] rules = {ScoreRule.dot(), ScoreRule.general(random(arena, 8, 8)),
                ScoreRule.additive(random(arena, 7, 8), random(arena, 7, 8), random(arena, 7), random(arena, 7)),
                ScoreRule.concatTanhSum(random(arena, 7, 16), random(arena, 7), 8)};
            for (ScoreRule rule : rules) {
                for (Dtype t : new Dtype[] {Dtype.F16, Dtype.BF16}) {
                    Tensor vt = v.to(arena, t), kt = rule instanceof GeneralRule ? k.to(arena, t) : k;
                    Tensor want = Tensor.allocate(arena, 2, 3, 6), got = Tensor.allocate(arena, 2, 3, 6);
                    Attention.attend(rule, q, kt.to(arena, Dtype.F32), vt.to(arena, Dtype.F32), want, spec);
                    Attention.attend(rule, q, kt, vt, got, spec);
                    double err = Reference.relativeError(got.toArray(), Reference.toDouble(want.toArray()));
                    assertTrue(err < 1e-6, rule + " with " + t + " v: " + err);
                }
            }
        }
    }
}
