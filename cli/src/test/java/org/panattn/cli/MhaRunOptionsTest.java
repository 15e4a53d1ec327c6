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
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.panattn.Alibi;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Causal;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

/**
 * Every option of the layer and of its calls reaches {@code run --variant mha}:
 * the command line gives what the API gives with the same options.
 */
class MhaRunOptionsTest {
    @TempDir
    Path tmp;

    private final SplittableRandom rnd = new SplittableRandom(17);

    private record Outcome(int code, String err) {
    }

    private static Outcome main(List<String> args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err));
        return new Outcome(code, err.toString());
    }

    private Tensor random(Arena arena, long... shape) {
        long n = 1;
        for (long size : shape) {
            n *= size;
        }
        float[] x = new float[(int) n];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return Tensor.of(arena, x, shape);
    }

    private String write(String name, Tensor t) throws IOException {
        Path file = tmp.resolve(name + ".npy");
        Npy.write(file, t.toArray(), t.shape());
        return file.toString();
    }

    /** Random weights with nonzero biases, and the options that give them to the command line. */
    private List<String> weights(Arena arena, MultiHeadAttention mha) throws IOException {
        long e = mha.embedDim(), kvDim = mha.numKvHeads() * mha.headDim();
        float[] packed = new float[(int) ((e + 2 * kvDim) * e)];
        System.arraycopy(mha.qProjWeight().toArray(), 0, packed, 0, (int) (e * e));
        System.arraycopy(mha.kProjWeight().toArray(), 0, packed, (int) (e * e), (int) (kvDim * e));
        System.arraycopy(mha.vProjWeight().toArray(), 0, packed, (int) ((e + kvDim) * e), (int) (kvDim * e));
        Tensor inProj = Tensor.of(arena, packed, e + 2 * kvDim, e);
        Tensor inBias = random(arena, e + 2 * kvDim), outBias = random(arena, e);
        mha.loadInProj(inProj.toArray(), inBias.toArray()).loadOutProj(mha.outProjWeight().toArray(), outBias.toArray());
        List<String> args = new ArrayList<>(List.of("--in-proj-weight", write("in_proj_weight", inProj),
                "--in-proj-bias", write("in_proj_bias", inBias), "--out-proj-weight",
                write("out_proj_weight", mha.outProjWeight()), "--out-proj-bias", write("out_proj_bias", outBias)));
        if (mha.biasK() != null) {
            args.addAll(List.of("--bias-k", write("bias_k", mha.biasK()), "--bias-v", write("bias_v", mha.biasV())));
        }
        return args;
    }

    /** Runs {@code run --variant mha} with {@code args} and returns its output, which must be {@code want}. */
    private void assertCommandLineGives(Tensor want, List<String> args) throws IOException {
        Path out = tmp.resolve("out.npy");
        List<String> all = new ArrayList<>(List.of("run", "--variant", "mha", "--out", out.toString()));
        all.addAll(args);
        Outcome o = main(all);
        assertEquals(0, o.code, o.err);
        Npy.Array got = Npy.read(out);
        assertArrayEquals(want.shape(), got.shape());
        float[] w = want.toArray();
        for (int i = 0; i < w.length; i++) {
            assertEquals(w[i], got.floats()[i], 1e-6f * Math.max(1f, Math.abs(w[i])), "element " + i);
        }
    }

    @Test
    void causalAlignScaleSoftcapAndAlibiReachTheLayer() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).build(arena).initRandom(3);
            List<String> args = weights(arena, mha);
            Tensor query = random(arena, 2, 3, 16), key = random(arena, 2, 7, 16);
            AttentionSpec spec = AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).scale(0.2f).softcap(3f)
                    .alibi(Alibi.slopes(arena, 4)).build();
            Tensor want = mha.forward(arena, query, key, key, spec, MultiHeadAttention.NeedWeights.NONE).output();
            args.addAll(List.of("--query", write("query", query), "--key", write("key", key), "--heads", "4",
                    "--causal-align", "bottom-right", "--scale", "0.2", "--softcap", "3", "--alibi"));
            assertCommandLineGives(want, args);
        }
    }

    @Test
    void ropeBaseAndLayoutReachTheLayer() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(16, 4).kvHeads(2).batchFirst(false)
                    .rope(500f, Rope.Layout.INTERLEAVED).build(arena).initRandom(4);
            List<String> args = weights(arena, mha);
            Tensor x = random(arena, 5, 2, 16);
            Tensor want = mha.forward(arena, x, AttentionSpec.builder().causal(Causal.TOP_LEFT).build(),
                    MultiHeadAttention.NeedWeights.NONE).output();
            args.addAll(List.of("--query", write("x", x), "--seq-first", "--heads", "4", "--kv-heads", "2", "--causal",
                    "--rope-base", "500", "--rope-layout", "interleaved"));
            assertCommandLineGives(want, args);
        }
    }

    private static float[] inProj(MultiHeadAttention mha) {
        float[] q = mha.qProjWeight().toArray(), k = mha.kProjWeight().toArray(), v = mha.vProjWeight().toArray();
        float[] w = new float[q.length + k.length + v.length];
        System.arraycopy(q, 0, w, 0, q.length);
        System.arraycopy(k, 0, w, q.length, k.length);
        System.arraycopy(v, 0, w, q.length + k.length, v.length);
        return w;
    }

    @Test
    void relativeBiasReachesTheLayer() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(12, 3).build(arena).initRandom(5);
            List<String> args = weights(arena, mha);
            Tensor x = random(arena, 2, 6, 12), table = random(arena, 8, 3);
            AttentionSpec spec = AttentionSpec.builder().relativeBias(new RelativePositionBias(table, false, 16))
                    .build();
            Tensor want = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.NONE).output();
            args.addAll(List.of("--query", write("x", x), "--heads", "3", "--rel-bias", write("table", table),
                    "--rel-max-distance", "16", "--rel-unidirectional"));
            assertCommandLineGives(want, args);
        }
    }

    @Test
    void appendedKeysAndThePackedInputReachTheLayer() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).addBiasKv(true).addZeroAttn(true)
                    .rope(10000f, Rope.Layout.HALF).build(arena).initRandom(6);
            List<String> args = weights(arena, mha);
            Tensor x = random(arena, 2, 5, 8);
            AttentionSpec spec = AttentionSpec.builder().causal(Causal.TOP_LEFT).window(2).scale(0.5f).softcap(4f)
                    .build();
            Tensor want = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.NONE).output();
            List<String> options = List.of("--heads", "2", "--add-zero-attn", "--causal", "--window", "2", "--scale",
                    "0.5", "--softcap", "4", "--rope-base", "10000");
            List<String> fromX = new ArrayList<>(args);
            fromX.addAll(options);
            fromX.addAll(List.of("--query", write("x", x)));
            assertCommandLineGives(want, fromX);

            Tensor qkv = Tensor.allocate(arena, 2, 5, 24);
            Attention.linear(x, Tensor.of(arena, inProj(mha), 24, 8), mha.inProjBias(), qkv, null);
            List<String> packed = new ArrayList<>(List.of("--qkv", write("qkv", qkv), "--out-proj-weight",
                    args.get(args.indexOf("--out-proj-weight") + 1), "--out-proj-bias",
                    args.get(args.indexOf("--out-proj-bias") + 1), "--bias-k", args.get(args.indexOf("--bias-k") + 1),
                    "--bias-v", args.get(args.indexOf("--bias-v") + 1)));
            packed.addAll(options);
            assertCommandLineGives(mha.forwardPacked(arena, qkv, spec, MultiHeadAttention.NeedWeights.NONE).output(),
                    packed);
        }
    }

    @Test
    void optionsThatDoNotGoTogetherAreRefusedByName() throws IOException {
        String x = "src/test/resources/mha/bias_kv/";
        List<String> layer = List.of("run", "--variant", "mha", "--heads", "4", "--in-proj-weight",
                x + "in_proj_weight.npy", "--out-proj-weight", x + "out_proj_weight.npy", "--out",
                tmp.resolve("o.npy").toString());
        List<String> args = new ArrayList<>(layer);
        args.addAll(List.of("--query", x + "x.npy", "--bias-k", x + "bias_k.npy"));
        Outcome o = main(args);
        assertEquals(2, o.code, o.err);
        assertTrue(o.err.contains("panattn run: --bias-k needs --bias-v: add_bias_kv appends both"), o.err);

        args = new ArrayList<>(layer);
        args.addAll(List.of("--query", x + "x.npy", "--qkv", x + "qkv.npy"));
        o = main(args);
        assertEquals(2, o.code, o.err);
        assertTrue(o.err.contains("--query is not an option with --qkv"), o.err);

        args = new ArrayList<>(layer);
        args.addAll(List.of("--query", x + "x.npy", "--add-zero-attn", "--alibi"));
        o = main(args);
        assertEquals(1, o.code, o.err);
        assertTrue(o.err.contains("spec.alibi: a positional bias needs every key's position"), o.err);

        args = new ArrayList<>(layer);
        args.addAll(List.of("--query", x + "x.npy", "--q", x + "x.npy"));
        o = main(args);
        assertEquals(2, o.code, o.err);
        assertTrue(o.err.contains("--q is not an option of --variant mha"), o.err);
    }
}
