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
 * <p>Memory safety across threads: every call goes to a {@code _buffers}
 * entry point, which takes the data segment of each tensor it may touch
 * (inputs, outputs, masks, weights, positional tables) as an argument of
 * its own; the descriptors carry shapes and strides only, their data
 * fields are NULL. The FFM {@link java.lang.foreign.Linker} keeps the arena
 * of every segment argument alive until the native call returns: closing a
 * shared arena meanwhile throws {@link IllegalStateException} ("Session is
 * acquired"), where an address stored inside a descriptor would protect
 * nothing.
 */
public final class NativeBackend implements AttentionBackend {
    public static final NativeBackend INSTANCE = new NativeBackend();

    /** Descriptor slots of one call: arguments, then the options' tensors. */
    private static final int ARGS = 6;

    private NativeBackend() {
    }

    /** Descriptor memory of one thread, reused by every call it makes. */
    private static final class Scratch {
        final MemorySegment[] args = new MemorySegment[ARGS];
        final MemorySegment mask, keyPadding, weights, alibi, relBias, options;

        Scratch() {
            Arena arena = Arena.ofAuto();
            for (int i = 0; i < ARGS; i++) {
                args[i] = pa_tensor.allocate(arena);
            }
            mask = pa_tensor.allocate(arena);
            keyPadding = pa_tensor.allocate(arena);
            weights = pa_tensor.allocate(arena);
            alibi = pa_tensor.allocate(arena);
            relBias = pa_tensor.allocate(arena);
            options = pa_sdpa_options.allocate(arena);
        }

        /** Descriptor slot i filled for t (NULL when t is null). */
        MemorySegment arg(int i, Tensor t) {
            return t == null ? MemorySegment.NULL : describe(args[i], t);
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    @Override
    public void sdpa(SdpaProblem p) {
        Scratch s = begin();
        AttendProblem c = p.common();
        MemorySegment o = options(s, c, p.scale());
        check(Panattn_h.pa_sdpa_buffers(s.arg(0, p.q()), s.arg(1, p.k()), s.arg(2, c.values()), s.arg(3, c.out()), o,
                data(p.q()), data(p.k()), data(c.values()), data(c.out()),
                data(c.mask()), data(c.weights()), data(c.keyPadding()),
                data(c.positional().alibiSlopes()), data(c.positional().relTable())), "pa_sdpa");
    }

    @Override
    public void additive(AdditiveProblem p) {
        Scratch s = begin();
        AttendProblem c = p.common();
        MemorySegment o = options(s, c, p.scale());
        check(Panattn_h.pa_additive_attention_buffers(s.arg(0, p.qp()), s.arg(1, p.kp()), s.arg(2, as4d(p.vvec())),
                s.arg(3, c.values()), s.arg(4, c.out()), o,
                data(p.qp()), data(p.kp()), data(p.vvec()), data(c.values()), data(c.out()),
                data(c.mask()), data(c.weights()), data(c.keyPadding()),
                data(c.positional().alibiSlopes()), data(c.positional().relTable())), "pa_additive_attention");
    }

    @Override
    public void concat(ConcatProblem p) {
        Scratch s = begin();
        AttendProblem c = p.common();
        MemorySegment o = options(s, c, p.scale());
        check(Panattn_h.pa_concat_attention_buffers(s.arg(0, p.q()), s.arg(1, p.k()), s.arg(2, as4d(p.w())),
                s.arg(3, as4d(p.bias())), s.arg(4, c.values()), s.arg(5, c.out()), o,
                data(p.q()), data(p.k()), data(p.w()), data(p.bias()), data(c.values()), data(c.out()),
                data(c.mask()), data(c.weights()), data(c.keyPadding()),
                data(c.positional().alibiSlopes()), data(c.positional().relTable())), "pa_concat_attention");
    }

    @Override
    public void linear(LinearProblem p) {
        Scratch s = begin();
        check(Panattn_h.pa_linear_buffers(s.arg(0, p.x()), s.arg(1, p.w()), s.arg(2, p.bias()), s.arg(3, p.y()),
                data(p.x()), data(p.w()), data(p.bias()), data(p.y())), "pa_linear");
    }

    @Override
    public void rope(Tensor x, long position, float base, boolean interleaved) {
        Scratch s = begin();
        check(Panattn_h.pa_rope_buffers(s.arg(0, x), position, base,
                interleaved ? Panattn_h.PA_ROPE_INTERLEAVED() : Panattn_h.PA_ROPE_HALF(), data(x)), "pa_rope");
    }

    /** The segment a tensor's data lives in, as a call argument (NULL when absent). */
    private static MemorySegment data(Tensor t) {
        return t == null ? MemorySegment.NULL : t.segment();
    }

    private static MemorySegment data(Mask m) {
        return m == null ? MemorySegment.NULL : m.segment();
    }

    private static Scratch begin() {
        NativeLoader.ensureLoaded();
        return SCRATCH.get();
    }

    /** The options struct for a validated problem's shared part. */
    private static MemorySegment options(Scratch s, AttendProblem c, float scale) {
        MemorySegment o = s.options;
        Positional pos = c.positional();
        pa_sdpa_options.scale(o, scale);
        pa_sdpa_options.causal(o, causalCode(c.causal()));
        pa_sdpa_options.mask(o, c.mask() == null ? MemorySegment.NULL : describe(s.mask, c.mask()));
        pa_sdpa_options.key_padding(o, c.keyPadding() == null ? MemorySegment.NULL : describe(s.keyPadding, c.keyPadding()));
        pa_sdpa_options.weights(o, c.weights() == null ? MemorySegment.NULL : describe(s.weights, c.weights()));
        pa_sdpa_options.window(o, c.window());
        pa_sdpa_options.workspace(o, MemorySegment.NULL);
        pa_sdpa_options.workspace_bytes(o, 0);
        pa_sdpa_options.softcap(o, pos.softcap());
        pa_sdpa_options.alibi_slopes(o, pos.alibiSlopes() == null ? MemorySegment.NULL
                : describe(s.alibi, as4d(pos.alibiSlopes())));
        pa_sdpa_options.rel_bias(o, pos.relTable() == null ? MemorySegment.NULL
                : describe(s.relBias, as4d(pos.relTable())));
        pa_sdpa_options.rel_bidirectional(o, pos.relBidirectional() ? 1 : 0);
        pa_sdpa_options.rel_max_distance(o, pos.relMaxDistance());
        return o;
    }

    /** A rank 1 to 4 tensor with leading dimensions of 1 added, as descriptors need four. */
    private static Tensor as4d(Tensor t) {
        if (t == null) {
            return null;
        }
        while (t.rank() < 4) {
            t = t.unsqueeze(0);
        }
        return t;
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
        pa_tensor.data(d, MemorySegment.NULL); // the data travels as a call argument
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
