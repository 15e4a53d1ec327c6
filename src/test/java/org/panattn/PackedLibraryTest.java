package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.panattn.internal.NativeLoader;

/**
 * The Linux libraries packed for the jar (target/classes/native/linux-*)
 * are self-contained: they need nothing beyond the C runtime (OpenBLAS is
 * linked in statically), export exactly the header's functions, need no
 * newer glibc than the floor the README states, and are stripped, their
 * symbols kept in the build tree beside the unstripped library. Checked with binutils'
 * readelf, which reads ELF files of every architecture, so the cross-built
 * aarch64 library is checked here too.
 */
@EnabledOnOs(OS.LINUX)
class PackedLibraryTest {
    private static final Path PACKED = Path.of(System.getProperty("panattn.packed.dir", "target/classes/native"));
    /** CMake's build folder for this machine's library; a cross-build's is {@code <it>-<arch>}. */
    private static final Path NATIVE_BUILD = Path.of(System.getProperty("panattn.native.build.dir", "target/native"));

    /** The C runtime's shared objects: every Linux machine has them. */
    private static final Pattern C_RUNTIME = Pattern.compile(
            "libc\\.so\\.6|libm\\.so\\.6|libpthread\\.so\\.0|libdl\\.so\\.2|libgcc_s\\.so\\.1"
                    + "|ld-linux-x86-64\\.so\\.2|ld-linux-aarch64\\.so\\.1");

    private static final Pattern NEEDED = Pattern.compile("\\(NEEDED\\)\\s+Shared library: \\[([^]]+)]");

    /** readelf --dyn-syms: Num: Value Size Type Bind Vis Ndx Name. */
    private static final Pattern DYN_SYM = Pattern.compile(
            "^\\s*\\d+:\\s+\\S+\\s+\\d+\\s+(\\w+)\\s+(\\w+)\\s+(\\w+)\\s+(\\w+)\\s+(\\S+)");

    /**
     * The newest glibc a library built on Debian 12 (glibc 2.36) needs: what
     * the README states for a local build. CI builds the jar's Linux
     * libraries on Debian 11 and sets {@code -Dpanattn.glibc.floor=2.31}, the
     * floor the README states for the released jar.
     */
    private static final String GLIBC_FLOOR = "2.34";

    /** readelf --version-info, the .gnu.version_r entries: "Name: GLIBC_2.34  Flags: none  Version: 2". */
    private static final Pattern GLIBC_NEEDED = Pattern.compile("Name: GLIBC_(\\d+(?:\\.\\d+)*)\\s");

    private static final Pattern HEADER_FUNCTION = Pattern.compile("PA_API\\s+[^;(]*?\\b(pa_\\w+)\\s*\\(");

    /** This machine's platform, plus what the build says it cross-built (Maven's panattn.packed.extra). */
    private static Set<String> expectedPlatforms() {
        Set<String> platforms = new TreeSet<>();
        platforms.add(NativeLoader.platform());
        for (String p : System.getProperty("panattn.packed.extra", "").split(",")) {
            if (!p.isBlank()) {
                platforms.add(p.trim());
            }
        }
        return platforms;
    }

    private static String readelf(String option, Path lib) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("readelf", option, "-W", lib.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "readelf " + option + " " + lib + ":\n" + out);
        return out;
    }

    private static List<String> matches(Pattern pattern, String text) {
        List<String> found = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) {
            found.add(m.group(1));
        }
        return found;
    }

    @Test
    void theBuildPackedExactlyTheExpectedPlatforms() throws IOException {
        Set<String> packed = new TreeSet<>();
        try (Stream<Path> dirs = Files.list(PACKED)) {
            dirs.filter(Files::isDirectory).forEach(d -> packed.add(d.getFileName().toString()));
        }
        assertEquals(expectedPlatforms(), packed, "platform folders in " + PACKED + " (stale? run mvn clean)");
        for (String platform : packed) {
            Path lib = PACKED.resolve(platform).resolve(System.mapLibraryName("panattn"));
            assertTrue(Files.isRegularFile(lib), "missing " + lib);
        }
    }

    @Test
    void linuxLibrariesAreBuiltForTheirFolder() throws Exception {
        for (String platform : expectedPlatforms()) {
            String machine = switch (platform) {
                case "linux-x86_64" -> "Advanced Micro Devices X86-64";
                case "linux-aarch64" -> "AArch64";
                default -> throw new AssertionError("no ELF machine known for " + platform);
            };
            String header = readelf("-h", library(platform));
            assertTrue(header.contains("Machine:") && header.lines().anyMatch(
                    l -> l.trim().startsWith("Machine:") && l.trim().endsWith(machine)), platform + ":\n" + header);
        }
    }

    @Test
    void linuxLibrariesNeedOnlyTheCRuntime() throws Exception {
        for (String platform : expectedPlatforms()) {
            List<String> needed = matches(NEEDED, readelf("-d", library(platform)));
            assertTrue(needed.contains("libc.so.6"), platform + ": no libc.so.6 among " + needed);
            List<String> stray = needed.stream().filter(n -> !C_RUNTIME.matcher(n).matches()).toList();
            assertTrue(stray.isEmpty(), platform + " needs more than the C runtime: " + stray + " (all: " + needed
                    + "); is OpenBLAS linked statically?");
        }
    }

    @Test
    void linuxLibrariesExportExactlyTheHeadersFunctions() throws Exception {
        Set<String> api = new TreeSet<>(matches(HEADER_FUNCTION,
                Files.readString(Path.of(System.getProperty("panattn.header", "native/include/panattn.h")))));
        assertTrue(api.contains("pa_sdpa"), "header functions: " + api);
        for (String platform : expectedPlatforms()) {
            Set<String> exported = new TreeSet<>();
            for (String line : readelf("--dyn-syms", library(platform)).lines().toList()) {
                Matcher m = DYN_SYM.matcher(line);
                boolean defined = m.find() && !m.group(4).equals("UND");
                if (defined && !m.group(2).equals("LOCAL") && !m.group(1).equals("SECTION")) {
                    exported.add(m.group(5).replaceFirst("@.*", ""));
                }
            }
            assertEquals(api, exported, platform + ": exported symbols vs the header's functions");
        }
    }

    @Test
    void linuxLibrariesNeedNoNewerGlibcThanTheFloor() throws Exception {
        String property = System.getProperty("panattn.glibc.floor", "");
        String floor = property.isBlank() ? GLIBC_FLOOR : property.trim();
        for (String platform : expectedPlatforms()) {
            List<String> versions = matches(GLIBC_NEEDED, readelf("--version-info", library(platform)));
            assertFalse(versions.isEmpty(), platform + ": no GLIBC_ symbol versions found");
            String newest = versions.stream().max(PackedLibraryTest::compareVersions).orElseThrow();
            System.out.println(platform + ": needs glibc " + newest + " (newest GLIBC_ symbol version), floor " + floor);
            assertTrue(compareVersions(newest, floor) <= 0, platform + " needs GLIBC_" + newest + ", newer than the floor "
                    + floor + ": build it on an older glibc (CI's Debian 11 container) or raise the floor in the README");
        }
    }

    @Test
    void linuxLibrariesAreStrippedWithTheirSymbolsKeptAside() throws Exception {
        for (String platform : expectedPlatforms()) {
            Path lib = library(platform);
            String sections = readelf("-S", lib);
            assertFalse(sections.contains(" .symtab "), platform + ": the packed library is not stripped");
            assertTrue(sections.contains(" .gnu_debuglink "), platform + ": no .gnu_debuglink naming its symbols");
            assertTrue(readelf("--string-dump=.gnu_debuglink", lib).contains("libpanattn.so.debug"), platform);
            Path build = platform.equals(NativeLoader.platform()) ? NATIVE_BUILD
                    : NATIVE_BUILD.resolveSibling(NATIVE_BUILD.getFileName() + "-" + platform.replaceFirst("^linux-", ""));
            Path debug = build.resolve("libpanattn.so.debug");
            assertTrue(Files.isRegularFile(debug), platform + ": no " + debug);
            assertTrue(readelf("-S", debug).contains(" .symtab "), platform + ": " + debug + " holds no symbols");
        }
    }

    /** Compares dotted version numbers: 2.9 &lt; 2.17 &lt; 2.34. */
    static int compareVersions(String a, String b) {
        String[] x = a.split("\\.");
        String[] y = b.split("\\.");
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            int c = Integer.compare(i < x.length ? Integer.parseInt(x[i]) : 0, i < y.length ? Integer.parseInt(y[i]) : 0);
            if (c != 0) {
                return c;
            }
        }
        return 0;
    }

    @Test
    void versionsCompareNumerically() {
        assertTrue(compareVersions("2.9", "2.17") < 0);
        assertTrue(compareVersions("2.34", "2.3.4") > 0);
        assertEquals(0, compareVersions("2.31", "2.31.0"));
        assertTrue(compareVersions("2.2.5", "2.31") < 0);
    }

    private static Path library(String platform) {
        return PACKED.resolve(platform).resolve("libpanattn.so");
    }
}
