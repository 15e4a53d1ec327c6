package org.panattn;

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
 * Properties of scaled dot-product attention on random problems, one seed
 * per case (a failure names its seed; rerun it alone with the same seed):
 * random sizes (0 and odd ones included, several query tiles sometimes),
 * rank 3 or 4, every tensor a strided view with its own storage order and
 * padding, random masks with random broadcasting, causal rules, windows
 * (one-sided, or two extents with or without a causal rule), per-row key
 * lengths, the weights output, and in one case of three q, k and v each
 * F32, F16 or BF16 (the reference reads the rounded values). For each:
 * the Java backend matches the float64 reference, the native backend at
 * every ISA cap matches the Java backend, and no call writes a byte
 * outside out and weights or changes an input.
 */
class SdpaPropertyTest {
    static final int CASES = 250;
    private static final double TOLERANCE = 1e-5;

    @AfterAll
    static void restoreIsa() {
        Target.restore();
    }

    static LongStream seeds() {
        return LongStream.range(0, CASES);
    }

    /** One random problem: sizes, tensors (all guarded views) and the spec's parts. */
    private record Problem(int rank, long b, long h, long hkv, long lq, long lk, long dk, long dv,
                           Causal causal, List<GuardedTensor> inputs, Tensor q, Tensor k, Tensor v,
                           Mask mask, boolean weights, Reference.Keys keys) {
        long[] shape(long heads, long l, long d) {
            return rank == 4 ? new long[] {b, heads, l, d} : new long[] {b, l, d};
        }

        @Override
        public String toString() {
            return "rank " + rank + " B=" + b + " H=" + h + " Hkv=" + hkv + " Lq=" + lq + " Lk=" + lk + " Dk=" + dk
                    + " Dv=" + dv + " " + causal + " mask=" + mask + " weights=" + weights + " window=" + keys.window()
                    + " extents=(" + keys.left() + ", " + keys.right() + ") lengths="
                    + Arrays.toString(keys.lengths()) + " dtypes=" + q.dtype() + "," + k.dtype() + "," + v.dtype();
        }
    }

    private static Problem problem(Arena arena, SplittableRandom rnd) {
        int rank = rnd.nextInt(5) == 0 ? 3 : 4;
        long b = 1 + rnd.nextInt(3);
        long hkv = rank == 3 ? 1 : 1 + rnd.nextInt(3);
        long h = rank == 3 ? 1 : hkv * (1 + rnd.nextInt(3));
        long lq = rnd.nextInt(10) == 0 ? 257 + rnd.nextInt(60) : rnd.nextInt(40);
        if (lq > 256) {
            b = 1;
            h = hkv = 1; // several query tiles, kept cheap for the Java backend
        }
        long lk = rnd.nextInt(10) == 0 ? 0 : 1 + rnd.nextInt(60);
        long dk = 1 + rnd.nextInt(40);
        long dv = rnd.nextInt(12) == 0 ? 0 : 1 + rnd.nextInt(40);
        Causal causal = Causal.values()[rnd.nextInt(3)];
        List<GuardedTensor> inputs = new ArrayList<>();
        Problem shapes = new Problem(rank, b, h, hkv, lq, lk, dk, dv, causal, inputs, null, null, null, null, false,
                null);
        GuardedTensor q = GuardedTensor.allocate(arena, rnd, true, shapes.shape(h, lq, dk));
        GuardedTensor k = GuardedTensor.allocate(arena, rnd, true, shapes.shape(hkv, lk, dk));
        GuardedTensor v = GuardedTensor.allocate(arena, rnd, true, shapes.shape(hkv, lk, dv));
        inputs.addAll(List.of(q, k, v));
        Mask mask = mask(arena, rnd, shapes, inputs);
        boolean weights = rnd.nextBoolean();
        Reference.Keys keys = keys(rnd, shapes);
        if (rnd.nextInt(3) == 0) { // half precision: each input in a dtype of its own, same values rounded
            GuardedTensor[] qkv = {q, k, v};
            for (int i = 0; i < 3; i++) {
                Dtype t = Dtype.values()[rnd.nextInt(3)];
                GuardedTensor half = GuardedTensor.allocate(arena, rnd, false, t, qkv[i].view().shape());
                half.view().copyFrom(qkv[i].view().toArray());
                inputs.set(i, qkv[i] = half);
            }
            q = qkv[0];
            k = qkv[1];
            v = qkv[2];
        }
        return new Problem(rank, b, h, hkv, lq, lk, dk, dv, causal, inputs, q.view(), k.view(), v.view(), mask,
                weights, keys);
    }

    /** Sometimes a window (one-sided with a causal rule, or two extents), sometimes key lengths (0 and Lk too). */
    private static Reference.Keys keys(SplittableRandom rnd, Problem p) {
        return keys(rnd, p.causal, p.b, p.lk);
    }

    /** As above, for any rule's problem. */
    static Reference.Keys keys(SplittableRandom rnd, Causal causal, long b, long lk) {
        Reference.Keys keys = switch (rnd.nextInt(4)) {
            case 0 -> Reference.Keys.extents(extent(rnd, lk), extent(rnd, lk));
            case 1 -> causal == Causal.NONE ? Reference.Keys.ALL : Reference.Keys.window(1 + rnd.nextInt((int) lk + 3));
            default -> Reference.Keys.ALL;
        };
        if (rnd.nextInt(3) == 0) {
            long[] lengths = new long[(int) b];
            for (int i = 0; i < lengths.length; i++) {
                lengths[i] = rnd.nextInt(4) == 0 ? (rnd.nextBoolean() ? 0 : lk) : rnd.nextInt((int) lk + 1);
            }
            keys = keys.withLengths(lengths);
        }
        return keys;
    }

    /** The spec's window and key lengths as {@code keys} has them. */
    static AttentionSpec.Builder withKeys(AttentionSpec.Builder spec, Reference.Keys keys) {
        spec.keyLengths(keys.lengths());
        return keys.window() > 0 ? spec.window(keys.window()) : spec.window(keys.left(), keys.right());
    }

    /** UNBOUNDED, 0, or up to a few keys past Lk. */
    private static long extent(SplittableRandom rnd, long lk) {
        return switch (rnd.nextInt(4)) {
            case 0 -> AttentionSpec.UNBOUNDED;
            case 1 -> 0;
            default -> rnd.nextInt((int) lk + 4);
        };
    }

    /** None, a keep-mask, a strided additive mask (with -Infinity), or key padding; random broadcasting. */
    private static Mask mask(Arena arena, SplittableRandom rnd, Problem p, List<GuardedTensor> inputs) {
        long[] shape = {rnd.nextBoolean() ? p.b : 1, rnd.nextBoolean() ? p.h : 1, rnd.nextBoolean() ? p.lq : 1, p.lk};
        int n = Math.toIntExact(shape[0] * shape[1] * shape[2] * shape[3]);
        switch (rnd.nextInt(4)) {
            case 1 -> {
                boolean[] keep = new boolean[n];
                for (int i = 0; i < n; i++) {
                    keep[i] = rnd.nextInt(10) < 7;
                }
                return Mask.keep(arena, keep, shape);
            }
            case 2 -> {
                GuardedTensor t = GuardedTensor.allocate(arena, rnd, true, shape);
                float[] x = t.view().toArray();
                for (int i = 0; i < x.length; i++) {
                    x[i] = rnd.nextInt(6) == 0 ? Float.NEGATIVE_INFINITY : 3 * x[i];
                }
                t.view().copyFrom(x);
                inputs.add(t);
                return Mask.additive(t.view());
            }
            case 3 -> {
                long[] valid = new long[(int) p.b];
                for (int i = 0; i < valid.length; i++) {
                    valid[i] = rnd.nextInt((int) p.lk + 1);
                }
                return Mask.keyPadding(arena, valid, p.lk);
            }
            default -> {
                return null;
            }
        }
    }

    /** Output and weights of one run, after checking nothing outside them was written. */
    private record Run(float[] out, float[] weights) {
    }

    private static Run run(Arena arena, SplittableRandom rnd, Problem p, Backend backend) {
        GuardedTensor out = GuardedTensor.allocate(arena, rnd, false, p.shape(p.h, p.lq, p.dv));
        GuardedTensor w = p.weights ? GuardedTensor.allocate(arena, rnd, false, p.shape(p.h, p.lq, p.lk)) : null;
        List<byte[]> before = p.inputs.stream().map(GuardedTensor::snapshot).toList();
        AttentionSpec.Builder spec = withKeys(AttentionSpec.builder().causal(p.causal).mask(p.mask)
                .weights(w == null ? null : w.view()).backend(backend), p.keys);
        Attention.scaledDotProduct(p.q, p.k, p.v, out.view(), spec.build());
        String who = backend + (backend == Backend.NATIVE ? " " + Panattn.isa() : "");
        GuardedTensor.assertOnlyOutputsWritten(who, out, w, p.inputs, before);
        return new Run(out.view().toArray(), w == null ? null : w.view().toArray());
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void everyBackendMatchesJavaAndWritesOnlyItsOutputs(long seed) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + 17);
            Problem p = problem(arena, rnd);
            Run java = run(arena, rnd, p, Backend.JAVA);
            Reference.Result ref = reference(p);
            check(java.out, ref.out(), "Java vs float64 reference, out", p);
            if (p.weights) {
                check(java.weights, ref.weights(), "Java vs float64 reference, weights", p);
            }
            for (Target t : Target.others()) {
                Run got = run(arena, rnd, p, t.select());
                check(got.out, Reference.toDouble(java.out), t + " vs Java, out", p);
                if (p.weights) {
                    check(got.weights, Reference.toDouble(java.weights), t + " vs Java, weights", p);
                }
            }
        }
    }

    private static Reference.Result reference(Problem p) {
        Tensor q = p.rank == 3 ? p.q.unsqueeze(1) : p.q;
        Tensor k = p.rank == 3 ? p.k.unsqueeze(1) : p.k;
        Tensor v = p.rank == 3 ? p.v.unsqueeze(1) : p.v;
        return Reference.sdpa(q, k, v, p.mask, null, p.causal, p.keys, 1.0 / Math.sqrt(p.dk), Reference.Pos.NONE);
    }

    /** Within TOLERANCE of the largest |want| (and of 1): the same check for outputs and weights. */
    private static void check(float[] got, double[] want, String what, Problem p) {
        double scale = 1;
        for (double x : want) {
            scale = Math.max(scale, Math.abs(x));
        }
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(got[i] - want[i]);
            int at = i;
            assertTrue(err <= TOLERANCE * scale, () -> what + ": element " + at + " is " + got[at] + ", expected "
                    + want[at] + " (" + p + ")");
        }
        assertTrue(got.length == want.length, what + ": " + got.length + " elements, expected " + want.length);
    }

}
