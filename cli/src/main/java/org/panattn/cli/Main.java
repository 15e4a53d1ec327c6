package org.panattn.cli;

import java.io.IOException;
import java.io.PrintStream;

import org.panattn.Panattn;

/** The command line: {@code info}, {@code demo}, {@code run}. Uses the public API only. */
public final class Main {
    private static final String USAGE = "usage: panattn <command> [options]\n"
            + "  info    version, platform, native library, ISA level, BLAS, threads\n"
            + "  demo    attention on sample data, native vs Java: time, speed-up, difference\n"
            + RunCommand.USAGE.indent(2) + MhaRunCommand.USAGE.indent(2)
            + RuleRunCommand.USAGE.indent(2) + BenchCommand.USAGE.indent(2);

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the process exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help") || args[0].equals("help")) {
            (args.length == 0 ? err : out).print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        try {
            switch (args[0]) {
                case "info" -> out.print(Panattn.info());
                case "demo" -> DemoCommand.run(out);
                case "run" -> RunCommand.run(rest, out);
                case "bench" -> BenchCommand.run(rest, out);
                default -> {
                    err.println("panattn: unknown command '" + args[0] + "'");
                    err.print(USAGE);
                    return 2;
                }
            }
            return 0;
        } catch (Options.UsageException e) {
            err.println("panattn " + args[0] + ": " + e.getMessage());
            err.print(USAGE);
            return 2;
        } catch (IOException | RuntimeException e) {
            err.println("panattn " + args[0] + ": " + e.getMessage());
            return 1;
        } catch (OutOfMemoryError e) {
            err.println("panattn " + args[0] + ": out of memory (" + e.getMessage() + "); the Java heap may grow to "
                    + Runtime.getRuntime().maxMemory() / (1 << 20) + " MB, set by -Xmx in PANATTN_JAVA_OPTS");
            return 1;
        }
    }
}
