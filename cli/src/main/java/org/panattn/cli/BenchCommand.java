package org.panattn.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

import org.panattn.Alibi;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Panattn;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.ScoreRule;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

/**
 * {@code bench}: times a named workload or an explicit shape on chosen
 * backends and prints a table, or JSON lines, and optionally a chart.
 * Medians of wall time per call after warm-up; the machine should be idle.
 */
final class BenchCommand {
    static final String USAGE = """
            bench [--workload W1|W2|W3|W4] [--b B] [--h H] [--hkv HKV] [--lq LQ] [--lk LK] [--d D] [--causal]
                  [--e E] [--variant V,...|all] [--backend native|java|vector|all] [--threads N]
                  [--iterations N] [--max-seconds S] [--json] [--chart FILE.png]
              W1 prefill B=1 H=12 L=512 D=64; W2 decode B=1 H=32 Lq=1 Lk=4096 D=128;
              W3 tiny B=1 H=1 L=16 D=64; W4 multi-head layer E=768 H=12 B=1 L=128 (projections
              included). Options override a workload's shape; without --workload they describe
              scaled dot-product attention. --variant times another rule or term on the same
              shape: sdpa (default), general, additive, concat-tanh, concat-linear, softcap,
              alibi, t5, rope. --max-seconds (default 20) caps each case's timing.""";

    /** The calls --variant times: scaled dot-product attention, the other rules, the positional terms. */
    static final List<String> VARIANTS = List.of("sdpa", "general", "additive", "concat-tanh", "concat-linear",
            "softcap", "alibi", "t5", "rope");

    /** A benchmark case: scaled dot-product attention, or a whole multi-head layer (mha). */
    record Shape(String workload, boolean mha, long b, long h, long hkv, long lq, long lk, long d, long e,
                 boolean causal, String variant) {
        double flops() {
            double attention = 2.0 * b * h * lq * lk * 2 * d * (causal && lq == lk ? 0.5 : 1.0);
            return mha ? attention + 2.0 * b * lq * e * 3 * e + 2.0 * b * lq * e * e : attention;
        }

        double bytes() {
            double io = 4.0 * b * (2.0 * h * lq * d + 2.0 * hkv * lk * d);
            return mha ? io + 4.0 * 4 * e * e : io;
        }

        /** Bytes of the largest tensor, which the bench (or MultiHeadAttention.initRandom) fills from one array. */
        double largest() {
            return 4.0 * (mha ? Math.max((double) b * lq * e, 3.0 * e * e)
                    : b * Math.max((double) h * lq, (double) hkv * lk) * d);
        }

        String describe() {
            return (variant.equals("sdpa") ? "" : variant + " ") + (mha ? "B=" + b + " L=" + lq + " E=" + e + " H=" + h
                    : "B=" + b + " H=" + h + (hkv != h ? " Hkv=" + hkv : "") + " Lq=" + lq + " Lk=" + lk + " D=" + d
                    + (causal ? " causal" : ""));
        }
    }

    /** One measured case. */
    record Result(Shape shape, Backend backend, int threads, long medianNs, long p10Ns, long p90Ns, int samples) {
        double gflops() {
            return shape.flops() / medianNs;
        }

        double gbps() {
            return shape.bytes() / medianNs;
        }
    }

    /** Samples per case at most: their times are kept (8 bytes each) to take the percentiles. */
    private static final int MAX_ITERATIONS = 1_000_000;

    /** The options that size a case, in the usage's order. */
    private static final List<String> SIZES = List.of("--b", "--h", "--hkv", "--lq", "--lk", "--d", "--e");

    private BenchCommand() {
    }

    static void run(String[] args, PrintStream out) throws IOException {
        Options o = new Options(args, Set.of("--causal", "--json"), Set.of("--workload", "--b", "--h", "--hkv", "--lq",
                "--lk", "--d", "--e", "--variant", "--backend", "--threads", "--iterations", "--max-seconds", "--chart"));
        o.checkOutputs(List.of(), List.of("--chart"));
        List<Shape> shapes = new ArrayList<>();
        String w = o.get("--workload");
        for (String variant : variants(o.get("--variant"))) {
            for (String name : w == null ? new String[] {null} : w.split(",")) {
                shapes.add(checkMemory(shape(name, o, variant), o));
            }
        }
        if (o.get("--threads") != null) {
            Panattn.setThreads((int) o.integer("--threads", 0, 0, Integer.MAX_VALUE));
        }
        int threads = Panattn.isNativeAvailable() ? Panattn.threads() : Runtime.getRuntime().availableProcessors();
        int iterations = (int) o.integer("--iterations", 50, 1, MAX_ITERATIONS);
        double maxSeconds = o.number("--max-seconds", 20);
        List<Backend> backends = backends(o.get("--backend"));
        List<Result> results = new ArrayList<>();
        if (!o.flag("--json")) {
            out.printf(Locale.ROOT, "%-4s %-46s %-8s %7s %12s %12s %12s %9s %8s%n", "", "shape", "backend", "threads",
                    "median", "p10", "p90", "GFLOP/s", "GB/s");
        }
        for (Shape s : shapes) {
            for (Backend backend : backends) {
                Result r;
                try {
                    r = measure(s, backend, backend == Backend.JAVA ? 1 : threads, iterations, maxSeconds);
                } catch (OutOfMemoryError e) {
                    throw new OutOfMemoryError(s.describe() + " needs " + gb(s.bytes()) + " for its tensors: "
                            + e.getMessage());
                }
                results.add(r);
                print(out, r, o.flag("--json"));
            }
        }
        if (o.get("--chart") != null) {
            Chart.write(Path.of(o.get("--chart")), results);
        }
    }

    static List<String> variants(String option) {
        if (option == null) {
            return List.of("sdpa");
        }
        if (option.equals("all")) {
            return VARIANTS;
        }
        List<String> list = new ArrayList<>();
        for (String v : option.split(",")) {
            if (!VARIANTS.contains(v.trim())) {
                throw new Options.UsageException("--variant: expected all or some of " + String.join(", ", VARIANTS)
                        + ", got '" + v.trim() + "'");
            }
            list.add(v.trim());
        }
        return list;
    }

    static Shape shape(String workload, Options o, String variant) {
        String name = workload == null ? null : workload.trim().toUpperCase(Locale.ROOT);
        long[] d = switch (name == null ? "" : name) {  // b, h, hkv, lq, lk, d, e
            case "W1" -> new long[] {1, 12, 12, 512, 512, 64, 0};
            case "W2" -> new long[] {1, 32, 32, 1, 4096, 128, 0};
            case "W3" -> new long[] {1, 1, 1, 16, 16, 64, 0};
            case "W4" -> new long[] {1, 12, 12, 128, 128, 64, 768};
            case "" -> new long[] {1, 8, -1, 128, -1, 64, 0};
            default -> throw new Options.UsageException("--workload must be W1, W2, W3 or W4, got '" + workload + "'");
        };
        boolean mha = "W4".equals(name);
        long b = value(o, "--b", d[0]), h = value(o, "--h", d[1]), lq = value(o, "--lq", d[3]);
        long hkv = value(o, "--hkv", d[2] < 0 || mha ? h : d[2]);
        long lk = value(o, "--lk", d[4] < 0 || mha ? lq : d[4]);
        long e = value(o, "--e", d[6]), dim = mha ? e / h : value(o, "--d", d[5]);
        if (mha && lk != lq) {
            throw new Options.UsageException("W4 is self-attention: --lk must equal --lq");
        }
        if (mha && !variant.equals("sdpa")) {
            throw new Options.UsageException("--variant " + variant + ": W4 is a multi-head layer; variants time the"
                    + " attention call of W1, W2, W3 or a shape");
        }
        return new Shape(name == null ? "sdpa" : name, mha, b, h, hkv, lq, lk, dim, e, o.flag("--causal"), variant);
    }

    /**
     * Refuses a case whose largest tensor cannot be filled from one Java array (as {@link DemoCommand#random}
     * and MultiHeadAttention.initRandom fill them), naming the size options given. The tensors' total is at
     * most a few times that (with the default heap, about the machine's memory); past that, an allocation
     * that still fails is reported with the case's need.
     */
    private static Shape checkMemory(Shape s, Options o) {
        long heap = Runtime.getRuntime().maxMemory();
        double array = Math.min(heap, 4.0 * (Integer.MAX_VALUE - 8));
        if (s.largest() <= array) {
            return s;
        }
        StringBuilder given = new StringBuilder();
        for (String name : SIZES) {
            if (o.get(name) != null) {
                given.append(given.isEmpty() ? "" : " ").append(name).append(' ').append(o.get(name));
            }
        }
        throw new Options.UsageException(given + (given.isEmpty() ? "" : ": ") + s.describe() + " needs "
                + gb(s.bytes()) + " for its tensors, the largest " + gb(s.largest())
                + "; a Java array here holds at most " + gb(array)
                + (array == heap ? " (the heap's limit, set by -Xmx)" : " (2^31 - 9 floats)"));
    }

    private static String gb(double bytes) {
        return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
    }

    /** A size option: a positive integer within int range. */
    private static long value(Options o, String name, long fallback) {
        return o.integer(name, fallback, 1, Integer.MAX_VALUE);
    }

    static List<Backend> backends(String option) {
        if (option == null || option.equals("all")) {
            return List.of(Backend.NATIVE, Backend.JAVA_VECTOR, Backend.JAVA);
        }
        List<Backend> list = new ArrayList<>();
        for (String name : option.split(",")) {
            list.add(RunCommand.parseBackend(name.trim()));
        }
        return list;
    }

    /**
     * Times one case: warm-up (at least 3 calls, and up to 1000 calls or a
     * second, within a quarter of the budget), then up to {@code iterations}
     * calls or {@code maxSeconds}.
     */
    static Result measure(Shape s, Backend backend, int threads, int iterations, double maxSeconds) {
        try (Arena arena = Arena.ofShared()) {
            Runnable call = call(arena, s, backend);
            long warmStart = System.nanoTime();
            double warmNs = Math.min(1e9, maxSeconds * 0.25e9);
            for (int i = 0; i < 3 || (i < 1000 && System.nanoTime() - warmStart < warmNs); i++) {
                call.run();
            }
            long[] ns = new long[Math.max(1, iterations)];
            int n = 0;
            long start = System.nanoTime();
            while (n < ns.length && (n < 3 || System.nanoTime() - start < maxSeconds * 1e9)) {
                long t0 = System.nanoTime();
                call.run();
                ns[n++] = System.nanoTime() - t0;
            }
            long[] sorted = Arrays.copyOf(ns, n);
            Arrays.sort(sorted);
            return new Result(s, backend, threads, sorted[n / 2], sorted[(int) (n * 0.1)],
                    sorted[Math.min(n - 1, (int) (n * 0.9))], n);
        }
    }

    /** The call to time, with its inputs and output allocated once. */
    private static Runnable call(Arena arena, Shape s, Backend backend) {
        SplittableRandom rnd = new SplittableRandom(1);
        AttentionSpec spec = AttentionSpec.builder().backend(backend).causal(s.causal ? Causal.TOP_LEFT : Causal.NONE)
                .build();
        if (s.mha) {
            MultiHeadAttention layer = MultiHeadAttention.builder(s.e, s.h).kvHeads(s.hkv).build(arena).initRandom(1);
            Tensor x = DemoCommand.random(arena, rnd, s.b, s.lq, s.e);
            try (Arena scratch = Arena.ofConfined()) {
                layer.forward(scratch, x, spec, MultiHeadAttention.NeedWeights.NONE); // fail early on bad shapes
            }
            return () -> {
                try (Arena scratch = Arena.ofConfined()) {
                    layer.forward(scratch, x, spec, MultiHeadAttention.NeedWeights.NONE);
                }
            };
        }
        Tensor q = DemoCommand.random(arena, rnd, s.b, s.h, s.lq, s.d);
        Tensor k = DemoCommand.random(arena, rnd, s.b, s.hkv, s.lk, s.d);
        Tensor v = DemoCommand.random(arena, rnd, s.b, s.hkv, s.lk, s.d);
        Tensor o = Tensor.allocate(arena, s.b, s.h, s.lq, s.d);
        long d = s.d;
        return switch (s.variant) {
            case "general" -> rule(ScoreRule.general(DemoCommand.random(arena, rnd, d, d)), q, k, v, o, spec);
            case "additive" -> rule(ScoreRule.additive(DemoCommand.random(arena, rnd, d, d),
                    DemoCommand.random(arena, rnd, d, d), DemoCommand.random(arena, rnd, d),
                    DemoCommand.random(arena, rnd, d)), q, k, v, o, spec);
            case "concat-tanh" -> rule(ScoreRule.concatTanhSum(DemoCommand.random(arena, rnd, d, 2 * d),
                    DemoCommand.random(arena, rnd, d), d), q, k, v, o, spec);
            case "concat-linear" -> {
                Tensor kPerQuery = DemoCommand.random(arena, rnd, s.b, s.h, s.lq, s.d);
                Tensor w = DemoCommand.random(arena, rnd, s.lk, 2 * d), bias = DemoCommand.random(arena, rnd, s.lk);
                Tensor values = DemoCommand.random(arena, rnd, s.b, s.h, s.lk, s.d);
                yield () -> Attention.concatLinear(q, kPerQuery, values, w, bias, o, spec);
            }
            case "softcap" -> sdpa(q, k, v, o, spec.toBuilder().softcap(30f).build());
            case "alibi" -> sdpa(q, k, v, o, spec.toBuilder().alibi(Alibi.slopes(arena, (int) s.h)).build());
            case "t5" -> sdpa(q, k, v, o, spec.toBuilder().relativeBias(new RelativePositionBias(
                    DemoCommand.random(arena, rnd, 32, s.h), !s.causal, 128)).build());
            case "rope" -> () -> Rope.apply(q, 0, 10000f, Rope.Layout.HALF, backend);
            default -> sdpa(q, k, v, o, spec);
        };
    }

    private static Runnable sdpa(Tensor q, Tensor k, Tensor v, Tensor o, AttentionSpec spec) {
        return () -> Attention.scaledDotProduct(q, k, v, o, spec);
    }

    private static Runnable rule(ScoreRule rule, Tensor q, Tensor k, Tensor v, Tensor o, AttentionSpec spec) {
        return () -> Attention.attend(rule, q, k, v, o, spec);
    }

    private static String backendName(Backend b) {
        return switch (b) {
            case NATIVE -> "native";
            case JAVA -> "java";
            case JAVA_VECTOR -> "vector";
        };
    }

    static String time(long ns) {
        return ns >= 10_000_000 ? String.format(Locale.ROOT, "%.1f ms", ns / 1e6)
                : ns >= 10_000 ? String.format(Locale.ROOT, "%.3f ms", ns / 1e6)
                : String.format(Locale.ROOT, "%.2f µs", ns / 1e3);
    }

    private static void print(PrintStream out, Result r, boolean json) {
        Shape s = r.shape();
        if (json) {
            out.printf(Locale.ROOT, "{\"workload\":\"%s\",\"b\":%d,\"h\":%d,\"hkv\":%d,\"lq\":%d,\"lk\":%d,\"d\":%d,"
                    + "\"e\":%d,\"causal\":%b,\"backend\":\"%s\",\"threads\":%d,\"samples\":%d,\"median_ns\":%d,"
                    + "\"p10_ns\":%d,\"p90_ns\":%d,\"gflops\":%.3f,\"gbps\":%.3f}%n", s.workload(), s.b(), s.h(), s.hkv(),
                    s.lq(), s.lk(), s.d(), s.e(), s.causal(), backendName(r.backend()), r.threads(), r.samples(),
                    r.medianNs(), r.p10Ns(), r.p90Ns(), r.gflops(), r.gbps());
        } else {
            out.printf(Locale.ROOT, "%-4s %-46s %-8s %7d %12s %12s %12s %9.1f %8.2f%n", s.workload().length() <= 4
                    ? s.workload() : "", s.describe(), backendName(r.backend()), r.threads(), time(r.medianNs()),
                    time(r.p10Ns()), time(r.p90Ns()), r.gflops(), r.gbps());
        }
    }
}
