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
import org.panattn.layers.LayerOutput;
import org.panattn.layers.MultiHeadAttention;

/**
 * Many threads on shared inputs: results identical to a single-thread run;
 * a shared arena closed under a Java computation stops it cleanly (native
 * calls: {@link ArenaCloseDuringNativeCallTest}).
 */
class ConcurrencyTest {
    static final int THREADS = 8;
    static final int CALLS_PER_THREAD = 2500;

    /** One variant: a call on shared inputs that writes fresh outputs in the given arena. */
    private interface Call {
        float[][] run(Arena arena);
    }

    /**
     * A call and how its results compare: bit for bit, or (the Vector API
     * backend) to rounding, since the Vector API's exp and tanh round
     * differently before and after the JIT compiles them.
     */
    private record Variant(String name, Call call, boolean exact) {
        Variant(String name, Call call) {
            this(name, call, true);
        }

        float[][] run(Arena arena) {
            return call.run(arena);
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
                // Mostly native; the small cases also on the Java backends.
                Backend backend = n % 2 == 0 && s[3] < 100 ? (n % 4 == 0 ? Backend.JAVA : Backend.JAVA_VECTOR)
                        : Backend.NATIVE;
                boolean weights = n % 3 == 0;
                AttentionSpec spec = AttentionSpec.builder().causal(causal).mask(mask).backend(backend).build();
                list.add(new Variant(shape + " " + kind + " " + causal + " " + backend + (weights ? " +weights" : ""),
                        (Call) arena -> {
                            Tensor out = Tensor.allocate(arena, s[0], s[1], s[3], s[6]);
                            Tensor w = weights ? Tensor.allocate(arena, s[0], s[1], s[3], s[4]) : null;
                            Attention.scaledDotProduct(q, k, v, out, spec.toBuilder().weights(w).build());
                            return new float[][] {out.toArray(), w == null ? new float[0] : w.toArray()};
                        }, backend != Backend.JAVA_VECTOR));
            }
        }
        list.addAll(otherVariants(shared, rnd));
        return list;
    }

    /** The other native entry points on shared inputs and weights: score rules, projections, RoPE. */
    private static List<Variant> otherVariants(Arena shared, SplittableRandom rnd) {
        List<Variant> list = new ArrayList<>();
        AttentionSpec causal = AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).backend(Backend.NATIVE)
                .alibi(Alibi.slopes(shared, 1)).build();
        Tensor q = Reference.random(shared, rnd, 2, 9, 6), k = Reference.random(shared, rnd, 2, 13, 5);
        Tensor v = Reference.random(shared, rnd, 2, 13, 4);
        ScoreRule additive = ScoreRule.additive(Reference.random(shared, rnd, 7, 6),
                Reference.random(shared, rnd, 7, 5), Reference.random(shared, rnd, 7), Reference.random(shared, rnd, 7));
        list.add(new Variant("additive rule", arena -> {
            Tensor out = Tensor.allocate(arena, 2, 9, 4);
            Attention.attend(additive, q, k, v, out, causal);
            return new float[][] {out.toArray()};
        }));
        Tensor kPerQuery = Reference.random(shared, rnd, 2, 9, 5);
        Tensor w = Reference.random(shared, rnd, 13, 11), bias = Reference.random(shared, rnd, 13);
        list.add(new Variant("concat-linear rule", arena -> {
            Tensor out = Tensor.allocate(arena, 2, 9, 4);
            Attention.concatLinear(q, kPerQuery, v, w, bias, out, causal);
            return new float[][] {out.toArray()};
        }));
        MultiHeadAttention layer = MultiHeadAttention.builder(16, 4).kvHeads(2).batchFirst(true)
                .rope(10000f, Rope.Layout.HALF).build(shared).initRandom(7);
        Tensor x = Reference.random(shared, rnd, 2, 11, 16);
        list.add(new Variant("multi-head layer (GQA, RoPE)", arena -> {
            LayerOutput o = layer.forward(arena, x, causal.toBuilder().alibi(null).build(),
                    MultiHeadAttention.NeedWeights.AVERAGED);
            return new float[][] {o.output().toArray(), o.weights().toArray()};
        }));
        Tensor angles = Reference.random(shared, rnd, 1, 3, 7, 8);
        list.add(new Variant("RoPE in place on a copy", arena -> {
            Tensor t = Tensor.allocate(arena, 1, 3, 7, 8).copyFrom(angles.toArray());
            Rope.apply(t, 4, 10000f, Rope.Layout.INTERLEAVED, Backend.NATIVE);
            return new float[][] {t.toArray()};
        }));
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
                            for (int part = 0; part < got.length; part++) { // the output, then any weights
                                String what = variants.get(i).name() + ": part " + part;
                                if (variants.get(i).exact()) {
                                    assertArrayEquals(expected.get(i)[part], got[part], what);
                                } else {
                                    assertClose(expected.get(i)[part], got[part], 1e-5, what);
                                }
                            }
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

    /**
     * Every global setting flips while other threads compute on the default
     * backend (tensors and arrays): each call finishes with the settings it
     * started with, so it neither crashes nor fails, and its result is right
     * to rounding (backends and ISA levels round differently).
     */
    @Test
    void globalSettingsChangeWhileOthersCompute() throws Exception {
        Isa isaBefore = Panattn.isa();
        List<Isa> levels = Panattn.isaLevels();
        Backend[] defaults = {Backend.NATIVE, Backend.JAVA_VECTOR, null, Backend.JAVA};
        int[] threadCounts = {2, 64, 1, 0, 7};
        try (Arena shared = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(11);
            Tensor q = Reference.random(shared, rnd, 1, 8, 128, 64), k = Reference.random(shared, rnd, 1, 8, 128, 64);
            Tensor v = Reference.random(shared, rnd, 1, 8, 128, 64);
            Tensor dq = Reference.random(shared, rnd, 1, 8, 1, 64), dk = Reference.random(shared, rnd, 1, 2, 2048, 64);
            Tensor dv = Reference.random(shared, rnd, 1, 2, 2048, 64);
            AttentionSpec java = AttentionSpec.builder().backend(Backend.JAVA).build();
            float[] want = Attention.scaledDotProduct(q, k, v, java).toArray();
            float[] wantDecode = Attention.scaledDotProduct(dq, dk, dv, java).toArray();
            float[] qa = q.toArray(), ka = k.toArray(), va = v.toArray();
            Attention.Dims dims = Attention.Dims.of(1, 8, 128, 64);
            AtomicInteger computing = new AtomicInteger(3);
            AtomicInteger calls = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                workers.add(pool.submit(() -> {
                    try (Arena own = Arena.ofShared()) {
                        Tensor out = Tensor.allocate(own, 1, 8, 128, 64), outDecode = Tensor.allocate(own, 1, 8, 1, 64);
                        float[] outArray = new float[qa.length];
                        for (int call = 0; call < 40; call++) {
                            Attention.scaledDotProduct(q, k, v, out, AttentionSpec.DEFAULT);
                            assertClose(want, out.toArray(), 1e-4, "tensors, call " + call);
                            Attention.scaledDotProduct(dq, dk, dv, outDecode, AttentionSpec.DEFAULT);
                            assertClose(wantDecode, outDecode.toArray(), 1e-4, "decode, call " + call);
                            Attention.scaledDotProduct(qa, ka, va, outArray, dims, AttentionSpec.DEFAULT);
                            assertClose(want, outArray, 1e-4, "arrays, call " + call);
                            calls.addAndGet(3);
                        }
                    } finally {
                        computing.decrementAndGet();
                    }
                    return null;
                }));
            }
            Future<Integer> flipper = pool.submit(() -> {
                int changes = 0;
                for (int i = 0; computing.get() > 0; i++, changes++) {
                    Panattn.setThreads(threadCounts[i % threadCounts.length]);
                    Panattn.setMaxIsa(levels.get(i % levels.size()));
                    Panattn.setDefaultBackend(defaults[i % defaults.length]);
                }
                return changes;
            });
            for (Future<?> f : workers) {
                f.get(); // rethrows a worker's failure
            }
            int changes = flipper.get();
            pool.shutdown();
            assertTrue(changes > 0, "the settings never changed during the calls");
            System.out.println("ConcurrencyTest: " + calls.get() + " calls checked while the thread count, ISA cap"
                    + " and default backend changed " + changes + " times");
        } finally {
            Panattn.setThreads(0);
            Panattn.setMaxIsa(isaBefore);
            Panattn.setDefaultBackend(null);
        }
    }

    private static void assertClose(float[] want, float[] got, double tolerance, String what) {
        double error = Reference.relativeError(got, Reference.toDouble(want));
        assertTrue(error <= tolerance, what + ": relative error " + error);
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
