package org.panattn;

import java.lang.foreign.Arena;

/**
 * Options of {@link Attention#scaledDotProduct}: causal rule, mask, scale,
 * where to write the attention weights, and the backend. Immutable; build
 * one with {@link #builder()} and reuse it across calls.
 *
 * <pre>{@code
 * AttentionSpec spec = AttentionSpec.builder().causal(Causal.TOP_LEFT).build();
 * }</pre>
 */
public final class AttentionSpec {
    /** No mask, no causal rule, scale 1/sqrt(Dk), the default backend. */
    public static final AttentionSpec DEFAULT = builder().build();

    /**
     * A window extent without a bound, for {@link Builder#window(long, long)}:
     * -1, as FlashAttention's {@code window_size}.
     */
    public static final long UNBOUNDED = -1;

    /**
     * The options, written out once: a builder fills its own copy, and a
     * spec keeps a frozen copy of the builder's, so the two never share one.
     */
    private static final class Values implements Cloneable {
        Causal causal = Causal.NONE;
        Mask mask;
        Mask keyPadding;
        long window;
        long windowLeft = UNBOUNDED;
        long windowRight = UNBOUNDED;
        long[] keyLengths; // never changed once set: a copy of the caller's
        float softcap;
        Tensor alibiSlopes;
        RelativePositionBias relativeBias;
        float scale = Float.NaN;
        Tensor weights;
        Backend backend;

        /**
         * Each field is a primitive or a reference to an immutable object (or
         * an array no one changes), so a shallow copy is a full one.
         */
        Values copy() {
            try {
                return (Values) clone();
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private final Values values;

    private AttentionSpec(Values values) {
        this.values = values;
    }

    /** {@return a builder starting from the defaults: no causal rule, no mask, default scale and backend} */
    public static Builder builder() {
        return new Builder(new Values());
    }

    /** {@return a builder starting from this spec's values} */
    public Builder toBuilder() {
        return new Builder(values.copy());
    }

    /** {@return the causal rule} */
    public Causal causal() {
        return values.causal;
    }

    /** {@return the mask, or null} */
    public Mask mask() {
        return values.mask;
    }

    /**
     * The key-padding mask, or null.
     *
     * @return the key padding
     */
    public Mask keyPadding() {
        return values.keyPadding;
    }

    /**
     * The sliding window of {@link Builder#window(long)}, or 0 (none, or a
     * window given by its extents).
     *
     * @return the window
     */
    public long window() {
        return values.window;
    }

    /**
     * The keys before its position a query sees: the left extent of
     * {@link Builder#window(long, long)}, w − 1 for {@link Builder#window(long) window(w)},
     * or {@link #UNBOUNDED}.
     *
     * @return the left extent
     */
    public long windowLeft() {
        return values.window > 0 ? values.window - 1 : values.windowLeft;
    }

    /**
     * The keys after its position a query sees: the right extent of
     * {@link Builder#window(long, long)}, 0 for {@link Builder#window(long) window(w)}
     * (which its causal rule bounds), or {@link #UNBOUNDED}.
     *
     * @return the right extent
     */
    public long windowRight() {
        return values.window > 0 ? 0 : values.windowRight;
    }

    /**
     * The key length of each batch row (B), or null: every row sees all Lk keys.
     *
     * @return a copy of the lengths, or null
     */
    public long[] keyLengths() {
        return values.keyLengths == null ? null : values.keyLengths.clone();
    }

    /**
     * The logit soft-cap, or 0 for none.
     *
     * @return the softcap
     */
    public float softcap() {
        return values.softcap;
    }

    /**
     * ALiBi slopes (H), or null.
     *
     * @return the alibi slopes
     */
    public Tensor alibiSlopes() {
        return values.alibiSlopes;
    }

    /**
     * The T5 relative-position bias, or null.
     *
     * @return the relative bias
     */
    public RelativePositionBias relativeBias() {
        return values.relativeBias;
    }

    /** {@return the scale, or NaN for the default 1/sqrt(Dk)} */
    public float scale() {
        return values.scale;
    }

    /** {@return where the attention weights (B, H, Lq, Lk) are written, or null} */
    public Tensor weights() {
        return values.weights;
    }

    /** {@return the backend, or null for {@link Panattn#defaultBackend()}} */
    public Backend backend() {
        return values.backend;
    }

    /**
     * The backend a call with this spec runs on: its own, else
     * {@link Panattn#defaultBackend()}. A call (or a layer) reads it once
     * and passes it on, so a concurrent {@link Panattn#setDefaultBackend}
     * cannot switch backends halfway through.
     *
     * @return the backend, never null
     */
    public Backend resolvedBackend() {
        return values.backend != null ? values.backend : Panattn.defaultBackend();
    }

    /** Builds an {@link AttentionSpec}. */
    public static final class Builder {
        private final Values values;

        private Builder(Values values) {
            this.values = values;
        }

        /**
         * The causal rule (default {@link Causal#NONE}).
         *
         * @param causal the rule
         * @return this builder
         */
        public Builder causal(Causal causal) {
            if (causal == null) {
                throw new IllegalArgumentException("causal must not be null (use Causal.NONE)");
            }
            values.causal = causal;
            return this;
        }

        /**
         * A mask combined with the causal rule (null for none).
         *
         * @param mask the mask, or null
         * @return this builder
         */
        public Builder mask(Mask mask) {
            values.mask = mask;
            return this;
        }

        /**
         * A second mask, applied together with {@link #mask}: typically
         * {@link Mask#keyPadding} of shape (B, 1, 1, Lk), as PyTorch's
         * {@code key_padding_mask} beside its {@code attn_mask} (null for none).
         *
         * @param keyPadding the key-padding mask, or null
         * @return this builder
         */
        public Builder keyPadding(Mask keyPadding) {
            values.keyPadding = keyPadding;
            return this;
        }

        /**
         * A sliding window of {@code window} keys (0 for none; needs a causal
         * rule): the query at causal position p sees keys p - window &lt; j &le; p,
         * where p = i for {@link Causal#TOP_LEFT} and i + Lk - Lq for
         * {@link Causal#BOTTOM_RIGHT}. The same as {@link #window(long, long)
         * window(window - 1, 0)} with that causal rule; it replaces a window
         * given by extents.
         *
         * @param window the window, in keys
         * @return this builder
         */
        public Builder window(long window) {
            if (window < 0) {
                throw new IllegalArgumentException("window must be >= 0, got " + window);
            }
            values.window = window;
            values.windowLeft = values.windowRight = UNBOUNDED;
            return this;
        }

        /**
         * A local window by its two extents, as FlashAttention's
         * {@code window_size=(left, right)}, with or without a causal rule:
         * the query at position p sees keys {@code p - left <= j <= p + right};
         * {@link #UNBOUNDED} leaves a side open. p is the position the causal
         * rule, ALiBi and T5 use: i + Lk − Lq with {@link Causal#BOTTOM_RIGHT},
         * else i, also without a causal rule (FlashAttention aligns
         * bottom-right there; with Lq = Lk the two agree). With
         * {@link #keyLengths}, Lk is the row's length. A causal rule still
         * hides the keys after p, so with one {@code right} changes nothing:
         * {@link #window(long) window(w)} is {@code window(w - 1, 0)}. Both
         * extents {@link #UNBOUNDED} is no window; it replaces a
         * {@link #window(long)}.
         *
         * @param left keys before p that a query sees, &ge; 0 or {@link #UNBOUNDED}
         * @param right keys after p that a query sees, &ge; 0 or {@link #UNBOUNDED}
         * @return this builder
         */
        public Builder window(long left, long right) {
            if (left < UNBOUNDED || right < UNBOUNDED) {
                throw new IllegalArgumentException("window: " + (left < UNBOUNDED ? "left = " + left : "right = " + right)
                        + ": an extent must be >= 0, or AttentionSpec.UNBOUNDED (-1)");
            }
            values.window = 0;
            values.windowLeft = left;
            values.windowRight = right;
            return this;
        }

        /**
         * Per-sequence key lengths (ONNX's {@code nonpad_kv_seqlen}), one a
         * batch row: row b attends only keys {@code j < lengths[b]} and is
         * computed as if Lk were {@code lengths[b]} (bottom-right causal
         * alignment, the window and ALiBi and T5 distances included: query
         * i sees {@code j <= i + lengths[b] - Lq} with
         * {@link Causal#BOTTOM_RIGHT}); its weights for the other keys are 0,
         * and the other keys are never read. At the call there must be B
         * lengths, each at most Lk. Null (the default) for every key.
         *
         * @param lengths the key count of each batch row (copied), or null
         * @return this builder
         */
        public Builder keyLengths(long... lengths) {
            if (lengths != null) {
                for (int b = 0; b < lengths.length; b++) {
                    if (lengths[b] < 0) {
                        throw new IllegalArgumentException("keyLengths[" + b + "] = " + lengths[b] + " must be >= 0");
                    }
                }
            }
            values.keyLengths = lengths == null ? null : lengths.clone();
            return this;
        }

        /**
         * Logit soft-capping (Gemma 2, Grok): each scaled score s becomes
         * {@code cap·tanh(s/cap)} before the masks. 0 (the default) for none.
         *
         * @param cap the cap
         * @return this builder
         */
        public Builder softcap(float cap) {
            if (!Float.isFinite(cap) || cap < 0f) {
                throw new IllegalArgumentException("softcap must be finite and >= 0, got " + cap);
            }
            values.softcap = cap;
            return this;
        }

        /**
         * ALiBi: each score gets {@code −slope[h]·|j − p|}, p the query's
         * position on the key axis (i, or i + Lk − Lq with bottom-right
         * alignment). Slopes (H), e.g. {@link Alibi#slopes(Arena, int)};
         * null for none.
         *
         * @param slopes the slopes (H)
         * @return this builder
         */
        public Builder alibi(Tensor slopes) {
            values.alibiSlopes = slopes;
            return this;
        }

        /**
         * A T5 relative-position bias added to each score (null for none).
         *
         * @param bias the bias, or null
         * @return this builder
         */
        public Builder relativeBias(RelativePositionBias bias) {
            values.relativeBias = bias;
            return this;
        }

        /**
         * The factor applied to Q·Kᵀ; finite and nonzero. Default 1/sqrt(Dk).
         *
         * @param scale the factor
         * @return this builder
         */
        public Builder scale(float scale) {
            if (!Float.isFinite(scale) || scale == 0f) {
                throw new IllegalArgumentException("scale must be finite and nonzero, got " + scale);
            }
            values.scale = scale;
            return this;
        }

        /**
         * Also writes the attention weights into {@code weights}, shaped (B, H, Lq, Lk) (null for none).
         *
         * @param weights the output tensor, or null
         * @return this builder
         */
        public Builder weights(Tensor weights) {
            values.weights = weights;
            return this;
        }

        /**
         * The backend for calls with this spec (null: {@link Panattn#defaultBackend()}).
         *
         * @param backend the backend, or null
         * @return this builder
         */
        public Builder backend(Backend backend) {
            values.backend = backend;
            return this;
        }

        /** {@return the spec} */
        public AttentionSpec build() {
            if (values.window > 0 && values.causal == Causal.NONE) {
                throw new IllegalArgumentException("window " + values.window + " needs a causal rule (TOP_LEFT or BOTTOM_RIGHT)");
            }
            return new AttentionSpec(values.copy());
        }
    }
}
