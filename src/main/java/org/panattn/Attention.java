package org.panattn;

import java.lang.foreign.Arena;

import org.panattn.internal.AttentionBackend;
import org.panattn.internal.CriticalCalls;
import org.panattn.internal.JavaBackend;
import org.panattn.internal.NativeBackend;

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
     * <li>q, k and v may each be {@link Dtype#F32}, {@link Dtype#F16} or {@link Dtype#BF16}
     * (a half-precision KV cache with float32 queries, say): half elements are widened to
     * float32 exactly and everything is computed and accumulated in float32. out and the
     * weights are float32.</li>
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
     * <h4>Non-finite numbers</h4>
     * For each query row the score of key j is {@code (q·kⱼ)·scale + mask[j]} (additive mask),
     * in float. Keys the causal rule, window, key length or keep-mask hide are left out whatever their
     * score. Among the keys left:
     * <ul>
     * <li>a score of {@code -Infinity} gets weight 0 (that is how an additive mask masks);</li>
     * <li>if every score is {@code -Infinity}, or no key is left, the row is zeros;</li>
     * <li>otherwise, if any score is NaN or {@code +Infinity} (for instance from a NaN or an
     * infinity in that row of q or in a key it sees), the row's output and its weights for
     * the keys its causal rule, window and key length show are NaN;</li>
     * <li>otherwise softmax subtracts the row's maximum first, so finite scores of any size
     * ({@code ±1e30}, up to {@code ±Float.MAX_VALUE}) never overflow.</li>
     * </ul>
     * A NaN or infinity in v reaches, through the matrix product, the same column of every
     * output row that gives its key a nonzero weight; rows of the same head that give it
     * weight 0 may get NaN there too ({@code 0·∞} is NaN), except rows that see no key,
     * which stay zeros. Every backend and every native ISA level follows these rules.
     *
     * <h4>Arenas and threads</h4>
     * Tensors may come from any arena the calling thread can access. Inputs may be shared
     * by threads computing at the same time (each with its own outputs). While the native
     * backend computes, the arenas of every tensor the native call touches (q, k, v, out,
     * the masks, the weights and the positional tables; likewise for the other variants,
     * their projections and layer weights) are held open: closing a shared arena from
     * another thread then throws {@link IllegalStateException}
     * instead of freeing memory in use (those segments are arguments of the native call, and
     * the FFM Linker keeps the arena of every segment argument alive until the call returns).
     * On the Java backends the close succeeds and the computation stops with an
     * {@link IllegalStateException} at its next access. A closed arena is refused before
     * the call with an {@link IllegalStateException} naming the tensor.
     *
     * <p>A native call that repeats this thread's last one (the same tensor and spec
     * objects) runs as {@link #prepare} would: it passed every check last time, so only the
     * arenas are checked again.
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
        SCALED_DOT.attend(q, k, v, out, spec);
    }

    private static final DotProductRule SCALED_DOT = new DotProductRule(true);

    /**
     * {@link #scaledDotProduct(Tensor, Tensor, Tensor, Tensor, AttentionSpec)}
     * prepared for many runs on the same tensors, for calls so small that
     * checking their arguments costs as much as computing them: every
     * argument is checked now, as that method checks it, and each
     * {@link PreparedAttention#run()} checks only that the tensors' arenas
     * are still open and accessible, then computes on the tensors' current
     * contents. The backend is resolved now (the spec's, else
     * {@link Panattn#defaultBackend()}). On the native backend a run
     * allocates nothing.
     *
     * <pre>{@code
     * PreparedAttention call = Attention.prepare(q, k, v, out, spec);
     * for (...) {
     *     q.copyFrom(nextQueries);
     *     call.run();
     * }
     * }</pre>
     *
     * @param q queries {@code (B, H, Lq, Dk)}
     * @param k keys {@code (B, Hkv, Lk, Dk)}
     * @param v values {@code (B, Hkv, Lk, Dv)}
     * @param out where each run writes the result {@code (B, H, Lq, Dv)}
     * @param spec causal rule, mask, scale, weights output and backend
     * @return the prepared call
     */
    public static PreparedAttention prepare(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null (use AttentionSpec.DEFAULT)");
        }
        return SCALED_DOT.prepare(q, k, v, out, spec);
    }

    /**
     * Attention with any {@link ScoreRule}: {@code out = softmax(score(Q, K) + mask)·V}
     * in the bmm form, q {@code (B, Lq, Dq)}, k {@code (B, Lk, Dk)}, v {@code (B, Lk, Dv)},
     * out {@code (B, Lq, Dv)}, or rank 4 with heads (the rule's weights shared by
     * all heads). The spec's masks, causal rule, window, key lengths, positional terms and
     * weights output apply as in {@link #scaledDotProduct}.
     *
     * @param rule the score rule
     * @param q the queries
     * @param k the keys
     * @param v the values
     * @param out where the output is written
     * @param spec the masks, causal rule, scale, positional terms and backend
     */
    public static void attend(ScoreRule rule, Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
        if (rule == null) {
            throw new IllegalArgumentException("rule must not be null");
        }
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null (use AttentionSpec.DEFAULT)");
        }
        ((RuleCall) rule).attend(q, k, v, out, spec);
    }

    /**
     * Concat-linear attention, the first rule of the seq2seq tutorials:
     * {@code weights = softmax(Linear([q; k]))}, {@code out = weights·V} (bmm).
     * Each query row i comes with its own key {@code k_i} (e.g. the decoder's
     * hidden state), and the linear layer maps {@code [q_i; k_i]} to one score
     * per value position: q {@code (B, Lq, Dq)}, k {@code (B, Lq, Dk)},
     * v {@code (B, Lv, Dv)}, w {@code (Lv, Dq + Dk)}, bias {@code (Lv)} or null,
     * out {@code (B, Lq, Dv)}; weights (spec) {@code (B, Lq, Lv)}.
     *
     * @param q the queries
     * @param k the keys
     * @param v the values
     * @param w the weight
     * @param bias the bias, or null
     * @param out where the output is written
     * @param spec the masks, causal rule, scale, positional terms and backend
     */
    public static void concatLinear(Tensor q, Tensor k, Tensor v, Tensor w, Tensor bias, Tensor out,
                                    AttentionSpec spec) {
        ConcatLinearRule.attend(q, k, v, w, bias, out, spec);
    }

    /**
     * A linear layer, {@code y = x·Wᵀ + bias} over the last dimension, as
     * PyTorch's {@code nn.Linear}: x {@code (..., K)} of rank 1 to 4, w
     * {@code (N, K)} (PyTorch's weight layout), bias {@code (N)} or null,
     * y {@code (..., N)} with x's leading sizes. It is how layers project
     * their inputs; the rows of a tensor whose leading dimensions are evenly
     * strided (any contiguous one) go through one matrix product.
     *
     * <p>The last dimension of x, w and y must be contiguous (stride 1) and
     * rows must not overlap; other dimensions may have any strides, so
     * column views of a wider tensor work in place. The bias is a contiguous
     * vector. y is written, nothing else: it must be writable, give every
     * element its own memory and share no byte with x, w or the bias. Sizes
     * of 0 are legal (K = 0 gives the bias, or zeros). Arenas and threads
     * are as in {@link #scaledDotProduct(Tensor, Tensor, Tensor, Tensor, AttentionSpec)}; a refused
     * call writes nothing.
     *
     * @param x the input {@code (..., K)}
     * @param w the weight {@code (N, K)}
     * @param bias the bias {@code (N)}, or null for none
     * @param y where the output {@code (..., N)} is written
     * @param backend the backend to compute with, or null for {@link Panattn#defaultBackend()}
     */
    public static void linear(Tensor x, Tensor w, Tensor bias, Tensor y, Backend backend) {
        Linear.checked(x, w, bias, y, backend);
    }

    /**
     * The sizes of a dense scaled dot-product attention call on arrays:
     * q {@code (b, h, lq, dk)}, k {@code (b, hkv, lk, dk)}, v {@code (b, hkv, lk, dv)},
     * out {@code (b, h, lq, dv)}, row-major.
     *
     * @param b the batch size
     * @param h the heads
     * @param hkv the key/value heads
     * @param lq the queries per head
     * @param lk the keys per head
     * @param dk the width of queries and keys
     * @param dv the width of values
     */
    public record Dims(int b, int h, int hkv, int lq, int lk, int dk, int dv) {
        /** Checks the sizes: all &ge; 0, hkv divides h, and each array's element count fits in 64 bits. */
        public Dims {
            // The fields are assigned after this body: messages use the parameters.
            if (b < 0 || h < 0 || hkv < 0 || lq < 0 || lk < 0 || dk < 0 || dv < 0) {
                throw new IllegalArgumentException("dims must be >= 0, got " + describe(b, h, hkv, lq, lk, dk, dv));
            }
            if (hkv == 0 ? h != 0 : h % hkv != 0) {
                throw new IllegalArgumentException("dims: hkv (" + hkv + ") must divide h (" + h + ")");
            }
            checkCount("q (b, h, lq, dk)", b, h, lq, dk);
            checkCount("k (b, hkv, lk, dk)", b, hkv, lk, dk);
            checkCount("v (b, hkv, lk, dv)", b, hkv, lk, dv);
            checkCount("out (b, h, lq, dv)", b, h, lq, dv);
        }

        /** The element count of sizes >= 0 fits in 64 bits; the message is made only when it does not. */
        private static void checkCount(String name, int s0, int s1, int s2, int s3) {
            if (s0 == 0 || s1 == 0 || s2 == 0 || s3 == 0) {
                return;
            }
            try {
                Math.multiplyExact(Math.multiplyExact((long) s0 * s1, s2), s3); // s0 * s1 < 2^62
            } catch (ArithmeticException e) {
                long[] shape = {s0, s1, s2, s3};
                Shapes.count("dims: " + name + " = " + Shapes.format(shape), shape);
            }
        }

        private static String describe(int b, int h, int hkv, int lq, int lk, int dk, int dv) {
            return "Dims[b=" + b + ", h=" + h + ", hkv=" + hkv + ", lq=" + lq + ", lk=" + lk + ", dk=" + dk
                    + ", dv=" + dv + "]";
        }

        /**
         * Dims of self-attention shapes: one head count, one length, one width.
         *
         * @param b the batch size
         * @param h the heads
         * @param l the length
         * @param d the width
         * @return the sizes
         */
        public static Dims of(int b, int h, int l, int d) {
            return new Dims(b, h, h, l, l, d, d);
        }
    }

    /**
     * Scaled dot-product attention on Java arrays, the smallest call: the
     * native backend reads and writes the arrays in place through a critical
     * downcall (no copy, no allocation for small sizes), the Java backends
     * wrap them. Masks, weights and positional options need tensors; here
     * only the spec's causal rule, scale and backend apply. Every array must
     * hold exactly its shape's elements, and out must be none of q, k and v;
     * sizes of 0 are legal (lk = 0 gives zeros).
     *
     * @param q the queries
     * @param k the keys
     * @param v the values
     * @param out where the output is written
     * @param dims the sizes
     * @param spec the masks, causal rule, scale, positional terms and backend
     */
    public static void scaledDotProduct(float[] q, float[] k, float[] v, float[] out, Dims dims, AttentionSpec spec) {
        if (dims == null) {
            throw new IllegalArgumentException("dims must not be null");
        }
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null (use AttentionSpec.DEFAULT)");
        }
        if (spec.mask() != null || spec.keyPadding() != null || spec.weights() != null || spec.window() != 0
                || spec.windowLeft() != AttentionSpec.UNBOUNDED || spec.windowRight() != AttentionSpec.UNBOUNDED
                || spec.keyLengths() != null || spec.softcap() != 0f || spec.alibiSlopes() != null
                || spec.relativeBias() != null) {
            throw new IllegalArgumentException("spec: arrays take only causal, scale and backend; use tensors for "
                    + "masks, weights, windows, key lengths and positional terms");
        }
        // Each array's element count fits in 64 bits: Dims checked it.
        long qSize = (long) dims.b() * dims.h() * dims.lq() * dims.dk();
        long kSize = (long) dims.b() * dims.hkv() * dims.lk() * dims.dk();
        long vSize = (long) dims.b() * dims.hkv() * dims.lk() * dims.dv();
        long outSize = (long) dims.b() * dims.h() * dims.lq() * dims.dv();
        checkArray("q", q, qSize, dims);
        checkArray("k", k, kSize, dims);
        checkArray("v", v, vSize, dims);
        checkArray("out", out, outSize, dims);
        if (out.length > 0) { // as the tensor overloads refuse, on every backend
            checkDistinct(out, q, "q");
            checkDistinct(out, k, "k");
            checkDistinct(out, v, "v");
        }
        Backend backend = spec.resolvedBackend();
        float scale = Float.isNaN(spec.scale()) ? (float) (1.0 / Math.sqrt(Math.max(dims.dk(), 1))) : spec.scale();
        if (backend == Backend.NATIVE) {
            CriticalCalls.sdpaDense(q, k, v, out, dims.b(), dims.h(), dims.hkv(), dims.lq(), dims.lk(), dims.dk(),
                    dims.dv(), scale, switch (spec.causal()) {
                        case NONE -> 0;
                        case TOP_LEFT -> 1;
                        case BOTTOM_RIGHT -> 2;
                    });
            return;
        }
        scaledDotProduct(heap(q, dims.b(), dims.h(), dims.lq(), dims.dk()), heap(k, dims.b(), dims.hkv(), dims.lk(), dims.dk()),
                heap(v, dims.b(), dims.hkv(), dims.lk(), dims.dv()), heap(out, dims.b(), dims.h(), dims.lq(), dims.dv()),
                spec.toBuilder().scale(scale).backend(backend).build());
    }

    private static void checkArray(String name, float[] a, long size, Dims dims) {
        if (a == null || a.length != size) {
            throw new IllegalArgumentException(name + ": expected " + size + " floats for " + dims + ", got "
                    + (a == null ? "null" : a.length));
        }
    }

    private static void checkDistinct(float[] out, float[] input, String name) {
        if (out == input) {
            throw new IllegalArgumentException("out: shares memory with " + name
                    + " (an output must not overlap an input or another output)");
        }
    }

    private static Tensor heap(float[] a, long... shape) {
        return Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(a), shape);
    }

    static AttentionBackend implementation(Backend backend) {
        return switch (backend) {
            case NATIVE -> NativeBackend.INSTANCE;
            case JAVA -> JavaBackend.INSTANCE;
            case JAVA_VECTOR -> VectorHolder.instance();
        };
    }

    /**
     * Loads the Vector API backend on first use, so the rest works without the incubator module. The module
     * does not declare {@code requires jdk.incubator.vector}, not even {@code static}: a consumer compiling
     * against it on the module path without --release (plain javac, -source/-target) would get javac's
     * incubating-module warning, an error under -Werror. So the read edge is added here, once the JVM has
     * the module (--add-modules jdk.incubator.vector).
     */
    private static final class VectorHolder {
        private static volatile AttentionBackend loaded;

        static AttentionBackend instance() {
            AttentionBackend backend = loaded;
            if (backend != null) {
                return backend;
            }
            Module vector = ModuleLayer.boot().findModule("jdk.incubator.vector").orElseThrow(() -> missing(null));
            Attention.class.getModule().addReads(vector);  // a no-op on the class path, where all modules are read
            try {
                return loaded = org.panattn.internal.VectorBackend.INSTANCE;
            } catch (LinkageError e) {
                throw missing(e);
            }
        }

        private static IllegalStateException missing(Throwable cause) {
            return new IllegalStateException("Backend.JAVA_VECTOR needs the incubating Vector API: run java with "
                    + "--add-modules jdk.incubator.vector", cause);
        }
    }
}
