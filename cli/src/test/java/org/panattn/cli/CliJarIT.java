package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarFile;

import org.junit.jupiter.api.Test;

/**
 * The command line's jar {@code mvn package} built (run by Failsafe after
 * packaging), run as a user runs it: {@code java -jar}, with no other flag.
 */
class CliJarIT {
    private static final Path JAR = Path.of(System.getProperty("panattn.cli.jar", "target/panattn-cli.jar"));

    private record Run(int code, String out, String err) {
    }

    private static Run java(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(), "-jar",
                JAR.toString()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile("panattn-cli", ".out"), err = Files.createTempFile("panattn-cli", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            int code = p.waitFor();
            return new Run(code, Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.delete(out);
            Files.delete(err);
        }
    }

    @Test
    void manifestRunsTheCommandLineWithNativeAccess() throws IOException {
        assertTrue(Files.isRegularFile(JAR), "missing " + JAR);
        try (JarFile f = new JarFile(JAR.toFile())) {
            Attributes a = f.getManifest().getMainAttributes();
            assertEquals(Main.class.getName(), a.getValue("Main-Class"));
            assertEquals("ALL-UNNAMED", a.getValue("Enable-Native-Access"));
            assertTrue(f.stream().noneMatch(e -> e.getName().endsWith("module-info.class")),
                    "the jar runs on the class path: no module descriptor belongs in it");
            assertTrue(f.getEntry("org/panattn/Attention.class") != null, "the library is in the jar");
        }
    }

    @Test
    void infoRunsOnTheNativeLibraryWithoutWarnings() throws Exception {
        Run r = java("info");
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.contains("library:   jar:") && r.out.contains("backend:   native"), r.out);
        assertEquals("", r.err, "no warning (native access is enabled by the manifest)");
    }

    @Test
    void benchSkipsTheVectorApiWhenTheJvmLacksItAndSaysWhy() throws Exception {
        Run r = java("bench", "--workload", "W3", "--iterations", "2", "--max-seconds", "1");
        assertEquals(0, r.code, r.err);
        assertEquals("panattn bench: skipping vector: Backend.JAVA_VECTOR needs the incubating Vector API: run java "
                + "with --add-modules jdk.incubator.vector\n", r.err);
        assertTrue(r.out.lines().anyMatch(l -> l.contains(" native ")) && r.out.lines().anyMatch(l -> l.contains(" java "))
                && r.out.lines().noneMatch(l -> l.contains(" vector ")), r.out);
        Run only = java("bench", "--workload", "W3", "--backend", "vector", "--iterations", "1");
        assertEquals(1, only.code, only.err);
        assertTrue(only.err.endsWith("panattn bench: no backend of vector can run here\n"), only.err);
    }

    /** Without the Vector API the read test sums in plain Java, and says so. */
    @Test
    void theReadTestRunsWithoutTheVectorApiAndSaysHow() throws Exception {
        Run r = java("bench", "--workload", "W2", "--h", "2", "--hkv", "2", "--lk", "1024", "--d", "16", "--backend",
                "native", "--iterations", "2", "--max-seconds", "1", "--warmup-seconds", "0.1", "--json");
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.lines().anyMatch(l -> l.startsWith("\"read_tests\":[{") && l.contains("\"method\":\"scalar\"")),
                r.out);
        assertTrue(r.err.lines().anyMatch(l -> l.startsWith("read ") && l.contains("(K and V), scalar")), r.err);
    }

    @Test
    void versionAndUsageErrorsAsAShellSeesThem() throws Exception {
        Run v = java("--version");
        assertEquals(0, v.code, v.err);
        assertTrue(v.out.startsWith("panattn ") && v.out.contains("\nnative: libpanattn "), v.out);
        Run bad = java("run", "--scale", "x");
        assertEquals(2, bad.code);
        assertTrue(bad.err.startsWith("panattn run: --scale: expected a number, got \"x\"\n"), bad.err);
    }
}
