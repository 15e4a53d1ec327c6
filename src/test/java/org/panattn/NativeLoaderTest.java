package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    @Test
    void loadsTheCopyOnTheClassPath() {
        assertTrue(Panattn.isNativeAvailable(), () -> Panattn.unavailabilityCause().orElseThrow().getMessage());
        assertTrue(Panattn.nativeLibraryPath().contains("native/linux-x86_64/libpanattn.so")
                || !System.getProperty("os.name").startsWith("Linux"), Panattn.nativeLibraryPath());
        assertEquals(System.getProperty("panattn.project.version", Panattn.version()), Panattn.version());
    }

    @Test
    void explicitPathComesFirst() throws Exception {
        Path lib = Path.of("target/classes/native/linux-x86_64/libpanattn.so").toAbsolutePath();
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
