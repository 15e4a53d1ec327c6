package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged jar on the module path and on the class path, with the
 * native-access options the README documents: on the module path native
 * access is enabled for the module {@code org.panattn} (ALL-UNNAMED does
 * not cover it), on the class path for ALL-UNNAMED, and when the JVM denies
 * it the loader says which option to add.
 */
class ModulePathIT {
    private static final Path JAR = Path.of(System.getProperty("panattn.jar", "target/panattn.jar"));

    @TempDir
    static Path tmp;

    /**
     * Prints Panattn.info() (what {@code panattn info} prints) in a fresh JVM with the given options, from
     * InfoProbe, a class of its own on the class path, with the jar on the module path or the class path.
     */
    private static String info(boolean modulePath, String... options) throws Exception {
        Path probe = Files.createTempDirectory(tmp, "probe");
        Path cls = Path.of("org/panattn/probe/InfoProbe.class");
        Files.createDirectories(probe.resolve(cls).getParent());
        Files.copy(Path.of("target/test-classes").resolve(cls), probe.resolve(cls));
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.addAll(List.of(options));
        if (modulePath) {
            cmd.addAll(List.of("-p", JAR.toString(), "--add-modules", "org.panattn", "-cp", probe.toString()));
        } else {
            cmd.addAll(List.of("-cp", JAR + File.pathSeparator + probe));
        }
        cmd.add("org.panattn.probe.InfoProbe");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + "\n" + out);
        return out;
    }

    private static boolean loaded(String info) {
        return info.lines().anyMatch(l -> l.startsWith("library:   ") && l.contains("libpanattn"))
                && info.contains("backend:   native");
    }

    @Test
    void onTheModulePathNativeAccessIsEnabledForTheModule() throws Exception {
        String out = info(true, "--enable-native-access=org.panattn");
        assertTrue(loaded(out), out);
        assertFalse(out.contains("restricted method"), "a native-access warning despite the option:\n" + out);
    }

    @Test
    void onTheModulePathAllUnnamedDoesNotCoverTheModule() throws Exception {
        String out = info(true, "--illegal-native-access=deny", "--enable-native-access=ALL-UNNAMED");
        assertFalse(loaded(out), out);
        assertTrue(out.contains("library:   unavailable") && out.contains("run java with --enable-native-access=org.panattn"),
                out);
    }

    @Test
    void onTheClassPathNativeAccessIsEnabledForAllUnnamed() throws Exception {
        String out = info(false, "--enable-native-access=ALL-UNNAMED");
        assertTrue(loaded(out), out);
        assertFalse(out.contains("restricted method"), out);
        String denied = info(false, "--illegal-native-access=deny");
        assertFalse(loaded(denied), denied);
        assertTrue(denied.contains("run java with --enable-native-access=ALL-UNNAMED"), denied);
    }
}
