package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Tensor;
import org.panattn.layers.EncoderDecoderAttention;
import org.panattn.layers.LayerOutput;

/** EncoderDecoderAttention against the seq2seq tutorial's Attn module run by PyTorch (scripts/make-torch-fixtures.py). */
class EncoderDecoderPyTorchTest {
    private static Npy.Array npy(String name) throws IOException {
        return Npy.read(Path.of("src/test/resources/attn", name + ".npy"));
    }

    private static void assertClose(float[] got, Npy.Array want, String what) {
        double err = 0, scale = 1e-30;
        for (int i = 0; i < got.length; i++) {
            err = Math.max(err, Math.abs(got[i] - want.floats()[i]));
            scale = Math.max(scale, Math.abs(want.floats()[i]));
        }
        assertTrue(got.length == want.floats().length && err / scale < 1e-5, what + ": relative error " + err / scale);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void matchesTheTutorialsAttnModule(Backend backend) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            EncoderDecoderAttention attn = new EncoderDecoderAttention(arena, 32, 32, 32, 64, 64)
                    .load(npy("attn_weight").floats(), npy("attn_bias").floats(), npy("attn_combine_weight").floats(),
                            npy("attn_combine_bias").floats());
            Tensor q = Tensor.of(arena, npy("Q").floats(), 1, 1, 32);
            Tensor k = Tensor.of(arena, npy("K").floats(), 1, 1, 32);
            Tensor v = Tensor.of(arena, npy("V").floats(), 1, 32, 64);
            LayerOutput r = attn.forward(arena, q, k, v, AttentionSpec.builder().backend(backend).build());
            assertArrayEquals(new long[] {1, 1, 64}, r.output().shape());
            assertArrayEquals(new long[] {1, 1, 32}, r.weights().shape());
            assertClose(r.output().toArray(), npy("output"), "output");
            assertClose(r.weights().toArray(), npy("weights"), "weights");
        }
    }
}
