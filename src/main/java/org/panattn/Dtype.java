package org.panattn;

import org.panattn.internal.ElementType;

/**
 * The element type of a {@link Tensor}: float32, or one of the two 16-bit
 * storage formats that halve the memory (and the bytes a call reads) of
 * queries, keys, values and the {@link KvCache}.
 *
 * <p>Half-precision tensors are storage only: every read widens an element
 * to float32 exactly, and attention computes and accumulates in float32 on
 * every backend and ISA level; its outputs (out, the weights) are float32.
 * Writing a float into a half tensor ({@link Tensor#set}, {@link Tensor#copyFrom},
 * {@link Tensor#to}, {@link KvCache#append}) rounds it to the nearest
 * representable value, ties to even; NaN stays NaN.
 *
 * <p>Which operations take which types: {@link Attention#scaledDotProduct},
 * {@link ScoreRule#dot()} and {@link ScoreRule#scaledDot()} take q, k and v
 * of any type (each its own); every score rule takes v of any type; all
 * other tensors (outputs, additive masks, ALiBi slopes, T5 tables, the
 * score rules' q, k and weights, {@link Attention#linear}, {@link Rope})
 * are float32, and a tensor of another type is refused with an
 * {@link IllegalArgumentException} naming it and the types it may have.
 * Keep-masks are not tensors: a {@link Mask} of {@link Mask.Kind#KEEP} holds
 * one byte per element.
 */
public enum Dtype {
    /** IEEE 754 binary32, 4 bytes: {@code float}. */
    F32(ElementType.F32),
    /**
     * IEEE 754 binary16, 2 bytes: 5 exponent bits, 10 fraction bits. Finite
     * values up to 65504 (beyond it a float rounds to infinity), subnormals
     * down to 2<sup>-24</sup>; about 3 decimal digits. numpy's {@code float16},
     * PyTorch's {@code torch.float16}.
     */
    F16(ElementType.F16),
    /**
     * bfloat16, 2 bytes: the top half of a float32 (its sign, its 8 exponent
     * bits, the top 7 of its 23 fraction bits), so float32's range with
     * about 2 decimal digits. A bf16 value is a float32 whose low 16 bits are
     * zero; a float32 rounds to the nearest such (ties to even), and a NaN
     * stays NaN (never, by dropping its low bits, an infinity). PyTorch's
     * {@code torch.bfloat16}; numpy has no bfloat16.
     */
    BF16(ElementType.BF16);

    private final ElementType element;

    Dtype(ElementType element) {
        this.element = element;
    }

    /** {@return the bytes of one element: 4 or 2} */
    public int byteSize() {
        return element.bytes();
    }

    /** The backends' element type. */
    ElementType element() {
        return element;
    }
}
