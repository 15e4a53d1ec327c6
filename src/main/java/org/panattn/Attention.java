package org.panattn;

import java.lang.foreign.Arena;

import org.panattn.internal.AttentionBackend;
import org.panattn.internal.JavaBackend;
import org.panattn.internal.NativeBackend;
import org.panattn.internal.SdpaProblem;

/**
 * Attention operations. Every argument is validated here, before any
 * native call: a bad one gets an {@link IllegalArgumentException} (or
 * {@link IllegalStateException} for a closed or foreign-thread segment)
 * naming it and the expected shape.
 *
 * <pre>{@code
 * try (Arena arena = Arena.ofConfined()) {
 *     Tensor q = Tensor.allocate(arena, 1, 8, 128, 64); // (B, H, L, D)
 *     Tensor k = Tensor.allocate(arena, 1, 8, 128, 64);
 *     Tensor v = Tensor.allocate(arena, 1, 8, 128, 64);
 *     Tensor out = Tensor.allocate(arena, 1, 8, 128, 64);
 *     Attention.scaledDotProduct(q, k, v, out, AttentionSpec.builder().causal(Causal.TOP_LEFT).build());
 * }
 * }</pre>
 */
public final class Attention {
    private Attention() {
    }

    /**
     * {@link #scaledDotProduct(Tensor, Tensor, Tensor, AttentionSpec)} with the default spec.
     *
     * @param q queries {@code (B, H, Lq, Dk)}
     * @param k keys {@code (B, Hkv, Lk, Dk)}
     * @param v values {@code (B, Hkv, Lk, Dv)}
     * @return the output {@code (B, H, Lq, Dv)}
     */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v) {
        return scaledDotProduct(q, k, v, AttentionSpec.DEFAULT);
    }

    /**
     * Scaled dot-product attention into a new tensor, allocated in an
     * automatic (garbage-collected) arena. Low-latency callers use the
     * overload that takes {@code out}.
     *
     * @param q queries {@code (B, H, Lq, Dk)}
     * @param k keys {@code (B, Hkv, Lk, Dk)}
     * @param v values {@code (B, Hkv, Lk, Dv)}
     * @param spec causal rule, mask, scale, weights output and backend
     * @return the output {@code (B, H, Lq, Dv)}
     */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        if (q == null || v == null) {
            throw new IllegalArgumentException((q == null ? "q" : "v") + " must not be null");
        }
        long[] shape = q.shape();
        shape[shape.length - 1] = v.size(v.rank() - 1);
        Tensor out = Tensor.allocate(Arena.ofAuto(), shape);
        scaledDotProduct(q, k, v, out, spec);
        return out;
    }

    /**
     * Scaled dot-product attention:
     * {@code out = softmax(Q·Kᵀ·scale + mask)·V}.
     *
     * <ul>
     * <li>q {@code (B, H, Lq, Dk)}, k {@code (B, Hkv, Lk, Dk)}, v {@code (B, Hkv, Lk, Dv)},
     * out {@code (B, H, Lq, Dv)}; or all rank 3, {@code (B, L, D)}, for one head.</li>
     * <li>H must be a multiple of Hkv: query head h uses key/value head h / (H / Hkv)
     * (grouped-query attention, with no copies of K and V).</li>
     * <li>Lq &ne; Lk and Dk &ne; Dv are allowed; sizes of 0 are legal (with Lk = 0 every
     * output row is zeros).</li>
     * <li>The last dimension of every tensor must be contiguous (stride 1); other
     * dimensions may have any strides, so {@code (B, L, H, D)} storage is passed as
     * {@code t.permute(0, 2, 1, 3)}.</li>
     * <li>The mask and the causal rule combine; a query whose keys are all masked gets
     * zeros (and zero weights), never NaN.</li>
     * </ul>
     *
     * @param q queries {@code (B, H, Lq, Dk)}
     * @param k keys {@code (B, Hkv, Lk, Dk)}
     * @param v values {@code (B, Hkv, Lk, Dv)}
     * @param out where the result {@code (B, H, Lq, Dv)} is written
     * @param spec causal rule, mask, scale, weights output and backend
     */
    public static void scaledDotProduct(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null (use AttentionSpec.DEFAULT)");
        }
        Backend backend = spec.backend() != null ? spec.backend() : Panattn.defaultBackend();
        SdpaProblem problem = SdpaValidation.validate(q, k, v, out, spec, backend);
        implementation(backend).sdpa(problem);
    }

    private static AttentionBackend implementation(Backend backend) {
        return switch (backend) {
            case NATIVE -> NativeBackend.INSTANCE;
            case JAVA -> JavaBackend.INSTANCE;
        };
    }
}
