package org.panattn.layers;

import org.panattn.Backend;
import org.panattn.Tensor;

/**
 * How the layers check their own arguments before handing them on, so a
 * refusal names the layer's argument ({@code query}, {@code x}, the
 * layer's weights) rather than the operand it becomes in the operation
 * it is passed to.
 */
final class Checks {
    private Checks() {
    }

    /** Not null, alive, accessible from this thread, and off-heap for the native backend (null: any backend). */
    static void usable(String name, Tensor t, Backend backend) {
        if (t == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        t.checkUsable(name, backend);
    }

    /** Rows of a rank-3 {@code t}, as the operations want them: a contiguous last dimension, rows apart. */
    static void contiguousRows(String name, Tensor t) {
        long[] s = t.shape();
        long[] st = t.strides();
        if (s[2] > 1 && st[2] != 1) {
            throw new IllegalArgumentException(name + ": the last dimension must be contiguous (stride 1), got strides "
                    + format(st) + "; use contiguous() for a copy");
        }
        if (s[1] > 1 && st[1] < s[2]) {
            throw new IllegalArgumentException(name + ": rows overlap (stride " + st[1] + " < row length " + s[2]
                    + ")");
        }
        if (s[1] > Integer.MAX_VALUE || s[2] > Integer.MAX_VALUE || st[1] > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + ": rows beyond 2^31 elements are not supported, got shape "
                    + format(s));
        }
    }

    /** "(a, b, c)" for messages, as the operations write shapes. */
    static String format(long... dims) {
        StringBuilder sb = new StringBuilder("(");
        for (int d = 0; d < dims.length; d++) {
            sb.append(d == 0 ? "" : ", ").append(dims[d]);
        }
        return sb.append(')').toString();
    }
}
