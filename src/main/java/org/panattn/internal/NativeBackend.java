package org.panattn.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.panattn.PanattnException;
import org.panattn.internal.ffi.Panattn_h;
import org.panattn.internal.ffi.pa_sdpa_options;

/**
 * Calls libpanattn through the generated bindings. Descriptors are written
 * into a per-thread scratch segment, so a call allocates nothing; a
 * prepared call has descriptors of its own, written once.
 *
 * <p>Memory safety across threads: every call goes to a {@code _buffers}
 * entry point, which takes the data segment of each tensor it may touch
 * (inputs, outputs, masks, weights, positional tables) as an argument of
 * its own; the descriptors carry shapes and strides only, their data
 * fields are NULL. The FFM {@link java.lang.foreign.Linker} keeps the arena
 * of every segment argument alive until the native call returns: closing a
 * shared arena meanwhile throws {@link IllegalStateException} ("Session is
 * acquired"), where an address stored inside a descriptor would protect
 * nothing. The key lengths, not a tensor, are copied into the call's own
 * scratch memory (the thread's, or a prepared call's), which no other code
 * can free or change during the call.
 */
public final class NativeBackend implements AttentionBackend {
    public static final NativeBackend INSTANCE = new NativeBackend();

    private NativeBackend() {
    }

    /** Descriptor memory: a thread's, reused by every call it makes, or a prepared call's own. */
    static final class Scratch {
        /** Descriptor slots of one call: the rule's inputs first, values and out last. */
        static final int ARGS = 6;
        final Descriptor[] args = new Descriptor[ARGS];
        final Descriptor mask, keyPadding, weights, alibi, relBias;
        final MemorySegment options;
        /** The key lengths of the call, grown to the largest batch seen. */
        private MemorySegment keyLengths = MemorySegment.NULL;

        Scratch() {
            Arena arena = Arena.ofAuto();
            for (int i = 0; i < ARGS; i++) {
                args[i] = new Descriptor(arena);
            }
            mask = new Descriptor(arena);
            keyPadding = new Descriptor(arena);
            weights = new Descriptor(arena);
            alibi = new Descriptor(arena);
            relBias = new Descriptor(arena);
            options = pa_sdpa_options.allocate(arena);
        }

        /** Descriptor slot i filled for v (NULL when v is null). */
        MemorySegment arg(int i, View v) {
            return args[i].describe(v);
        }

        /** The lengths copied into this thread's memory (NULL for null). */
        MemorySegment keyLengths(long[] lengths) {
            if (lengths == null) {
                return MemorySegment.NULL;
            }
            if (keyLengths.byteSize() < (long) lengths.length * Long.BYTES) {
                keyLengths = Arena.ofAuto().allocate(ValueLayout.JAVA_LONG, Math.max(1, lengths.length));
            }
            MemorySegment.copy(lengths, 0, keyLengths, ValueLayout.JAVA_LONG, 0, lengths.length);
            return keyLengths;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    @Override
    public void attend(Plan p, Rule rule) {
        Scratch s = begin();
        check(rule.callNative(NativeCall.once(s, p, options(s, p))), rule.nativeName());
    }

    @Override
    public PreparedCall prepare(Plan p, Rule rule) {
        NativeLoader.ensureLoaded();
        Scratch own = new Scratch();
        NativeCall call = NativeCall.prepared(own, p, options(own, p), rule.inputs());
        String name = rule.nativeName();
        return () -> check(rule.callNative(call), name);
    }

    @Override
    public void linear(LinearPlan p) {
        Scratch s = begin();
        check(Panattn_h.pa_linear_buffers(s.arg(0, p.x()), s.arg(1, p.w()), s.arg(2, p.bias()), s.arg(3, p.y()),
                NativeCall.data(p.x()), NativeCall.data(p.w()), NativeCall.data(p.bias()), NativeCall.data(p.y())),
                "pa_linear");
    }

    @Override
    public void rope(View x, long position, float base, boolean interleaved) {
        Scratch s = begin();
        check(Panattn_h.pa_rope_buffers(s.arg(0, x), position, base,
                interleaved ? Panattn_h.PA_ROPE_INTERLEAVED() : Panattn_h.PA_ROPE_HALF(), x.segment()), "pa_rope");
    }

    private static Scratch begin() {
        NativeLoader.ensureLoaded();
        return SCRATCH.get();
    }

    /** The options struct of a plan. */
    private static MemorySegment options(Scratch s, Plan p) {
        MemorySegment o = s.options;
        pa_sdpa_options.scale(o, p.scale());
        pa_sdpa_options.causal(o, switch (p.causal()) {
            case Plan.TOP_LEFT -> Panattn_h.PA_CAUSAL_TOP_LEFT();
            case Plan.BOTTOM_RIGHT -> Panattn_h.PA_CAUSAL_BOTTOM_RIGHT();
            default -> Panattn_h.PA_CAUSAL_NONE();
        });
        pa_sdpa_options.mask(o, s.mask.describe(p.mask()));
        pa_sdpa_options.key_padding(o, s.keyPadding.describe(p.keyPadding()));
        pa_sdpa_options.weights(o, s.weights.describe(p.weights()));
        boolean windowed = p.windowLeft() != Plan.UNBOUNDED || p.windowRight() != Plan.UNBOUNDED;
        pa_sdpa_options.window(o, 0);
        pa_sdpa_options.window_extents(o, windowed ? 1 : 0);
        pa_sdpa_options.window_left(o, windowed ? p.windowLeft() : 0);
        pa_sdpa_options.window_right(o, windowed ? p.windowRight() : 0);
        pa_sdpa_options.key_lengths(o, s.keyLengths(p.keyLengths()));
        pa_sdpa_options.key_lengths_count(o, p.keyLengths() == null ? 0 : p.keyLengths().length);
        pa_sdpa_options.workspace(o, MemorySegment.NULL);
        pa_sdpa_options.workspace_bytes(o, 0);
        pa_sdpa_options.softcap(o, p.softcap());
        pa_sdpa_options.alibi_slopes(o, s.alibi.describe(p.alibi()));
        pa_sdpa_options.rel_bias(o, s.relBias.describe(p.relTable()));
        pa_sdpa_options.rel_bidirectional(o, p.relBidirectional() ? 1 : 0);
        pa_sdpa_options.rel_max_distance(o, p.relMaxDistance());
        return o;
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
