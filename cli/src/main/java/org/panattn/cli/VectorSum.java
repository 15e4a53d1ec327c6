package org.panattn.cli;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The read test's sum with the Vector API: the widest loads the CPU has
 * (64 bytes with AVX-512), four independent sums. Loaded only when the JVM
 * has the incubator module ({@link ReadBandwidth#VECTOR}).
 */
final class VectorSum {
    private static final VectorSpecies<Long> SPECIES = LongVector.SPECIES_PREFERRED;

    private VectorSum() {
    }

    /** The sum of the segment's words; its size is a multiple of {@link ReadBandwidth#STEP}. */
    static long sum(MemorySegment s) {
        final long step = SPECIES.vectorByteSize();
        final ByteOrder order = ByteOrder.nativeOrder();
        LongVector a = LongVector.zero(SPECIES), b = a, c = a, d = a;
        for (long i = 0, n = s.byteSize(); i < n; i += 4 * step) {
            a = a.add(LongVector.fromMemorySegment(SPECIES, s, i, order));
            b = b.add(LongVector.fromMemorySegment(SPECIES, s, i + step, order));
            c = c.add(LongVector.fromMemorySegment(SPECIES, s, i + 2 * step, order));
            d = d.add(LongVector.fromMemorySegment(SPECIES, s, i + 3 * step, order));
        }
        return a.add(b).add(c).add(d).reduceLanes(VectorOperators.ADD);
    }
}
