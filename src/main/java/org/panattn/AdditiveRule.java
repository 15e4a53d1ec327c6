package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.panattn.internal.NativeCall;
import org.panattn.internal.Ops;
import org.panattn.internal.Rule;
import org.panattn.internal.View;
import org.panattn.internal.ffi.Panattn_h;

/**
 * Bahdanau's additive rule {@code score = vᵀ·tanh(W_q·q + W_k·k + b)}
 * (native {@code pa_additive_attention}); v null means all ones, the
 * concat-tanh-sum rule. W_k·k is computed once per key, not per pair.
 *
 * @param wq   the query projection (A, Dq)
 * @param wk   the key projection (A, Dk)
 * @param bias the bias (A), or null
 * @param v    the vector (A), or null for all ones
 */
record AdditiveRule(Tensor wq, Tensor wk, Tensor bias, Tensor v) implements ScoreRule, RuleCall {
    /** Checks that the shapes agree; each tensor's arena, thread and memory when a call uses it. */
    AdditiveRule {
        if (wq == null || wq.rank() != 2 || wk == null || wk.rank() != 2 || wq.size(0) != wk.size(0)) {
            throw new IllegalArgumentException("wq, wk: expected shapes (A, Dq) and (A, Dk), got "
                    + (wq == null ? "null" : Shapes.format(wq.shape())) + " and "
                    + (wk == null ? "null" : Shapes.format(wk.shape())));
        }
        vector("bias", bias, wq.size(0));
        vector("v", v, wq.size(0));
        AttentionValidation.float32("wq", wq, AttentionValidation.RULE_WEIGHTS);
        AttentionValidation.float32("wk", wk, AttentionValidation.RULE_WEIGHTS);
        AttentionValidation.float32("bias", bias, AttentionValidation.RULE_WEIGHTS);
        AttentionValidation.float32("v", v, AttentionValidation.RULE_WEIGHTS);
    }

    /** Null, or a contiguous (A), as the native kernels read it. */
    private static void vector(String name, Tensor t, long a) {
        if (t != null && (t.rank() != 1 || t.size(0) != a)) {
            throw new IllegalArgumentException(name + ": expected shape (A) = (" + a + "), got "
                    + Shapes.format(t.shape()));
        }
        if (t != null && a > 1 && t.strides()[0] != 1) {
            throw new IllegalArgumentException(name + ": expected a contiguous vector (stride 1), got strides "
                    + Shapes.format(t.strides()) + "; use contiguous() for a copy");
        }
    }

    @Override
    public void attend(Tensor q, Tensor k, Tensor values, Tensor out, AttentionSpec spec) {
        Backend backend = spec.resolvedBackend();
        Tensor[] t = AttentionValidation.rank4(backend, new String[] {"q", "k", "v", "out"}, q, k, values, out);
        int rank = q.rank();
        AttentionValidation.expectWidth("q", q, wq.size(1), "Dq, the columns of wq");
        AttentionValidation.expectWidth("k", k, wk.size(1), "Dk, the columns of wk");
        AttentionValidation.expect("k", t[1], rank, rank == 4 ? "(B, Hkv, Lk, Dk)" : "(B, Lk, Dk)",
                t[0].size(0), AttentionValidation.ANY, AttentionValidation.ANY, AttentionValidation.ANY);
        float scale = Float.isNaN(spec.scale()) ? 1f : spec.scale();
        var plan = AttentionValidation.plan(rank, t[0], t[1].size(1), t[1].size(2), "v", t[2], t[3], spec, backend,
                scale);
        AttentionValidation.checkOutputs(plan, new String[] {"q", "k"}, t[0].view(), t[1].view());
        if (bias != null) {
            AttentionValidation.usable("rule.bias", bias, backend);
        }
        if (v != null) {
            AttentionValidation.usable("rule.v", v, backend);
        }
        try (Arena tmp = Arena.ofConfined()) {
            Tensor qp = Linear.project(tmp, backend, "q", t[0], "rule.wq", wq, null);
            Tensor kp = Linear.project(tmp, backend, "k", t[1], "rule.wk", wk, bias);
            Attention.implementation(backend).attend(plan, new Bound(qp.view(), kp.view(),
                    v == null ? null : v.view()));
        }
    }

    /** One call's projections qp (B, H, Lq, A), kp (B, Hkv, Lk, A), and v (1, 1, 1, A) or null. */
    private record Bound(View qp, View kp, View v) implements Rule {
        @Override
        public void scores(Ops ops, long b, long h, long kvh, long i, float[] row, int lo, int hi) {
            long qOff = qp.row(b, h, i);
            int a = (int) qp.size(3);
            MemorySegment vs = v == null ? null : v.segment();
            for (int j = lo; j < hi; j++) {
                row[j] = ops.tanhDot(qp.segment(), qOff, kp.segment(), kp.row(b, kvh, j), vs, 0, a);
            }
        }

        @Override
        public int callNative(NativeCall c) {
            return Panattn_h.pa_additive_attention_buffers(c.arg(0, qp), c.arg(1, kp), c.arg(2, v), c.values(),
                    c.out(), c.options(), qp.segment(), kp.segment(), NativeCall.data(v), c.valuesData(), c.outData(),
                    c.maskData(), c.weightsData(), c.keyPaddingData(), c.alibiData(), c.relBiasData());
        }

        @Override
        public String nativeName() {
            return "pa_additive_attention";
        }

        @Override
        public View[] inputs() {
            return v == null ? new View[] {qp, kp} : new View[] {qp, kp, v};
        }
    }
}
