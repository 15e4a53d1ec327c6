package org.panattn;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Attention on Java arrays: the native critical downcall and the Java backends against the reference. */
class HeapArraysTest {

    @ParameterizedTest
    @EnumSource(Backend.class)
    void arraysGiveTheReferenceResult(Backend backend) {
        Attention.Dims[] shapes = {Attention.Dims.of(1, 1, 16, 64), new Attention.Dims(2, 4, 2, 7, 129, 5, 3),
            new Attention.Dims(1, 8, 2, 1, 3000, 32, 32)};
        for (Attention.Dims d : shapes) {
            for (Causal causal : Causal.values()) {
                try (Arena arena = Arena.ofConfined()) {
                    SplittableRandom rnd = new SplittableRandom(d.hashCode() + causal.ordinal());
                    Tensor q = Reference.random(arena, rnd, d.b(), d.h(), d.lq(), d.dk());
                    Tensor k = Reference.random(arena, rnd, d.b(), d.hkv(), d.lk(), d.dk());
                    Tensor v = Reference.random(arena, rnd, d.b(), d.hkv(), d.lk(), d.dv());
                    Reference.Result ref = Reference.sdpa(q, k, v, null, causal, 1 / Math.sqrt(d.dk()));
                    float[] out = new float[d.b() * d.h() * d.lq() * d.dv()];
                    Attention.scaledDotProduct(q.toArray(), k.toArray(), v.toArray(), out, d,
                            AttentionSpec.builder().causal(causal).backend(backend).build());
                    double err = Reference.relativeError(out, ref.out());
                    assertTrue(err < 1e-5, backend + " " + d + " " + causal + ": " + err);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void wrongArrayLengthsAndTensorOnlyOptionsAreRefused(Backend backend) {
        Attention.Dims d = Attention.Dims.of(1, 2, 3, 4);
        float[] ok = new float[24];
        AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Attention.scaledDotProduct(ok, new float[23], ok, ok, d, spec)).getMessage()
                .contains("k: expected 24 floats"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Attention.scaledDotProduct(ok, ok, ok, ok, d, spec.toBuilder().softcap(3f).build())).getMessage()
                .contains("use tensors"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Attention.Dims(1, 3, 2, 1, 1, 1, 1))
                .getMessage().contains("must divide"));
    }
}
