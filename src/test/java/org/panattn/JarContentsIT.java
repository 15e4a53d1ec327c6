package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.stream.Collectors;

import javax.xml.parsers.DocumentBuilderFactory;

import org.junit.jupiter.api.Test;
import org.panattn.internal.NativeLoader;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.InputSource;

/**
 * The jars {@code mvn package} built (run by Failsafe after packaging): the
 * library jar holds only the main sources' classes, the native libraries
 * and the version resource (nothing from tests or benchmarks), its module
 * exports only org.panattn and org.panattn.layers and needs only java.base,
 * and the sources and Javadoc jars exist beside it. All three carry the
 * licence and the notices of what the native libraries link statically,
 * and the Javadoc footer states the licence.
 */
class JarContentsIT {
    private static final Path JAR = Path.of(System.getProperty("panattn.jar", "target/panattn.jar"));
    private static final Path MAIN_SOURCES = Path.of("src/main/java");
    /** The licence, the notice and the licences of what the native libraries link statically. */
    private static final List<String> LICENCE_FILES =
            List.of("META-INF/LICENSE", "META-INF/NOTICE", "META-INF/licenses/OpenBLAS.txt");

    private static Set<String> entries(Path jar) throws IOException {
        assertTrue(Files.isRegularFile(jar), "missing " + jar);
        try (JarFile f = new JarFile(jar.toFile())) {
            return f.stream().filter(e -> !e.isDirectory()).map(e -> e.getName())
                    .collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static Path sibling(String classifier) {
        return JAR.resolveSibling(JAR.getFileName().toString().replace(".jar", "-" + classifier + ".jar"));
    }

    /** A class entry comes from src/main/java when its top-level class has a source file there. */
    private static boolean fromMainSources(String entry) {
        String topLevel = entry.replaceFirst("\\.class$", "").replaceFirst("\\$.*", "");
        return Files.isRegularFile(MAIN_SOURCES.resolve(topLevel + ".java"));
    }

    @Test
    void libraryJarHoldsOnlyTheLibrary() throws IOException {
        Set<String> stray = new TreeSet<>();
        for (String e : entries(JAR)) {
            boolean ok = e.equals("META-INF/MANIFEST.MF") || e.startsWith("META-INF/maven/org.panattn/panattn/")
                    || LICENCE_FILES.contains(e)
                    || e.equals("org/panattn/version.properties")
                    || e.endsWith(".class") && fromMainSources(e)
                    || e.matches("native/[a-z]+-[a-z0-9_]+/" + "(libpanattn\\.so|libpanattn\\.dylib|panattn\\.dll)");
            if (!ok) {
                stray.add(e);
            }
        }
        assertTrue(stray.isEmpty(), "entries that do not belong in the library jar: " + stray);
    }

    @Test
    void libraryJarCarriesEveryPlatformBuilt() throws IOException {
        Set<String> natives = entries(JAR).stream().filter(e -> e.startsWith("native/"))
                .map(e -> e.split("/")[1]).collect(Collectors.toCollection(TreeSet::new));
        Set<String> expected = new TreeSet<>(List.of(NativeLoader.platform()));
        for (String p : System.getProperty("panattn.packed.extra", "").split(",")) {
            if (!p.isBlank()) {
                expected.add(p.trim());
            }
        }
        assertEquals(expected, natives, "native libraries in " + JAR);
    }

    @Test
    void moduleExportsOnlyTheApiAndNeedsOnlyTheJdk() {
        ModuleDescriptor m = ModuleFinder.of(JAR).find("org.panattn").orElseThrow().descriptor();
        assertEquals(Set.of("org.panattn", "org.panattn.layers"),
                m.exports().stream().map(ModuleDescriptor.Exports::source).collect(Collectors.toSet()));
        assertTrue(m.exports().stream().noneMatch(ModuleDescriptor.Exports::isQualified), m.exports().toString());
        // java.base alone, and nothing optional: not jdk.incubator.vector, not even static, since javac would
        // warn a consumer on the module path that compiles without --release that it uses an incubating
        // module (an error under -Werror; scripts/consumer-test.sh compiles one).
        assertEquals(Set.of("java.base"), m.requires().stream().map(ModuleDescriptor.Requires::name)
                .collect(Collectors.toSet()), m.requires().toString());
    }

    @Test
    void manifestEnablesNativeAccessAndRunsNothing() throws IOException {
        try (JarFile f = new JarFile(JAR.toFile())) {
            Attributes a = f.getManifest().getMainAttributes();
            assertEquals(null, a.getValue("Main-Class"), "the command line is the panattn-cli artifact");
            assertEquals("ALL-UNNAMED", a.getValue("Enable-Native-Access"));
            assertEquals(Panattn.version(), a.getValue("Implementation-Version"));
        }
    }

    /** The POM in the jar is the one Maven installs and publishes: ${revision} resolved. */
    @Test
    void thePackedPomNamesTheVersion() throws Exception {
        try (JarFile f = new JarFile(JAR.toFile())) {
            String pom = text(f, "META-INF/maven/org.panattn/panattn/pom.xml");
            assertFalse(pom.contains("${revision}"), "the packed POM is not flattened");
            Element project = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                    .parse(new InputSource(new StringReader(pom))).getDocumentElement();
            String version = null;
            for (Node n = project.getFirstChild(); n != null; n = n.getNextSibling()) {
                if (n instanceof Element e && e.getTagName().equals("version")) {
                    version = e.getTextContent().trim();
                }
            }
            assertEquals(Panattn.version(), version, "the packed POM's version");
        }
    }

    @Test
    void everyJarCarriesTheLicenceAndTheNotices() throws IOException {
        String licence = Files.readString(Path.of("LICENSE"));
        for (Path jar : List.of(JAR, sibling("sources"), sibling("javadoc"))) {
            try (JarFile f = new JarFile(jar.toFile())) {
                for (String name : LICENCE_FILES) {
                    assertNotNull(f.getEntry(name), jar.getFileName() + " lacks " + name);
                }
                assertEquals(licence, text(f, "META-INF/LICENSE"), jar.getFileName() + ": META-INF/LICENSE");
                assertTrue(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004")
                        && licence.contains("END OF TERMS AND CONDITIONS"), "LICENSE is not the Apache License 2.0");
                String notice = text(f, "META-INF/NOTICE");
                assertTrue(notice.contains("Apache License, Version 2.0") && notice.contains("OpenBLAS")
                        && notice.contains("META-INF/licenses/OpenBLAS.txt"), jar.getFileName() + ": NOTICE\n" + notice);
                String openblas = text(f, "META-INF/licenses/OpenBLAS.txt");
                assertTrue(openblas.contains("The OpenBLAS Project")
                        && openblas.contains("The University of Texas at Austin")
                        && openblas.contains("Neither the name of the OpenBLAS project"),
                        jar.getFileName() + ": OpenBLAS.txt lacks the BSD-3-Clause text or its copyright holders");
            }
        }
    }

    @Test
    void javadocFooterStatesTheLicence() throws IOException {
        try (JarFile f = new JarFile(sibling("javadoc").toFile())) {
            String page = f.stream().filter(e -> e.getName().endsWith("org/panattn/Tensor.html")).findFirst()
                    .map(e -> text(f, e.getName())).orElseThrow();
            assertTrue(page.contains("Apache License, Version 2.0"), "no licence in the Javadoc footer");
            assertFalse(page.contains("All rights reserved"), "the Javadoc footer still says All rights reserved");
        }
    }

    private static String text(JarFile f, String name) {
        try (var in = f.getInputStream(f.getEntry(name))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void sourcesAndJavadocJarsAccompanyIt() throws IOException {
        Set<String> sources = entries(sibling("sources"));
        assertTrue(sources.contains("org/panattn/Attention.java") && sources.contains("module-info.java"),
                "sources jar: " + sources);
        assertTrue(sources.stream().noneMatch(e -> e.endsWith("Test.java") || e.endsWith("IT.java")),
                "test sources in the sources jar");
        Set<String> javadoc = entries(sibling("javadoc"));
        assertTrue(javadoc.stream().anyMatch(e -> e.endsWith("org/panattn/Attention.html"))
                && javadoc.stream().anyMatch(e -> e.endsWith("org/panattn/layers/MultiHeadAttention.html")),
                "javadoc jar: " + javadoc.stream().limit(20).toList());
        assertTrue(javadoc.stream().noneMatch(e -> e.contains("/internal/") || e.contains("/cli/")),
                "the Javadoc documents more than the exported API");
    }
}
