package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;

import org.panattn.AttentionSpec;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.Tensor;
import org.panattn.layers.LayerOutput;
import org.panattn.layers.MultiHeadAttention;

/** {@code run --variant mha}: a multi-head attention layer with PyTorch-named weight files. */
final class MhaRunCommand {
    private MhaRunCommand() {
    }

    static void run(RunCommand r) throws IOException {
        RunCommand.Mha o = r.mha;
        Options.checkOutputs(Options.files("--query", o.query, "--key", o.key, "--value", o.value, "--in-proj-weight",
                o.inProjWeight, "--in-proj-bias", o.inProjBias, "--q-proj-weight", o.qProjWeight, "--k-proj-weight",
                o.kProjWeight, "--v-proj-weight", o.vProjWeight, "--out-proj-weight", o.outProjWeight,
                "--out-proj-bias", o.outProjBias, "--key-padding-mask", o.keyPaddingMask, "--attn-mask", o.attnMask),
                Options.files("--out", r.common.out, "--weights", r.common.weights));
        String outFile = Options.require(r.common.out, "--out");
        boolean batchFirst = !o.seqFirst;
        try (Arena arena = Arena.ofConfined()) {
            Tensor query = RunCommand.load(arena, Options.require(o.query, "--query"), "--query");
            Tensor key = o.key == null ? query : RunCommand.load(arena, o.key, "--key");
            Tensor value = o.value == null ? key : RunCommand.load(arena, o.value, "--value");
            long heads = Options.require(o.heads, "--heads");
            MultiHeadAttention.Builder b = MultiHeadAttention.builder(query.size(2), heads)
                    .kdim(key.size(2)).vdim(value.size(2)).batchFirst(batchFirst)
                    .bias(o.inProjBias != null || o.outProjBias != null);
            if (o.kvHeads != null) {
                b.kvHeads(o.kvHeads);
            }
            MultiHeadAttention mha = b.build(arena);
            float[] inBias = floats(o.inProjBias, "--in-proj-bias");
            if (o.inProjWeight != null) {
                mha.loadInProj(floats(o.inProjWeight, "--in-proj-weight"), inBias);
            } else {
                mha.loadQkv(floats(Options.require(o.qProjWeight, "--q-proj-weight"), "--q-proj-weight"),
                        floats(Options.require(o.kProjWeight, "--k-proj-weight"), "--k-proj-weight"),
                        floats(Options.require(o.vProjWeight, "--v-proj-weight"), "--v-proj-weight"), inBias);
            }
            mha.loadOutProj(floats(Options.require(o.outProjWeight, "--out-proj-weight"), "--out-proj-weight"),
                    floats(o.outProjBias, "--out-proj-bias"));

            long batch = query.size(batchFirst ? 0 : 1);
            long lq = query.size(batchFirst ? 1 : 0), lk = key.size(batchFirst ? 1 : 0);
            AttentionSpec.Builder spec = AttentionSpec.builder().causal(r.qkv.causal ? Causal.TOP_LEFT : Causal.NONE);
            if (o.window != null) {
                spec.window(o.window);
            }
            if (r.common.backend != null) {
                spec.backend(r.common.backend);
            }
            if (o.keyPaddingMask != null) {
                spec.keyPadding(keyPadding(arena, o.keyPaddingMask, batch, lk));
            }
            if (o.attnMask != null) {
                spec.mask(attnMask(arena, o.attnMask, batch, heads, lq, lk));
            }
            MultiHeadAttention.NeedWeights need = r.common.weights == null ? MultiHeadAttention.NeedWeights.NONE
                    : o.averageWeights ? MultiHeadAttention.NeedWeights.AVERAGED
                    : MultiHeadAttention.NeedWeights.PER_HEAD;
            LayerOutput out = mha.forward(arena, query, key, value, spec.build(), need);
            Npy.write(Path.of(outFile), out.output().toArray(), out.output().shape());
            if (out.weights() != null) {
                Npy.write(Path.of(r.common.weights), out.weights().toArray(), out.weights().shape());
            }
        }
    }

    private static float[] floats(String file, String option) throws IOException {
        if (file == null) {
            return null;
        }
        Npy.Array a = Npy.read(option, file);
        if (a.isBoolean()) {
            throw new Options.UsageException(option + " " + file + ": expected float32 '<f4' weights, got bool");
        }
        return a.floats();
    }

    private static Mask keyPadding(Arena arena, String file, long batch, long lk) throws IOException {
        Npy.Array a = Npy.read("--key-padding-mask", file);
        if (a.shape().length != 2 || a.shape()[0] != batch || a.shape()[1] != lk) {
            throw new Options.UsageException("--key-padding-mask " + file + ": expected shape (" + batch + ", " + lk + ")");
        }
        return a.isBoolean() ? Mask.keep(arena, a.booleans(), batch, 1, 1, lk)
                : Mask.additive(Tensor.of(arena, a.floats(), batch, 1, 1, lk));
    }

    /** PyTorch's 3-D attn_mask is (B*H, Lq, Lk): read it as (B, H, Lq, Lk). */
    private static Mask attnMask(Arena arena, String file, long batch, long heads, long lq, long lk) throws IOException {
        Npy.Array a = Npy.read("--attn-mask", file);
        long[] shape = a.shape();
        if (shape.length == 3 && shape[0] == batch * heads && heads > 1) {
            shape = new long[] {batch, heads, shape[1], shape[2]};
        }
        return a.isBoolean() ? Mask.keep(arena, a.booleans(), shape) : Mask.additive(Tensor.of(arena, a.floats(), shape));
    }
}
