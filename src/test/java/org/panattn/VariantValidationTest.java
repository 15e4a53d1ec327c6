package org.panattn;

import static org.panattn.Refusals.assertUntouched;
import static org.panattn.Refusals.closed;
import static org.panattn.Refusals.expect;
import static org.panattn.Refusals.expectOnOtherThread;
import static org.panattn.Refusals.on;
import static org.panattn.Refusals.sentinel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Attention.attend with every score rule, Attention.concatLinear and the
 * arrays overload refuse each bad argument on every backend with an
 * exception naming it and what was expected, and a refused call writes
 * nothing to its output.
 */
class VariantValidationTest {
    private static final Class<IllegalArgumentException> IAE = IllegalArgumentException.class;
    private static final Class<IllegalStateException> ISE = IllegalStateException.class;

    /** Sizes of the rank-3 (B, L, D) calls; the rules with weights use Dk = 3, A = 7. */
    private static final long B = 2, LQ = 3, LK = 5, DQ = 4, DV = 6, A = 7;

    /** The rules with one key per query (concat-linear) have their own tests below. */
    static Stream<Arguments> rulesOnBackends() {
        return Arrays.stream(TestRule.values()).filter(r -> !r.keyPerQuery())
                .flatMap(r -> Arrays.stream(Backend.values()).map(b -> Arguments.of(r, b)));
    }

    private static long dk(TestRule r) {
        return r.sameWidth() ? DQ : 3;
    }

    /** The rule's call on random weights. */
    private static TestRule.Call rule(TestRule r, Arena arena, SplittableRandom rnd) {
        return r.bind(new TestRule.Weights(Reference.random(arena, rnd, r.weightShape(DQ, 3, LK, A)),
                Reference.random(arena, rnd, A, 3), Reference.random(arena, rnd, A), Reference.random(arena, rnd, A)), DQ);
    }

    /** What a k of the wrong width is told: the rules with key weights name their columns. */
    private static String wrongKeyWidth(TestRule r, long dk) {
        return r.namesKeyColumns()
                ? "k: last dimension must be " + dk + " (Dk, the columns of wk), got shape (2, 5, " + (dk + 1) + ")"
                : "k: expected shape (B, Lk, Dk) = (2, *, " + dk + "), got (2, 5, " + (dk + 1) + ")";
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("rulesOnBackends")
    void attendNamesEachBadTensor(TestRule r, Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(r.ordinal());
            TestRule.Call rule = rule(r, arena, rnd);
            long dk = dk(r);
            Tensor q = Reference.random(arena, rnd, B, LQ, DQ);
            Tensor k = Reference.random(arena, rnd, B, LK, dk);
            Tensor v = Reference.random(arena, rnd, B, LK, DV);
            Tensor out = sentinel(arena, B, LQ, DV);
            AttentionSpec spec = on(backend);
            expect(IAE, "rule must not be null", () -> Attention.attend(null, q, k, v, out, spec));
            expect(IAE, "spec must not be null", () -> rule.attend(q, k, v, out, null));
            expect(IAE, "q must not be null", () -> rule.attend(null, k, v, out, spec));
            expect(IAE, "k must not be null", () -> rule.attend(q, null, v, out, spec));
            expect(IAE, "v must not be null", () -> rule.attend(q, k, null, out, spec));
            expect(IAE, "out must not be null", () -> rule.attend(q, k, v, null, spec));
            expect(ISE, "q: its arena is closed", () -> rule.attend(closed(B, LQ, DQ), k, v, out, spec));
            expect(ISE, "k: its arena is closed", () -> rule.attend(q, closed(B, LK, dk), v, out, spec));
            expect(ISE, "v: its arena is closed", () -> rule.attend(q, k, closed(B, LK, DV), out, spec));
            expect(ISE, "out: its arena is closed", () -> rule.attend(q, k, v, closed(B, LQ, DV), spec));
            expect(IAE, "q: expected rank 4 (B, H, L, D) or rank 3 (B, L, D), got shape (3, 4)",
                    () -> rule.attend(Tensor.allocate(arena, LQ, DQ), k, v, out, spec));
            expect(IAE, "k: expected rank 3 like q, got shape (2, 1, 5, " + dk + ")",
                    () -> rule.attend(q, k.unsqueeze(1), v, out, spec));
            expect(IAE, "out: expected rank 3 like q, got shape (2, 1, 3, 6)",
                    () -> rule.attend(q, k, v, out.unsqueeze(1), spec));
            expect(IAE, wrongKeyWidth(r, dk),
                    () -> rule.attend(q, Tensor.allocate(arena, B, LK, dk + 1), v, out, spec));
            expect(IAE, "k: expected shape (B, Lk, Dk) = (2, *, |got (3, 5, " + dk + ")",
                    () -> rule.attend(q, Tensor.allocate(arena, 3, LK, dk), v, out, spec));
            expect(IAE, "v: expected shape (B, Lk, Dv) = (2, 5, *), got (2, 6, 6)",
                    () -> rule.attend(q, k, Tensor.allocate(arena, B, LK + 1, DV), out, spec));
            expect(IAE, "out: expected shape (B, Lq, Dv) = (2, 3, 6), got (2, 3, 7)",
                    () -> rule.attend(q, k, v, Tensor.allocate(arena, B, LQ, DV + 1), spec));
            expect(IAE, "out: shares memory with v", () -> rule.attend(q, k, v,
                    Tensor.wrap(v.segment(), B, LQ, DV), spec));
            expect(IAE, "out: its segment is read-only", () -> rule.attend(q, k, v,
                    Tensor.wrap(out.segment().asReadOnly(), B, LQ, DV), spec));
            expect(IAE, "weights: expected shape (B, Lq, Lk) = (2, 3, 5), got (2, 3, 6)", () -> rule.attend(
                    q, k, v, out, spec.toBuilder().weights(Tensor.allocate(arena, B, LQ, LK + 1)).build()));
            expect(IAE, "mask: last dimension must be Lk = 5, got shape (1, 1, 3, 6)", () -> rule.attend(
                    q, k, v, out, spec.toBuilder().mask(Mask.keep(arena, new boolean[18], LQ, LK + 1)).build()));
            expect(IAE, "mask: shape (3, 1, 3, 5) does not broadcast to (B, H, Lq, Lk) = (2, 1, 3, 5)|B must be 1 or 2",
                    () -> rule.attend(q, k, v, out, spec.toBuilder()
                            .mask(Mask.additive(Tensor.allocate(arena, 3, LQ, LK))).build()));
            expect(IAE, "keyPadding: last dimension must be Lk = 5", () -> rule.attend(q, k, v, out,
                    spec.toBuilder().keyPadding(Mask.keyPadding(arena, new long[] {1, 2}, LK - 1)).build()));
            if (backend == Backend.NATIVE) {
                Tensor heapQ = Tensor.wrap(MemorySegment.ofArray(q.toArray()), B, LQ, DQ);
                expect(IAE, "q: the native backend needs off-heap memory",
                        () -> rule.attend(heapQ, k, v, out, spec));
            }
            Tensor[] confined = {q, k, v, out};
            String[] names = {"q", "k", "v", "out"};
            for (int i = 0; i < 4; i++) {
                int at = i;
                expectOnOtherThread(ISE, names[i] + ": its arena is confined to another thread", () -> {
                    try (Arena shared = Arena.ofShared()) {
                        Tensor[] t = {Tensor.allocate(shared, B, LQ, DQ), Tensor.allocate(shared, B, LK, dk),
                            Tensor.allocate(shared, B, LK, DV), Tensor.allocate(shared, B, LQ, DV)};
                        t[at] = confined[at];
                        rule.attend(t[0], t[1], t[2], t[3], spec);
                    }
                });
            }
            assertUntouched(out, r + " on " + backend);
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("rulesOnBackends")
    void queriesOfTheWrongWidthAreNamed(TestRule r, Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(r.ordinal());
            TestRule.Call rule = rule(r, arena, rnd);
            Tensor q = Reference.random(arena, rnd, B, LQ, DQ + 1);
            Tensor k = Reference.random(arena, rnd, B, LK, dk(r));
            Tensor v = Reference.random(arena, rnd, B, LK, DV);
            Tensor out = sentinel(arena, B, LQ, DV);
            // The dot rules take Dk from q, so the mismatch is k's; the others know Dq from their weights.
            String words = r.sameWidth() ? "k: expected shape (B, Lk, Dk) = (2, *, 5), got (2, 5, 4)"
                    : "q: last dimension must be 4 (Dq, the |), got shape (2, 3, 5)";
            expect(IAE, words, () -> rule.attend(q, k, v, out, on(backend)));
            assertUntouched(out, r + " on " + backend);
        }
    }

    /** The additive rule's own tensors are checked by the call that reads them, under the rule's names. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void additiveRuleTensorsAreNamedWhenUsed(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(9);
            Tensor wq = Reference.random(arena, rnd, A, DQ), wk = Reference.random(arena, rnd, A, 3);
            Tensor bias = Reference.random(arena, rnd, A), vec = Reference.random(arena, rnd, A);
            Tensor q = Reference.random(arena, rnd, B, LQ, DQ), k = Reference.random(arena, rnd, B, LK, 3);
            Tensor v = Reference.random(arena, rnd, B, LK, DV);
            Tensor out = sentinel(arena, B, LQ, DV);
            AttentionSpec spec = on(backend);
            expect(ISE, "rule.wq: its arena is closed", () -> Attention.attend(ScoreRule.additive(closed(A, DQ), wk,
                    bias, vec), q, k, v, out, spec));
            expect(ISE, "rule.wk: its arena is closed", () -> Attention.attend(ScoreRule.additive(wq, closed(A, 3),
                    bias, vec), q, k, v, out, spec));
            expect(ISE, "rule.bias: its arena is closed", () -> Attention.attend(ScoreRule.additive(wq, wk, closed(A),
                    vec), q, k, v, out, spec));
            expect(ISE, "rule.v: its arena is closed", () -> Attention.attend(ScoreRule.additive(wq, wk, bias,
                    closed(A)), q, k, v, out, spec));
            if (backend == Backend.NATIVE) {
                Tensor heapBias = Tensor.wrap(MemorySegment.ofArray(new float[(int) A]), A);
                expect(IAE, "rule.bias: the native backend needs off-heap memory", () -> Attention.attend(
                        ScoreRule.additive(wq, wk, heapBias, vec), q, k, v, out, spec));
                expect(IAE, "rule.v: the native backend needs off-heap memory", () -> Attention.attend(
                        ScoreRule.additive(wq, wk, bias, heapBias), q, k, v, out, spec));
            }
            try (Arena shared = Arena.ofShared()) { // everything but wk usable from the other thread
                ScoreRule confinedWk = ScoreRule.additive(Tensor.allocate(shared, A, DQ), wk, null,
                        vec.contiguous(shared));
                expectOnOtherThread(ISE, "rule.wk: its arena is confined to another thread", () -> Attention.attend(
                        confinedWk, Tensor.allocate(shared, B, LQ, DQ), Tensor.allocate(shared, B, LK, 3),
                        Tensor.allocate(shared, B, LK, DV), Tensor.allocate(shared, B, LQ, DV), spec));
            }
            assertUntouched(out, backend.toString());
        }
    }

    @Test
    void ruleFactoriesCheckTheirWeights() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor wq = Tensor.allocate(arena, A, DQ), wk = Tensor.allocate(arena, A, 3), vec = Tensor.allocate(arena, A);
            Tensor strided = Tensor.wrap(arena.allocate(4 * 2 * A, 4), new long[] {A}, new long[] {2});
            expect(IAE, "w: expected shape (Dq, Dk), got null", () -> ScoreRule.general(null));
            expect(IAE, "w: expected shape (Dq, Dk), got (2, 4, 3)", () -> ScoreRule.general(Tensor.allocate(arena,
                    2, 4, 3)));
            expect(ISE, "w: its arena is closed", () -> ScoreRule.general(closed(DQ, 3)));
            expectOnOtherThread(ISE, "w: its arena is confined to another thread", () -> ScoreRule.general(wq));
            expect(IAE, "wq, wk: expected shapes (A, Dq) and (A, Dk), got null and (7, 3)",
                    () -> ScoreRule.additive(null, wk, null, vec));
            expect(IAE, "wq, wk: expected shapes (A, Dq) and (A, Dk), got (7, 4) and (6, 3)",
                    () -> ScoreRule.additive(wq, Tensor.allocate(arena, A - 1, 3), null, vec));
            expect(IAE, "bias: expected shape (A) = (7), got (6)",
                    () -> ScoreRule.additive(wq, wk, Tensor.allocate(arena, A - 1), vec));
            expect(IAE, "bias: expected a contiguous vector (stride 1), got strides (2)",
                    () -> ScoreRule.additive(wq, wk, strided, vec));
            expect(IAE, "v: expected shape (A) = (7), got null", () -> ScoreRule.additive(wq, wk, null, null));
            expect(IAE, "v: expected shape (A) = (7), got (7, 1)",
                    () -> ScoreRule.additive(wq, wk, null, Tensor.allocate(arena, A, 1)));
            expect(IAE, "v: expected a contiguous vector (stride 1), got strides (2)",
                    () -> ScoreRule.additive(wq, wk, null, strided));
            // The record is public: its constructor checks v as well.
            expect(IAE, "v: expected shape (A) = (7), got (6)",
                    () -> ScoreRule.additive(wq, wk, null, Tensor.allocate(arena, A - 1)));
            expect(IAE, "w: expected shape (A, Dq + Dk) with 0 < Dq = 4 < its width, got null",
                    () -> ScoreRule.concatTanhSum(null, null, DQ));
            expect(IAE, "w: expected shape (A, Dq + Dk) with 0 < Dq = 0 < its width, got (7, 7)",
                    () -> ScoreRule.concatTanhSum(Tensor.allocate(arena, A, 7), null, 0));
            expect(IAE, "w: expected shape (A, Dq + Dk) with 0 < Dq = 7 < its width, got (7, 7)",
                    () -> ScoreRule.concatTanhSum(Tensor.allocate(arena, A, 7), null, 7));
            expect(ISE, "w: its arena is closed", () -> ScoreRule.concatTanhSum(closed(A, 7), null, DQ));
            expect(IAE, "bias: expected shape (A) = (7), got (8)",
                    () -> ScoreRule.concatTanhSum(Tensor.allocate(arena, A, 7), Tensor.allocate(arena, 8), DQ));
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void concatLinearNamesEachBadArgument(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(5);
            long lv = 5;
            Tensor q = Reference.random(arena, rnd, B, LQ, DQ), k = Reference.random(arena, rnd, B, LQ, 3);
            Tensor v = Reference.random(arena, rnd, B, lv, DV), w = Reference.random(arena, rnd, lv, DQ + 3);
            Tensor bias = Reference.random(arena, rnd, lv);
            Tensor out = sentinel(arena, B, LQ, DV);
            AttentionSpec spec = on(backend);
            expect(IAE, "spec must not be null", () -> Attention.concatLinear(q, k, v, w, bias, out, null));
            expect(IAE, "q must not be null", () -> Attention.concatLinear(null, k, v, w, bias, out, spec));
            expect(IAE, "k must not be null", () -> Attention.concatLinear(q, null, v, w, bias, out, spec));
            expect(IAE, "v must not be null", () -> Attention.concatLinear(q, k, null, w, bias, out, spec));
            expect(IAE, "out must not be null", () -> Attention.concatLinear(q, k, v, w, bias, null, spec));
            expect(IAE, "w: expected shape (Lv, Dq + Dk) = (*, 7), got null",
                    () -> Attention.concatLinear(q, k, v, null, bias, out, spec));
            expect(IAE, "w: expected shape (Lv, Dq + Dk) = (*, 7), got (5, 6)",
                    () -> Attention.concatLinear(q, k, v, Tensor.allocate(arena, lv, 6), bias, out, spec));
            expect(IAE, "k: expected shape (B, Lq, Dk): one key per query = (2, 3, *), got (2, 4, 3)",
                    () -> Attention.concatLinear(q, Tensor.allocate(arena, B, LQ + 1, 3), v, w, bias, out, spec));
            expect(IAE, "bias: expected shape (Lv) = (5), got (4)",
                    () -> Attention.concatLinear(q, k, v, w, Tensor.allocate(arena, lv - 1), out, spec));
            expect(IAE, "v: expected shape (B, Lk, Dv) = (2, 5, *), got (2, 6, 6)",
                    () -> Attention.concatLinear(q, k, Tensor.allocate(arena, B, lv + 1, DV), w, bias, out, spec));
            expect(IAE, "out: expected shape (B, Lq, Dv) = (2, 3, 6), got (2, 4, 6)",
                    () -> Attention.concatLinear(q, k, v, w, bias, Tensor.allocate(arena, B, LQ + 1, DV), spec));
            expect(IAE, "q: expected rank 4 (B, H, L, D) or rank 3 (B, L, D), got shape (4)",
                    () -> Attention.concatLinear(Tensor.allocate(arena, DQ), k, v, w, bias, out, spec));
            expect(ISE, "w: its arena is closed", () -> Attention.concatLinear(q, k, v, closed(lv, DQ + 3), bias, out,
                    spec));
            expect(ISE, "bias: its arena is closed", () -> Attention.concatLinear(q, k, v, w, closed(lv), out, spec));
            expect(IAE, "mask: last dimension must be Lk = 5, got shape (1, 1, 3, 4)", () -> Attention.concatLinear(q,
                    k, v, w, bias, out, spec.toBuilder().mask(Mask.additive(Tensor.allocate(arena, LQ, 4))).build()));
            expect(IAE, "weights: expected shape (B, Lq, Lk) = (2, 3, 5), got (2, 3, 4)", () -> Attention.concatLinear(
                    q, k, v, w, bias, out, spec.toBuilder().weights(Tensor.allocate(arena, B, LQ, 4)).build()));
            expect(IAE, "out: shares memory with v", () -> Attention.concatLinear(q, k, v, w, bias,
                    Tensor.wrap(v.segment(), B, LQ, DV), spec));
            if (backend == Backend.NATIVE) {
                expect(IAE, "w: the native backend needs off-heap memory", () -> Attention.concatLinear(q, k, v,
                        Tensor.wrap(MemorySegment.ofArray(w.toArray()), lv, DQ + 3), bias, out, spec));
            }
            expectOnOtherThread(ISE, "w: its arena is confined to another thread", () -> {
                try (Arena shared = Arena.ofShared()) {
                    Attention.concatLinear(Tensor.allocate(shared, B, LQ, DQ), Tensor.allocate(shared, B, LQ, 3),
                            Tensor.allocate(shared, B, lv, DV), w, null, Tensor.allocate(shared, B, LQ, DV), spec);
                }
            });
            assertUntouched(out, backend.toString());
        }
    }

    @Test
    void dimsCheckTheirSizes() {
        expect(IAE, "dims must be >= 0, got Dims[b=1, h=-2, hkv=1, lq=3, lk=3, dk=4, dv=4]",
                () -> new Attention.Dims(1, -2, 1, 3, 3, 4, 4));
        expect(IAE, "dims: hkv (2) must divide h (3)", () -> new Attention.Dims(1, 3, 2, 3, 3, 4, 4));
        expect(IAE, "dims: hkv (0) must divide h (3)", () -> new Attention.Dims(1, 3, 0, 3, 3, 4, 4));
        // Each product fits in 64 bits or the record is refused: 2^16 to the fourth is 2^64.
        int big = 1 << 16;
        expect(IAE, "dims: q (b, h, lq, dk) = (65536, 65536, 65536, 65536): element count overflows 64 bits",
                () -> new Attention.Dims(big, big, big, big, 1, big, 1));
        expect(IAE, "dims: v (b, hkv, lk, dv) = (65536, 65536, 65536, 65536): element count overflows 64 bits",
                () -> new Attention.Dims(big, big, big, 1, big, 1, big));
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void arraysNameEachBadArgument(Backend backend) {
        Attention.Dims d = new Attention.Dims(1, 2, 1, 3, 4, 5, 6); // q 30, k 20, v 24, out 36 floats
        float[] q = new float[30], k = new float[20], v = new float[24];
        Arrays.fill(q, 0.5f);
        float[] out = new float[36];
        Arrays.fill(out, Refusals.SENTINEL);
        AttentionSpec spec = on(backend);
        expect(IAE, "dims must not be null", () -> Attention.scaledDotProduct(q, k, v, out, null, spec));
        expect(IAE, "spec must not be null", () -> Attention.scaledDotProduct(q, k, v, out, d, null));
        expect(IAE, "q: expected 30 floats for Dims[b=1, h=2, hkv=1, lq=3, lk=4, dk=5, dv=6], got null",
                () -> Attention.scaledDotProduct(null, k, v, out, d, spec));
        expect(IAE, "k: expected 20 floats|got 21", () -> Attention.scaledDotProduct(q, new float[21], v, out, d, spec));
        expect(IAE, "v: expected 24 floats|got 20", () -> Attention.scaledDotProduct(q, k, k, out, d, spec));
        expect(IAE, "out: expected 36 floats|got 35", () -> Attention.scaledDotProduct(q, k, v, new float[35], d, spec));
        // Same-sized arrays so that only the aliasing is wrong.
        Attention.Dims square = Attention.Dims.of(1, 2, 3, 4);
        float[] a = new float[24], b = new float[24];
        expect(IAE, "out: shares memory with q", () -> Attention.scaledDotProduct(a, b, b, a, square, spec));
        expect(IAE, "out: shares memory with k", () -> Attention.scaledDotProduct(b, a, b, a, square, spec));
        expect(IAE, "out: shares memory with v", () -> Attention.scaledDotProduct(b, b, a, a, square, spec));
        AttentionSpec[] tensorOnly;
        try (Arena arena = Arena.ofConfined()) {
            tensorOnly = new AttentionSpec[] {
                spec.toBuilder().mask(Mask.keep(arena, new boolean[12], 3, 4)).build(),
                spec.toBuilder().keyPadding(Mask.keyPadding(arena, new long[] {2}, 4)).build(),
                spec.toBuilder().weights(Tensor.allocate(arena, 1, 2, 3, 4)).build(),
                spec.toBuilder().causal(Causal.TOP_LEFT).window(2).build(),
                spec.toBuilder().window(1, 0).build(),
                spec.toBuilder().window(AttentionSpec.UNBOUNDED, 3).build(),
                spec.toBuilder().keyLengths(2).build(),
                spec.toBuilder().softcap(5f).build(),
                spec.toBuilder().alibi(Alibi.slopes(arena, 2)).build(),
                spec.toBuilder().relativeBias(new RelativePositionBias(Tensor.allocate(arena, 8, 2), true, 16)).build()};
            for (AttentionSpec s : tensorOnly) {
                expect(IAE, "spec: arrays take only causal, scale and backend",
                        () -> Attention.scaledDotProduct(q, k, v, out, d, s));
            }
        }
        for (float x : out) {
            org.junit.jupiter.api.Assertions.assertEquals(Refusals.SENTINEL, x, "a refused call wrote out");
        }
    }
}
