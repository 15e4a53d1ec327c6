package org.panattn;

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

    private final Causal causal;
    private final Mask mask;
    private final float scale;
    private final Tensor weights;
    private final Backend backend;

    private AttentionSpec(Builder b) {
        this.causal = b.causal;
        this.mask = b.mask;
        this.scale = b.scale;
        this.weights = b.weights;
        this.backend = b.backend;
    }

    /** {@return a builder starting from the defaults: no causal rule, no mask, default scale and backend} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return a builder starting from this spec's values} */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.causal = causal;
        b.mask = mask;
        b.scale = scale;
        b.weights = weights;
        b.backend = backend;
        return b;
    }

    /** {@return the causal rule} */
    public Causal causal() {
        return causal;
    }

    /** {@return the mask, or null} */
    public Mask mask() {
        return mask;
    }

    /** {@return the scale, or NaN for the default 1/sqrt(Dk)} */
    public float scale() {
        return scale;
    }

    /** {@return where the attention weights (B, H, Lq, Lk) are written, or null} */
    public Tensor weights() {
        return weights;
    }

    /** {@return the backend, or null for {@link Panattn#defaultBackend()}} */
    public Backend backend() {
        return backend;
    }

    /** Builds an {@link AttentionSpec}. */
    public static final class Builder {
        private Causal causal = Causal.NONE;
        private Mask mask;
        private float scale = Float.NaN;
        private Tensor weights;
        private Backend backend;

        private Builder() {
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
            this.causal = causal;
            return this;
        }

        /**
         * A mask combined with the causal rule (null for none).
         *
         * @param mask the mask, or null
         * @return this builder
         */
        public Builder mask(Mask mask) {
            this.mask = mask;
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
            this.scale = scale;
            return this;
        }

        /**
         * Also writes the attention weights into {@code weights}, shaped (B, H, Lq, Lk) (null for none).
         *
         * @param weights the output tensor, or null
         * @return this builder
         */
        public Builder weights(Tensor weights) {
            this.weights = weights;
            return this;
        }

        /**
         * The backend for calls with this spec (null: {@link Panattn#defaultBackend()}).
         *
         * @param backend the backend, or null
         * @return this builder
         */
        public Builder backend(Backend backend) {
            this.backend = backend;
            return this;
        }

        /** {@return the spec} */
        public AttentionSpec build() {
            return new AttentionSpec(this);
        }
    }
}
