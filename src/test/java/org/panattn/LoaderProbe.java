package org.panattn;

import java.lang.foreign.Arena;

/**
 * Run in a child JVM by NativeLoaderTest: reports, one fact a line, how
 * loading went, what the native backend throws, and whether the Java
 * backend still computes; with the argument {@code info}, prints
 * {@link Panattn#info()} instead.
 */
public final class LoaderProbe {
    private LoaderProbe() {
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("info")) {
            System.out.print(Panattn.info());
            return;
        }
        System.out.println("available=" + Panattn.isNativeAvailable());
        Panattn.unavailabilityCause().ifPresent(e -> {
            System.out.println("exception=" + e.getClass().getName());
            System.out.println("cause=" + (e.getCause() == null ? "none"
                    : e.getCause().getClass().getName() + ": " + e.getCause().getMessage()));
            System.out.println("message=" + e.getMessage().replace('\n', ' '));
        });
        System.out.println("default=" + Panattn.defaultBackend());
        try {
            System.out.println("info=" + (Panattn.info().contains("library:   unavailable") ? "ok" : "loaded"));
        } catch (RuntimeException | Error e) {
            System.out.println("info=" + e);
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.of(arena, new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
            try {
                Attention.scaledDotProduct(t, t, t, AttentionSpec.builder().backend(Backend.NATIVE).build());
                System.out.println("native=ok");
            } catch (RuntimeException e) {
                System.out.println("native=" + e.getClass().getName());
            }
            Tensor out = Attention.scaledDotProduct(t, t, t, AttentionSpec.builder().backend(Backend.JAVA).build());
            float x = out.get(0, 0, 0, 0);
            System.out.println("java=" + (x > 1 && x < 3 ? "ok" : "wrong " + x));
        }
    }
}
