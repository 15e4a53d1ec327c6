package org.panattn.layers;

import org.panattn.Rope;
import org.panattn.Tensor;

/**
 * A {@link MultiHeadAttention} layer's sizes and options, as its builder
 * checked and set them, shared by the layer's weights and forward passes.
 *
 * @param embedDim   E, the width of the queries and of the output
 * @param numHeads   the query heads; E is a multiple of them
 * @param numKvHeads the key/value heads; they divide numHeads
 * @param kdim       the width of the key input
 * @param vdim       the width of the value input
 * @param bias       whether the projections have biases
 * @param batchFirst inputs {@code (B, L, E)} when true, {@code (L, B, E)} when false
 * @param ropeBase   the rotary embeddings' base, or 0 for none
 * @param ropeLayout which features the rotary embeddings pair
 * @param addBiasKv  whether learned {@code bias_k}, {@code bias_v} are appended to the projected keys and values
 * @param addZeroAttn whether a zero key and value are appended after them
 */
record MultiHeadConfig(long embedDim, long numHeads, long numKvHeads, long kdim, long vdim, boolean bias,
                       boolean batchFirst, float ropeBase, Rope.Layout ropeLayout, boolean addBiasKv,
                       boolean addZeroAttn) {
    /** {@return the width of one head, E / numHeads} */
    long headDim() {
        return embedDim / numHeads;
    }

    /** {@return the width of the keys and of the values after projection, numKvHeads·headDim} */
    long kvDim() {
        return numKvHeads * headDim();
    }

    /** {@return whether q, k and v are projected by one {@code in_proj_weight}: kdim == vdim == embedDim} */
    boolean isPacked() {
        return kdim == embedDim && vdim == embedDim;
    }

    /** {@return how many keys the layer appends to every sequence: bias_k's, then the zero key} */
    int appendedKeys() {
        return (addBiasKv ? 1 : 0) + (addZeroAttn ? 1 : 0);
    }

    /** {@return the batch size of an input in the layer's layout} */
    long batchOf(Tensor t) {
        return t.size(batchFirst ? 0 : 1);
    }

    /** {@return the sequence length of an input in the layer's layout} */
    long lengthOf(Tensor t) {
        return t.size(batchFirst ? 1 : 0);
    }
}
