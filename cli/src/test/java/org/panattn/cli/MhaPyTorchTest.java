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
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Isa;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.Tensor;
import org.panattn.layers.LayerOutput;
import org.panattn.layers.MultiHeadAttention;

/**
 * MultiHeadAttention against PyTorch's nn.MultiheadAttention, given the
 * same weights: fixtures from scripts/make-torch-fixtures.py (self and
 * cross attention, add_bias_kv, add_zero_attn, both, and the packed
 * projection), through the API on every backend and native ISA level, and
 * through {@code run --variant mha}.
 */
class MhaPyTorchTest {
    private static final Path ROOT = Path.of("src/test/resources/mha");

    @TempDir
    Path tmp;

    /** Java, Vector API, and native at each ISA level of this machine. */
    static Stream<Arguments> targets() {
        Stream<Arguments> java = Stream.of(Arguments.of(Backend.JAVA, null), Arguments.of(Backend.JAVA_VECTOR, null));
        return Stream.concat(java, Panattn.isaLevels().stream().map(isa -> Arguments.of(Backend.NATIVE, isa)));
    }

    /** Caps the native ISA level for a native target; returns the backend. */
    private static Backend select(Backend backend, Isa isa) {
        if (isa != null) {
            Panattn.setMaxIsa(isa);
        }
        return backend;
    }

    @AfterEach
    void restoreIsa() {
        Panattn.setMaxIsa(Panattn.supportedIsa());
    }

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
    @MethodSource("targets")
    void selfAttentionWithCausalAndKeyPaddingMasks(Backend backend, Isa isa) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Npy.Array x = npy("self", "x");
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).build(arena)
                    .loadInProj(npy("self", "in_proj_weight").floats(), npy("self", "in_proj_bias").floats())
                    .loadOutProj(npy("self", "out_proj_weight").floats(), npy("self", "out_proj_bias").floats());
            Tensor input = Tensor.of(arena, x.floats(), x.shape());
            AttentionSpec spec = AttentionSpec.builder().backend(select(backend, isa))
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
    @MethodSource("targets")
    void crossAttentionSeqFirstWithKdimVdimAndFloatMask(Backend backend, Isa isa) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 2).kdim(12).vdim(10).batchFirst(false).build(arena)
                    .loadQkv(npy("cross", "q_proj_weight").floats(), npy("cross", "k_proj_weight").floats(),
                            npy("cross", "v_proj_weight").floats(), npy("cross", "in_proj_bias").floats())
                    .loadOutProj(npy("cross", "out_proj_weight").floats(), npy("cross", "out_proj_bias").floats());
            Tensor q = tensor(arena, npy("cross", "query"));
            Tensor k = tensor(arena, npy("cross", "key"));
            Tensor v = tensor(arena, npy("cross", "value"));
            AttentionSpec spec = AttentionSpec.builder().backend(select(backend, isa))
                    .mask(Mask.additive(tensor(arena, npy("cross", "attn_mask")))).build();
            LayerOutput r = mha.forward(arena, q, k, v, spec, MultiHeadAttention.NeedWeights.AVERAGED);
            assertArrayEquals(new long[] {3, 2, 16}, r.output().shape());
            assertClose(r.output().toArray(), npy("cross", "out"), "output");
            assertClose(r.weights().toArray(), npy("cross", "weights_avg"), "averaged weights");
        }
    }

    /** add_bias_kv with causal and windowed masks and key padding; the packed projection too. */
    @ParameterizedTest
    @MethodSource("targets")
    void biasKvMatchesPyTorch(Backend backend, Isa isa) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            String f = "bias_kv";
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).addBiasKv(true).build(arena)
                    .loadInProj(npy(f, "in_proj_weight").floats(), npy(f, "in_proj_bias").floats())
                    .loadOutProj(npy(f, "out_proj_weight").floats(), npy(f, "out_proj_bias").floats())
                    .loadBiasKv(npy(f, "bias_k").floats(), npy(f, "bias_v").floats());
            Tensor x = tensor(arena, npy(f, "x"));
            AttentionSpec spec = AttentionSpec.builder().backend(select(backend, isa)).causal(Causal.TOP_LEFT)
                    .keyPadding(Mask.keep(arena, npy(f, "keep_key_padding_mask").booleans(), 2, 1, 1, 6)).build();
            LayerOutput avg = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.AVERAGED);
            assertArrayEquals(new long[] {2, 6, 7}, avg.weights().shape(), "one more key: bias_k");
            assertClose(avg.output().toArray(), npy(f, "out"), "output");
            assertClose(avg.weights().toArray(), npy(f, "weights_avg"), "averaged weights");
            assertClose(mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.PER_HEAD).weights().toArray(),
                    npy(f, "weights_per_head"), "per-head weights");
            assertClose(mha.forward(arena, x, spec.toBuilder().window(3).build(), MultiHeadAttention.NeedWeights.NONE)
                    .output().toArray(), npy(f, "out_window3"), "window 3");
            LayerOutput packed = mha.forwardPacked(arena, tensor(arena, npy(f, "qkv")), spec,
                    MultiHeadAttention.NeedWeights.AVERAGED);
            assertClose(packed.output().toArray(), npy(f, "out"), "forwardPacked output");
            assertClose(packed.weights().toArray(), npy(f, "weights_avg"), "forwardPacked weights");
        }
    }

    /** add_zero_attn in seq-first cross-attention with kdim/vdim: a float (B*H, Lq, Lk) mask, bottom-right, padding. */
    @ParameterizedTest
    @MethodSource("targets")
    void zeroAttnMatchesPyTorch(Backend backend, Isa isa) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            String f = "zero_attn";
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 2).kdim(12).vdim(10).batchFirst(false)
                    .addZeroAttn(true).build(arena)
                    .loadQkv(npy(f, "q_proj_weight").floats(), npy(f, "k_proj_weight").floats(),
                            npy(f, "v_proj_weight").floats(), npy(f, "in_proj_bias").floats())
                    .loadOutProj(npy(f, "out_proj_weight").floats(), npy(f, "out_proj_bias").floats());
            AttentionSpec spec = AttentionSpec.builder().backend(select(backend, isa)).causal(Causal.BOTTOM_RIGHT)
                    .mask(Mask.additive(Tensor.of(arena, npy(f, "attn_mask").floats(), 2, 2, 3, 7)))
                    .keyPadding(Mask.keep(arena, npy(f, "keep_key_padding_mask").booleans(), 2, 1, 1, 7)).build();
            LayerOutput r = mha.forward(arena, tensor(arena, npy(f, "query")), tensor(arena, npy(f, "key")),
                    tensor(arena, npy(f, "value")), spec, MultiHeadAttention.NeedWeights.AVERAGED);
            assertArrayEquals(new long[] {2, 3, 8}, r.weights().shape(), "one more key: the zero key");
            assertClose(r.output().toArray(), npy(f, "out"), "output");
            assertClose(r.weights().toArray(), npy(f, "weights_avg"), "averaged weights");
        }
    }

    /** Both, without biases, seq-first: a boolean (B*H, L, L) mask, and padding that hides every key of batch 1. */
    @ParameterizedTest
    @MethodSource("targets")
    void biasKvAndZeroAttnMatchPyTorch(Backend backend, Isa isa) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            String f = "both";
            MultiHeadAttention mha = MultiHeadAttention.builder(12, 3).bias(false).batchFirst(false).addBiasKv(true)
                    .addZeroAttn(true).build(arena)
                    .loadInProj(npy(f, "in_proj_weight").floats(), null)
                    .loadOutProj(npy(f, "out_proj_weight").floats(), null)
                    .loadBiasKv(npy(f, "bias_k").floats(), npy(f, "bias_v").floats());
            AttentionSpec spec = AttentionSpec.builder().backend(select(backend, isa))
                    .mask(Mask.keep(arena, npy(f, "keep_attn_mask").booleans(), 2, 3, 5, 5))
                    .keyPadding(Mask.keep(arena, npy(f, "keep_key_padding_mask").booleans(), 2, 1, 1, 5)).build();
            LayerOutput r = mha.forward(arena, tensor(arena, npy(f, "x")), spec, MultiHeadAttention.NeedWeights.PER_HEAD);
            assertClose(r.output().toArray(), npy(f, "out"), "output");
            assertClose(r.weights().toArray(), npy(f, "weights_per_head"), "per-head weights");
            LayerOutput packed = mha.forwardPacked(arena, tensor(arena, npy(f, "qkv")), spec,
                    MultiHeadAttention.NeedWeights.PER_HEAD);
            assertClose(packed.output().toArray(), npy(f, "out"), "forwardPacked output");
            assertClose(packed.weights().toArray(), npy(f, "weights_per_head"), "forwardPacked weights");
        }
    }

    /** The packed projection of plain self-attention, with both masks. */
    @ParameterizedTest
    @MethodSource("targets")
    void packedInputMatchesPyTorch(Backend backend, Isa isa) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).build(arena)
                    .loadOutProj(npy("self", "out_proj_weight").floats(), npy("self", "out_proj_bias").floats());
            AttentionSpec spec = AttentionSpec.builder().backend(select(backend, isa))
                    .mask(Mask.keep(arena, npy("self", "keep_attn_mask").booleans(), 5, 5))
                    .keyPadding(Mask.keep(arena, npy("self", "keep_key_padding_mask").booleans(), 2, 1, 1, 5))
                    .build();
            LayerOutput r = mha.forwardPacked(arena, tensor(arena, npy("self", "qkv")), spec,
                    MultiHeadAttention.NeedWeights.AVERAGED);
            assertClose(r.output().toArray(), npy("self", "out"), "output");
            assertClose(r.weights().toArray(), npy("self", "weights_avg"), "averaged weights");
        }
    }

    /** --bias-k/--bias-v, --add-zero-attn, --causal-align, --window and --qkv reach the layer: PyTorch's results. */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void commandLineAppendedKeysAndPackedInputMatchPyTorch(Backend backend) throws IOException {
        String b = cliName(backend);
        Path out = tmp.resolve("out.npy"), w = tmp.resolve("w.npy");
        run("--variant", "mha", "--query", fixture("bias_kv", "x"), "--heads", "4",
                "--in-proj-weight", fixture("bias_kv", "in_proj_weight"), "--in-proj-bias", fixture("bias_kv", "in_proj_bias"),
                "--out-proj-weight", fixture("bias_kv", "out_proj_weight"),
                "--out-proj-bias", fixture("bias_kv", "out_proj_bias"), "--bias-k", fixture("bias_kv", "bias_k"),
                "--bias-v", fixture("bias_kv", "bias_v"), "--causal",
                "--key-padding-mask", fixture("bias_kv", "keep_key_padding_mask"), "--backend", b,
                "--out", out.toString(), "--weights", w.toString(), "--average-weights");
        assertClose(Npy.read(out).floats(), npy("bias_kv", "out"), "bias_kv output");
        assertClose(Npy.read(w).floats(), npy("bias_kv", "weights_avg"), "bias_kv weights");

        Path windowed = tmp.resolve("window.npy");
        run("--variant", "mha", "--qkv", fixture("bias_kv", "qkv"), "--heads", "4",
                "--out-proj-weight", fixture("bias_kv", "out_proj_weight"),
                "--out-proj-bias", fixture("bias_kv", "out_proj_bias"), "--bias-k", fixture("bias_kv", "bias_k"),
                "--bias-v", fixture("bias_kv", "bias_v"), "--causal", "--window", "3",
                "--key-padding-mask", fixture("bias_kv", "keep_key_padding_mask"), "--backend", b,
                "--out", windowed.toString());
        assertClose(Npy.read(windowed).floats(), npy("bias_kv", "out_window3"), "bias_kv --qkv --window 3");

        Path zero = tmp.resolve("zero.npy");
        run("--variant", "mha", "--seq-first", "--query", fixture("zero_attn", "query"), "--key",
                fixture("zero_attn", "key"), "--value", fixture("zero_attn", "value"), "--heads", "2",
                "--q-proj-weight", fixture("zero_attn", "q_proj_weight"),
                "--k-proj-weight", fixture("zero_attn", "k_proj_weight"),
                "--v-proj-weight", fixture("zero_attn", "v_proj_weight"),
                "--in-proj-bias", fixture("zero_attn", "in_proj_bias"),
                "--out-proj-weight", fixture("zero_attn", "out_proj_weight"),
                "--out-proj-bias", fixture("zero_attn", "out_proj_bias"), "--add-zero-attn",
                "--causal-align", "bottom-right", "--attn-mask", fixture("zero_attn", "attn_mask"),
                "--key-padding-mask", fixture("zero_attn", "keep_key_padding_mask"), "--backend", b,
                "--out", zero.toString());
        assertClose(Npy.read(zero).floats(), npy("zero_attn", "out"), "zero_attn output");

        Path both = tmp.resolve("both.npy"), perHead = tmp.resolve("per_head.npy");
        run("--variant", "mha", "--seq-first", "--qkv", fixture("both", "qkv"), "--heads", "3",
                "--out-proj-weight", fixture("both", "out_proj_weight"), "--bias-k", fixture("both", "bias_k"),
                "--bias-v", fixture("both", "bias_v"), "--add-zero-attn", "--attn-mask", fixture("both", "keep_attn_mask"),
                "--key-padding-mask", fixture("both", "keep_key_padding_mask"), "--backend", b,
                "--out", both.toString(), "--weights", perHead.toString());
        assertClose(Npy.read(both).floats(), npy("both", "out"), "both --qkv output");
        assertClose(Npy.read(perHead).floats(), npy("both", "weights_per_head"), "both --qkv weights");
    }

    private static void run(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] all = new String[args.length + 1];
        all[0] = "run";
        System.arraycopy(args, 0, all, 1, args.length);
        int code = Main.run(all, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(0, code, err.toString());
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

    /** --kv-heads, --causal and --window (one- and two-sided) reach the layer: the command line equals the API. */
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
            // A two-sided window, without a causal rule.
            float[] twoSided = mha.forward(arena, input, AttentionSpec.builder().window(1, 2).build(),
                    MultiHeadAttention.NeedWeights.NONE).output().toArray();
            code = Main.run(new String[] {"run", "--variant", "mha", "--query", fixture("self", "x"), "--heads", "4",
                "--kv-heads", "2", "--window", "1,2", "--in-proj-weight", inW.toString(), "--in-proj-bias",
                inB.toString(), "--out-proj-weight", outW.toString(), "--out-proj-bias", outB.toString(),
                "--out", out.toString()}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
            assertEquals(0, code, err.toString());
            got = Npy.read(out).floats();
            for (int i = 0; i < got.length; i++) {
                assertEquals(twoSided[i], got[i], 1e-6f);
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
