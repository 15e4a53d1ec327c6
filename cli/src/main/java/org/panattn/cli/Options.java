package org.panattn.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.panattn.Backend;
import org.panattn.Dtype;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.TypeConversionException;

/**
 * What the commands' options share: picocli converters whose refusals say what the option expected (Main
 * prefixes the option's name), the check of output paths made before any work, and the usage error.
 */
final class Options {
    private Options() {
    }

    /** A value an option refuses: the message says what was expected and what was given, without the option's name. */
    static final class BadValue extends TypeConversionException {
        private static final long serialVersionUID = 1L;

        BadValue(String message) {
            super(message);
        }
    }

    /** A bad command line found after parsing: the message names the option, and is shown with a usage hint. */
    static final class UsageException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    /** Any number but NaN. */
    static final class Number implements ITypeConverter<Double> {
        @Override
        public Double convert(String v) {
            try {
                double d = Double.parseDouble(v);
                if (!Double.isNaN(d)) {
                    return d;
                }
            } catch (NumberFormatException e) {
                // refused below
            }
            throw new BadValue("expected a number, got \"" + v + "\"");
        }
    }

    /** A finite number >= 0 that a float holds (a cap). */
    static final class Cap implements ITypeConverter<Double> {
        @Override
        public Double convert(String v) {
            double d = new Number().convert(v);
            if (d >= 0 && Float.isFinite((float) d)) {
                return d;
            }
            throw new BadValue("expected a finite number >= 0, got \"" + v + "\"");
        }
    }

    /** A finite nonzero number that a float holds (a scale). */
    static final class Scale implements ITypeConverter<Double> {
        @Override
        public Double convert(String v) {
            double d = new Number().convert(v);
            if ((float) d != 0f && Float.isFinite((float) d)) {
                return d;
            }
            throw new BadValue("expected a finite nonzero number, got \"" + v + "\"");
        }
    }

    /** A finite number > 1 that a float holds (a rotary base). */
    static final class Base implements ITypeConverter<Double> {
        @Override
        public Double convert(String v) {
            double d = new Number().convert(v);
            if ((float) d > 1f && Float.isFinite((float) d)) {
                return d;
            }
            throw new BadValue("expected a finite number > 1, got \"" + v + "\"");
        }
    }

    /** An integer from min to max. */
    abstract static class Integer implements ITypeConverter<Long> {
        private final long min, max;

        Integer(long min, long max) {
            this.min = min;
            this.max = max;
        }

        @Override
        public Long convert(String v) {
            try {
                long n = Long.parseLong(v);
                if (n >= min && n <= max) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // refused below
            }
            String range = min == Long.MIN_VALUE ? "" : max == Long.MAX_VALUE ? " >= " + min
                    : " from " + min + " to " + max;
            throw new BadValue("expected an integer" + range + ", got \"" + v + "\"");
        }
    }

    /** Any 64-bit integer (a seed). */
    static final class AnyInteger extends Integer {
        AnyInteger() {
            super(Long.MIN_VALUE, Long.MAX_VALUE);
        }
    }

    /** A count that may be 0 (a prompt length). */
    static final class AtLeast0 extends Integer {
        AtLeast0() {
            super(0, Long.MAX_VALUE);
        }
    }

    /** A count of at least 1 (heads). */
    static final class AtLeast1 extends Integer {
        AtLeast1() {
            super(1, Long.MAX_VALUE);
        }
    }

    /** A size: a positive int. */
    static final class Size extends Integer {
        Size() {
            super(1, java.lang.Integer.MAX_VALUE);
        }
    }

    /** A thread count: 0 (one per CPU) or more. */
    static final class Threads extends Integer {
        Threads() {
            super(0, java.lang.Integer.MAX_VALUE);
        }
    }

    /** T5's max_distance: at least 2. */
    static final class Distance extends Integer {
        Distance() {
            super(2, java.lang.Integer.MAX_VALUE);
        }
    }

    /** A backend by its command-line name. */
    static final class BackendName implements ITypeConverter<Backend> {
        @Override
        public Backend convert(String v) {
            return switch (v.trim().toLowerCase(Locale.ROOT)) {
                case "native" -> Backend.NATIVE;
                case "java" -> Backend.JAVA;
                case "vector" -> Backend.JAVA_VECTOR;
                default -> throw new BadValue("expected native, java or vector, got '" + v + "'");
            };
        }
    }

    /** An element type by its command-line name: f32, f16 or bf16. */
    static final class DtypeName implements ITypeConverter<Dtype> {
        @Override
        public Dtype convert(String v) {
            return switch (v.trim().toLowerCase(Locale.ROOT)) {
                case "f32" -> Dtype.F32;
                case "f16" -> Dtype.F16;
                case "bf16" -> Dtype.BF16;
                default -> throw new BadValue("expected f32, f16 or bf16, got '" + v + "'");
            };
        }
    }

    /** An element type's command-line name. */
    static String name(Dtype t) {
        return t.name().toLowerCase(Locale.ROOT);
    }

    /** A backend's command-line name. */
    static String name(Backend b) {
        return switch (b) {
            case NATIVE -> "native";
            case JAVA -> "java";
            case JAVA_VECTOR -> "vector";
        };
    }

    /** Option names and their values, in order, leaving out those absent (null). */
    static Map<String, String> files(String... namesAndValues) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            if (namesAndValues[i + 1] != null) {
                m.put(namesAndValues[i], namesAndValues[i + 1]);
            }
        }
        return m;
    }

    /**
     * Refuses, before anything runs, an output file option whose path (absolute, normalized) is that of
     * another output, which would overwrite it, or of an input, which it would destroy; and one that
     * names a folder, or a file in a folder that is missing or not writable.
     */
    static void checkOutputs(Map<String, String> inputs, Map<String, String> outputs) throws IOException {
        Map<Path, String> taken = new LinkedHashMap<>();
        Map<String, String> all = new LinkedHashMap<>(inputs);
        all.putAll(outputs);
        for (Map.Entry<String, String> in : inputs.entrySet()) {
            taken.putIfAbsent(Path.of(in.getValue()).toAbsolutePath().normalize(), in.getKey());
        }
        for (Map.Entry<String, String> out : outputs.entrySet()) {
            String name = out.getKey(), value = out.getValue();
            Path file = Path.of(value).toAbsolutePath().normalize(), folder = file.getParent();
            String other = taken.putIfAbsent(file, name);
            if (other != null) {
                boolean input = inputs.containsKey(other);
                throw new UsageException(name + " " + value + " and " + (input ? "the input " : "") + other + " "
                        + all.get(other) + " are the same file; " + (input ? "writing it would destroy the input"
                        : "each output needs a path of its own"));
            }
            String problem = Files.isDirectory(file) ? "it is a folder"
                    : !Files.isDirectory(folder) ? "folder " + folder + " does not exist"
                    : !Files.isWritable(folder) ? "folder " + folder + " is not writable"
                    : Files.exists(file) && !Files.isWritable(file) ? "the file is not writable" : null;
            if (problem != null) {
                throw new IOException(name + ": cannot write " + value + ": " + problem);
            }
        }
    }

    /**
     * Refuses an option given twice, a value or a flag: picocli lets an option of a group be repeated, the
     * last value winning, where it refuses one outside groups; this refuses both alike.
     */
    static void refuseRepeated(ParseResult parsed) {
        for (OptionSpec o : parsed.matchedOptions()) {
            if (o.originalStringValues().size() > 1) {
                throw new UsageException(o.longestName() + " is given twice");
            }
        }
    }

    /** A required option's value. */
    static <T> T require(T value, String name) {
        if (value == null) {
            throw new UsageException(name + " is required");
        }
        return value;
    }

    /** Refuses options given that the chosen case does not take. */
    static void refuseOthers(List<String> given, List<String> allowed, String what) {
        for (String name : given) {
            if (!allowed.contains(name)) {
                throw new UsageException(name + " is not an option of " + what);
            }
        }
    }
}
