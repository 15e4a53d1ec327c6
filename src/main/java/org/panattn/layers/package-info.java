/**
 * Layers built from panattn's operations: {@link org.panattn.layers.MultiHeadAttention}
 * (PyTorch's {@code nn.MultiheadAttention}), {@link org.panattn.layers.EncoderDecoderAttention}
 * (the seq2seq tutorials' {@code Attn}) and {@link org.panattn.layers.AttentionPooling};
 * each forward pass returns a {@link org.panattn.layers.LayerOutput}.
 *
 * <p>A layer holds its weights in PyTorch's layout, in the arena it was
 * built in, and computes with the public operations of {@link org.panattn}
 * alone: {@link org.panattn.Attention#linear} for its projections,
 * {@link org.panattn.Attention#scaledDotProduct} or
 * {@link org.panattn.Attention#concatLinear} for its attention,
 * {@link org.panattn.Rope} and {@link org.panattn.KvCache} where it uses
 * them. Each checks its own arguments first, so a refusal names the
 * layer's argument ({@code query}, {@code x}, {@code the layer's weights})
 * and the shape it expected.
 */
package org.panattn.layers;
