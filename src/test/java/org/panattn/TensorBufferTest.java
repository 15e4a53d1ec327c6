package org.panattn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Tensors over NIO buffers: {@link Tensor#of(FloatBuffer, long...)} wraps a
 * direct buffer in native byte order without a copy and refuses any other,
 * and {@link Tensor#wrap(MemorySegment, long...)} reads native order, as
 * documented, because a segment does not record its buffer's order.
 */
class TensorBufferTest {
    private static final ByteOrder FOREIGN =
            ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;

    private static FloatBuffer direct(int floats, ByteOrder order) {
        return ByteBuffer.allocateDirect(floats * Float.BYTES).order(order).asFloatBuffer();
    }

    @Test
    void aNativeOrderDirectBufferIsWrappedWithoutACopy() {
        FloatBuffer buffer = direct(8, ByteOrder.nativeOrder());
        for (int i = 0; i < 8; i++) {
            buffer.put(i, i + 0.5f);
        }
        Tensor t = Tensor.of(buffer, 2, 4);
        assertArrayEquals(new long[] {2, 4}, t.shape());
        assertEquals(5.5f, t.get(1, 1));
        buffer.put(7, -3f);
        assertEquals(-3f, t.get(1, 3), "the tensor sees writes through the buffer");
        t.set(42f, 0, 0);
        assertEquals(42f, buffer.get(0), "the buffer sees writes through the tensor");
        assertEquals(MemorySegment.ofBuffer(buffer).address(), t.segment().address(), "no copy");
    }

    @Test
    void theRemainingFloatsAreTheElements() {
        FloatBuffer buffer = direct(10, ByteOrder.nativeOrder());
        for (int i = 0; i < 10; i++) {
            buffer.put(i, i);
        }
        buffer.position(3).limit(9);
        Tensor t = Tensor.of(buffer, 2, 3);
        assertArrayEquals(new float[] {3, 4, 5, 6, 7, 8}, t.toArray());
        buffer.position(0);
        assertEquals(3f, t.get(0, 0), "moving the position later does not move the tensor");
        // A view of an arena's memory, made native-order from a ByteBuffer.
        try (Arena arena = Arena.ofConfined()) {
            FloatBuffer fromArena = arena.allocate(16).asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
            fromArena.put(2, 9f);
            assertEquals(9f, Tensor.of(fromArena, 4).get(2));
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void bufferTensorsComputeLikeArrayTensors(Backend backend) {
        if (backend == Backend.NATIVE && !Panattn.isNativeAvailable()) {
            return;
        }
        SplittableRandom rnd = new SplittableRandom(7);
        try (Arena arena = Arena.ofConfined()) {
            float[][] inputs = new float[3][];
            Tensor[] buffered = new Tensor[3];
            for (int i = 0; i < 3; i++) {
                inputs[i] = Reference.random(arena, rnd, 1, 2, 5, 4).toArray();
                FloatBuffer b = direct(inputs[i].length, ByteOrder.nativeOrder()).put(inputs[i]).flip();
                buffered[i] = Tensor.of(b, 1, 2, 5, 4);
            }
            AttentionSpec spec = AttentionSpec.builder().backend(backend).build();
            Tensor want = Tensor.allocate(arena, 1, 2, 5, 4);
            Attention.scaledDotProduct(Tensor.of(arena, inputs[0], 1, 2, 5, 4), Tensor.of(arena, inputs[1], 1, 2, 5, 4),
                    Tensor.of(arena, inputs[2], 1, 2, 5, 4), want, spec);
            Tensor got = Tensor.of(direct(40, ByteOrder.nativeOrder()), 1, 2, 5, 4);
            Attention.scaledDotProduct(buffered[0], buffered[1], buffered[2], got, spec);
            assertArrayEquals(want.toArray(), got.toArray(), backend.toString());
        }
    }

    @Test
    void aBufferOfTheOtherByteOrderIsRefused() {
        FloatBuffer foreign = direct(4, FOREIGN);
        Refusals.expect(IllegalArgumentException.class, "buffer is " + FOREIGN + "|ByteOrder.nativeOrder()",
                () -> Tensor.of(foreign, 4));
        // A ByteBuffer's float view whose order was never set: big-endian.
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            FloatBuffer unset = ByteBuffer.allocateDirect(16).asFloatBuffer();
            Refusals.expect(IllegalArgumentException.class, "buffer is BIG_ENDIAN", () -> Tensor.of(unset, 4));
        }
        // A heap ByteBuffer's view of the other order: the order is what it is told.
        Refusals.expect(IllegalArgumentException.class, "buffer is " + FOREIGN,
                () -> Tensor.of(ByteBuffer.allocate(16).order(FOREIGN).asFloatBuffer(), 4));
    }

    @Test
    void heapBuffersAreRefused() {
        Refusals.expect(IllegalArgumentException.class, "buffer is a heap buffer|off-heap",
                () -> Tensor.of(FloatBuffer.allocate(4), 4));
        Refusals.expect(IllegalArgumentException.class, "buffer is a heap buffer",
                () -> Tensor.of(FloatBuffer.wrap(new float[4]), 2, 2));
        Refusals.expect(IllegalArgumentException.class, "buffer is a heap buffer",
                () -> Tensor.of(ByteBuffer.allocate(16).order(ByteOrder.nativeOrder()).asFloatBuffer(), 4));
    }

    @Test
    void badArgumentsAreNamed() {
        Refusals.expect(IllegalArgumentException.class, "buffer must not be null", () -> Tensor.of((FloatBuffer) null, 4));
        FloatBuffer b = direct(6, ByteOrder.nativeOrder());
        Refusals.expect(IllegalArgumentException.class, "buffer has 6 floats remaining|needs 8", () -> Tensor.of(b, 2, 4));
        Refusals.expect(IllegalArgumentException.class, "buffer has 6 floats remaining|needs 4", () -> Tensor.of(b, 4));
        Refusals.expect(IllegalArgumentException.class, "shape must have 1 to 4 dimensions", () -> Tensor.of(b));
        Refusals.expect(IllegalArgumentException.class, "shape must be >= 0", () -> Tensor.of(b, -6));
    }

    /**
     * What Tensor.wrap documents: MemorySegment.ofBuffer keeps no byte
     * order, so a segment from a foreign-order view is the same as one from
     * a native-order view of the same memory, and its floats are read
     * byte-swapped. Should a JDK ever record the order, this test fails and
     * wrap can start refusing such segments.
     */
    @Test
    void wrapCannotSeeTheByteOrderOfABuffersSegment() {
        ByteBuffer bytes = ByteBuffer.allocateDirect(16);
        FloatBuffer foreign = bytes.duplicate().order(FOREIGN).asFloatBuffer();
        FloatBuffer nativeView = bytes.duplicate().order(ByteOrder.nativeOrder()).asFloatBuffer();
        MemorySegment fromForeign = MemorySegment.ofBuffer(foreign);
        MemorySegment fromNative = MemorySegment.ofBuffer(nativeView);
        assertEquals(fromNative, fromForeign, "the two segments differ: the JDK now records the byte order");
        assertEquals(fromNative.getClass(), fromForeign.getClass());
        foreign.put(0, 1.5f);
        Tensor t = Tensor.wrap(fromForeign, 4);
        float swapped = Float.intBitsToFloat(Integer.reverseBytes(Float.floatToRawIntBits(1.5f)));
        assertEquals(swapped, t.get(0), "wrap reads the native order, as its Javadoc says");
        assertTrue(t.get(0) != 1.5f);
    }
}
