package org.panattn.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --name value} options and {@code --flag} switches of one subcommand. */
final class Options {
    private final Map<String, String> values = new HashMap<>();
    private final Set<String> flags = new HashSet<>();

    /** Parses args; {@code flagNames} take no value, {@code valueNames} take one; anything else is an error. */
    Options(String[] args, Set<String> flagNames, Set<String> valueNames) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (flagNames.contains(a)) {
                flags.add(a);
            } else if (valueNames.contains(a)) {
                if (i + 1 >= args.length) {
                    throw new UsageException(a + " needs a value");
                }
                values.put(a, args[++i]);
            } else {
                throw new UsageException("unknown option '" + a + "'");
            }
        }
    }

    boolean flag(String name) {
        return flags.contains(name);
    }

    String get(String name) {
        return values.get(name);
    }

    String require(String name) {
        String v = values.get(name);
        if (v == null) {
            throw new UsageException(name + " is required");
        }
        return v;
    }

    /** A number option's value, or fallback when absent; anything else is a usage error naming the option. */
    double number(String name, double fallback) {
        String v = get(name);
        if (v == null) {
            return fallback;
        }
        try {
            double d = Double.parseDouble(v);
            if (!Double.isNaN(d)) {
                return d;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new UsageException(name + ": expected a number, got \"" + v + "\"");
    }

    /** An integer option's value in min..max, or fallback when absent; anything else is a usage error naming it. */
    long integer(String name, long fallback, long min, long max) {
        String v = get(name);
        if (v == null) {
            return fallback;
        }
        try {
            long n = Long.parseLong(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new UsageException(name + ": expected an integer " + (max == Long.MAX_VALUE ? ">= " + min
                : "from " + min + " to " + max) + ", got \"" + v + "\"");
    }

    /**
     * Refuses, before anything runs, an output file option whose path (absolute, normalized) is that of
     * another output, which would overwrite it, or of an input, which it would destroy; and one that
     * names a folder, or a file in a folder that is missing or not writable.
     */
    void checkOutputs(List<String> inputs, List<String> outputs) throws IOException {
        Map<Path, String> taken = new LinkedHashMap<>();
        for (String name : inputs) {
            if (get(name) != null) {
                taken.putIfAbsent(Path.of(get(name)).toAbsolutePath().normalize(), name);
            }
        }
        for (String name : outputs) {
            if (get(name) == null) {
                continue;
            }
            Path file = Path.of(get(name)).toAbsolutePath().normalize(), folder = file.getParent();
            String other = taken.putIfAbsent(file, name);
            if (other != null) {
                boolean input = inputs.contains(other);
                throw new UsageException(name + " " + get(name) + " and " + (input ? "the input " : "") + other + " "
                        + get(other) + " are the same file; " + (input ? "writing it would destroy the input"
                        : "each output needs a path of its own"));
            }
            String problem = Files.isDirectory(file) ? "it is a folder"
                    : !Files.isDirectory(folder) ? "folder " + folder + " does not exist"
                    : !Files.isWritable(folder) ? "folder " + folder + " is not writable"
                    : Files.exists(file) && !Files.isWritable(file) ? "the file is not writable" : null;
            if (problem != null) {
                throw new IOException(name + ": cannot write " + get(name) + ": " + problem);
            }
        }
    }

    /** A bad command line: the message is shown with the usage. */
    static final class UsageException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }
}
