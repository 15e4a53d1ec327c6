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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Panattn;
import org.panattn.PreparedAttention;
import org.panattn.Tensor;

/**
 * W3, the tiny call (B=1 H=1 L=16 D=64), on the native backend through each
 * API, as {@code panattn bench --workload W3 --api all} times it: tensors
 * (Attention.scaledDotProduct), a PreparedAttention's run(), float[] arrays.
 * Sample time, so the median is comparable with bench's.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class TinyCallBenchmark {
    private static final int L = 16, D = 64;

    private Arena arena;
    private Tensor q, k, v, out;
    private PreparedAttention prepared;
    private float[] qa, ka, va, oa;
    private final Attention.Dims dims = Attention.Dims.of(1, 1, L, D);
    private final AttentionSpec spec = AttentionSpec.builder().backend(Backend.NATIVE).build();

    @Setup(Level.Trial)
    public void setUp() {
        Panattn.ensureNativeAvailable();
        arena = Arena.ofShared();
        SplittableRandom rnd = new SplittableRandom(1);
        q = random(rnd);
        k = random(rnd);
        v = random(rnd);
        out = Tensor.allocate(arena, 1, 1, L, D);
        prepared = Attention.prepare(q, k, v, out, spec);
        qa = q.toArray();
        ka = k.toArray();
        va = v.toArray();
        oa = new float[L * D];
    }

    private Tensor random(SplittableRandom rnd) {
        float[] values = new float[L * D];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return Tensor.of(arena, values, 1, 1, L, D);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Object tensor() {
        Attention.scaledDotProduct(q, k, v, out, spec);
        return out;
    }

    @Benchmark
    public Object prepared() {
        prepared.run();
        return out;
    }

    @Benchmark
    public Object arrays() {
        Attention.scaledDotProduct(qa, ka, va, oa, dims, spec);
        return oa;
    }
}
