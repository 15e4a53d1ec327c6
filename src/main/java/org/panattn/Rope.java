package org.panattn;

/**
 * Rotary position embeddings (RoPE, Su et al.), applied to queries or keys
 * in place before attention: each pair of features of the token at
 * position p rotates by {@code p·base^(−2k/D)}, k the pair's index. With a
 * {@link KvCache}, rotate the new tokens at {@code position = cache.length()}
 * before appending their keys.
 */
public final class Rope {
    /** Which features form a pair. */
    public enum Layout {
        /** (k, k + D/2): GPT-NeoX, Hugging Face LLaMA. */
        HALF,
        /** (2k, 2k + 1): GPT-J, the original RoFormer. */
        INTERLEAVED
    }

    private Rope() {
    }

    /**
     * {@link #apply(Tensor, long, float, Layout, Backend)} with the default backend.
     *
     * @param x the input
     * @param position the position of the first row
     * @param base the rotation base (10000 in most models)
     * @param layout which features form a pair
     */
    public static void apply(Tensor x, long position, float base, Layout layout) {
        apply(x, position, base, layout, Panattn.defaultBackend());
    }

    /**
     * Rotates x {@code (B, H, L, D)} (or {@code (B, L, D)}), D even, in place;
     * row l is at position {@code position + l}. Typical base: 10000. Since x
     * is written, it must be writable and give every element its own memory
     * (no stride-0 dimension); any size may be 0.
     *
     * @param x the input
     * @param position the position of the first row
     * @param base the rotation base (10000 in most models)
     * @param layout which features form a pair
     * @param backend the backend to compute with
     */
    public static void apply(Tensor x, long position, float base, Layout layout, Backend backend) {
        if (layout == null || backend == null) {
            throw new IllegalArgumentException((layout == null ? "layout" : "backend") + " must not be null");
        }
        Tensor x4 = AttentionValidation.rank4(backend, new String[] {"x"}, x)[0];
        AttentionValidation.contiguousRows("x", x4);
        AttentionValidation.float32("x", x4, "RoPE rotates float32 in place; apply it before converting");
        // x is rotated in place: it is an output as well as an input.
        OutputChecks.writable("x", x4.view());
        OutputChecks.distinctElements("x", x4.view());
        if (x4.size(3) % 2 != 0) {
            throw new IllegalArgumentException("x: last dimension must be even, got shape " + Shapes.format(x.shape()));
        }
        if (!(base > 1f) || !Float.isFinite(base)) {
            throw new IllegalArgumentException("base must be finite and > 1, got " + base);
        }
        if (position < 0) {
            throw new IllegalArgumentException("position must be >= 0, got " + position);
        }
        long rows = x4.size(2);
        if (x4.size() > 0 && position > Long.MAX_VALUE - (rows - 1)) { // an empty x rotates no row
            throw new IllegalArgumentException("position: " + position + " + L - 1 (L = " + rows
                    + ") overflows 64 bits");
        }
        Attention.implementation(backend).rope(x4.view(), position, base, layout == Layout.INTERLEAVED);
    }
}
