package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;

import org.panattn.AttentionSpec;
import org.panattn.Mask;
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
        Map<String, String> inputs = r.inputs("--query", o.query, "--key", o.key, "--value", o.value, "--qkv", o.qkv);
        inputs.putAll(o.weightFiles().files());
        inputs.putAll(Options.files("--bias-k", o.biasK, "--bias-v", o.biasV, "--attn-mask", o.attnMask));
        Options.checkOutputs(inputs, r.outputs());
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
        Rope.Layout layout = r.rotary.layout();
        try (Arena arena = Arena.ofConfined()) {
            long heads = Options.require(o.heads, "--heads");
            Tensor qkv = o.qkv == null ? null : RunCommand.load(arena, o.qkv, "--qkv");
            Tensor query = qkv != null ? null : RunCommand.load(arena, Options.require(o.query, "--query"), "--query");
            Tensor key = o.key == null ? query : RunCommand.load(arena, o.key, "--key");
            Tensor value = o.value == null ? key : RunCommand.load(arena, o.value, "--value");
            long embedDim = qkv != null ? embedDim(o.outProjWeight) : query.size(2);
            MultiHeadAttention.Builder b = MultiHeadAttention.builder(embedDim, heads).batchFirst(batchFirst)
                    .addBiasKv(o.biasK != null).addZeroAttn(o.addZeroAttn);
            if (qkv == null) {
                b.kdim(key.size(2)).vdim(value.size(2));
            }
            if (o.kvHeads != null) {
                b.kvHeads(o.kvHeads);
            }
            if (r.rotary.ropeBase != null) {
                b.rope(r.rotary.ropeBase.floatValue(), layout);
            }
            // --qkv is the in-projection's output: the layer's own in-projection is not used.
            MultiHeadAttention mha = o.weightFiles().load(arena, b, qkv == null);
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

    /** The call's options: causal rule, window, masks, scale, softcap, ALiBi, T5 bias, backend. */
    private static AttentionSpec spec(Arena arena, RunCommand r, long heads, long batch, long lq, long lk)
            throws IOException {
        SpecOptions.Sizes sizes = new SpecOptions.Sizes(batch, heads, lq, lk);
        AttentionSpec.Builder spec = AttentionSpec.builder().backend(r.common.backend);
        r.masks.apply(arena, spec, sizes);
        r.terms.apply(arena, spec, sizes, r.masks.rule());
        if (r.mha.attnMask != null) {
            spec.mask(attnMask(arena, r.mha.attnMask, batch, heads, lq, lk));
        }
        return spec.build();
    }

    /** With --qkv, E is out_proj.weight's (E, E): no input has it. */
    private static long embedDim(String outProjWeight) throws IOException {
        long[] shape = weights(Options.require(outProjWeight, "--out-proj-weight"), "--out-proj-weight").shape();
        if (shape.length != 2) {
            throw new Options.UsageException("--out-proj-weight " + outProjWeight + ": expected shape (E, E), got "
                    + Inputs.shape(shape));
        }
        return shape[0];
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
