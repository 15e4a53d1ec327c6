package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The numeric rules of {@link Attention#scaledDotProduct}'s Javadoc, on the
 * Java and Vector API backends and on the native one at every ISA cap: NaN and infinities,
 * huge logits, fully masked rows, L = 1 and D = 1, and long sequences
 * through the tiled path.
 */
class NumericEdgeCaseTest {
    private static final float NAN = Float.NaN;
    private static final float INF = Float.POSITIVE_INFINITY;

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    /** Output and weights from the Java backend, the Vector API backend, then native at each ISA cap. */
    private record Result(String who, float[] out, float[] weights) {
    }

    private static List<Result> everyBackend(Arena arena, Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        List<Result> results = new ArrayList<>();
        for (Target target : Target.all()) {
            Backend backend = target.select();
            long[] os = q.shape();
            os[3] = v.size(3);
            Tensor out = Tensor.allocate(arena, os);
            Tensor w = Tensor.allocate(arena, q.size(0), q.size(1), q.size(2), k.size(2));
            Attention.scaledDotProduct(q, k, v, out, spec.toBuilder().weights(w).backend(backend).build());
            results.add(new Result(target.toString(), out.toArray(), w.toArray()));
        }
        return results;
    }

    /** Every result has NaN, infinities and zeros exactly where the first has, and close finite values. */
    private static void assertAgree(List<Result> results) {
        Result java = results.get(0);
        for (Result r : results) {
            assertSame(java.out, r.out, r.who + " vs java, out");
            assertSame(java.weights, r.weights, r.who + " vs java, weights");
        }
    }

    private static void assertSame(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) {
            boolean ok = Float.isNaN(want[i]) ? Float.isNaN(got[i])
                    : Float.isInfinite(want[i]) || want[i] == 0 ? got[i] == want[i]
                    : Math.abs(got[i] - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i]));
            int at = i;
            assertTrue(ok, () -> what + ": element " + at + " is " + got[at] + ", expected " + want[at]);
        }
    }

    private static float[] row(float[] x, int row, int length) {
        float[] r = new float[length];
        System.arraycopy(x, row * length, r, 0, length);
        return r;
    }

    private static boolean allNaN(float[] x) {
        for (float f : x) {
            if (!Float.isNaN(f)) {
                return false;
            }
        }
        return true;
    }

    private static boolean allFinite(float[] x) {
        for (float f : x) {
            if (!Float.isFinite(f)) {
                return false;
            }
        }
        return true;
    }

    @Test
    void nanAndInfiniteScoresFollowTheDocumentedRules() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(11);
            int lq = 13, lk = 17, d = 5;
            Tensor q = Reference.random(arena, rnd, 1, 1, lq, d);
            Tensor k = Reference.random(arena, rnd, 1, 1, lk, d);
            Tensor v = Reference.random(arena, rnd, 1, 1, lk, 4);
            float[] m = Reference.random(arena, rnd, lq, lk).toArray();
            m[2 * lk] = INF;                                  // row 2: +Inf score
            for (int j = 0; j < lk; j++) {
                m[5 * lk + j] = Float.NEGATIVE_INFINITY;      // row 5: nothing kept
                m[6 * lk + j] = j == 3 ? 0 : Float.NEGATIVE_INFINITY; // row 6: key 3 only
            }
            m[8 * lk + 1] = NAN;                              // row 8: NaN score
            m[9 * lk + 16] = NAN;                             // row 9: NaN at a key top-left hides
            q.set(NAN, 0, 0, 10, 2);                          // row 10: NaN in q
            Mask mask = Mask.additive(Tensor.of(arena, m, lq, lk));
            for (Causal causal : Causal.values()) {
                List<Result> results = everyBackend(arena, q, k, v,
                        AttentionSpec.builder().mask(mask).causal(causal).build());
                assertAgree(results);
                float[] out = results.get(0).out;
                assertTrue(allNaN(row(out, 2, 4)) && allNaN(row(out, 8, 4)) && allNaN(row(out, 10, 4)),
                        "+Inf or NaN scores make the row NaN");
                assertTrue(causal == Causal.NONE ? allNaN(row(out, 9, 4)) : allFinite(row(out, 9, 4)),
                        causal + ": a NaN score counts only where the causal rule shows its key");
                assertEquals(0f, row(out, 5, 4)[0], "a row with no kept key is zeros");
                assertTrue(allFinite(row(out, 4, 4)), "other rows stay finite");
                if (causal == Causal.NONE) {
                    for (int c = 0; c < 4; c++) {
                        assertEquals(v.get(0, 0, 3, c), row(out, 6, 4)[c], 1e-6, "a single kept key copies its value");
                    }
                    float[] w = results.get(0).weights;
                    assertTrue(allNaN(row(w, 2, lk)), "a NaN row's weights are NaN");
                }
            }
        }
    }

    @Test
    void infinityInAKeyPoisonsOnlyTheRowsWhoseScoreBecomesPlusInfinity() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(12);
            Tensor q = Reference.random(arena, rnd, 1, 2, 20, 3);
            Tensor k = Reference.random(arena, rnd, 1, 2, 9, 3);
            Tensor v = Reference.random(arena, rnd, 1, 2, 9, 6);
            k.set(INF, 0, 1, 8, 0); // head 1, key 8: score ±Inf by the sign of q[i][0]
            List<Result> results = everyBackend(arena, q, k, v, AttentionSpec.DEFAULT);
            assertAgree(results);
            for (int i = 0; i < 20; i++) {
                float[] out = row(results.get(0).out, 20 + i, 6);
                assertEquals(q.get(0, 1, i, 0) > 0, allNaN(out), "row " + i + ": +Inf score is NaN, -Inf is weight 0");
                assertTrue(q.get(0, 1, i, 0) > 0 || allFinite(out), "row " + i);
            }
        }
    }

    @Test
    void nonFiniteValuesReachTheRowsThatWeighThem() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(13);
            int lq = 15, lk = 11;
            Tensor q = Reference.random(arena, rnd, 1, 1, lq, 4);
            Tensor k = Reference.random(arena, rnd, 1, 1, lk, 4);
            Tensor v = Reference.random(arena, rnd, 1, 1, lk, 5);
            v.set(NAN, 0, 0, 6, 1);
            v.set(INF, 0, 0, 2, 3);
            boolean[] keep = new boolean[lq * lk];
            for (int i = 0; i < lq; i++) {
                for (int j = 0; j < lk; j++) {
                    keep[i * lk + j] = i != 4 && !(j == 6 && i % 3 == 0);
                }
            }
            Mask mask = Mask.keep(arena, keep, lq, lk);
            for (Result r : everyBackend(arena, q, k, v, AttentionSpec.builder().mask(mask).build())) {
                for (int i = 0; i < lq; i++) {
                    float[] o = row(r.out, i, 5);
                    if (i == 4) {
                        assertTrue(o[0] == 0 && o[1] == 0 && o[3] == 0, r.who + ": a row that sees no key is zeros");
                        continue;
                    }
                    assertTrue(i % 3 == 0 || Float.isNaN(o[1]), r.who + " row " + i + ": weighs the NaN value");
                    assertEquals(INF, o[3], r.who + " row " + i + ": weighs the +Inf value");
                    assertTrue(Float.isFinite(o[0]) && Float.isFinite(o[2]) && Float.isFinite(o[4]),
                            r.who + " row " + i + ": other columns finite");
                    assertTrue(allFinite(row(r.weights, i, lk)), r.who + ": weights do not see v");
                }
            }
        }
    }

    @Test
    void hugeLogitsDoNotOverflow() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(14);
            int lq = 9, lk = 33;
            float[] big = {1e30f, -1e30f, 3e38f, -3e38f, Float.MAX_VALUE, -Float.MAX_VALUE};
            float[] m = new float[lq * lk];
            for (int i = 0; i < m.length; i++) {
                m[i] = big[(i * 7) % big.length] * (float) (1 - 0.1 * rnd.nextDouble());
            }
            Tensor q = Reference.random(arena, rnd, 1, 1, lq, 8);
            Tensor k = Reference.random(arena, rnd, 1, 1, lk, 8);
            Tensor v = Reference.random(arena, rnd, 1, 1, lk, 8);
            List<Result> results = everyBackend(arena, q, k, v,
                    AttentionSpec.builder().mask(Mask.additive(Tensor.of(arena, m, lq, lk))).build());
            assertAgree(results);
            for (Result r : results) {
                assertTrue(allFinite(r.out), r.who + ": finite output");
                for (int i = 0; i < lq; i++) {
                    double sum = 0;
                    for (float w : row(r.weights, i, lk)) {
                        sum += w;
                    }
                    assertEquals(1, sum, 1e-5, r.who + " row " + i + ": weights sum to 1");
                }
            }
            // Logits of 1e30 through the scale too: q·k·scale.
            List<Result> scaled = everyBackend(arena, q, k, v, AttentionSpec.builder().scale(1e30f).build());
            assertAgree(scaled);
            scaled.forEach(r -> assertTrue(allFinite(r.out), r.who + ": finite output with scale 1e30"));
        }
    }

    @Test
    void oneQueryOneKeyOneDimension() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(15);
            long[][] shapes = {{1, 1, 1, 1, 1}, {1, 7, 1, 1, 3}, {7, 1, 1, 3, 1}, {1, 1, 5, 1, 1}};
            for (long[] s : shapes) { // Lq, Lk, Dk, Dv, B
                Tensor q = Reference.random(arena, rnd, s[4], 1, s[0], s[2]);
                Tensor k = Reference.random(arena, rnd, s[4], 1, s[1], s[2]);
                Tensor v = Reference.random(arena, rnd, s[4], 1, s[1], s[3]);
                for (Causal c : Causal.values()) {
                    List<Result> results = everyBackend(arena, q, k, v, AttentionSpec.builder().causal(c).build());
                    assertAgree(results);
                    if (s[1] == 1 && (c != Causal.BOTTOM_RIGHT || s[0] == 1)) { // row 0 sees the one key
                        assertEquals(v.get(0, 0, 0, 0), results.get(1).out[0], 1e-6, "one key: out = v");
                    }
                }
            }
        }
    }

    @Test
    void longSequencesThroughTheTiledPathMatchJava() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(16);
            Tensor q = Reference.random(arena, rnd, 1, 1, 1500, 8); // 6 query tiles of 256
            Tensor k = Reference.random(arena, rnd, 1, 1, 1300, 8);
            Tensor v = Reference.random(arena, rnd, 1, 1, 1300, 8);
            assertAgree(everyBackend(arena, q, k, v, AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).build()));
        }
    }

    @Test
    void aVeryLongSequenceMatchesFloat64OnSampledRows() {
        int l = 16384, d = 16;
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(17);
            Tensor q = Reference.random(arena, rnd, 1, 1, l, d);
            Tensor k = Reference.random(arena, rnd, 1, 1, l, d);
            Tensor v = Reference.random(arena, rnd, 1, 1, l, d);
            Tensor out = Tensor.allocate(arena, 1, 1, l, d);
            Attention.scaledDotProduct(q, k, v, out, AttentionSpec.builder().causal(Causal.TOP_LEFT)
                    .backend(Backend.NATIVE).build());
            for (int i : new int[] {0, 1, 255, 256, 4097, 8191, l - 1}) {
                double max = Double.NEGATIVE_INFINITY;
                double[] s = new double[i + 1];
                for (int j = 0; j <= i; j++) {
                    for (int c = 0; c < d; c++) {
                        s[j] += (double) q.get(0, 0, i, c) * k.get(0, 0, j, c);
                    }
                    s[j] /= Math.sqrt(d);
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int c = 0; c < d; c++) {
                    double want = 0;
                    for (int j = 0; j <= i; j++) {
                        want += s[j] / sum * v.get(0, 0, j, c);
                    }
                    assertEquals(want, out.get(0, 0, i, c), 1e-5, "row " + i + " column " + c);
                }
            }
        }
    }
}
