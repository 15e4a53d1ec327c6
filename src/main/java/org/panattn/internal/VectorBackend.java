package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.function.LongConsumer;
import java.util.stream.LongStream;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import org.panattn.Mask;
import org.panattn.Tensor;

/**
 * Pure Java with the Vector API (jdk.incubator.vector), split over threads
 * like the native library (batch × heads × query tiles) when the memory is
 * shared (a confined arena's segments keep it on the caller): the strongest
 * pure-Java attention here, for fair native-vs-Java comparisons. Scaled
 * dot-product attention and the linear layer are vectorised; the other
 * score rules, positional terms and RoPE run the reference loops.
 */
public final class VectorBackend implements AttentionBackend {
    public static final VectorBackend INSTANCE = new VectorBackend();

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final int TILE = 16;

    private final Map<Integer, ForkJoinPool> pools = new ConcurrentHashMap<>();

    private VectorBackend() {
    }

    /** The threads to use: the native pool's count when loaded, else one per processor. */
    private static int threads() {
        return NativeLoader.isLoaded() ? NativeInfo.threads() : Runtime.getRuntime().availableProcessors();
    }

    /** A thread that is not the caller: segments it may access are shared, not confined. */
    private static final Thread OTHER = new Thread(() -> { });

    /**
     * Runs body(item) for item in [0, count) on {@link #threads()} threads,
     * or on the caller alone when a segment is confined to it (a confined
     * arena's memory cannot be read from other threads).
     */
    private void parallel(long count, LongConsumer body, MemorySegment... segments) {
        int threads = threads();
        boolean shared = true;
        for (MemorySegment s : segments) {
            shared &= s == null || s.isAccessibleBy(OTHER);
        }
        if (threads <= 1 || count <= 1 || !shared) {
            for (long i = 0; i < count; i++) {
                body.accept(i);
            }
            return;
        }
        // One pool per thread count, never shut down: a call keeps the pool it
        // started on while another thread changes the count.
        ForkJoinPool p = pools.computeIfAbsent(threads, ForkJoinPool::new);
        try {
            p.submit(() -> LongStream.range(0, count).parallel().forEach(body::accept)).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        }
    }

    /** Byte offset of element (a, b, c, 0) of a rank-4 tensor. */
    private static long rowOffset(long[] st, long a, long b, long c) {
        return (a * st[0] + b * st[1] + c * st[2]) * Float.BYTES;
    }

    private static float dot(MemorySegment x, long xOff, MemorySegment y, long yOff, int n) {
        FloatVector acc = FloatVector.zero(SPECIES);
        int d = 0;
        for (int bound = SPECIES.loopBound(n); d < bound; d += SPECIES.length()) {
            FloatVector a = FloatVector.fromMemorySegment(SPECIES, x, xOff + (long) d * Float.BYTES, ORDER);
            FloatVector b = FloatVector.fromMemorySegment(SPECIES, y, yOff + (long) d * Float.BYTES, ORDER);
            acc = a.fma(b, acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; d < n; d++) {
            sum += x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, xOff + (long) d * Float.BYTES)
                    * y.get(ValueLayout.JAVA_FLOAT_UNALIGNED, yOff + (long) d * Float.BYTES);
        }
        return sum;
    }

    /** acc[0..n) += w · y[0..n). */
    private static void axpy(float w, MemorySegment y, long yOff, float[] acc, int n) {
        FloatVector wv = FloatVector.broadcast(SPECIES, w);
        int d = 0;
        for (int bound = SPECIES.loopBound(n); d < bound; d += SPECIES.length()) {
            FloatVector a = FloatVector.fromArray(SPECIES, acc, d);
            FloatVector b = FloatVector.fromMemorySegment(SPECIES, y, yOff + (long) d * Float.BYTES, ORDER);
            b.fma(wv, a).intoArray(acc, d);
        }
        for (; d < n; d++) {
            acc[d] += w * y.get(ValueLayout.JAVA_FLOAT_UNALIGNED, yOff + (long) d * Float.BYTES);
        }
    }

    @Override
    public void sdpa(SdpaProblem p) {
        AttendProblem c = p.common();
        if (c.positional().any()) {
            JavaBackend.INSTANCE.sdpa(p); // positional terms: the reference loops
            return;
        }
        final long tiles = (c.queries() + TILE - 1) / TILE;
        final long[] qs = p.q().strides(), ks = p.k().strides(), vs = c.values().strides(), os = c.out().strides();
        final MemorySegment q = p.q().segment(), k = p.k().segment(), v = c.values().segment(), out = c.out().segment();
        final int dk = (int) p.q().size(3), dv = (int) c.values().size(3), lk = (int) c.keys();
        final long group = c.heads() == 0 ? 1 : c.heads() / c.kvHeads(); // H = Hkv = 0: an empty call
        final MaskRows masks = new MaskRows(c.mask(), c.keyPadding());
        final Tensor w = c.weights();
        final long[] ws = w == null ? null : w.strides();
        parallel(c.batch() * c.heads() * tiles, item -> {
            long b = item / (c.heads() * tiles), h = item / tiles % c.heads(), tile = item % tiles;
            long kvh = h / group;
            float[] scores = new float[lk];
            float[] acc = new float[dv];
            for (long i = tile * TILE; i < Math.min(c.queries(), (tile + 1) * TILE); i++) {
                int lo = (int) c.firstKey(i), hi = (int) c.endKey(i);
                long qOff = rowOffset(qs, b, h, i);
                float max = Float.NEGATIVE_INFINITY;
                boolean poisoned = false; // a NaN or +Inf score among the kept keys
                for (int j = lo; j < hi; j++) {
                    float s = dot(q, qOff, k, rowOffset(ks, b, kvh, j), dk) * p.scale();
                    s = masks.apply(s, b, h, i, j);
                    scores[j] = s;
                    poisoned |= Float.isNaN(s) || s == Float.POSITIVE_INFINITY;
                    max = Math.max(max, s);
                }
                // The rules of JavaBackend.attend: no kept finite score gives zeros,
                // a NaN or +Inf score NaN for every key shown, else a max-subtracted softmax.
                final boolean empty = !poisoned && max == Float.NEGATIVE_INFINITY;
                float sum = 0f;
                for (int j = lo; j < hi; j++) {
                    scores[j] = empty ? 0f : poisoned ? Float.NaN : (float) Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                float inv = empty ? 0f : 1f / sum;
                java.util.Arrays.fill(acc, 0f);
                for (int j = lo; j < hi && !empty; j++) {
                    if (scores[j] != 0f) { // a weight-0 key adds nothing (0 · NaN in V may go either way)
                        axpy(scores[j] * inv, v, rowOffset(vs, b, kvh, j), acc, dv);
                    }
                }
                MemorySegment.copy(acc, 0, out, ValueLayout.JAVA_FLOAT_UNALIGNED, rowOffset(os, b, h, i), dv);
                if (w != null) {
                    long wOff = rowOffset(ws, b, h, i);
                    for (int j = 0; j < lk; j++) {
                        w.segment().set(ValueLayout.JAVA_FLOAT_UNALIGNED, wOff + (long) j * Float.BYTES,
                                j >= lo && j < hi ? scores[j] * inv : 0f);
                    }
                }
            }
        }, q, k, v, out, w == null ? null : w.segment(), c.mask() == null ? null : c.mask().segment(),
                c.keyPadding() == null ? null : c.keyPadding().segment());
    }

    /** The two masks of a call, applied to one score. */
    private record MaskRows(Mask mask, Mask padding) {
        float apply(float s, long b, long h, long i, long j) {
            return apply(padding, apply(mask, s, b, h, i, j), b, h, i, j);
        }

        private static float apply(Mask m, float s, long b, long h, long i, long j) {
            if (m == null) {
                return s;
            }
            long[] sh = m.shape();
            long[] st = m.strides();
            long off = (sh[0] == 1 ? 0 : b * st[0]) + (sh[1] == 1 ? 0 : h * st[1]) + (sh[2] == 1 ? 0 : i * st[2])
                    + j * st[3];
            if (m.kind() == Mask.Kind.KEEP) {
                return m.segment().get(ValueLayout.JAVA_BYTE, off) == 0 ? Float.NEGATIVE_INFINITY : s;
            }
            return s + m.segment().getAtIndex(ValueLayout.JAVA_FLOAT, off);
        }
    }

    @Override
    public void linear(LinearProblem p) {
        final long[] xs = p.x().strides(), wst = p.w().strides(), ys = p.y().strides();
        final long[] shape = p.x().shape();
        final int k = (int) shape[3], n = (int) p.w().size(2);
        final MemorySegment x = p.x().segment(), w = p.w().segment(), y = p.y().segment();
        final float[] bias = p.bias() == null ? null : p.bias().toArray();
        final long rows = shape[0] * shape[1] * shape[2];
        parallel((rows + TILE - 1) / TILE, tile -> {
            for (long r = tile * TILE; r < Math.min(rows, (tile + 1) * TILE); r++) {
                long a = r / (shape[1] * shape[2]), b = r / shape[2] % shape[1], m = r % shape[2];
                long xOff = rowOffset(xs, a, b, m), yOff = rowOffset(ys, a, b, m);
                for (int o = 0; o < n; o++) {
                    float s = dot(x, xOff, w, rowOffset(wst, 0, 0, o), k) + (bias == null ? 0f : bias[o]);
                    y.set(ValueLayout.JAVA_FLOAT_UNALIGNED, yOff + (long) o * Float.BYTES, s);
                }
            }
        }, x, w, y);
    }

    @Override
    public void additive(AdditiveProblem p) {
        JavaBackend.INSTANCE.additive(p);
    }

    @Override
    public void concat(ConcatProblem p) {
        JavaBackend.INSTANCE.concat(p);
    }

    @Override
    public void rope(Tensor x, long position, float base, boolean interleaved) {
        JavaBackend.INSTANCE.rope(x, position, base, interleaved);
    }
}
