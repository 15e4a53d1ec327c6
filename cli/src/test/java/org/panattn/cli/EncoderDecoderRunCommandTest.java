package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.panattn.cli.CliFixture.assertClose;
import static org.panattn.cli.CliFixture.assertDiffers;
import static org.panattn.cli.CliFixture.assertUsageError;
import static org.panattn.cli.CliFixture.main;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.Alibi;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.RelativePositionBias;
import org.panattn.Tensor;
import org.panattn.layers.EncoderDecoderAttention;
import org.panattn.layers.LayerOutput;

/**
 * {@code run --variant encoder-decoder}: the tutorial's Attn module as PyTorch ran it
 * (scripts/make-torch-fixtures.py), and every option of the spec against the API.
 */
class EncoderDecoderRunCommandTest {
    private static final String ATTN = "src/test/resources/attn/";

    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(Backend.class)
    void matchesTheTutorialsAttnModuleRunByPyTorch(Backend backend) throws IOException {
        CliFixture f = new CliFixture(tmp, 1);
        float[] out = f.run("out", "run", "--variant", "encoder-decoder", "--q", ATTN + "Q.npy", "--k", ATTN + "K.npy",
                "--v", ATTN + "V.npy", "--attn-weight", ATTN + "attn_weight.npy", "--attn-bias", ATTN + "attn_bias.npy",
                "--combine-weight", ATTN + "attn_combine_weight.npy", "--combine-bias", ATTN + "attn_combine_bias.npy",
                "--backend", CliFixture.name(backend), "--out", f.path("out"), "--weights", f.path("weights"));
        Npy.Array weights = Npy.read(Path.of(f.path("weights")));
        assertArrayEquals(new long[] {1, 1, 32}, weights.shape());
        assertArrayEquals(new long[] {1, 1, 64}, Npy.read(Path.of(f.path("out"))).shape());
        assertClose(Npy.read(Path.of(ATTN + "output.npy")).floats(), out, "output vs PyTorch");
        assertClose(Npy.read(Path.of(ATTN + "weights.npy")).floats(), weights.floats(), "weights vs PyTorch");
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void everyOptionEqualsTheApi(Backend backend) throws IOException {
        CliFixture f = new CliFixture(tmp, 2);
        long b = 2, lq = 3, dq = 4, dk = 5, lv = 6, dv = 7, outSize = 8;
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, f.floats("q", b, lq, dq), b, lq, dq);
            Tensor k = Tensor.of(arena, f.floats("k", b, lq, dk), b, lq, dk);
            Tensor v = Tensor.of(arena, f.floats("v", b, lv, dv), b, lv, dv);
            float[] attnW = f.floats("attn-w", lv, dq + dk), attnB = f.floats("attn-b", lv);
            float[] combineW = f.floats("combine-w", outSize, dq + dv), combineB = f.floats("combine-b", outSize);
            boolean[] pad = f.booleans("pad", b, lv);
            float[] mask = f.floats("mask", b, lq, lv);
            Tensor table = Tensor.of(arena, f.floats("table", 32, 1), 32, 1);
            EncoderDecoderAttention step = new EncoderDecoderAttention(arena, dq, dk, lv, dv, outSize)
                    .load(attnW, attnB, combineW, combineB);
            AttentionSpec spec = AttentionSpec.builder().backend(backend)
                    .mask(Mask.additive(Tensor.of(arena, mask, b, lq, lv))).keyPadding(Mask.keep(arena, pad, b, 1, 1, lv))
                    .causal(Causal.BOTTOM_RIGHT).window(4).keyLengths(5, 6).scale(0.6f).softcap(1.5f)
                    .alibi(Alibi.slopes(arena, 1))
                    .relativeBias(new RelativePositionBias(table, false, 16)).build();
            LayerOutput expected = step.forward(arena, q, k, v, spec);
            List<String> args = new ArrayList<>(List.of("run", "--variant", "encoder-decoder", "--q", f.path("q"), "--k",
                    f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w"), "--attn-bias", f.path("attn-b"),
                    "--combine-weight", f.path("combine-w"), "--combine-bias", f.path("combine-b"), "--backend",
                    CliFixture.name(backend), "--out", f.path("out")));
            float[] plain = f.run("out", args.toArray(String[]::new));
            args.addAll(List.of("--mask", f.path("mask"), "--key-padding-mask", f.path("pad"), "--causal-align",
                    "bottom-right", "--window", "4", "--key-lengths", "5,6", "--scale", "0.6", "--softcap", "1.5", "--alibi", "--rel-bias",
                    f.path("table"), "--rel-unidirectional", "--rel-max-distance", "16", "--weights", f.path("weights")));
            float[] got = f.run("out", args.toArray(String[]::new));
            assertClose(expected.output().toArray(), got, "output vs the API");
            assertClose(expected.weights().toArray(), Npy.read(Path.of(f.path("weights"))).floats(), "weights vs the API");
            assertDiffers(plain, got, "the spec's options");

            // Without bias files the biases are 0.
            float[] unbiased = new EncoderDecoderAttention(arena, dq, dk, lv, dv, outSize)
                    .load(attnW, new float[(int) lv], combineW, new float[(int) outSize])
                    .forward(arena, q, k, v, AttentionSpec.builder().backend(backend).build()).output().toArray();
            assertClose(unbiased, f.run("out", "run", "--variant", "encoder-decoder", "--q", f.path("q"), "--k",
                    f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w"), "--combine-weight",
                    f.path("combine-w"), "--backend", CliFixture.name(backend), "--out", f.path("out")),
                    "without biases vs the API");
        }
    }

    @Test
    void badInputsNameTheOptionAndTheExpectedShape() throws IOException {
        CliFixture f = new CliFixture(tmp, 3);
        f.floats("q", 2, 3, 4);
        f.floats("k", 2, 3, 5);
        f.floats("k-short", 2, 2, 5);
        f.floats("v", 2, 6, 7);
        f.floats("v4", 2, 1, 6, 7);
        f.floats("attn-w", 6, 9);
        f.floats("attn-w-bad", 6, 8);
        f.floats("combine-w", 8, 11);
        f.floats("combine-b-bad", 7);
        String out = f.path("out");
        List<String> base = List.of("run", "--variant", "encoder-decoder", "--q", f.path("q"), "--out", out);
        Object[][] cases = {
            {List.of("--k", f.path("k-short"), "--v", f.path("v"), "--attn-weight", f.path("attn-w"), "--combine-weight",
                f.path("combine-w")), "panattn run: --k " + f.path("k-short") + ": expected shape (B, Lq, Dk) = (2, 3, *), "
                + "got (2, 2, 5)\n"},
            {List.of("--k", f.path("k"), "--v", f.path("v4"), "--attn-weight", f.path("attn-w"), "--combine-weight",
                f.path("combine-w")), "panattn run: --v " + f.path("v4") + ": expected shape (B, Lv, Dv) = (2, *, *), "
                + "got (2, 1, 6, 7)\n"},
            {List.of("--k", f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w-bad"), "--combine-weight",
                f.path("combine-w")), "panattn run: --attn-weight " + f.path("attn-w-bad") + ": expected shape "
                + "(Lv, Dq + Dk) = (6, 9), got (6, 8)\n"},
            {List.of("--k", f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w"), "--combine-weight",
                f.path("attn-w")), "panattn run: --combine-weight " + f.path("attn-w") + ": expected shape "
                + "(OUT, Dq + Dv) = (*, 11), got (6, 9)\n"},
            {List.of("--k", f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w"), "--combine-weight",
                f.path("combine-w"), "--combine-bias", f.path("combine-b-bad")), "panattn run: --combine-bias "
                + f.path("combine-b-bad") + ": expected shape (OUT) = (8,), got (7,)\n"},
            {List.of("--k", f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w")),
                "panattn run: --combine-weight is required\n"},
            {List.of("--k", f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w"), "--combine-weight",
                f.path("combine-w"), "--heads", "2"), "panattn run: --heads is not an option of --variant "
                + "encoder-decoder\n"},
            {List.of("--k", f.path("k"), "--v", f.path("v"), "--attn-weight", f.path("attn-w"), "--combine-weight",
                f.path("combine-w"), "--window", "2"), "panattn run: --window 2 needs --causal or --causal-align"},
        };
        for (Object[] c : cases) {
            List<String> a = new ArrayList<>(base);
            @SuppressWarnings("unchecked")
            List<String> more = (List<String>) c[0];
            a.addAll(more);
            assertUsageError(main(a.toArray(String[]::new)), (String) c[1]);
        }
        CliFixture.Outcome missing = main("run", "--variant", "encoder-decoder", "--q", f.path("q"), "--k", f.path("k"),
                "--v", f.path("v"), "--attn-weight", "nope.npy", "--combine-weight", f.path("combine-w"), "--out", out);
        assertEquals(1, missing.code(), missing.err());
        assertEquals("panattn run: --attn-weight: cannot read nope.npy: no such file\n", missing.err());
        assertFalse(Files.exists(Path.of(out)), "nothing was written");
    }
}
