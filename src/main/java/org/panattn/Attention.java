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

    /** {@link #scaledDotProduct(Tensor, Tensor, Tensor, AttentionSpec)} with the default spec. */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v) {
        return scaledDotProduct(q, k, v, AttentionSpec.DEFAULT);
    }

    /**
     * Scaled dot-product attention into a new tensor, allocated in an
     * automatic (garbage-collected) arena. Low-latency callers use the
     * overload that takes {@code out}.
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
     * <li>{@code out} and the weights are written, nothing else: they must be writable, give
     * every element its own memory (no stride-0 or interleaved dimension) and share no byte
     * with an input or with each other; otherwise an {@link IllegalArgumentException} says
     * so. A refused call writes nothing.</li>
     * </ul>
     *
     * <h2>Non-finite numbers</h2>
     * For each query row the score of key j is {@code (q·kⱼ)·scale + mask[j]} (additive mask),
     * in float. Keys the causal rule or the keep-mask hide are left out whatever their score.
     * Among the keys left:
     * <ul>
     * <li>a score of {@code -Infinity} gets weight 0 (that is how an additive mask masks);</li>
     * <li>if every score is {@code -Infinity}, or no key is left, the row is zeros;</li>
     * <li>otherwise, if any score is NaN or {@code +Infinity} (for instance from a NaN or an
     * infinity in that row of q or in a key it sees), the row's output and its weights for
     * the keys its causal rule shows are NaN;</li>
     * <li>otherwise softmax subtracts the row's maximum first, so finite scores of any size
     * ({@code ±1e30}, up to {@code ±Float.MAX_VALUE}) never overflow.</li>
     * </ul>
     * A NaN or infinity in v reaches, through the matrix product, the same column of every
     * output row that gives its key a nonzero weight; rows of the same head that give it
     * weight 0 may get NaN there too ({@code 0·∞} is NaN), except rows that see no key,
     * which stay zeros. Both backends and every native ISA level follow these rules.
     *
     * <h2>Arenas and threads</h2>
     * Tensors may come from any arena the calling thread can access. Inputs may be shared
     * by threads computing at the same time (each with its own outputs). While the native
     * backend computes, the arenas of all its tensors are held open: closing a shared arena
     * from another thread then throws {@link IllegalStateException} instead of freeing
     * memory in use (the tensors' segments are arguments of the native call, and the FFM
     * Linker keeps the arena of every segment argument alive until the call returns). On
     * the Java backend the close succeeds and the computation stops with an
     * {@link IllegalStateException} at its next access. A closed arena is refused before
     * the call with an {@link IllegalStateException} naming the tensor.
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
