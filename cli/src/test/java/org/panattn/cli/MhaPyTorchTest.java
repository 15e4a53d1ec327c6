package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Mask;
import org.panattn.Tensor;
import org.panattn.layers.LayerOutput;
import org.panattn.layers.MultiHeadAttention;

/**
 * MultiHeadAttention against PyTorch's nn.MultiheadAttention, given the
 * same weights: fixtures from scripts/make-mha-fixture.py, through the API
 * and through {@code run --variant mha}.
 */
class MhaPyTorchTest {
    private static final Path ROOT = Path.of("src/test/resources/mha");

    @TempDir
    Path tmp;

    private static Npy.Array npy(String fixture, String name) throws IOException {
        return Npy.read(ROOT.resolve(fixture).resolve(name + ".npy"));
    }

    private static void assertClose(float[] got, Npy.Array want, String what) {
        double err = 0, scale = 1e-30;
        for (int i = 0; i < got.length; i++) {
            err = Math.max(err, Math.abs(got[i] - want.floats()[i]));
            scale = Math.max(scale, Math.abs(want.floats()[i]));
        }
        assertEquals(want.floats().length, got.length, what);
        assertTrue(err / scale < 1e-5, what + ": relative error vs PyTorch " + err / scale);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void selfAttentionWithCausalAndKeyPaddingMasks(Backend backend) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Npy.Array x = npy("self", "x");
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).build(arena)
                    .loadInProj(npy("self", "in_proj_weight").floats(), npy("self", "in_proj_bias").floats())
                    .loadOutProj(npy("self", "out_proj_weight").floats(), npy("self", "out_proj_bias").floats());
            Tensor input = Tensor.of(arena, x.floats(), x.shape());
            AttentionSpec spec = AttentionSpec.builder().backend(backend)
                    .mask(Mask.keep(arena, npy("self", "keep_attn_mask").booleans(), 5, 5))
                    .keyPadding(Mask.keep(arena, npy("self", "keep_key_padding_mask").booleans(), 2, 1, 1, 5))
                    .build();
            LayerOutput avg = mha.forward(arena, input, spec, MultiHeadAttention.NeedWeights.AVERAGED);
            assertClose(avg.output().toArray(), npy("self", "out"), "output");
            assertClose(avg.weights().toArray(), npy("self", "weights_avg"), "averaged weights");
            LayerOutput perHead = mha.forward(arena, input, spec, MultiHeadAttention.NeedWeights.PER_HEAD);
            assertClose(perHead.weights().toArray(), npy("self", "weights_per_head"), "per-head weights");
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void crossAttentionSeqFirstWithKdimVdimAndFloatMask(Backend backend) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 2).kdim(12).vdim(10).batchFirst(false).build(arena)
                    .loadQkv(npy("cross", "q_proj_weight").floats(), npy("cross", "k_proj_weight").floats(),
                            npy("cross", "v_proj_weight").floats(), npy("cross", "in_proj_bias").floats())
                    .loadOutProj(npy("cross", "out_proj_weight").floats(), npy("cross", "out_proj_bias").floats());
            Tensor q = tensor(arena, npy("cross", "query"));
            Tensor k = tensor(arena, npy("cross", "key"));
            Tensor v = tensor(arena, npy("cross", "value"));
            AttentionSpec spec = AttentionSpec.builder().backend(backend)
                    .mask(Mask.additive(tensor(arena, npy("cross", "attn_mask")))).build();
            LayerOutput r = mha.forward(arena, q, k, v, spec, MultiHeadAttention.NeedWeights.AVERAGED);
            assertArrayEquals(new long[] {3, 2, 16}, r.output().shape());
            assertClose(r.output().toArray(), npy("cross", "out"), "output");
            assertClose(r.weights().toArray(), npy("cross", "weights_avg"), "averaged weights");
        }
    }

    private static String cliName(Backend backend) {
        return backend == Backend.JAVA_VECTOR ? "vector" : backend.name().toLowerCase();
    }

    private static Tensor tensor(Arena arena, Npy.Array a) {
        return Tensor.of(arena, a.floats(), a.shape());
    }

    private String fixture(String fixture, String name) {
        return ROOT.resolve(fixture).resolve(name + ".npy").toString();
    }

    /** --kv-heads, --causal and --window reach the layer: the command line equals the API. */
    @org.junit.jupiter.api.Test
    void commandLineGqaCausalWindowEqualsTheApi() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).kvHeads(2).build(arena).initRandom(21);
            Npy.Array x = npy("self", "x");
            Tensor input = Tensor.of(arena, x.floats(), x.shape());
            float[] expected = mha.forward(arena, input, AttentionSpec.builder()
                    .causal(org.panattn.Causal.TOP_LEFT).window(2).build(), MultiHeadAttention.NeedWeights.NONE)
                    .output().toArray();
            Path inW = tmp.resolve("in.npy"), inB = tmp.resolve("inb.npy"), outW = tmp.resolve("ow.npy");
            float[] packed = new float[32 * 16];
            System.arraycopy(mha.qProjWeight().toArray(), 0, packed, 0, 256);
            System.arraycopy(mha.kProjWeight().toArray(), 0, packed, 256, 128);
            System.arraycopy(mha.vProjWeight().toArray(), 0, packed, 384, 128);
            Npy.write(inW, packed, 32, 16);
            Npy.write(inB, mha.inProjBias().toArray(), 32);
            Npy.write(outW, mha.outProjWeight().toArray(), 16, 16);
            Path outB = tmp.resolve("ob.npy");
            Npy.write(outB, mha.outProjBias().toArray(), 16);
            Path out = tmp.resolve("o.npy");
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = Main.run(new String[] {"run", "--variant", "mha", "--query", fixture("self", "x"), "--heads", "4",
                "--kv-heads", "2", "--causal", "--window", "2", "--in-proj-weight", inW.toString(),
                "--in-proj-bias", inB.toString(), "--out-proj-weight", outW.toString(), "--out-proj-bias", outB.toString(),
                "--out", out.toString()},
                    new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
            assertEquals(0, code, err.toString());
            float[] got = Npy.read(out).floats();
            for (int i = 0; i < got.length; i++) {
                assertEquals(expected[i], got[i], 1e-6f);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void commandLineMatchesPyTorch(Backend backend) throws IOException {
        Path out = tmp.resolve("out.npy");
        Path w = tmp.resolve("w.npy");
        List<String> args = new ArrayList<>(List.of("run", "--variant", "mha", "--query", fixture("self", "x"),
                "--heads", "4", "--in-proj-weight", fixture("self", "in_proj_weight"),
                "--in-proj-bias", fixture("self", "in_proj_bias"), "--out-proj-weight", fixture("self", "out_proj_weight"),
                "--out-proj-bias", fixture("self", "out_proj_bias"), "--attn-mask", fixture("self", "keep_attn_mask"),
                "--key-padding-mask", fixture("self", "keep_key_padding_mask"), "--backend", cliName(backend),
                "--out", out.toString(), "--weights", w.toString(), "--average-weights"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(0, code, err.toString());
        assertClose(Npy.read(out).floats(), npy("self", "out"), "run output");
        assertClose(Npy.read(w).floats(), npy("self", "weights_avg"), "run weights");

        Path out2 = tmp.resolve("out2.npy");
        code = Main.run(new String[] {"run", "--variant", "mha", "--seq-first", "--query", fixture("cross", "query"),
            "--key", fixture("cross", "key"), "--value", fixture("cross", "value"), "--heads", "2",
            "--q-proj-weight", fixture("cross", "q_proj_weight"), "--k-proj-weight", fixture("cross", "k_proj_weight"),
            "--v-proj-weight", fixture("cross", "v_proj_weight"), "--in-proj-bias", fixture("cross", "in_proj_bias"),
            "--out-proj-weight", fixture("cross", "out_proj_weight"), "--out-proj-bias", fixture("cross", "out_proj_bias"),
            "--attn-mask", fixture("cross", "attn_mask"), "--backend", cliName(backend),
            "--out", out2.toString()}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(0, code, err.toString());
        assertClose(Npy.read(out2).floats(), npy("cross", "out"), "run cross output");
    }
}
