package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import org.panattn.ScoreRule;
import org.panattn.Tensor;
import org.panattn.layers.AttentionPooling;

/**
 * Each rule, positional, window and key-length option of {@code run} gives what the API gives for the same
 * files.
 */
class RuleRunCommandTest {
    @TempDir
    Path tmp;

    private final SplittableRandom rnd = new SplittableRandom(17);

    /** Writes a random array and returns its values. */
    private float[] file(String name, long... shape) throws IOException {
        int n = 1;
        for (long s : shape) {
            n *= (int) s;
        }
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        Npy.write(tmp.resolve(name + ".npy"), x, shape);
        return x;
    }

    private String path(String name) {
        return tmp.resolve(name + ".npy").toString();
    }

    private float[] run(String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of("run"));
        all.addAll(List.of(args));
        all.addAll(List.of("--out", path("out")));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(all.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(0, code, err.toString());
        return Npy.read(tmp.resolve("out.npy")).floats();
    }

    private static void assertSame(float[] expected, float[] got) {
        assertEquals(expected.length, got.length);
        for (int i = 0; i < got.length; i++) {
            assertEquals(expected[i], got[i], 1e-5f, "element " + i);
        }
    }

    @Test
    void scoreRuleVariantsEqualTheApi() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, file("q", 2, 3, 4), 2, 3, 4);
            Tensor k = Tensor.of(arena, file("k", 2, 5, 6), 2, 5, 6);
            Tensor v = Tensor.of(arena, file("v", 2, 5, 3), 2, 5, 3);
            Tensor w = Tensor.of(arena, file("w", 4, 6), 4, 6);
            Tensor wq = Tensor.of(arena, file("wq", 7, 4), 7, 4);
            Tensor wk = Tensor.of(arena, file("wk", 7, 6), 7, 6);
            Tensor vv = Tensor.of(arena, file("vv", 7), 7);
            Tensor bias = Tensor.of(arena, file("bias", 7), 7);
            Tensor wc = Tensor.of(arena, file("wc", 7, 10), 7, 10);
            AttentionSpec causal = AttentionSpec.builder().causal(Causal.TOP_LEFT).build();
            Tensor out = Tensor.allocate(arena, 2, 3, 3);

            Attention.attend(ScoreRule.general(w), q, k, v, out, causal);
            assertSame(out.toArray(), run("--variant", "general", "--q", path("q"), "--k", path("k"), "--v", path("v"),
                    "--w", path("w"), "--causal"));
            Attention.attend(ScoreRule.additive(wq, wk, bias, vv), q, k, v, out, AttentionSpec.DEFAULT);
            assertSame(out.toArray(), run("--variant", "additive", "--q", path("q"), "--k", path("k"), "--v",
                    path("v"), "--wq", path("wq"), "--wk", path("wk"), "--v-vec", path("vv"), "--bias", path("bias")));
            Attention.attend(ScoreRule.concatTanhSum(wc, bias, 4), q, k, v, out, AttentionSpec.DEFAULT);
            assertSame(out.toArray(), run("--variant", "concat-tanh", "--q", path("q"), "--k", path("k"), "--v",
                    path("v"), "--w", path("wc"), "--bias", path("bias")));

            Tensor kq = Tensor.of(arena, file("kq", 2, 3, 6), 2, 3, 6);
            Tensor lin = Tensor.of(arena, file("lin", 5, 10), 5, 10);
            Attention.concatLinear(q, kq, v, lin, null, out, AttentionSpec.DEFAULT);
            assertSame(out.toArray(), run("--variant", "concat", "--q", path("q"), "--k", path("kq"), "--v", path("v"),
                    "--w", path("lin")));

            Tensor query = Tensor.of(arena, file("query", 6), 6);
            float[] pooled = new AttentionPooling(query).forward(arena, k, null, org.panattn.Panattn.defaultBackend())
                    .output().toArray();
            assertSame(pooled, run("--variant", "pooling", "--x", path("k"), "--query", path("query")));
        }
    }

    /** --window W, --window L,R (with and without a causal rule, -1 unbounded) and --key-lengths equal the API. */
    @Test
    void windowsAndKeyLengthsEqualTheApi() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.of(arena, file("q", 2, 4, 5, 8), 2, 4, 5, 8);
            Tensor k = Tensor.of(arena, file("k", 2, 2, 11, 8), 2, 2, 11, 8);
            Tensor v = Tensor.of(arena, file("v", 2, 2, 11, 3), 2, 2, 11, 3);
            String[] qkv = {"--q", path("q"), "--k", path("k"), "--v", path("v")};
            Object[][] cases = {
                {AttentionSpec.builder().window(2, 1), new String[] {"--window", "2,1"}},
                {AttentionSpec.builder().window(AttentionSpec.UNBOUNDED, 0).keyLengths(11, 4),
                    new String[] {"--window", "-1,0", "--key-lengths", "11,4"}},
                {AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).window(3, AttentionSpec.UNBOUNDED).keyLengths(6, 0),
                    new String[] {"--causal-align", "bottom-right", "--window", "3,-1", "--key-lengths", "6,0"}},
                {AttentionSpec.builder().causal(Causal.TOP_LEFT).window(3), new String[] {"--causal", "--window", "3"}},
                {AttentionSpec.builder().keyLengths(1, 10), new String[] {"--key-lengths", "1,10"}},
            };
            for (Object[] c : cases) {
                String[] options = (String[]) c[1];
                float[] expected = Attention.scaledDotProduct(q, k, v, ((AttentionSpec.Builder) c[0]).build()).toArray();
                List<String> args = new ArrayList<>(List.of(qkv));
                args.addAll(List.of(options));
                assertSame(expected, run(args.toArray(String[]::new)));
            }
            // A score rule takes them too.
            Tensor q3 = Tensor.of(arena, file("q3", 2, 5, 8), 2, 5, 8), k3 = Tensor.of(arena, file("k3", 2, 11, 6), 2, 11, 6);
            Tensor v3 = Tensor.of(arena, file("v3", 2, 11, 3), 2, 11, 3), w = Tensor.of(arena, file("w", 8, 6), 8, 6);
            Tensor out = Tensor.allocate(arena, 2, 5, 3);
            Attention.attend(ScoreRule.general(w), q3, k3, v3, out, AttentionSpec.builder().window(1, 2).keyLengths(7, 9)
                    .build());
            assertSame(out.toArray(), run("--variant", "general", "--q", path("q3"), "--k", path("k3"), "--v",
                    path("v3"), "--w", path("w"), "--window", "1,2", "--key-lengths", "7,9"));
        }
    }

    @Test
    void positionalOptionsEqualTheApi() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            float[] qv = file("q4", 1, 2, 3, 8), kv = file("k4", 1, 2, 9, 8), vv = file("v4", 1, 2, 9, 8);
            float[] table = file("table", 32, 2);
            Tensor q = Tensor.of(arena, qv, 1, 2, 3, 8), k = Tensor.of(arena, kv, 1, 2, 9, 8);
            Tensor v = Tensor.of(arena, vv, 1, 2, 9, 8);
            Rope.apply(q, 6, 10000f, Rope.Layout.INTERLEAVED);
            Rope.apply(k, 0, 10000f, Rope.Layout.INTERLEAVED);
            AttentionSpec spec = AttentionSpec.builder().causal(Causal.BOTTOM_RIGHT).softcap(2f)
                    .alibi(Alibi.slopes(arena, 2))
                    .relativeBias(new RelativePositionBias(Tensor.of(arena, table, 32, 2), false, 128)).build();
            float[] expected = Attention.scaledDotProduct(q, k, v, spec).toArray();
            assertSame(expected, run("--q", path("q4"), "--k", path("k4"), "--v", path("v4"), "--causal-align",
                    "bottom-right", "--softcap", "2", "--alibi", "--rel-bias", path("table"), "--rel-unidirectional",
                    "--rope-base", "10000", "--rope-layout", "interleaved"));
        }
    }
}
