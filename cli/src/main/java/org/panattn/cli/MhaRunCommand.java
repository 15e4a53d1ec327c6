package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;

import org.panattn.Alibi;
import org.panattn.AttentionSpec;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.Tensor;
import org.panattn.layers.LayerOutput;
import org.panattn.layers.MultiHeadAttention;

/**
 * {@code run --variant mha}: a multi-head attention layer with PyTorch-named weight files, and every option of
 * the layer (its builder's: heads, kv-heads, bias_k/bias_v, add_zero_attn, RoPE, layout) and of its calls
 * (the spec's: causal rule and alignment, window, masks, scale, softcap, ALiBi, T5 bias).
 */
final class MhaRunCommand {
    private MhaRunCommand() {
    }

    static void run(RunCommand r) throws IOException {
        RunCommand.Mha o = r.mha;
        Options.checkOutputs(Options.files("--query", o.query, "--key", o.key, "--value", o.value, "--qkv", o.qkv,
                "--in-proj-weight", o.inProjWeight, "--in-proj-bias", o.inProjBias, "--q-proj-weight", o.qProjWeight,
                "--k-proj-weight", o.kProjWeight, "--v-proj-weight", o.vProjWeight, "--out-proj-weight",
                o.outProjWeight, "--out-proj-bias", o.outProjBias, "--bias-k", o.biasK, "--bias-v", o.biasV,
                "--key-padding-mask", o.keyPaddingMask, "--attn-mask", o.attnMask, "--rel-bias", r.positional.relBias),
                Options.files("--out", r.common.out, "--weights", r.common.weights));
        String outFile = Options.require(r.common.out, "--out");
        if (o.qkv != null) {
            refuseWithQkv("--query", o.query, "--key", o.key, "--value", o.value, "--in-proj-weight", o.inProjWeight,
                    "--in-proj-bias", o.inProjBias, "--q-proj-weight", o.qProjWeight, "--k-proj-weight", o.kProjWeight,
                    "--v-proj-weight", o.vProjWeight);
        }
        if ((o.biasK == null) != (o.biasV == null)) {
            throw new Options.UsageException((o.biasK == null ? "--bias-v needs --bias-k" : "--bias-k needs --bias-v")
                    + ": add_bias_kv appends both");
        }
        boolean batchFirst = !o.seqFirst;
        try (Arena arena = Arena.ofConfined()) {
            long heads = Options.require(o.heads, "--heads");
            Npy.Array outW = weights(Options.require(o.outProjWeight, "--out-proj-weight"), "--out-proj-weight");
            Tensor qkv = o.qkv == null ? null : RunCommand.load(arena, o.qkv, "--qkv");
            Tensor query = qkv != null ? null : RunCommand.load(arena, Options.require(o.query, "--query"), "--query");
            Tensor key = o.key == null ? query : RunCommand.load(arena, o.key, "--key");
            Tensor value = o.value == null ? key : RunCommand.load(arena, o.value, "--value");
            if (qkv != null && outW.shape().length != 2) {
                throw new Options.UsageException("--out-proj-weight " + o.outProjWeight + ": expected shape (E, E), "
                        + "got rank " + outW.shape().length);
            }
            long embedDim = qkv != null ? outW.shape()[0] : query.size(2);
            MultiHeadAttention.Builder b = MultiHeadAttention.builder(embedDim, heads).batchFirst(batchFirst)
                    .bias(o.inProjBias != null || o.outProjBias != null)
                    .addBiasKv(o.biasK != null).addZeroAttn(o.addZeroAttn);
            if (qkv == null) {
                b.kdim(key.size(2)).vdim(value.size(2));
            }
            if (o.kvHeads != null) {
                b.kvHeads(o.kvHeads);
            }
            RunCommand.Positional p = r.positional;
            if (p.ropeBase != null) {
                b.rope(p.ropeBase.floatValue(), p.ropeLayout == null ? Rope.Layout.HALF : p.ropeLayout);
            }
            MultiHeadAttention mha = b.build(arena);
            if (qkv == null) {
                loadInProjection(mha, o);
            }
            mha.loadOutProj(outW.floats(), floats(o.outProjBias, "--out-proj-bias"));
            if (o.biasK != null) {
                mha.loadBiasKv(floats(o.biasK, "--bias-k"), floats(o.biasV, "--bias-v"));
            }

            Tensor tokens = qkv != null ? qkv : query;
            long batch = tokens.size(batchFirst ? 0 : 1), lq = tokens.size(batchFirst ? 1 : 0);
            long lk = qkv != null ? lq : key.size(batchFirst ? 1 : 0);
            AttentionSpec spec = spec(arena, r, heads, batch, lq, lk);
            MultiHeadAttention.NeedWeights need = r.common.weights == null ? MultiHeadAttention.NeedWeights.NONE
                    : o.averageWeights ? MultiHeadAttention.NeedWeights.AVERAGED
                    : MultiHeadAttention.NeedWeights.PER_HEAD;
            LayerOutput out = qkv != null ? mha.forwardPacked(arena, qkv, spec, need)
                    : mha.forward(arena, query, key, value, spec, need);
            Npy.write(Path.of(outFile), out.output().toArray(), out.output().shape());
            if (out.weights() != null) {
                Npy.write(Path.of(r.common.weights), out.weights().toArray(), out.weights().shape());
            }
        }
    }

    /** The in-projection: one packed {@code in_proj_weight}, or separate q, k and v weights. */
    private static void loadInProjection(MultiHeadAttention mha, RunCommand.Mha o) throws IOException {
        float[] inBias = floats(o.inProjBias, "--in-proj-bias");
        if (o.inProjWeight != null) {
            mha.loadInProj(floats(o.inProjWeight, "--in-proj-weight"), inBias);
        } else {
            mha.loadQkv(floats(Options.require(o.qProjWeight, "--q-proj-weight"), "--q-proj-weight"),
                    floats(Options.require(o.kProjWeight, "--k-proj-weight"), "--k-proj-weight"),
                    floats(Options.require(o.vProjWeight, "--v-proj-weight"), "--v-proj-weight"), inBias);
        }
    }

    /** The call's options: causal rule, window, masks, scale, softcap, ALiBi, T5 bias, backend. */
    private static AttentionSpec spec(Arena arena, RunCommand r, long heads, long batch, long lq, long lk)
            throws IOException {
        RunCommand.Mha o = r.mha;
        RunCommand.Positional p = r.positional;
        AttentionSpec.Builder spec = AttentionSpec.builder();
        if (r.qkv.align != null || r.qkv.causal) {
            spec.causal(r.qkv.align == null ? Causal.TOP_LEFT : r.qkv.align);
        }
        if (r.qkv.window != null) {
            r.qkv.window.applyTo(spec);
        }
        if (r.qkv.scale != null) {
            spec.scale(r.qkv.scale.floatValue());
        }
        if (p.softcap != null) {
            spec.softcap(p.softcap.floatValue());
        }
        if (p.alibi) {
            spec.alibi(Alibi.slopes(arena, Math.toIntExact(heads)));
        }
        if (p.relBias != null) {
            Tensor table = RuleRunCommand.matrix(arena, p.relBias, "--rel-bias");
            int maxDistance = p.relMaxDistance == null ? 128 : p.relMaxDistance.intValue();
            spec.relativeBias(new RelativePositionBias(table, !p.relUnidirectional, maxDistance));
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
        return spec.build();
    }

    /** The inputs --qkv replaces are refused beside it. */
    private static void refuseWithQkv(String... namesAndValues) {
        for (int i = 0; i < namesAndValues.length; i += 2) {
            if (namesAndValues[i + 1] != null) {
                throw new Options.UsageException(namesAndValues[i] + " is not an option with --qkv, which holds the "
                        + "projected queries, keys and values");
            }
        }
    }

    private static Npy.Array weights(String file, String option) throws IOException {
        Npy.Array a = Npy.read(option, file);
        if (a.isBoolean()) {
            throw new Options.UsageException(option + " " + file + ": expected float32 '<f4' or float16 '<f2' weights, "
                    + "got bool");
        }
        return a;
    }

    private static float[] floats(String file, String option) throws IOException {
        return file == null ? null : weights(file, option).floats();
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
