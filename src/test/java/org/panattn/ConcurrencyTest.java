package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

/**
 * Many threads on shared inputs: results identical to a single-thread run;
 * a shared arena closed under a Java computation stops it cleanly (native
 * calls: {@link ArenaCloseDuringNativeCallTest}).
 */
class ConcurrencyTest {
    static final int THREADS = 8;
    static final int CALLS_PER_THREAD = 2500;

    /** One variant: a shape, a mask, a causal rule, a layout, a backend, maybe weights. */
    private record Variant(Tensor q, Tensor k, Tensor v, long[] outShape, long[] weightsShape, AttentionSpec spec,
                           String name) {
        float[][] run(Arena arena) {
            Tensor out = Tensor.allocate(arena, outShape);
            Tensor w = weightsShape == null ? null : Tensor.allocate(arena, weightsShape);
            Attention.scaledDotProduct(q, k, v, out, w == null ? spec : spec.toBuilder().weights(w).build());
            return new float[][] {out.toArray(), w == null ? new float[0] : w.toArray()};
        }
    }

    private static List<Variant> variants(Arena shared) {
        SplittableRandom rnd = new SplittableRandom(42);
        List<Variant> list = new ArrayList<>();
        int[][] shapes = {{1, 2, 2, 7, 9, 5, 3}, {2, 4, 2, 33, 17, 8, 8}, {1, 8, 2, 1, 40, 16, 4},
                          {1, 1, 1, 300, 20, 4, 2}, {2, 3, 3, 19, 19, 3, 7}, {1, 2, 1, 5, 64, 32, 1}};
        int n = 0;
        for (int[] s : shapes) {
            for (Causal causal : Causal.values()) {
                n++;
                boolean permuted = n % 2 == 0;
                Tensor q = SdpaParityTest.tensor(shared, rnd, permuted, s[0], s[1], s[3], s[5]);
                Tensor k = SdpaParityTest.tensor(shared, rnd, permuted, s[0], s[2], s[4], s[5]);
                Tensor v = SdpaParityTest.tensor(shared, rnd, permuted, s[0], s[2], s[4], s[6]);
                SdpaParityTest.Shape shape = new SdpaParityTest.Shape(s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
                SdpaParityTest.MaskKind kind = SdpaParityTest.MaskKind.values()[n % 5];
                Mask mask = SdpaParityTest.mask(shared, rnd, kind, shape);
                // Mostly native; the small cases also on the Java backend.
                Backend backend = n % 4 == 0 && s[3] < 100 ? Backend.JAVA : Backend.NATIVE;
                boolean weights = n % 3 == 0;
                AttentionSpec spec = AttentionSpec.builder().causal(causal).mask(mask).backend(backend).build();
                list.add(new Variant(q, k, v, new long[] {s[0], s[1], s[3], s[6]},
                        weights ? new long[] {s[0], s[1], s[3], s[4]} : null, spec,
                        shape + " " + kind + " " + causal + " " + backend + (weights ? " +weights" : "")));
            }
        }
        return list;
    }

    @Test
    void eightThreadsGetTheSingleThreadResults() throws Exception {
        try (Arena shared = Arena.ofShared(); Arena mine = Arena.ofConfined()) {
            List<Variant> variants = variants(shared);
            List<float[][]> expected = new ArrayList<>();
            for (Variant v : variants) {
                expected.add(v.run(mine));
            }
            AtomicInteger checked = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int seed = t;
                futures.add(pool.submit(() -> {
                    SplittableRandom rnd = new SplittableRandom(seed);
                    try (Arena own = Arena.ofConfined()) { // separate outputs per thread
                        for (int call = 0; call < CALLS_PER_THREAD; call++) {
                            int i = rnd.nextInt(variants.size());
                            float[][] got = variants.get(i).run(own);
                            assertArrayEquals(expected.get(i)[0], got[0], variants.get(i).name + ": out");
                            assertArrayEquals(expected.get(i)[1], got[1], variants.get(i).name + ": weights");
                            checked.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(); // rethrows a thread's failure
            }
            pool.shutdown();
            assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
            assertEquals(THREADS * CALLS_PER_THREAD, checked.get());
            System.out.println("ConcurrencyTest: " + THREADS + " threads x " + CALLS_PER_THREAD + " calls = "
                    + checked.get() + " results checked bit for bit against the single-thread run ("
                    + variants.size() + " variants)");
        }
    }

    @Test
    void closingASharedArenaDuringAJavaComputationStopsItCleanly() throws Exception {
        Arena shared = Arena.ofShared();
        SplittableRandom rnd = new SplittableRandom(6);
        Tensor q = Reference.random(shared, rnd, 1, 2, 300, 32);
        Tensor out = Tensor.allocate(shared, 1, 2, 300, 32);
        AttentionSpec spec = AttentionSpec.builder().backend(Backend.JAVA).build();
        CountDownLatch started = new CountDownLatch(1);
        CompletableFuture<Throwable> worker = CompletableFuture.supplyAsync(() -> {
            try {
                while (true) {
                    started.countDown();
                    Attention.scaledDotProduct(q, q, q, out, spec);
                }
            } catch (Throwable e) {
                return e;
            }
        });
        started.await();
        Thread.sleep(20);
        shared.close(); // plain Java accesses: the close wins, the accesses fail from then on
        Throwable e = worker.get(60, TimeUnit.SECONDS);
        assertTrue(e instanceof IllegalStateException && e.getMessage().contains("closed"), String.valueOf(e));
    }
}
