package org.panattn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A strided view for property tests: its leading dimensions stored in a
 * random order, rows padded, at a random offset inside a segment whose
 * every other byte holds a sentinel, so a test can prove that a call wrote
 * its elements and nothing else.
 */
record GuardedTensor(MemorySegment whole, long viewOffset, Tensor view) {
    static final byte SENTINEL = (byte) 0xA7;
    private static final long GUARD_BYTES = 64;

    /** A float32 view of {@code shape}: random values when {@code rnd} fills, else untouched sentinels. */
    static GuardedTensor allocate(Arena arena, SplittableRandom rnd, boolean fill, long... shape) {
        return allocate(arena, rnd, fill, Dtype.F32, shape);
    }

    /** A view of {@code shape} holding {@code dtype}: random values (rounded to it) when {@code rnd} fills. */
    static GuardedTensor allocate(Arena arena, SplittableRandom rnd, boolean fill, Dtype dtype, long... shape) {
        int rank = shape.length;
        int[] order = new int[rank - 1];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        for (int i = order.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        long[] strides = new long[rank];
        strides[rank - 1] = 1;
        long step = Math.max(shape[rank - 1], 1) + rnd.nextInt(3);
        for (int k = order.length - 1; k >= 0; k--) {
            strides[order[k]] = step;
            step *= Math.max(shape[order[k]], 1);
        }
        int bytes = dtype.byteSize();
        long offset = GUARD_BYTES + (long) bytes * rnd.nextInt(4);
        MemorySegment whole = arena.allocate(offset + step * bytes + GUARD_BYTES, Float.BYTES);
        whole.fill(SENTINEL);
        Tensor view = Tensor.wrap(whole.asSlice(offset, step * bytes), dtype, shape, strides);
        if (fill) {
            view.copyFrom(Reference.random(arena, rnd, shape).toArray());
        }
        return new GuardedTensor(whole, offset, view);
    }

    /** The whole segment's bytes. */
    byte[] snapshot() {
        return whole.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Fails unless every byte outside the view's elements still holds the sentinel. */
    void assertNothingOutsideWritten(String what) {
        boolean[] element = new boolean[Math.toIntExact(whole.byteSize())];
        long[] s = Shapes.pad4(view.shape(), 1);
        long[] st = Shapes.pad4(view.strides(), 0);
        int size = view.dtype().byteSize();
        for (long a = 0; a < s[0]; a++) {
            for (long b = 0; b < s[1]; b++) {
                for (long c = 0; c < s[2]; c++) {
                    for (long d = 0; d < s[3]; d++) {
                        long at = viewOffset + size * (a * st[0] + b * st[1] + c * st[2] + d * st[3]);
                        for (int i = 0; i < size; i++) {
                            element[(int) at + i] = true;
                        }
                    }
                }
            }
        }
        byte[] bytes = snapshot();
        for (int i = 0; i < bytes.length; i++) {
            if (!element[i] && bytes[i] != SENTINEL) {
                fail(what + ": byte " + i + " outside the " + view + " was written (view at byte "
                        + viewOffset + " of " + bytes.length + ")");
            }
        }
    }

    /**
     * Fails unless a call wrote nothing outside out and weights (null when
     * absent) and left every input as its snapshot taken before the call.
     */
    static void assertOnlyOutputsWritten(String who, GuardedTensor out, GuardedTensor weights,
                                         List<GuardedTensor> inputs, List<byte[]> before) {
        out.assertNothingOutsideWritten(who + " out");
        if (weights != null) {
            weights.assertNothingOutsideWritten(who + " weights");
        }
        for (int i = 0; i < before.size(); i++) {
            inputs.get(i).assertUnchanged(before.get(i), who);
        }
    }

    /** Fails unless the whole segment equals an earlier snapshot (inputs are only read). */
    void assertUnchanged(byte[] before, String what) {
        byte[] now = snapshot();
        for (int i = 0; i < now.length; i++) {
            assertEquals(before[i], now[i], what + ": input byte " + i + " changed");
        }
    }
}
