package org.panattn;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ONNX's attention bias (attn_mask, is_causal, nonpad_kv_seqlen) as what
 * scaled dot-product attention takes: a causal rule, two masks and key
 * lengths. The mask slot holds attn_mask; nonpad_kv_seqlen is the spec's
 * key lengths, whose bottom-right causal alignment per batch row is
 * ONNX's; the key-padding slot holds a causal frontier that neither
 * alignment of {@link Causal} draws.
 */
final class OnnxBias {
    private static final String TARGET = "(batch_size, q_num_heads, q_sequence_length, total_sequence_length)";

    private final Causal causal;
    private final Mask mask;
    private final Mask keyPadding;
    private final long[] keyLengths;
    private final long qLength;
    private final long totalLength;
    private final Term[] terms;

    private OnnxBias(Causal causal, Mask mask, Mask keyPadding, long[] keyLengths, long qLength, long totalLength) {
        this.causal = causal;
        this.mask = mask;
        this.keyPadding = keyPadding;
        this.keyLengths = keyLengths;
        this.qLength = qLength;
        this.totalLength = totalLength;
        terms = new Term[] {Term.of(mask), Term.of(keyPadding)};
    }

    /** {@return the causal rule} */
    Causal causal() {
        return causal;
    }

    /** {@return attn_mask as a mask, or null} */
    Mask mask() {
        return mask;
    }

    /** {@return the second mask (a causal frontier of its own), or null} */
    Mask keyPadding() {
        return keyPadding;
    }

    /** {@return nonpad_kv_seqlen as the spec's key lengths, or null} */
    long[] keyLengths() {
        return keyLengths;
    }

    /** Checks attn_mask against the inputs and builds the terms, any temporary mask in {@code temp}. */
    static OnnxBias of(OnnxAttention.Temporaries temp, OnnxInputs in, Backend backend, OnnxAttention.AttnMask attnMask,
                       boolean isCausal, long[] nonpadKvSeqlen) {
        Mask mask = attnMask == null ? null : attnMask(temp, in, backend, attnMask);
        long lq = in.qLength(), total = in.totalLength();
        if (nonpadKvSeqlen != null) {
            // Batch b keeps its first lengths[b] keys; with is_causal query i keeps j <= i + lengths[b] - Lq.
            return new OnnxBias(isCausal ? Causal.BOTTOM_RIGHT : Causal.NONE, mask, null, nonpadKvSeqlen, lq, total);
        }
        if (!isCausal) {
            return new OnnxBias(Causal.NONE, mask, null, null, lq, total);
        }
        // Query i sees key j <= i + past_sequence_length: top-left without a past, bottom-right when
        // the new keys are as many as the queries, else a frontier of its own.
        long offset = in.pastLength();
        if (offset == 0) {
            return new OnnxBias(Causal.TOP_LEFT, mask, null, null, lq, total);
        }
        if (offset == total - lq) {
            return new OnnxBias(Causal.BOTTOM_RIGHT, mask, null, null, lq, total);
        }
        MemorySegment keep = temp.arena().allocate(Math.max(Shapes.count("causal mask", new long[] {lq, total}), 1));
        for (long i = 0; i < lq; i++) {
            for (long j = 0; j < total; j++) {
                keep.set(ValueLayout.JAVA_BYTE, i * total + j, j <= i + offset ? (byte) 1 : (byte) 0);
            }
        }
        return new OnnxBias(Causal.NONE, mask, Mask.keep(keep, 1, 1, lq, total), null, lq, total);
    }

    /**
     * attn_mask as a {@link Mask}: its shape right-aligned to rank 4, each of the first three
     * dimensions 1 or the target's; a view of its memory when its last dimension is
     * total_sequence_length (and contiguous), else a copy padded with false or -Infinity.
     */
    private static Mask attnMask(OnnxAttention.Temporaries temp, OnnxInputs in, Backend backend,
                                 OnnxAttention.AttnMask m) {
        if (m.isBoolean()) {
            Tensor.checkUsable("attn_mask", m.bytes(), backend);
        } else {
            m.values().checkUsable("attn_mask", backend);
        }
        long[] given = m.shape();
        long[] s = Shapes.pad4(given, 1);
        long[] target = {in.batch(), in.qHeads(), in.qLength(), in.totalLength()};
        String[] names = {"batch_size", "q_num_heads", "q_sequence_length"};
        for (int d = 0; d < 3; d++) {
            if (s[d] != 1 && s[d] != target[d]) {
                throw new IllegalArgumentException("attn_mask: shape " + Shapes.format(given)
                        + " does not broadcast to " + TARGET + " = " + Shapes.format(target) + ": its " + names[d] + " dimension must be 1 or "
                        + target[d] + ", got " + s[d]);
            }
        }
        long total = target[3];
        if (s[3] > total) {
            throw new IllegalArgumentException("attn_mask: shape " + Shapes.format(given) + " does not fit " + TARGET
                    + " = " + Shapes.format(target) + ": its last dimension must be at most total_sequence_length = "
                    + "past_sequence_length + kv_sequence_length = " + total + ", got " + s[3]);
        }
        Tensor values = m.values();
        if (values != null) {
            while (values.rank() < 4) {
                values = values.unsqueeze(0);
            }
        }
        boolean contiguous = values == null || s[3] <= 1 || values.strides()[3] == 1;
        if (s[3] == total && contiguous) {
            return values == null ? Mask.keep(m.bytes(), s) : Mask.additive(values);
        }
        long[] padded = {s[0], s[1], s[2], total};
        long rows = s[0] * s[1] * s[2];
        if (values == null) {
            MemorySegment keep = temp.arena().allocate(Math.max(Shapes.count("attn_mask, padded", padded), 1));
            for (long r = 0; r < rows; r++) {
                MemorySegment.copy(m.bytes(), r * s[3], keep, r * total, s[3]); // the rest stays 0: false
            }
            return Mask.keep(keep, padded);
        }
        Tensor copy = Tensor.allocate("attn_mask, padded", temp.arena(), Dtype.F32, padded);
        long[] st = values.strides();
        MemorySegment from = values.segment(), to = copy.segment();
        for (long a = 0; a < s[0]; a++) {
            for (long b = 0; b < s[1]; b++) {
                for (long c = 0; c < s[2]; c++) {
                    long row = ((a * s[1] + b) * s[2] + c) * total;
                    for (long j = 0; j < total; j++) {
                        long at = a * st[0] + b * st[1] + c * st[2] + j * st[3];
                        float x = j < s[3] ? from.getAtIndex(Tensor.FLOAT, at) : Float.NEGATIVE_INFINITY;
                        to.setAtIndex(Tensor.FLOAT, row + j, x);
                    }
                }
            }
        }
        return Mask.additive(copy);
    }

    /**
     * The bias scaled dot-product attention adds to the score of query i and key j in head h
     * of batch b, from these very terms: -Infinity where the key lengths, the causal rule or a
     * keep-mask hides the key, plus the additive mask's value.
     */
    float at(long b, long h, long i, long j) {
        long keys = keyLengths == null ? totalLength : keyLengths[(int) b];
        boolean hidden = j >= keys || causal == Causal.TOP_LEFT && j > i
                || causal == Causal.BOTTOM_RIGHT && j > i + keys - qLength;
        if (hidden) {
            return Float.NEGATIVE_INFINITY;
        }
        float x = 0f;
        for (Term t : terms) {
            if (t != null) {
                x += t.at(b, h, i, j);
            }
        }
        return x;
    }

    /** One mask's storage, with the strides of its broadcast dimensions zeroed. */
    private record Term(boolean keep, MemorySegment segment, long[] strides) {
        static Term of(Mask m) {
            if (m == null) {
                return null;
            }
            long[] s = m.shape(), st = m.strides();
            for (int d = 0; d < 4; d++) {
                st[d] = s[d] <= 1 ? 0 : st[d];
            }
            return new Term(m.kind() == Mask.Kind.KEEP, m.segment(), st);
        }

        float at(long b, long h, long i, long j) {
            long off = b * strides[0] + h * strides[1] + i * strides[2] + j * strides[3];
            if (keep) {
                return segment.get(ValueLayout.JAVA_BYTE, off) != 0 ? 0f : Float.NEGATIVE_INFINITY;
            }
            return segment.getAtIndex(Tensor.FLOAT, off);
        }
    }
}
