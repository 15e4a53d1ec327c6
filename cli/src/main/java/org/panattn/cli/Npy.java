package org.panattn.cli;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.panattn.Dtype;
import org.panattn.Tensor;

/**
 * NumPy {@code .npy} files (format 1.0-3.0) of float32 ({@code <f4}),
 * float16 ({@code <f2}), boolean ({@code |b1}) or int64 ({@code <i8}, for
 * lengths) data in C order: enough to
 * exchange arrays with NumPy and PyTorch. NumPy has no bfloat16, so a BF16
 * tensor is written as float32 (which holds each of its values exactly).
 */
final class Npy {
    /**
     * An array read from a file, with its shape: booleans, int64 values, or
     * floats (float16 ones widened, exactly) and the file's float type, F32 or F16.
     */
    record Array(long[] shape, float[] floats, boolean[] booleans, Dtype dtype, long[] longs) {
        boolean isBoolean() {
            return booleans != null;
        }

        boolean isInt64() {
            return longs != null;
        }
    }

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern ORDER = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {
    }

    /**
     * {@link #read(Path)} of the file given to a command-line option, of floats or booleans; errors start
     * with the option.
     */
    static Array read(String option, String file) throws IOException {
        Array a = readAny(option, file);
        if (a.isInt64()) {
            throw new IOException(option + ": " + file + ": dtype '<i8' (int64) is not supported here; expected "
                    + "float32 '<f4' or float16 '<f2' (or bool '|b1' for masks)");
        }
        return a;
    }

    /** The int64 '<i8' file given to a command-line option (lengths); errors start with the option. */
    static Array readInt64(String option, String file) throws IOException {
        Array a = readAny(option, file);
        if (!a.isInt64()) {
            throw new IOException(option + ": " + file + ": expected int64 '<i8', got "
                    + (a.isBoolean() ? "bool '|b1'" : a.dtype() == Dtype.F16 ? "float16 '<f2'" : "float32 '<f4'"));
        }
        return a;
    }

    private static Array readAny(String option, String file) throws IOException {
        try {
            return read(Path.of(file));
        } catch (IOException e) {
            throw new IOException(option + ": " + e.getMessage(), e);
        }
    }

    static Array read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + reason(e), e);
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < MAGIC.length; i++) {
            if (bytes.length < 10 || bytes[i] != MAGIC[i]) {
                throw new IOException(file + ": not a .npy file");
            }
        }
        int major = bytes[6];
        if (major < 1 || major > 3) {
            throw new IOException(file + ": format version " + major + "." + bytes[7]
                    + " is not supported; expected 1.0, 2.0 or 3.0");
        }
        int start = major == 1 ? 10 : 12;
        if (bytes.length < start) {
            throw new IOException(file + ": the file ends inside its header (" + bytes.length + " bytes)");
        }
        long headerLen = major == 1 ? Short.toUnsignedInt(buf.getShort(8)) : Integer.toUnsignedLong(buf.getInt(8));
        if (start + headerLen > bytes.length) {
            throw new IOException(file + ": header length " + headerLen + " does not fit in the file ("
                    + bytes.length + " bytes)");
        }
        String header = new String(bytes, start, (int) headerLen,
                major >= 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        String descr = group(DESCR, header, file, "descr");
        if (group(ORDER, header, file, "fortran_order").equals("True")) {
            throw new IOException(file + ": Fortran order is not supported; save a C-order array "
                    + "(numpy.ascontiguousarray)");
        }
        int itemSize = switch (descr) {
            case "<f4" -> 4;
            case "<f2" -> 2;
            case "|b1" -> 1;
            case "<i8" -> 8;
            default -> throw new IOException(file + ": dtype '" + descr + "' is not supported; expected float32 "
                    + "'<f4' or float16 '<f2' (or bool '|b1' for masks, int64 '<i8' for lengths)");
        };
        String shapeText = group(SHAPE, header, file, "shape");
        long[] shape = parseShape(file, shapeText);
        long count = 1;
        for (long s : shape) {
            count *= s; // parseShape checked that the product is below 2^63
        }
        int dataStart = start + (int) headerLen;
        long dataBytes = bytes.length - dataStart;
        if (count > dataBytes / itemSize) {
            throw new IOException(file + ": has " + dataBytes + " data bytes, shape (" + shapeText + ") needs "
                    + BigInteger.valueOf(count).multiply(BigInteger.valueOf(itemSize)));
        }
        if (itemSize == 4) {
            float[] values = new float[(int) count];
            buf.position(dataStart);
            buf.asFloatBuffer().get(values);
            return new Array(shape, values, null, Dtype.F32, null);
        }
        if (itemSize == 2) {
            float[] values = new float[(int) count];
            for (int i = 0; i < values.length; i++) {
                values[i] = Float.float16ToFloat(buf.getShort(dataStart + 2 * i));
            }
            return new Array(shape, values, null, Dtype.F16, null);
        }
        if (itemSize == 8) {
            long[] values = new long[(int) count];
            buf.position(dataStart);
            buf.asLongBuffer().get(values);
            return new Array(shape, null, null, null, values);
        }
        boolean[] values = new boolean[(int) count];
        for (int i = 0; i < values.length; i++) {
            values[i] = bytes[dataStart + i] != 0;
        }
        return new Array(shape, null, values, null, null);
    }

    /** A tensor as {@code <f4}, or {@code <f2} for F16 (its bits as they are); BF16 as {@code <f4}, exactly. */
    static void write(Path file, Tensor t) throws IOException {
        if (t.dtype() != Dtype.F16) {
            write(file, "<f4", t.toArray(), t.shape());
            return;
        }
        float[] values = t.toArray();
        ByteBuffer data = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            data.putShort(Float.floatToFloat16(v)); // exact: each is an F16 value already
        }
        writeFile(file, "<f2", data.array(), t.shape());
    }

    static void write(Path file, float[] values, long... shape) throws IOException {
        write(file, "<f4", values, shape);
    }

    private static void write(Path file, String descr, float[] values, long... shape) throws IOException {
        ByteBuffer data = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        data.asFloatBuffer().put(values);
        writeFile(file, descr, data.array(), shape);
    }

    private static void writeFile(Path file, String descr, byte[] data, long... shape) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (long s : shape) {
            dims.append(s).append(", ");
        }
        if (shape.length > 1) {
            dims.setLength(dims.length() - 2);
        }
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
        int unpadded = 10 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        ByteBuffer buf = ByteBuffer.allocate(10 + header.length() + data.length).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length());
        buf.put(header.getBytes(StandardCharsets.ISO_8859_1));
        buf.put(data);
        try {
            Files.write(file, buf.array());
        } catch (IOException e) {
            throw new IOException("cannot write " + file + ": " + reason(e), e);
        }
    }

    /** Why a file operation failed, in words (the JDK's exceptions often give only the path). */
    static String reason(IOException e) {
        return e instanceof NoSuchFileException ? "no such file"
                : e instanceof AccessDeniedException ? "permission denied"
                : e instanceof FileSystemException f && f.getReason() != null ? f.getReason()
                : e.getMessage();
    }

    private static String group(Pattern p, String header, Path file, String key) throws IOException {
        Matcher m = p.matcher(header);
        if (!m.find()) {
            throw new IOException(file + ": header has no '" + key + "'");
        }
        return m.group(1);
    }

    /**
     * The dimensions in a header's shape tuple ("2, 3", "5," or "" for a scalar): integers from 0 to
     * 2^63 - 1 whose product, the element count, is below 2^63 too.
     */
    private static long[] parseShape(Path file, String text) throws IOException {
        String where = file + ": shape (" + text + ")";
        if (text.isBlank()) {
            return new long[0];
        }
        String[] parts = text.strip().replaceFirst(",$", "").split(",", -1); // NumPy writes (5,) for one dimension
        long[] dims = new long[parts.length];
        BigInteger count = BigInteger.ONE;
        for (int i = 0; i < parts.length; i++) {
            BigInteger d;
            try {
                d = new BigInteger(parts[i].strip());
            } catch (NumberFormatException e) {
                throw new IOException(where + ": not a list of integers");
            }
            if (d.signum() < 0) {
                throw new IOException(where + ": dimensions must be >= 0");
            }
            if (d.bitLength() > 63) {
                throw new IOException(where + ": dimensions must be < 2^63");
            }
            dims[i] = d.longValue();
            count = count.multiply(d);
        }
        if (count.bitLength() > 63) {
            throw new IOException(where + " has 2^63 or more elements");
        }
        return dims;
    }
}
