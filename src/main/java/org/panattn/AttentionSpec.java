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
    private final Mask keyPadding;
    private final long window;
    private final float scale;
    private final Tensor weights;
    private final Backend backend;

    private AttentionSpec(Builder b) {
        this.causal = b.causal;
        this.mask = b.mask;
        this.keyPadding = b.keyPadding;
        this.window = b.window;
        this.scale = b.scale;
        this.weights = b.weights;
        this.backend = b.backend;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this spec's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.causal = causal;
        b.mask = mask;
        b.keyPadding = keyPadding;
        b.window = window;
        b.scale = scale;
        b.weights = weights;
        b.backend = backend;
        return b;
    }

    public Causal causal() {
        return causal;
    }

    /** The mask, or null. */
    public Mask mask() {
        return mask;
    }

    /** The key-padding mask, or null. */
    public Mask keyPadding() {
        return keyPadding;
    }

    /** The sliding window, or 0 for none. */
    public long window() {
        return window;
    }

    /** The scale, or NaN for the default 1/sqrt(Dk). */
    public float scale() {
        return scale;
    }

    /** Where the attention weights (B, H, Lq, Lk) are written, or null. */
    public Tensor weights() {
        return weights;
    }

    /** The backend, or null for {@link Panattn#defaultBackend()}. */
    public Backend backend() {
        return backend;
    }

    /** Builds an {@link AttentionSpec}. */
    public static final class Builder {
        private Causal causal = Causal.NONE;
        private Mask mask;
        private Mask keyPadding;
        private long window;
        private float scale = Float.NaN;
        private Tensor weights;
        private Backend backend;

        private Builder() {
        }

        /** The causal rule (default {@link Causal#NONE}). */
        public Builder causal(Causal causal) {
            if (causal == null) {
                throw new IllegalArgumentException("causal must not be null (use Causal.NONE)");
            }
            this.causal = causal;
            return this;
        }

        /** A mask combined with the causal rule (null for none). */
        public Builder mask(Mask mask) {
            this.mask = mask;
            return this;
        }

        /**
         * A second mask, applied together with {@link #mask}: typically
         * {@link Mask#keyPadding} of shape (B, 1, 1, Lk), as PyTorch's
         * {@code key_padding_mask} beside its {@code attn_mask} (null for none).
         */
        public Builder keyPadding(Mask keyPadding) {
            this.keyPadding = keyPadding;
            return this;
        }

        /**
         * A sliding window of {@code window} keys (0 for none; needs a causal
         * rule): the query at causal position p sees keys p - window &lt; j &le; p,
         * where p = i for {@link Causal#TOP_LEFT} and i + Lk - Lq for
         * {@link Causal#BOTTOM_RIGHT}.
         */
        public Builder window(long window) {
            if (window < 0) {
                throw new IllegalArgumentException("window must be >= 0, got " + window);
            }
            this.window = window;
            return this;
        }

        /** The factor applied to Q·Kᵀ; finite and nonzero. Default 1/sqrt(Dk). */
        public Builder scale(float scale) {
            if (!Float.isFinite(scale) || scale == 0f) {
                throw new IllegalArgumentException("scale must be finite and nonzero, got " + scale);
            }
            this.scale = scale;
            return this;
        }

        /** Also writes the attention weights into {@code weights}, shaped (B, H, Lq, Lk) (null for none). */
        public Builder weights(Tensor weights) {
            this.weights = weights;
            return this;
        }

        /** The backend for calls with this spec (null: {@link Panattn#defaultBackend()}). */
        public Builder backend(Backend backend) {
            this.backend = backend;
            return this;
        }

        public AttentionSpec build() {
            if (window > 0 && causal == Causal.NONE) {
                throw new IllegalArgumentException("window " + window + " needs a causal rule (TOP_LEFT or BOTTOM_RIGHT)");
            }
            return new AttentionSpec(this);
        }
    }
}
