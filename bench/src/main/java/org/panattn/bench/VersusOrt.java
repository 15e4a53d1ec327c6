package org.panattn.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Panattn;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

/**
 * The workloads of the performance targets through ONNX Runtime's Java API
 * (the opset-23 Attention operator, models by scripts/make-ort-models.py)
 * and through panattn's native backend, on the same inputs and thread
 * count, in one process: checks that the outputs agree, warms both up,
 * times them in alternating rounds and prints one table with the median
 * ratio and its range over the rounds.
 *
 * <p>Usage: {@code VersusOrt MODEL_FOLDER THREADS [SECONDS]}; run by
 * scripts/bench-vs-ort.sh.
 */
public final class VersusOrt {
    /** name, B, H, Hkv, Lq, Lk, D, causal (0/1); as make-ort-models.py writes them. */
    private static final long[][] ATTENTION = {
        {1, 12, 12, 512, 512, 64, 0}, {1, 12, 12, 2048, 2048, 64, 0}, {1, 12, 12, 2048, 2048, 64, 1},
        {1, 32, 32, 1, 4096, 128, 0}, {1, 1, 1, 16, 16, 64, 0}};
    private static final String[] NAMES = {"W1", "W1-2048", "W1-2048-causal", "W2", "W3"};
    private static final int E = 768, HEADS = 12, L = 128;

    private VersusOrt() {
    }

    /** A timed call and the output it leaves. */
    private interface Call {
        float[] run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        Path models = Path.of(args[0]);
        int threads = Integer.parseInt(args[1]);
        double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 5;
        Panattn.setThreads(threads);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        List<String> rows = new ArrayList<>();
        try (Arena arena = Arena.ofShared(); OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            for (int w = 0; w < NAMES.length; w++) {
                long[] s = ATTENTION[w];
                SplittableRandom rnd = new SplittableRandom(w);
                long[] qs = {s[0], s[1], s[3], s[5]}, ks = {s[0], s[2], s[4], s[5]};
                float[] q = random(rnd, qs), k = random(rnd, ks), v = random(rnd, ks);
                try (OrtSession session = env.createSession(models.resolve(NAMES[w] + ".onnx").toString(), options);
                     OnnxTensor oq = tensor(env, q, qs); OnnxTensor ok = tensor(env, k, ks);
                     OnnxTensor ov = tensor(env, v, ks)) {
                    Map<String, OnnxTensor> in = Map.of("Q", oq, "K", ok, "V", ov);
                    Call ort = () -> output(session, in);
                    Tensor tq = Tensor.of(arena, q, qs), tk = Tensor.of(arena, k, ks), tv = Tensor.of(arena, v, ks);
                    Tensor out = Tensor.allocate(arena, qs);
                    AttentionSpec spec = AttentionSpec.builder().backend(Backend.NATIVE)
                            .causal(s[6] == 1 ? Causal.TOP_LEFT : Causal.NONE).build();
                    Call panattn = () -> {
                        Attention.scaledDotProduct(tq, tk, tv, out, spec);
                        return null;
                    };
                    rows.add(compare(NAMES[w] + " B=" + s[0] + " H=" + s[1] + " Lq=" + s[3] + " Lk=" + s[4] + " D="
                            + s[5] + (s[6] == 1 ? " causal" : ""), ort, panattn, out::toArray, seconds));
                }
            }
            rows.add(layer(env, options, arena, models, seconds));
        }
        System.out.printf(Locale.ROOT, "%nthreads: %d (ONNX Runtime intra-op, panattn's pool); medians at steady state"
                + ", %d rounds taken in turn%n%n| workload | ONNX Runtime | panattn native | ORT time / panattn time "
                + "| lowest to highest round |%n|---|---|---|---|---|%n", threads, ROUNDS);
        rows.forEach(System.out::println);
    }

    /** W4: a BERT-base multi-head layer with the weights the model holds. */
    private static String layer(OrtEnvironment env, OrtSession.SessionOptions options, Arena arena, Path models,
                                double seconds) throws Exception {
        float[] wIn = raw(models, "in_proj_weight"), bIn = raw(models, "in_proj_bias");
        float[] wOut = raw(models, "out_proj_weight"), bOut = raw(models, "out_proj_bias");
        MultiHeadAttention mha = MultiHeadAttention.builder(E, HEADS).build(arena).loadInProj(wIn, bIn)
                .loadOutProj(wOut, bOut);
        long[] shape = {1, L, E};
        float[] x = random(new SplittableRandom(4), shape);
        Tensor tx = Tensor.of(arena, x, shape);
        AttentionSpec spec = AttentionSpec.builder().backend(Backend.NATIVE).build();
        Call panattn = () -> {
            try (Arena scratch = Arena.ofConfined()) {
                mha.forward(scratch, tx, spec, MultiHeadAttention.NeedWeights.NONE);
                return null;
            }
        };
        Call keep = () -> {
            try (Arena scratch = Arena.ofConfined()) {
                return mha.forward(scratch, tx, spec, MultiHeadAttention.NeedWeights.NONE).output().toArray();
            }
        };
        try (OrtSession session = env.createSession(models.resolve("W4.onnx").toString(), options);
             OnnxTensor ox = tensor(env, x, shape)) {
            return compare("W4 BERT-base layer B=1 L=" + L + " E=" + E + " H=" + HEADS, () -> output(session,
                    Map.of("X", ox)), panattn, keep::run, seconds);
        }
    }

    /** Checks the outputs agree, times both, and gives the table row. */
    private static String compare(String name, Call ort, Call panattn, Call panattnOutput, double seconds)
            throws Exception {
        float[] want = ort.run();
        panattn.run();
        float[] got = panattnOutput.run();
        double scale = 1, err = 0;
        for (int i = 0; i < want.length; i++) {
            scale = Math.max(scale, Math.abs(want[i]));
            err = Math.max(err, Math.abs(want[i] - got[i]));
        }
        if (!(err <= 1e-4 * scale) || want.length != got.length) {
            throw new IllegalStateException(name + ": outputs differ by " + err + " (" + want.length + " vs "
                    + got.length + " elements)");
        }
        warmUp(ort, seconds);
        warmUp(panattn, seconds);
        Timing t = alternate(ort, panattn, seconds);
        System.err.printf(Locale.ROOT, "%s: ONNX Runtime %s, panattn %s, ratio %.2f (rounds %.2f to %.2f), "
                + "max |diff| %.2e%n", name, time(t.ortNs), time(t.panattnNs), t.ratio, t.lowest, t.highest, err);
        return String.format(Locale.ROOT, "| %s | %s | %s | %.2f | %.2f to %.2f |", name, time(t.ortNs),
                time(t.panattnNs), t.ratio, t.lowest, t.highest);
    }

    /** Medians over the rounds of each side's median, and of the rounds' ratios. */
    private record Timing(double ortNs, double panattnNs, double ratio, double lowest, double highest) {
    }

    /** Rounds per workload: this machine's slow spells last seconds, so the
     * two sides take turns and each round's ratio compares like with like. */
    private static final int ROUNDS = 10;

    /**
     * Times the two calls in turn, {@code seconds / ROUNDS} a side a round
     * (at least 5 calls), after both are warm.
     */
    private static Timing alternate(Call ort, Call panattn, double seconds) throws Exception {
        double[] ortNs = new double[ROUNDS], panattnNs = new double[ROUNDS], ratio = new double[ROUNDS];
        double ortEach = median(ort, 5), panattnEach = median(panattn, 5);
        for (int r = 0; r < ROUNDS; r++) {
            ortNs[r] = median(ort, calls(seconds / ROUNDS, ortEach));
            panattnNs[r] = median(panattn, calls(seconds / ROUNDS, panattnEach));
            ratio[r] = ortNs[r] / panattnNs[r];
        }
        double[] sorted = ratio.clone();
        Arrays.sort(sorted);
        return new Timing(median(ortNs), median(panattnNs), median(ratio), sorted[0], sorted[ROUNDS - 1]);
    }

    private static int calls(double seconds, double eachNs) {
        return (int) Math.max(5, Math.min(1_000_000, seconds * 1e9 / Math.max(eachNs, 1)));
    }

    /**
     * Runs a call until it is at steady state: windows of about 20 ms until
     * two windows' medians agree within 3% after at least 20,000 calls and
     * 2 s (at most {@code seconds}). Both minimums: a tiny call's medians
     * agree long before the optimising compiler has replaced its profiling
     * code.
     */
    private static void warmUp(Call call, double seconds) throws Exception {
        long start = System.nanoTime(), calls = 0;
        double previous = -1, median = time(call);
        while (System.nanoTime() - start < seconds * 1e9) {
            int size = (int) Math.max(3, Math.min(100_000, 20e6 / Math.max(median, 1)));
            median = median(call, size);
            calls += size;
            if (calls >= 20_000 && System.nanoTime() - start >= Math.min(2e9, seconds * 1e9) && previous > 0
                    && Math.abs(median - previous) <= 0.03 * previous) {
                return;
            }
            previous = median;
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static double median(Call call, int count) throws Exception {
        long[] ns = new long[count];
        for (int i = 0; i < count; i++) {
            ns[i] = time(call);
        }
        Arrays.sort(ns);
        return ns[count / 2];
    }

    private static long time(Call call) throws Exception {
        long t0 = System.nanoTime();
        call.run();
        return System.nanoTime() - t0;
    }

    private static float[] output(OrtSession session, Map<String, OnnxTensor> in) throws OrtException {
        try (OrtSession.Result r = session.run(new LinkedHashMap<>(in))) {
            FloatBuffer y = ((OnnxTensor) r.get(0)).getFloatBuffer();
            float[] out = new float[y.remaining()];
            y.get(out);
            return out;
        }
    }

    private static OnnxTensor tensor(OrtEnvironment env, float[] data, long[] shape) throws OrtException {
        FloatBuffer direct = ByteBuffer.allocateDirect(data.length * Float.BYTES).order(ByteOrder.nativeOrder())
                .asFloatBuffer().put(data);
        return OnnxTensor.createTensor(env, direct.flip(), shape);
    }

    private static float[] random(SplittableRandom rnd, long[] shape) {
        float[] a = new float[(int) Arrays.stream(shape).reduce(1, (x, y) -> x * y)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rnd.nextDouble(-1, 1);
        }
        return a;
    }

    /** W4's weight {@code name}, raw little-endian float32 as make-ort-models.py writes it. */
    private static float[] raw(Path models, String name) throws IOException {
        FloatBuffer b = ByteBuffer.wrap(Files.readAllBytes(models.resolve("W4." + name + ".f32")))
                .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] a = new float[b.remaining()];
        b.get(a);
        return a;
    }

    private static String time(double ns) {
        return ns >= 1_000_000 ? String.format(Locale.ROOT, "%.2f ms", ns / 1e6)
                : String.format(Locale.ROOT, "%.2f µs", ns / 1e3);
    }
}
