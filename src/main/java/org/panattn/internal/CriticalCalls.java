package org.panattn.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Downcalls written by hand beside the generated bindings, because jextract
 * does not generate {@link Linker.Option#critical(boolean)} ones: a critical
 * call with heap access passes Java arrays to native code directly, with no
 * copy and no thread-state transition, which is what the smallest calls
 * need. Native code must then be short and must not call back into Java.
 */
public final class CriticalCalls {
    private CriticalCalls() {
    }

    private static final class Handles {
        static final MethodHandle SDPA_DENSE = Linker.nativeLinker().downcallHandle(
                SymbolLookup.loaderLookup().findOrThrow("pa_sdpa_dense"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT,
                        JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, JAVA_INT),
                Linker.Option.critical(true));
    }

    /** pa_sdpa_dense on arrays (heap segments allowed); sizes already validated. */
    public static void sdpaDense(float[] q, float[] k, float[] v, float[] out, int b, int h, int hkv, int lq, int lk,
                                 int dk, int dv, float scale, int causal) {
        NativeLoader.ensureLoaded();
        int status;
        try {
            status = (int) Handles.SDPA_DENSE.invokeExact(MemorySegment.ofArray(q), MemorySegment.ofArray(k),
                    MemorySegment.ofArray(v), MemorySegment.ofArray(out), b, h, hkv, lq, lk, dk, dv, scale, causal);
        } catch (Throwable t) {
            throw new IllegalStateException("pa_sdpa_dense downcall failed", t);
        }
        NativeBackend.check(status, "pa_sdpa_dense");
    }
}
