package org.panattn.internal;

import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.net.URL;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.panattn.NativeUnavailableException;

/**
 * Loads libpanattn once, before any binding is used, trying in order:
 * <ol>
 * <li>the file named by {@code -Dpanattn.library.path};</li>
 * <li>the copy in the jar at {@code native/<os>-<arch>/}, extracted to a
 * private temporary folder under {@code -Dpanattn.extract.dir} (default
 * {@code java.io.tmpdir}).</li>
 * </ol>
 * A failure keeps every attempt and its reason; the bindings then refuse to
 * run and {@link org.panattn.Backend#JAVA} still works.
 */
public final class NativeLoader {
    public static final String LIBRARY_PATH_PROPERTY = "panattn.library.path";
    public static final String EXTRACT_DIR_PROPERTY = "panattn.extract.dir";

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
     * Tries each place in turn. Every problem (including a malformed path
     * property) ends up in the returned failure, which the bindings throw
     * when used, and is logged once.
     */
    private static State load() {
        List<String> tried = new ArrayList<>();
        Throwable cause = null;
        String explicit = System.getProperty(LIBRARY_PATH_PROPERTY);
        if (explicit != null && !explicit.isBlank()) {
            try {
                Path file = Path.of(explicit).toAbsolutePath();
                if (!Files.isRegularFile(file)) {
                    throw new IOException("no such file");
                }
                System.load(file.toString());
                return loaded(file.toString());
            } catch (IOException | UnsatisfiedLinkError | RuntimeException e) {
                tried.add("-D" + LIBRARY_PATH_PROPERTY + "=" + explicit + ": " + e.getMessage());
                cause = e;
            }
        } else {
            tried.add("-D" + LIBRARY_PATH_PROPERTY + ": not set");
        }

        String resource = "native/" + platform() + "/" + System.mapLibraryName("panattn");
        URL url = NativeLoader.class.getClassLoader().getResource(resource);
        if (url == null) {
            tried.add("resource " + resource + ": not in the jar or class path (no build for this platform?)");
        } else {
            try {
                Path file = extract(url);
                System.load(file.toString());
                deleteExtracted(file);
                return loaded(url + " (extracted to " + file + ")");
            } catch (IOException | UnsatisfiedLinkError | RuntimeException e) {
                tried.add("resource " + url + ": " + e.getMessage()
                        + " (if the temporary folder is mounted noexec, set -D" + EXTRACT_DIR_PROPERTY
                        + " to a folder that allows executables)");
                cause = e;
            }
        }
        String message = "panattn's native library could not be loaded; tried:\n  - "
                + String.join("\n  - ", tried);
        LOG.log(Level.WARNING, message);
        return new State(null, new NativeUnavailableException(message, cause));
    }

    private static State loaded(String path) {
        LOG.log(Level.DEBUG, "loaded libpanattn from {0}", path);
        String threads = System.getProperty("panattn.threads");
        if (threads != null && !threads.isBlank()) {
            NativeBackend.check(org.panattn.internal.ffi.Panattn_h.pa_set_num_threads(Integer.parseInt(threads.trim())),
                    "-Dpanattn.threads=" + threads);
        }
        return new State(path, null);
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
