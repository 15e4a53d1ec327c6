package org.panattn;

import java.lang.foreign.Arena;

/**
 * Luong's general rule {@code score = qᵀ·W·k}: dot-product attention of
 * {@code q·W} with k, so it has no kernel of its own.
 *
 * @param w          the weight (Dq, Dk)
 * @param wTransposed W transposed, contiguous, for the projection
 */
record GeneralRule(Tensor w, Tensor wTransposed) implements ScoreRule, RuleCall {
    @Override
    public void attend(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec) {
        Backend backend = spec.resolvedBackend();
        Tensor[] t = AttentionValidation.rank4(backend, new String[] {"q", "k", "v", "out"}, q, k, v, out);
        AttentionValidation.expectWidth("q", q, w.size(0), "Dq, the rows of w");
        try (Arena tmp = Arena.ofConfined()) {
            Tensor qw = Linear.project(tmp, backend, "q", t[0], "rule.w", wTransposed, null);
            if (q.rank() == 3) { // back to the caller's rank, so messages show k, v and out as passed
                qw = Tensor.wrap(qw.segment(), qw.size(0), qw.size(2), qw.size(3));
            }
            new DotProductRule(false).attend(qw, k, v, out, spec.toBuilder().backend(backend).build());
        }
    }
}
