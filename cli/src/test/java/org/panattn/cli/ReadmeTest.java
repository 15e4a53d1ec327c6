package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/** README.md's Command line section says what the command line does: its help, verbatim, and real options. */
class ReadmeTest {
    private static final Path README = Path.of("../README.md");

    private static String section() throws IOException {
        String readme = Files.readString(README, StandardCharsets.UTF_8);
        int start = readme.indexOf("## Command line\n");
        assertTrue(start >= 0, "no Command line section in " + README);
        int end = readme.indexOf("\n## ", start + 1);
        return readme.substring(start, end < 0 ? readme.length() : end);
    }

    private static String out(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(0, Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theHelpShownIsTheHelpPrinted() throws IOException {
        String section = section();
        String marker = "`scripts/panattn help`\nprints:\n\n```\n";
        int at = section.indexOf(marker);
        assertTrue(at >= 0, "the section shows no `scripts/panattn help` output");
        String shown = section.substring(at + marker.length(), section.indexOf("```", at + marker.length()));
        assertEquals(out("help"), shown, "README.md's copy of `panattn help`: paste the new output there");
    }

    @Test
    void everyOptionTheSectionNamesExists() throws IOException {
        String help = out("info", "--help") + out("run", "--help") + out("decode", "--help") + out("bench", "--help");
        Set<String> unknown = new TreeSet<>();
        Matcher m = Pattern.compile("(?<![\\w-])--[a-z][a-z-]*").matcher(section());
        while (m.find()) {
            String option = m.group();
            if (!help.contains(option + " ") && !Set.of("--add-modules", "--help").contains(option)) {
                unknown.add(option);
            }
        }
        assertTrue(unknown.isEmpty(), "README.md names options the command line does not have: " + unknown);
    }
}
