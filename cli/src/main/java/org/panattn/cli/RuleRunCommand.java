package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.ScoreRule;
import org.panattn.Tensor;
import org.panattn.layers.AttentionPooling;
import org.panattn.layers.LayerOutput;

/** {@code run --variant general|additive|concat|concat-tanh|pooling}: the other score rules on .npy files. */
final class RuleRunCommand {
    private RuleRunCommand() {
    }

    static void run(String variant, RunCommand r) throws IOException {
        RunCommand.Qkv o = r.qkv;
        RunCommand.Rules w = r.rules;
        if (variant.equals("pooling")) {
            Options.checkOutputs(Options.files("--x", r.pooling.x, "--query", r.mha.query, "--key-padding-mask",
                    r.masks.keyPaddingMask), r.outputs());
        } else {
            Options.checkOutputs(r.inputs("--q", o.q, "--k", o.k, "--v", o.v, "--w", w.w, "--wq", w.wq, "--wk", w.wk,
                    "--v-vec", w.vVec, "--bias", w.bias), r.outputs());
        }
        String outFile = Options.require(r.common.out, "--out");
        Backend backend = r.common.backend;
        try (Arena arena = Arena.ofConfined()) {
            if (variant.equals("pooling")) {
                pool(arena, r, backend, outFile);
                return;
            }
            Tensor q = RunCommand.load(arena, Options.require(o.q, "--q"), "--q");
            Tensor k = RunCommand.load(arena, Options.require(o.k, "--k"), "--k");
            Tensor v = RunCommand.load(arena, Options.require(o.v, "--v"), "--v");
            AttentionSpec.Builder spec = r.spec(arena, q, v);
            long[] outShape = q.shape();
            outShape[outShape.length - 1] = v.size(v.rank() - 1);
            Tensor out = Tensor.allocate(arena, outShape);
            long[] wShape = q.shape();
            wShape[wShape.length - 1] = v.size(v.rank() - 2);
            Tensor weights = r.common.weights == null ? null : Tensor.allocate(arena, wShape);
            spec.weights(weights);
            Tensor bias = matrix(arena, w.bias, "--bias");
            switch (variant) {
                case "general" -> Attention.attend(ScoreRule.general(required(arena, w.w, "--w")), q, k, v, out,
                        spec.build());
                case "additive" -> Attention.attend(ScoreRule.additive(required(arena, w.wq, "--wq"),
                        required(arena, w.wk, "--wk"), bias, required(arena, w.vVec, "--v-vec")), q, k, v, out,
                        spec.build());
                case "concat-tanh" -> Attention.attend(ScoreRule.concatTanhSum(required(arena, w.w, "--w"), bias,
                        q.size(q.rank() - 1)), q, k, v, out, spec.build());
                case "concat" -> Attention.concatLinear(q, k, v, required(arena, w.w, "--w"), bias, out, spec.build());
                default -> throw new IllegalStateException("--variant " + variant);
            }
            Npy.write(Path.of(outFile), out.toArray(), out.shape());
            if (weights != null) {
                Npy.write(Path.of(r.common.weights), weights.toArray(), weights.shape());
            }
        }
    }

    private static void pool(Arena arena, RunCommand r, Backend backend, String outFile) throws IOException {
        Tensor x = RunCommand.load(arena, Options.require(r.pooling.x, "--x"), "--x");
        Tensor query = required(arena, r.mha.query, "--query");
        Mask padding = null;
        if (r.masks.keyPaddingMask != null) {
            Npy.Array m = Npy.read("--key-padding-mask", r.masks.keyPaddingMask);
            if (!m.isBoolean() || m.shape().length != 2) {
                throw new Options.UsageException("--key-padding-mask: expected a bool (B, L) array");
            }
            padding = Mask.keep(arena, m.booleans(), m.shape()[0], 1, 1, m.shape()[1]);
        }
        LayerOutput out = new AttentionPooling(query).forward(arena, x, padding,
                backend == null ? Panattn.defaultBackend() : backend);
        Npy.write(Path.of(outFile), out.output().toArray(), out.output().shape());
        if (r.common.weights != null) {
            Npy.write(Path.of(r.common.weights), out.weights().toArray(), out.weights().shape());
        }
    }

    private static Tensor required(Arena arena, String file, String option) throws IOException {
        return matrix(arena, Options.require(file, option), option);
    }

    /** A float32 array of any rank (a weight matrix or vector), or null when the option is absent. */
    static Tensor matrix(Arena arena, String file, String option) throws IOException {
        if (file == null) {
            return null;
        }
        Npy.Array a = Npy.read(option, file);
        if (a.isBoolean()) {
            throw new Options.UsageException(option + " " + file + ": expected float32 '<f4' or float16 '<f2', got "
                    + "bool");
        }
        return Tensor.of(arena, a.floats(), a.shape());
    }
}
