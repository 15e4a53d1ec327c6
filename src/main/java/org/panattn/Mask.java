package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.panattn.internal.ElementType;
import org.panattn.internal.View;

/**
 * An attention mask, in one polarity: a {@linkplain Kind#KEEP keep-mask}
 * holds {@code true} where a query may attend to a key; an
 * {@linkplain Kind#ADDITIVE additive mask} is added to the scaled scores
 * ({@code -Infinity} where a query must not attend).
 *
 * <p>Shapes: {@code (Lq, Lk)}, {@code (B, Lq, Lk)} or {@code (B, H, Lq, Lk)};
 * the batch, head and query dimensions may be 1 to broadcast, so
 * {@code (B, 1, 1, Lk)} masks keys per batch (key padding). A query row
 * whose keys are all masked yields zeros, never NaN.
 */
public final class Mask {
    /** The two mask types. */
    public enum Kind {
        /** Booleans, one byte each: nonzero = attend. */
        KEEP,
        /** float32 added to the scaled scores. */
        ADDITIVE
    }

    private final Kind kind;
    private final MemorySegment segment;
    private final long[] shape;   // 4-D
    private final long[] strides; // 4-D, in elements

    private Mask(Kind kind, MemorySegment segment, long[] shape, long[] strides) {
        this.kind = kind;
        this.segment = segment;
        this.shape = shape;
        this.strides = strides;
    }

    /**
     * A keep-mask in {@code arena} from booleans in row-major order (true = attend).
     *
     * @param arena where the mask's bytes live
     * @param values one per element of the shape
     * @param shape {@code (Lq, Lk)}, {@code (B, Lq, Lk)} or {@code (B, H, Lq, Lk)}
     * @return the mask
     */
    public static Mask keep(Arena arena, boolean[] values, long... shape) {
        if (arena == null || values == null) {
            throw new IllegalArgumentException((arena == null ? "arena" : "values") + " must not be null");
        }
        long[] s = maskShape(shape);
        long n = Shapes.count("mask shape", s);
        if (values.length != n) {
            throw new IllegalArgumentException("values has " + values.length + " elements, mask shape "
                    + Arrays.toString(shape) + " needs " + n);
        }
        MemorySegment seg = Tensor.allocateIn(arena, Math.max(n, 1), 1);
        for (int i = 0; i < values.length; i++) {
            seg.set(ValueLayout.JAVA_BYTE, i, values[i] ? (byte) 1 : (byte) 0);
        }
        return new Mask(Kind.KEEP, seg, s, Shapes.contiguousStrides(s));
    }

    /**
     * A keep-mask over contiguous bytes (nonzero = attend) in row-major order.
     *
     * @param bytes at least one byte per element of the shape
     * @param shape {@code (Lq, Lk)}, {@code (B, Lq, Lk)} or {@code (B, H, Lq, Lk)}
     * @return the mask, a view of {@code bytes}
     */
    public static Mask keep(MemorySegment bytes, long... shape) {
        if (bytes == null) {
            throw new IllegalArgumentException("bytes must not be null");
        }
        long[] s = maskShape(shape);
        long n = Shapes.count("mask shape", s);
        if (bytes.byteSize() < n) {
            throw new IllegalArgumentException("mask segment of " + bytes.byteSize() + " bytes is too small for shape "
                    + Arrays.toString(shape) + ": needs " + n);
        }
        return new Mask(Kind.KEEP, bytes, s, Shapes.contiguousStrides(s));
    }

    /**
     * An additive float mask: {@code (Lq, Lk)}, {@code (B, Lq, Lk)} or
     * {@code (B, H, Lq, Lk)}, with a contiguous last dimension.
     *
     * @param values the terms added to the scaled scores ({@code -Infinity} = never attend)
     * @return the mask, a view of {@code values}
     */
    public static Mask additive(Tensor values) {
        if (values == null) {
            throw new IllegalArgumentException("values must not be null");
        }
        AttentionValidation.float32("values", values, "an additive mask is float32");
        long[] s = maskShape(values.shape());
        long[] st = values.strides();
        long[] st4 = values.rank() == 3 ? new long[] {st[0], 0, st[1], st[2]} : Shapes.pad4(st, 0);
        if (s[3] > 1 && st4[3] != 1) {
            throw new IllegalArgumentException("additive mask: last dimension must be contiguous (stride 1), got strides "
                    + Arrays.toString(st));
        }
        return new Mask(Kind.ADDITIVE, values.segment(), s, st4);
    }

    /**
     * A key-padding keep-mask {@code (B, 1, 1, Lk)}: batch b attends to its
     * first {@code validLengths[b]} keys only.
     *
     * @param arena where the mask's bytes live
     * @param validLengths one per batch, each 0 to {@code lk}
     * @param lk the number of keys
     * @return the mask
     */
    public static Mask keyPadding(Arena arena, long[] validLengths, long lk) {
        if (validLengths == null) {
            throw new IllegalArgumentException("validLengths must not be null");
        }
        if (lk < 0) {
            throw new IllegalArgumentException("lk must be >= 0, got " + lk);
        }
        long n = Shapes.count("key-padding mask (B, Lk)", new long[] {validLengths.length, lk});
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("key-padding mask (" + validLengths.length + ", " + lk
                    + ") has more than 2^31 elements; build it with Mask.keep over a segment");
        }
        boolean[] keep = new boolean[(int) n];
        for (int b = 0; b < validLengths.length; b++) {
            if (validLengths[b] < 0 || validLengths[b] > lk) {
                throw new IllegalArgumentException("validLengths[" + b + "] = " + validLengths[b]
                        + ", expected 0.." + lk);
            }
            Arrays.fill(keep, (int) (b * lk), (int) (b * lk + validLengths[b]), true);
        }
        return keep(arena, keep, validLengths.length, 1, 1, lk);
    }

    /** (Lq, Lk) -> (1, 1, Lq, Lk); (B, Lq, Lk) -> (B, 1, Lq, Lk). */
    private static long[] maskShape(long[] shape) {
        if (shape == null || shape.length < 2 || shape.length > 4) {
            throw new IllegalArgumentException("mask shape must be (Lq, Lk), (B, Lq, Lk) or (B, H, Lq, Lk), got "
                    + (shape == null ? "null" : Arrays.toString(shape)));
        }
        for (long n : shape) {
            if (n < 0) {
                throw new IllegalArgumentException("mask shape must be >= 0, got " + Arrays.toString(shape));
            }
        }
        return shape.length == 3 ? new long[] {shape[0], 1, shape[1], shape[2]} : Shapes.pad4(shape, 1);
    }

    /** {@return whether this is a keep-mask or an additive mask} */
    public Kind kind() {
        return kind;
    }

    /** {@return the storage: bytes for {@link Kind#KEEP}, floats for {@link Kind#ADDITIVE}} */
    public MemorySegment segment() {
        return segment;
    }

    /** {@return the 4-D shape {@code (B|1, H|1, Lq|1, Lk)}} */
    public long[] shape() {
        return shape.clone();
    }

    /** {@return the 4-D strides, in elements} */
    public long[] strides() {
        return strides.clone();
    }

    /** This mask as the backends see it. */
    View view() {
        return new View(segment, shape, strides, kind == Kind.KEEP ? ElementType.BOOL : ElementType.F32);
    }

    @Override
    public String toString() {
        return "Mask[" + kind + " " + Shapes.format(shape) + "]";
    }
}
