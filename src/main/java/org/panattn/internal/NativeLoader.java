package org.panattn.internal;

import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.lang.foreign.SymbolLookup;
import java.lang.reflect.Method;
import java.net.URL;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

import org.panattn.NativeUnavailableException;
import org.panattn.internal.ffi.Panattn_h;

/**
 * Loads libpanattn once, before any binding is used, from exactly one place:
 * <ol>
 * <li>the file named by {@code -Dpanattn.library.path}, when set: that file
 * or nothing, never a silent substitute;</li>
 * <li>otherwise the copy in the jar at {@code native/<os>-<arch>/}, extracted
 * to a private temporary folder under {@code -Dpanattn.extract.dir} (default
 * {@code java.io.tmpdir}).</li>
 * </ol>
 * A loaded file counts only once it proves to be this jar's libpanattn: it
 * exports every function the bindings call and its {@code pa_version()} is
 * the jar's version. Then {@code -Dpanattn.threads}, if set, is applied; a
 * value that is not a thread count is named as the configuration error it
 * is. A failure keeps every attempt and its reason; the bindings then refuse
 * to run and {@link org.panattn.Backend#JAVA} still works.
 */
public final class NativeLoader {
    public static final String LIBRARY_PATH_PROPERTY = "panattn.library.path";
    public static final String EXTRACT_DIR_PROPERTY = "panattn.extract.dir";

    /** The native pool's limit (MAX_THREADS in pool.c). */
    public static final int MAX_THREADS = 256;

    private static final System.Logger LOG = System.getLogger("org.panattn");

    private record State(String path, NativeUnavailableException failure) {
    }

    /** Loaded on first use, once per class loader. */
    private static final class Holder {
        static final State STATE = load();
    }

    private NativeLoader() {
    }

    /** True when the library is loaded. */
    public static boolean isLoaded() {
        return Holder.STATE.failure == null;
    }

    /** Why the library is not loaded, or null when it is. */
    public static NativeUnavailableException failure() {
        return Holder.STATE.failure;
    }

    /** Where the library was loaded from. */
    public static String libraryPath() {
        ensureLoaded();
        return Holder.STATE.path;
    }

    /** Loads the library or throws why it cannot. */
    public static void ensureLoaded() {
        NativeUnavailableException failure = Holder.STATE.failure;
        if (failure != null) {
            throw new NativeUnavailableException(failure.getMessage(), failure);
        }
    }

    /** The jar folder for this platform, e.g. {@code linux-x86_64}. */
    public static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osId = os.startsWith("linux") ? "linux"
                : os.startsWith("mac") || os.startsWith("darwin") ? "macos"
                : os.startsWith("windows") ? "windows" : os.replace(' ', '_');
        String archId = switch (arch) {
            case "amd64", "x86_64", "x64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osId + "-" + archId;
    }

    /**
     * What to do about a library that did not load: enable native access
     * for panattn's module (System.load throws IllegalCallerException when
     * the JVM denies it), or extract to a folder that allows executables.
     */
    private static String hint(Throwable e) {
        if (e instanceof IllegalCallerException) {
            Module m = NativeLoader.class.getModule();
            return " (native access is not enabled for " + (m.isNamed() ? "module " + m.getName() : "the class path")
                    + ": run java with --enable-native-access=" + (m.isNamed() ? m.getName() : "ALL-UNNAMED") + ")";
        }
        return e instanceof WrongLibraryException ? ""
                : " (if the temporary folder is mounted noexec, set -D" + EXTRACT_DIR_PROPERTY
                        + " to a folder that allows executables)";
    }

    /**
     * Loads from the one place that applies, then verifies the library and
     * applies the thread count. Every problem ends up in the returned
     * failure, which the bindings throw when used, and is logged once.
     */
    private static State load() {
        List<String> tried = new ArrayList<>();
        Throwable cause = null;
        String explicit = System.getProperty(LIBRARY_PATH_PROPERTY);
        String where = null;
        if (explicit != null && !explicit.isBlank()) {
            String attempt = "-D" + LIBRARY_PATH_PROPERTY + "=" + explicit;
            try {
                Path file = Path.of(explicit).toAbsolutePath();
                if (!Files.isRegularFile(file)) {
                    throw new IOException("no such file");
                }
                System.load(file.toString());
                verify(file.toString());
                where = file.toString();
            } catch (IOException | UnsatisfiedLinkError | RuntimeException e) {
                tried.add(attempt + ": " + e.getMessage() + (e instanceof IllegalCallerException ? hint(e)
                        : " (the jar's copy is not used instead: unset the property to use it)"));
                cause = e;
            }
        } else {
            String resource = "native/" + platform() + "/" + System.mapLibraryName("panattn");
            URL url = NativeLoader.class.getClassLoader().getResource(resource);
            if (url == null) {
                tried.add("-D" + LIBRARY_PATH_PROPERTY + ": not set");
                tried.add("resource " + resource + ": not in the jar or class path (no build for this platform?)");
            } else {
                Path file = null;
                try {
                    file = extract(url);
                    System.load(file.toString());
                    verify(url.toString());
                    where = url + " (extracted to " + file + ")";
                } catch (IOException | UnsatisfiedLinkError | RuntimeException e) {
                    tried.add("-D" + LIBRARY_PATH_PROPERTY + ": not set");
                    tried.add("resource " + url + ": " + e.getMessage() + hint(e));
                    cause = e;
                } finally {
                    if (file != null) {
                        deleteExtracted(file);
                    }
                }
            }
        }
        if (where != null) {
            try {
                applyThreadsProperty();
                LOG.log(Level.DEBUG, "loaded libpanattn from {0}", where);
                return new State(where, null);
            } catch (IllegalArgumentException e) {
                return failed("panattn's native library loaded from " + where + " but is not used: " + e.getMessage(),
                        e);
            }
        }
        return failed("panattn's native library could not be loaded; tried:\n  - " + String.join("\n  - ", tried),
                cause);
    }

    private static State failed(String message, Throwable cause) {
        LOG.log(Level.WARNING, message);
        return new State(null, new NativeUnavailableException(message, cause));
    }

    /** A loaded file that is not this jar's libpanattn. */
    static final class WrongLibraryException extends RuntimeException {
        WrongLibraryException(String message) {
            super(message);
        }
    }

    /**
     * Checks that what was just loaded is this jar's libpanattn: every
     * function the bindings call is exported (a missing one would otherwise
     * surface as an {@link ExceptionInInitializerError} at the first call),
     * and {@code pa_version()} is the jar's version.
     */
    private static void verify(String what) {
        SymbolLookup lookup = SymbolLookup.loaderLookup();
        List<String> missing = new ArrayList<>();
        List<String> needed = boundFunctions();
        for (String name : needed) {
            if (lookup.find(name).isEmpty()) {
                missing.add(name);
            }
        }
        if (missing.size() == needed.size()) {
            throw new WrongLibraryException("not libpanattn: it exports none of the " + needed.size()
                    + " functions the bindings call, pa_version among them");
        }
        if (!missing.isEmpty()) {
            throw new WrongLibraryException("not libpanattn " + jarVersion() + ": it lacks " + missing.size() + " of the "
                    + needed.size() + " functions the bindings call (" + String.join(", ", missing.subList(0,
                    Math.min(5, missing.size()))) + (missing.size() > 5 ? ", ..." : "") + ")");
        }
        String version = NativeBackend.cString(Panattn_h.pa_version());
        if (!version.equals(jarVersion())) {
            throw new WrongLibraryException("libpanattn " + version + ", but this jar is panattn " + jarVersion()
                    + " and needs its own version of the library");
        }
    }

    /** The C functions the generated bindings call: Panattn_h's methods named after them. */
    public static List<String> boundFunctions() {
        return Arrays.stream(Panattn_h.class.getMethods())
                .map(Method::getName)
                .filter(n -> n.startsWith("pa_") && !n.contains("$"))
                .distinct().sorted().toList();
    }

    /** This jar's version, e.g. {@code 0.1.0}; {@code unknown} outside a build. */
    public static String jarVersion() {
        try (InputStream in = NativeLoader.class.getResourceAsStream("/org/panattn/version.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Applies {@code -Dpanattn.threads}; a value that is no thread count is refused by name. */
    private static void applyThreadsProperty() {
        String value = System.getProperty("panattn.threads");
        if (value == null || value.isBlank()) {
            return;
        }
        String expected = "expected an integer from 0 to " + MAX_THREADS + " (0 = one per CPU)";
        int threads;
        try {
            threads = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("configuration error: -Dpanattn.threads=" + value + " is not a number; "
                    + expected, e);
        }
        if (threads < 0 || threads > MAX_THREADS) {
            throw new IllegalArgumentException("configuration error: -Dpanattn.threads=" + value + " is out of range; "
                    + expected);
        }
        NativeBackend.check(Panattn_h.pa_set_num_threads(threads), "-Dpanattn.threads=" + value);
    }

    /** Copies the library into a new folder only this user can read. */
    private static Path extract(URL url) throws IOException {
        String dirName = System.getProperty(EXTRACT_DIR_PROPERTY, System.getProperty("java.io.tmpdir"));
        Path parent = Path.of(dirName);
        Path dir = FileSystems.getDefault().supportedFileAttributeViews().contains("posix")
                ? Files.createTempDirectory(parent, "panattn-",
                        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")))
                : Files.createTempDirectory(parent, "panattn-");
        Path file = dir.resolve(Path.of(url.getPath()).getFileName().toString());
        try (InputStream in = url.openStream()) {
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        }
        return file;
    }

    /** A loaded library no longer needs its file, except on Windows. */
    private static void deleteExtracted(Path file) {
        try {
            Files.deleteIfExists(file);
            Files.deleteIfExists(file.getParent());
        } catch (IOException e) {
            file.toFile().deleteOnExit();
            file.getParent().toFile().deleteOnExit();
        }
    }
}
