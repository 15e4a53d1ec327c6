package org.panattn;

import java.util.ArrayList;
import java.util.List;

import org.panattn.internal.View;

/**
 * The inputs of an {@link OnnxAttention} call, checked under their ONNX
 * names against the operator's shapes, as {@code (B, H, L, D)} views: a
 * 3-D {@code (B, L, H·D)} input is viewed as {@code (B, H, L, D)}, no copy.
 *
 * @param rank 3 or 4, the rank of Q, K and V
 * @param batch batch_size
 * @param qHeads q_num_heads
 * @param kvHeads kv_num_heads
 * @param qLength q_sequence_length
 * @param kvLength kv_sequence_length
 * @param pastLength past_sequence_length (0 without a past)
 * @param headSize head_size, of Q and K
 * @param vHeadSize v_head_size
 * @param q4 Q as (B, Hq, Lq, D)
 * @param k4 K as (B, Hkv, Lkv, D)
 * @param v4 V as (B, Hkv, Lkv, Dv)
 * @param pastKey past_key, or null
 * @param pastValue past_value, or null
 */
record OnnxInputs(int rank, long batch, long qHeads, long kvHeads, long qLength, long kvLength, long pastLength,
                  long headSize, long vHeadSize, Tensor q4, Tensor k4, Tensor v4, Tensor pastKey, Tensor pastValue) {
    static final long ANY = -1;

    /** total_sequence_length = past_sequence_length + kv_sequence_length. */
    long totalLength() {
        return pastLength + kvLength;
    }

    /** Checks Q, K, V and the past against each other and the attributes; backend null checks only liveness. */
    static OnnxInputs of(OnnxAttention op, Backend backend, Tensor q, Tensor k, Tensor v, Tensor pastKey,
                         Tensor pastValue) {
        usable("Q", q, backend);
        usable("K", k, backend);
        usable("V", v, backend);
        int rank = q.rank();
        if (rank != 3 && rank != 4) {
            throw new IllegalArgumentException("Q: expected rank 4 (batch_size, q_num_heads, q_sequence_length, "
                    + "head_size) or rank 3 (batch_size, q_sequence_length, q_hidden_size), got shape "
                    + Shapes.format(q.shape()));
        }
        for (String name : new String[] {"K", "V"}) {
            Tensor t = name.equals("K") ? k : v;
            if (t.rank() != rank) {
                throw new IllegalArgumentException(name + ": expected rank " + rank + " like Q, got shape "
                        + Shapes.format(t.shape()));
            }
        }
        long b = q.size(0);
        Tensor q4, k4, v4;
        if (rank == 3) {
            long hq = attribute(op.qNumHeads(), "q_num_heads"), hkv = attribute(op.kvNumHeads(), "kv_num_heads");
            groups(hq, hkv);
            long d = split("Q", q, hq, "q_num_heads", "(batch_size, q_sequence_length, q_hidden_size = "
                    + "q_num_heads·head_size)");
            expect("K", k, "(batch_size, kv_sequence_length, kv_num_heads·head_size)", b, ANY, hkv * d);
            long dv = split("V", v, hkv, "kv_num_heads", "(batch_size, kv_sequence_length, v_hidden_size = "
                    + "kv_num_heads·v_head_size)");
            expect("V", v, "(batch_size, kv_sequence_length, kv_num_heads·v_head_size)", b, k.size(1), ANY);
            q4 = heads(q, hq, d);
            k4 = heads(k, hkv, d);
            v4 = heads(v, hkv, dv);
        } else {
            q4 = q;
            k4 = k;
            v4 = v;
            matches(op.qNumHeads(), "q_num_heads", q, "Q", "(batch_size, q_num_heads, q_sequence_length, head_size)");
            matches(op.kvNumHeads(), "kv_num_heads", k, "K",
                    "(batch_size, kv_num_heads, kv_sequence_length, head_size)");
            expect("K", k, "(batch_size, kv_num_heads, kv_sequence_length, head_size)", b, ANY, ANY, q.size(3));
            expect("V", v, "(batch_size, kv_num_heads, kv_sequence_length, v_head_size)", b, k.size(1), k.size(2),
                    ANY);
        }
        long hq = q4.size(1), hkv = k4.size(1), d = q4.size(3), dv = v4.size(3);
        groups(hq, hkv);
        long past = 0;
        if (pastKey != null || pastValue != null) {
            if (pastKey == null || pastValue == null) {
                throw new IllegalArgumentException((pastKey == null ? "past_value" : "past_key") + ": given without "
                        + (pastKey == null ? "past_key" : "past_value") + "; past_key and past_value go together");
            }
            usable("past_key", pastKey, backend);
            usable("past_value", pastValue, backend);
            expect("past_key", pastKey, "(batch_size, kv_num_heads, past_sequence_length, head_size)", b, hkv, ANY, d);
            past = pastKey.size(2);
            expect("past_value", pastValue, "(batch_size, kv_num_heads, past_sequence_length, v_head_size)", b, hkv,
                    past, dv);
            Math.addExact(past, k4.size(2)); // total_sequence_length fits
        }
        OnnxInputs in = new OnnxInputs(rank, b, hq, hkv, q4.size(2), k4.size(2), past, d, dv, q4, k4, v4, pastKey,
                pastValue);
        for (String name : new String[] {"Q", "K", "V", "past_key", "past_value"}) {
            Tensor t = in.input(name);
            if (t != null) {
                AttentionValidation.contiguousRows(name, t);
            }
        }
        return in;
    }

    private Tensor input(String name) {
        return switch (name) {
            case "Q" -> q4;
            case "K" -> k4;
            case "V" -> v4;
            case "past_key" -> pastKey;
            case "past_value" -> pastValue;
            default -> throw new IllegalStateException(name);
        };
    }

    /** Y's shape: 3-D (B, Lq, Hq·Dv) for 3-D inputs, else (B, Hq, Lq, Dv). */
    long[] yShape() {
        return rank == 3 ? new long[] {batch, qLength, Math.multiplyExact(qHeads, vHeadSize)}
                : new long[] {batch, qHeads, qLength, vHeadSize};
    }

    /** present_key's (width = head_size) or present_value's (width = v_head_size) shape. */
    long[] presentShape(long width) {
        return new long[] {batch, kvHeads, totalLength(), width};
    }

    /** qk_matmul_output's shape. */
    long[] qkShape() {
        return new long[] {batch, qHeads, qLength, totalLength()};
    }

    /** Y as (B, Hq, Lq, width): itself when 4-D, its heads split out of the last dimension when 3-D. */
    Tensor as4d(Tensor y, long width) {
        return rank == 3 ? heads(y, qHeads, width) : y;
    }

    /**
     * Checks the outputs before anything is written: Y is required, every output has its
     * operator's shape and contiguous rows, is writable, gives every element its own memory,
     * and overlaps no input or other output.
     */
    void checkOutputs(Backend backend, OnnxAttention.AttnMask mask, Tensor y, Tensor presentKey, Tensor presentValue,
                      Tensor qk) {
        if (y == null) {
            throw new IllegalArgumentException("Y must not be null (the output)");
        }
        usable("Y", y, backend);
        if (rank == 3) {
            expect("Y", y, "(batch_size, q_sequence_length, q_num_heads·v_head_size)", yShape());
        } else {
            expect("Y", y, "(batch_size, q_num_heads, q_sequence_length, v_head_size)", yShape());
        }
        List<String> names = new ArrayList<>(List.of("Y"));
        List<Tensor> outputs = new ArrayList<>(List.of(as4d(y, vHeadSize)));
        if (presentKey != null) {
            usable("present_key", presentKey, backend);
            expect("present_key", presentKey, "(batch_size, kv_num_heads, total_sequence_length, head_size)",
                    presentShape(headSize));
            names.add("present_key");
            outputs.add(presentKey);
        }
        if (presentValue != null) {
            usable("present_value", presentValue, backend);
            expect("present_value", presentValue, "(batch_size, kv_num_heads, total_sequence_length, v_head_size)",
                    presentShape(vHeadSize));
            names.add("present_value");
            outputs.add(presentValue);
        }
        if (qk != null) {
            usable("qk_matmul_output", qk, backend);
            expect("qk_matmul_output", qk, "(batch_size, q_num_heads, q_sequence_length, total_sequence_length)",
                    qkShape());
            names.add("qk_matmul_output");
            outputs.add(qk);
        }
        List<String> inNames = new ArrayList<>(List.of("Q", "K", "V"));
        List<View> inputs = new ArrayList<>(List.of(q4.view(), k4.view(), v4.view()));
        if (pastKey != null) {
            inNames.addAll(List.of("past_key", "past_value"));
            inputs.addAll(List.of(pastKey.view(), pastValue.view()));
        }
        if (mask != null) {
            inNames.add("attn_mask");
            inputs.add(mask.view());
        }
        for (int i = 0; i < outputs.size(); i++) {
            String name = names.get(i);
            AttentionValidation.contiguousRows(name, outputs.get(i));
            View out = outputs.get(i).view();
            OutputChecks.writable(name, out);
            OutputChecks.distinctElements(name, out);
            for (int j = 0; j < inputs.size(); j++) {
                OutputChecks.disjoint(name, out, inNames.get(j), inputs.get(j));
            }
            for (int j = 0; j < i; j++) {
                OutputChecks.disjoint(name, out, names.get(j), outputs.get(j).view());
            }
        }
    }

    /** nonpad_kv_seqlen: one length per batch, 0 to kv_sequence_length, and no past; null stays null. */
    long[] checkLengths(long[] lengths) {
        if (lengths == null) {
            return null;
        }
        if (pastKey != null) {
            throw new IllegalArgumentException("nonpad_kv_seqlen: cannot be combined with past_key and past_value "
                    + "(with nonpad_kv_seqlen the cache is kept outside the operator: pass all of it as K and V)");
        }
        if (lengths.length != batch) {
            throw new IllegalArgumentException("nonpad_kv_seqlen: expected shape (batch_size) = (" + batch + "), got ("
                    + lengths.length + ")");
        }
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0 || lengths[i] > kvLength) {
                throw new IllegalArgumentException("nonpad_kv_seqlen[" + i + "] = " + lengths[i] + ", expected 0 to "
                        + "kv_sequence_length = " + kvLength);
            }
        }
        return lengths.clone();
    }

    static final String FLOAT32 = "the ONNX operator runs on float32 tensors; convert with to(arena, Dtype.F32)";

    private static void usable(String name, Tensor t, Backend backend) {
        if (t == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        t.checkUsable(name, backend);
        AttentionValidation.float32(name, t, FLOAT32);
    }

    /** Grouped-query attention: every key/value head serves the same number of query heads. */
    private static void groups(long hq, long hkv) {
        if (hkv == 0 ? hq != 0 : hq % hkv != 0) {
            throw new IllegalArgumentException("q_num_heads (" + hq + ") must be a multiple of kv_num_heads (" + hkv
                    + ") (grouped-query attention)");
        }
    }

    /** A 3-D attribute: set, else refused by name. */
    private static long attribute(long heads, String name) {
        if (heads == 0) {
            throw new IllegalArgumentException(name + ": required with 3-D inputs (batch_size, sequence_length, "
                    + "hidden_size), to split the hidden size into heads");
        }
        return heads;
    }

    /** With 4-D inputs an attribute that is set must match the tensor's heads. */
    private static void matches(long heads, String name, Tensor t, String tensor, String dims) {
        if (heads != 0 && heads != t.size(1)) {
            throw new IllegalArgumentException(name + " (" + heads + ") does not match " + tensor + "'s "
                    + t.size(1) + " heads: 4-D " + tensor + " is " + dims + ", got " + Shapes.format(t.shape()));
        }
    }

    /** The head size of a 3-D input whose last dimension holds {@code heads} heads. */
    private static long split(String name, Tensor t, long heads, String attribute, String dims) {
        long hidden = t.size(2);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(name + ": expected shape " + dims + " with a last dimension that "
                    + attribute + " = " + heads + " divides, got " + Shapes.format(t.shape()));
        }
        return hidden / heads;
    }

    /** (B, L, H·D) as the (B, H, L, D) view of the same memory. */
    private static Tensor heads(Tensor t, long heads, long d) {
        long[] st = t.strides();
        return Tensor.wrap(t.segment(), new long[] {t.size(0), heads, t.size(1), d},
                new long[] {st[0], d * st[2], st[1], st[2]});
    }

    /** Fails unless {@code t} has {@code want}'s rank and sizes (ANY = free), naming the dimensions. */
    static void expect(String name, Tensor t, String dims, long... want) {
        boolean ok = t.rank() == want.length;
        for (int d = 0; ok && d < want.length; d++) {
            ok = want[d] == ANY || t.size(d) == want[d];
        }
        if (!ok) {
            StringBuilder e = new StringBuilder("(");
            for (int d = 0; d < want.length; d++) {
                e.append(d == 0 ? "" : ", ").append(want[d] == ANY ? "*" : Long.toString(want[d]));
            }
            throw new IllegalArgumentException(name + ": expected shape " + dims + " = " + e + "), got "
                    + Shapes.format(t.shape()));
        }
    }
}
