package org.panattn;

import org.panattn.internal.NativeCall;
import org.panattn.internal.Ops;
import org.panattn.internal.Rule;
import org.panattn.internal.View;
import org.panattn.internal.ffi.Panattn_h;

/**
 * Concat-linear attention ({@link Attention#concatLinear}, native
 * {@code pa_concat_attention}): query row i with its own key k_i scores
 * value position j as {@code w[j]·[q_i; k_i] + bias[j]}.
 */
final class ConcatLinearRule {
    private ConcatLinearRule() {
    }

    static void attend(Tensor q, Tensor k, Tensor v, Tensor w, Tensor bias, Tensor out, AttentionSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null");
        }
        Backend backend = spec.resolvedBackend();
        Tensor[] t = AttentionValidation.rank4(backend, new String[] {"q", "k", "v", "out"}, q, k, v, out);
        int rank = q.rank();
        long dq = t[0].size(3), dk = t[1].size(3);
        AttentionValidation.expect("k", t[1], rank, rank == 4 ? "(B, H, Lq, Dk): one key per query"
                : "(B, Lq, Dk): one key per query", t[0].size(0), t[0].size(1), t[0].size(2), AttentionValidation.ANY);
        if (w == null || w.rank() != 2 || w.size(1) != dq + dk) {
            throw new IllegalArgumentException("w: expected shape (Lv, Dq + Dk) = (*, " + (dq + dk) + "), got "
                    + (w == null ? "null" : Shapes.format(w.shape())));
        }
        AttentionValidation.contiguousRows("q", t[0]);
        AttentionValidation.contiguousRows("k", t[1]);
        String why = "concat-linear attention reads q, k and its weights as float32; half precision is for scaled "
                + "dot-product attention's q and k, and any rule's v";
        AttentionValidation.float32("q", t[0], why);
        AttentionValidation.float32("k", t[1], why);
        AttentionValidation.float32("w", w, why);
        AttentionValidation.float32("bias", bias, why);
        AttentionValidation.usable("w", w, backend);
        AttentionValidation.contiguousRows("w", w.unsqueeze(0).unsqueeze(0));
        if (bias != null) {
            AttentionValidation.usable("bias", bias, backend);
            if (bias.rank() != 1 || bias.size(0) != w.size(0)) {
                throw new IllegalArgumentException("bias: expected shape (Lv) = (" + w.size(0) + "), got "
                        + Shapes.format(bias.shape()));
            }
        }
        float scale = Float.isNaN(spec.scale()) ? 1f : spec.scale();
        var plan = AttentionValidation.plan(rank, t[0], t[0].size(1), w.size(0), "v", t[2], t[3], spec, backend,
                scale);
        Bound bound = new Bound(t[0].view(), t[1].view(), w.view(), bias == null ? null : bias.view());
        AttentionValidation.checkOutputs(plan, new String[] {"q", "k", "w", "bias"}, bound.q, bound.k, bound.w,
                bound.bias);
        Attention.implementation(backend).attend(plan, bound);
    }

    /** One call's q (B, H, Lq, Dq), k (B, H, Lq, Dk), w (1, 1, Lv, Dq + Dk), bias (1, 1, 1, Lv) or null. */
    private record Bound(View q, View k, View w, View bias) implements Rule {
        @Override
        public void scores(Ops ops, long b, long h, long kvh, long i, float[] row, int lo, int hi) {
            int dq = (int) q.size(3), dk = (int) k.size(3);
            long qOff = q.row(b, h, i), kOff = k.row(b, h, i);
            for (int j = lo; j < hi; j++) {
                long wOff = w.row(0, 0, j);
                row[j] = (bias == null ? 0f : bias.get(0, 0, 0, j))
                        + ops.dot(w, wOff, q, qOff, dq)
                        + ops.dot(w, wOff + (long) dq * Float.BYTES, k, kOff, dk);
            }
        }

        @Override
        public int callNative(NativeCall c) {
            return Panattn_h.pa_concat_attention_buffers(c.arg(0, q), c.arg(1, k), c.arg(2, w), c.arg(3, bias),
                    c.values(), c.out(), c.options(), q.segment(), k.segment(), w.segment(), NativeCall.data(bias),
                    c.valuesData(), c.outData(), c.maskData(), c.weightsData(), c.keyPaddingData(), c.alibiData(),
                    c.relBiasData());
        }

        @Override
        public String nativeName() {
            return "pa_concat_attention";
        }

        @Override
        public View[] inputs() {
            return bias == null ? new View[] {q, k, w} : new View[] {q, k, w, bias};
        }
    }
}
