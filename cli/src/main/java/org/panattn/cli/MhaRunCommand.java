package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.panattn.AttentionSpec;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.Tensor;
import org.panattn.layers.LayerOutput;
import org.panattn.layers.MultiHeadAttention;

/** {@code run --variant mha}: a multi-head attention layer with PyTorch-named weight files. */
final class MhaRunCommand {
    static final String USAGE = """
            run --variant mha --query Q.npy [--key K.npy --value V.npy] --heads H [--kv-heads HKV]
                (--in-proj-weight W.npy | --q-proj-weight W.npy --k-proj-weight W.npy --v-proj-weight W.npy)
                [--in-proj-bias B.npy] --out-proj-weight W.npy [--out-proj-bias B.npy]
                [--causal] [--key-padding-mask M.npy] [--attn-mask M.npy] [--window W]
                [--seq-first] [--backend native|java|vector] --out OUT.npy [--weights W.npy [--average-weights]]
              Inputs (B, L, E), or (L, B, E) with --seq-first (PyTorch's default layout);
              key and value default to the query (self-attention). Weights use the names
              and shapes of PyTorch's nn.MultiheadAttention state_dict. Boolean masks mean
              true = attend (the inverse of PyTorch's boolean masks: pass ~mask); float
              masks are added to the scores. --key-padding-mask is (B, Lk); --attn-mask is
              (Lq, Lk), (B*H, Lq, Lk) or (B, H, Lq, Lk).""";

    private MhaRunCommand() {
    }

    static void run(String[] args) throws IOException {
        Options o = new Options(args, Set.of("--causal", "--seq-first", "--average-weights"),
                Set.of("--variant", "--query", "--key", "--value", "--heads", "--kv-heads", "--in-proj-weight",
                        "--in-proj-bias", "--q-proj-weight", "--k-proj-weight", "--v-proj-weight",
                        "--out-proj-weight", "--out-proj-bias", "--key-padding-mask", "--attn-mask", "--window",
                        "--backend", "--out", "--weights"));
        o.checkOutputs(List.of("--query", "--key", "--value", "--in-proj-weight", "--in-proj-bias", "--q-proj-weight",
                "--k-proj-weight", "--v-proj-weight", "--out-proj-weight", "--out-proj-bias", "--key-padding-mask",
                "--attn-mask"), List.of("--out", "--weights"));
        boolean batchFirst = !o.flag("--seq-first");
        try (Arena arena = Arena.ofConfined()) {
            Tensor query = RunCommand.load(arena, o.require("--query"), "--query");
            Tensor key = o.get("--key") == null ? query : RunCommand.load(arena, o.get("--key"), "--key");
            Tensor value = o.get("--value") == null ? key : RunCommand.load(arena, o.get("--value"), "--value");
            o.require("--heads");
            long heads = o.integer("--heads", 0, 1, Long.MAX_VALUE);
            MultiHeadAttention.Builder b = MultiHeadAttention.builder(query.size(2), heads)
                    .kdim(key.size(2)).vdim(value.size(2)).batchFirst(batchFirst)
                    .bias(o.get("--in-proj-bias") != null || o.get("--out-proj-bias") != null);
            if (o.get("--kv-heads") != null) {
                b.kvHeads(o.integer("--kv-heads", heads, 1, Long.MAX_VALUE));
            }
            MultiHeadAttention mha = b.build(arena);
            float[] inBias = floats(o.get("--in-proj-bias"), "--in-proj-bias");
            if (o.get("--in-proj-weight") != null) {
                mha.loadInProj(floats(o.get("--in-proj-weight"), "--in-proj-weight"), inBias);
            } else {
                mha.loadQkv(floats(o.require("--q-proj-weight"), "--q-proj-weight"),
                        floats(o.require("--k-proj-weight"), "--k-proj-weight"),
                        floats(o.require("--v-proj-weight"), "--v-proj-weight"), inBias);
            }
            mha.loadOutProj(floats(o.require("--out-proj-weight"), "--out-proj-weight"),
                    floats(o.get("--out-proj-bias"), "--out-proj-bias"));

            long batch = query.size(batchFirst ? 0 : 1);
            long lq = query.size(batchFirst ? 1 : 0), lk = key.size(batchFirst ? 1 : 0);
            AttentionSpec.Builder spec = AttentionSpec.builder().causal(o.flag("--causal") ? Causal.TOP_LEFT : Causal.NONE);
            if (o.get("--window") != null) {
                spec.window(o.integer("--window", 0, 0, Long.MAX_VALUE));
            }
            if (o.get("--backend") != null) {
                spec.backend(RunCommand.parseBackend(o.get("--backend")));
            }
            if (o.get("--key-padding-mask") != null) {
                spec.keyPadding(keyPadding(arena, o.get("--key-padding-mask"), batch, lk));
            }
            if (o.get("--attn-mask") != null) {
                spec.mask(attnMask(arena, o.get("--attn-mask"), batch, heads, lq, lk));
            }
            MultiHeadAttention.NeedWeights need = o.get("--weights") == null ? MultiHeadAttention.NeedWeights.NONE
                    : o.flag("--average-weights") ? MultiHeadAttention.NeedWeights.AVERAGED
                    : MultiHeadAttention.NeedWeights.PER_HEAD;
            LayerOutput r = mha.forward(arena, query, key, value, spec.build(), need);
            Npy.write(Path.of(o.require("--out")), r.output().toArray(), r.output().shape());
            if (r.weights() != null) {
                Npy.write(Path.of(o.get("--weights")), r.weights().toArray(), r.weights().shape());
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
