package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.io.File;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.panattn.internal.NativeLoader;

/** Loading, in child JVMs so each starts with nothing loaded. */
class NativeLoaderTest {
    @TempDir
    Path tmp;

    /** Prints Panattn.info() in a fresh JVM with the given system properties (what `panattn info` prints). */
    private static String info(String... properties) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(List.of(properties));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("org.panattn.LoaderProbe");
        cmd.add("info");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    /** This platform's library in the build's class folder, as the jar carries it. */
    private static final String PACKED = "native/" + NativeLoader.platform() + "/" + System.mapLibraryName("panattn");

    @Test
    void loadsTheCopyOnTheClassPath() {
        assertTrue(Panattn.isNativeAvailable(), () -> Panattn.unavailabilityCause().orElseThrow().getMessage());
        assertTrue(Panattn.nativeLibraryPath().replace('\\', '/').contains(PACKED), Panattn.nativeLibraryPath());
        assertEquals(System.getProperty("panattn.project.version", Panattn.version()), Panattn.version());
    }

    @Test
    void infoReportsWhatABugReportNeeds() {
        String info = Panattn.info();
        for (String line : new String[] {"panattn " + Panattn.version(), "platform:  " + NativeLoader.platform(),
            "library:   ", "isa:       " + Panattn.isa().id(), "blas:      " + Panattn.blasInfo(),
            "threads:   " + Panattn.threads() + " in panattn's pool (" + Runtime.getRuntime().availableProcessors()
                    + " available processors)"}) {
            assertTrue(info.contains(line), () -> "no '" + line + "' in:\n" + info);
        }
        if (Panattn.blasInfo().startsWith("OpenBLAS")) {
            assertEquals(1, Panattn.blasThreads(), "panattn keeps OpenBLAS single-threaded");
            assertTrue(info.contains("BLAS 1 per call"), info);
        }
    }

    @Test
    void isaCapsAreThisArchitecturesLevels() {
        List<Isa> levels = Panattn.isaLevels();
        Isa before = Panattn.isa();
        assertEquals(Isa.SCALAR, levels.get(0));
        assertTrue(levels.contains(Panattn.supportedIsa()), levels + " lacks " + Panattn.supportedIsa());
        for (Isa isa : Panattn.isaLevels().toArray(Isa[]::new)) {
            if (!levels.contains(isa)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Panattn.setMaxIsa(isa));
                assertTrue(e.getMessage().contains(isa.id()), e.getMessage());
            }
        }
        assertEquals(before, Panattn.isa(), "a refused cap changed the level");
    }

    @Test
    void explicitPathComesFirst() throws Exception {
        Path lib = Path.of("target/classes", PACKED).toAbsolutePath();
        String out = info("-Dpanattn.library.path=" + lib);
        assertTrue(out.contains("library:   " + lib), out);
    }

    @Test
    void missingExplicitPathIsReportedNotReplaced() throws Exception {
        String out = info("-Dpanattn.library.path=" + tmp.resolve("nothing.so"));
        assertTrue(out.contains("library:   unavailable"), out);
        assertTrue(out.contains("nothing.so: no such file") && out.contains("the jar's copy is not used instead"), out);
        assertTrue(!out.contains("extracted to"), out);
    }

    @Test
    void aBadThreadCountIsNamedAsAConfigurationError() throws Exception {
        for (String bad : new String[] {"abc", "-3", "100000"}) {
            String out = info("-Dpanattn.threads=" + bad);
            assertTrue(out.contains("library:   unavailable"), out);
            assertTrue(out.contains("configuration error: -Dpanattn.threads=" + bad)
                    && out.contains("expected an integer from 0 to 256"), out);
            assertTrue(!out.contains("noexec") && !out.contains("could not be loaded"), out);
        }
        assertTrue(info("-Dpanattn.threads=3").contains("threads:   3 in panattn's pool"));
    }

    @Test
    void unwritableExtractionFolderSaysWhatWasTried() throws Exception {
        Path file = Files.writeString(tmp.resolve("not-a-folder"), "x");
        String out = info("-Dpanattn.extract.dir=" + file);
        assertTrue(out.contains("library:   unavailable"), out);
        assertTrue(out.contains("-Dpanattn.library.path: not set"), out);
        assertTrue(out.contains("resource ") && out.contains("panattn.extract.dir"), out);
        assertTrue(out.contains("backend:   java"), out);
    }

    @Test
    void javaBackendWorksWithoutTheLibrary() throws Exception {
        Path file = Files.writeString(tmp.resolve("not-a-folder"), "x");
        String out = probe(Path.of("target/classes").toAbsolutePath(), null, "-Dpanattn.extract.dir=" + file);
        assertUnavailableButJavaWorks(out);
    }

    /**
     * Runs LoaderProbe in a fresh JVM whose class path has target/classes
     * replaced by {@code classes} and {@code first} (if not null) in front.
     */
    private static String probe(Path classes, Path first, String... properties) throws Exception {
        String own = Path.of("target/classes").toAbsolutePath().toString();
        String rest = Stream.of(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(e -> Path.of(e).toAbsolutePath().toString().equals(own) ? classes.toString() : e)
                .collect(Collectors.joining(File.pathSeparator));
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(List.of(properties));
        cmd.add("-cp");
        cmd.add(first == null ? rest : first + File.pathSeparator + rest);
        cmd.add("org.panattn.LoaderProbe");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    /** target/classes without the packed native library. */
    private Path classesWithoutLibrary() throws IOException {
        Path from = Path.of("target/classes");
        Path to = tmp.resolve("classes");
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path rel = from.relativize(f);
                if (rel.startsWith("native")) {
                    continue;
                }
                Path dest = to.resolve(rel.toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(dest);
                } else {
                    Files.copy(f, dest, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        return to;
    }

    /** A class-path folder whose native/<platform>/ holds {@code library} under the library's name. */
    private Path jarLayoutWith(Path library) throws IOException {
        Path root = tmp.resolve("fake-jar");
        Path dir = Files.createDirectories(root.resolve("native").resolve(
                org.panattn.internal.NativeLoader.platform()));
        Files.copy(library, dir.resolve(System.mapLibraryName("panattn")), StandardCopyOption.REPLACE_EXISTING);
        return root;
    }

    /** What every failed load must still give: the documented exception, and a working Java backend. */
    private static void assertUnavailableButJavaWorks(String out) {
        assertTrue(out.contains("available=false"), out);
        assertTrue(out.contains("exception=org.panattn.NativeUnavailableException"), out);
        assertTrue(out.contains("native=org.panattn.NativeUnavailableException"), out);
        assertTrue(out.contains("default=JAVA"), out);
        assertTrue(out.contains("java=ok"), out);
    }

    @Test
    void missingLibrarySaysWhereItLooked() throws Exception {
        String out = probe(classesWithoutLibrary(), null);
        assertUnavailableButJavaWorks(out);
        assertTrue(out.contains("-Dpanattn.library.path: not set"), out);
        assertTrue(out.contains("not in the jar or class path"), out);
        String named = probe(classesWithoutLibrary(), null, "-Dpanattn.library.path=" + tmp.resolve("nothing.so"));
        assertUnavailableButJavaWorks(named);
        assertTrue(named.contains("nothing.so: no such file"), named);
        assertTrue(named.contains("cause=java.io.IOException: no such file"), named);
    }

    @Test
    void libraryOfAnotherArchitectureIsRefusedWithTheLinkerReason() throws Exception {
        assumeTrue(org.panattn.internal.NativeLoader.platform().equals("linux-x86_64"),
                "patches an x86-64 ELF header");
        Path lib = Path.of("target/classes/native/linux-x86_64/libpanattn.so");
        byte[] elf = Files.readAllBytes(lib);
        elf[18] = (byte) 183; // e_machine: EM_AARCH64 instead of EM_X86_64
        elf[19] = 0;
        Path arm = Files.write(tmp.resolve("libpanattn-aarch64.so"), elf);
        String out = probe(classesWithoutLibrary(), jarLayoutWith(arm), "-Dpanattn.library.path=" + arm);
        assertUnavailableButJavaWorks(out);
        assertTrue(out.contains("cause=java.lang.UnsatisfiedLinkError"), out);
        assertTrue(out.contains("AARCH64") || out.contains("ELF"), out);
        assertTrue(out.contains("-Dpanattn.library.path=" + arm), out);
    }

    @Test
    void fileThatIsNoLibraryIsRefused() throws Exception {
        Path text = Files.writeString(tmp.resolve("libpanattn.so"), "this is not a shared library\n");
        String out = probe(classesWithoutLibrary(), jarLayoutWith(text), "-Dpanattn.library.path=" + text);
        assertUnavailableButJavaWorks(out);
        assertTrue(out.contains("cause=java.lang.UnsatisfiedLinkError"), out);
    }

    /** A copy of the built library with every NUL-terminated string {@code from} replaced by {@code to}. */
    private Path patchedLibrary(String from, String to) throws IOException {
        assertEquals(from.length(), to.length());
        byte[] lib = Files.readAllBytes(Path.of("target/classes", PACKED));
        byte[] find = ("\0" + from + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] put = ("\0" + to + "\0").getBytes(StandardCharsets.US_ASCII);
        int patched = 0;
        for (int i = 0; i + find.length <= lib.length; i++) {
            if (java.util.Arrays.equals(lib, i, i + find.length, find, 0, find.length)) {
                System.arraycopy(put, 0, lib, i, put.length);
                patched++;
            }
        }
        assertTrue(patched > 0, "no string " + from + " in the library");
        return Files.write(tmp.resolve(System.mapLibraryName("panattn-patched")), lib);
    }

    @Test
    void aLibraryThatIsNotLibpanattnIsRefused() throws Exception {
        Path libm = Stream.of("/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib/libm.dylib")
                .map(Path::of).filter(Files::exists).findFirst().orElse(null);
        assumeTrue(libm != null, "no system libm found");
        String out = probe(Path.of("target/classes").toAbsolutePath(), null, "-Dpanattn.library.path=" + libm);
        assertUnavailableButJavaWorks(out);
        assertTrue(out.contains("not libpanattn: it exports none of the") && out.contains("pa_version"), out);
        assertTrue(out.contains("info=ok"), out);
    }

    @Test
    void anOlderLibpanattnLackingAFunctionIsRefused() throws Exception {
        assumeTrue(NativeLoader.platform().startsWith("linux"), "patches an ELF symbol name");
        Path old = patchedLibrary("pa_rope", "qa_rope"); // as if built before pa_rope existed
        String out = probe(Path.of("target/classes").toAbsolutePath(), null, "-Dpanattn.library.path=" + old);
        assertUnavailableButJavaWorks(out);
        assertTrue(out.contains("lacks 1 of ") && out.contains("(pa_rope)"), out);
        assertTrue(out.contains("info=ok"), out);
    }

    @Test
    void aLibpanattnOfAnotherVersionIsRefused() throws Exception {
        assumeTrue(NativeLoader.platform().startsWith("linux"), "patches the version string of an ELF library");
        String version = Panattn.version();
        String other = version.substring(0, version.length() - 1) + (version.endsWith("9") ? "8" : "9");
        String out = probe(Path.of("target/classes").toAbsolutePath(), null,
                "-Dpanattn.library.path=" + patchedLibrary(version, other));
        assertUnavailableButJavaWorks(out);
        assertTrue(out.contains("libpanattn " + other + ", but this jar is panattn " + version), out);
    }

    @Test
    void theLoaderChecksEveryBoundFunction() {
        List<String> names = NativeLoader.boundFunctions();
        assertTrue(names.contains("pa_version") && names.contains("pa_sdpa_dense") && names.contains("pa_rope"), names.toString());
        assertTrue(names.stream().allMatch(n -> n.startsWith("pa_") && !n.contains("$")), names.toString());
    }

    @Test
    void unwritableExtractionFolderGivesTheFileSystemCause() throws Exception {
        Path file = Files.writeString(tmp.resolve("not-a-folder"), "x");
        String out = probe(Path.of("target/classes").toAbsolutePath(), null, "-Dpanattn.extract.dir=" + file);
        assertUnavailableButJavaWorks(out);
        assertTrue(out.contains("cause=java.nio.file."), out);
        assertTrue(out.contains("panattn.extract.dir"), out);
    }
}
