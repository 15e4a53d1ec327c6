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
 * Native (at every ISA cap) and Java results against the float64
 * reference, on random data, odd sizes, every mask kind and causal rule,
 * both storage layouts, with and without the weights output.
 */
class SdpaParityTest {
    private static final double TOLERANCE = 1e-5;

    enum MaskKind { NONE, KEEP_LQ_LK, KEEP_B_LQ_LK, ADDITIVE_FULL, KEY_PADDING }

    record Shape(int b, int h, int hkv, int lq, int lk, int dk, int dv) {
    }

    /** A second mask (key padding) and a sliding window, combined with the first mask and the causal rule. */
    enum Extra { NONE, KEY_PADDING_BOOL, KEY_PADDING_FLOAT, WINDOW, KEY_PADDING_AND_WINDOW }

    record Case(Shape s, MaskKind mask, Causal causal, boolean permuted, boolean weights, Extra extra) {
        @Override
        public String toString() {
            return s + " " + mask + " " + causal + (permuted ? " BLHD" : "") + (weights ? " +weights" : "")
                    + (extra == Extra.NONE ? "" : " " + extra);
        }

        long window() {
            return extra == Extra.WINDOW || extra == Extra.KEY_PADDING_AND_WINDOW ? 1 + s.lk / 3 : 0;
        }
    }

    static final Shape[] SHAPES = {
        new Shape(1, 1, 1, 1, 1, 1, 1),
        new Shape(2, 3, 3, 7, 7, 3, 3),
        new Shape(1, 2, 2, 129, 129, 64, 64),
        new Shape(2, 4, 2, 7, 129, 128, 80),
        new Shape(1, 2, 1, 129, 7, 3, 80),
        new Shape(1, 1, 1, 1000, 129, 64, 1),
        new Shape(1, 1, 1, 1000, 1000, 80, 80),
    };

    static Stream<Case> cases() {
        List<Case> cases = new ArrayList<>();
        int n = 0;
        for (Shape s : SHAPES) {
            for (MaskKind m : MaskKind.values()) {
                for (Causal c : Causal.values()) {
                    n++;
                    Extra extra = Extra.values()[n % Extra.values().length];
                    if (c == Causal.NONE && (extra == Extra.WINDOW || extra == Extra.KEY_PADDING_AND_WINDOW)) {
                        extra = Extra.KEY_PADDING_BOOL; // a window needs a causal rule
                    }
                    cases.add(new Case(s, m, c, n % 2 == 0, n % 3 != 0, extra));
                }
            }
        }
        return cases.stream();
    }

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyBackendMatchesFloat64Reference(Case c) {
        Shape s = c.s;
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.toString().hashCode());
            Tensor q = tensor(arena, rnd, c.permuted, s.b, s.h, s.lq, s.dk);
            Tensor k = tensor(arena, rnd, c.permuted, s.b, s.hkv, s.lk, s.dk);
            Tensor v = tensor(arena, rnd, c.permuted, s.b, s.hkv, s.lk, s.dv);
            Mask mask = mask(arena, rnd, c.mask, s);
            Mask padding = switch (c.extra) {
                case KEY_PADDING_BOOL, KEY_PADDING_AND_WINDOW -> mask(arena, rnd, MaskKind.KEY_PADDING, s);
                case KEY_PADDING_FLOAT -> Mask.additive(Reference.random(arena, rnd, s.b, 1, 1, s.lk));
                default -> null;
            };
            AttentionSpec spec = AttentionSpec.builder().causal(c.causal).mask(mask).keyPadding(padding)
                    .window(c.window()).build();
            Reference.Result ref = Reference.sdpa(q, k, v, mask, padding, c.causal, c.window(), 1.0 / Math.sqrt(s.dk));

            float[] javaOut = run(arena, c, q, k, v, spec, Backend.JAVA, ref);
            for (Target t : Target.others()) {
                float[] got = run(arena, c, q, k, v, spec, t.select(), ref);
                double vsJava = maxRelDiff(got, javaOut);
                assertTrue(vsJava < TOLERANCE, t + " vs Java: " + vsJava);
            }
        }
    }

    /** Runs one backend, checks output and weights against the reference, returns the output. */
    private static float[] run(Arena arena, Case c, Tensor q, Tensor k, Tensor v, AttentionSpec spec, Backend backend,
                               Reference.Result ref) {
        Shape s = c.s;
        Tensor out = tensor(arena, null, c.permuted, s.b, s.h, s.lq, s.dv);
        Tensor w = c.weights ? Tensor.allocate(arena, s.b, s.h, s.lq, s.lk) : null;
        Attention.scaledDotProduct(q, k, v, out, spec.toBuilder().weights(w).backend(backend).build());
        String who = backend + (backend == Backend.NATIVE ? " (" + Panattn.isa() + ")" : "");
        double err = Reference.relativeError(out.toArray(), ref.out());
        assertTrue(err < TOLERANCE, who + " output relative error " + err);
        if (w != null) {
            double werr = Reference.relativeError(w.toArray(), ref.weights());
            assertTrue(werr < TOLERANCE, who + " weights relative error " + werr);
        }
        return out.toArray();
    }

    /** Random (or zero, when rnd is null) data, stored (B,H,L,D) or as a (B,L,H,D) permuted view. */
    static Tensor tensor(Arena arena, SplittableRandom rnd, boolean permuted, long b, long h, long l, long d) {
        Tensor storage = rnd == null ? Tensor.allocate(arena, permuted ? new long[] {b, l, h, d} : new long[] {b, h, l, d})
                : Reference.random(arena, rnd, permuted ? new long[] {b, l, h, d} : new long[] {b, h, l, d});
        return permuted ? storage.permute(0, 2, 1, 3) : storage;
    }

    static Mask mask(Arena arena, SplittableRandom rnd, MaskKind kind, Shape s) {
        return switch (kind) {
            case NONE -> null;
            case KEEP_LQ_LK -> Mask.keep(arena, randomKeep(rnd, s.lq * s.lk, s.lk), s.lq, s.lk);
            case KEEP_B_LQ_LK -> Mask.keep(arena, randomKeep(rnd, s.b * s.lq * s.lk, s.lk), s.b, s.lq, s.lk);
            case ADDITIVE_FULL -> {
                Tensor t = Reference.random(arena, rnd, s.b, s.h, s.lq, s.lk);
                float[] x = t.toArray();
                for (int i = 0; i < x.length; i++) {
                    x[i] = i % 7 == 3 ? Float.NEGATIVE_INFINITY : x[i];
                }
                yield Mask.additive(t.copyFrom(x));
            }
            case KEY_PADDING -> {
                long[] valid = new long[s.b];
                for (int i = 0; i < s.b; i++) {
                    valid[i] = 1 + rnd.nextInt(s.lk);
                }
                yield Mask.keyPadding(arena, valid, s.lk);
            }
        };
    }

    /** About 70% true, some rows entirely false (fully masked). */
    private static boolean[] randomKeep(SplittableRandom rnd, int n, int rowLength) {
        boolean[] keep = new boolean[n];
        for (int i = 0; i < n; i++) {
            keep[i] = (i / rowLength) % 5 != 4 && rnd.nextDouble() < 0.7;
        }
        return keep;
    }

    private static double maxRelDiff(float[] a, float[] b) {
        double err = 0, scale = 1e-30;
        for (int i = 0; i < a.length; i++) {
            err = Math.max(err, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return err / scale;
    }

    /** Shared memory lets the Java backends use their threads: the split must not change results. */
    @Test
    void sharedArenasRunInParallelWithTheSameResults() {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(77);
            Tensor q = Reference.random(arena, rnd, 2, 4, 67, 24);
            Tensor k = Reference.random(arena, rnd, 2, 2, 130, 24);
            Tensor v = Reference.random(arena, rnd, 2, 2, 130, 9);
            Mask padding = Mask.keyPadding(arena, new long[] {130, 57}, 130);
            Reference.Result ref = Reference.sdpa(q, k, v, null, padding, Causal.BOTTOM_RIGHT, 0, 1 / Math.sqrt(24));
            for (Backend backend : Backend.values()) {
                Tensor out = Tensor.allocate(arena, 2, 4, 67, 9);
                Tensor w = Tensor.allocate(arena, 2, 4, 67, 130);
                Attention.scaledDotProduct(q, k, v, out, AttentionSpec.builder().keyPadding(padding)
                        .causal(Causal.BOTTOM_RIGHT).weights(w).backend(backend).build());
                assertTrue(Reference.relativeError(out.toArray(), ref.out()) < TOLERANCE, backend + " output");
                assertTrue(Reference.relativeError(w.toArray(), ref.weights()) < TOLERANCE, backend + " weights");
            }
        }
    }

    @Test
    void fullyMaskedRowsAreZeroNotNaN() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(7);
            Tensor q = Reference.random(arena, rnd, 1, 2, 5, 8);
            Tensor k = Reference.random(arena, rnd, 1, 2, 6, 8);
            Tensor v = Reference.random(arena, rnd, 1, 2, 6, 8);
            Mask none = Mask.keep(arena, new boolean[5 * 6], 5, 6);
            for (Backend backend : Backend.values()) {
                Tensor w = Tensor.allocate(arena, 1, 2, 5, 6);
                Tensor out = Attention.scaledDotProduct(q, k, v,
                        AttentionSpec.builder().mask(none).weights(w).backend(backend).build());
                for (float x : out.toArray()) {
                    assertEquals(0f, x, backend + ": fully masked output");
                }
                for (float x : w.toArray()) {
                    assertEquals(0f, x, backend + ": fully masked weights");
                }
            }
        }
    }

    @Test
    void rankThreeInputsAreOneHead() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(3);
            Tensor q = Reference.random(arena, rnd, 2, 5, 4);
            Tensor k = Reference.random(arena, rnd, 2, 9, 4);
            Tensor v = Reference.random(arena, rnd, 2, 9, 3);
            Reference.Result ref = Reference.sdpa(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), null,
                    Causal.BOTTOM_RIGHT, 0.5);
            for (Backend backend : Backend.values()) {
                Tensor out = Attention.scaledDotProduct(q, k, v,
                        AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).scale(0.5f).backend(backend).build());
                assertEquals(3, out.rank());
                assertTrue(Reference.relativeError(out.toArray(), ref.out()) < TOLERANCE, backend.toString());
            }
        }
    }
}
