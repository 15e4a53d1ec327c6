package org.panattn;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import java.util.Properties;

import org.panattn.internal.NativeInfo;
import org.panattn.internal.NativeLoader;

/**
 * The library as a whole: version, native availability, ISA level, and the
 * default backend.
 *
 * <pre>{@code
 * if (!Panattn.isNativeAvailable()) {
 *     System.err.println(Panattn.unavailabilityCause().orElseThrow().getMessage());
 * }
 * }</pre>
 */
public final class Panattn {
    private static volatile Backend defaultBackend;

    private Panattn() {
    }

    /** The library's version, e.g. {@code 0.1.0}. */
    public static String version() {
        try (InputStream in = Panattn.class.getResourceAsStream("version.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** True when the native library is loaded (loading it on first call). */
    public static boolean isNativeAvailable() {
        return NativeLoader.isLoaded();
    }

    /** Why the native library is unavailable: every place tried, and why each failed. */
    public static Optional<NativeUnavailableException> unavailabilityCause() {
        return Optional.ofNullable(NativeLoader.failure());
    }

    /** Throws {@link NativeUnavailableException} unless the native library is loaded. */
    public static void ensureNativeAvailable() {
        NativeLoader.ensureLoaded();
    }

    /** Where the native library was loaded from. */
    public static String nativeLibraryPath() {
        return NativeLoader.libraryPath();
    }

    /** The ISA level the native kernels use now. */
    public static Isa isa() {
        return Isa.ofCode(NativeInfo.isa());
    }

    /** The best ISA level this CPU supports. */
    public static Isa supportedIsa() {
        return Isa.ofCode(NativeInfo.supportedIsa());
    }

    /**
     * Caps the native kernels' ISA level for the whole process (a cap above
     * {@link #supportedIsa()} selects the supported level). Meant for tests
     * and comparisons: call it while no attention is being computed. The
     * environment variable {@code PANATTN_MAX_ISA=scalar|avx2|avx512} sets
     * the initial cap.
     */
    public static void setMaxIsa(Isa cap) {
        if (cap == null) {
            throw new IllegalArgumentException("cap must not be null");
        }
        NativeInfo.setMaxIsa(cap.ordinal());
    }

    /**
     * Threads the native library computes with: one pool owned by panattn,
     * splitting work over batch, heads, query tiles and (when decoding) key
     * chunks, with a single-threaded BLAS inside. Default: one per CPU.
     */
    public static int threads() {
        return NativeInfo.threads();
    }

    /**
     * Sets the native thread count (0 restores one per CPU); also settable
     * at start with {@code -Dpanattn.threads}. Call it while no attention is
     * being computed.
     */
    public static void setThreads(int threads) {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = one per CPU), got " + threads);
        }
        NativeInfo.setThreads(threads);
    }

    /** The BLAS the native library uses (vendor, version, build options). */
    public static String blasInfo() {
        return NativeInfo.blas();
    }

    /**
     * The backend used when a spec names none: the one set with
     * {@link #setDefaultBackend}, else the {@code panattn.backend} system
     * property ({@code native} or {@code java}), else {@link Backend#NATIVE}
     * when the library loads and {@link Backend#JAVA} when it does not.
     */
    public static Backend defaultBackend() {
        Backend b = defaultBackend;
        if (b != null) {
            return b;
        }
        String prop = System.getProperty("panattn.backend");
        if (prop != null && !prop.isBlank()) {
            try {
                return Backend.valueOf(prop.trim().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("-Dpanattn.backend=" + prop + ": expected native or java", e);
            }
        }
        return isNativeAvailable() ? Backend.NATIVE : Backend.JAVA;
    }

    /** Sets the default backend for the process (null restores the automatic choice). */
    public static void setDefaultBackend(Backend backend) {
        defaultBackend = backend;
    }

    /** A multi-line description: version, platform, library, ISA, BLAS. */
    public static String info() {
        StringBuilder sb = new StringBuilder();
        sb.append("panattn ").append(version()).append('\n');
        sb.append("platform:  ").append(NativeLoader.platform()).append(", Java ")
                .append(Runtime.version()).append('\n');
        if (isNativeAvailable()) {
            sb.append("library:   ").append(nativeLibraryPath()).append(" (native ")
                    .append(NativeInfo.version()).append(")\n");
            sb.append("isa:       ").append(isa().id()).append(" (CPU supports ").append(supportedIsa().id())
                    .append(")\n");
            sb.append("blas:      ").append(blasInfo()).append('\n');
            sb.append("threads:   ").append(threads()).append(" (of ").append(Runtime.getRuntime().availableProcessors())
                    .append(" processors; BLAS single-threaded)\n");
        } else {
            sb.append("library:   unavailable\n").append(unavailabilityCause().orElseThrow().getMessage())
                    .append('\n');
        }
        sb.append("backend:   ").append(defaultBackend().name().toLowerCase(java.util.Locale.ROOT)).append('\n');
        return sb.toString();
    }
}
