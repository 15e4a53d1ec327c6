package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.panattn.Backend;
import org.panattn.OnnxAttention;
import org.panattn.Tensor;

/** {@code run --variant onnx} writes what {@link OnnxAttention} computes from the same files and attributes. */
class OnnxRunCommandTest {
    @TempDir
    Path tmp;

    private final SplittableRandom rnd = new SplittableRandom(29);

    private record Outcome(int code, String out, String err) {
    }

    private static Outcome main(List<String> args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private String path(String name) {
        return tmp.resolve(name + ".npy").toString();
    }

    /** A random float32 file, and its tensor in {@code arena}. */
    private Tensor floats(Arena arena, String name, long... shape) throws IOException {
        float[] x = new float[Math.toIntExact(count(shape))];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        Npy.write(tmp.resolve(name + ".npy"), x, shape);
        return Tensor.of(arena, x, shape);
    }

    private static long count(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    /** A bool '|b1' or int64 '<i8' file, as NumPy writes them. */
    private void write(String name, String descr, byte[] data, long... shape) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (long s : shape) {
            dims.append(s).append(", ");
        }
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
        String header = dict + " ".repeat((64 - (10 + dict.length() + 1) % 64) % 64) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length() + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length());
        b.put(header.getBytes(StandardCharsets.ISO_8859_1)).put(data);
        Files.write(tmp.resolve(name + ".npy"), b.array());
    }

    private OnnxAttention.AttnMask bools(Arena arena, String name, long... shape) throws IOException {
        boolean[] keep = new boolean[Math.toIntExact(count(shape))];
        byte[] bytes = new byte[keep.length];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = rnd.nextInt(4) > 0;
            bytes[i] = (byte) (keep[i] ? 1 : 0);
        }
        write(name, "|b1", bytes, shape);
        return OnnxAttention.AttnMask.keep(arena, keep, shape);
    }

    private void int64(String name, long... values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        write(name, "<i8", b.array(), values.length);
    }

    private void assertFile(String name, Tensor want) throws IOException {
        Npy.Array got = Npy.read(tmp.resolve(name + ".npy"));
        assertArrayEquals(want.shape(), got.shape(), name + ": shape");
        float[] w = want.toArray();
        for (int i = 0; i < w.length; i++) {
            assertEquals(w[i], got.floats()[i], 1e-6f * Math.max(1, Math.abs(w[i])), name + ": element " + i);
        }
    }

    private static List<String> args(String... args) {
        List<String> all = new ArrayList<>(List.of("run", "--variant", "onnx"));
        all.addAll(List.of(args));
        return all;
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java", "vector"})
    void threeDimensionalDecodingWithAPastEqualsTheApi(String backend) throws IOException {
        Backend b = new Options.BackendName().convert(backend);
        try (Arena arena = Arena.ofConfined()) {
            // B 2, Lq 3, Lkv 3, past 4, Hq 4, Hkv 2, D 5, Dv 3; a rank-3 bool mask (Hq, Lq, total).
            Tensor q = floats(arena, "Q", 2, 3, 20), k = floats(arena, "K", 2, 3, 10), v = floats(arena, "V", 2, 3, 6);
            Tensor pk = floats(arena, "past_key", 2, 2, 4, 5), pv = floats(arena, "past_value", 2, 2, 4, 3);
            OnnxAttention.AttnMask mask = bools(arena, "attn_mask", 4, 3, 7);
            OnnxAttention op = OnnxAttention.builder().isCausal(true).qNumHeads(4).kvNumHeads(2).softcap(1.5f)
                    .scale(0.7f).qkMatmulOutputMode(2).softmaxPrecision(1).backend(b).build();
            OnnxAttention.Outputs want = op.allocateOutputs(arena, q, k, v, pk, pv, true, true);
            op.run(q, k, v, mask, pk, pv, null, want.y(), want.presentKey(), want.presentValue(),
                    want.qkMatmulOutput());
            Outcome o = main(args("--backend", backend, "--q", path("Q"), "--k", path("K"), "--v", path("V"),
                    "--attn-mask", path("attn_mask"), "--past-key", path("past_key"), "--past-value",
                    path("past_value"), "--is-causal", "--q-num-heads", "4", "--kv-num-heads", "2", "--softcap", "1.5",
                    "--scale", "0.7", "--qk-matmul-output-mode", "2", "--softmax-precision", "1", "--out", path("Y"),
                    "--present-key", path("present_key"), "--present-value", path("present_value"),
                    "--qk-matmul-output", path("qk")));
            assertEquals(0, o.code, o.err);
            assertFile("Y", want.y());
            assertFile("present_key", want.presentKey());
            assertFile("present_value", want.presentValue());
            assertFile("qk", want.qkMatmulOutput());
        }
    }

    @Test
    void fourDimensionalInputsWithNonpadLengthsAndAShortFloatMaskEqualTheApi() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            // B 2, Hq 3, Hkv 1, Lq 4, Lkv 6, D 7, Dv 2; mask (Lq, 5), padded to 6 keys with -inf.
            Tensor q = floats(arena, "Q", 2, 3, 4, 7), k = floats(arena, "K", 2, 1, 6, 7);
            Tensor v = floats(arena, "V", 2, 1, 6, 2), m = floats(arena, "attn_mask", 4, 5);
            int64("nonpad", 6, 3);
            OnnxAttention op = OnnxAttention.builder().isCausal(true).qkMatmulOutputMode(3).build();
            OnnxAttention.Outputs want = op.allocateOutputs(arena, q, k, v, null, null, false, true);
            op.run(q, k, v, OnnxAttention.AttnMask.additive(m), null, null, new long[] {6, 3}, want.y(), null, null,
                    want.qkMatmulOutput());
            Outcome o = main(args("--q", path("Q"), "--k", path("K"), "--v", path("V"), "--attn-mask",
                    path("attn_mask"), "--nonpad-kv-seqlen", path("nonpad"), "--is-causal", "--qk-matmul-output-mode",
                    "3", "--out", path("Y"), "--qk-matmul-output", path("weights")));
            assertEquals(0, o.code, o.err);
            assertFile("Y", want.y());
            assertFile("weights", want.qkMatmulOutput());
        }
    }

    @Test
    void badOptionsAreNamed() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            floats(arena, "Q", 1, 2, 3, 4);
            floats(arena, "K", 1, 1, 5, 4);
            floats(arena, "V", 1, 1, 5, 4);
            floats(arena, "K3", 1, 1, 5, 3);
        }
        int64("lengths", 9);
        List<String> qkv = List.of("--q", path("Q"), "--k", path("K"), "--v", path("V"), "--out", path("Y"));
        String[][] usage = {
            {"--weights", path("W")}, {"--weights is not an option of --variant onnx"},
            {"--mask", path("K")}, {"--mask is not an option of --variant onnx"},
            {"--qk-matmul-output-mode", "4"}, {"--qk-matmul-output-mode: expected an integer from 0 to 3, got \"4\""},
            {"--softmax-precision", "6"}, {"--softmax-precision: expected 1 (FLOAT), 10 (FLOAT16), 11 (DOUBLE) or 16 "
                + "(BFLOAT16), got \"6\""},
            {"--q-num-heads", "0"}, {"--q-num-heads: expected an integer >= 1, got \"0\""},
            {"--scale", "-1"}, {"--scale: scale must be finite and > 0"},
            {"--softcap", "-2"}, {"--softcap: expected a finite number >= 0, got \"-2\""},
        };
        for (int i = 0; i < usage.length; i += 2) {
            List<String> a = args(usage[i]);
            a.addAll(qkv);
            Outcome o = main(a);
            assertEquals(2, o.code, String.join(" ", a) + ": " + o.err);
            assertTrue(o.err.startsWith("panattn run: " + usage[i + 1][0]), o.err);
        }
        String[][] failures = {
            {"--nonpad-kv-seqlen", path("Q")}, {"--nonpad-kv-seqlen: " + path("Q") + ": expected int64 '<i8', got "
                + "float32 '<f4'"},
            {"--past-key", path("lengths")}, {"--past-key: " + path("lengths") + ": dtype '<i8' (int64) is not "
                + "supported here"},
            {"--nonpad-kv-seqlen", path("lengths")}, {"nonpad_kv_seqlen[0] = 9, expected 0 to kv_sequence_length = 5"},
        };
        for (int i = 0; i < failures.length; i += 2) {
            List<String> a = args(failures[i]);
            a.addAll(qkv);
            Outcome o = main(a);
            assertEquals(1, o.code, String.join(" ", a) + ": " + o.err);
            assertTrue(o.err.startsWith("panattn run: " + failures[i + 1][0]), o.err);
        }
        List<String> a = args("--q", path("Q"), "--k", path("K3"), "--v", path("V"), "--out", path("Y"));
        Outcome o = main(a);
        assertEquals(1, o.code, o.err);
        assertTrue(o.err.startsWith("panattn run: K: expected shape (batch_size, kv_num_heads, kv_sequence_length, "
                + "head_size) = (1, *, *, 4), got (1, 1, 5, 3)"), o.err);
        assertFalse(Files.exists(tmp.resolve("Y.npy")), "nothing was written");
    }

    @Test
    void helpListsEveryOptionOfTheVariant() {
        String help = main(List.of("run", "--help")).out;
        for (String option : OnnxRunCommand.OPTIONS) {
            assertTrue(help.contains(option + " "), option + " in run --help");
        }
        assertTrue(help.contains("panattn run --variant onnx --q Q.npy"), help);
    }
}
