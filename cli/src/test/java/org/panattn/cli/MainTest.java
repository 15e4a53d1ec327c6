package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Dtype;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.Tensor;

/** The command line, on .npy fixtures that NumPy wrote with its own float64 results. */
class MainTest {
    private static final Path NPY = Path.of("src/test/resources/npy");
    private static final String MHA = "src/test/resources/mha/self/";

    @TempDir
    Path tmp;

    private record Outcome(int code, String out, String err) {
    }

    private static Outcome main(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static String npy(String name) {
        return NPY.resolve(name + ".npy").toString();
    }

    private static void assertClose(Path got, String expected) throws IOException {
        Npy.Array g = Npy.read(got);
        Npy.Array e = Npy.read(Path.of(npy(expected)));
        assertArrayEquals(e.shape(), g.shape());
        double err = 0, scale = 1e-30;
        for (int i = 0; i < e.floats().length; i++) {
            err = Math.max(err, Math.abs(g.floats()[i] - e.floats()[i]));
            scale = Math.max(scale, Math.abs(e.floats()[i]));
        }
        assertTrue(err / scale < 1e-5, got + " vs NumPy: relative error " + err / scale);
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void runMatchesNumpyWithBoolMaskAndGqa(String backend) throws IOException {
        Path out = tmp.resolve("out.npy");
        Path w = tmp.resolve("w.npy");
        Outcome o = main("run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--mask", npy("keep"),
                "--backend", backend, "--out", out.toString(), "--weights", w.toString());
        assertEquals(0, o.code, o.err);
        assertClose(out, "out4");
        assertClose(w, "weights4");
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void runMatchesNumpyRankThreeCausalFloatMask(String backend) throws IOException {
        Path out = tmp.resolve("out.npy");
        Outcome o = main("run", "--q", npy("q3"), "--k", npy("k3"), "--v", npy("v3"), "--mask", npy("add"),
                "--causal", "--backend", backend, "--out", out.toString());
        assertEquals(0, o.code, o.err);
        assertClose(out, "out3");
    }

    @Test
    void runRefusesOtherDtypesClearly() {
        Outcome o = main("run", "--q", npy("f64"), "--k", npy("k3"), "--v", npy("v3"), "--out",
                tmp.resolve("x.npy").toString());
        assertEquals(1, o.code);
        assertTrue(o.err.contains("dtype '<f8' is not supported; expected float32 '<f4' or float16 '<f2'"), o.err);
        assertUsageError(main("run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--dtype", "f8", "--out",
                tmp.resolve("x.npy").toString()), "--dtype: expected f32, f16 or bf16, got 'f8'");
        assertUsageError(main("run", "--variant", "general", "--q", npy("q3"), "--k", npy("k3"), "--v", npy("v3"),
                "--w", npy("add"), "--dtype", "f16", "--out", tmp.resolve("x.npy").toString()),
                "--dtype is not an option of --variant general");
    }

    /** Float16 files run as F16 tensors: NumPy's float64 result on the same float16 values. */
    @ParameterizedTest
    @ValueSource(strings = {"native", "java", "vector"})
    void runTakesFloat16FilesAsTheyAre(String backend) throws IOException {
        Path out = tmp.resolve("out.npy");
        Outcome o = main("run", "--q", npy("q16"), "--k", npy("k16"), "--v", npy("v16"), "--causal-align",
                "bottom-right", "--backend", backend, "--out", out.toString());
        assertEquals(0, o.code, o.err);
        assertEquals(Dtype.F32, Npy.read(out).dtype(), "the output is float32");
        assertClose(out, "out16");
    }

    /** --dtype stores Q, K and V so: the command line gives what the API gives on the converted tensors. */
    @ParameterizedTest
    @ValueSource(strings = {"f16", "bf16", "f32"})
    void runDtypeConvertsTheInputsAsTheApiDoes(String dtype) throws IOException {
        Path out = tmp.resolve("out.npy"), w = tmp.resolve("w.npy");
        Outcome o = main("run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--mask", npy("keep"),
                "--softcap", "3", "--dtype", dtype, "--backend", "java", "--out", out.toString(), "--weights",
                w.toString());
        assertEquals(0, o.code, o.err);
        Dtype t = new Options.DtypeName().convert(dtype);
        try (Arena arena = Arena.ofConfined()) {
            Npy.Array q = Npy.read(Path.of(npy("q4"))), k = Npy.read(Path.of(npy("k4"))), v = Npy.read(Path.of(npy("v4")));
            Npy.Array keep = Npy.read(Path.of(npy("keep")));
            Tensor want = Tensor.allocate(arena, 2, 4, 5, 6), weights = Tensor.allocate(arena, 2, 4, 5, 7);
            Attention.scaledDotProduct(Tensor.of(arena, q.floats(), q.shape()).to(arena, t),
                    Tensor.of(arena, k.floats(), k.shape()).to(arena, t), Tensor.of(arena, v.floats(), v.shape())
                    .to(arena, t), want, AttentionSpec.builder().mask(Mask.keep(arena, keep.booleans(), keep.shape()))
                    .softcap(3f).weights(weights).backend(Backend.JAVA).build());
            assertArrayEquals(want.toArray(), Npy.read(out).floats());
            assertArrayEquals(weights.toArray(), Npy.read(w).floats());
        }
        if (!dtype.equals("f32")) {
            assertFalse(Arrays.equals(Npy.read(out).floats(), Npy.read(Path.of(npy("out4"))).floats()),
                    "rounded inputs give another result than float32's");
        }
    }

    @Test
    void usageErrorsExitTwo() {
        Outcome o = main("run", "--q");
        assertEquals(2, o.code);
        assertTrue(o.err.startsWith("panattn run: --q needs a value\n") && o.err.contains("usage:"), o.err);
        Outcome unknown = main("frobnicate");
        assertEquals(2, unknown.code);
        assertTrue(unknown.err.startsWith("panattn: unknown command 'frobnicate'\n"), unknown.err);
    }

    /** Exit code 2 (a usage error) with every part in the message. */
    private static void assertUsageError(Outcome o, String... parts) {
        assertEquals(2, o.code, o.err);
        for (String part : parts) {
            assertTrue(o.err.contains(part), part + " in " + o.err);
        }
    }

    @Test
    void outputsMayNotShareAPathWithEachOtherOrWithAnInput() throws IOException {
        Path q = Files.copy(Path.of(npy("q4")), tmp.resolve("q.npy"));
        byte[] original = Files.readAllBytes(q);
        String same = tmp.resolve("same.npy").toString(), again = tmp.resolve("sub/../same.npy").toString();
        assertUsageError(main("run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--out", same,
                "--weights", again), "panattn run: --weights " + again + " and --out " + same + " are the same file");
        assertUsageError(main("run", "--q", q.toString(), "--k", npy("k4"), "--v", npy("v4"), "--out", q.toString()),
                "--out " + q + " and the input --q " + q + " are the same file");
        assertUsageError(main("run", "--variant", "mha", "--query", MHA + "x.npy", "--heads", "4", "--in-proj-weight",
                MHA + "in_proj_weight.npy", "--out-proj-weight", MHA + "out_proj_weight.npy", "--out", same,
                "--weights", again), "--weights " + again + " and --out " + same);
        assertUsageError(main("run", "--variant", "mha", "--query", q.toString(), "--heads", "4", "--in-proj-weight",
                MHA + "in_proj_weight.npy", "--out-proj-weight", MHA + "out_proj_weight.npy", "--out", q.toString()),
                "--out " + q + " and the input --query " + q);
        assertUsageError(main("run", "--variant", "general", "--q", npy("q3"), "--k", npy("k3"), "--v", npy("v3"),
                "--w", q.toString(), "--out", q.toString()), "--out " + q + " and the input --w " + q);
        assertUsageError(main("run", "--variant", "pooling", "--x", npy("k3"), "--query", q.toString(), "--out", same,
                "--weights", q.toString()), "--weights " + q + " and the input --query " + q);
        assertArrayEquals(original, Files.readAllBytes(q), "the input is untouched");
        assertFalse(Files.exists(Path.of(same)), "nothing was written");
    }

    @Test
    void mhaWeightFilesAreCheckedAgainstTheLayersShapes() {
        String out = tmp.resolve("o.npy").toString();
        String[] layer = {"run", "--variant", "mha", "--query", MHA + "x.npy", "--heads", "4", "--out", out};
        assertUsageError(main(Stream.concat(Arrays.stream(layer), Stream.of("--in-proj-weight", MHA + "out_proj_weight.npy",
                "--out-proj-weight", MHA + "out_proj_weight.npy")).toArray(String[]::new)), "panattn run: --in-proj-weight "
                + MHA + "out_proj_weight.npy: expected shape (E + 2·kvDim, E) = (48, 16), got (16, 16)\n");
        assertUsageError(main(Stream.concat(Arrays.stream(layer), Stream.of("--in-proj-weight", MHA + "in_proj_weight.npy",
                "--out-proj-weight", MHA + "out_proj_weight.npy", "--out-proj-bias", MHA + "in_proj_bias.npy"))
                .toArray(String[]::new)), "panattn run: --out-proj-bias " + MHA + "in_proj_bias.npy: expected shape (E) = "
                + "(16,), got (48,)\n");
        assertUsageError(main(Stream.concat(Arrays.stream(layer), Stream.of("--in-proj-weight", MHA + "in_proj_weight.npy",
                "--k-proj-weight", MHA + "in_proj_weight.npy", "--out-proj-weight", MHA + "out_proj_weight.npy"))
                .toArray(String[]::new)), "panattn run: --in-proj-weight and --k-proj-weight are two forms of the same "
                + "weights");
        assertFalse(Files.exists(Path.of(out)), "nothing was written");
    }

    @Test
    void everyOutputFolderIsCheckedBeforeAnythingRuns() {
        Outcome o = main("run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--out", "/nonexistent/dir/o.npy");
        assertEquals(1, o.code, o.err);
        assertEquals("panattn run: --out: cannot write /nonexistent/dir/o.npy: folder /nonexistent/dir does not exist\n",
                o.err);
        Path out = tmp.resolve("out.npy");
        o = main("run", "--variant", "mha", "--query", MHA + "x.npy", "--heads", "4", "--in-proj-weight",
                MHA + "in_proj_weight.npy", "--out-proj-weight", MHA + "out_proj_weight.npy", "--out", out.toString(),
                "--weights", "/nonexistent/w.npy");
        assertTrue(o.err.contains("--weights: cannot write /nonexistent/w.npy: folder /nonexistent does not exist"), o.err);
        assertFalse(Files.exists(out), "--out was not written either");
        o = main("run", "--variant", "general", "--q", npy("q3"), "--k", npy("k3"), "--v", npy("v3"), "--w", npy("q3"),
                "--out", tmp.toString());
        assertTrue(o.err.contains("--out: cannot write " + tmp + ": it is a folder"), o.err);
        o = main("bench", "--iterations", "1000000", "--max-seconds", "60", "--chart", "/nonexistent/dir/c.png");
        assertEquals(1, o.code, o.err);
        assertTrue(o.err.contains("--chart: cannot write /nonexistent/dir/c.png: folder /nonexistent/dir does not exist"),
                o.err);
        assertEquals("", o.out, "nothing was timed");
    }

    @Test
    void anUnreadableInputIsNamedByItsOption() {
        String out = tmp.resolve("o.npy").toString();
        Outcome o = main("run", "--q", "nope.npy", "--k", npy("k4"), "--v", npy("v4"), "--out", out);
        assertEquals(1, o.code, o.err);
        assertEquals("panattn run: --q: cannot read nope.npy: no such file\n", o.err);
        o = main("run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--mask", "nope.npy", "--out", out);
        assertEquals("panattn run: --mask: cannot read nope.npy: no such file\n", o.err);
        o = main("run", "--variant", "mha", "--query", MHA + "x.npy", "--heads", "4", "--in-proj-weight",
                MHA + "in_proj_weight.npy", "--out-proj-weight", "nope.npy", "--out", out);
        assertEquals("panattn run: --out-proj-weight: cannot read nope.npy: no such file\n", o.err);
        o = main("run", "--variant", "pooling", "--x", npy("k3"), "--query", npy("q3"), "--key-padding-mask",
                tmp.toString(), "--out", out);
        assertTrue(o.err.startsWith("panattn run: --key-padding-mask: cannot read " + tmp + ": "), o.err);
    }

    @Test
    void everyNumericOptionSaysWhatItExpected() throws IOException {
        Path table = tmp.resolve("table.npy");
        Npy.write(table, new float[32 * 4], 32, 4);
        String out = tmp.resolve("o.npy").toString();
        String[] sdpa = {"run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--out", out};
        String[] layer = {"run", "--variant", "mha", "--query", MHA + "x.npy", "--in-proj-weight",
            MHA + "in_proj_weight.npy", "--out-proj-weight", MHA + "out_proj_weight.npy", "--out", out};
        String[] bench = {"bench"};
        Object[][] cases = {
            {sdpa, "--scale abc", "--scale: expected a number, got \"abc\""},
            {sdpa, "--softcap 1,5", "--softcap: expected a number, got \"1,5\""},
            {sdpa, "--rope-base NaN", "--rope-base: expected a number, got \"NaN\""},
            {sdpa, "--rel-bias " + table + " --rel-max-distance 2.5",
                "--rel-max-distance: expected an integer from 2 to 2147483647, got \"2.5\""},
            {layer, "--heads two", "--heads: expected an integer >= 1, got \"two\""},
            {layer, "--heads 4 --kv-heads 0", "--kv-heads: expected an integer >= 1, got \"0\""},
            {layer, "--heads 4 --window -1", "--window: expected W (an integer >= 0) or L,R (integers >= 0, or -1 for "
                + "no bound), got \"-1\""},
            {sdpa, "--window 2,-3", "--window: expected W (an integer >= 0) or L,R (integers >= 0, or -1 for no bound), "
                + "got \"2,-3\""},
            {sdpa, "--window 1,2,3", "--window: expected W (an integer >= 0) or L,R (integers >= 0, or -1 for no "
                + "bound), got \"1,2,3\""},
            {sdpa, "--window x,2", "--window: expected W (an integer >= 0) or L,R (integers >= 0, or -1 for no bound), "
                + "got \"x,2\""},
            {sdpa, "--key-lengths 3,-1", "--key-lengths: expected integers >= 0 separated by commas, one a batch row, "
                + "got \"3,-1\""},
            {sdpa, "--key-lengths 3,,1", "--key-lengths: expected integers >= 0 separated by commas, one a batch row, "
                + "got \"3,,1\""},
            {bench, "--b x", "--b: expected an integer from 1 to 2147483647, got \"x\""},
            {bench, "--h 0", "--h: expected an integer from 1 to 2147483647, got \"0\""},
            {bench, "--hkv 1e3", "--hkv: expected an integer from 1 to 2147483647, got \"1e3\""},
            {bench, "--lq 3000000000", "--lq: expected an integer from 1 to 2147483647, got \"3000000000\""},
            {bench, "--lk -5", "--lk: expected an integer from 1 to 2147483647, got \"-5\""},
            {bench, "--d 99999999999999999999",
                "--d: expected an integer from 1 to 2147483647, got \"99999999999999999999\""},
            {bench, "--workload W4 --e big", "--e: expected an integer from 1 to 2147483647, got \"big\""},
            {bench, "--threads -1", "--threads: expected an integer from 0 to 2147483647, got \"-1\""},
            {bench, "--iterations many", "--iterations: expected an integer from 1 to 1000000, got \"many\""},
            {bench, "--max-seconds soon", "--max-seconds: expected a number, got \"soon\""},
            {bench, "--dtype f64", "--dtype: expected f32, f16 or bf16, got 'f64'"},
        };
        for (Object[] c : cases) {
            String[] base = (String[]) c[0];
            Outcome o = main(Stream.concat(Arrays.stream(base), Arrays.stream(((String) c[1]).split(" ")))
                    .toArray(String[]::new));
            assertEquals(2, o.code, c[1] + ": " + o.err);
            assertTrue(o.err.startsWith("panattn " + base[0] + ": " + c[2] + "\n"), c[1] + ": " + o.err);
        }
    }

    @Test
    void benchRefusesCasesThatCannotFitInMemoryBeforeTimingAnything() {
        Outcome o = main("bench", "--lq", "2000000000", "--d", "128");
        assertUsageError(o, "panattn bench: --lq 2000000000 --d 128: B=1 H=8 Lq=2000000000 Lk=2000000000 D=128 needs "
                + "32768.0 GB for its tensors, the largest 8192.0 GB; a Java array here holds at most ");
        assertEquals("", o.out, "nothing was timed");
        assertUsageError(main("bench", "--workload", "W4", "--e", "2000000000", "--h", "1"),
                "panattn bench: --h 1 --e 2000000000: B=1 L=128 E=2000000000 H=1 needs ");
    }

    @Test
    void benchPrintsOneJsonDocumentWithItsContextAndDrawsAChart() throws IOException {
        Path chart = tmp.resolve("chart.png");
        Outcome o = main("bench", "--b", "1", "--h", "2", "--lq", "9", "--d", "8", "--backend", "all", "--iterations",
                "3", "--max-seconds", "1", "--warmup-seconds", "0.2", "--seed", "7", "--json", "--chart", chart.toString());
        assertEquals(0, o.code, o.err);
        String[] lines = o.out.strip().split("\n");
        assertEquals(8, lines.length, o.out);
        assertTrue(lines[0].startsWith("{\"context\":{") && lines[1].equals("\"skipped\":[],")
                && lines[2].equals("\"read_tests\":[],") && lines[3].equals("\"results\":[")
                && lines[7].equals("]}"), o.out);
        for (String key : new String[] {"panattn", "date", "cpu", "jvm", "isa", "blas", "threads", "bench_threads",
            "iterations", "seed", "args"}) {
            assertTrue(lines[0].contains("\"" + key + "\":"), key + " in " + lines[0]);
        }
        assertTrue(lines[0].contains("\"seed\":7") && lines[0].contains("\"panattn\":\"" + Panattn.version() + "\""),
                lines[0]);
        String[] backends = {"native", "vector", "java"};
        for (int i = 0; i < 3; i++) {
            String r = lines[4 + i];
            assertTrue(r.contains("\"backend\":\"" + backends[i] + "\""), r);
            for (String key : new String[] {"workload", "case", "lq", "threads", "samples", "cold_ns", "warmup_calls",
                "median_ns", "p10_ns", "p90_ns", "gflops", "gbps", "time_vs_native", "kv_gbps"}) {
                assertTrue(r.contains("\"" + key + "\":"), key + " in " + r);
            }
            assertTrue(r.contains("\"read_gbps\":null,\"kv_vs_read\":null"), "not a decoding case: " + r);
        }
        assertTrue(lines[4].contains("\"time_vs_native\":1,") || lines[4].contains("\"time_vs_native\":1}"), lines[4]);
        assertTrue(o.err.contains("median") && o.err.lines().count() == 4, "the table, as progress: " + o.err);
        BufferedImage image = ImageIO.read(chart.toFile());
        assertTrue(image.getWidth() >= 900, "chart written");
        Outcome w4 = main("bench", "--workload", "W4", "--e", "64", "--h", "4", "--lq", "8", "--backend", "native",
                "--iterations", "2", "--max-seconds", "1", "--warmup-seconds", "0.2");
        assertEquals(0, w4.code, w4.err);
        assertTrue(w4.out.contains("W4") && w4.out.contains("E=64"), w4.out);
    }

    /** --dtype stores Q, K and V in half precision: each result says so, and its GB/s counts 2-byte inputs. */
    @Test
    void benchDtypeStoresTheInputsInHalfPrecisionAndReportsIt() {
        Outcome o = main("bench", "--workload", "W2", "--h", "2", "--hkv", "2", "--lk", "300", "--d", "8", "--dtype", "bf16",
                "--backend", "native,java", "--iterations", "3", "--max-seconds", "1", "--warmup-seconds", "0.1",
                "--json");
        assertEquals(0, o.code, o.err);
        java.util.List<String> results = o.out.lines().filter(l -> l.contains("\"backend\"")).toList();
        assertEquals(2, results.size(), o.out);
        for (String r : results) {
            assertTrue(r.contains("\"dtype\":\"bf16\"") && r.contains("Lk=300 D=8 bf16"), r);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"gbps\":([0-9.eE+-]+)").matcher(r);
            assertTrue(m.find(), r);
            // Q and K, V in 2 bytes, the output in 4: B (6 H Lq D + 4 Hkv Lk D) bytes over the median.
            double bytes = 6.0 * 2 * 1 * 8 + 4.0 * 2 * 300 * 8;
            assertEquals(bytes / jsonNumber(r, "median_ns"), Double.parseDouble(m.group(1)), 1e-9 * bytes, r);
        }
        assertUsageError(main("bench", "--workload", "W4", "--dtype", "f16"),
                "panattn bench: --dtype f16: W4 is a multi-head layer, whose projections are float32");
        assertUsageError(main("bench", "--api", "all", "--dtype", "f16"),
                "panattn bench: --api arrays: float[] arrays hold float32; --dtype f16 applies to the tensor and "
                + "prepared calls");
        assertUsageError(main("bench", "--variant", "general", "--dtype", "bf16"),
                "panattn bench: --dtype bf16: --variant general takes float32 Q and K; half precision applies to "
                + "sdpa, softcap, alibi, t5");
    }

    /** The value of a numeric JSON key in a line. */
    private static long jsonNumber(String line, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + key + "\":(\\d+)").matcher(line);
        assertTrue(m.find(), key + " in " + line);
        return Long.parseLong(m.group(1));
    }

    /** The value of a decimal JSON key in a line. */
    private static double jsonDecimal(String line, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + key + "\":([0-9.e+-]+)").matcher(line);
        assertTrue(m.find(), key + " in " + line);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void benchComparesDecodingWithAReadTestOfItsKAndVOnItsThreads() {
        Outcome o = main("bench", "--workload", "W2", "--h", "4", "--hkv", "2", "--lk", "2049", "--d", "16",
                "--threads", "2", "--backend", "native,java", "--iterations", "5", "--max-seconds", "1",
                "--warmup-seconds", "0.2", "--json");
        assertEquals(0, o.code, o.err);
        String[] lines = o.out.strip().split("\n");
        long kv = 4L * 2 * 2 * 2049 * 16;
        assertTrue(lines[2].startsWith("\"read_tests\":[{\"bytes\":"), lines[2]);
        long read = jsonNumber(lines[2], "bytes");
        assertTrue(read >= kv && read < kv + 2 * ReadBandwidth.STEP,
                "the read test reads as many bytes as K and V: " + lines[2]);
        assertEquals(2, jsonNumber(lines[2], "threads"), lines[2]);
        assertTrue(lines[2].contains("\"method\":\"vector\""), "the tests' JVM has the Vector API: " + lines[2]);
        double readGbps = jsonDecimal(lines[2], "gbps");
        String nat = lines[4], java = lines[5];
        assertTrue(nat.contains("\"backend\":\"native\"") && java.contains("\"backend\":\"java\""), o.out);
        double kvGbps = jsonDecimal(nat, "kv_gbps");
        assertEquals(kv / (double) jsonNumber(nat, "median_ns"), kvGbps, kvGbps * 1e-3, nat);
        assertEquals(readGbps, jsonDecimal(nat, "read_gbps"), readGbps * 1e-3, nat);
        assertEquals(kvGbps / readGbps, jsonDecimal(nat, "kv_vs_read"), kvGbps / readGbps * 1e-3, nat);
        assertTrue(java.contains("\"read_gbps\":null,\"kv_vs_read\":null"), "one thread, no read test: " + java);
        assertTrue(o.err.lines().anyMatch(l -> l.startsWith("read ") && l.contains("read test: ")
                && l.contains("(K and V), vector") && l.contains(" memory ")), "the read test's row: " + o.err);
        assertTrue(o.err.lines().anyMatch(l -> l.startsWith("W2 native reads K and V at ")
                && l.contains("% of the read test's ")), "the share of the read test: " + o.err);
        Outcome half = main("bench", "--workload", "W2", "--h", "4", "--hkv", "2", "--lk", "2049", "--d", "16",
                "--dtype", "f16", "--threads", "2", "--backend", "native", "--iterations", "3", "--max-seconds", "1",
                "--warmup-seconds", "0.1", "--json");
        assertEquals(0, half.code, half.err);
        String halfRead = half.out.strip().split("\n")[2];
        long halfBytes = jsonNumber(halfRead, "bytes");
        assertTrue(halfBytes >= kv / 2 && halfBytes < kv / 2 + 2 * ReadBandwidth.STEP,
                "an f16 cache reads half the bytes: " + halfRead);
    }

    @Test
    void benchWarmsUpUntilTheCallPathIsCompiledAndReportsTheFirstCallApart() {
        Outcome o = main("bench", "--workload", "W3", "--backend", "native", "--iterations", "1000", "--json");
        assertEquals(0, o.code, o.err);
        String r = o.out.lines().filter(l -> l.contains("\"backend\":\"native\"")).findFirst().orElseThrow();
        assertTrue(jsonNumber(r, "warmup_calls") >= 20_000, "a tiny call warms up for tens of thousands of calls: " + r);
        assertTrue(jsonNumber(r, "cold_ns") > jsonNumber(r, "median_ns"), "the first call is the slow one: " + r);
        Outcome none = main("bench", "--workload", "W3", "--backend", "native", "--iterations", "3", "--warmup-seconds",
                "0", "--json");
        assertEquals(1, jsonNumber(none.out.lines().filter(l -> l.contains("\"backend\"")).findFirst().orElseThrow(),
                "warmup_calls"), none.out);
    }

    @Test
    void benchTimesScaledDotProductThroughEachApi() {
        Outcome o = main("bench", "--workload", "W3", "--api", "all", "--backend", "native,java", "--iterations", "3",
                "--max-seconds", "1", "--warmup-seconds", "0.1", "--json");
        assertEquals(0, o.code, o.err);
        for (String api : new String[] {"tensor", "prepared", "arrays"}) {
            for (String backend : new String[] {"native", "java"}) {
                assertEquals(1, o.out.lines().filter(l -> l.contains("\"api\":\"" + api + "\"")
                        && l.contains("\"backend\":\"" + backend + "\"")).count(), api + " on " + backend + ":\n" + o.out);
            }
        }
        assertTrue(o.err.lines().anyMatch(l -> l.contains("D=64 prepared")) && o.err.lines().anyMatch(l ->
                l.contains("D=64 arrays")), o.err);
        Outcome layer = main("bench", "--workload", "W3,W4", "--e", "16", "--h", "2", "--lq", "4", "--api", "all",
                "--backend", "java", "--iterations", "2", "--max-seconds", "1", "--warmup-seconds", "0", "--json");
        assertEquals(0, layer.code, layer.err);
        assertEquals(4, layer.out.lines().filter(l -> l.contains("\"median_ns\"")).count(),
                "W4 has its tensor call only: " + layer.out);
        assertUsageError(main("bench", "--api", "tensor,fast"), "panattn bench: --api: expected all or some of "
                + "tensor, prepared, arrays, got 'fast'");
        assertUsageError(main("bench", "--workload", "W4", "--api", "prepared"), "panattn bench: --api prepared: "
                + "W4, a multi-head layer, is timed through tensors only");
        assertUsageError(main("bench", "--variant", "alibi", "--api", "arrays"), "panattn bench: --api arrays: "
                + "--variant alibi is timed through tensors only");
    }

    @Test
    void benchProfilesWhereTheLayerCallsTimeGoes() {
        String[] args = {"bench", "--workload", "W4", "--e", "64", "--h", "4", "--lq", "8", "--backend", "native,java",
            "--profile", "--iterations", "5", "--max-seconds", "1", "--warmup-seconds", "0.1"};
        Outcome o = main(Stream.concat(Arrays.stream(args), Stream.of("--json")).toArray(String[]::new));
        assertEquals(0, o.code, o.err);
        java.util.List<String> results = o.out.lines().filter(l -> l.contains("\"profile\":")).toList();
        assertEquals(2, results.size(), o.out);
        for (String r : results) {
            String profile = r.substring(r.indexOf("\"profile\":"));
            long in = jsonNumber(profile.substring(profile.indexOf("\"input_projections\"")), "median_ns");
            long core = jsonNumber(profile.substring(profile.indexOf("\"attention_core\"")), "median_ns");
            long out = jsonNumber(profile.substring(profile.indexOf("\"output_projection\"")), "median_ns");
            java.util.regex.Matcher overhead = java.util.regex.Pattern.compile("\"java_overhead_ns\":(-?\\d+)")
                    .matcher(profile);
            assertTrue(overhead.find() && in > 0 && core > 0 && out > 0, r);
            assertEquals(jsonNumber(r, "median_ns"), in + core + out + Long.parseLong(overhead.group(1)),
                    "the parts and the overhead make the layer's median: " + r);
            assertEquals(jsonNumber(r, "samples"), jsonNumber(profile, "samples"), "timed in the same rounds: " + r);
        }
        // The table: after each layer row, its parts with their shares of the layer's median, adding up to 100%.
        Outcome table = main(args);
        assertEquals(0, table.code, table.err);
        String[] parts = {"input projections", "attention core", "output projection", "Java overhead"};
        for (String backend : new String[] {"native", "java"}) {
            java.util.List<String> lines = table.out.lines().toList();
            int layer = lines.indexOf(lines.stream().filter(l -> l.startsWith("W4 ") && l.contains(" " + backend + " "))
                    .findFirst().orElseThrow());
            double shares = 0;
            for (int i = 0; i < parts.length; i++) {
                String line = lines.get(layer + 1 + i);
                assertTrue(line.contains(parts[i]) && line.contains(" " + backend + " "), backend + ": " + line);
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(-?\\d+)% of the layer").matcher(line);
                assertTrue(m.find(), line);
                shares += Integer.parseInt(m.group(1));
            }
            assertEquals(100, shares, 2, "shares rounded to whole percents:\n" + table.out);
        }
        assertUsageError(main("bench", "--workload", "W3", "--profile"), "panattn bench: --profile: only W4, a "
                + "multi-head layer, has parts to profile");
    }

    @Test
    void theSeedChoosesTheInputs() {
        String[] base = {"bench", "--workload", "W3", "--variant", "rope", "--backend", "java", "--iterations", "1",
            "--max-seconds", "1", "--warmup-seconds", "0.2", "--json"};
        Outcome a = main(Stream.concat(Arrays.stream(base), Stream.of("--seed", "-3")).toArray(String[]::new));
        assertEquals(0, a.code, a.err);
        assertTrue(a.out.contains("\"seed\":-3"), a.out);
        assertUsageError(main("bench", "--seed", "x"), "panattn bench: --seed: expected an integer, got \"x\"");
    }

    @Test
    void infoAndDemoPrintTheirReports() {
        Outcome info = main("info");
        assertEquals(0, info.code, info.err);
        assertTrue(info.out.contains("isa:") && info.out.contains("blas:") && info.out.contains("library:"),
                info.out);
    }

    @Test
    void benchTimesEveryVariantOnEveryBackend() {
        Outcome o = main("bench", "--workload", "W3", "--lq", "9", "--lk", "11", "--variant", "all", "--backend", "all",
                "--warmup-seconds", "0.1", "--iterations", "3", "--max-seconds", "1");
        assertEquals(0, o.code, o.err);
        for (String variant : new String[] {"general", "additive", "concat-tanh", "concat-linear", "softcap", "alibi",
            "t5", "rope"}) {
            for (String backend : new String[] {"native", "vector", "java"}) {
                assertTrue(o.out.lines().anyMatch(l -> l.contains(variant + " B=1 H=1 Lq=9 Lk=11 D=64")
                        && l.contains(" " + backend + " ")), variant + " on " + backend + ":\n" + o.out);
            }
        }
        assertEquals(1 + 9 * 3, o.out.lines().count(), o.out);
        assertUsageError(main("bench", "--variant", "sdpa,fast"), "panattn bench: --variant: expected all or some of "
                + "sdpa, general, additive, concat-tanh, concat-linear, softcap, alibi, t5, rope, got 'fast'");
        assertUsageError(main("bench", "--workload", "W4", "--variant", "alibi"), "panattn bench: --variant alibi: W4 "
                + "is a multi-head layer");
    }

    @Test
    void everyCommandHasItsOwnHelp() {
        for (String command : new String[] {"info", "demo", "run", "decode", "bench"}) {
            Outcome o = main(command, "--help");
            assertEquals(0, o.code, command + ": " + o.err);
            assertTrue(o.out.startsWith("usage: panattn " + command), command + ":\n" + o.out);
            assertEquals("", o.err);
            assertEquals(o.out, main("help", command).out, "help " + command + " and " + command + " --help");
        }
        String run = main("run", "--help").out;
        for (String option : new String[] {"--variant", "--q", "--mask", "--causal", "--causal-align", "--scale",
            "--softcap", "--alibi", "--rel-bias", "--rel-max-distance", "--rel-unidirectional", "--rope-base",
            "--rope-layout", "--w", "--wq", "--wk", "--v-vec", "--bias", "--attn-weight", "--attn-bias",
            "--combine-weight", "--combine-bias", "--query", "--heads", "--kv-heads", "--in-proj-weight",
            "--q-proj-weight", "--out-proj-weight", "--key-padding-mask", "--attn-mask", "--window", "--key-lengths",
            "--seq-first",
            "--average-weights", "--x", "--backend", "--out", "--weights"}) {
            assertTrue(run.contains(option + " "), option + " in run --help:\n" + run);
        }
        String decode = main("decode", "--help").out;
        for (String option : new String[] {"--x", "--seq-first", "--prompt-length", "--backend", "--out", "--timings",
            "--heads", "--kv-heads", "--in-proj-weight", "--q-proj-weight", "--k-proj-weight", "--v-proj-weight",
            "--in-proj-bias", "--out-proj-weight", "--out-proj-bias", "--rope-base", "--rope-layout", "--window",
            "--scale", "--softcap", "--alibi", "--rel-bias", "--rel-max-distance", "--rel-unidirectional"}) {
            assertTrue(decode.contains(option + " "), option + " in decode --help:\n" + decode);
        }
        String bench = main("bench", "--help").out;
        for (String option : new String[] {"--workload", "--hkv", "--variant", "--api", "--profile", "--threads",
            "--iterations", "--max-seconds", "--seed", "--json", "--chart"}) {
            assertTrue(bench.contains(option + " "), option + " in bench --help:\n" + bench);
        }
        Outcome top = main("help");
        assertEquals(0, top.code);
        for (String command : new String[] {"info", "demo", "run", "decode", "bench", "help"}) {
            assertTrue(top.out.contains("\n  " + command + " "), command + " in:\n" + top.out);
        }
        assertEquals(top.out, main("--help").out);
        Outcome none = main();
        assertEquals(2, none.code);
        assertEquals(top.out, none.err, "no command: the usage, on stderr");
    }

    @Test
    void versionNamesTheLibraryAndTheNativeLibrary() {
        Outcome o = main("--version");
        assertEquals(0, o.code, o.err);
        String[] lines = o.out.split("\n");
        assertTrue(lines[0].startsWith("panattn " + Panattn.version() + ", Java "), o.out);
        assertTrue(lines[1].startsWith("native: libpanattn " + Panattn.version() + ", " + Panattn.isa().id() + ", "),
                o.out);
    }

    @Test
    void demoAndInfoTakeNoArguments() {
        assertUsageError(main("demo", "fast"), "panattn demo: unexpected argument 'fast'\n", "usage: panattn demo");
        assertUsageError(main("info", "--verbose"), "panattn info: unknown option '--verbose'");
        assertUsageError(main("info", "x", "y"), "panattn info: unexpected argument 'x'");
    }

    @Test
    void infoJsonIsOneObjectWithTheContext() {
        Outcome o = main("info", "--json");
        assertEquals(0, o.code, o.err);
        assertEquals(1, o.out.lines().count(), o.out);
        for (String key : new String[] {"\"panattn\":\"" + Panattn.version() + "\"", "\"cpu\":", "\"jvm\":",
            "\"isa\":\"" + Panattn.isa().id() + "\"", "\"blas\":", "\"threads\":", "\"native\":true",
            "\"default_backend\":\"native\""}) {
            assertTrue(o.out.contains(key), key + " in " + o.out);
        }
    }

    /** Checked against the inputs before the call: B lengths, each at most Lk, and a one-sided window's causal rule. */
    @Test
    void keyLengthsAndWindowsThatDoNotFitTheInputsAreNamed() {
        String out = tmp.resolve("o.npy").toString();
        String[] sdpa = {"run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--out", out};
        Object[][] cases = {
            {"--key-lengths 1,2,3", "panattn run: --key-lengths 1,2,3: expected one length a batch row, B = 2, got 3\n"},
            {"--key-lengths 7,8", "panattn run: --key-lengths 7,8: row 1's length 8 is more than its Lk = 7 keys\n"},
            {"--window 3", "panattn run: --window 3 needs --causal or --causal-align: the window counts back from each "
                + "query's causal position (--window L,R needs neither)\n"},
        };
        for (Object[] c : cases) {
            Outcome o = main(Stream.concat(Arrays.stream(sdpa), Arrays.stream(((String) c[0]).split(" ")))
                    .toArray(String[]::new));
            assertEquals(2, o.code, c[0] + ": " + o.err);
            assertTrue(o.err.startsWith((String) c[1]) && o.err.contains("usage: panattn run"), c[0] + ": " + o.err);
        }
        assertFalse(Files.exists(Path.of(out)), "nothing was written");
    }

    @Test
    void optionsOfAnotherVariantAndMistypedOnesAreRefused() {
        String out = tmp.resolve("o.npy").toString();
        assertUsageError(main("run", "--q", npy("q4"), "--k", npy("k4"), "--v", npy("v4"), "--heads", "2", "--out",
                out), "panattn run: --heads is not an option of --variant sdpa\n");
        assertUsageError(main("run", "--variant", "pooling", "--x", npy("k3"), "--query", npy("q3"), "--causal",
                "--out", out), "panattn run: --causal is not an option of --variant pooling");
        assertUsageError(main("run", "--variant", "general", "--q", npy("q3"), "--k", npy("k3"), "--v", npy("v3"),
                "--wq", npy("q3"), "--out", out), "--wq is not an option of --variant general");
        assertUsageError(main("run", "--variant", "pooling", "--x", npy("k3"), "--query", npy("q3"), "--window", "1,1",
                "--out", out), "panattn run: --window is not an option of --variant pooling");
        assertUsageError(main("run", "--variant", "mha", "--query", MHA + "x.npy", "--heads", "4", "--key-lengths", "3",
                "--out", out), "panattn run: --key-lengths is not an option of --variant mha");
        assertUsageError(main("run", "--variant", "attn"), "panattn run: --variant: expected sdpa, mha, general, "
                + "additive, concat, concat-tanh, encoder-decoder, pooling or onnx, got 'attn'");
        assertUsageError(main("run", "--qq", npy("q4")), "panattn run: unknown option '--qq'");
        assertUsageError(main("run", "--backend", "gpu"), "panattn run: --backend: expected native, java or vector, "
                + "got 'gpu'");
        assertUsageError(main("run", "--out", out, "--out", out), "panattn run: --out is given twice");
        assertUsageError(main("run", "--k", npy("k4"), "--v", npy("v4"), "--out", out), "panattn run: --q is required");
        assertUsageError(main("bench", "--backend", "native,gpu"), "panattn bench: --backend: expected all or some "
                + "of native, java, vector, got 'gpu'");
        assertFalse(Files.exists(Path.of(out)), "nothing was written");
    }
}
