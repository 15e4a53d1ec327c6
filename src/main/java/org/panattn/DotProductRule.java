package org.panattn;

import org.panattn.internal.NativeCall;
import org.panattn.internal.Ops;
import org.panattn.internal.Plan;
import org.panattn.internal.Rule;
import org.panattn.internal.View;
import org.panattn.internal.ffi.Panattn_h;

/**
 * {@code score = q·k}, scaled: scaled dot-product attention
 * ({@link Attention#scaledDotProduct}, native {@code pa_sdpa}), and the
 * {@link ScoreRule#dot()} and {@link ScoreRule#scaledDot()} rules.
 *
 * @param scaled whether the default scale is 1/√Dk (else 1)
 */
record DotProductRule(boolean scaled) implements ScoreRule, RuleCall {
    private static final String[] TENSORS = {"q", "k", "v", "out"}, INPUTS = {"q", "k"};

    @Override
    public void attend(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
        Backend backend = spec.resolvedBackend();
        LastCall last = backend == Backend.NATIVE ? LAST.get() : null;
        if (last != null && last.same(this, q, k, v, out, spec)) {
            if (last.prepared == null) {
                last.prepared = prepare(q, k, v, out, spec);
            }
            last.prepared.run();
            return;
        }
        Validated call = validate(q, k, v, out, spec, backend);
        if (last != null) {
            last.remember(this, q, k, v, out, spec);
        }
        Attention.implementation(backend).attend(call.plan(), call.rule());
    }

    /**
     * This thread's last native call, and its prepared form once it repeats.
     * Tensors and specs never change, so the same arguments pass the same
     * checks: a call repeated in a loop (a tiny one, where the checks cost
     * as much as the work) runs prepared, which checks only that the
     * arenas are still usable. Native only: there a prepared run is the
     * same library call on the same descriptors.
     */
    private static final ThreadLocal<LastCall> LAST = ThreadLocal.withInitial(LastCall::new);

    private static final class LastCall {
        private DotProductRule rule;
        private Tensor q, k, v, out;
        private AttentionSpec spec;
        private PreparedAttention prepared;

        boolean same(DotProductRule r, Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
            return r == rule && q == this.q && k == this.k && v == this.v && out == this.out && spec == this.spec;
        }

        void remember(DotProductRule r, Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
            rule = r;
            this.q = q;
            this.k = k;
            this.v = v;
            this.out = out;
            this.spec = spec;
            prepared = null;
        }
    }

    /** {@link Attention#prepare}: the checks of {@link #attend}, once. */
    PreparedAttention prepare(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
        Backend backend = spec.resolvedBackend();
        Validated call = validate(q, k, v, out, spec, backend);
        return new PreparedAttention(backend, call.plan(), call.rule(), INPUTS);
    }

    /** A call that passed every check: what the backends run. */
    private record Validated(Plan plan, Bound rule) {
    }

    private Validated validate(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec, Backend backend) {
        Tensor[] t = AttentionValidation.rank4(backend, TENSORS, q, k, v, out);
        int rank = q.rank();
        Tensor q4 = t[0], k4 = t[1];
        long dk = q4.size(3);
        AttentionValidation.expect("k", k4, rank, rank == 4 ? "(B, Hkv, Lk, Dk)" : "(B, Lk, Dk)", q4.size(0),
                AttentionValidation.ANY, AttentionValidation.ANY, dk);
        AttentionValidation.contiguousRows("q", q4);
        AttentionValidation.contiguousRows("k", k4);
        float scale = !Float.isNaN(spec.scale()) ? spec.scale() : scaled ? (float) (1.0 / Math.sqrt(Math.max(dk, 1)))
                : 1f;
        Plan plan = AttentionValidation.plan(rank, q4, k4.size(1), k4.size(2), "v", t[2], t[3], spec, backend, scale);
        Bound bound = new Bound(q4.view(), k4.view());
        AttentionValidation.checkOutputs(plan, INPUTS, bound.q, bound.k);
        return new Validated(plan, bound);
    }

    /** One call's q (B, H, Lq, Dk) and k (B, Hkv, Lk, Dk). */
    private record Bound(View q, View k) implements Rule {
        @Override
        public void scores(Ops ops, long b, long h, long kvh, long i, float[] row, int lo, int hi) {
            long qOff = q.row(b, h, i);
            int dk = (int) q.size(3);
            for (int j = lo; j < hi; j++) {
                row[j] = ops.dot(q, qOff, k, k.row(b, kvh, j), dk);
            }
        }

        @Override
        public int callNative(NativeCall c) {
            return Panattn_h.pa_sdpa_buffers(c.arg(0, q), c.arg(1, k), c.values(), c.out(), c.options(),
                    q.segment(), k.segment(), c.valuesData(), c.outData(), c.maskData(), c.weightsData(),
                    c.keyPaddingData(), c.alibiData(), c.relBiasData());
        }

        @Override
        public String nativeName() {
            return "pa_sdpa";
        }

        @Override
        public View[] inputs() {
            return new View[] {q, k};
        }
    }
}
