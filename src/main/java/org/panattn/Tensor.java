package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

import org.panattn.internal.ElementType;
import org.panattn.internal.View;

/**
 * A tensor of rank 1 to 4 in off-heap memory: a {@link MemorySegment}
 * owned by the caller's {@link Arena}, a shape, strides in elements, and an
 * element type, its {@link Dtype}: float32 unless asked otherwise, or one of
 * the half-precision storage formats {@link Dtype#F16} and {@link Dtype#BF16}.
 * Every accessor reads and writes floats: a half element is widened
 * exactly, a float stored into one is rounded to nearest, ties to even
 * (see {@link Dtype}). {@link #to(Arena, Dtype)} converts a whole tensor.
 *
 * <p>Element {@code (i0, i1, ...)} lives at element offset
 * {@code i0*strides[0] + i1*strides[1] + ...} of the segment. Views such as
 * {@link #permute} share the segment; nothing is copied. Attention takes
 * {@code (B, H, L, D)} tensors; a tensor stored as {@code (B, L, H, D)} is
 * passed as {@code t.permute(0, 2, 1, 3)}.
 *
 * <p>A tensor is a view: it is valid while its arena is open, and usable
 * from the threads that arena allows.
 *
 * <p>Floats are always read and written in the platform's native byte order
 * ({@link ValueLayout#JAVA_FLOAT}). Memory that arrives as a
 * {@link FloatBuffer} is wrapped with {@link #of(FloatBuffer, long...)},
 * which checks the buffer's order; see {@link #wrap(MemorySegment, long...)}
 * for why a segment cannot be checked.
 */
public final class Tensor {
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final MemorySegment segment;
    private final long[] shape;
    private final long[] strides;
    private final Dtype dtype;
    /** The rank-4 view, made on first use: a tensor never changes, so every call can share it. */
    private View view;

    private Tensor(MemorySegment segment, long[] shape, long[] strides, Dtype dtype) {
        this.segment = segment;
        this.shape = shape;
        this.strides = strides;
        this.dtype = dtype;
    }

    /**
     * A new zero-filled contiguous float32 tensor in {@code arena}. A closed
     * arena, or one confined to another thread, is refused with an
     * {@link IllegalStateException} naming it; a shape whose element or byte
     * count overflows 64 bits with an {@link IllegalArgumentException}.
     *
     * @param arena where the elements live (and when they are freed)
     * @param shape 1 to 4 sizes, each &ge; 0
     * @return a new zero-filled tensor
     */
    public static Tensor allocate(Arena arena, long... shape) {
        return allocate("shape", arena, Dtype.F32, shape);
    }

    /**
     * A new zero-filled contiguous tensor of {@code dtype} in {@code arena},
     * refused as {@link #allocate(Arena, long...)} says.
     *
     * <pre>{@code
     * Tensor k = Tensor.allocate(arena, Dtype.BF16, 1, 8, 4096, 128); // 2 bytes an element
     * }</pre>
     *
     * @param arena where the elements live (and when they are freed)
     * @param dtype the element type
     * @param shape 1 to 4 sizes, each &ge; 0
     * @return a new zero-filled tensor
     */
    public static Tensor allocate(Arena arena, Dtype dtype, long... shape) {
        return allocate("shape", arena, dtype, shape);
    }

    /** {@link #allocate(Arena, Dtype, long...)} whose size errors name {@code what} (a layer's weight, say) for the shape. */
    static Tensor allocate(String what, Arena arena, Dtype dtype, long... shape) {
        if (arena == null) {
            throw new IllegalArgumentException("arena must not be null");
        }
        if (dtype == null) {
            throw new IllegalArgumentException("dtype must not be null");
        }
        long[] s = checkShape(what, shape);
        long count = Shapes.count(what + " " + Arrays.toString(s), s);
        if (count > Long.MAX_VALUE / dtype.byteSize()) {
            throw new IllegalArgumentException(what + " " + Arrays.toString(s) + ": byte size overflows 64 bits");
        }
        MemorySegment seg = allocateIn(arena, count * dtype.byteSize(), 64);
        return new Tensor(seg, s, Shapes.contiguousStrides(s), dtype);
    }

    /**
     * {@code arena.allocate(bytes, alignment)}, with a closed arena or one
     * confined to another thread refused by name (also used by {@link Mask}).
     */
    static MemorySegment allocateIn(Arena arena, long bytes, long alignment) {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("arena: it is closed");
        }
        try {
            return arena.allocate(bytes, alignment);
        } catch (WrongThreadException e) {
            throw new IllegalStateException("arena: it is confined to another thread", e);
        }
    }

    /**
     * A new contiguous float32 tensor in {@code arena} holding {@code values} in row-major order.
     *
     * @param arena where the elements live (and when they are freed)
     * @param values as many elements as the shape has
     * @param shape 1 to 4 sizes, each &ge; 0
     * @return the tensor
     */
    public static Tensor of(Arena arena, float[] values, long... shape) {
        if (values == null) {
            throw new IllegalArgumentException("values must not be null");
        }
        Tensor t = allocate(arena, shape);
        if (values.length != t.size()) {
            throw new IllegalArgumentException("values has " + values.length + " elements, shape "
                    + Arrays.toString(shape) + " needs " + t.size());
        }
        MemorySegment.copy(values, 0, t.segment, FLOAT, 0, values.length);
        return t;
    }

    /**
     * A contiguous row-major float32 view of {@code segment}, which must hold at least the shape's elements.
     *
     * <p>A {@code MemorySegment} has no byte order: the floats are read in the
     * platform's native order, whatever made the segment. In particular
     * {@link MemorySegment#ofBuffer MemorySegment.ofBuffer(floatBuffer)} keeps
     * the buffer's memory but not its {@link FloatBuffer#order() order}, and
     * the segment it returns is the same for either order, so this method
     * cannot refuse a buffer of the wrong one: the float view of a
     * {@code ByteBuffer} whose order was never set (big-endian, unlike
     * x86-64 and aarch64) would be read with every float's bytes swapped.
     * Wrap buffers with {@link #of(FloatBuffer, long...)}, which checks.
     *
     * @param segment the floats, element 0 at offset 0, in native byte order
     * @param shape 1 to 4 sizes, each &ge; 0
     * @return the view
     */
    public static Tensor wrap(MemorySegment segment, long... shape) {
        long[] s = checkShape("shape", shape);
        return wrap(segment, Dtype.F32, s, Shapes.contiguousStrides(s));
    }

    /**
     * A strided float32 view of {@code segment}: element offsets are
     * {@code sum(index[d] * strides[d])}, in floats. Strides are &ge; 0; every
     * element the shape and strides reach must lie inside the segment. The
     * floats are read in native byte order, as {@link #wrap(MemorySegment, long...)} explains.
     *
     * @param segment the floats, element 0 at offset 0, in native byte order
     * @param shape 1 to 4 sizes, each &ge; 0
     * @param strides one per dimension, in elements
     * @return the view
     */
    public static Tensor wrap(MemorySegment segment, long[] shape, long[] strides) {
        return wrap(segment, Dtype.F32, shape, strides);
    }

    /**
     * A strided view of {@code segment} holding elements of {@code dtype}:
     * offsets in elements of that type, as
     * {@link #wrap(MemorySegment, long[], long[])} describes for floats. The
     * segment must be aligned to the element size; elements are read in
     * native byte order.
     *
     * @param segment the elements, element 0 at offset 0, in native byte order
     * @param dtype their type
     * @param shape 1 to 4 sizes, each &ge; 0
     * @param strides one per dimension, in elements
     * @return the view
     */
    public static Tensor wrap(MemorySegment segment, Dtype dtype, long[] shape, long[] strides) {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype must not be null");
        }
        if (segment == null) {
            throw new IllegalArgumentException("segment must not be null");
        }
        long[] s = checkShape("shape", shape);
        if (strides == null || strides.length != s.length) {
            throw new IllegalArgumentException("strides must have one entry per dimension ("
                    + s.length + "), got " + (strides == null ? "null" : Arrays.toString(strides)));
        }
        long[] st = strides.clone();
        for (int d = 0; d < st.length; d++) {
            if (st[d] < 0) {
                throw new IllegalArgumentException("strides must be >= 0, got " + Arrays.toString(st));
            }
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException("segment's arena is closed");
        }
        int bytes = dtype.byteSize();
        String what = dtype == Dtype.F32 ? "float32" : dtype.toString();
        if (segment.address() % bytes != 0) {
            throw new IllegalArgumentException("segment address 0x" + Long.toHexString(segment.address())
                    + " is not " + bytes + "-byte aligned, as " + what + " data must be");
        }
        if (segment.maxByteAlignment() < bytes) {
            // A heap segment of narrower elements (bytes, say): these could not be read.
            throw new IllegalArgumentException("segment: " + what + " data needs " + bytes + "-byte alignment, this "
                    + "heap segment guarantees " + segment.maxByteAlignment() + " (an array of narrower elements); "
                    + "use " + (bytes == Float.BYTES ? "float[]" : "short[]") + " or off-heap memory");
        }
        long need = Shapes.extent("shape " + Arrays.toString(s), s, st);
        if (need > segment.byteSize() / bytes) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is too small for shape "
                    + Arrays.toString(s) + " with strides " + Arrays.toString(st) + " of " + what + ": needs "
                    + (need > Long.MAX_VALUE / bytes ? "more than 2^63" : Long.toString(need * bytes))
                    + " bytes");
        }
        return new Tensor(segment, s, st, dtype);
    }

    /**
     * A contiguous row-major view of a direct buffer's remaining floats
     * (from its position to its limit), without a copy: the tensor and the
     * buffer share their memory, and moving the buffer's position or limit
     * later does not move the tensor. The memory lives as long as the buffer
     * does (the tensor keeps it reachable), or while its arena is open when
     * the buffer came from a {@code MemorySegment}.
     *
     * <p>Refused with an {@link IllegalArgumentException} naming
     * {@code buffer}, and never copied:
     * <ul>
     * <li>a buffer whose {@link FloatBuffer#order() order} is not
     *   {@link ByteOrder#nativeOrder()}, whose floats would otherwise be read
     *   byte-swapped. A {@code ByteBuffer} is big-endian until told
     *   otherwise: make the view with
     *   {@code byteBuffer.order(ByteOrder.nativeOrder()).asFloatBuffer()}, or
     *   copy the floats out ({@code buffer.get(floats)} converts) and use
     *   {@link #of(Arena, float[], long...)};
     * <li>a heap (non-direct) buffer: the native backend computes on
     *   off-heap memory only. Copy it with {@link #of(Arena, float[], long...)}
     *   ({@code buffer.array()} for {@code FloatBuffer.wrap(floats)});
     * <li>a buffer whose remaining floats are not exactly the shape's element count.
     * </ul>
     *
     * @param buffer a direct buffer in native byte order, its remaining floats the elements
     * @param shape 1 to 4 sizes, each &ge; 0
     * @return the view
     */
    public static Tensor of(FloatBuffer buffer, long... shape) {
        if (buffer == null) {
            throw new IllegalArgumentException("buffer must not be null");
        }
        if (buffer.order() != ByteOrder.nativeOrder()) {
            throw new IllegalArgumentException("buffer is " + buffer.order() + ", this platform reads floats "
                    + ByteOrder.nativeOrder() + ": make it with byteBuffer.order(ByteOrder.nativeOrder())"
                    + ".asFloatBuffer(), or copy its floats (buffer.get(floats) converts) into Tensor.of(arena, "
                    + "floats, shape)");
        }
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException("buffer is a heap buffer, the native backend needs off-heap memory: "
                    + "copy it with Tensor.of(arena, floats, shape), or use ByteBuffer.allocateDirect");
        }
        long[] s = checkShape("shape", shape);
        long count = Shapes.count("shape " + Arrays.toString(s), s);
        if (buffer.remaining() != count) {
            throw new IllegalArgumentException("buffer has " + buffer.remaining() + " floats remaining (position "
                    + buffer.position() + ", limit " + buffer.limit() + "), shape " + Arrays.toString(s) + " needs "
                    + count);
        }
        return wrap(MemorySegment.ofBuffer(buffer), s);
    }

    private static long[] checkShape(String name, long[] shape) {
        if (shape == null || shape.length < 1 || shape.length > 4) {
            throw new IllegalArgumentException(name + " must have 1 to 4 dimensions, got "
                    + (shape == null ? "null" : Arrays.toString(shape)));
        }
        for (long n : shape) {
            if (n < 0) {
                throw new IllegalArgumentException(name + " must be >= 0 in every dimension, got "
                        + Arrays.toString(shape));
            }
        }
        return shape.clone();
    }

    /** {@return the segment holding the elements (element 0 at offset 0)} */
    public MemorySegment segment() {
        return segment;
    }

    /** {@return the element type} */
    public Dtype dtype() {
        return dtype;
    }

    /** {@return the number of dimensions, 1 to 4} */
    public int rank() {
        return shape.length;
    }

    /**
     * {@return the size of dimension {@code d}}
     *
     * @param d a dimension, 0 to {@code rank() - 1}
     */
    public long size(int d) {
        return shape[d];
    }

    /** {@return a copy of the shape} */
    public long[] shape() {
        return shape.clone();
    }

    /** The stride of dimension {@code d}, in elements, without copying the strides. */
    long stride(int d) {
        return strides[d];
    }

    /** {@return a copy of the strides, in elements} */
    public long[] strides() {
        return strides.clone();
    }

    /**
     * Checks that a call on {@code backend} can use this tensor: its arena
     * is open, this thread may access it, and for {@link Backend#NATIVE} it
     * lives off-heap. Layers built on the operations call it to refuse an
     * argument by their own name before any work.
     *
     * @param name what the message calls this tensor
     * @param backend the backend the call runs on, or null for any
     * @throws IllegalStateException if the arena is closed or confined to another thread
     * @throws IllegalArgumentException if the native backend is given a heap segment
     */
    public void checkUsable(String name, Backend backend) {
        checkUsable(name, segment, backend);
    }

    /** {@link #checkUsable(String, Backend)} for any segment an operation reads (a mask's, say). */
    static void checkUsable(String name, MemorySegment seg, Backend backend) {
        if (!seg.scope().isAlive()) {
            throw new IllegalStateException(name + ": its arena is closed");
        }
        if (!seg.isAccessibleBy(Thread.currentThread())) {
            throw new IllegalStateException(name + ": its arena is confined to another thread");
        }
        if (backend == Backend.NATIVE && !seg.isNative()) {
            throw new IllegalArgumentException(name + ": the native backend needs off-heap memory "
                    + "(Tensor.allocate, or a segment from an Arena), got a heap segment");
        }
    }

    /**
     * This tensor as the backends see it: rank 4, with leading dimensions of
     * 1 added. Made once; a race makes two equal views, and a view's fields
     * are final, so any thread sees a whole one.
     */
    View view() {
        View v = view;
        if (v == null) {
            view = v = new View(segment, Shapes.pad4(shape, 1), Shapes.pad4(strides, 0), dtype.element());
        }
        return v;
    }

    /** {@return the number of elements} */
    public long size() {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    /** {@return true when the elements are dense and in row-major order} */
    public boolean isContiguous() {
        return Arrays.equals(strides, Shapes.contiguousStrides(shape)) || size() <= 1;
    }

    /**
     * A view with the dimensions reordered: dimension {@code d} of the result
     * is dimension {@code order[d]} of this tensor. No data is copied.
     *
     * @param order a permutation of {@code 0 .. rank() - 1}
     * @return the view
     */
    public Tensor permute(int... order) {
        if (order == null || order.length != shape.length) {
            throw new IllegalArgumentException("permute needs " + shape.length + " dimensions, got "
                    + Arrays.toString(order));
        }
        long[] s = new long[shape.length];
        long[] st = new long[shape.length];
        boolean[] seen = new boolean[shape.length];
        for (int d = 0; d < order.length; d++) {
            int from = order[d];
            if (from < 0 || from >= shape.length || seen[from]) {
                throw new IllegalArgumentException("permute order " + Arrays.toString(order)
                        + " is not a permutation of 0.." + (shape.length - 1));
            }
            seen[from] = true;
            s[d] = shape[from];
            st[d] = strides[from];
        }
        return new Tensor(segment, s, st, dtype);
    }

    /**
     * A view with a dimension of size 1 inserted at {@code dim}.
     *
     * @param dim where the new dimension goes, 0 to {@code rank()}
     * @return the view, one rank higher
     */
    public Tensor unsqueeze(int dim) {
        if (dim < 0 || dim > shape.length || shape.length == 4) {
            throw new IllegalArgumentException("cannot insert dimension " + dim + " into shape "
                    + Arrays.toString(shape));
        }
        long[] s = new long[shape.length + 1];
        long[] st = new long[shape.length + 1];
        for (int d = 0, from = 0; d < s.length; d++) {
            if (d == dim) {
                s[d] = 1;
                st[d] = 0;
            } else {
                s[d] = shape[from];
                st[d] = strides[from++];
            }
        }
        return new Tensor(segment, s, st, dtype);
    }

    /**
     * A contiguous copy in {@code arena}, of the same dtype.
     *
     * @param arena where the copy lives
     * @return the copy
     */
    public Tensor contiguous(Arena arena) {
        return to(arena, dtype);
    }

    /**
     * A contiguous copy in {@code arena} with elements of {@code dtype}: each
     * widened exactly, or rounded to nearest (ties to even) where
     * {@code dtype} is narrower; a NaN stays NaN, and a float beyond F16's
     * range becomes an infinity.
     *
     * <pre>{@code
     * Tensor kv = Tensor.of(arena, floats, 1, 8, 128, 64).to(arena, Dtype.F16);
     * }</pre>
     *
     * @param arena where the copy lives
     * @param dtype the copy's element type (this tensor's own for a plain copy)
     * @return the copy
     */
    public Tensor to(Arena arena, Dtype dtype) {
        Tensor t = allocate("shape", arena, dtype, shape);
        if (dtype == this.dtype && isContiguous()) {
            MemorySegment.copy(segment, 0, t.segment, 0, size() * dtype.byteSize());
            return t;
        }
        ElementType from = this.dtype.element(), into = dtype.element();
        int fromBytes = this.dtype.byteSize(), intoBytes = dtype.byteSize();
        forEachOffset((i, off) -> into.set(t.segment, i * intoBytes, from.get(segment, off * fromBytes)));
        return t;
    }

    /**
     * {@return the element at {@code index}, as a float}
     *
     * @param index one coordinate per dimension
     */
    public float get(long... index) {
        return dtype.element().get(segment, offset(index) * dtype.byteSize());
    }

    /**
     * Sets the element at {@code index}, rounded to the tensor's dtype.
     *
     * @param value the new element
     * @param index one coordinate per dimension
     */
    public void set(float value, long... index) {
        dtype.element().set(segment, offset(index) * dtype.byteSize(), value);
    }

    private long offset(long[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index " + Arrays.toString(index) + " has " + index.length
                    + " dimensions, tensor has " + shape.length);
        }
        long off = 0;
        for (int d = 0; d < index.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " outside shape "
                        + Arrays.toString(shape));
            }
            off += index[d] * strides[d];
        }
        return off;
    }

    /** {@return the elements in row-major order of the shape (not of the storage), as floats} */
    public float[] toArray() {
        long n = size();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor of " + n + " elements does not fit in a float[]");
        }
        float[] out = new float[(int) n];
        if (dtype == Dtype.F32 && isContiguous()) {
            MemorySegment.copy(segment, FLOAT, 0, out, 0, out.length);
            return out;
        }
        ElementType type = dtype.element();
        int bytes = dtype.byteSize();
        forEachOffset((i, off) -> out[(int) i] = type.get(segment, off * bytes));
        return out;
    }

    /**
     * Copies {@code values} (row-major order of the shape) into this tensor,
     * each rounded to its dtype.
     *
     * @param values as many elements as the tensor has
     * @return this tensor
     */
    public Tensor copyFrom(float[] values) {
        if (values == null || values.length != size()) {
            throw new IllegalArgumentException("values must have " + size() + " elements, got "
                    + (values == null ? "null" : values.length));
        }
        ElementType type = dtype.element();
        int bytes = dtype.byteSize();
        forEachOffset((i, off) -> type.set(segment, off * bytes, values[(int) i]));
        return this;
    }

    private interface OffsetVisitor {
        void visit(long index, long offset);
    }

    /** Visits every element in row-major order of the shape with its storage offset. */
    private void forEachOffset(OffsetVisitor visitor) {
        long[] s4 = Shapes.pad4(shape, 1);
        long[] st4 = Shapes.pad4(strides, 0);
        long i = 0;
        for (long a = 0; a < s4[0]; a++) {
            for (long b = 0; b < s4[1]; b++) {
                for (long c = 0; c < s4[2]; c++) {
                    long base = a * st4[0] + b * st4[1] + c * st4[2];
                    for (long d = 0; d < s4[3]; d++) {
                        visitor.visit(i++, base + d * st4[3]);
                    }
                }
            }
        }
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + (dtype == Dtype.F32 ? "" : " " + dtype) + " strides "
                + Arrays.toString(strides);
    }
}
