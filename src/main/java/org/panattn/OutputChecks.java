package org.panattn;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Optional;

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
     * The bytes a view reaches, from its first element to its last, as a
     * slice of its segment; empty when it has no element.
     */
    record Region(MemorySegment bytes) {
        /** A view of {@code seg}: element 0 at offset 0, {@code bytes} per element. */
        static Region of(MemorySegment seg, long[] shape, long[] strides, int bytes) {
            return new Region(seg.asSlice(0, Shapes.extent("region", shape, strides) * bytes));
        }

        static Region of(View v) {
            return of(v.segment(), v.shape(), v.strides(), v.bool() ? 1 : Float.BYTES);
        }

        /**
         * Whether the two share a byte. The JDK compares the segments' own
         * memory: native addresses, or the same heap array, read-only views
         * included (whose {@code heapBase()} is empty).
         */
        boolean overlaps(Region o) {
            return bytes.byteSize() > 0 && o.bytes.byteSize() > 0 && bytes.asOverlappingSlice(o.bytes).isPresent();
        }
    }

    static void writable(String name, View t) {
        if (t.segment().isReadOnly()) {
            throw new IllegalArgumentException(name + ": its segment is read-only, and " + name
                    + " is written");
        }
    }

    /**
     * Taking the dimensions of size &gt; 1 by increasing stride, each stride
     * must exceed the largest offset the smaller ones reach. Every
     * permutation of a dense or row-padded layout passes.
     */
    static void distinctElements(String name, View t) {
        long[] s = t.shape();
        long[] st = t.strides();
        if (t.count() == 0) {
            return;
        }
        Integer[] order = new Integer[s.length];
        for (int d = 0; d < s.length; d++) {
            order[d] = d;
        }
        Arrays.sort(order, (a, b) -> Long.compare(st[a], st[b]));
        long reach = 0;
        for (int d : order) {
            if (s[d] <= 1) {
                continue;
            }
            if (st[d] <= reach) {
                throw new IllegalArgumentException(name + ": elements share memory (shape " + Shapes.format(s)
                        + ", strides " + Shapes.format(st) + "); an output needs a distinct place for every "
                        + "element, so no stride 0 or interleaved dimensions");
            }
            reach += (s[d] - 1) * st[d];
        }
    }

    static void disjoint(String name, Region region, String otherName, Optional<Region> other) {
        if (other.isPresent() && region.overlaps(other.get())) {
            throw new IllegalArgumentException(name + ": shares memory with " + otherName
                    + " (an output must not overlap an input or another output)");
        }
    }
}
