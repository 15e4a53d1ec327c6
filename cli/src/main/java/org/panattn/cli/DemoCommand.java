package org.panattn.cli;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Panattn;
import org.panattn.Tensor;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code demo}: attention on sample data through both backends, timed and compared. */
@Command(name = "demo", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false, separator = " ", descriptionHeading = "%n",
        synopsisHeading = "usage: ", customSynopsis = "panattn demo",
        description = "Attention on sample data, native vs plain Java: time, speed-up, largest difference.",
        optionListHeading = "%nOptions:%n")
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** One sample workload. */
    private record Case(String name, int b, int h, int hkv, int lq, int lk, int d, Causal causal) {
        String shape() {
            return "B=" + b + " H=" + h + (hkv != h ? " Hkv=" + hkv : "") + " Lq=" + lq + " Lk=" + lk + " D=" + d;
        }
    }

    private static final Case[] CASES = {
        new Case("encoder", 1, 8, 8, 128, 128, 64, Causal.NONE),
        new Case("encoder", 1, 12, 12, 512, 512, 64, Causal.NONE),
        new Case("causal", 2, 4, 4, 256, 256, 32, Causal.TOP_LEFT),
        new Case("cross", 2, 8, 8, 64, 300, 64, Causal.NONE),
        new Case("decode GQA", 1, 32, 8, 1, 4096, 128, Causal.BOTTOM_RIGHT),
    };

    @Override
    public Integer call() {
        run(spec.commandLine().getOut());
        return 0;
    }

    static void run(PrintWriter out) {
        out.print(Panattn.info());
        out.println();
        if (!Panattn.isNativeAvailable()) {
            out.println("native library unavailable (see above); only the Java backend can run");
            return;
        }
        out.printf(Locale.ROOT, "panattn %s: native (%s, %s, %d threads) vs plain Java (1 thread), float32, medians%n",
                Panattn.version(), Panattn.isa().id(), Main.blas(), Panattn.threads());
        out.printf(Locale.ROOT, "%-11s %-36s %8s %12s %11s %9s %13s%n", "case", "shape", "causal", "native ms", "java ms",
                "speed-up", "max |diff|");
        for (Case c : CASES) {
            try (Arena arena = Arena.ofConfined()) {
                SplittableRandom rnd = new SplittableRandom(42);
                Tensor q = random(arena, rnd, c.b, c.h, c.lq, c.d);
                Tensor k = random(arena, rnd, c.b, c.hkv, c.lk, c.d);
                Tensor v = random(arena, rnd, c.b, c.hkv, c.lk, c.d);
                Tensor outNative = Tensor.allocate(arena, c.b, c.h, c.lq, c.d);
                Tensor outJava = Tensor.allocate(arena, c.b, c.h, c.lq, c.d);
                AttentionSpec nat = AttentionSpec.builder().causal(c.causal).backend(Backend.NATIVE).build();
                AttentionSpec jav = nat.toBuilder().backend(Backend.JAVA).build();
                double nativeMs = medianMs(() -> Attention.scaledDotProduct(q, k, v, outNative, nat), 5, 21);
                double javaMs = medianMs(() -> Attention.scaledDotProduct(q, k, v, outJava, jav), 1, 3);
                out.printf(Locale.ROOT, "%-11s %-36s %8s %12.3f %11.2f %8.1fx %13.2e%n", c.name, c.shape(),
                        c.causal == Causal.NONE ? "-" : c.causal.name().toLowerCase(Locale.ROOT).replace('_', '-'),
                        nativeMs, javaMs, javaMs / nativeMs, maxAbsDiff(outNative, outJava));
            }
        }
    }

    static Tensor random(Arena arena, SplittableRandom rnd, long... shape) {
        Tensor t = Tensor.allocate(arena, shape);
        float[] values = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return t.copyFrom(values);
    }

    /** Median wall time of {@code runs} calls after {@code warmup} calls. */
    static double medianMs(Runnable call, int warmup, int runs) {
        for (int i = 0; i < warmup; i++) {
            call.run();
        }
        double[] ms = new double[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            call.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[runs / 2];
    }

    private static double maxAbsDiff(Tensor a, Tensor b) {
        float[] x = a.toArray();
        float[] y = b.toArray();
        double max = 0;
        for (int i = 0; i < x.length; i++) {
            max = Math.max(max, Math.abs(x[i] - y[i]));
        }
        return max;
    }
}
