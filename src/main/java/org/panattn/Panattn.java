package org.panattn;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

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

    /** {@return the library's version, e.g. {@code 0.1.0}} */
    public static String version() {
        return NativeLoader.jarVersion();
    }

    /** {@return true when the native library is loaded (loading it on first call)} */
    public static boolean isNativeAvailable() {
        return NativeLoader.isLoaded();
    }

    /** {@return why the native library is unavailable: every place tried, and why each failed} */
    public static Optional<NativeUnavailableException> unavailabilityCause() {
        return Optional.ofNullable(NativeLoader.failure());
    }

    /** Throws {@link NativeUnavailableException} unless the native library is loaded. */
    public static void ensureNativeAvailable() {
        NativeLoader.ensureLoaded();
    }

    /** {@return where the native library was loaded from} */
    public static String nativeLibraryPath() {
        return NativeLoader.libraryPath();
    }

    /** {@return the ISA level the native kernels use now} */
    public static Isa isa() {
        return Isa.ofCode(NativeInfo.isa());
    }

    /** {@return the best ISA level this CPU supports} */
    public static Isa supportedIsa() {
        return Isa.ofCode(NativeInfo.supportedIsa());
    }

    /**
     * The ISA levels of this machine's architecture, lowest first: the caps
     * {@link #setMaxIsa} accepts here (some may be above {@link #supportedIsa()}).
     *
     * @return {@code [SCALAR, AVX2, AVX512]} on x86-64, {@code [SCALAR, NEON]} on aarch64
     */
    public static List<Isa> isaLevels() {
        String arch = architecture();
        return Arrays.stream(Isa.values()).filter(isa -> isa.existsOn(arch)).toList();
    }

    /**
     * Caps the native kernels' ISA level for the whole process (a cap above
     * {@link #supportedIsa()} selects the supported level). Meant for tests
     * and comparisons. Safe at any moment: a call in flight finishes on the
     * kernels it started with, later calls use the new level. The
     * environment variable {@code PANATTN_MAX_ISA=scalar|avx2|avx512|neon}
     * sets the initial cap.
     *
     * @param cap one of {@link #isaLevels()}
     * @throws IllegalArgumentException if {@code cap} is null or a level of another architecture
     */
    public static void setMaxIsa(Isa cap) {
        if (cap == null) {
            throw new IllegalArgumentException("cap must not be null");
        }
        if (!isaLevels().contains(cap)) {
            throw new IllegalArgumentException("cap " + cap.id() + " is not a level of " + architecture()
                    + "; the levels here are " + isaLevels());
        }
        NativeInfo.setMaxIsa(cap.ordinal());
    }

    /**
     * Threads the native library computes with: one pool owned by panattn,
     * splitting work over batch, heads, query tiles and (when decoding) key
     * chunks, with a single-threaded BLAS inside. Default: one per CPU.
     *
     * @return the pool's thread count
     */
    public static int threads() {
        return NativeInfo.threads();
    }

    /**
     * Sets the native thread count (0 restores one per CPU); also settable
     * at start with {@code -Dpanattn.threads}. Safe at any moment, from any
     * thread: a call in flight finishes with the thread count it planned
     * with, later calls use the new one.
     *
     * @param threads the thread count from 0 to 256, 0 for one per CPU
     * @throws IllegalArgumentException if {@code threads} is outside 0..256
     */
    public static void setThreads(int threads) {
        if (threads < 0 || threads > NativeLoader.MAX_THREADS) {
            throw new IllegalArgumentException("threads must be in 0.." + NativeLoader.MAX_THREADS
                    + " (0 = one per CPU), got " + threads);
        }
        NativeInfo.setThreads(threads);
    }

    /** {@return the BLAS the native library uses (vendor, version, build options)} */
    public static String blasInfo() {
        return NativeInfo.blas();
    }

    /**
     * Threads one BLAS call uses: 1 with OpenBLAS, which panattn keeps
     * single-threaded because it owns the threading; 0 when the BLAS cannot tell.
     *
     * @return the BLAS's threads per call, or 0
     */
    public static int blasThreads() {
        return NativeInfo.blasThreads();
    }

    /**
     * The backend used when a spec names none: the one set with
     * {@link #setDefaultBackend}, else the {@code panattn.backend} system
     * property ({@code native}, {@code java} or {@code vector}, as the
     * command line spells them; {@code java_vector} too), else
     * {@link Backend#NATIVE} when the library loads and {@link Backend#JAVA}
     * when it does not. A call reads it once, when it starts.
     *
     * @return the default backend
     * @throws IllegalArgumentException if {@code panattn.backend} names no backend
     */
    public static Backend defaultBackend() {
        Backend b = defaultBackend;
        if (b != null) {
            return b;
        }
        String prop = System.getProperty("panattn.backend");
        if (prop != null && !prop.isBlank()) {
            return switch (prop.trim().toLowerCase(Locale.ROOT)) {
                case "native" -> Backend.NATIVE;
                case "java" -> Backend.JAVA;
                case "vector", "java_vector" -> Backend.JAVA_VECTOR;
                default -> throw new IllegalArgumentException("-Dpanattn.backend=" + prop
                        + ": expected native, java or vector");
            };
        }
        return isNativeAvailable() ? Backend.NATIVE : Backend.JAVA;
    }

    /**
     * Sets the default backend for the process. Safe at any moment: a call
     * in flight keeps the backend it started on.
     *
     * @param backend the backend, or null to restore the automatic choice
     */
    public static void setDefaultBackend(Backend backend) {
        defaultBackend = backend;
    }

    /**
     * A multi-line description for bug reports: version, operating system and
     * architecture, the library loaded and from where, ISA level, BLAS vendor
     * and version, and threads; or why the library did not load.
     *
     * @return lines of {@code name: value}
     */
    public static String info() {
        StringBuilder sb = new StringBuilder();
        sb.append("panattn ").append(version()).append('\n');
        sb.append("platform:  ").append(NativeLoader.platform()).append(" (").append(System.getProperty("os.name"))
                .append(' ').append(System.getProperty("os.version")).append(", ")
                .append(System.getProperty("os.arch")).append("), Java ").append(Runtime.version()).append('\n');
        if (isNativeAvailable()) {
            sb.append("library:   ").append(nativeLibraryPath()).append(" (native ")
                    .append(NativeInfo.version()).append(")\n");
            sb.append("isa:       ").append(isa().id()).append(" (CPU supports ").append(supportedIsa().id())
                    .append("; levels here: ").append(String.join(", ", isaLevels().stream().map(Isa::id).toList()))
                    .append(")\n");
            sb.append("blas:      ").append(blasInfo()).append('\n');
            int blasThreads = blasThreads();
            sb.append("threads:   ").append(threads()).append(" in panattn's pool (")
                    .append(Runtime.getRuntime().availableProcessors()).append(" available processors); BLAS ")
                    .append(blasThreads > 0 ? blasThreads + " per call" : "threads unknown").append('\n');
        } else {
            sb.append("library:   unavailable\n").append(unavailabilityCause().orElseThrow().getMessage())
                    .append('\n');
        }
        sb.append("backend:   ").append(defaultBackend().name().toLowerCase(Locale.ROOT)).append('\n');
        return sb.toString();
    }

    /** This machine's architecture as the jar names its folders, e.g. {@code x86_64}. */
    private static String architecture() {
        String platform = NativeLoader.platform();
        return platform.substring(platform.indexOf('-') + 1);
    }
}
