package org.panattn;

/** What each {@link ScoreRule} does for {@link Attention#attend}: validate its inputs, then run. */
interface RuleCall {
    void attend(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec);
}
