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
}
