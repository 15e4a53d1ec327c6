package org.panattn.layers;

import org.panattn.Tensor;

/**
 * What a layer's forward pass returns: its output, and the attention
 * weights when the layer computed them for the caller. Both are allocated
 * in the arena the call was given.
 *
 * <ul>
 * <li>{@link MultiHeadAttention#forward}: output {@code (B, Lq, E)} (or
 * {@code (Lq, B, E)}); weights {@code (B, H, Lq, Lk)} per head,
 * {@code (B, Lq, Lk)} averaged, or null, as asked.</li>
 * <li>{@link EncoderDecoderAttention#forward}: output
 * {@code (B, Lq, outputSize)}; weights {@code (B, Lq, Lv)}.</li>
 * <li>{@link AttentionPooling#forward}: output, the pooled vectors,
 * {@code (B, D)}; weights {@code (B, L)}.</li>
 * </ul>
 *
 * @param output the layer's output
 * @param weights the attention weights, or null when not asked for
 */
public record LayerOutput(Tensor output, Tensor weights) {
}
