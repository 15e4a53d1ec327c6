package org.panattn.layers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.constantpool.PoolEntry;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The layers are written on the public API of org.panattn alone, as any
 * layer outside the library would be: no class of org.panattn.layers
 * names a class of org.panattn.internal (public classes, but of the
 * module's insides) or of the command line. Package-private classes of
 * org.panattn are out of reach for the compiler already.
 */
class PublicApiOnlyTest {
    private static List<Path> layerClasses() throws IOException, URISyntaxException {
        Path dir = Path.of(MultiHeadAttention.class.getResource("MultiHeadAttention.class").toURI()).getParent();
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.toString().endsWith(".class")).toList();
        }
    }

    @Test
    void layersNameNoInternalClass() throws IOException, URISyntaxException {
        List<Path> classes = layerClasses();
        assertTrue(classes.size() >= 5, "layer classes found: " + classes);
        Set<String> reached = new TreeSet<>();
        for (Path c : classes) {
            ClassModel model = ClassFile.of().parse(c);
            for (PoolEntry e : model.constantPool()) {
                if (e instanceof ClassEntry ce) {
                    String name = ce.asInternalName();
                    if (name.startsWith("org/panattn/internal/") || name.startsWith("org/panattn/cli/")) {
                        reached.add(model.thisClass().asInternalName() + " -> " + name);
                    }
                }
            }
        }
        assertTrue(reached.isEmpty(), "layers reach past the public API: " + reached);
    }
}
