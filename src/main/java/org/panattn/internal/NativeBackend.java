package org.panattn.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.PanattnException;
import org.panattn.Tensor;
import org.panattn.internal.ffi.Panattn_h;
import org.panattn.internal.ffi.pa_sdpa_options;
import org.panattn.internal.ffi.pa_tensor;

/**
 * Calls libpanattn through the generated bindings. Descriptors are written
 * into a per-thread scratch segment, so a call allocates nothing.
 *
 * <p>Memory safety across threads: the data segments are passed to
 * {@code pa_sdpa_buffers} as arguments of their own, not only as addresses
 * inside the descriptors. The FFM {@link java.lang.foreign.Linker} keeps
 * the arena of every segment argument alive until the native call returns:
 * closing a shared arena meanwhile throws {@link IllegalStateException}
 * ("Session is acquired"), and an automatic arena's memory stays reachable.
 * An address stored inside a descriptor would protect nothing, so a close
 * racing the computation could free the memory under it.
 */
public final class NativeBackend implements AttentionBackend {
    public static final NativeBackend INSTANCE = new NativeBackend();

    private NativeBackend() {
    }

    /** Descriptor memory of one thread, reused by every call it makes. */
    private static final class Scratch {
        final MemorySegment q, k, v, out, mask, weights, options;

        Scratch() {
            Arena arena = Arena.ofAuto();
            q = pa_tensor.allocate(arena);
            k = pa_tensor.allocate(arena);
            v = pa_tensor.allocate(arena);
            out = pa_tensor.allocate(arena);
            mask = pa_tensor.allocate(arena);
            weights = pa_tensor.allocate(arena);
            options = pa_sdpa_options.allocate(arena);
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    @Override
    public void sdpa(SdpaProblem p) {
        NativeLoader.ensureLoaded();
        Scratch s = SCRATCH.get();
        describe(s.q, p.q());
        describe(s.k, p.k());
        describe(s.v, p.v());
        describe(s.out, p.out());
        MemorySegment o = s.options;
        pa_sdpa_options.scale(o, p.scale());
        pa_sdpa_options.causal(o, causalCode(p.causal()));
        pa_sdpa_options.mask(o, p.mask() == null ? MemorySegment.NULL : describe(s.mask, p.mask()));
        pa_sdpa_options.weights(o, p.weights() == null ? MemorySegment.NULL : describe(s.weights, p.weights()));
        pa_sdpa_options.workspace(o, MemorySegment.NULL);
        pa_sdpa_options.workspace_bytes(o, 0);
        // The buffers travel as arguments: the Linker keeps their arenas open for the call.
        check(Panattn_h.pa_sdpa_buffers(s.q, s.k, s.v, s.out, o, p.q().segment(), p.k().segment(),
                p.v().segment(), p.out().segment(), p.mask() == null ? MemorySegment.NULL : p.mask().segment(),
                p.weights() == null ? MemorySegment.NULL : p.weights().segment()), "pa_sdpa_buffers");
    }

    private static int causalCode(Causal c) {
        return switch (c) {
            case NONE -> Panattn_h.PA_CAUSAL_NONE();
            case TOP_LEFT -> Panattn_h.PA_CAUSAL_TOP_LEFT();
            case BOTTOM_RIGHT -> Panattn_h.PA_CAUSAL_BOTTOM_RIGHT();
        };
    }

    private static MemorySegment describe(MemorySegment d, Tensor t) {
        return describe(d, t.segment(), Panattn_h.PA_F32(), t.shape(), t.strides(), Float.BYTES);
    }

    private static MemorySegment describe(MemorySegment d, Mask m) {
        boolean keep = m.kind() == Mask.Kind.KEEP;
        return describe(d, m.segment(), keep ? Panattn_h.PA_BOOL() : Panattn_h.PA_F32(), m.shape(), m.strides(),
                keep ? 1 : Float.BYTES);
    }

    private static MemorySegment describe(MemorySegment d, MemorySegment data, int dtype, long[] shape,
                                          long[] strides, int elementBytes) {
        pa_tensor.data(d, MemorySegment.NULL); // pa_sdpa_buffers takes the data as arguments
        pa_tensor.dtype(d, dtype);
        pa_tensor.reserved(d, 0);
        for (int i = 0; i < 4; i++) {
            pa_tensor.shape(d, i, shape[i]);
            pa_tensor.strides(d, i, strides[i]);
        }
        pa_tensor.capacity(d, data.byteSize() / elementBytes);
        return d;
    }

    /** The NUL-terminated string a native function returned. */
    static String cString(MemorySegment pointer) {
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Turns a native status into an exception carrying the native message. */
    static void check(int status, String call) {
        if (status != Panattn_h.PA_OK()) {
            String name = cString(Panattn_h.pa_status_name(status));
            String message = cString(Panattn_h.pa_last_error());
            throw new PanattnException(status, call + " failed (" + name + "): " + message);
        }
    }
}
