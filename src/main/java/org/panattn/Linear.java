package org.panattn;

import java.lang.foreign.Arena;
import java.util.Arrays;

import org.panattn.internal.LinearPlan;
import org.panattn.internal.NativeLoader;
import org.panattn.internal.View;

/** The linear layer {@code y = x·Wᵀ + bias} the rules and layers project with. */
final class Linear {
    private Linear() {
    }

    /**
     * x (B, H, L, K) · wᵀ (+ bias) into a new (B, H, L, N) tensor in {@code arena};
     * the caller has checked the bias, {@code weightName} names w in messages.
     */
    static Tensor project(Arena arena, Backend backend, String name, Tensor x4, String weightName, Tensor w,
                          Tensor bias) {
        AttentionValidation.contiguousRows(name, x4);
        AttentionValidation.float32(name, x4, "this rule projects it, in float32; half precision is for scaled "
                + "dot-product attention's q and k, and any rule's v");
        AttentionValidation.usable(weightName, w, backend);
        AttentionValidation.contiguousRows(weightName, w.unsqueeze(0).unsqueeze(0));
        Tensor y = Tensor.allocate(arena, x4.size(0), x4.size(1), x4.size(2), w.size(0));
        apply(backend, x4, w, bias, y);
        return y;
    }

    /** {@code y4 = x4·wᵀ + bias}: x4 (A, B, M, K), w (N, K), bias (N) or null, y4 (A, B, M, N); all checked. */
    static void apply(Backend backend, Tensor x4, Tensor w, Tensor bias, Tensor y4) {
        run(backend, x4.view(), w.view(), bias == null ? null : bias.view(), y4.view());
    }

    private static void run(Backend backend, View x4, View w, View bias, View y4) {
        Attention.implementation(backend).linear(new LinearPlan(x4, w, bias, y4));
    }

    /** {@link Attention#linear}: every argument checked by name, then one product over all rows. */
    static void checked(Tensor x, Tensor w, Tensor bias, Tensor y, Backend backend) {
        Backend resolved = backend != null ? backend : Panattn.defaultBackend();
        if (resolved == Backend.NATIVE) {
            NativeLoader.ensureLoaded();
        }
        AttentionValidation.usable("x", x, resolved);
        AttentionValidation.usable("w", w, resolved);
        if (bias != null) {
            AttentionValidation.usable("bias", bias, resolved);
        }
        AttentionValidation.usable("y", y, resolved);
        String why = "the linear layer computes in float32; convert with to(arena, Dtype.F32)";
        AttentionValidation.float32("x", x, why);
        AttentionValidation.float32("w", w, why);
        AttentionValidation.float32("bias", bias, why);
        AttentionValidation.float32("y", y, why);
        long k = x.size(x.rank() - 1);
        if (w.rank() != 2 || w.size(1) != k) {
            throw new IllegalArgumentException("w: expected shape (N, K) = (*, " + k + "), got "
                    + Shapes.format(w.shape()));
        }
        long n = w.size(0);
        if (bias != null && (bias.rank() != 1 || bias.size(0) != n)) {
            throw new IllegalArgumentException("bias: expected shape (N) = (" + n + "), got "
                    + Shapes.format(bias.shape()));
        }
        if (bias != null && n > 1 && bias.strides()[0] != 1) {
            throw new IllegalArgumentException("bias: expected a contiguous vector (stride 1), got strides "
                    + Shapes.format(bias.strides()) + "; use contiguous() for a copy");
        }
        long[] want = x.shape();
        want[want.length - 1] = n;
        if (!Arrays.equals(want, y.shape())) {
            throw new IllegalArgumentException("y: expected shape (..., N) = " + Shapes.format(want) + ", like x with "
                    + "N = " + n + " last, got " + Shapes.format(y.shape()));
        }
        Tensor x4 = rank4(x), y4 = rank4(y), w4 = w.unsqueeze(0).unsqueeze(0);
        AttentionValidation.contiguousRows("x", x4);
        AttentionValidation.contiguousRows("w", w4);
        AttentionValidation.contiguousRows("y", y4);
        View xv = x4.view(), wv = w4.view(), bv = bias == null ? null : bias.view(), yv = y4.view();
        OutputChecks.writable("y", yv);
        OutputChecks.distinctElements("y", yv);
        OutputChecks.disjoint("y", yv, "x", xv);
        OutputChecks.disjoint("y", yv, "w", wv);
        OutputChecks.disjoint("y", yv, "bias", bv);
        View xRows = asRows(xv), yRows = asRows(yv);
        if (xRows != null && yRows != null) { // one matrix product over every row, not one per leading index
            xv = xRows;
            yv = yRows;
        }
        run(resolved, xv, wv, bv, yv);
    }

    private static Tensor rank4(Tensor t) {
        while (t.rank() < 4) {
            t = t.unsqueeze(0);
        }
        return t;
    }

    /**
     * {@code v} (A, B, M, K) as (1, 1, A·B·M, K) when its leading dimensions
     * are evenly strided rows (as in any contiguous tensor), else null. Rows
     * stay within what the row checks allow: at most 2^31 - 1 of them, with
     * a stride that neither overlaps them nor exceeds 2^31 - 1.
     */
    private static View asRows(View v) {
        long rows = 1, stride = 0;
        for (int d = 2; d >= 0; d--) {
            long size = v.size(d), step = v.strides()[d];
            if (size == 0) {
                return null; // no rows: nothing to gather
            }
            if (size == 1) {
                continue;
            }
            if (rows > 1 && step != rows * stride) { // rows * stride is an offset inside v: no overflow
                return null;
            }
            if (rows == 1) {
                stride = step;
            }
            rows *= size;
        }
        long width = v.size(3);
        if (rows > Integer.MAX_VALUE || stride > Integer.MAX_VALUE || rows > 1 && stride < width) {
            return null;
        }
        return View.of(v.segment(), new long[] {1, 1, rows, width}, new long[] {0, 0, stride, v.strides()[3]});
    }
}
