package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

import javax.xml.parsers.DocumentBuilderFactory;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * The effective POM (written by the build's help:effective-pom execution)
 * holds what Maven Central requires of a release: coordinates, name,
 * description, url, licences, developers and scm, with no placeholder
 * left; sources and Javadoc jars are attached; the release profile signs
 * with GnuPG and publishes with Sonatype's Central plugin; the library
 * has no dependency outside the tests; and the version is written once, in
 * .mvn/maven.config, which the library's and the benchmarks' POMs, CMake
 * and the README's dependency snippet follow.
 */
class PublishablePomTest {
    private static final Path POM = Path.of(System.getProperty("panattn.effective.pom", "target/effective-pom.xml"));
    private static Element project;

    @BeforeAll
    static void parse() throws Exception {
        assertTrue(Files.isRegularFile(POM), "missing " + POM + " (the build's help:effective-pom writes it)");
        Element root = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(POM.toFile())
                .getDocumentElement();
        // Built in a reactor with the command line (reactor/pom.xml), the library being its first project,
        // help:effective-pom writes every project's POM: the library's is the one called panattn.
        project = root.getTagName().equals("projects") ? children(root, "project").stream()
                .filter(p -> text(p, "artifactId").equals("panattn")).findFirst().orElseThrow() : root;
        assertEquals("project", project.getTagName(), POM + " holds no project");
    }

    private static List<Element> children(Element parent, String name) {
        List<Element> found = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                found.add(e);
            }
        }
        return found;
    }

    /** The one child called {@code name}, or a failure naming the path. */
    private static Element child(Element parent, String name) {
        List<Element> found = children(parent, name);
        assertEquals(1, found.size(), "<" + parent.getTagName() + "> needs one <" + name + ">");
        return found.get(0);
    }

    /** The text of a child that must be present, non-blank and no placeholder. */
    private static String text(Element parent, String name) {
        String value = child(parent, name).getTextContent().trim();
        assertFalse(value.isEmpty(), "<" + parent.getTagName() + "><" + name + "> is empty");
        String lower = value.toLowerCase(Locale.ROOT);
        for (String placeholder : List.of("${", "todo", "fixme", "example.com", "example.org", "changeme", "your")) {
            assertFalse(lower.contains(placeholder), "<" + name + "> is a placeholder: " + value);
        }
        return value;
    }

    private static Element plugin(Element plugins, String groupId, String artifactId) {
        for (Element p : children(plugins, "plugin")) {
            if (text(p, "artifactId").equals(artifactId)) {
                // Profiles are shown as written, where the groupId may be left to Maven's default.
                String group = children(p, "groupId").isEmpty() ? "org.apache.maven.plugins" : text(p, "groupId");
                assertEquals(groupId, group, artifactId + "'s groupId");
                return p;
            }
        }
        throw new AssertionError("no " + groupId + ":" + artifactId + " among the plugins");
    }

    /** The goals of every execution of a plugin. */
    private static List<String> goals(Element plugin) {
        List<String> goals = new ArrayList<>();
        for (Element executions : children(plugin, "executions")) {
            for (Element execution : children(executions, "execution")) {
                for (Element g : children(execution, "goals")) {
                    children(g, "goal").forEach(goal -> goals.add(goal.getTextContent().trim()));
                }
            }
        }
        return goals;
    }

    @Test
    void centralsRequiredElementsArePresent() {
        assertEquals("org.panattn", text(project, "groupId"));
        assertEquals("panattn", text(project, "artifactId"));
        assertEquals(Panattn.version(), text(project, "version"));
        assertTrue(text(project, "version").matches("\\d+\\.\\d+\\.\\d+(-[A-Za-z0-9.]+)?"), "semantic version");
        text(project, "name");
        assertTrue(text(project, "description").length() > 20, "a description of a sentence or more");
        String url = text(project, "url");
        assertTrue(url.startsWith("https://github.com/panattn/panattn"), url);

        Element licence = child(child(project, "licenses"), "license");
        assertEquals("Apache-2.0", text(licence, "name"));
        assertTrue(text(licence, "url").startsWith("https://www.apache.org/licenses/LICENSE-2.0"));

        List<Element> developers = children(child(project, "developers"), "developer");
        assertFalse(developers.isEmpty(), "no <developer>");
        developers.forEach(d -> text(d, "name"));

        Element scm = child(project, "scm");
        assertTrue(text(scm, "connection").startsWith("scm:git:https://github.com/panattn/panattn"));
        assertTrue(text(scm, "developerConnection").startsWith("scm:git:"));
        assertTrue(text(scm, "url").startsWith("https://github.com/panattn/panattn"));
    }

    @Test
    void sourcesAndJavadocJarsAreAttached() {
        Element plugins = child(child(project, "build"), "plugins");
        assertTrue(goals(plugin(plugins, "org.apache.maven.plugins", "maven-source-plugin")).contains("jar-no-fork"));
        assertTrue(goals(plugin(plugins, "org.apache.maven.plugins", "maven-javadoc-plugin")).contains("jar"));
    }

    @Test
    void releaseProfileSignsAndPublishesToCentral() {
        Element release = children(child(project, "profiles"), "profile").stream()
                .filter(p -> text(p, "id").equals("release")).findFirst()
                .orElseThrow(() -> new AssertionError("no release profile"));
        Element plugins = child(child(release, "build"), "plugins");
        assertTrue(goals(plugin(plugins, "org.apache.maven.plugins", "maven-gpg-plugin")).contains("sign"),
                "the release profile's gpg plugin does not sign");
        Element central = plugin(plugins, "org.sonatype.central", "central-publishing-maven-plugin");
        assertEquals("true", text(central, "extensions"), "central-publishing-maven-plugin must be an extension");
        assertNotNull(text(child(central, "configuration"), "publishingServerId"));
    }

    @Test
    void theLibraryHasNoDependencyBeyondTheTests() {
        for (Element deps : children(project, "dependencies")) {
            for (Element d : children(deps, "dependency")) {
                String scope = children(d, "scope").isEmpty() ? "compile" : text(d, "scope");
                assertEquals("test", scope, text(d, "groupId") + ":" + text(d, "artifactId") + " is not test-only");
            }
        }
    }

    @Test
    void theVersionIsWrittenOnce() throws Exception {
        String version = Panattn.version();
        assertEquals(List.of("-Drevision=" + version), Files.readAllLines(Path.of(".mvn/maven.config")).stream()
                .filter(l -> l.startsWith("-Drevision=")).toList(), ".mvn/maven.config");
        Pattern literal = Pattern.compile("(?<![\\d.])" + Pattern.quote(version) + "(?![\\d.])");
        for (String file : List.of("pom.xml", "bench/pom.xml", "CMakeLists.txt")) {
            assertFalse(literal.matcher(Files.readString(Path.of(file))).find(),
                    file + " writes the version " + version + " by hand; it belongs in .mvn/maven.config only");
        }
        Element bench = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(Path.of("bench/pom.xml").toFile()).getDocumentElement();
        assertEquals("${revision}", child(bench, "version").getTextContent().trim(), "bench's version");
        Element panattn = children(child(bench, "dependencies"), "dependency").stream()
                .filter(d -> child(d, "artifactId").getTextContent().equals("panattn")).findFirst().orElseThrow();
        assertEquals("${project.version}", child(panattn, "version").getTextContent().trim(),
                "bench's panattn dependency");
        String readme = Files.readString(Path.of("README.md"));
        assertTrue(readme.contains("<groupId>org.panattn</groupId>\n  <artifactId>panattn</artifactId>\n  <version>"
                + version + "</version>"), "README's <dependency> snippet does not name org.panattn:panattn:" + version);
    }
}
