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
     * The options, written out once: a builder fills its own copy, and a
     * spec keeps a frozen copy of the builder's, so the two never share one.
     */
    private static final class Values implements Cloneable {
        Causal causal = Causal.NONE;
        Mask mask;
        Mask keyPadding;
        long window;
        float softcap;
        Tensor alibiSlopes;
        RelativePositionBias relativeBias;
        float scale = Float.NaN;
        Tensor weights;
        Backend backend;

        /** Each field is a primitive or a reference to an immutable object, so a shallow copy is a full one. */
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
     * The sliding window, or 0 for none.
     *
     * @return the window
     */
    public long window() {
        return values.window;
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
         * {@link Causal#BOTTOM_RIGHT}.
         *
         * @param window the window, in keys
         * @return this builder
         */
        public Builder window(long window) {
            if (window < 0) {
                throw new IllegalArgumentException("window must be >= 0, got " + window);
            }
            values.window = window;
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
