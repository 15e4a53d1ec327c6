package org.panattn.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;

import org.panattn.Panattn;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.MissingParameterException;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.OverwrittenOptionException;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The command line: {@code info}, {@code demo}, {@code run}, {@code decode}, {@code bench}. Uses the library's
 * public API only. Exit codes: 0 done, 1 the work failed (a file, the library), 2 a bad command line.
 */
@Command(name = "panattn", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false, separator = " ", descriptionHeading = "%n",
        synopsisHeading = "usage: ", customSynopsis = "panattn [-hV] COMMAND [OPTIONS]",
        description = "Attention on the CPU from Java: native kernels (OpenBLAS, AVX-512/AVX2/NEON) "
                + "and pure-Java backends behind one API.",
        commandListHeading = "%nCommands:%n", optionListHeading = "%nOptions:%n",
        footer = {"", "'panattn COMMAND --help' (or 'panattn help COMMAND') shows a command's options."},
        subcommands = {InfoCommand.class, DemoCommand.class, RunCommand.class, DecodeCommand.class,
            BenchCommand.class, HelpCommand.class})
public final class Main implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** No command: the usage, on stderr, as a usage error. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the process exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        PrintWriter o = new PrintWriter(out, true, StandardCharsets.UTF_8);
        PrintWriter e = new PrintWriter(err, true, StandardCharsets.UTF_8);
        CommandLine cl = commandLine(o, e);
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError x) {
            e.println(prefix(executed(cl)) + ": out of memory (" + x.getMessage() + "); the Java heap may grow to "
                    + Runtime.getRuntime().maxMemory() / (1 << 20) + " MB, set by -Xmx in PANATTN_JAVA_OPTS");
            return 1;
        } finally {
            o.flush();
            e.flush();
        }
    }

    /** The command line with the project's messages: plain help (no colours), 2 for usage errors, 1 for failures. */
    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out).setErr(err).setColorScheme(CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF));
        cl.setUsageHelpAutoWidth(false).setUsageHelpWidth(100).setUsageHelpLongOptionsMaxWidth(28);
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            cmd.getErr().println(prefix(cmd) + ": " + message(ex));
            cmd.getErr().println(hint(cmd));
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            String what = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            cmd.getErr().println(prefix(cmd) + ": " + what);
            if (ex instanceof Options.UsageException) {
                cmd.getErr().println(hint(cmd));
                return 2;
            }
            return 1;
        });
        return cl;
    }

    /** The command that the arguments chose (the deepest parsed), or the top one. */
    private static CommandLine executed(CommandLine cl) {
        ParseResult r = cl.getParseResult();
        if (r == null) {
            return cl;
        }
        while (r.hasSubcommand()) {
            r = r.subcommand();
        }
        return r.commandSpec().commandLine();
    }

    /** "panattn" or "panattn run": how messages begin. */
    static String prefix(CommandLine cmd) {
        return cmd.getCommandSpec().qualifiedName();
    }

    /** Where to look next, after a usage error. */
    private static String hint(CommandLine cmd) {
        String[] synopsis = cmd.getCommandSpec().usageMessage().customSynopsis();
        String first = synopsis.length > 0 ? synopsis[0] : cmd.getCommandSpec().qualifiedName() + " [OPTIONS]";
        boolean top = cmd.getParent() == null;
        return "usage: " + first.strip() + "\n" + (top ? "'panattn help' lists the commands"
                : "'" + prefix(cmd) + " --help' lists its options");
    }

    /** picocli's refusal in the project's words: the option's name first, then what it expected. */
    private static String message(ParameterException ex) {
        ArgSpec arg = ex instanceof MissingParameterException m && !m.getMissing().isEmpty() ? m.getMissing().get(0)
                : ex.getArgSpec();
        String name = arg instanceof OptionSpec option ? option.longestName() : null;
        if (ex.getCause() instanceof Options.BadValue bad && name != null) {
            return name + ": " + bad.getMessage();
        }
        if (ex instanceof MissingParameterException && name != null) {
            return name + " needs a value";
        }
        if (ex instanceof OverwrittenOptionException && name != null) {
            return name + " is given twice";
        }
        if (ex instanceof UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().get(0);
            List<String> suggestions = u.getSuggestions();
            String maybe = suggestions.isEmpty() ? "" : "; did you mean " + String.join(" or ", suggestions) + "?";
            if (u.getCommandLine().getParent() == null && !first.startsWith("-")) {
                return "unknown command '" + first + "'" + maybe;
            }
            if (first.startsWith("-") && first.length() > 1 && !isNumber(first)) {
                return "unknown option '" + first + "'" + maybe;
            }
            return "unexpected argument '" + first + "'";
        }
        return ex.getMessage();
    }

    private static boolean isNumber(String s) {
        try {
            Double.parseDouble(s);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** The BLAS's name and version, without its build options ("OpenBLAS 0.3.21"). */
    static String blas() {
        String[] words = Panattn.blasInfo().split(" ");
        return words.length < 2 ? Panattn.blasInfo() : words[0] + " " + words[1];
    }

    /** {@code --version}: the library's version, and the native library's when it loads. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            String java = "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")";
            if (!Panattn.isNativeAvailable()) {
                String cause = Panattn.unavailabilityCause().map(Throwable::getMessage).orElse("").lines()
                        .findFirst().orElse("");
                return new String[] {"panattn " + Panattn.version() + ", " + java, "native: unavailable: " + cause};
            }
            // The loader accepts only a native library that reports the jar's own version (pa_version()).
            return new String[] {"panattn " + Panattn.version() + ", " + java, "native: libpanattn "
                    + Panattn.version() + ", " + Panattn.isa().id() + ", " + blas() + " (" + Panattn.nativeLibraryPath() + ")"};
        }
    }
}
