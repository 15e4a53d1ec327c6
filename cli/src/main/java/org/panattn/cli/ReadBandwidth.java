package org.panattn.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The read test of {@code bench}: how fast this machine's threads read
 * memory. One pass has each of the threads sum its share of an off-heap
 * buffer, every 8-byte word once. With the Vector API the sum loads the
 * CPU's widest vectors into independent sums ({@link VectorSum}), so it
 * waits on memory, not on its instructions; without it, eight words at a
 * time in plain Java, which can be slower than the memory (half as fast as
 * the vectors here on data in the caches), so the test says which it ran.
 * The bench makes the buffer as large as the K and V of the decoding case
 * it compares with, and times passes as it times calls, so both meet the
 * same caches in the same state.
 */
final class ReadBandwidth implements Runnable, AutoCloseable {
    /** Bytes per thread are a multiple of this: four of the widest vectors, four cache lines. */
    static final long STEP = 256;

    /** Whether the JVM has the Vector API (--add-modules jdk.incubator.vector). */
    static final boolean VECTOR = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private final Arena arena = Arena.ofShared();
    private final List<Callable<Long>> slices = new ArrayList<>();
    private final ExecutorService pool;
    private final long bytes;
    /** What the passes summed, kept so that the JIT cannot drop the reads. */
    private volatile long sink;

    /** A buffer of {@code bytes} (rounded up to whole steps per thread), filled, and the threads that read it. */
    ReadBandwidth(long bytes, int threads) {
        long perThread = (Math.max(bytes, 1) + threads * STEP - 1) / (threads * STEP) * STEP;
        this.bytes = perThread * threads;
        MemorySegment buffer = arena.allocate(this.bytes, STEP);
        for (long i = 0; i < this.bytes; i += 8) {
            buffer.set(ValueLayout.JAVA_LONG, i, i * 0x9E3779B97F4A7C15L);
        }
        for (int t = 0; t < threads; t++) {
            MemorySegment slice = buffer.asSlice(t * perThread, perThread);
            slices.add(VECTOR ? () -> VectorSum.sum(slice) : () -> sum(slice));
        }
        pool = Executors.newFixedThreadPool(threads, r -> {
            Thread thread = new Thread(r, "panattn-bench-read");
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Bytes one pass reads. */
    long bytes() {
        return bytes;
    }

    /** How the threads sum: "vector" (the Vector API) or "scalar" (plain Java). */
    static String method() {
        return VECTOR ? "vector" : "scalar";
    }

    /** One pass: every thread sums its slice; returns when all have. */
    @Override
    public void run() {
        try {
            long total = 0;
            for (Future<Long> f : pool.invokeAll(slices)) {
                total += f.get();
            }
            sink += total;
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("the read test was interrupted", x);
        } catch (ExecutionException x) {
            throw new IllegalStateException("the read test failed: " + x.getCause(), x.getCause());
        }
    }

    /** The sum without the Vector API: a cache line, eight words, per step. */
    private static long sum(MemorySegment s) {
        long a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0;
        for (long i = 0, n = s.byteSize(); i < n; i += 64) {
            a += s.get(ValueLayout.JAVA_LONG, i);
            b += s.get(ValueLayout.JAVA_LONG, i + 8);
            c += s.get(ValueLayout.JAVA_LONG, i + 16);
            d += s.get(ValueLayout.JAVA_LONG, i + 24);
            e += s.get(ValueLayout.JAVA_LONG, i + 32);
            f += s.get(ValueLayout.JAVA_LONG, i + 40);
            g += s.get(ValueLayout.JAVA_LONG, i + 48);
            h += s.get(ValueLayout.JAVA_LONG, i + 56);
        }
        return a + b + c + d + e + f + g + h;
    }

    @Override
    public void close() {
        pool.shutdownNow();
        arena.close();
    }
}
