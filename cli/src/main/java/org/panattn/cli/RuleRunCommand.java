package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.ScoreRule;
import org.panattn.Tensor;
import org.panattn.layers.AttentionPooling;
import org.panattn.layers.LayerOutput;

/** {@code run --variant general|additive|concat|concat-tanh|pooling}: the other score rules on .npy files. */
final class RuleRunCommand {
    static final String USAGE = """
            run --variant general     --q Q --k K --v V --w W            (W: (Dq, Dk), score q^T W k)
            run --variant additive    --q Q --k K --v V --wq WQ --wk WK --v-vec VV [--bias B]
                                      (WQ (A, Dq), WK (A, Dk), VV and B (A): v^T tanh(Wq q + Wk k + b))
            run --variant concat-tanh --q Q --k K --v V --w W [--bias B]  (W (A, Dq+Dk): sum(tanh(W [q; k] + b)))
            run --variant concat      --q Q --k K --v V --w W [--bias B]  (K (B, Lq, Dk): one key per query;
                                      V (B, Lv, Dv); W (Lv, Dq+Dk): softmax(W [q; k] + b))
            run --variant pooling     --x X --query QV [--key-padding-mask M]   (X (B, L, D), QV (D), M (B, L) bool)
              Q (B, Lq, Dq), K (B, Lk, Dk), V (B, Lk, Dv); all take [--mask M] [--causal]
              [--backend native|java|vector] --out OUT.npy [--weights W.npy].""";

    private RuleRunCommand() {
    }

    static void run(String variant, String[] args) throws IOException {
        Options o = new Options(args, Set.of("--causal"), Set.of("--variant", "--q", "--k", "--v", "--w", "--wq", "--wk",
                "--v-vec", "--bias", "--x", "--query", "--key-padding-mask", "--mask", "--backend", "--out", "--weights"));
        o.checkOutputs(List.of("--q", "--k", "--v", "--w", "--wq", "--wk", "--v-vec", "--bias", "--x", "--query",
                "--key-padding-mask", "--mask"), List.of("--out", "--weights"));
        try (Arena arena = Arena.ofConfined()) {
            Backend backend = o.get("--backend") == null ? null : RunCommand.parseBackend(o.get("--backend"));
            if (variant.equals("pooling")) {
                pool(arena, o, backend);
                return;
            }
            Tensor q = RunCommand.load(arena, o.require("--q"), "--q");
            Tensor k = RunCommand.load(arena, o.require("--k"), "--k");
            Tensor v = RunCommand.load(arena, o.require("--v"), "--v");
            AttentionSpec.Builder spec = AttentionSpec.builder().backend(backend)
                    .causal(o.flag("--causal") ? Causal.TOP_LEFT : Causal.NONE);
            if (o.get("--mask") != null) {
                spec.mask(RunCommand.loadMask(arena, o.get("--mask")));
            }
            long[] outShape = q.shape();
            outShape[outShape.length - 1] = v.size(v.rank() - 1);
            Tensor out = Tensor.allocate(arena, outShape);
            long[] wShape = q.shape();
            wShape[wShape.length - 1] = v.size(v.rank() - 2);
            Tensor weights = o.get("--weights") == null ? null : Tensor.allocate(arena, wShape);
            spec.weights(weights);
            Tensor bias = matrix(arena, o.get("--bias"), "--bias");
            switch (variant) {
                case "general" -> Attention.attend(ScoreRule.general(matrix(arena, o.require("--w"), "--w")), q, k, v,
                        out, spec.build());
                case "additive" -> Attention.attend(ScoreRule.additive(matrix(arena, o.require("--wq"), "--wq"),
                        matrix(arena, o.require("--wk"), "--wk"), bias, matrix(arena, o.require("--v-vec"), "--v-vec")),
                        q, k, v, out, spec.build());
                case "concat-tanh" -> Attention.attend(ScoreRule.concatTanhSum(matrix(arena, o.require("--w"), "--w"),
                        bias, q.size(q.rank() - 1)), q, k, v, out, spec.build());
                case "concat" -> Attention.concatLinear(q, k, v, matrix(arena, o.require("--w"), "--w"), bias, out,
                        spec.build());
                default -> throw new Options.UsageException("unknown --variant " + variant);
            }
            Npy.write(Path.of(o.require("--out")), out.toArray(), out.shape());
            if (weights != null) {
                Npy.write(Path.of(o.get("--weights")), weights.toArray(), weights.shape());
            }
        }
    }

    private static void pool(Arena arena, Options o, Backend backend) throws IOException {
        Tensor x = RunCommand.load(arena, o.require("--x"), "--x");
        Tensor query = matrix(arena, o.require("--query"), "--query");
        Mask padding = null;
        if (o.get("--key-padding-mask") != null) {
            Npy.Array m = Npy.read("--key-padding-mask", o.get("--key-padding-mask"));
            if (!m.isBoolean() || m.shape().length != 2) {
                throw new Options.UsageException("--key-padding-mask: expected a bool (B, L) array");
            }
            padding = Mask.keep(arena, m.booleans(), m.shape()[0], 1, 1, m.shape()[1]);
        }
        LayerOutput r = new AttentionPooling(query).forward(arena, x, padding,
                backend == null ? org.panattn.Panattn.defaultBackend() : backend);
        Npy.write(Path.of(o.require("--out")), r.output().toArray(), r.output().shape());
        if (o.get("--weights") != null) {
            Npy.write(Path.of(o.get("--weights")), r.weights().toArray(), r.weights().shape());
        }
    }

    /** A float32 array of any rank (a weight matrix or vector), or null when the option is absent. */
    static Tensor matrix(Arena arena, String file, String option) throws IOException {
        if (file == null) {
            return null;
        }
        Npy.Array a = Npy.read(option, file);
        if (a.isBoolean()) {
            throw new Options.UsageException(option + " " + file + ": expected float32 '<f4', got bool");
        }
        return Tensor.of(arena, a.floats(), a.shape());
    }
}
