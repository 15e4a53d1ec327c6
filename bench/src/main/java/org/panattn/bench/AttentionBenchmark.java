package org.panattn.bench;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Panattn;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

/**
 * The workloads of the performance targets on every backend:
 * W1 prefill (B=1 H=12 L=512 D=64), W2 decode (B=1 H=32 Lq=1 Lk=4096
 * D=128), W3 tiny (B=1 H=1 L=16 D=64), W4 a BERT-base multi-head layer
 * (E=768 H=12 B=1 L=128). The thread count comes from -Dpanattn.threads.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class AttentionBenchmark {
    @Param({"W1", "W2", "W3", "W4"})
    public String workload;

    @Param({"NATIVE", "JAVA_VECTOR", "JAVA"})
    public Backend backend;

    private Arena arena;
    private Tensor q, k, v, out, x;
    private MultiHeadAttention layer;
    private AttentionSpec spec;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        SplittableRandom rnd = new SplittableRandom(1);
        spec = AttentionSpec.builder().backend(backend).build();
        switch (workload) {
            case "W1" -> sdpa(rnd, 1, 12, 512, 512, 64);
            case "W2" -> sdpa(rnd, 1, 32, 1, 4096, 128);
            case "W3" -> sdpa(rnd, 1, 1, 16, 16, 64);
            case "W4" -> {
                layer = MultiHeadAttention.builder(768, 12).build(arena).initRandom(1);
                x = random(rnd, 1, 128, 768);
            }
            default -> throw new IllegalArgumentException(workload);
        }
        if (backend == Backend.NATIVE) {
            Panattn.ensureNativeAvailable();
        }
    }

    private void sdpa(SplittableRandom rnd, long b, long h, long lq, long lk, long d) {
        q = random(rnd, b, h, lq, d);
        k = random(rnd, b, h, lk, d);
        v = random(rnd, b, h, lk, d);
        out = Tensor.allocate(arena, b, h, lq, d);
    }

    private Tensor random(SplittableRandom rnd, long... shape) {
        Tensor t = Tensor.allocate(arena, shape);
        float[] values = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return t.copyFrom(values);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Object attention() {
        if (layer != null) {
            try (Arena scratch = Arena.ofConfined()) {
                return layer.forward(scratch, x, spec, MultiHeadAttention.NeedWeights.NONE).output().get(0, 0, 0);
            }
        }
        Attention.scaledDotProduct(q, k, v, out, spec);
        return out;
    }
}
