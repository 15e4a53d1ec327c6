package org.panattn;

import java.lang.foreign.Arena;

/**
 * How a query and a key give a score, for {@link Attention#attend}. Every
 * rule shares the rest: masks, causal rule, window, positional terms,
 * softmax and the weighted sum of values.
 *
 * <ul>
 * <li>{@link #dot()}: {@code q·k}; {@link #scaledDot()}: {@code q·k/√Dk}.</li>
 * <li>{@link #general}: Luong's {@code qᵀ·W·k}, W {@code (Dq, Dk)}.</li>
 * <li>{@link #additive}: Bahdanau's {@code vᵀ·tanh(W_q·q + W_k·k + b)}.</li>
 * <li>{@link #concatTanhSum}: {@code sum(tanh(Linear([q; k])))}, the additive
 * rule with v all ones and W = [W_q | W_k].</li>
 * </ul>
 * The spec's scale multiplies every rule's score (default: 1/√Dk for
 * {@link #scaledDot()}, 1 for the others). Rules hold their weights; they
 * are immutable.
 */
public sealed interface ScoreRule permits DotProductRule, GeneralRule, AdditiveRule {
    /**
     * {@code score = q·k}.
     *
     * @return the rule
     */
    static ScoreRule dot() {
        return new DotProductRule(false);
    }

    /**
     * {@code score = q·k/√Dk}, the Transformer's rule.
     *
     * @return the rule
     */
    static ScoreRule scaledDot() {
        return new DotProductRule(true);
    }

    /**
     * Luong's general rule, {@code score = qᵀ·W·k}, W {@code (Dq, Dk)}. It runs as
     * dot-product attention of {@code q·W} with k, so W is copied transposed
     * once, here, into an automatic arena.
     *
     * @param w the weight
     * @return the rule
     */
    static ScoreRule general(Tensor w) {
        if (w == null || w.rank() != 2) {
            throw new IllegalArgumentException("w: expected shape (Dq, Dk), got "
                    + (w == null ? "null" : Shapes.format(w.shape())));
        }
        AttentionValidation.usable("w", w, null); // read here, for the transposed copy
        AttentionValidation.float32("w", w, AttentionValidation.RULE_WEIGHTS);
        return new GeneralRule(w, w.permute(1, 0).contiguous(Arena.ofAuto()));
    }

    /**
     * Bahdanau's additive rule, {@code score = vᵀ·tanh(W_q·q + W_k·k + b)}:
     * wq {@code (A, Dq)}, wk {@code (A, Dk)}, bias {@code (A)} or null, v {@code (A)}.
     * W_k·k is computed once per key, not per query-key pair.
     *
     * @param wq the query projection (A, Dq)
     * @param wk the key projection (A, Dk)
     * @param bias the bias, or null
     * @param v the values
     * @return the rule
     */
    static ScoreRule additive(Tensor wq, Tensor wk, Tensor bias, Tensor v) {
        AdditiveRule rule = new AdditiveRule(wq, wk, bias, v);
        if (v == null) {
            throw new IllegalArgumentException("v: expected shape (A) = (" + wq.size(0) + "), got null");
        }
        return rule;
    }

    /**
     * The rule {@code score = sum(tanh(Linear([q; k])))}: w {@code (A, Dq + Dk)},
     * bias {@code (A)} or null, with {@code dq} = Dq telling where q's columns end.
     *
     * @param w the weight
     * @param bias the bias, or null
     * @param dq Dq, the query width
     * @return the rule
     */
    static ScoreRule concatTanhSum(Tensor w, Tensor bias, long dq) {
        if (w == null || w.rank() != 2 || dq <= 0 || dq >= w.size(1)) {
            throw new IllegalArgumentException("w: expected shape (A, Dq + Dk) with 0 < Dq = " + dq + " < its width, got "
                    + (w == null ? "null" : Shapes.format(w.shape())));
        }
        AttentionValidation.usable("w", w, null); // viewed here, split into its query and key columns
        AttentionValidation.float32("w", w, AttentionValidation.RULE_WEIGHTS);
        long[] st = w.strides();
        Tensor wq = Tensor.wrap(w.segment(), new long[] {w.size(0), dq}, st);
        Tensor wk = Tensor.wrap(w.segment().asSlice(dq * st[1] * Float.BYTES),
                new long[] {w.size(0), w.size(1) - dq}, st);
        return new AdditiveRule(wq, wk, bias, null);
    }
}
