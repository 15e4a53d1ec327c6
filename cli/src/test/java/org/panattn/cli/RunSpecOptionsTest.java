package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.panattn.cli.CliFixture.assertClose;
import static org.panattn.cli.CliFixture.assertDiffers;
import static org.panattn.cli.CliFixture.assertUsageError;
import static org.panattn.cli.CliFixture.main;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.Alibi;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.RelativePositionBias;
import org.panattn.ScoreRule;
import org.panattn.Tensor;

/**
 * Every option of {@link AttentionSpec} through plain {@code run} and through each score rule's
 * {@code run --variant}: the command line gives what the API gives for the same files, and each option
 * changes the result (so one the command line dropped would be seen).
 */
class RunSpecOptionsTest {
    @TempDir
    Path tmp;

    /** The API's output for a spec (a weights tensor in the spec gets the weights). */
    private interface Call {
        float[] attend(AttentionSpec spec);
    }

    /** One option (or a few together) as command-line arguments and as what it adds to a spec. */
    private record Case(String[] args, Consumer<AttentionSpec.Builder> spec) {
    }

    /**
     * Runs {@code base} with each option and checks it against the API, for a call of batch b, h heads
     * (0 for rank-3 inputs), lq queries and lk keys.
     */
    private static void checkEveryOption(CliFixture f, Arena arena, Backend backend, String[] base, Call api, long b,
                                         long h, long lq, long lk) throws IOException {
        long heads = Math.max(h, 1);
        boolean[] pad = f.booleans("pad", b, lk);
        float[] padAdd = f.floats("pad-add", b, lk);
        boolean[] keep = f.booleans("keep", lq, lk);
        long[] addShape = h == 0 ? new long[] {b, lq, lk} : new long[] {b, h, lq, lk};
        float[] add = f.floats("add", addShape);
        float[] table = f.floats("table", 32, heads);
        Tensor tableTensor = Tensor.of(arena, table, 32, heads);
        List<Case> cases = List.of(
                new Case(args("--key-padding-mask", f.path("pad")), s -> s.keyPadding(Mask.keep(arena, pad, b, 1, 1, lk))),
                new Case(args("--key-padding-mask", f.path("pad-add")),
                        s -> s.keyPadding(Mask.additive(Tensor.of(arena, padAdd, b, 1, 1, lk)))),
                new Case(args("--mask", f.path("keep"), "--key-padding-mask", f.path("pad")),
                        s -> s.mask(Mask.keep(arena, keep, lq, lk)).keyPadding(Mask.keep(arena, pad, b, 1, 1, lk))),
                new Case(args("--mask", f.path("add")), s -> s.mask(Mask.additive(Tensor.of(arena, add, addShape)))),
                new Case(args("--causal"), s -> s.causal(Causal.TOP_LEFT)),
                new Case(args("--causal-align", "bottom-right"), s -> s.causal(Causal.BOTTOM_RIGHT)),
                new Case(args("--causal", "--window", "2"), s -> s.causal(Causal.TOP_LEFT).window(2)),
                new Case(args("--causal-align", "bottom-right", "--window", "3"), s -> s.causal(Causal.BOTTOM_RIGHT).window(3)),
                new Case(args("--window", "2,1"), s -> s.window(2, 1)),
                new Case(args("--causal", "--window", "-1,1"), s -> s.causal(Causal.TOP_LEFT)
                        .window(AttentionSpec.UNBOUNDED, 1)),
                new Case(args("--key-lengths", (lk - 2) + "," + (lk - 4)), s -> s.keyLengths(lk - 2, lk - 4)),
                new Case(args("--scale", "0.7"), s -> s.scale(0.7f)),
                new Case(args("--softcap", "0.5"), s -> s.softcap(0.5f)),
                new Case(args("--alibi"), s -> s.alibi(Alibi.slopes(arena, (int) heads))),
                new Case(args("--rel-bias", f.path("table")), s -> s.relativeBias(new RelativePositionBias(tableTensor, true,
                        128))),
                new Case(args("--rel-bias", f.path("table"), "--rel-unidirectional", "--rel-max-distance", "4"),
                        s -> s.relativeBias(new RelativePositionBias(tableTensor, false, 4))));
        String[] common = concat(base, args("--backend", CliFixture.name(backend), "--out", f.path("out")));
        float[] plain = api.attend(AttentionSpec.builder().backend(backend).build());
        for (Case c : cases) {
            AttentionSpec.Builder spec = AttentionSpec.builder().backend(backend);
            c.spec.accept(spec);
            float[] expected = api.attend(spec.build());
            String what = String.join(" ", base[0], base[1], base[2]) + " " + String.join(" ", c.args);
            assertClose(expected, f.run("out", concat(common, c.args)), what + " vs the API");
            assertDiffers(plain, expected, what);
        }

        // Every option at once, with the weights written too.
        Tensor weights = Tensor.allocate(arena, h == 0 ? new long[] {b, lq, lk} : new long[] {b, h, lq, lk});
        AttentionSpec all = AttentionSpec.builder().backend(backend).weights(weights)
                .mask(Mask.additive(Tensor.of(arena, add, addShape))).keyPadding(Mask.keep(arena, pad, b, 1, 1, lk))
                .causal(Causal.BOTTOM_RIGHT).window(3).scale(0.7f).softcap(2f).alibi(Alibi.slopes(arena, (int) heads))
                .relativeBias(new RelativePositionBias(tableTensor, true, 128)).build();
        float[] expected = api.attend(all);
        float[] got = f.run("out", concat(common, args("--mask", f.path("add"), "--key-padding-mask", f.path("pad"),
                "--causal-align", "bottom-right", "--window", "3", "--scale", "0.7", "--softcap", "2", "--alibi",
                "--rel-bias", f.path("table"), "--weights", f.path("weights"))));
        assertClose(expected, got, base[2] + " with every option");
        assertClose(weights.toArray(), Npy.read(Path.of(f.path("weights"))).floats(), base[2] + " weights");
    }

    private static String[] args(String... a) {
        return a;
    }

    private static String[] concat(String[] a, String[] b) {
        return Stream.concat(Arrays.stream(a), Arrays.stream(b)).toArray(String[]::new);
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void sdpaTakesEveryOptionOfTheSpec(Backend backend) throws IOException {
        CliFixture f = new CliFixture(tmp, 3);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, f.floats("q", 2, 4, 5, 8), 2, 4, 5, 8);
            Tensor k = Tensor.of(arena, f.floats("k", 2, 2, 7, 8), 2, 2, 7, 8);
            Tensor v = Tensor.of(arena, f.floats("v", 2, 2, 7, 6), 2, 2, 7, 6);
            Tensor out = Tensor.allocate(arena, 2, 4, 5, 6);
            checkEveryOption(f, arena, backend, args("run", "--variant", "sdpa", "--q", f.path("q"), "--k", f.path("k"),
                    "--v", f.path("v")), spec -> {
                        Attention.scaledDotProduct(q, k, v, out, spec);
                        return out.toArray();
                    }, 2, 4, 5, 7);
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void everyScoreRuleTakesEveryOptionOfTheSpec(Backend backend) throws IOException {
        CliFixture f = new CliFixture(tmp, 4);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, f.floats("q", 2, 5, 4), 2, 5, 4);
            Tensor k = Tensor.of(arena, f.floats("k", 2, 7, 6), 2, 7, 6);
            Tensor kq = Tensor.of(arena, f.floats("kq", 2, 5, 6), 2, 5, 6);
            Tensor v = Tensor.of(arena, f.floats("v", 2, 7, 3), 2, 7, 3);
            Tensor w = Tensor.of(arena, f.floats("w", 4, 6), 4, 6);
            Tensor wq = Tensor.of(arena, f.floats("wq", 7, 4), 7, 4);
            Tensor wk = Tensor.of(arena, f.floats("wk", 7, 6), 7, 6);
            Tensor vv = Tensor.of(arena, f.floats("vv", 7), 7);
            Tensor bias = Tensor.of(arena, f.floats("bias", 7), 7);
            Tensor wc = Tensor.of(arena, f.floats("wc", 7, 10), 7, 10);
            Tensor out = Tensor.allocate(arena, 2, 5, 3);
            String[] qkv = args("--q", f.path("q"), "--k", f.path("k"), "--v", f.path("v"));
            checkEveryOption(f, arena, backend, concat(args("run", "--variant", "general", "--w", f.path("w")), qkv),
                    spec -> {
                        Attention.attend(ScoreRule.general(w), q, k, v, out, spec);
                        return out.toArray();
                    }, 2, 0, 5, 7);
            checkEveryOption(f, arena, backend, concat(args("run", "--variant", "additive", "--wq", f.path("wq"), "--wk",
                    f.path("wk"), "--v-vec", f.path("vv"), "--bias", f.path("bias")), qkv), spec -> {
                        Attention.attend(ScoreRule.additive(wq, wk, bias, vv), q, k, v, out, spec);
                        return out.toArray();
                    }, 2, 0, 5, 7);
            checkEveryOption(f, arena, backend, concat(args("run", "--variant", "concat-tanh", "--w", f.path("wc"),
                    "--bias", f.path("bias")), qkv), spec -> {
                        Attention.attend(ScoreRule.concatTanhSum(wc, bias, 4), q, k, v, out, spec);
                        return out.toArray();
                    }, 2, 0, 5, 7);
            checkEveryOption(f, arena, backend, args("run", "--variant", "concat", "--w", f.path("wc"), "--bias",
                    f.path("bias"), "--q", f.path("q"), "--k", f.path("kq"), "--v", f.path("v")), spec -> {
                        Attention.concatLinear(q, kq, v, wc, bias, out, spec);
                        return out.toArray();
                    }, 2, 0, 5, 7);
        }
    }

    @Test
    void badSpecOptionsAreRefusedNamingTheOptionAndTheShape() throws IOException {
        CliFixture f = new CliFixture(tmp, 5);
        f.floats("q", 2, 4, 5, 8);
        f.floats("k", 2, 2, 7, 8);
        f.floats("v", 2, 2, 7, 6);
        f.booleans("pad", 2, 5);
        f.booleans("keep", 5, 6);
        f.floats("table", 32, 3);
        String out = f.path("out");
        List<String> sdpa = List.of("run", "--q", f.path("q"), "--k", f.path("k"), "--v", f.path("v"), "--out", out);
        Object[][] cases = {
            {"--key-padding-mask " + f.path("pad"),
                "panattn run: --key-padding-mask " + f.path("pad") + ": expected shape (B, Lk) = (2, 7), got (2, 5)\n"},
            {"--mask " + f.path("keep"), "panattn run: --mask " + f.path("keep") + ": expected shape (Lq, Lk), "
                + "(B, Lq, Lk) or (B, H, Lq, Lk) with B = 2, H = 4, Lq = 5, Lk = 7 (each but Lk may be 1), got (5, 6)\n"},
            {"--mask " + f.path("q"), "--mask " + f.path("q") + ": expected shape (Lq, Lk), (B, Lq, Lk) or (B, H, Lq, Lk)"},
            {"--rel-bias " + f.path("table"), "panattn run: --rel-bias " + f.path("table")
                + ": expected shape (numBuckets, H) = (*, 4), got (32, 3)\n"},
            {"--rel-bias " + f.path("pad"), "--rel-bias " + f.path("pad") + ": expected float32 '<f4' or float16 '<f2', got bool"},
            {"--window 2", "panattn run: --window 2 needs --causal or --causal-align: the window counts back from each "
                + "query's causal position (--window L,R needs neither)\n"},
            {"--key-lengths 7,7,7", "panattn run: --key-lengths 7,7,7: expected one length a batch row, B = 2, got 3\n"},
            {"--rel-max-distance 16", "panattn run: --rel-max-distance needs --rel-bias\n"},
            {"--rel-unidirectional", "panattn run: --rel-unidirectional needs --rel-bias\n"},
            {"--rope-layout interleaved", "panattn run: --rope-layout needs --rope-base\n"},
            {"--causal --window 2 --window 3", "panattn run: --window is given twice\n"},
            {"--softcap -1", "panattn run: --softcap: expected a finite number >= 0, got \"-1\"\n"},
            {"--scale 0", "panattn run: --scale: expected a finite nonzero number, got \"0\"\n"},
            {"--scale 1e39", "panattn run: --scale: expected a finite nonzero number, got \"1e39\"\n"},
            {"--rope-base 1", "panattn run: --rope-base: expected a finite number > 1, got \"1\"\n"},
            {"--causal-align left", "panattn run: --causal-align: expected top-left or bottom-right, got 'left'\n"},
        };
        for (Object[] c : cases) {
            List<String> a = new ArrayList<>(sdpa);
            a.addAll(List.of(((String) c[0]).split(" ")));
            CliFixture.Outcome o = main(a.toArray(String[]::new));
            assertUsageError(o, (String) c[1]);
            assertTrue(o.err().startsWith("panattn run: "), c[0] + ": " + o.err());
        }
        assertUsageError(main("run", "--variant", "general", "--q", f.path("q"), "--k", f.path("k"), "--v", f.path("v"),
                "--w", f.path("table"), "--rope-base", "10000", "--out", out),
                "panattn run: --rope-base is not an option of --variant general\n");
        CliFixture.Outcome missing = main(concat(sdpa.toArray(String[]::new), args("--key-padding-mask", "nope.npy")));
        assertEquals(1, missing.code(), missing.err());
        assertEquals("panattn run: --key-padding-mask: cannot read nope.npy: no such "
                + "file\n", missing.err());
        assertFalse(Files.exists(Path.of(out)), "nothing was written");
    }
}
