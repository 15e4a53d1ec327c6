package org.panattn.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

import org.panattn.Alibi;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Dtype;
import org.panattn.Panattn;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.ScoreRule;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code bench}: times a named workload or an explicit shape on chosen
 * backends and prints a table, or a JSON document, and optionally a chart.
 * Medians of wall time per call after warm-up; the machine should be idle.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false, separator = " ", descriptionHeading = "%n",
        synopsisHeading = "usage: ",
        customSynopsis = {
            "panattn bench [--workload W1,W2,W3,W4] [--b B] [--h H] [--hkv HKV] [--lq LQ] [--lk LK]",
            "              [--d D] [--e E] [--causal] [--dtype f32|f16|bf16] [--variant V,...|all]",
            "              [--api A,...|all] [--profile]",
            "              [--backend B,...|all] [--threads N] [--iterations N] [--max-seconds S]",
            "              [--warmup-seconds S] [--seed N] [--json] [--chart FILE.png]"},
        description = {
            "Times workloads or shapes on each backend: a table, a JSON document, a chart.",
            "",
            "Times the workloads of the performance targets, or any shape, on each backend: the median,",
            "p10 and p90 of the wall time per call at steady state, with GFLOP/s and GB/s. Warm-up",
            "runs windows of calls until the JIT has compiled the call path: two windows' medians agree",
            "within 3%% and the JIT compiled nothing during the second, after at least 20000 calls and",
            "2 s (at most --warmup-seconds). The first call's time is reported apart (cold_ns in",
            "JSON). Before a decoding case (one whose K and V are 90%% of its bytes at least, such as",
            "W2) a read test sums a buffer as large as its K and V on the native pool's thread count,",
            "timed the same way, and the case's K and V GB/s is given as a share of it. The machine",
            "should be idle. W1 prefill B=1 H=12 L=512",
            "D=64; W2 decode B=1 H=32 Lq=1 Lk=4096 D=128; W3 tiny B=1 H=1 L=16 D=64; W4 a multi-head",
            "layer E=768 H=12 B=1 L=128 (projections included). The size options override a workload's",
            "shape; without --workload they describe scaled dot-product attention (default B=1 H=8",
            "L=128 D=64). --dtype stores Q, K and V (for W2, the cache) in half precision; the output",
            "stays float32. --api times scaled dot-product attention through Tensor",
            "(Attention.scaledDotProduct), a PreparedAttention's run() or float[] arrays. --profile",
            "times W4's parts, Attention.linear and the attention call on the layer's shapes, in turn",
            "with the layer call, and prints where its time goes: input projections, attention core,",
            "output projection, and Java overhead (the rest of the layer's median). A backend that",
            "cannot run here (the Vector API without --add-modules jdk.incubator.vector, native without",
            "its library) is skipped, with the reason on stderr."},
        optionListHeading = "%nOptions:%n")
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--workload", paramLabel = "W,...", order = 1, description = "W1, W2, W3 and/or W4")
    String workload;

    @Option(names = "--b", paramLabel = "B", order = 2, converter = Options.Size.class, description = "batch")
    Long b;

    @Option(names = "--h", paramLabel = "H", order = 3, converter = Options.Size.class, description = "query heads")
    Long h;

    @Option(names = "--hkv", paramLabel = "HKV", order = 4, converter = Options.Size.class,
            description = "key/value heads (default H)")
    Long hkv;

    @Option(names = "--lq", paramLabel = "LQ", order = 5, converter = Options.Size.class,
            description = "queries")
    Long lq;

    @Option(names = "--lk", paramLabel = "LK", order = 6, converter = Options.Size.class,
            description = "keys (default LQ)")
    Long lk;

    @Option(names = "--d", paramLabel = "D", order = 7, converter = Options.Size.class, description = "head size")
    Long d;

    @Option(names = "--e", paramLabel = "E", order = 8, converter = Options.Size.class,
            description = "W4's embedding size (head size E/H)")
    Long e;

    @Option(names = "--causal", order = 9, description = "causal (top-left)")
    boolean causal;

    @Option(names = "--dtype", paramLabel = "T", order = 10, converter = Options.DtypeName.class,
            description = "f32 (default), f16 or bf16: how Q, K and V are stored (sdpa, softcap, alibi, t5; not W4, "
                    + "nor --api arrays)")
    Dtype dtype;

    @Option(names = "--variant", paramLabel = "V,...", order = 11, description = "what to time on the shape: sdpa "
            + "(default), general, additive, concat-tanh, concat-linear, softcap, alibi, t5, rope, or all")
    String variant;

    @Option(names = "--api", paramLabel = "A,...", order = 12, description = "how scaled dot-product attention is "
            + "called: tensor (default), prepared, arrays, or all; W4 and the other variants have their tensor call "
            + "only")
    String api;

    @Option(names = "--profile", order = 13, description = "W4: the time of the layer's input projections, "
            + "attention core and output projection, and the Java overhead")
    boolean profile;

    @Option(names = "--backend", paramLabel = "B,...", order = 14,
            description = "native, java, vector, or all (default)")
    String backend;

    @Option(names = "--threads", paramLabel = "N", order = 15, converter = Options.Threads.class,
            description = "the native pool's threads (0 = one per CPU)")
    Long threadCount;

    @Option(names = "--iterations", paramLabel = "N", order = 16, converter = Iterations.class,
            description = "timed calls per case at most (default 50)")
    Long iterations;

    @Option(names = "--max-seconds", paramLabel = "S", order = 17, converter = Options.Number.class,
            description = "seconds of timing per case at most (default 20)")
    Double maxSeconds;

    @Option(names = "--warmup-seconds", paramLabel = "S", order = 18, converter = Options.Number.class,
            description = "seconds of warm-up per case at most (default 10)")
    Double warmupSeconds;

    @Option(names = "--seed", paramLabel = "N", order = 19, converter = Options.AnyInteger.class,
            description = "seed of the random inputs (default 1)")
    Long seed;

    @Option(names = "--json", order = 20, description = "one JSON document on stdout: the run's context once, "
            + "then every result (the table goes to stderr as progress)")
    boolean json;

    @Option(names = "--chart", paramLabel = "FILE.png", order = 21,
            description = "a chart of the medians with p10-p90 whiskers")
    String chart;

    /** The calls --variant times: scaled dot-product attention, the other rules, the positional terms. */
    static final List<String> VARIANTS = List.of("sdpa", "general", "additive", "concat-tanh", "concat-linear",
            "softcap", "alibi", "t5", "rope");

    /** How --api calls scaled dot-product attention. */
    static final List<String> APIS = List.of("tensor", "prepared", "arrays");

    /** The variants that take half-precision Q, K and V: scaled dot-product attention and its positional terms. */
    static final List<String> HALF_VARIANTS = List.of("sdpa", "softcap", "alibi", "t5");

    /**
     * A benchmark case: scaled dot-product attention, or a whole multi-head layer (mha); {@code api} says
     * how the case is called, one of {@link #APIS}, and {@code dtype} how Q, K and V are stored.
     */
    record Shape(String workload, boolean mha, long b, long h, long hkv, long lq, long lk, long d, long e,
                 boolean causal, String variant, String api, Dtype dtype) {
        /** A float32 case called through tensors. */
        Shape(String workload, boolean mha, long b, long h, long hkv, long lq, long lk, long d, long e,
              boolean causal, String variant) {
            this(workload, mha, b, h, hkv, lq, lk, d, e, causal, variant, "tensor", Dtype.F32);
        }

        Shape withApi(String how) {
            return new Shape(workload, mha, b, h, hkv, lq, lk, d, e, causal, variant, how, dtype);
        }

        double flops() {
            double attention = 2.0 * b * h * lq * lk * 2 * d * (causal && lq == lk ? 0.5 : 1.0);
            return mha ? attention + 2.0 * b * lq * e * 3 * e + 2.0 * b * lq * e * e : attention;
        }

        /** Bytes read and written: Q, K and V of their dtype, the float32 output. */
        double bytes() {
            double io = b * ((dtype.byteSize() + 4.0) * h * lq * d + 2.0 * dtype.byteSize() * hkv * lk * d);
            return mha ? io + 4.0 * 4 * e * e : io;
        }

        /** Bytes of K and V, of their dtype, which a call reads. */
        double kvBytes() {
            return 2.0 * dtype.byteSize() * b * hkv * lk * d;
        }

        /**
         * Decoding: scaled dot-product attention whose K and V are 90% of the bytes it moves at least, so its
         * time is reading them, which the bench compares with its read test.
         */
        boolean streamsKv() {
            return !mha && variant.equals("sdpa") && kvBytes() >= 0.9 * bytes();
        }

        /** Bytes of the largest tensor, which the bench (or MultiHeadAttention.initRandom) fills from one array. */
        double largest() {
            return 4.0 * (mha ? Math.max((double) b * lq * e, 3.0 * e * e)
                    : b * Math.max((double) h * lq, (double) hkv * lk) * d);
        }

        String describe() {
            return (variant.equals("sdpa") ? "" : variant + " ") + (mha ? "B=" + b + " L=" + lq + " E=" + e + " H=" + h
                    : "B=" + b + " H=" + h + (hkv != h ? " Hkv=" + hkv : "") + " Lq=" + lq + " Lk=" + lk + " D=" + d
                    + (causal ? " causal" : "")) + (api.equals("tensor") ? "" : " " + api)
                    + (dtype == Dtype.F32 ? "" : " " + Options.name(dtype));
        }
    }

    /** One measured case; {@code profile} is W4's parts with --profile, else null. */
    record Result(Shape shape, Backend backend, int threads, long medianNs, long p10Ns, long p90Ns, int samples,
                  long coldNs, long warmupCalls, Profile profile) {
        /** A result without a profile. */
        Result(Shape shape, Backend backend, int threads, long medianNs, long p10Ns, long p90Ns, int samples,
               long coldNs, long warmupCalls) {
            this(shape, backend, threads, medianNs, p10Ns, p90Ns, samples, coldNs, warmupCalls, null);
        }

        Result(Shape shape, Backend backend, int threads, Timing t) {
            this(shape, backend, threads, t.medianNs(), t.p10Ns(), t.p90Ns(), t.samples(), t.coldNs(),
                    t.warmupCalls());
        }

        Result withProfile(Profile p) {
            return new Result(shape, backend, threads, medianNs, p10Ns, p90Ns, samples, coldNs, warmupCalls, p);
        }

        double gflops() {
            return shape.flops() / medianNs;
        }

        double gbps() {
            return shape.bytes() / medianNs;
        }

        /** How fast the call reads K and V: their bytes over the median time. */
        double kvGbps() {
            return shape.kvBytes() / medianNs;
        }
    }

    /** A call's times at steady state: median, p10 and p90 of the samples, the first call, the warm-up. */
    record Timing(long medianNs, long p10Ns, long p90Ns, int samples, long coldNs, long warmupCalls) {
    }

    /**
     * Where a W4 layer call's time goes: its three building blocks, each timed on the layer's shapes in turn
     * with the layer, and the rest of the layer's median, the Java overhead (checks, the per-call arena and its
     * tensors).
     */
    record Profile(Timing inProjection, Timing core, Timing outProjection, long layerNs) {
        long overheadNs() {
            return layerNs - inProjection.medianNs() - core.medianNs() - outProjection.medianNs();
        }
    }

    /** A read test: {@code bytes} read by {@code threads} threads per pass (see {@link ReadBandwidth}). */
    record ReadTest(long bytes, int threads, Timing timing) {
        double gbps() {
            return (double) bytes / timing.medianNs();
        }

        /** Whether this test read as many bytes as a case's K and V (rounded up to whole steps a thread). */
        boolean reads(Shape s) {
            return bytes >= s.kvBytes() && bytes < s.kvBytes() + (double) ReadBandwidth.STEP * threads;
        }

        /** The read test that matches a decoding result: of its K and V's size, on its threads; or null. */
        static ReadTest matching(List<ReadTest> tests, Result r) {
            return !r.shape().streamsKv() ? null : tests.stream().filter(t -> t.threads() == r.threads()
                    && t.reads(r.shape())).findFirst().orElse(null);
        }
    }

    /** Samples per case at most: their times are kept (8 bytes each) to take the percentiles. */
    private static final int MAX_ITERATIONS = 1_000_000;

    /** --iterations: 1 to MAX_ITERATIONS. */
    static final class Iterations extends Options.Integer {
        Iterations() {
            super(1, MAX_ITERATIONS);
        }
    }

    /** A backend this JVM cannot run, and why. */
    record Skipped(Backend backend, String reason) {
    }

    @Override
    public Integer call() throws IOException {
        Options.checkOutputs(Map.of(), Options.files("--chart", chart));
        List<Shape> shapes = new ArrayList<>();
        List<String> apis = apis(api);
        for (String v : variants(variant)) {
            for (String name : workload == null ? new String[] {null} : workload.split(",")) {
                Shape s = checkMemory(shape(name, v));
                if (s.mha() || !v.equals("sdpa")) {
                    if (!apis.contains("tensor")) {
                        throw new Options.UsageException("--api " + api + ": " + (s.mha() ? "W4, a multi-head "
                                + "layer," : "--variant " + v) + " is timed through tensors only");
                    }
                    shapes.add(s);
                    continue;
                }
                for (String a : apis) {
                    if (a.equals("arrays") && s.dtype() != Dtype.F32) {
                        throw new Options.UsageException("--api arrays: float[] arrays hold float32; --dtype "
                                + Options.name(s.dtype()) + " applies to the tensor and prepared calls");
                    }
                    shapes.add(s.withApi(a));
                }
            }
        }
        if (profile && shapes.stream().noneMatch(Shape::mha)) {
            throw new Options.UsageException("--profile: only W4, a multi-head layer, has parts to profile");
        }
        List<Backend> wanted = backends(backend);
        if (threadCount != null) {
            Panattn.setThreads(threadCount.intValue());
        }
        int threads = Panattn.isNativeAvailable() ? Panattn.threads() : Runtime.getRuntime().availableProcessors();
        int maxIterations = iterations == null ? 50 : iterations.intValue();
        double seconds = maxSeconds == null ? 20 : maxSeconds;
        double warmup = warmupSeconds == null ? 10 : warmupSeconds;
        long randomSeed = seed == null ? 1 : seed;

        PrintWriter err = spec.commandLine().getErr();
        List<Backend> backends = new ArrayList<>();
        List<Skipped> skipped = new ArrayList<>();
        for (Backend b : wanted) {
            String why = unavailable(b);
            if (why == null) {
                backends.add(b);
            } else {
                skipped.add(new Skipped(b, why));
                err.println("panattn bench: skipping " + Options.name(b) + ": " + why);
            }
        }
        if (backends.isEmpty()) {
            throw new IllegalStateException("no backend of " + String.join(", ", wanted.stream().map(Options::name)
                    .toList()) + " can run here");
        }

        PrintWriter table = json ? err : spec.commandLine().getOut();
        table.printf(Locale.ROOT, "%-4s %-46s %-8s %7s %12s %12s %12s %9s %8s%n", "", "shape", "backend", "threads",
                "median", "p10", "p90", "GFLOP/s", "GB/s");
        List<Result> results = new ArrayList<>();
        List<ReadTest> readTests = new ArrayList<>();
        for (Shape s : shapes) {
            if (s.streamsKv() && readTests.stream().noneMatch(t -> t.reads(s))) {
                ReadTest t = readTest((long) s.kvBytes(), threads, maxIterations, seconds, warmup);
                readTests.add(t);
                readRow(table, t);
            }
            for (Backend b : backends) {
                Result r;
                try {
                    r = measure(s, b, b == Backend.JAVA ? 1 : threads, maxIterations, seconds, warmup, randomSeed,
                            profile);
                } catch (OutOfMemoryError x) {
                    throw new OutOfMemoryError(s.describe() + " needs " + gb(s.bytes()) + " for its tensors: "
                            + x.getMessage());
                }
                results.add(r);
                row(table, r);
            }
        }
        for (Result r : results) {
            ReadTest t = ReadTest.matching(readTests, r);
            if (t != null) {
                table.printf(Locale.ROOT, "%s %s reads K and V at %.2f GB/s: %.0f%% of the read test's %.2f GB/s "
                        + "(%d threads)%n", r.shape().workload(), Options.name(r.backend()), r.kvGbps(),
                        100 * r.kvGbps() / t.gbps(), t.gbps(), t.threads());
            }
        }
        if (json) {
            Json context = InfoCommand.context().put("args", spec.commandLine().getParseResult().originalArgs())
                    .put("bench_threads", threads).put("iterations", maxIterations).put("max_seconds", seconds)
                    .put("seed", randomSeed);
            printJson(spec.commandLine().getOut(), context, skipped, readTests, results);
        }
        if (chart != null) {
            Chart.write(Path.of(chart), results, chartContext(threads));
        }
        return 0;
    }

    /** Why this JVM cannot run the backend (a tiny call fails), or null when it can. */
    static String unavailable(Backend b) {
        if (b == Backend.NATIVE && !Panattn.isNativeAvailable()) {
            return "the native library is unavailable: " + Panattn.unavailabilityCause()
                    .map(Throwable::getMessage).orElse("").lines().findFirst().orElse("");
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.of(arena, new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
            Attention.scaledDotProduct(t, t, t, AttentionSpec.builder().backend(b).build());
            return null;
        } catch (RuntimeException | LinkageError x) {
            return x.getMessage() == null ? x.toString() : x.getMessage();
        }
    }

    /** What the chart says about the run: library, ISA, BLAS, threads, CPU. */
    private static String chartContext(int threads) {
        return "panattn " + Panattn.version() + (Panattn.isNativeAvailable() ? ", " + Panattn.isa().id() + ", "
                + Main.blas() : ", no native library") + ", " + threads + " threads, " + InfoCommand.cpuModel();
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

    Shape shape(String name0, String v) {
        String name = name0 == null ? null : name0.trim().toUpperCase(Locale.ROOT);
        long[] dims = switch (name == null ? "" : name) {  // b, h, hkv, lq, lk, d, e
            case "W1" -> new long[] {1, 12, 12, 512, 512, 64, 0};
            case "W2" -> new long[] {1, 32, 32, 1, 4096, 128, 0};
            case "W3" -> new long[] {1, 1, 1, 16, 16, 64, 0};
            case "W4" -> new long[] {1, 12, 12, 128, 128, 64, 768};
            case "" -> new long[] {1, 8, -1, 128, -1, 64, 0};
            default -> throw new Options.UsageException("--workload: expected W1, W2, W3 or W4, got '" + name0.trim()
                    + "'");
        };
        boolean mha = "W4".equals(name);
        long bb = or(b, dims[0]), hh = or(h, dims[1]), qq = or(lq, dims[3]);
        long kvh = or(hkv, dims[2] < 0 || mha ? hh : dims[2]);
        long kk = or(lk, dims[4] < 0 || mha ? qq : dims[4]);
        long ee = or(e, dims[6]), dim = mha ? ee / hh : or(d, dims[5]);
        if (mha && kk != qq) {
            throw new Options.UsageException("W4 is self-attention: --lk must equal --lq");
        }
        if (mha && !v.equals("sdpa")) {
            throw new Options.UsageException("--variant " + v + ": W4 is a multi-head layer; variants time the"
                    + " attention call of W1, W2, W3 or a shape");
        }
        Dtype t = dtype == null ? Dtype.F32 : dtype;
        if (t != Dtype.F32 && mha) {
            throw new Options.UsageException("--dtype " + Options.name(t) + ": W4 is a multi-head layer, whose "
                    + "projections are float32; --dtype applies to W1, W2, W3 or a shape");
        }
        if (t != Dtype.F32 && !HALF_VARIANTS.contains(v)) {
            throw new Options.UsageException("--dtype " + Options.name(t) + ": --variant " + v + " takes float32 Q "
                    + "and K; half precision applies to " + String.join(", ", HALF_VARIANTS));
        }
        return new Shape(name == null ? "sdpa" : name, mha, bb, hh, kvh, qq, kk, dim, ee, causal, v, "tensor", t);
    }

    private static long or(Long value, long fallback) {
        return value == null ? fallback : value;
    }

    /**
     * Refuses a case whose largest tensor cannot be filled from one Java array (as {@link DemoCommand#random}
     * and MultiHeadAttention.initRandom fill them), naming the size options given. The tensors' total is at
     * most a few times that (with the default heap, about the machine's memory); past that, an allocation
     * that still fails is reported with the case's need.
     */
    private Shape checkMemory(Shape s) {
        long heap = Runtime.getRuntime().maxMemory();
        double array = Math.min(heap, 4.0 * (Integer.MAX_VALUE - 8));
        if (s.largest() <= array) {
            return s;
        }
        StringBuilder given = new StringBuilder();
        Long[] values = {b, h, hkv, lq, lk, d, e};
        String[] names = {"--b", "--h", "--hkv", "--lq", "--lk", "--d", "--e"};
        for (int i = 0; i < names.length; i++) {
            if (values[i] != null) {
                given.append(given.isEmpty() ? "" : " ").append(names[i]).append(' ').append(values[i]);
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

    static List<String> apis(String option) {
        if (option == null) {
            return List.of("tensor");
        }
        if (option.equals("all")) {
            return APIS;
        }
        List<String> list = new ArrayList<>();
        for (String a : option.split(",")) {
            if (!APIS.contains(a.trim())) {
                throw new Options.UsageException("--api: expected all or some of " + String.join(", ", APIS)
                        + ", got '" + a.trim() + "'");
            }
            list.add(a.trim());
        }
        return list;
    }

    static List<Backend> backends(String option) {
        if (option == null || option.equals("all")) {
            return List.of(Backend.NATIVE, Backend.JAVA_VECTOR, Backend.JAVA);
        }
        List<Backend> list = new ArrayList<>();
        for (String name : option.split(",")) {
            try {
                list.add(new Options.BackendName().convert(name));
            } catch (Options.BadValue x) {
                throw new Options.UsageException("--backend: expected all or some of native, java, vector, got '"
                        + name.trim() + "'");
            }
        }
        return list;
    }

    /** Calls a warm-up window holds: about 20 ms of them, from 3 to 100,000. */
    private static int window(double ns) {
        return (int) Math.max(3, Math.min(100_000, 20e6 / Math.max(ns, 1)));
    }

    /**
     * Times one case at steady state, as {@link #time} does, on inputs it
     * allocates; a W4 case with {@code profile} side by side with its parts
     * ({@link #parts}), so that its row and its parts come from the same rounds.
     */
    static Result measure(Shape s, Backend backend, int threads, int iterations, double maxSeconds,
                          double warmupSeconds, long seed, boolean profile) {
        try (Arena arena = Arena.ofShared()) {
            Runnable call = call(arena, s, backend, seed);
            if (!profile || !s.mha) {
                return new Result(s, backend, threads, time(call, iterations, maxSeconds, warmupSeconds));
            }
            Runnable[] parts = parts(arena, s, backend, seed);
            Timing[] t = timeTogether(new Runnable[] {call, parts[0], parts[1], parts[2]}, iterations, maxSeconds,
                    warmupSeconds);
            return new Result(s, backend, threads, t[0]).withProfile(new Profile(t[1], t[2], t[3], t[0].medianNs()));
        }
    }

    /** The read test of a buffer of {@code bytes} on {@code threads} threads, timed as calls are. */
    static ReadTest readTest(long bytes, int threads, int iterations, double maxSeconds, double warmupSeconds) {
        try (ReadBandwidth read = new ReadBandwidth(bytes, threads)) {
            return new ReadTest(read.bytes(), threads, time(read, iterations, maxSeconds, warmupSeconds));
        }
    }

    /** Times one call at steady state: {@link #timeTogether} of the call alone. */
    static Timing time(Runnable call, int iterations, double maxSeconds, double warmupSeconds) {
        return timeTogether(new Runnable[] {call}, iterations, maxSeconds, warmupSeconds)[0];
    }

    /**
     * Times calls at steady state, side by side: each call's first call
     * (cold), then warm-up windows of rounds until two consecutive windows'
     * medians agree within 3% for every call and the JIT compiled nothing
     * during the second (see {@link #jitMillis}), after at least 20,000 rounds
     * and 2 s (or {@code warmupSeconds}, which bounds the warm-up); then
     * rounds up to {@code iterations} or {@code maxSeconds}, so that a
     * machine busy for a moment slows them alike. Warm-up and timing both go
     * through {@link #round}: the JIT compiles the path that is timed, not
     * another one (a call warmed up in a loop of its own was timed through a
     * call site the JIT had left with profiling code, twice as slow for a
     * tiny call).
     */
    static Timing[] timeTogether(Runnable[] calls, int iterations, double maxSeconds, double warmupSeconds) {
        long[] cold = new long[calls.length];
        for (int c = 0; c < calls.length; c++) {
            long t = System.nanoTime();
            calls[c].run();
            cold[c] = System.nanoTime() - t;
        }
        long warmupCalls = 1 + warmUp(calls, cold, warmupSeconds);
        long[][] ns = new long[calls.length][Math.max(1, iterations)];
        int n = 0;
        long start = System.nanoTime();
        while (n < ns[0].length && (n < 3 || System.nanoTime() - start < maxSeconds * 1e9)) {
            round(calls, ns, n);
            n++;
        }
        Timing[] timings = new Timing[calls.length];
        for (int c = 0; c < calls.length; c++) {
            long[] sorted = Arrays.copyOf(ns[c], n);
            Arrays.sort(sorted);
            timings[c] = new Timing(sorted[n / 2], sorted[(int) (n * 0.1)], sorted[Math.min(n - 1, (int) (n * 0.9))],
                    n, cold[c], warmupCalls);
        }
        return timings;
    }

    /** Times each call once, in turn, into column {@code n} of {@code ns}. */
    private static void round(Runnable[] calls, long[][] ns, int n) {
        for (int c = 0; c < calls.length; c++) {
            long t0 = System.nanoTime();
            calls[c].run();
            ns[c][n] = System.nanoTime() - t0;
        }
    }

    /** Warm-up windows after first calls of {@code coldNs}, as {@link #timeTogether} describes; returns the rounds. */
    private static long warmUp(Runnable[] calls, long[] coldNs, double warmupSeconds) {
        long warmStart = System.nanoTime(), rounds = 0;
        double budget = warmupSeconds * 1e9;
        double[] previous = null, medians = Arrays.stream(coldNs).asDoubleStream().toArray();
        while (System.nanoTime() - warmStart < budget) {
            int size = window(Arrays.stream(medians).sum());
            long[][] ns = new long[calls.length][size];
            long jitBefore = jitMillis();
            for (int i = 0; i < size; i++) {
                round(calls, ns, i);
            }
            boolean jitQuiet = jitMillis() == jitBefore;
            medians = Arrays.stream(ns).mapToDouble(BenchCommand::median).toArray();
            rounds += size;
            boolean longEnough = rounds + 1 >= 20_000 && System.nanoTime() - warmStart >= Math.min(2e9, budget);
            if (longEnough && jitQuiet && previous != null && agree(medians, previous)) {
                break;
            }
            previous = medians;
        }
        return rounds;
    }

    /**
     * The JIT's total compilation time so far, in ms, or 0 where the JVM
     * does not report it: a window during which it grew is not steady
     * state, however its median looks (profiling code runs at a steady
     * speed too, until the optimising compiler replaces it).
     */
    private static long jitMillis() {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        return jit != null && jit.isCompilationTimeMonitoringSupported() ? jit.getTotalCompilationTime() : 0;
    }

    /** Whether every median is within 3% of its previous window's. */
    private static boolean agree(double[] medians, double[] previous) {
        for (int c = 0; c < medians.length; c++) {
            if (Math.abs(medians[c] - previous[c]) > 0.03 * previous[c]) {
                return false;
            }
        }
        return true;
    }

    /**
     * W4's parts: the public building blocks the layer calls, input
     * projection, attention core and output projection, on its shapes and the
     * same kind of views (q, k and v are column views of one projected
     * (B, L, E + 2·kvDim) buffer, split into heads by strides; the output
     * merges heads the same way), with weights of the layer's shapes. What
     * the layer's median has beyond their sum is its own work: checks, its
     * per-call arena and tensors.
     */
    private static Runnable[] parts(Arena arena, Shape s, Backend backend, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        long kvDim = s.hkv * s.d, width = s.e + 2 * kvDim;
        Tensor x = DemoCommand.random(arena, rnd, s.b, s.lq, s.e);
        Tensor inW = DemoCommand.random(arena, rnd, width, s.e), inB = DemoCommand.random(arena, rnd, width);
        Tensor outW = DemoCommand.random(arena, rnd, s.e, s.e), outB = DemoCommand.random(arena, rnd, s.e);
        Tensor qkv = Tensor.allocate(arena, s.b, s.lq, width), merged = Tensor.allocate(arena, s.b, s.lq, s.e);
        Tensor y = Tensor.allocate(arena, s.b, s.lq, s.e);
        Attention.linear(x, inW, inB, qkv, backend); // the core then attends over projected values
        Tensor q = heads(qkv, 0, s.h, s.d), k = heads(qkv, s.e, s.hkv, s.d), v = heads(qkv, s.e + kvDim, s.hkv, s.d);
        Tensor o = heads(merged, 0, s.h, s.d);
        AttentionSpec spec = spec(s, backend);
        return new Runnable[] {() -> Attention.linear(x, inW, inB, qkv, backend),
            () -> Attention.scaledDotProduct(q, k, v, o, spec), () -> Attention.linear(merged, outW, outB, y, backend)};
    }

    /** Heads (B, heads, L, D) of a token-major (B, L, width) buffer from {@code column} on, as the layer splits it. */
    private static Tensor heads(Tensor buffer, long column, long heads, long d) {
        long b = buffer.size(0), l = buffer.size(1), width = buffer.size(2);
        return Tensor.wrap(buffer.segment().asSlice(column * Float.BYTES), new long[] {b, heads, l, d},
                new long[] {l * width, d, width, 1});
    }

    private static double median(long[] ns) {
        long[] sorted = ns.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    /** The call to time, with its inputs and output allocated once. */
    private static Runnable call(Arena arena, Shape s, Backend backend, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        AttentionSpec spec = spec(s, backend);
        if (s.mha) {
            MultiHeadAttention layer = MultiHeadAttention.builder(s.e, s.h).kvHeads(s.hkv).build(arena).initRandom(seed);
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
        Tensor q = stored(arena, DemoCommand.random(arena, rnd, s.b, s.h, s.lq, s.d), s.dtype);
        Tensor k = stored(arena, DemoCommand.random(arena, rnd, s.b, s.hkv, s.lk, s.d), s.dtype);
        Tensor v = stored(arena, DemoCommand.random(arena, rnd, s.b, s.hkv, s.lk, s.d), s.dtype);
        Tensor o = Tensor.allocate(arena, s.b, s.h, s.lq, s.d);
        if (s.api.equals("prepared")) {
            return Attention.prepare(q, k, v, o, spec)::run;
        }
        if (s.api.equals("arrays")) {
            return arrays(s, q, k, v, spec);
        }
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

    /** The float32 input converted to the case's dtype (the float32 copy lives on in the arena, unused). */
    private static Tensor stored(Arena arena, Tensor t, Dtype dtype) {
        return dtype == Dtype.F32 ? t : t.to(arena, dtype);
    }

    /** The call on float[] copies of the inputs (their sizes fit: checkMemory refused larger ones). */
    private static Runnable arrays(Shape s, Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        float[] qa = q.toArray(), ka = k.toArray(), va = v.toArray(), oa = new float[qa.length];
        Attention.Dims dims = new Attention.Dims(Math.toIntExact(s.b), Math.toIntExact(s.h), Math.toIntExact(s.hkv),
                Math.toIntExact(s.lq), Math.toIntExact(s.lk), Math.toIntExact(s.d), Math.toIntExact(s.d));
        return () -> Attention.scaledDotProduct(qa, ka, va, oa, dims, spec);
    }

    /** The spec every call of a case uses: its backend and causal rule. */
    private static AttentionSpec spec(Shape s, Backend backend) {
        return AttentionSpec.builder().backend(backend).causal(s.causal ? Causal.TOP_LEFT : Causal.NONE).build();
    }

    private static Runnable sdpa(Tensor q, Tensor k, Tensor v, Tensor o, AttentionSpec spec) {
        return () -> Attention.scaledDotProduct(q, k, v, o, spec);
    }

    private static Runnable rule(ScoreRule rule, Tensor q, Tensor k, Tensor v, Tensor o, AttentionSpec spec) {
        return () -> Attention.attend(rule, q, k, v, o, spec);
    }

    /** A time in the unit that suits it, for the table. */
    static String time(long ns) {
        return ns >= 10_000_000 ? String.format(Locale.ROOT, "%.1f ms", ns / 1e6)
                : ns >= 10_000 ? String.format(Locale.ROOT, "%.3f ms", ns / 1e6)
                : String.format(Locale.ROOT, "%.2f µs", ns / 1e3);
    }

    private static void row(PrintWriter out, Result r) {
        Shape s = r.shape();
        out.printf(Locale.ROOT, "%-4s %-46s %-8s %7d %12s %12s %12s %9.1f %8.2f%n", s.workload().length() <= 4
                ? s.workload() : "", s.describe(), Options.name(r.backend()), r.threads(), time(r.medianNs()),
                time(r.p10Ns()), time(r.p90Ns()), r.gflops(), r.gbps());
        Profile p = r.profile();
        if (p != null) {
            double attention = 2.0 * s.b() * s.h() * s.lq() * s.lk() * 2 * s.d() * (s.causal() ? 0.5 : 1.0);
            double in = 2.0 * s.b() * s.lq() * s.e() * (s.e() + 2 * s.hkv() * s.d()), outProjection = 2.0 * s.b()
                    * s.lq() * s.e() * s.e();
            part(out, r, "input projections", p.inProjection(), in);
            part(out, r, "attention core", p.core(), attention);
            part(out, r, "output projection", p.outProjection(), outProjection);
            out.printf(Locale.ROOT, "%-4s %-46s %-8s %7d %12s %12s %12s %9s %8s%n", "", share("Java overhead",
                    p.overheadNs(), r), Options.name(r.backend()), r.threads(), time(p.overheadNs()), "-", "-", "-",
                    "-");
        }
    }

    private static void readRow(PrintWriter out, ReadTest t) {
        Timing x = t.timing();
        out.printf(Locale.ROOT, "%-4s %-46s %-8s %7d %12s %12s %12s %9s %8.2f%n", "read", String.format(Locale.ROOT,
                "read test: %.1f MB (K and V), %s", t.bytes() / 1e6, ReadBandwidth.method()), "memory",
                t.threads(), time(x.medianNs()),
                time(x.p10Ns()), time(x.p90Ns()), "-", t.gbps());
    }

    /** One part of a profiled layer call: its own times, and its share of the layer's median. */
    private static void part(PrintWriter out, Result r, String name, Timing t, double flops) {
        out.printf(Locale.ROOT, "%-4s %-46s %-8s %7d %12s %12s %12s %9.1f %8s%n", "", share(name, t.medianNs(), r),
                Options.name(r.backend()), r.threads(), time(t.medianNs()), time(t.p10Ns()), time(t.p90Ns()),
                flops / t.medianNs(), "-");
    }

    private static String share(String name, long ns, Result r) {
        return String.format(Locale.ROOT, "  %-18s %4.0f%% of the layer", name, 100.0 * ns / r.medianNs());
    }

    /**
     * One result, with its time relative to native's on the same case when native ran, and for decoding how fast
     * it reads K and V next to the read test of as many bytes on as many threads.
     */
    static Json json(Result r, Result nativeResult, ReadTest read) {
        Shape s = r.shape();
        Json j = new Json().put("workload", s.workload()).put("variant", s.variant()).put("case", s.describe())
                .put("b", s.b()).put("h", s.h()).put("hkv", s.hkv()).put("lq", s.lq()).put("lk", s.lk())
                .put("d", s.d()).put("e", s.e()).put("causal", s.causal()).put("dtype", Options.name(s.dtype()))
                .put("backend", Options.name(r.backend()))
                .put("threads", r.threads()).put("samples", r.samples()).put("cold_ns", r.coldNs())
                .put("warmup_calls", r.warmupCalls()).put("median_ns", r.medianNs())
                .put("p10_ns", r.p10Ns()).put("p90_ns", r.p90Ns()).put("gflops", r.gflops()).put("gbps", r.gbps())
                .put("time_vs_native", nativeResult == null ? null : (double) r.medianNs() / nativeResult.medianNs())
                .put("api", s.api()).put("kv_gbps", s.mha() ? null : r.kvGbps())
                .put("read_gbps", read == null ? null : read.gbps())
                .put("kv_vs_read", read == null ? null : r.kvGbps() / read.gbps());
        return r.profile() == null ? j : j.put("profile", json(r.profile()));
    }

    /** A profile's parts: each one's median, p10 and p90, and the overhead, which with them makes the median. */
    static Json json(Profile p) {
        return new Json().put("input_projections", json(p.inProjection())).put("attention_core", json(p.core()))
                .put("output_projection", json(p.outProjection())).put("java_overhead_ns", p.overheadNs());
    }

    private static Json json(Timing t) {
        return new Json().put("median_ns", t.medianNs()).put("p10_ns", t.p10Ns()).put("p90_ns", t.p90Ns())
                .put("samples", t.samples()).put("warmup_calls", t.warmupCalls());
    }

    /** A read test: the bytes of a pass, the threads, its timing and GB/s. */
    static Json json(ReadTest t) {
        return new Json().put("bytes", t.bytes()).put("threads", t.threads()).put("method", ReadBandwidth.method())
                .put("cold_ns", t.timing().coldNs()).put("timing", json(t.timing())).put("gbps", t.gbps());
    }

    /** {"context": ..., "skipped": [...], "read_tests": [...], "results": [...]}: one result a line. */
    private static void printJson(PrintWriter out, Json context, List<Skipped> skipped, List<ReadTest> readTests,
                                  List<Result> results) {
        List<Json> skips = skipped.stream().map(x -> new Json().put("backend", Options.name(x.backend()))
                .put("reason", x.reason())).toList();
        out.println("{\"context\":" + context + ",");
        out.println("\"skipped\":" + Json.value(skips) + ",");
        out.println("\"read_tests\":" + Json.value(readTests.stream().map(BenchCommand::json).toList()) + ",");
        out.println("\"results\":[");
        for (int i = 0; i < results.size(); i++) {
            Result r = results.get(i);
            Result nat = results.stream().filter(x -> x.shape().equals(r.shape()) && x.backend() == Backend.NATIVE)
                    .findFirst().orElse(null);
            out.println(json(r, nat, ReadTest.matching(readTests, r)) + (i + 1 < results.size() ? "," : ""));
        }
        out.println("]}");
    }
}
