package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

import org.panattn.internal.ffi.Panattn_h;

/** The native library's own facts and settings: version, ISA levels, threads, BLAS. */
public final class NativeInfo {
    private NativeInfo() {
    }

    /** Calls f once the library is loaded (or throws why it is not). */
    private static int loaded(IntSupplier f) {
        NativeLoader.ensureLoaded();
        return f.getAsInt();
    }

    private static String loadedString(Supplier<MemorySegment> f) {
        NativeLoader.ensureLoaded();
        return NativeBackend.cString(f.get());
    }

    public static String version() {
        return loadedString(Panattn_h::pa_version);
    }

    public static int isa() {
        return loaded(Panattn_h::pa_isa);
    }

    public static int supportedIsa() {
        return loaded(Panattn_h::pa_isa_supported);
    }

    public static void setMaxIsa(int level) {
        NativeBackend.check(loaded(() -> Panattn_h.pa_set_max_isa(level)), "pa_set_max_isa");
    }

    public static int threads() {
        return loaded(Panattn_h::pa_num_threads);
    }

    public static void setThreads(int threads) {
        NativeBackend.check(loaded(() -> Panattn_h.pa_set_num_threads(threads)), "pa_set_num_threads");
    }

    public static String blas() {
        return loadedString(Panattn_h::pa_blas_info);
    }

    /** Threads one BLAS call uses, or 0 when the BLAS cannot tell. */
    public static int blasThreads() {
        return loaded(Panattn_h::pa_blas_threads);
    }
}
