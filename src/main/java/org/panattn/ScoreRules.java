package org.panattn;

import java.lang.foreign.Arena;

import org.panattn.internal.AdditiveProblem;
import org.panattn.internal.AttendProblem;
import org.panattn.internal.AttentionBackend;
import org.panattn.internal.ConcatProblem;
import org.panattn.internal.LinearProblem;

/** Runs the score rules: projections first where a rule needs them, then the shared machinery. */
final class ScoreRules {
    private ScoreRules() {
    }

    static void attend(ScoreRule rule, Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
        if (rule == null) {
            throw new IllegalArgumentException("rule must not be null");
        }
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null (use AttentionSpec.DEFAULT)");
        }
        Backend backend = spec.resolvedBackend();
        switch (rule) {
            case ScoreRule.Dot dot -> Attention.scaledDotProduct(q, k, v, out,
                    dot.scaled() || !Float.isNaN(spec.scale()) ? spec : spec.toBuilder().scale(1f).build());
            case ScoreRule.General g -> {
                Tensor[] t = AttentionValidation.rank4(backend, new String[] {"q", "k", "v", "out"}, q, k, v, out);
                expectWidth("q", q, g.w().size(0), "Dq, the rows of w");
                try (Arena tmp = Arena.ofConfined()) {
                    Tensor qw = project(tmp, backend, "q", t[0], "rule.w", g.wT(), null);
                    if (q.rank() == 3) { // back to the caller's rank, so messages show k, v and out as passed
                        qw = Tensor.wrap(qw.segment(), qw.size(0), qw.size(2), qw.size(3));
                    }
                    AttentionSpec.Builder s = spec.toBuilder().backend(backend);
                    if (Float.isNaN(spec.scale())) {
                        s.scale(1f);
                    }
                    Attention.scaledDotProduct(qw, k, v, out, s.build());
                }
            }
            case ScoreRule.Additive a -> {
                Tensor[] t = AttentionValidation.rank4(backend, new String[] {"q", "k", "v", "out"}, q, k, v, out);
                int rank = q.rank();
                expectWidth("q", q, a.wq().size(1), "Dq, the columns of wq");
                expectWidth("k", k, a.wk().size(1), "Dk, the columns of wk");
                AttentionValidation.expect("k", t[1], rank, rank == 4 ? "(B, Hkv, Lk, Dk)" : "(B, Lk, Dk)",
                        t[0].size(0), AttentionValidation.ANY, AttentionValidation.ANY, AttentionValidation.ANY);
                AttendProblem common = AttentionValidation.common(rank, t[0], t[1].size(1), t[1].size(2), "v", t[2],
                        t[3], spec, backend);
                AttentionValidation.checkOutputs(common, new String[] {"q", "k"}, t[0], t[1]);
                if (a.bias() != null) {
                    AttentionValidation.usable("rule.bias", a.bias(), backend);
                }
                if (a.v() != null) {
                    AttentionValidation.usable("rule.v", a.v(), backend);
                }
                try (Arena tmp = Arena.ofConfined()) {
                    Tensor qp = project(tmp, backend, "q", t[0], "rule.wq", a.wq(), null);
                    Tensor kp = project(tmp, backend, "k", t[1], "rule.wk", a.wk(), a.bias());
                    float scale = Float.isNaN(spec.scale()) ? 1f : spec.scale();
                    Attention.implementation(backend).additive(new AdditiveProblem(qp, kp, a.v(), scale, common));
                }
            }
        }
    }

    static void concat(Tensor q, Tensor k, Tensor v, Tensor w, Tensor bias, Tensor out, AttentionSpec spec) {
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
        AttentionValidation.usable("w", w, backend);
        AttentionValidation.contiguousRows("w", w.unsqueeze(0).unsqueeze(0));
        if (bias != null) {
            AttentionValidation.usable("bias", bias, backend);
            if (bias.rank() != 1 || bias.size(0) != w.size(0)) {
                throw new IllegalArgumentException("bias: expected shape (Lv) = (" + w.size(0) + "), got "
                        + Shapes.format(bias.shape()));
            }
        }
        AttendProblem common = AttentionValidation.common(rank, t[0], t[0].size(1), w.size(0), "v", t[2], t[3],
                spec, backend);
        AttentionValidation.checkOutputs(common, new String[] {"q", "k", "w", "bias"}, t[0], t[1], w, bias);
        float scale = Float.isNaN(spec.scale()) ? 1f : spec.scale();
        Attention.implementation(backend).concat(new ConcatProblem(t[0], t[1], w, bias, scale, common));
    }

    /** The last dimension of {@code t} (rank 3 or 4, as the caller passed it) is {@code width}. */
    private static void expectWidth(String name, Tensor t, long width, String what) {
        if (t.size(t.rank() - 1) != width) {
            throw new IllegalArgumentException(name + ": last dimension must be " + width + " (" + what + "), got shape "
                    + Shapes.format(t.shape()));
        }
    }

    /**
     * x (B, H, L, K) · wᵀ (+ bias) into a new (B, H, L, N) tensor in {@code arena};
     * the caller has checked the bias, {@code weightName} names w in messages.
     */
    static Tensor project(Arena arena, Backend backend, String name, Tensor x4, String weightName, Tensor w,
                          Tensor bias) {
        AttentionValidation.contiguousRows(name, x4);
        AttentionValidation.usable(weightName, w, backend);
        AttentionValidation.contiguousRows(weightName, w.unsqueeze(0).unsqueeze(0));
        AttentionBackend impl = Attention.implementation(backend);
        Tensor y = Tensor.allocate(arena, x4.size(0), x4.size(1), x4.size(2), w.size(0));
        impl.linear(new LinearProblem(x4, w.unsqueeze(0).unsqueeze(0),
                bias == null ? null : bias.unsqueeze(0).unsqueeze(0).unsqueeze(0), y));
        return y;
    }
}
