package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Attention#prepare}: its runs compute what the plain call computes
 * on the tensors' current contents, on every backend and ISA level; it
 * refuses what the plain call refuses, with the same message; and a run
 * refuses memory that became unusable since, writing nothing.
 */
class PreparedAttentionTest {
    private static final int B = 2, H = 4, HKV = 2, LQ = 7, LK = 9, DK = 5, DV = 3, BUCKETS = 8;

    @AfterAll
    static void restore() {
        Target.restore();
        Panattn.setDefaultBackend(null);
    }

    static Stream<Target> targets() {
        return Target.all().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void runsMatchThePlainCallOnTheCurrentContents(Target target) {
        Backend backend = target.select();
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(13);
            Tensor q = Reference.random(arena, rnd, B, H, LQ, DK);
            Tensor k = Reference.random(arena, rnd, B, HKV, LK, DK);
            Tensor v = Reference.random(arena, rnd, B, LK, HKV, DV).permute(0, 2, 1, 3); // (B, L, H, D) storage
            Mask mask = Mask.additive(Reference.random(arena, rnd, 1, H, LQ, LK));
            Mask padding = Mask.keyPadding(arena, new long[] {LK, 4}, LK);
            Tensor table = Reference.random(arena, rnd, BUCKETS, H);
            // Every optional input, so the run checks each of their segments.
            Function<Tensor, AttentionSpec> spec = w -> AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT)
                    .mask(mask).keyPadding(padding).alibi(Alibi.slopes(arena, H))
                    .relativeBias(new RelativePositionBias(table, false, 16)).weights(w).backend(backend).build();
            Tensor out = Tensor.allocate(arena, B, H, LQ, DV), weights = Tensor.allocate(arena, B, H, LQ, LK);
            PreparedAttention call = Attention.prepare(q, k, v, out, spec.apply(weights));
            assertEquals(backend, call.backend());
            for (int round = 0; round < 3; round++) {
                call.run();
                Tensor plainOut = Tensor.allocate(arena, B, H, LQ, DV);
                Tensor plainWeights = Tensor.allocate(arena, B, H, LQ, LK);
                Attention.scaledDotProduct(q, k, v, plainOut, spec.apply(plainWeights));
                Target.assertSameRun(backend, plainOut.toArray(), out.toArray(), target + " round " + round + ": output");
                Target.assertSameRun(backend, plainWeights.toArray(), weights.toArray(), target + " round " + round
                        + ": weights");
                Reference.Result ref = Reference.sdpa(q, k, v, mask, padding, Causal.BOTTOM_RIGHT, 0,
                        1 / Math.sqrt(DK), new Reference.Pos(0, Reference.toDouble(Alibi.slopes(H)), rel(table), false, 16));
                double err = Reference.relativeError(out.toArray(), ref.out());
                assertTrue(err < 1e-5, target + " round " + round + ": relative error " + err);
                q.copyFrom(Reference.random(arena, rnd, B, H, LQ, DK).toArray()); // new contents, same tensors
                v.copyFrom(Reference.random(arena, rnd, B, HKV, LK, DV).toArray());
            }
        }
    }

    /** Rank 3 and the default spec: one head, scale 1/√Dk. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void rankThreeRunsLikeThePlainCall(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(5);
            Tensor q = Reference.random(arena, rnd, 3, 6, 4), k = Reference.random(arena, rnd, 3, 5, 4);
            Tensor v = Reference.random(arena, rnd, 3, 5, 2);
            Tensor out = Tensor.allocate(arena, 3, 6, 2), plain = Tensor.allocate(arena, 3, 6, 2);
            AttentionSpec spec = Refusals.on(backend);
            Attention.prepare(q, k, v, out, spec).run();
            Attention.scaledDotProduct(q, k, v, plain, spec);
            Target.assertSameRun(backend, plain.toArray(), out.toArray(), backend + ": prepared vs called");
        }
    }

    /** Each refusal of the plain call, made by prepare with the same exception and message. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void prepareRefusesWhatThePlainCallRefuses(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(3);
            Tensor q = Reference.random(arena, rnd, 1, 2, 4, 3), k = Reference.random(arena, rnd, 1, 2, 5, 3);
            Tensor v = Reference.random(arena, rnd, 1, 2, 5, 3), out = Refusals.sentinel(arena, 1, 2, 4, 3);
            AttentionSpec spec = Refusals.on(backend);
            MemorySegment both = arena.allocate(4L * (40 + 24), 4); // weights overlapping out
            record Bad(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
            }
            List<Bad> bad = new ArrayList<>(List.of(
                    new Bad(null, k, v, out, spec),
                    new Bad(q, Tensor.allocate(arena, 1, 2, 5, 4), v, out, spec),
                    new Bad(q, k, Tensor.allocate(arena, 1, 2, 4, 3), out, spec),
                    new Bad(q, k, v, Tensor.allocate(arena, 1, 2, 4, 4), spec),
                    new Bad(q, Tensor.allocate(arena, 1, 3, 5, 3), Tensor.allocate(arena, 1, 3, 5, 3), out, spec),
                    new Bad(Tensor.allocate(arena, 1, 2, 3, 4).permute(0, 1, 3, 2), k, v, out, spec),
                    new Bad(q, k, v, Tensor.wrap(out.segment().asReadOnly(), 1, 2, 4, 3), spec),
                    new Bad(q, k, v, Tensor.wrap(out.segment(), new long[] {1, 2, 4, 3}, new long[] {24, 0, 3, 1}),
                            spec),
                    new Bad(q, k, v, q, spec),
                    new Bad(q, k, v, out, spec.toBuilder().weights(Tensor.allocate(arena, 1, 2, 4, 4)).build()),
                    new Bad(q, k, v, out, spec.toBuilder().mask(Mask.keep(arena, new boolean[16], 4, 4)).build()),
                    new Bad(q, k, v, Tensor.wrap(both, 1, 2, 4, 3),
                            spec.toBuilder().weights(Tensor.wrap(both.asSlice(4L * 20), 1, 2, 4, 5)).build()),
                    new Bad(q, Refusals.closed(1, 2, 5, 3), v, out, spec),
                    new Bad(q, k, v, out, null)));
            if (backend == Backend.NATIVE) {
                bad.add(new Bad(q, Tensor.wrap(MemorySegment.ofArray(new float[30]), 1, 2, 5, 3), v, out, spec));
            }
            for (Bad c : bad) {
                RuntimeException plain = assertThrows(RuntimeException.class,
                        () -> Attention.scaledDotProduct(c.q, c.k, c.v, c.out, c.spec));
                RuntimeException prepared = assertThrows(RuntimeException.class,
                        () -> Attention.prepare(c.q, c.k, c.v, c.out, c.spec));
                assertEquals(plain.getClass(), prepared.getClass(), plain.getMessage());
                assertEquals(plain.getMessage(), prepared.getMessage());
            }
            Refusals.assertUntouched(out, "out");
        }
    }

    /** A run checks that every tensor's arena is still open, naming the first that is not; it writes nothing. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void aRunRefusesAClosedArenaByName(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(7);
            Tensor q = Reference.random(arena, rnd, 1, 2, 4, 3), v = Reference.random(arena, rnd, 1, 2, 5, 3);
            Tensor out = Refusals.sentinel(arena, 1, 2, 4, 3);
            Arena keys = Arena.ofConfined();
            Tensor k = Reference.random(keys, rnd, 1, 2, 5, 3);
            Arena masks = Arena.ofConfined();
            Mask padding = Mask.keyPadding(masks, new long[] {5}, 5);
            PreparedAttention call = Attention.prepare(q, k, v, out, Refusals.on(backend).toBuilder()
                    .keyPadding(padding).build());
            masks.close();
            Refusals.expect(IllegalStateException.class, "keyPadding: its arena is closed", call::run);
            keys.close();
            Refusals.expect(IllegalStateException.class, "k: its arena is closed", call::run);
            Refusals.assertUntouched(out, "out");
        }
    }

    /** A confined arena's tensors are refused on another thread, as by the plain call; a shared arena's run there. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void aRunOnAnotherThreadNeedsSharedMemory(Backend backend) throws Exception {
        SplittableRandom rnd = new SplittableRandom(9);
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            for (Arena arena : new Arena[] {confined, shared}) {
                Tensor q = Reference.random(arena, rnd, 1, 1, 3, 2), k = Reference.random(arena, rnd, 1, 1, 3, 2);
                Tensor out = Tensor.allocate(arena, 1, 1, 3, 2), plain = Tensor.allocate(arena, 1, 1, 3, 2);
                PreparedAttention call = Attention.prepare(q, k, k, out, Refusals.on(backend));
                if (arena == confined) {
                    Refusals.expectOnOtherThread(IllegalStateException.class, "q: its arena is confined to another "
                            + "thread", call::run);
                    continue;
                }
                Thread other = Thread.ofPlatform().start(call::run);
                other.join();
                Attention.scaledDotProduct(q, k, k, plain, Refusals.on(backend));
                Target.assertSameRun(backend, plain.toArray(), out.toArray(), backend + ": prepared vs called");
            }
        }
    }

    /** The default backend is read once, when the call is prepared, as a plain call reads it when it starts. */
    @Test
    void theBackendIsResolvedWhenPrepared() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Reference.random(arena, new SplittableRandom(2), 1, 1, 2, 2);
            Tensor out = Tensor.allocate(arena, 1, 1, 2, 2);
            Panattn.setDefaultBackend(Backend.JAVA);
            PreparedAttention call = Attention.prepare(t, t, t, out, AttentionSpec.DEFAULT);
            Panattn.setDefaultBackend(Backend.JAVA_VECTOR);
            call.run();
            assertEquals(Backend.JAVA, call.backend());
        } finally {
            Panattn.setDefaultBackend(null);
        }
    }

    /** The T5 table (buckets, H) as the reference takes it, [h][bucket]. */
    private static double[][] rel(Tensor table) {
        double[][] rel = new double[H][BUCKETS];
        for (int bucket = 0; bucket < BUCKETS; bucket++) {
            for (int h = 0; h < H; h++) {
                rel[h][bucket] = table.get(bucket, h);
            }
        }
        return rel;
    }
}
