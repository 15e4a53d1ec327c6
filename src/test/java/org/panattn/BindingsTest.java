package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * The committed bindings name exactly the functions and structs that
 * native/include/panattn.h declares: a header change without
 * scripts/jextract.sh fails here.
 */
class BindingsTest {
    private static final Pattern FUNCTION = Pattern.compile("PA_API\\s+[^;(]*?\\b(pa_\\w+)\\s*\\(");
    private static final Pattern STRUCT = Pattern.compile("typedef\\s+struct\\s+(pa_\\w+)\\s*\\{");

    private static String header() throws IOException {
        return Files.readString(Path.of(System.getProperty("panattn.header", "native/include/panattn.h")));
    }

    private static Set<String> matches(Pattern p, String text) {
        Set<String> names = new TreeSet<>();
        Matcher m = p.matcher(text);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    @Test
    void functionsMatchTheHeader() throws Exception {
        Set<String> declared = matches(FUNCTION, header());
        assertFalse(declared.isEmpty(), "no PA_API functions found in the header");
        Set<String> bound = new TreeSet<>();
        Class<?> h = Class.forName("org.panattn.internal.ffi.Panattn_h");
        for (Method m : h.getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) && m.getName().startsWith("pa_") && !m.getName().contains("$")) {
                bound.add(m.getName());
            }
        }
        assertEquals(declared, bound, "header functions vs bindings: run scripts/jextract.sh");
    }

    @Test
    void structsMatchTheHeader() throws Exception {
        Set<String> declared = matches(STRUCT, header());
        Set<String> bound = new TreeSet<>();
        try (var files = Files.list(Path.of("src/main/java/org/panattn/internal/ffi"))) {
            files.map(f -> f.getFileName().toString().replace(".java", ""))
                    .filter(n -> n.startsWith("pa_")).forEach(bound::add);
        }
        assertEquals(declared, bound, "header structs vs bindings: run scripts/jextract.sh");
        for (String s : declared) {
            Class<?> c = Class.forName("org.panattn.internal.ffi." + s);
            assertFalse(Arrays.stream(c.getMethods()).noneMatch(m -> m.getName().equals("sizeof")), s);
        }
    }
}
