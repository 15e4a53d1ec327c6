package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The .npy reader on broken files: each message names the file, what is wrong and what was expected. */
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
