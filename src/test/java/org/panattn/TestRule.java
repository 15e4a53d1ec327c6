package org.panattn;

/**
 * The score rules as the tests know them, one constant each: its weights'
 * shapes, how to call it, and its score written from its formula in double.
 * ScoreRulesTest, RulePropertyTest and VariantValidationTest run every
 * constant on every backend and ISA level, so a new rule is registered for
 * all of them here, once.
 */
enum TestRule {
    DOT {
        @Override
        Call bind(Weights w, long dq) {
            ScoreRule rule = ScoreRule.dot();
            return (q, k, v, out, spec) -> Attention.attend(rule, q, k, v, out, spec);
        }

        @Override
        double score(Inputs in, int b, int i, int j) {
            return dot(in, b, i, j);
        }
    },
    SCALED_DOT {
        @Override
        Call bind(Weights w, long dq) {
            ScoreRule rule = ScoreRule.scaledDot();
            return (q, k, v, out, spec) -> Attention.attend(rule, q, k, v, out, spec);
        }

        @Override
        double score(Inputs in, int b, int i, int j) {
            return dot(in, b, i, j) / Math.sqrt(in.dq);
        }
    },
    GENERAL {
        @Override
        long[] weightShape(long dq, long dk, long lk, long a) {
            return new long[] {dq, dk};
        }

        @Override
        Call bind(Weights w, long dq) {
            ScoreRule rule = ScoreRule.general(w.w);
            return (q, k, v, out, spec) -> Attention.attend(rule, q, k, v, out, spec);
        }

        @Override
        double score(Inputs in, int b, int i, int j) {
            double s = 0;
            for (int x = 0; x < in.dq; x++) {
                for (int y = 0; y < in.dk; y++) {
                    s += (double) in.q.get(b, i, x) * in.w.w.get(x, y) * in.k.get(b, j, y);
                }
            }
            return s;
        }
    },
    ADDITIVE {
        @Override
        Call bind(Weights w, long dq) {
            ScoreRule rule = ScoreRule.additive(w.w, w.wk, w.bias, w.vvec);
            return (q, k, v, out, spec) -> Attention.attend(rule, q, k, v, out, spec);
        }

        @Override
        double score(Inputs in, int b, int i, int j) {
            return tanhSum(in, b, i, j, false);
        }

        @Override
        boolean namesKeyColumns() {
            return true;
        }
    },
    CONCAT_TANH_SUM {
        @Override
        long[] weightShape(long dq, long dk, long lk, long a) {
            return new long[] {a, dq + dk};
        }

        @Override
        Call bind(Weights w, long dq) {
            ScoreRule rule = ScoreRule.concatTanhSum(w.w, w.bias, dq);
            return (q, k, v, out, spec) -> Attention.attend(rule, q, k, v, out, spec);
        }

        @Override
        double score(Inputs in, int b, int i, int j) {
            return tanhSum(in, b, i, j, true);
        }

        @Override
        boolean namesKeyColumns() {
            return true;
        }
    },
    CONCAT_LINEAR {
        @Override
        long[] weightShape(long dq, long dk, long lk, long a) {
            return new long[] {lk, dq + dk};
        }

        @Override
        long biasSize(long lk, long a) {
            return lk;
        }

        @Override
        Call bind(Weights w, long dq) {
            return (q, k, v, out, spec) -> Attention.concatLinear(q, k, v, w.w, w.bias, out, spec);
        }

        @Override
        double score(Inputs in, int b, int i, int j) {
            double s = in.w.bias.get(j);
            for (int d = 0; d < in.dq; d++) {
                s += (double) in.w.w.get(j, d) * in.q.get(b, i, d);
            }
            for (int d = 0; d < in.dk; d++) {
                s += (double) in.w.w.get(j, in.dq + d) * in.k.get(b, i, d);
            }
            return s;
        }

        @Override
        boolean keyPerQuery() {
            return true;
        }
    };

    /** The rule's weights: w, and (where the rule has them) wk, bias and the vector v. */
    record Weights(Tensor w, Tensor wk, Tensor bias, Tensor vvec) {
    }

    /** Rank-3 inputs (B, L, D) and the weights, for the reference scores. */
    record Inputs(Tensor q, Tensor k, Weights w, int dq, int dk, int a) {
    }

    /** A call of the rule on q (B, Lq, Dq), k (B, Lk, Dk) or (B, Lq, Dk), v (B, Lk, Dv), out (B, Lq, Dv). */
    interface Call {
        void attend(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec);
    }

    /** The rule made from its weights (Dq = {@code dq}), as a call; the rule is built here, on this thread. */
    abstract Call bind(Weights w, long dq);

    /** The score of query i against key j in batch b, unscaled by the spec, in double. */
    abstract double score(Inputs in, int b, int i, int j);

    /** The shape of w; by default the query projection (A, Dq). */
    long[] weightShape(long dq, long dk, long lk, long a) {
        return new long[] {a, dq};
    }

    /** The size of the bias: A, or Lv for concat-linear. */
    long biasSize(long lk, long a) {
        return a;
    }

    /** Whether Dk must equal Dq. */
    boolean sameWidth() {
        return this == DOT || this == SCALED_DOT;
    }

    /** Whether k has one row per query (concat-linear) rather than one per key. */
    boolean keyPerQuery() {
        return false;
    }

    /** Whether a k of the wrong width is told about the columns of wk (the additive rules). */
    boolean namesKeyColumns() {
        return false;
    }

    /** The reference score function of {@link Reference#attend}. */
    Reference.Score reference(Inputs in) {
        return (b, h, kh, i, j) -> score(in, (int) b, (int) i, (int) j);
    }

    private static double dot(Inputs in, int b, int i, int j) {
        double s = 0;
        for (int d = 0; d < in.dq; d++) {
            s += (double) in.q.get(b, i, d) * in.k.get(b, j, d);
        }
        return s;
    }

    /** {@code Σ_a v[a]·tanh(W_q·q + W_k·k + b)}; concat: W = [W_q | W_k] in w, v all ones. */
    private static double tanhSum(Inputs in, int b, int i, int j, boolean concat) {
        double s = 0;
        for (int a = 0; a < in.a; a++) {
            double z = in.w.bias.get(a);
            for (int d = 0; d < in.dq; d++) {
                z += (double) in.w.w.get(a, d) * in.q.get(b, i, d);
            }
            for (int d = 0; d < in.dk; d++) {
                z += (double) (concat ? in.w.w.get(a, in.dq + d) : in.w.wk.get(a, d)) * in.k.get(b, j, d);
            }
            s += (concat ? 1.0 : in.w.vvec.get(a)) * Math.tanh(z);
        }
        return s;
    }
}
