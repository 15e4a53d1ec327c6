package org.panattn;

import java.util.Locale;

/**
 * Instruction-set levels of the native kernels (the C enum {@code pa_isa}:
 * the ordinal is the native code). {@link #SCALAR} exists everywhere; the
 * others belong to one architecture each, lowest first within it: x86-64
 * {@code scalar < avx2 < avx512}, aarch64 {@code scalar < neon}.
 */
public enum Isa {
    /** Portable C, on every architecture. */
    SCALAR(null),
    /** x86-64 AVX2 with FMA and F16C. */
    AVX2("x86_64"),
    /** x86-64 AVX-512 F. */
    AVX512("x86_64"),
    /** aarch64 Advanced SIMD (NEON). */
    NEON("aarch64");

    private final String architecture;

    Isa(String architecture) {
        this.architecture = architecture;
    }

    /** The level with the given native code. */
    static Isa ofCode(int code) {
        return values()[code];
    }

    /**
     * The lower-case name used by {@code PANATTN_MAX_ISA} and the native library.
     *
     * @return {@code scalar}, {@code avx2}, {@code avx512} or {@code neon}
     */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Whether this level exists on an architecture.
     *
     * @param arch an architecture as the jar names its folders: {@code x86_64} or {@code aarch64}
     * @return true for {@link #SCALAR} and for the levels of {@code arch}
     */
    public boolean existsOn(String arch) {
        return architecture == null || architecture.equals(arch);
    }
}
