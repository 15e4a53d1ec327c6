package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.panattn.internal.ElementType;
import org.panattn.internal.View;

/**
 * The ONNX {@code Attention} operator (opset 23, with opset 24's
 * {@code nonpad_kv_seqlen} input) as one call: the attributes are set once
 * in the builder, and
 * {@link #run(Tensor, Tensor, Tensor, AttnMask, Tensor, Tensor, long[], Tensor, Tensor, Tensor, Tensor) run}
 * takes the operator's inputs and fills its outputs, under their ONNX names.
 *
 * <pre>{@code
 * OnnxAttention op = OnnxAttention.builder().isCausal(true).qNumHeads(8).kvNumHeads(2).build();
 * // Q (B, Lq, 8·64), K and V (B, Lkv, 2·64), past_key and past_value (B, 2, P, 64)
 * OnnxAttention.Outputs out = op.run(arena, q, k, v, null, pastKey, pastValue, null);
 * // out.y() (B, Lq, 8·64); out.presentKey(), out.presentValue() (B, 2, P + Lkv, 64)
 * }</pre>
 *
 * <h2>What it computes</h2>
 * <ul>
 * <li>Q, K, V are all 4-D, {@code (batch_size, heads, sequence_length, head_size)}, or all
 * 3-D, {@code (batch_size, sequence_length, heads·head_size)}; 3-D inputs need
 * {@code q_num_heads} and {@code kv_num_heads}, and give a 3-D Y. {@code q_num_heads} must be
 * a multiple of {@code kv_num_heads} (grouped-query and multi-query attention: query head h uses
 * key/value head h / (q_num_heads / kv_num_heads), as ONNX's repeat of each key/value head).</li>
 * <li>{@code present_key = concat(past_key, K)} and {@code present_value = concat(past_value, V)}
 * along the sequence, and attention runs over them: {@code total_sequence_length =
 * past_sequence_length + kv_sequence_length}.</li>
 * <li>The scores are {@code Q·Kᵀ·scale} (scale default {@code 1/sqrt(head_size)}), then
 * {@code softcap·tanh(score/softcap)} when softcap &gt; 0, then the bias is added (attn_mask,
 * the causal rule and the padding of nonpad_kv_seqlen), then softmax, then the product with V.
 * That is the order of the current specification: ONNX 1.22 corrected the first text of
 * opset 23, which added the mask before the softcap, in place, and ONNX Runtime 1.29 computes
 * the corrected order too.</li>
 * <li>{@code attn_mask}: booleans (true = take part) or floats added to the scores, of any rank
 * from 1 to 4, broadcast as NumPy does (right-aligned) to
 * {@code (batch_size, q_num_heads, q_sequence_length, total_sequence_length)}; a last dimension
 * shorter than total_sequence_length is padded with false (-Infinity), as the specification and
 * its reference implementation do (so a last dimension of 1 is padded, not broadcast).</li>
 * <li>{@code is_causal}: query i sees key j when {@code j <= i + offset}, aligned bottom-right
 * to the keys that precede the query block: offset = past_sequence_length with a past, else
 * nonpad_kv_seqlen[b] - q_sequence_length per batch with {@code nonpad_kv_seqlen}, else 0.</li>
 * <li>{@code nonpad_kv_seqlen} (batch_size): batch b attends to its first nonpad_kv_seqlen[b]
 * keys only; it cannot be combined with past_key and past_value.</li>
 * <li>A query row that keeps no key gets zeros in Y (and in the mode-3 qk_matmul_output), never
 * NaN. With NaN or infinite inputs the rules of
 * {@link Attention#scaledDotProduct(Tensor, Tensor, Tensor, Tensor, AttentionSpec)} apply: a NaN
 * score in a row whose float mask is -Infinity everywhere makes that row NaN, where ONNX, which
 * decides on the bias alone, gives zeros.</li>
 * <li>{@code qk_matmul_output} {@code (batch_size, q_num_heads, q_sequence_length,
 * total_sequence_length)}, by {@code qk_matmul_output_mode}: 0 the scaled product
 * {@code Q·Kᵀ·scale}; 1 after the softcap; 2 after the softcap and the bias (-Infinity where a
 * key is masked); 3 the softmax (the attention weights).</li>
 * </ul>
 *
 * <p>Every backend runs it: Y and the mode-3 output come from
 * {@link Attention#scaledDotProduct(Tensor, Tensor, Tensor, Tensor, AttentionSpec)} (the fused
 * kernels, with the attn_mask, the causal rule and nonpad_kv_seqlen as its masks, causal rule and key
 * lengths), modes 0 to 2 from
 * {@link Attention#linear} and a pass in Java for the scale, softcap and bias.
 * {@code softmax_precision} is accepted and reported, but the softmax always runs in float32,
 * the precision of the kernels. Every tensor is float32 ({@link Dtype#F32}): others are refused.
 *
 * <p>Every argument is checked, by its ONNX name and with the expected shape, before anything is
 * written; a refused call writes no output. Inputs and outputs may have any strides whose last
 * dimension is contiguous (stride 1); outputs must be writable, give each element its own memory
 * and overlap no input or other output. Instances are immutable and may be shared by threads.
 */
public final class OnnxAttention {
    private final boolean isCausal;
    private final long qNumHeads;
    private final long kvNumHeads;
    private final int qkMatmulOutputMode;
    private final float scale;
    private final float softcap;
    private final int softmaxPrecision;
    private final Backend backend;

    private OnnxAttention(Builder b) {
        isCausal = b.isCausal;
        qNumHeads = b.qNumHeads;
        kvNumHeads = b.kvNumHeads;
        qkMatmulOutputMode = b.qkMatmulOutputMode;
        scale = b.scale;
        softcap = b.softcap;
        softmaxPrecision = b.softmaxPrecision;
        backend = b.backend;
    }

    /** {@return a builder with ONNX's defaults: not causal, mode 0, default scale, no softcap} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return a builder starting from this operator's attributes and backend} */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.isCausal = isCausal;
        b.qNumHeads = qNumHeads;
        b.kvNumHeads = kvNumHeads;
        b.qkMatmulOutputMode = qkMatmulOutputMode;
        b.scale = scale;
        b.softcap = softcap;
        b.softmaxPrecision = softmaxPrecision;
        b.backend = backend;
        return b;
    }

    /** {@return the is_causal attribute} */
    public boolean isCausal() {
        return isCausal;
    }

    /** {@return the q_num_heads attribute, or 0 when it is not set} */
    public long qNumHeads() {
        return qNumHeads;
    }

    /** {@return the kv_num_heads attribute, or 0 when it is not set} */
    public long kvNumHeads() {
        return kvNumHeads;
    }

    /** {@return the qk_matmul_output_mode attribute, 0 to 3} */
    public int qkMatmulOutputMode() {
        return qkMatmulOutputMode;
    }

    /** {@return the scale attribute, or NaN for the default 1/sqrt(head_size)} */
    public float scale() {
        return scale;
    }

    /** {@return the softcap attribute, 0 for none} */
    public float softcap() {
        return softcap;
    }

    /** {@return the softmax_precision attribute (an ONNX TensorProto data type), or 0 when it is not set} */
    public int softmaxPrecision() {
        return softmaxPrecision;
    }

    /** {@return the backend, or null for {@link Panattn#defaultBackend()}} */
    public Backend backend() {
        return backend;
    }

    /**
     * The outputs of one call. Y is always there; the others are null when not asked for.
     *
     * @param y the output {@code (batch_size, q_num_heads, q_sequence_length, v_head_size)}, or 3-D
     *          {@code (batch_size, q_sequence_length, q_num_heads·v_head_size)} for 3-D inputs
     * @param presentKey {@code (batch_size, kv_num_heads, total_sequence_length, head_size)}, or null
     * @param presentValue {@code (batch_size, kv_num_heads, total_sequence_length, v_head_size)}, or null
     * @param qkMatmulOutput {@code (batch_size, q_num_heads, q_sequence_length, total_sequence_length)}, or null
     */
    public record Outputs(Tensor y, Tensor presentKey, Tensor presentValue, Tensor qkMatmulOutput) {
    }

    /**
     * New outputs in {@code arena} shaped for these inputs, after checking the inputs as
     * {@link #run(Tensor, Tensor, Tensor, AttnMask, Tensor, Tensor, long[], Tensor, Tensor, Tensor, Tensor) run}
     * does.
     *
     * @param arena where the outputs live
     * @param q Q
     * @param k K
     * @param v V
     * @param pastKey past_key, or null
     * @param pastValue past_value, or null
     * @param present whether to allocate present_key and present_value
     * @param qkMatmulOutput whether to allocate qk_matmul_output
     * @return the outputs
     */
    public Outputs allocateOutputs(Arena arena, Tensor q, Tensor k, Tensor v, Tensor pastKey, Tensor pastValue,
                                   boolean present, boolean qkMatmulOutput) {
        if (arena == null) {
            throw new IllegalArgumentException("arena must not be null");
        }
        OnnxInputs in = OnnxInputs.of(this, null, q, k, v, pastKey, pastValue);
        return new Outputs(Tensor.allocate("Y", arena, Dtype.F32, in.yShape()),
                present ? Tensor.allocate("present_key", arena, Dtype.F32, in.presentShape(in.headSize())) : null,
                present ? Tensor.allocate("present_value", arena, Dtype.F32, in.presentShape(in.vHeadSize())) : null,
                qkMatmulOutput ? Tensor.allocate("qk_matmul_output", arena, Dtype.F32, in.qkShape()) : null);
    }

    /**
     * The operator with new outputs in {@code arena}: Y, and present_key and present_value when
     * a past is given (decoding with a cache); no qk_matmul_output (use
     * {@link #allocateOutputs} and the filling overload for it).
     *
     * @param arena where the outputs live
     * @param q Q
     * @param k K
     * @param v V
     * @param attnMask attn_mask, or null
     * @param pastKey past_key, or null
     * @param pastValue past_value, or null
     * @param nonpadKvSeqlen nonpad_kv_seqlen (batch_size), or null
     * @return the outputs
     */
    public Outputs run(Arena arena, Tensor q, Tensor k, Tensor v, AttnMask attnMask, Tensor pastKey,
                       Tensor pastValue, long[] nonpadKvSeqlen) {
        Outputs out = allocateOutputs(arena, q, k, v, pastKey, pastValue, pastKey != null, false);
        run(q, k, v, attnMask, pastKey, pastValue, nonpadKvSeqlen, out.y(), out.presentKey(), out.presentValue(),
                null);
        return out;
    }

    /**
     * The operator: reads the inputs, writes the outputs given.
     *
     * @param q Q {@code (batch_size, q_num_heads, q_sequence_length, head_size)}, or 3-D
     *          {@code (batch_size, q_sequence_length, q_num_heads·head_size)}
     * @param k K {@code (batch_size, kv_num_heads, kv_sequence_length, head_size)}, or 3-D
     *          {@code (batch_size, kv_sequence_length, kv_num_heads·head_size)}
     * @param v V {@code (batch_size, kv_num_heads, kv_sequence_length, v_head_size)}, or 3-D
     *          {@code (batch_size, kv_sequence_length, kv_num_heads·v_head_size)}
     * @param attnMask attn_mask, broadcast to {@code (batch_size, q_num_heads, q_sequence_length,
     *                 total_sequence_length)}, or null
     * @param pastKey past_key {@code (batch_size, kv_num_heads, past_sequence_length, head_size)}, or null
     * @param pastValue past_value {@code (batch_size, kv_num_heads, past_sequence_length, v_head_size)}, or null
     * @param nonpadKvSeqlen nonpad_kv_seqlen, one length per batch from 0 to kv_sequence_length, or null
     *                       (not with a past; present_key and present_value are then K and V)
     * @param y where Y is written (required)
     * @param presentKey where present_key is written, or null
     * @param presentValue where present_value is written, or null
     * @param qkMatmulOutput where qk_matmul_output is written, or null
     */
    public void run(Tensor q, Tensor k, Tensor v, AttnMask attnMask, Tensor pastKey, Tensor pastValue,
                    long[] nonpadKvSeqlen, Tensor y, Tensor presentKey, Tensor presentValue, Tensor qkMatmulOutput) {
        Backend resolved = backend != null ? backend : Panattn.defaultBackend();
        if (resolved == Backend.NATIVE) {
            Panattn.ensureNativeAvailable();
        } else {
            Attention.implementation(resolved); // the Vector API backend says here if the JVM lacks its module
        }
        OnnxInputs in = OnnxInputs.of(this, resolved, q, k, v, pastKey, pastValue);
        in.checkOutputs(resolved, attnMask, y, presentKey, presentValue, qkMatmulOutput);
        long[] lengths = in.checkLengths(nonpadKvSeqlen);
        try (Temporaries temp = new Temporaries()) {
            OnnxBias bias = OnnxBias.of(temp, in, resolved, attnMask, isCausal, lengths);
            // Checked: from here on every write is one of the outputs.
            Tensor keys = present(temp, in.pastKey(), in.k4(), presentKey, in.presentShape(in.headSize()));
            Tensor values = present(temp, in.pastValue(), in.v4(), presentValue, in.presentShape(in.vHeadSize()));
            float s = Float.isNaN(scale) ? (float) (1.0 / Math.sqrt(Math.max(in.headSize(), 1))) : scale;
            AttentionSpec.Builder spec = AttentionSpec.builder().backend(resolved).scale(s).softcap(softcap)
                    .causal(bias.causal()).mask(bias.mask()).keyPadding(bias.keyPadding())
                    .keyLengths(bias.keyLengths());
            if (qkMatmulOutput != null && qkMatmulOutputMode == 3) {
                spec.weights(qkMatmulOutput);
            }
            Attention.scaledDotProduct(in.q4(), keys, values, in.as4d(y, in.vHeadSize()), spec.build());
            if (qkMatmulOutput != null && qkMatmulOutputMode < 3) {
                OnnxScores.fill(resolved, in, keys, s, softcap, qkMatmulOutputMode, bias, qkMatmulOutput);
            }
        }
    }

    /**
     * The keys (or values) attention reads: {@code now} alone without a past, else
     * concat(past, now) along the sequence, written into {@code out} (present_key or
     * present_value) when given, or into a temporary; {@code out} gets {@code now} without a past.
     */
    private static Tensor present(Temporaries temp, Tensor past, Tensor now, Tensor out, long[] shape) {
        if (past == null) {
            if (out != null) {
                copyRows(now, out, 0);
            }
            return now;
        }
        Tensor all = out != null ? out : Tensor.allocate(temp.arena(), shape);
        copyRows(past, all, 0);
        copyRows(now, all, past.size(2));
        return all;
    }

    /** Copies src (B, H, T, D) into dst from sequence position {@code at}; both have contiguous rows. */
    private static void copyRows(Tensor src, Tensor dst, long at) {
        long[] ss = src.strides(), ds = dst.strides();
        long bytes = src.size(3) * Float.BYTES;
        if (bytes == 0) {
            return;
        }
        for (long b = 0; b < src.size(0); b++) {
            for (long h = 0; h < src.size(1); h++) {
                for (long t = 0; t < src.size(2); t++) {
                    MemorySegment.copy(src.segment(), (b * ss[0] + h * ss[1] + t * ss[2]) * Float.BYTES,
                            dst.segment(), (b * ds[0] + h * ds[1] + (at + t) * ds[2]) * Float.BYTES, bytes);
                }
            }
        }
    }

    /** A shared arena for one call's temporaries, opened on first use and closed when the call ends. */
    static final class Temporaries implements AutoCloseable {
        private Arena arena;

        Arena arena() {
            if (arena == null) {
                arena = Arena.ofShared(); // shared, so the Vector API backend may split the work over threads
            }
            return arena;
        }

        @Override
        public void close() {
            if (arena != null) {
                arena.close();
            }
        }
    }

    /**
     * ONNX's {@code attn_mask}: booleans (true = the key takes part) or floats added to the
     * scores, of rank 1 to 4, with its shape as given (broadcast right-aligned, as NumPy does:
     * a rank-3 mask is {@code (q_num_heads, q_sequence_length, total_sequence_length)}).
     */
    public static final class AttnMask {
        private final MemorySegment bytes;
        private final Tensor values;
        private final long[] shape;

        private AttnMask(MemorySegment bytes, Tensor values, long[] shape) {
            this.bytes = bytes;
            this.values = values;
            this.shape = shape;
        }

        /**
         * A boolean mask over contiguous bytes in row-major order, nonzero = take part.
         *
         * @param bytes at least one byte per element of the shape
         * @param shape 1 to 4 sizes
         * @return the mask, a view of {@code bytes}
         */
        public static AttnMask keep(MemorySegment bytes, long... shape) {
            if (bytes == null) {
                throw new IllegalArgumentException("attn_mask: bytes must not be null");
            }
            long[] s = checkShape(shape);
            long n = Shapes.count("attn_mask " + Shapes.format(s), s);
            if (bytes.byteSize() < n) {
                throw new IllegalArgumentException("attn_mask: segment of " + bytes.byteSize()
                        + " bytes is too small for shape " + Shapes.format(s) + ": needs " + n);
            }
            return new AttnMask(bytes, null, s);
        }

        /**
         * A boolean mask in {@code arena} from booleans in row-major order (true = take part).
         *
         * @param arena where the mask's bytes live
         * @param values one per element of the shape
         * @param shape 1 to 4 sizes
         * @return the mask
         */
        public static AttnMask keep(Arena arena, boolean[] values, long... shape) {
            if (arena == null || values == null) {
                throw new IllegalArgumentException("attn_mask: " + (arena == null ? "arena" : "values")
                        + " must not be null");
            }
            long[] s = checkShape(shape);
            long n = Shapes.count("attn_mask " + Shapes.format(s), s);
            if (values.length != n) {
                throw new IllegalArgumentException("attn_mask: values has " + values.length + " elements, shape "
                        + Shapes.format(s) + " needs " + n);
            }
            MemorySegment seg = Tensor.allocateIn(arena, Math.max(n, 1), 1);
            for (int i = 0; i < values.length; i++) {
                seg.set(ValueLayout.JAVA_BYTE, i, values[i] ? (byte) 1 : (byte) 0);
            }
            return new AttnMask(seg, null, s);
        }

        /**
         * A float mask added to the scores ({@code -Infinity} = never attend): a view of
         * {@code values}, of any strides.
         *
         * @param values the terms, rank 1 to 4, float32
         * @return the mask
         */
        public static AttnMask additive(Tensor values) {
            if (values == null) {
                throw new IllegalArgumentException("attn_mask: values must not be null");
            }
            AttentionValidation.float32("attn_mask", values, OnnxInputs.FLOAT32);
            return new AttnMask(null, values, values.shape());
        }

        private static long[] checkShape(long[] shape) {
            if (shape == null || shape.length < 1 || shape.length > 4) {
                throw new IllegalArgumentException("attn_mask: expected 1 to 4 dimensions, got "
                        + (shape == null ? "null" : Shapes.format(shape)));
            }
            for (long n : shape) {
                if (n < 0) {
                    throw new IllegalArgumentException("attn_mask: sizes must be >= 0, got " + Shapes.format(shape));
                }
            }
            return shape.clone();
        }

        /** The memory the mask reads, as a view, right-aligned to rank 4. */
        View view() {
            if (values != null) {
                return values.view();
            }
            long[] s = Shapes.pad4(shape, 1);
            return new View(bytes, s, Shapes.contiguousStrides(s), ElementType.BOOL);
        }

        /** {@return whether the mask holds booleans (else floats)} */
        public boolean isBoolean() {
            return values == null;
        }

        /** {@return the shape, as given} */
        public long[] shape() {
            return shape.clone();
        }

        /** {@return the booleans' bytes, or null for a float mask} */
        public MemorySegment bytes() {
            return bytes;
        }

        /** {@return the floats, or null for a boolean mask} */
        public Tensor values() {
            return values;
        }

        @Override
        public String toString() {
            return "AttnMask[" + (isBoolean() ? "bool " : "float ") + Shapes.format(shape) + "]";
        }
    }

    /** Builds an {@link OnnxAttention}: the operator's attributes, and the backend. */
    public static final class Builder {
        private boolean isCausal;
        private long qNumHeads;
        private long kvNumHeads;
        private int qkMatmulOutputMode;
        private float scale = Float.NaN;
        private float softcap;
        private int softmaxPrecision;
        private Backend backend;

        private Builder() {
        }

        /**
         * is_causal (default false): bottom-right causal masking, see the class description.
         *
         * @param causal whether to mask causally
         * @return this builder
         */
        public Builder isCausal(boolean causal) {
            isCausal = causal;
            return this;
        }

        /**
         * q_num_heads: the query heads of 3-D inputs (with 4-D inputs it must match Q's heads).
         *
         * @param heads at least 1
         * @return this builder
         */
        public Builder qNumHeads(long heads) {
            qNumHeads = heads(heads, "q_num_heads");
            return this;
        }

        /**
         * kv_num_heads: the key/value heads of 3-D inputs (with 4-D inputs it must match K's heads).
         *
         * @param heads at least 1
         * @return this builder
         */
        public Builder kvNumHeads(long heads) {
            kvNumHeads = heads(heads, "kv_num_heads");
            return this;
        }

        private static long heads(long heads, String name) {
            if (heads < 1) {
                throw new IllegalArgumentException(name + " must be >= 1, got " + heads);
            }
            return heads;
        }

        /**
         * qk_matmul_output_mode (default 0): what qk_matmul_output holds, 0 the scaled product,
         * 1 after the softcap, 2 after the bias, 3 after the softmax.
         *
         * @param mode 0 to 3
         * @return this builder
         */
        public Builder qkMatmulOutputMode(int mode) {
            if (mode < 0 || mode > 3) {
                throw new IllegalArgumentException("qk_matmul_output_mode must be 0, 1, 2 or 3, got " + mode);
            }
            qkMatmulOutputMode = mode;
            return this;
        }

        /**
         * scale (default 1/sqrt(head_size)), the factor of Q·Kᵀ. ONNX scales Q and K by
         * sqrt(scale) each, so it must be positive.
         *
         * @param factor finite and &gt; 0
         * @return this builder
         */
        public Builder scale(float factor) {
            if (!Float.isFinite(factor) || factor <= 0f) {
                throw new IllegalArgumentException("scale must be finite and > 0 (ONNX scales Q and K by sqrt(scale)), "
                        + "got " + factor);
            }
            scale = factor;
            return this;
        }

        /**
         * softcap (default 0, none): the scores become {@code softcap·tanh(score/softcap)} before the bias.
         *
         * @param cap finite and &ge; 0
         * @return this builder
         */
        public Builder softcap(float cap) {
            if (!Float.isFinite(cap) || cap < 0f) {
                throw new IllegalArgumentException("softcap must be finite and >= 0, got " + cap);
            }
            softcap = cap;
            return this;
        }

        /**
         * softmax_precision: an ONNX floating-point data type, 1 (FLOAT), 10 (FLOAT16), 11 (DOUBLE) or
         * 16 (BFLOAT16). Accepted and reported; the softmax runs in float32 whatever it says.
         *
         * @param type the TensorProto data type
         * @return this builder
         */
        public Builder softmaxPrecision(int type) {
            if (type != 1 && type != 10 && type != 11 && type != 16) {
                throw new IllegalArgumentException("softmax_precision must be a floating-point TensorProto type: "
                        + "1 (FLOAT), 10 (FLOAT16), 11 (DOUBLE) or 16 (BFLOAT16), got " + type);
            }
            softmaxPrecision = type;
            return this;
        }

        /**
         * The backend the calls run on (null: {@link Panattn#defaultBackend()}, read at each call).
         *
         * @param b the backend, or null
         * @return this builder
         */
        public Builder backend(Backend b) {
            backend = b;
            return this;
        }

        /** {@return the operator} */
        public OnnxAttention build() {
            return new OnnxAttention(this);
        }
    }
}
