package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.panattn.internal.NativeLoader;

/** Loading, in child JVMs so each starts with nothing loaded. */
class NativeLoaderTest {
    @TempDir
    Path tmp;

    /** Runs `panattn info` in a fresh JVM with the given system properties. */
    private static String info(String... properties) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(List.of(properties));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("org.panattn.cli.Main");
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
        for (Isa isa : Isa.values()) {
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
    void missingExplicitPathFallsBackToTheJarCopy() throws Exception {
        String out = info("-Dpanattn.library.path=" + tmp.resolve("nothing.so"));
        assertTrue(out.contains("extracted to"), out);
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
        List<String> cmd = List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-Dpanattn.extract.dir=" + file, "-cp", System.getProperty("java.class.path"),
                "org.panattn.cli.Main", "run", "--q", "src/test/resources/npy/q3.npy",
                "--k", "src/test/resources/npy/k3.npy", "--v", "src/test/resources/npy/v3.npy",
                "--out", tmp.resolve("o.npy").toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertTrue(Files.size(tmp.resolve("o.npy")) > 0);
    }
}
