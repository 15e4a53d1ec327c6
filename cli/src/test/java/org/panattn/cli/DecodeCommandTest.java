package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.panattn.cli.CliFixture.assertClose;
import static org.panattn.cli.CliFixture.assertDiffers;
import static org.panattn.cli.CliFixture.assertUsageError;
import static org.panattn.cli.CliFixture.main;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.Alibi;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Dtype;
import org.panattn.KvCache;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

/**
 * {@code decode}: a layer run token by token through a KV cache gives what the same layer's causal
 * forward over the whole sequence gives, through the API, whatever the prompt length and options.
 */
class DecodeCommandTest {
    /** E = 16, H = 4, HKV = 2: headDim 4, kvDim 8. */
    private static final long B = 2, T = 7, E = 16, H = 4, HKV = 2, KV_DIM = 8;

    @TempDir
    Path tmp;

    /** The command's arguments for files of {@code f} and the options that follow. */
    private static List<String> decode(CliFixture f, Backend backend, String... more) {
        List<String> args = new ArrayList<>(List.of("decode", "--heads", String.valueOf(H), "--kv-heads",
                String.valueOf(HKV), "--backend", CliFixture.name(backend), "--out", f.path("out")));
        args.addAll(List.of(more));
        return args;
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void decodingTokenByTokenEqualsTheFullCausalForward(Backend backend) throws IOException {
        CliFixture f = new CliFixture(tmp, 7);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, f.floats("x", B, T, E), B, T, E);
            MultiHeadAttention mha = MultiHeadAttention.builder(E, H).kvHeads(HKV).build(arena)
                    .loadInProj(f.floats("in-w", E + 2 * KV_DIM, E), f.floats("in-b", E + 2 * KV_DIM))
                    .loadOutProj(f.floats("out-w", E, E), f.floats("out-b", E));
            AttentionSpec causal = AttentionSpec.builder().backend(backend).causal(Causal.TOP_LEFT).build();
            float[] expected = mha.forward(arena, x, causal, MultiHeadAttention.NeedWeights.NONE).output().toArray();
            float[] bidirectional = mha.forward(arena, x, AttentionSpec.builder().backend(backend).build(),
                    MultiHeadAttention.NeedWeights.NONE).output().toArray();
            assertDiffers(bidirectional, expected, "the causal rule");
            for (long prompt : new long[] {0, 1, 3, T}) {
                List<String> args = decode(f, backend, "--x", f.path("x"), "--in-proj-weight", f.path("in-w"),
                        "--in-proj-bias", f.path("in-b"), "--out-proj-weight", f.path("out-w"), "--out-proj-bias",
                        f.path("out-b"), "--prompt-length", String.valueOf(prompt));
                float[] got = f.run("out", args.toArray(String[]::new));
                assertArrayEquals(new long[] {B, T, E}, Npy.read(Path.of(f.path("out"))).shape());
                assertClose(expected, got, "prompt " + prompt + " vs the causal forward");
            }
        }
    }

    /**
     * --dtype stores the cache in half precision: the command gives what the layer gives decoding through a
     * cache of that dtype, which differs from the float32 cache's result by that dtype's rounding only.
     */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void aHalfPrecisionCacheDecodesAsTheApiDoes(Backend backend) throws IOException {
        CliFixture f = new CliFixture(tmp, 9);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, f.floats("x", B, T, E), B, T, E);
            MultiHeadAttention mha = MultiHeadAttention.builder(E, H).kvHeads(HKV).build(arena)
                    .loadInProj(f.floats("in-w", E + 2 * KV_DIM, E), f.floats("in-b", E + 2 * KV_DIM))
                    .loadOutProj(f.floats("out-w", E, E), f.floats("out-b", E));
            AttentionSpec spec = AttentionSpec.builder().backend(backend).causal(Causal.BOTTOM_RIGHT).build();
            List<String> args = decode(f, backend, "--x", f.path("x"), "--in-proj-weight", f.path("in-w"),
                    "--in-proj-bias", f.path("in-b"), "--out-proj-weight", f.path("out-w"), "--out-proj-bias",
                    f.path("out-b"));
            float[] f32 = f.run("out", args.toArray(String[]::new));
            for (Dtype dtype : new Dtype[] {Dtype.F16, Dtype.BF16}) {
                KvCache cache = KvCache.allocate(arena, dtype, B, HKV, T, E / H);
                float[] expected = new float[(int) (B * T * E)];
                for (long t = 0; t < T; t++) {
                    Tensor token = Tensor.of(arena, slice(x.toArray(), t), B, 1, E);
                    float[] y = mha.forwardCached(arena, token, cache, spec).toArray();
                    for (int b = 0; b < B; b++) {
                        System.arraycopy(y, (int) (b * E), expected, (int) ((b * T + t) * E), (int) E);
                    }
                }
                List<String> half = new ArrayList<>(args);
                half.addAll(List.of("--dtype", Options.name(dtype)));
                float[] got = f.run("out", half.toArray(String[]::new));
                assertClose(expected, got, dtype + " cache vs the API");
                assertDiffers(f32, got, dtype + " storage");
                double err = 0, scale = 0;
                for (int i = 0; i < got.length; i++) {
                    err = Math.max(err, Math.abs(got[i] - f32[i]));
                    scale = Math.max(scale, Math.abs(f32[i]));
                }
                assertTrue(err / scale < (dtype == Dtype.F16 ? 5e-3 : 3e-2), dtype + " vs float32: " + err / scale);
            }
        }
    }

    /** Token t of every batch row of a (B, T, E) array, as (B, 1, E). */
    private static float[] slice(float[] x, long t) {
        float[] token = new float[(int) (B * E)];
        for (int b = 0; b < B; b++) {
            System.arraycopy(x, (int) ((b * T + t) * E), token, (int) (b * E), (int) E);
        }
        return token;
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void everyOptionOfDecodingEqualsTheFullCausalForward(Backend backend) throws IOException {
        CliFixture f = new CliFixture(tmp, 8);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, f.floats("x", T, B, E), T, B, E);
            Tensor table = Tensor.of(arena, f.floats("table", 32, H), 32, H);
            MultiHeadAttention mha = MultiHeadAttention.builder(E, H).kvHeads(HKV).batchFirst(false).bias(false)
                    .rope(10000f, Rope.Layout.INTERLEAVED).build(arena)
                    .loadQkv(f.floats("q-w", E, E), f.floats("k-w", KV_DIM, E), f.floats("v-w", KV_DIM, E), null)
                    .loadOutProj(f.floats("out-w", E, E), null);
            AttentionSpec spec = AttentionSpec.builder().backend(backend).causal(Causal.TOP_LEFT).window(3).scale(0.4f)
                    .softcap(1.5f).alibi(Alibi.slopes(arena, (int) H))
                    .relativeBias(new RelativePositionBias(table, false, 16)).build();
            float[] expected = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.NONE).output().toArray();
            List<String> layer = decode(f, backend, "--x", f.path("x"), "--seq-first", "--q-proj-weight", f.path("q-w"),
                    "--k-proj-weight", f.path("k-w"), "--v-proj-weight", f.path("v-w"), "--out-proj-weight",
                    f.path("out-w"), "--rope-base", "10000", "--rope-layout", "interleaved", "--prompt-length", "2");
            float[] plain = f.run("out", layer.toArray(String[]::new));
            layer.addAll(List.of("--window", "3", "--scale", "0.4", "--softcap", "1.5", "--alibi", "--rel-bias",
                    f.path("table"), "--rel-unidirectional", "--rel-max-distance", "16"));
            float[] got = f.run("out", layer.toArray(String[]::new));
            assertArrayEquals(new long[] {T, B, E}, Npy.read(Path.of(f.path("out"))).shape());
            assertClose(expected, got, "every option vs the causal forward");
            assertDiffers(plain, got, "the window, scale and positional terms");
        }
    }

    @Test
    void timingsGiveThePromptsCallAndEachLaterTokens() throws IOException {
        CliFixture f = new CliFixture(tmp, 9);
        f.floats("x", B, T, E);
        f.floats("in-w", E + 2 * KV_DIM, E);
        f.floats("out-w", E, E);
        Path timings = tmp.resolve("t.json");
        f.run("out", decode(f, Backend.JAVA, "--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight",
                f.path("out-w"), "--prompt-length", "3", "--timings", timings.toString()).toArray(String[]::new));
        String json = Files.readString(timings, StandardCharsets.UTF_8);
        assertEquals(1, json.lines().count(), json);
        assertTrue(json.startsWith("{\"context\":{\"panattn\":"), json);
        assertTrue(json.contains(",\"backend\":\"java\",\"batch\":2,\"tokens\":7,\"embed_dim\":16,\"heads\":4,"
                + "\"kv_heads\":2,\"dtype\":\"f32\",\"prompt_length\":3,\"prompt_ns\":"), json);
        Matcher tokens = Pattern.compile("\"token_ns\":\\[(\\d+(,\\d+)*)]}$").matcher(json.strip());
        assertTrue(tokens.find(), json);
        assertEquals(T - 3, tokens.group(1).split(",").length, "one time for each token after the prompt: " + json);

        f.run("out", decode(f, Backend.JAVA, "--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight",
                f.path("out-w"), "--timings", timings.toString()).toArray(String[]::new));
        json = Files.readString(timings, StandardCharsets.UTF_8);
        assertTrue(json.contains("\"prompt_length\":0,\"prompt_ns\":null,\"token_ns\":["), json);
        Matcher all = Pattern.compile("\"token_ns\":\\[(\\d+(,\\d+)*)]}$").matcher(json.strip());
        assertTrue(all.find() && all.group(1).split(",").length == T, "a time for every token: " + json);
    }

    @Test
    void badInputsNameTheOptionAndWhatItExpected() throws IOException {
        CliFixture f = new CliFixture(tmp, 10);
        f.floats("x", B, T, E);
        f.floats("x2", B, E);
        f.floats("in-w", E + 2 * KV_DIM, E);
        f.floats("in-w-mha", 3 * E, E);
        f.floats("out-w", E, E);
        f.floats("table", 32, H);
        String[] layer = {"--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("out-w")};
        Object[][] cases = {
            {List.of("--prompt-length", "8"), "panattn decode: --prompt-length 8: X has only 7 tokens\n"},
            {List.of("--prompt-length", "-1"), "panattn decode: --prompt-length: expected an integer >= 0, got \"-1\"\n"},
            {List.of("--q-proj-weight", f.path("out-w")), "panattn decode: --in-proj-weight and --q-proj-weight are two "
                + "forms of the same weights: give --in-proj-weight, or --q-proj-weight, --k-proj-weight and "
                + "--v-proj-weight\n"},
            {List.of("--rope-layout", "half"), "panattn decode: --rope-layout needs --rope-base\n"},
            {List.of("--rel-unidirectional"), "panattn decode: --rel-unidirectional needs --rel-bias\n"},
            {List.of("--alibi", "--alibi"), "panattn decode: --alibi is given twice\n"},
            {List.of("--window", "1", "--window", "2"), "panattn decode: --window is given twice\n"},
            {List.of("--mask", f.path("x")), "panattn decode: unknown option '--mask'"},
            {List.of("--causal"), "panattn decode: unknown option '--causal'"},
            {List.of("--softcap", "-2"), "panattn decode: --softcap: expected a finite number >= 0, got \"-2\"\n"},
        };
        for (Object[] c : cases) {
            List<String> a = decode(f, Backend.JAVA, layer);
            @SuppressWarnings("unchecked")
            List<String> more = (List<String>) c[0];
            a.addAll(more);
            CliFixture.Outcome o = main(a.toArray(String[]::new));
            assertUsageError(o, (String) c[1]);
            assertTrue(o.err().startsWith("panattn decode: ") && o.err().contains("usage: panattn decode"), o.err());
        }
        Object[][] layers = {
            {List.of("--x", f.path("x2"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("out-w"),
                "--heads", "4"), "panattn decode: --x " + f.path("x2") + ": expected shape (B, T, E) = (*, *, *), got "
                + "(2, 16)\n"},
            {List.of("--x", f.path("x"), "--in-proj-weight", f.path("in-w-mha"), "--out-proj-weight", f.path("out-w"),
                "--heads", "4", "--kv-heads", "2"), "panattn decode: --in-proj-weight " + f.path("in-w-mha")
                + ": expected shape (E + 2·kvDim, E) = (32, 16), got (48, 16)\n"},
            {List.of("--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("in-w"),
                "--heads", "4", "--kv-heads", "2"), "panattn decode: --out-proj-weight " + f.path("in-w")
                + ": expected shape (E, E) = (16, 16), got (32, 16)\n"},
            {List.of("--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("out-w"),
                "--heads", "4", "--kv-heads", "2", "--rel-bias", f.path("x")), "panattn decode: --rel-bias "
                + f.path("x") + ": expected shape (numBuckets, H) = (*, 4), got (2, 7, 16)\n"},
            {List.of("--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("out-w"),
                "--heads", "3"), "panattn decode: --heads 3: X's width E = 16 is not a multiple of it\n"},
            {List.of("--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("out-w"),
                "--heads", "4", "--kv-heads", "3"), "panattn decode: --kv-heads 3: must divide --heads 4\n"},
            {List.of("--x", f.path("x"), "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("out-w")),
                "panattn decode: --heads is required\n"},
            {List.of("--heads", "4", "--in-proj-weight", f.path("in-w"), "--out-proj-weight", f.path("out-w")),
                "panattn decode: --x is required\n"},
            {List.of("--x", f.path("x"), "--heads", "4", "--kv-heads", "2", "--in-proj-weight", f.path("in-w")),
                "panattn decode: --out-proj-weight is required\n"},
        };
        for (Object[] c : layers) {
            List<String> a = new ArrayList<>(List.of("decode", "--out", f.path("out")));
            @SuppressWarnings("unchecked")
            List<String> more = (List<String>) c[0];
            a.addAll(more);
            assertUsageError(main(a.toArray(String[]::new)), (String) c[1]);
        }
        CliFixture.Outcome missing = main(decode(f, Backend.JAVA, "--x", "nope.npy", "--in-proj-weight", f.path("in-w"),
                "--out-proj-weight", f.path("out-w")).toArray(String[]::new));
        assertEquals(1, missing.code(), missing.err());
        assertEquals("panattn decode: --x: cannot read nope.npy: no such file\n", missing.err());
        CliFixture.Outcome same = main(decode(f, Backend.JAVA, "--x", f.path("x"), "--in-proj-weight", f.path("in-w"),
                "--out-proj-weight", f.path("out-w"), "--timings", f.path("out")).toArray(String[]::new));
        assertUsageError(same, "panattn decode: --timings " + f.path("out") + " and --out " + f.path("out")
                + " are the same file");
        assertFalse(Files.exists(Path.of(f.path("out"))), "nothing was written");
    }
}
