package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.panattn.layers.MultiHeadAttention;

/**
 * Closing a shared arena while a native call reads or writes its memory is
 * refused, for every tensor of every native entry point: each case puts one
 * argument's memory in an arena of its own, another thread calls in a loop,
 * and closing that arena during a call throws instead of freeing the memory
 * under the library. Sizes are chosen so the native call that touches the
 * argument takes most of the loop's time.
 */
class ArenaCloseDuringNativeCallTest {
    /** The option tensors every attention case passes, each one a case of its own. */
    private static final String[] OPTIONS = {"mask", "keyPadding", "weights", "alibi", "relativeBias"};

    /** Where the tensors of one case live: the one under test in its own arena, the rest together. */
    private record Arenas(String target, Arena targetArena, Arena rest, SplittableRandom rnd) {
        Arena of(String name) {
            return name.equals(target) ? targetArena : rest;
        }

        Tensor random(String name, long... shape) {
            return Reference.random(of(name), rnd, shape);
        }

        Tensor zeros(String name, long... shape) {
            return Tensor.allocate(of(name), shape);
        }
    }

    /** Builds a case's tensors in the given arenas and returns the call to repeat. */
    private interface Setup {
        Runnable prepare(Arenas arenas);
    }

    /** Every option tensor present: a keep-mask, key padding, weights, ALiBi and a T5 table. */
    private static AttentionSpec spec(Arenas a, long b, long h, long lq, long lk) {
        boolean[] keep = new boolean[Math.toIntExact(lq * lk)];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = a.rnd().nextInt(4) != 0;
        }
        long[] lengths = new long[(int) b];
        java.util.Arrays.fill(lengths, lk - 3);
        return AttentionSpec.builder().backend(Backend.NATIVE).causal(Causal.BOTTOM_RIGHT)
                .mask(Mask.keep(a.of("mask"), keep, lq, lk))
                .keyPadding(Mask.keyPadding(a.of("keyPadding"), lengths, lk))
                .weights(a.zeros("weights", b, h, lq, lk))
                .alibi(Alibi.slopes(a.of("alibi"), (int) h))
                .relativeBias(new RelativePositionBias(a.random("relativeBias", 32, h), true, 128))
                .build();
    }

    private static Setup sdpa() {
        return a -> {
            Tensor q = a.random("q", 1, 4, 1024, 64), k = a.random("k", 1, 4, 1024, 64);
            Tensor v = a.random("v", 1, 4, 1024, 64), out = a.zeros("out", 1, 4, 1024, 64);
            AttentionSpec spec = spec(a, 1, 4, 1024, 1024);
            return () -> Attention.scaledDotProduct(q, k, v, out, spec);
        };
    }

    /** The same call prepared once: its runs pass every segment to the downcall as the plain call does. */
    private static Setup preparedSdpa() {
        return a -> {
            Tensor q = a.random("q", 1, 4, 1024, 64), k = a.random("k", 1, 4, 1024, 64);
            Tensor v = a.random("v", 1, 4, 1024, 64), out = a.zeros("out", 1, 4, 1024, 64);
            return Attention.prepare(q, k, v, out, spec(a, 1, 4, 1024, 1024))::run;
        };
    }

    /** Additive attention; the projections' sizes decide which part of the call dominates. */
    private static Setup additive(long lq, long dq, long lk, long dk) {
        return a -> {
            long attn = 64;
            Tensor q = a.random("q", 1, 2, lq, dq), k = a.random("k", 1, 2, lk, dk);
            Tensor v = a.random("v", 1, 2, lk, 32), out = a.zeros("out", 1, 2, lq, 32);
            ScoreRule rule = ScoreRule.additive(a.random("wq", attn, dq), a.random("wk", attn, dk),
                    a.random("bias", attn), a.random("vector", attn));
            AttentionSpec spec = spec(a, 1, 2, lq, lk);
            return () -> Attention.attend(rule, q, k, v, out, spec);
        };
    }

    private static Setup concat() {
        return a -> {
            Tensor q = a.random("q", 1, 4, 1024, 64), k = a.random("k", 1, 4, 1024, 64);
            Tensor w = a.random("w", 1024, 128), bias = a.random("bias", 1024);
            Tensor v = a.random("v", 1, 4, 1024, 32), out = a.zeros("out", 1, 4, 1024, 32);
            AttentionSpec spec = spec(a, 1, 4, 1024, 1024);
            return () -> Attention.concatLinear(q, k, v, w, bias, out, spec);
        };
    }

    /** A multi-head layer: its projections (pa_linear) read x and the layer's weights. */
    private static Setup multiHead() {
        return a -> {
            MultiHeadAttention mha = MultiHeadAttention.builder(1024, 8).batchFirst(true).build(a.of("weights"))
                    .initRandom(3);
            Tensor x = a.random("x", 1, 256, 1024);
            AttentionSpec spec = AttentionSpec.builder().backend(Backend.NATIVE).build();
            return () -> {
                try (Arena outputs = Arena.ofConfined()) {
                    mha.forward(outputs, x, spec, MultiHeadAttention.NeedWeights.NONE);
                }
            };
        };
    }

    private static Setup rope() {
        return a -> {
            Tensor x = a.random("x", 1, 16, 4096, 128);
            return () -> Rope.apply(x, 5, 10000f, Rope.Layout.HALF, Backend.NATIVE);
        };
    }

    /** One argument of one entry point. */
    private record Case(String label, String target, Setup setup) {
        @Override
        public String toString() {
            return label;
        }
    }

    static List<Case> cases() {
        List<Case> list = new ArrayList<>();
        for (String t : withOptions("q", "k", "v", "out")) {
            list.add(new Case("scaledDotProduct " + t, t, sdpa()));
            list.add(new Case("prepared scaledDotProduct " + t, t, preparedSdpa()));
        }
        // q and wq are read by the query projection, k, wk and bias by the key projection.
        for (String t : new String[] {"q", "wq"}) {
            list.add(new Case("additive " + t, t, additive(1024, 2048, 16, 16)));
        }
        for (String t : new String[] {"k", "wk", "bias"}) {
            list.add(new Case("additive " + t, t, additive(16, 16, 1024, 2048)));
        }
        for (String t : withOptions("vector", "v", "out")) {
            list.add(new Case("additive " + t, t, additive(512, 32, 512, 32)));
        }
        for (String t : withOptions("q", "k", "w", "bias", "v", "out")) {
            list.add(new Case("concatLinear " + t, t, concat()));
        }
        list.add(new Case("multiHead x", "x", multiHead()));
        list.add(new Case("multiHead weights", "weights", multiHead()));
        list.add(new Case("rope x", "x", rope()));
        return list;
    }

    /** The given names followed by the option tensors'. */
    private static List<String> withOptions(String... names) {
        List<String> all = new ArrayList<>(List.of(names));
        all.addAll(List.of(OPTIONS));
        return all;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void closingTheArgumentsArenaIsRefused(Case c) throws Exception {
        // A close that lands between two native calls goes through (the worker then fails
        // cleanly); a fresh trial follows. Refusals, not timings, are what is checked.
        for (int trial = 0; trial < 5; trial++) {
            Trial t = run(c.target, c.setup);
            if (t.refused > 0) {
                assertTrue(t.workerEnded == null, "the worker finished its calls normally: " + t.workerEnded);
                assertTrue(t.afterClose instanceof IllegalStateException
                                && t.afterClose.getMessage().contains("closed"),
                        "a call after the close fails cleanly: " + t.afterClose);
                return;
            }
            assertTrue(t.workerEnded == null || t.workerEnded instanceof IllegalStateException,
                    "a call after the close fails cleanly: " + t.workerEnded);
        }
        fail(c + ": no close was refused during the native calls");
    }

    @Test
    void anArenaNoArgumentLivesInClosesAtOnce() throws Exception {
        Setup unrelated = a -> {
            a.zeros("unrelated", 16); // the only tensor in the arena under test
            return sdpa().prepare(a);
        };
        Trial t = run("unrelated", unrelated);
        assertEquals(0, t.refused, "an arena the call does not use is not held");
    }

    private record Trial(int refused, Throwable workerEnded, Throwable afterClose) {
    }

    /** One worker calls in a loop while this thread tries to close the target's arena. */
    private static Trial run(String target, Setup setup) throws Exception {
        Arena rest = Arena.ofShared();
        Arena own = Arena.ofShared();
        Arenas arenas = new Arenas(target, own, rest, new SplittableRandom(target.hashCode()));
        Runnable call = setup.prepare(arenas);
        call.run(); // warm: later calls start within microseconds
        CountDownLatch started = new CountDownLatch(1);
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Throwable> worker = CompletableFuture.supplyAsync(() -> {
            try {
                while (!stop.get()) {
                    started.countDown();
                    call.run();
                }
                return null;
            } catch (Throwable e) {
                return e;
            }
        });
        started.await();
        int refused = 0;
        boolean closed = false;
        for (int attempt = 0; attempt < 20 && refused == 0 && !closed; attempt++) {
            Thread.sleep(3);
            try {
                own.close();
                closed = true;
            } catch (IllegalStateException e) {
                assertTrue(e.getMessage().contains("acquired"), e.getMessage());
                refused++;
            }
        }
        stop.set(true);
        Throwable ended = worker.get(60, TimeUnit.SECONDS);
        if (!closed) {
            own.close(); // the worker has stopped: nothing holds it now
        }
        Throwable afterClose = null;
        try {
            call.run();
        } catch (Throwable e) {
            afterClose = e;
        }
        rest.close();
        return new Trial(refused, ended, afterClose);
    }
}
