package org.panattn;

/** Instruction-set levels of the native kernels, lowest first (the C enum pa_isa). */
public enum Isa {
    SCALAR, AVX2, AVX512;

    /** The level with the given native code. */
    static Isa ofCode(int code) {
        return values()[code];
    }

    /** The lower-case name used by {@code PANATTN_MAX_ISA} and the native library. */
    public String id() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
