package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import java.util.stream.LongStream;

/**
 * Pure Java with the Vector API (jdk.incubator.vector): the Java driver
 * with {@link VectorOps}, its work items split over threads like the
 * native library's (batch × heads × query tiles) when the memory is shared
 * (a confined arena's segments keep it on the caller). The strongest
 * pure-Java attention here, for fair native-vs-Java comparisons.
 */
public final class VectorBackend extends JavaBackend {
    public static final VectorBackend INSTANCE = new VectorBackend();

    /** A thread that is not the caller: segments it may access are shared, not confined. */
    private static final Thread OTHER = new Thread(() -> { });

    /** One pool per thread count, never shut down: a call keeps the pool it started on. */
    private final Map<Integer, ForkJoinPool> pools = new ConcurrentHashMap<>();

    private VectorBackend() {
        super(VectorOps.INSTANCE);
    }

    /** The threads to use: the native pool's count when loaded, else one per processor. */
    private static int threads() {
        return NativeLoader.isLoaded() ? NativeInfo.threads() : Runtime.getRuntime().availableProcessors();
    }

    @Override
    void run(long count, LongConsumer item, Supplier<List<MemorySegment>> memory) {
        int threads = count <= 1 ? 1 : threads();
        if (threads <= 1 || !memory.get().stream().allMatch(s -> s.isAccessibleBy(OTHER))) {
            super.run(count, item, memory);
            return;
        }
        ForkJoinPool p = pools.computeIfAbsent(threads, ForkJoinPool::new);
        try {
            p.submit(() -> LongStream.range(0, count).parallel().forEach(item)).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        }
    }
}
