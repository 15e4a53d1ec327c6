package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.panattn.Dtype;
import org.panattn.Tensor;

/**
 * The .npy reader and writer: float16 and float32 round trips, a float16
 * file NumPy wrote, and broken files, whose messages name the file, what is
 * wrong and what was expected.
 */
class NpyTest {
    @TempDir
    Path tmp;

    /** A float32 file of format version {@code major} with this shape text, header length and data bytes. */
    private Path file(int major, String shape, long headerLength, int dataBytes) throws IOException {
        byte[] header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        int start = major == 1 ? 10 : 12;
        ByteBuffer b = ByteBuffer.allocate(start + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) {
            b.putShort((short) headerLength);
        } else {
            b.putInt((int) headerLength);
        }
        b.put(header);
        Path f = tmp.resolve("x.npy");
        Files.write(f, b.array());
        return f;
    }

    private Path file(String shape, int dataBytes) throws IOException {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }\n";
        return file(1, shape, dict.length(), dataBytes);
    }

    private static void assertRefused(Path f, String message) {
        IOException e = assertThrows(IOException.class, () -> Npy.read(f));
        assertEquals(f + ": " + message, e.getMessage());
    }

    @Test
    void readsInt64OnlyWhereLengthsAreAsked() throws IOException {
        String dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }\n";
        ByteBuffer b = ByteBuffer.allocate(10 + dict.length() + 24).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) dict.length());
        b.put(dict.getBytes(StandardCharsets.ISO_8859_1)).putLong(7).putLong(0).putLong(1L << 40);
        Path f = tmp.resolve("lengths.npy");
        Files.write(f, b.array());
        assertArrayEquals(new long[] {7, 0, 1L << 40}, Npy.readInt64("--lengths", f.toString()).longs());
        IOException e = assertThrows(IOException.class, () -> Npy.read("--q", f.toString()));
        assertEquals("--q: " + f + ": dtype '<i8' (int64) is not supported here; expected float32 '<f4' or float16 "
                + "'<f2' (or bool '|b1' for masks)", e.getMessage());
        Path floats = tmp.resolve("floats.npy");
        Npy.write(floats, new float[] {1}, 1);
        e = assertThrows(IOException.class, () -> Npy.readInt64("--lengths", floats.toString()));
        assertEquals("--lengths: " + floats + ": expected int64 '<i8', got float32 '<f4'", e.getMessage());
    }

    @Test
    void readsWhatItWrites() throws IOException {
        Path f = tmp.resolve("ok.npy");
        Npy.write(f, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        assertArrayEquals(new long[] {2, 3}, Npy.read(f).shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, Npy.read(f).floats());
        assertArrayEquals(new long[] {0, 3}, Npy.read(file("0, 3", 0)).shape());
        assertArrayEquals(new long[] {2}, Npy.read(file("2,", 8)).shape());
        assertArrayEquals(new long[0], Npy.read(file("", 4)).shape());
    }

    @Test
    void float16RoundTripsBitForBitAndBfloat16IsWrittenAsFloat32() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            float[] x = {1.5f, -0f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY, 0.1f, -2.71828f};
            Tensor f16 = Tensor.of(arena, x, 7, 1).to(arena, Dtype.F16).permute(1, 0); // a strided view
            Path f = tmp.resolve("h.npy");
            Npy.write(f, f16);
            byte[] bytes = Files.readAllBytes(f);
            String header = new String(bytes, 10, bytes.length - 10 - 14, StandardCharsets.ISO_8859_1);
            assertTrue(header.contains("'descr': '<f2'") && header.contains("'shape': (1, 7)"), header);
            assertEquals(0, (bytes.length - 14) % 64, "the header pads the data to 64 bytes");
            ByteBuffer data = ByteBuffer.wrap(bytes, bytes.length - 14, 14).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < 7; i++) {
                assertEquals(f16.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i), data.getShort(),
                        "element " + i + "'s bits");
            }
            Npy.Array back = Npy.read(f);
            assertEquals(Dtype.F16, back.dtype());
            assertArrayEquals(new long[] {1, 7}, back.shape());
            assertArrayEquals(f16.toArray(), back.floats());

            Tensor bf16 = Tensor.of(arena, x, 7).to(arena, Dtype.BF16);
            Npy.write(f, bf16);
            Npy.Array wide = Npy.read(f);
            assertEquals(Dtype.F32, wide.dtype(), "NumPy has no bfloat16: written as float32");
            assertArrayEquals(bf16.toArray(), wide.floats(), "holding each value exactly");
        }
    }

    @Test
    void readsTheFloat16NumpyWrote() throws IOException {
        Npy.Array q = Npy.read(Path.of("src/test/resources/npy/q16.npy"));
        assertEquals(Dtype.F16, q.dtype());
        assertArrayEquals(new long[] {1, 4, 3, 12}, q.shape());
        for (float v : q.floats()) {
            assertEquals(v, Float.float16ToFloat(Float.floatToFloat16(v)), "a float16 value: " + v);
            assertTrue(Math.abs(v) < 1 && v != 0, "NumPy's uniform draws in (-1, 1): " + v);
        }
    }

    @Test
    void badShapesSayWhatIsWrong() throws IOException {
        assertRefused(file("2, -32", 0), "shape (2, -32): dimensions must be >= 0");
        assertRefused(file("x,", 0), "shape (x,): not a list of integers");
        assertRefused(file("2,,3", 0), "shape (2,,3): not a list of integers");
        assertRefused(file("99999999999999999999,", 0), "shape (99999999999999999999,): dimensions must be < 2^63");
        assertRefused(file("99999999999, 99999999999", 0),
                "shape (99999999999, 99999999999) has 2^63 or more elements");
        assertRefused(file("4611686018427387904,", 0),
                "has 0 data bytes, shape (4611686018427387904,) needs 18446744073709551616");
        assertRefused(file("2, 3", 20), "has 20 data bytes, shape (2, 3) needs 24");
        Path f = file("2, -32", 0);
        assertEquals("--q: " + f + ": shape (2, -32): dimensions must be >= 0",
                assertThrows(IOException.class, () -> Npy.read("--q", f.toString())).getMessage());
    }

    @Test
    void aHeaderLengthBeyondTheFileIsNamed() throws IOException {
        Path f = file(2, "2,", 4294967295L, 8);
        assertRefused(f, "header length 4294967295 does not fit in the file (" + Files.size(f) + " bytes)");
        f = file(1, "2,", 65535, 8);
        assertRefused(f, "header length 65535 does not fit in the file (" + Files.size(f) + " bytes)");
        Files.write(f, new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 1, 0});
        assertRefused(f, "the file ends inside its header (10 bytes)");
        Files.write(f, new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 9, 0, 1, 0});
        assertRefused(f, "format version 9.0 is not supported; expected 1.0, 2.0 or 3.0");
    }
}
