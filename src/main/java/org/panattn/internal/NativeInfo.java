package org.panattn.internal;

import org.panattn.internal.ffi.Panattn_h;

/** The native library's own facts: version, ISA levels, BLAS. */
public final class NativeInfo {
    private NativeInfo() {
    }

    public static String version() {
        NativeLoader.ensureLoaded();
        return NativeBackend.cString(Panattn_h.pa_version());
    }

    public static int isa() {
        NativeLoader.ensureLoaded();
        return Panattn_h.pa_isa();
    }

    public static int supportedIsa() {
        NativeLoader.ensureLoaded();
        return Panattn_h.pa_isa_supported();
    }

    public static void setMaxIsa(int level) {
        NativeLoader.ensureLoaded();
        NativeBackend.check(Panattn_h.pa_set_max_isa(level), "pa_set_max_isa");
    }

    public static int threads() {
        NativeLoader.ensureLoaded();
        return Panattn_h.pa_num_threads();
    }

    public static void setThreads(int threads) {
        NativeLoader.ensureLoaded();
        NativeBackend.check(Panattn_h.pa_set_num_threads(threads), "pa_set_num_threads");
    }

    public static String blas() {
        NativeLoader.ensureLoaded();
        return NativeBackend.cString(Panattn_h.pa_blas_info());
    }

    /** Threads one BLAS call uses, or 0 when the BLAS cannot tell. */
    public static int blasThreads() {
        NativeLoader.ensureLoaded();
        return Panattn_h.pa_blas_threads();
    }
}
