package org.panattn;

/** Shape arithmetic shared by tensors and masks, with overflow checks. */
final class Shapes {
    private Shapes() {
    }

    /**
     * Number of elements of a shape; fails when it overflows 64 bits. A size
     * of 0 anywhere makes it 0, whatever the other sizes (as in the C library).
     */
    static long count(String what, long[] shape) {
        for (long s : shape) {
            if (s == 0) {
                return 0;
            }
        }
        long n = 1;
        try {
            for (long s : shape) {
                n = Math.multiplyExact(n, s);
            }
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(what + ": element count overflows 64 bits", e);
        }
        return n;
    }

    /** Row-major strides of a shape. */
    static long[] contiguousStrides(long[] shape) {
        long[] st = new long[shape.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            st[d] = step;
            step *= Math.max(shape[d], 1);
        }
        return st;
    }

    /** Elements a view reaches: 1 + the largest offset, or 0 when empty. */
    static long extent(String what, long[] shape, long[] strides) {
        if (count(what, shape) == 0) {
            return 0;
        }
        long last = 0;
        try {
            for (int d = 0; d < shape.length; d++) {
                last = Math.addExact(last, Math.multiplyExact(shape[d] - 1, strides[d]));
            }
            return Math.addExact(last, 1);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(what + ": strides reach past 64-bit offsets", e);
        }
    }

    /** values left-padded to 4 entries with fill. */
    static long[] pad4(long[] values, long fill) {
        long[] out = new long[4];
        int pad = 4 - values.length;
        for (int d = 0; d < 4; d++) {
            out[d] = d < pad ? fill : values[d - pad];
        }
        return out;
    }

    /** "(a, b, c)" for messages. */
    static String format(long... dims) {
        StringBuilder sb = new StringBuilder("(");
        for (int d = 0; d < dims.length; d++) {
            sb.append(d == 0 ? "" : ", ").append(dims[d]);
        }
        return sb.append(')').toString();
    }
}
