package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;

import org.panattn.Tensor;

/**
 * The commands' .npy inputs read with the checks that name their option: float32 arrays of an expected
 * shape. A refusal is a usage error naming the option, the file, the shape's meaning and its sizes.
 */
final class Inputs {
    private Inputs() {
    }

    /**
     * The values of a float32 file of shape {@code want} (-1: any size), or null when the option is absent.
     *
     * @param meaning the shape in words, {@code "(Lv, Dq + Dk)"}
     */
    static float[] floats(String option, String file, String meaning, long... want) throws IOException {
        return file == null ? null : read(option, file, meaning, want).floats();
    }

    /** A float32 file of shape {@code want} (-1: any size) as a tensor in {@code arena}. */
    static Tensor tensor(Arena arena, String option, String file, String meaning, long... want) throws IOException {
        Npy.Array a = read(option, file, meaning, want);
        return Tensor.of(arena, a.floats(), a.shape());
    }

    private static Npy.Array read(String option, String file, String meaning, long... want) throws IOException {
        Npy.Array a = Npy.read(option, file);
        if (a.isBoolean()) {
            throw new Options.UsageException(option + " " + file + ": expected float32 '<f4' or float16 '<f2', got "
                    + "bool");
        }
        expectShape(option, file, a.shape(), meaning, want);
        return a;
    }

    /** Refuses a shape that is not {@code want} (-1: any size). */
    static void expectShape(String option, String file, long[] got, String meaning, long... want) {
        boolean ok = got.length == want.length;
        for (int d = 0; ok && d < want.length; d++) {
            ok = want[d] < 0 || got[d] == want[d];
        }
        if (!ok) {
            throw new Options.UsageException(option + " " + file + ": expected shape " + meaning + " = " + shape(want)
                    + ", got " + shape(got));
        }
    }

    /** A shape as NumPy prints it, (2, 3) or (5,), with * for a size that may be any (-1). */
    static String shape(long[] s) {
        StringBuilder sb = new StringBuilder("(");
        for (int d = 0; d < s.length; d++) {
            sb.append(d == 0 ? "" : ", ").append(s[d] < 0 ? "*" : String.valueOf(s[d]));
        }
        return sb.append(s.length == 1 ? ",)" : ")").toString();
    }
}
