package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where a semantic test runs a call: each backend, and the native one at
 * each ISA level of this machine. Tests iterate {@link #all()}, so a new
 * backend or level gets their coverage without new test code.
 *
 * @param backend the backend
 * @param isa     the native ISA cap, or null for the Java backends
 */
record Target(Backend backend, Isa isa) {
    /** The Java reference first, then the Vector API backend, then native at each level. */
    static List<Target> all() {
        List<Target> all = new ArrayList<>(List.of(new Target(Backend.JAVA, null), new Target(Backend.JAVA_VECTOR, null)));
        for (Isa isa : Panattn.isaLevels()) {
            all.add(new Target(Backend.NATIVE, isa));
        }
        return all;
    }

    /** Every target but the Java reference: the ones checked against it. */
    static List<Target> others() {
        return all().subList(1, all().size());
    }

    /** Caps the native ISA level (for a native target) and returns the backend. */
    Backend select() {
        if (isa != null) {
            Panattn.setMaxIsa(isa);
        }
        return backend;
    }

    /** Restores the best level, after a test that capped it. */
    static void restore() {
        Panattn.setMaxIsa(Panattn.supportedIsa());
    }

    /**
     * Asserts that two runs of the same call on this backend agree: bit for bit, but to
     * rounding on the Vector API backend, whose lanes may round differently once the JIT
     * compiles them (a NaN fails both).
     */
    static void assertSameRun(Backend backend, float[] want, float[] got, String what) {
        if (backend == Backend.JAVA_VECTOR) {
            double err = Reference.relativeError(got, Reference.toDouble(want));
            assertTrue(err < 1e-6, what + ": relative difference " + err);
        } else {
            assertArrayEquals(want, got, what);
        }
    }

    @Override
    public String toString() {
        return switch (backend) {
            case JAVA -> "java";
            case JAVA_VECTOR -> "vector";
            case NATIVE -> "native " + Panattn.isa().id() + (isa.compareTo(Panattn.supportedIsa()) > 0
                    ? " (cap " + isa.id().toLowerCase(Locale.ROOT) + ")" : "");
        };
    }
}
