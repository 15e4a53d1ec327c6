package org.panattn;

import java.lang.foreign.MemorySegment;

import org.panattn.internal.View;

/**
 * Checks on the memory an operation writes, the same the C library makes:
 * an output is writable, gives every element its own place (no stride-0 or
 * interleaved dimension, which would be written several times: a silently
 * wrong result), and shares no byte with an input or another output.
 */
final class OutputChecks {
    private OutputChecks() {
    }

    /**
     * Whether two views share a byte of what they reach, from their first
     * element to their last. Off-heap segments are compared by address,
     * allocating nothing; otherwise the JDK compares the segments' own
     * memory: the same heap array, read-only views included (whose
     * {@code heapBase()} is empty).
     */
    static boolean overlaps(View a, View b) {
        long aBytes = reach(a), bBytes = reach(b);
        if (aBytes == 0 || bBytes == 0) {
            return false;
        }
        MemorySegment x = a.segment(), y = b.segment();
        if (x.isNative() && y.isNative()) {
            long xStart = x.address(), yStart = y.address();
            return xStart < yStart + bBytes && yStart < xStart + aBytes;
        }
        return x.asSlice(0, aBytes).asOverlappingSlice(y.asSlice(0, bBytes)).isPresent();
    }

    /** Bytes a view reaches from its element 0: 0 when it has no element. */
    private static long reach(View v) {
        return Shapes.extent("region", v.shape(), v.strides()) * v.type().bytes();
    }

    static void writable(String name, View t) {
        if (t.segment().isReadOnly()) {
            throw new IllegalArgumentException(name + ": its segment is read-only, and " + name
                    + " is written");
        }
    }

    /**
     * Taking the dimensions of size &gt; 1 by increasing stride (ties in
     * dimension order), each stride must exceed the largest offset the
     * smaller ones reach. Every permutation of a dense or row-padded layout
     * passes.
     */
    static void distinctElements(String name, View t) {
        long[] s = t.shape();
        long[] st = t.strides();
        if (t.count() == 0) {
            return;
        }
        long reach = 0;
        int taken = 0; // a bit per dimension already walked
        for (int step = 0; step < s.length; step++) {
            int next = -1;
            for (int d = 0; d < s.length; d++) {
                if ((taken & 1 << d) == 0 && (next < 0 || st[d] < st[next])) {
                    next = d;
                }
            }
            taken |= 1 << next;
            if (s[next] <= 1) {
                continue;
            }
            if (st[next] <= reach) {
                throw new IllegalArgumentException(name + ": elements share memory (shape " + Shapes.format(s)
                        + ", strides " + Shapes.format(st) + "); an output needs a distinct place for every "
                        + "element, so no stride 0 or interleaved dimensions");
            }
            reach += (s[next] - 1) * st[next];
        }
    }

    /** The output shares no byte with the other view (none when it is null). */
    static void disjoint(String name, View output, String otherName, View other) {
        if (other != null && overlaps(output, other)) {
            throw new IllegalArgumentException(name + ": shares memory with " + otherName
                    + " (an output must not overlap an input or another output)");
        }
    }
}
