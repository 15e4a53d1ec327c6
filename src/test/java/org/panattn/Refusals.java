package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Assertions shared by the validation tests of every package: a call is
 * refused by name, from this thread or another.
 */
public final class Refusals {
    private Refusals() {
    }

    public interface Call {
        void run() throws Throwable;
    }

    /** Fails unless {@code call} throws {@code type} with a message holding every '|'-separated word. */
    public static <T extends Throwable> T expect(Class<T> type, String words, Call call) {
        T t = assertThrows(type, call::run);
        assertMentions(t, words);
        return t;
    }

    /** {@link #expect} for the call run on another thread (a confined arena's tensors are foreign there). */
    public static void expectOnOtherThread(Class<? extends Throwable> type, String words, Call call) {
        Throwable thrown;
        try {
            thrown = CompletableFuture.supplyAsync(() -> {
                try {
                    call.run();
                    return null;
                } catch (Throwable e) {
                    return e;
                }
            }).get();
        } catch (InterruptedException | ExecutionException e) {
            throw new AssertionError(e);
        }
        assertInstanceOf(type, thrown, "on another thread");
        assertMentions(thrown, words);
    }

    private static void assertMentions(Throwable t, String words) {
        for (String w : words.split("\\|")) {
            assertTrue(t.getMessage() != null && t.getMessage().contains(w),
                    "message '" + t.getMessage() + "' should mention '" + w + "'");
        }
    }

    /** A tensor whose arena is already closed. */
    public static Tensor closed(long... shape) {
        Arena arena = Arena.ofConfined();
        Tensor t = Tensor.allocate(arena, shape);
        arena.close();
        return t;
    }

    /** A closed arena. */
    public static Arena closedArena() {
        Arena arena = Arena.ofConfined();
        arena.close();
        return arena;
    }

    /** A spec on {@code backend} with nothing else set. */
    public static AttentionSpec on(Backend backend) {
        return AttentionSpec.builder().backend(backend).build();
    }

    /** A value no attention output takes here (outputs are weighted means of values in [-1, 1]). */
    public static final float SENTINEL = 7.5f;

    /** An output filled with {@link #SENTINEL}, so a test can tell whether a call wrote it. */
    public static Tensor sentinel(Arena arena, long... shape) {
        Tensor t = Tensor.allocate(arena, shape);
        float[] fill = new float[Math.toIntExact(t.size())];
        java.util.Arrays.fill(fill, SENTINEL);
        return t.copyFrom(fill);
    }

    /** Fails unless every element still holds {@link #SENTINEL}: the refused calls wrote nothing. */
    public static void assertUntouched(Tensor t, String what) {
        for (float x : t.toArray()) {
            assertEquals(SENTINEL, x, what + ": a refused call wrote its output");
        }
    }
}
