package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import org.panattn.Backend;

/** What the tests of the command line against the API share: random .npy files in a folder, and running a command. */
final class CliFixture {
    private final Path dir;
    private final SplittableRandom rnd;

    CliFixture(Path dir, long seed) {
        this.dir = dir;
        this.rnd = new SplittableRandom(seed);
    }

    /** A command's exit code and what it printed. */
    record Outcome(int code, String out, String err) {
    }

    /** Runs the command line in this JVM. */
    static Outcome main(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Runs a command that must succeed, and returns the .npy file {@code output} it wrote. */
    float[] run(String output, String... args) throws IOException {
        Outcome o = main(args);
        assertEquals(0, o.code(), String.join(" ", args) + ":\n" + o.err());
        return Npy.read(dir.resolve(output + ".npy")).floats();
    }

    /** The path of {@code name}.npy in the folder. */
    String path(String name) {
        return dir.resolve(name + ".npy").toString();
    }

    /** Writes {@code name}.npy with random values in ±1 and returns them. */
    float[] floats(String name, long... shape) throws IOException {
        float[] x = new float[Math.toIntExact(count(shape))];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        Npy.write(dir.resolve(name + ".npy"), x, shape);
        return x;
    }

    /** Writes {@code name}.npy as a bool array, each element true with probability 3/4, and returns it. */
    boolean[] booleans(String name, long... shape) throws IOException {
        boolean[] b = new boolean[Math.toIntExact(count(shape))];
        for (int i = 0; i < b.length; i++) {
            b[i] = rnd.nextInt(4) != 0;
        }
        writeBool(dir.resolve(name + ".npy"), b, shape);
        return b;
    }

    /** A NumPy bool ('|b1') file, which the command line reads but never writes. */
    private static void writeBool(Path file, boolean[] values, long... shape) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (long s : shape) {
            dims.append(s).append(shape.length == 1 ? "," : ", ");
        }
        String dict = "{'descr': '|b1', 'fortran_order': False, 'shape': (" + dims.toString().replaceFirst(", $", "")
                + "), }";
        String header = dict + " ".repeat((64 - (10 + dict.length() + 1) % 64) % 64) + "\n";
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (byte) header.length(),
            (byte) (header.length() >> 8)});
        bytes.writeBytes(header.getBytes(StandardCharsets.ISO_8859_1));
        for (boolean v : values) {
            bytes.write(v ? 1 : 0);
        }
        Files.write(file, bytes.toByteArray());
    }

    private static long count(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    /** The backend's command-line name. */
    static String name(Backend backend) {
        return Options.name(backend);
    }

    /** Equal to within float32 rounding of the magnitudes involved. */
    static void assertClose(float[] expected, float[] got, String what) {
        assertEquals(expected.length, got.length, what + ": length");
        double err = 0, scale = 1e-30;
        for (int i = 0; i < got.length; i++) {
            err = Math.max(err, Math.abs(got[i] - expected[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        assertTrue(err / scale < 1e-5, what + ": relative difference " + err / scale);
    }

    /** Differs by more than rounding: an option that changes nothing would leave the output as it was. */
    static void assertDiffers(float[] before, float[] after, String what) {
        double diff = 0;
        for (int i = 0; i < after.length; i++) {
            diff = Math.max(diff, Math.abs(after[i] - before[i]));
        }
        assertTrue(diff > 1e-4, what + " changes nothing (largest difference " + diff + ")");
    }

    /** Exit code 2 (a usage error) with every part in the message. */
    static void assertUsageError(Outcome o, String... parts) {
        assertEquals(2, o.code(), o.err());
        for (String part : parts) {
            assertTrue(o.err().contains(part), part + " in " + o.err());
        }
    }
}
