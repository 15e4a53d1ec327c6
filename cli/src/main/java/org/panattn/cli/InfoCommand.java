package org.panattn.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.panattn.Isa;
import org.panattn.Panattn;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code info}: what a bug report needs, as text or JSON. */
@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false, separator = " ", descriptionHeading = "%n",
        synopsisHeading = "usage: ", customSynopsis = "panattn info [--json]",
        description = "Version, platform, native library, ISA level, BLAS, threads.",
        optionListHeading = "%nOptions:%n")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--json", order = 1,
            description = "one JSON object instead of text (the context bench --json records)")
    boolean json;

    @Override
    public Integer call() {
        spec.commandLine().getOut().print(json ? context() + "\n" : Panattn.info());
        return 0;
    }

    /** This machine and build, as bench --json records them: what a reader of a result needs to trust it. */
    static Json context() {
        Json j = new Json().put("panattn", Panattn.version())
                .put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString())
                .put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"))
                .put("arch", System.getProperty("os.arch"))
                .put("cpu", cpuModel())
                .put("available_processors", Runtime.getRuntime().availableProcessors())
                .put("jvm", Runtime.version() + " (" + System.getProperty("java.vm.vendor") + ", "
                        + System.getProperty("java.vm.name") + ")")
                .put("vector_api", ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent())
                .put("native", Panattn.isNativeAvailable());
        if (Panattn.isNativeAvailable()) {
            j.put("library", Panattn.nativeLibraryPath())
                    .put("isa", Panattn.isa().id())
                    .put("isa_supported", Panattn.supportedIsa().id())
                    .put("isa_levels", Panattn.isaLevels().stream().map(Isa::id).toList())
                    .put("blas", Panattn.blasInfo())
                    .put("threads", Panattn.threads())
                    .put("blas_threads", Panattn.blasThreads());
        } else {
            j.put("unavailable", Panattn.unavailabilityCause().map(Throwable::getMessage).orElse(null));
        }
        return j.put("default_backend", Options.name(Panattn.defaultBackend()));
    }

    /** The CPU's model name from /proc/cpuinfo (Linux), else the architecture the JVM reports. */
    static String cpuModel() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/cpuinfo"));
            for (String key : new String[] {"model name", "Hardware", "Model", "cpu model"}) {
                for (String line : lines) {
                    int colon = line.indexOf(':');
                    if (colon > 0 && line.substring(0, colon).strip().equals(key)) {
                        String value = line.substring(colon + 1).strip();
                        if (!value.isEmpty()) {
                            return value;
                        }
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: fall back
        }
        return System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    }
}
