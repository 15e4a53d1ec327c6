package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.panattn.Alibi;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Dtype;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.Tensor;

import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code run}: attention on .npy files, so results can be checked against NumPy or PyTorch. One command
 * for every variant (--variant), each taking only its own options; the help lists them by variant.
 */
@Command(name = "run", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false, separator = " ", descriptionHeading = "%n",
        synopsisHeading = "usage: ", optionListHeading = "%nOptions:%n",
        customSynopsis = {
            "panattn run [--variant sdpa] --q Q.npy --k K.npy --v V.npy --out OUT.npy [OPTIONS]",
            "       panattn run --variant general|additive|concat|concat-tanh --q Q.npy --k K.npy --v V.npy",
            "                   (--w W.npy | --wq WQ.npy --wk WK.npy --v-vec VV.npy) [--bias B.npy]",
            "                   --out OUT.npy [OPTIONS]",
            "       panattn run --variant mha --query X.npy --heads H (--in-proj-weight W.npy |",
            "                   --q-proj-weight W.npy --k-proj-weight W.npy --v-proj-weight W.npy)",
            "                   --out-proj-weight W.npy --out OUT.npy [OPTIONS]",
            "       panattn run --variant mha --qkv QKV.npy --heads H --out-proj-weight W.npy --out OUT.npy",
            "                   [OPTIONS]",
            "       panattn run --variant pooling --x X.npy --query QV.npy --out OUT.npy [OPTIONS]",
            "       panattn run --variant onnx --q Q.npy --k K.npy --v V.npy --out Y.npy [OPTIONS]"},
        description = {
            "Attention on .npy files: sdpa, mha, general, additive, concat, concat-tanh, pooling, onnx.",
            "",
            "Reads and writes NumPy .npy files, so results can be checked against NumPy or PyTorch:",
            "float32 '<f4' or float16 '<f2' in C order; masks bool '|b1' (true = attend) or float",
            "(added to the scores). Outputs are float32. An output may share its path neither with",
            "another output nor with an input, and every output folder is checked before anything runs."},
        footer = {"",
            "Shapes: Q (B,H,Lq,Dk), K (B,Hkv,Lk,Dk), V (B,Hkv,Lk,Dv) with H a multiple of Hkv, or all",
            "rank 3 (B,L,D). Score rules: general q^T W k; additive v^T tanh(Wq q + Wk k + b);",
            "concat-tanh sum(tanh(W [q; k] + b)); concat softmax(W [q; k] + b) V, with one key per query:",
            "K (B,Lq,Dk), V (B,Lv,Dv). mha: inputs (B,L,E), or (L,B,E) with --seq-first (PyTorch's",
            "default layout); weights with the names and shapes of nn.MultiheadAttention's state_dict.",
            "Boolean masks mean true = attend, the inverse of PyTorch's boolean masks (pass ~mask)."})
final class RunCommand implements Callable<Integer> {
    /** The variants, in the usage's order. */
    static final List<String> VARIANTS = List.of("sdpa", "mha", "general", "additive", "concat", "concat-tanh",
            "pooling", "onnx");

    @Spec
    CommandSpec spec;

    @ArgGroup(validate = false, order = 1, heading = "%nEvery variant:%n")
    Common common = new Common();

    @ArgGroup(validate = false, order = 2, heading = "%nsdpa, and the score rules general, additive, concat, "
            + "concat-tanh:%n")
    Qkv qkv = new Qkv();

    @ArgGroup(validate = false, order = 3, heading = "%nPositional terms (sdpa, mha):%n")
    Positional positional = new Positional();

    @ArgGroup(validate = false, order = 4, heading = "%nThe score rules' weights:%n")
    Rules rules = new Rules();

    @ArgGroup(validate = false, order = 5, heading = "%nMulti-head attention layer (mha):%n")
    Mha mha = new Mha();

    @ArgGroup(validate = false, order = 6, heading = "%nAttention pooling (pooling), with --query QV.npy (D) and "
            + "--key-padding-mask M.npy (B, L) bool:%n")
    Pooling pooling = new Pooling();

    @ArgGroup(validate = false, order = 7, heading = "%nThe ONNX Attention operator (onnx, opset 23/24): Q, K, V, "
            + "attn_mask, scale, softcap%nand Y are --q, --k, --v, --attn-mask (bool or float, rank 1 to 4, NumPy "
            + "broadcasting),%n--scale, --softcap and --out; 3-D inputs are (B, L, heads*D). Its other inputs, "
            + "attributes%nand outputs:%n")
    OnnxRunCommand.Onnx onnx = new OnnxRunCommand.Onnx();

    static final class Common {
        @Option(names = "--variant", paramLabel = "V", order = 1, converter = VariantName.class,
                description = "sdpa (default), mha, general, additive, concat, concat-tanh, pooling or onnx")
        String variant = "sdpa";

        @Option(names = "--backend", paramLabel = "B", order = 2, converter = Options.BackendName.class,
                description = "native, java or vector (default: native when the library loads, else java)")
        Backend backend;

        @Option(names = "--out", paramLabel = "OUT.npy", order = 3, description = "the output (required)")
        String out;

        @Option(names = "--weights", paramLabel = "W.npy", order = 4, description = "also write the attention weights")
        String weights;
    }

    static final class Qkv {
        @Option(names = "--q", paramLabel = "Q.npy", order = 1, description = "queries (required)")
        String q;

        @Option(names = "--k", paramLabel = "K.npy", order = 2, description = "keys (required)")
        String k;

        @Option(names = "--v", paramLabel = "V.npy", order = 3, description = "values (required)")
        String v;

        @Option(names = "--mask", paramLabel = "M.npy", order = 4,
                description = "(Lq,Lk), (B,Lq,Lk) or (B,H,Lq,Lk), bool or float")
        String mask;

        @Option(names = "--causal", order = 5, description = "causal, aligned top-left (also for mha)")
        boolean causal;

        @Option(names = "--causal-align", paramLabel = "A", order = 6, converter = Align.class,
                description = "top-left or bottom-right (decoding); implies --causal (sdpa, mha)")
        Causal align;

        @Option(names = "--scale", paramLabel = "S", order = 7, converter = Options.Number.class,
                description = "the scores' scale (default 1/sqrt(Dk); sdpa, mha)")
        Double scale;

        @Option(names = "--window", paramLabel = "W|L,R", order = 8, converter = WindowValue.class,
                description = "W: the last W keys up to each query (needs --causal); L,R: the keys p-L to p+R "
                    + "around each query's position p, -1 for no bound, with or without --causal (also mha)")
        Window window;

        @Option(names = "--key-lengths", paramLabel = "N,...", order = 9, converter = Lengths.class,
                description = "one a batch row: row b sees its first N_b keys only (bottom-right alignment then "
                    + "aligns each row to its own length)")
        KeyLengths keyLengths;

        /** --window and --key-lengths, as given. */
        AttentionSpec.Builder keys(AttentionSpec.Builder spec) {
            if (window != null) {
                window.applyTo(spec);
            }
            return keyLengths != null ? spec.keyLengths(keyLengths.values()) : spec;
        }

        @Option(names = "--dtype", paramLabel = "T", order = 10, converter = Options.DtypeName.class,
                description = "f32, f16 or bf16: Q, K and V are stored so (converted, rounding to nearest even) "
                        + "and computed on in float32; default: each file's own, f16 for '<f2' (sdpa)")
        Dtype dtype;
    }

    static final class Positional {
        @Option(names = "--softcap", paramLabel = "S", order = 1, converter = Options.Number.class,
                description = "logit soft-capping S·tanh(score/S)")
        Double softcap;

        @Option(names = "--alibi", order = 2, description = "ALiBi, with the paper's slopes")
        boolean alibi;

        @Option(names = "--rel-bias", paramLabel = "TABLE.npy", order = 3,
                description = "T5's relative_attention_bias (numBuckets, H)")
        String relBias;

        @Option(names = "--rel-max-distance", paramLabel = "N", order = 4, converter = Options.Distance.class,
                description = "T5's max_distance (default 128)")
        Long relMaxDistance;

        @Option(names = "--rel-unidirectional", order = 5, description = "T5's decoder buckets (not bidirectional)")
        boolean relUnidirectional;

        @Option(names = "--rope-base", paramLabel = "B", order = 6, converter = Options.Number.class,
                description = "rotary embeddings on Q and K, with this base (10000 is usual)")
        Double ropeBase;

        @Option(names = "--rope-layout", paramLabel = "L", order = 7, converter = RopeLayout.class,
                description = "half (default) or interleaved")
        Rope.Layout ropeLayout;
    }

    static final class Rules {
        @Option(names = "--w", paramLabel = "W.npy", order = 1,
                description = "general (Dq, Dk); concat-tanh (A, Dq+Dk); concat (Lv, Dq+Dk) (required)")
        String w;

        @Option(names = "--wq", paramLabel = "WQ.npy", order = 2, description = "additive (A, Dq)")
        String wq;

        @Option(names = "--wk", paramLabel = "WK.npy", order = 3, description = "additive (A, Dk)")
        String wk;

        @Option(names = "--v-vec", paramLabel = "VV.npy", order = 4, description = "additive (A)")
        String vVec;

        @Option(names = "--bias", paramLabel = "B.npy", order = 5,
                description = "additive and concat-tanh (A), concat (Lv); optional")
        String bias;
    }

    static final class Mha {
        @Option(names = "--query", paramLabel = "X.npy", order = 1,
                description = "the query input; pooling: the query vector QV (D)")
        String query;

        @Option(names = "--key", paramLabel = "K.npy", order = 2, description = "default: the query (self-attention)")
        String key;

        @Option(names = "--value", paramLabel = "V.npy", order = 3, description = "default: the key")
        String value;

        @Option(names = "--heads", paramLabel = "H", order = 4, converter = Options.AtLeast1.class,
                description = "num_heads (required)")
        Long heads;

        @Option(names = "--kv-heads", paramLabel = "HKV", order = 5, converter = Options.AtLeast1.class,
                description = "key/value heads (grouped-query attention; default H)")
        Long kvHeads;

        @Option(names = "--in-proj-weight", paramLabel = "W.npy", order = 6, description = "(3E, E)")
        String inProjWeight;

        @Option(names = "--q-proj-weight", paramLabel = "W.npy", order = 7,
                description = "(E, E), with the next two instead of --in-proj-weight")
        String qProjWeight;

        @Option(names = "--k-proj-weight", paramLabel = "W.npy", order = 8, description = "(E, kdim)")
        String kProjWeight;

        @Option(names = "--v-proj-weight", paramLabel = "W.npy", order = 9, description = "(E, vdim)")
        String vProjWeight;

        @Option(names = "--in-proj-bias", paramLabel = "B.npy", order = 10, description = "(3E); optional")
        String inProjBias;

        @Option(names = "--out-proj-weight", paramLabel = "W.npy", order = 11, description = "(E, E) (required)")
        String outProjWeight;

        @Option(names = "--out-proj-bias", paramLabel = "B.npy", order = 12, description = "(E); optional")
        String outProjBias;

        @Option(names = "--key-padding-mask", paramLabel = "M.npy", order = 13,
                description = "(B, Lk); pooling: (B, L) bool")
        String keyPaddingMask;

        @Option(names = "--attn-mask", paramLabel = "M.npy", order = 14,
                description = "(Lq, Lk), (B*H, Lq, Lk) or (B, H, Lq, Lk)")
        String attnMask;

        @Option(names = "--seq-first", order = 16, description = "inputs are (L, B, E), PyTorch's default layout")
        boolean seqFirst;

        @Option(names = "--average-weights", order = 17, description = "--weights averaged over heads")
        boolean averageWeights;

        @Option(names = "--bias-k", paramLabel = "B.npy", order = 18,
                description = "bias_k (1, 1, E), with --bias-v: PyTorch's add_bias_kv")
        String biasK;

        @Option(names = "--bias-v", paramLabel = "B.npy", order = 19, description = "bias_v (1, 1, E)")
        String biasV;

        @Option(names = "--add-zero-attn", order = 20, description = "append a zero key and value (add_zero_attn)")
        boolean addZeroAttn;

        @Option(names = "--qkv", paramLabel = "QKV.npy", order = 21,
                description = "self-attention from the packed projection (B, L, 3E), q | k | v,"
                        + " instead of --query and the in-projection")
        String qkv;
    }

    static final class Pooling {
        @Option(names = "--x", paramLabel = "X.npy", order = 1, description = "the sequence (B, L, D)")
        String x;
    }

    /** The options each variant takes (besides --help). */
    private static List<String> allowed(String variant) {
        List<String> all = new ArrayList<>(List.of("--variant", "--backend", "--out", "--weights"));
        List<String> qkv = List.of("--q", "--k", "--v", "--mask", "--causal", "--window", "--key-lengths");
        switch (variant) {
            case "sdpa" -> {
                all.addAll(qkv);
                all.addAll(List.of("--causal-align", "--scale", "--dtype", "--softcap", "--alibi", "--rel-bias",
                        "--rel-max-distance", "--rel-unidirectional", "--rope-base", "--rope-layout"));
            }
            case "general" -> {
                all.addAll(qkv);
                all.add("--w");
            }
            case "additive" -> {
                all.addAll(qkv);
                all.addAll(List.of("--wq", "--wk", "--v-vec", "--bias"));
            }
            case "concat", "concat-tanh" -> {
                all.addAll(qkv);
                all.addAll(List.of("--w", "--bias"));
            }
            case "mha" -> all.addAll(List.of("--query", "--key", "--value", "--heads", "--kv-heads",
                    "--in-proj-weight", "--q-proj-weight", "--k-proj-weight", "--v-proj-weight", "--in-proj-bias",
                    "--out-proj-weight", "--out-proj-bias", "--key-padding-mask", "--attn-mask", "--window",
                    "--seq-first", "--average-weights", "--causal", "--causal-align", "--scale", "--softcap",
                    "--alibi", "--rel-bias", "--rel-max-distance", "--rel-unidirectional", "--rope-base",
                    "--rope-layout", "--bias-k", "--bias-v", "--add-zero-attn", "--qkv"));
            case "pooling" -> all.addAll(List.of("--x", "--query", "--key-padding-mask"));
            case "onnx" -> {
                all.remove("--weights"); // the weights are --qk-matmul-output with --qk-matmul-output-mode 3
                all.addAll(OnnxRunCommand.OPTIONS);
            }
            default -> throw new IllegalStateException(variant);
        }
        return all;
    }

    @Override
    public Integer call() throws IOException {
        String variant = common.variant;
        List<OptionSpec> matched = spec.commandLine().getParseResult().matchedOptions();
        for (OptionSpec o : matched) {
            // picocli lets an option of a group be given twice, the last value winning: refuse it like the others.
            if (o.arity().max() > 0 && o.originalStringValues().size() > 1) {
                throw new Options.UsageException(o.longestName() + " is given twice");
            }
        }
        List<String> given = matched.stream().map(OptionSpec::longestName).toList();
        Options.refuseOthers(given, allowed(variant), "--variant " + variant);
        switch (variant) {
            case "sdpa" -> runSdpa();
            case "mha" -> MhaRunCommand.run(this);
            case "onnx" -> OnnxRunCommand.run(this);
            default -> RuleRunCommand.run(variant, this);
        }
        return 0;
    }

    private void runSdpa() throws IOException {
        Options.checkOutputs(Options.files("--q", qkv.q, "--k", qkv.k, "--v", qkv.v, "--mask", qkv.mask,
                "--rel-bias", positional.relBias), Options.files("--out", common.out, "--weights", common.weights));
        String outFile = Options.require(common.out, "--out");
        try (Arena arena = Arena.ofConfined()) {
            Npy.Array qa = array(Options.require(qkv.q, "--q"), "--q");
            Npy.Array ka = array(Options.require(qkv.k, "--k"), "--k");
            Npy.Array va = array(Options.require(qkv.v, "--v"), "--v");
            Tensor q = Tensor.of(arena, qa.floats(), qa.shape());
            Tensor k = Tensor.of(arena, ka.floats(), ka.shape());
            Tensor v = Tensor.of(arena, va.floats(), va.shape());
            AttentionSpec.Builder spec = AttentionSpec.builder();
            if (qkv.align != null || qkv.causal) {
                spec.causal(qkv.align == null ? Causal.TOP_LEFT : qkv.align);
            }
            if (qkv.scale != null) {
                spec.scale(qkv.scale.floatValue());
            }
            if (common.backend != null) {
                spec.backend(common.backend);
            }
            if (qkv.mask != null) {
                spec.mask(loadMask(arena, qkv.mask));
            }
            qkv.keys(spec);
            positional(arena, spec, q, k, common.backend == null ? Panattn.defaultBackend() : common.backend);
            // Stored as asked (or as in the files) once RoPE, which rotates float32, has run.
            q = stored(arena, q, qa);
            k = stored(arena, k, ka);
            v = stored(arena, v, va);
            long[] outShape = q.shape();
            outShape[outShape.length - 1] = v.size(v.rank() - 1);
            Tensor result = Tensor.allocate(arena, outShape);
            Tensor weights = null;
            if (common.weights != null) {
                long[] ws = q.shape();
                ws[ws.length - 1] = k.size(k.rank() - 2);
                weights = Tensor.allocate(arena, ws);
                spec.weights(weights);
            }
            Attention.scaledDotProduct(q, k, v, result, spec.build());
            Npy.write(Path.of(outFile), result.toArray(), result.shape());
            if (weights != null) {
                Npy.write(Path.of(common.weights), weights.toArray(), weights.shape());
            }
        }
    }

    /** --softcap, --alibi, --rel-bias and --rope-base: positional variants of scaled dot-product attention. */
    private void positional(Arena arena, AttentionSpec.Builder spec, Tensor q, Tensor k, Backend backend)
            throws IOException {
        Positional p = positional;
        int heads = q.rank() == 4 ? (int) q.size(1) : 1;
        if (p.softcap != null) {
            spec.softcap(p.softcap.floatValue());
        }
        if (p.alibi) {
            spec.alibi(Alibi.slopes(arena, heads));
        }
        if (p.relBias != null) {
            Tensor table = RuleRunCommand.matrix(arena, p.relBias, "--rel-bias");
            int maxDistance = p.relMaxDistance == null ? 128 : p.relMaxDistance.intValue();
            spec.relativeBias(new RelativePositionBias(table, !p.relUnidirectional, maxDistance));
        }
        if (p.ropeBase != null) {
            Rope.Layout layout = p.ropeLayout == null ? Rope.Layout.HALF : p.ropeLayout;
            // Queries sit at the end of the keys' positions when aligned bottom-right (decoding).
            long lq = q.size(q.rank() - 2), lk = k.size(k.rank() - 2);
            long queryStart = qkv.align == Causal.BOTTOM_RIGHT ? lk - lq : 0;
            Rope.apply(q, queryStart, p.ropeBase.floatValue(), layout, backend);
            Rope.apply(k, 0, p.ropeBase.floatValue(), layout, backend);
        }
    }

    /** Q, K or V as --dtype says, else as its file holds it. */
    private Tensor stored(Arena arena, Tensor t, Npy.Array file) {
        Dtype dtype = qkv.dtype != null ? qkv.dtype : file.dtype();
        return dtype == Dtype.F32 ? t : t.to(arena, dtype);
    }

    /** A float32 tensor of a file's values (float16 ones widened, exactly). */
    static Tensor load(Arena arena, String file, String option) throws IOException {
        Npy.Array a = array(file, option);
        return Tensor.of(arena, a.floats(), a.shape());
    }

    /** A file of floats of rank 3 or 4. */
    private static Npy.Array array(String file, String option) throws IOException {
        Npy.Array a = Npy.read(option, file);
        if (a.isBoolean()) {
            throw new Options.UsageException(option + " " + file + ": expected float32 '<f4' or float16 '<f2', got "
                    + "bool");
        }
        if (a.shape().length != 3 && a.shape().length != 4) {
            throw new Options.UsageException(option + " " + file + ": expected rank 3 or 4, got rank "
                    + a.shape().length);
        }
        return a;
    }

    /** The --mask file. */
    static Mask loadMask(Arena arena, String file) throws IOException {
        Npy.Array a = Npy.read("--mask", file);
        return a.isBoolean() ? Mask.keep(arena, a.booleans(), a.shape())
                : Mask.additive(Tensor.of(arena, a.floats(), a.shape()));
    }

    static final class VariantName implements ITypeConverter<String> {
        @Override
        public String convert(String v) {
            if (!VARIANTS.contains(v)) {
                throw new Options.BadValue("expected sdpa, mha, general, additive, concat, concat-tanh, pooling or "
                        + "onnx, got '" + v + "'");
            }
            return v;
        }
    }

    static final class Align implements ITypeConverter<Causal> {
        @Override
        public Causal convert(String v) {
            return switch (v.toLowerCase(Locale.ROOT)) {
                case "top-left" -> Causal.TOP_LEFT;
                case "bottom-right" -> Causal.BOTTOM_RIGHT;
                default -> throw new Options.BadValue("expected top-left or bottom-right, got '" + v + "'");
            };
        }
    }

    /**
     * A window: {@code keys} > 0 the last {@code keys} keys up to each query
     * (AttentionSpec's window(W)), else the extents left and right.
     */
    record Window(long keys, long left, long right) {
        void applyTo(AttentionSpec.Builder spec) {
            if (keys > 0) {
                spec.window(keys);
            } else {
                spec.window(left, right);
            }
        }
    }

    /** W (an integer >= 0; 0 for none) or L,R (each an integer >= 0, or -1 for no bound). */
    static final class WindowValue implements ITypeConverter<Window> {
        @Override
        public Window convert(String v) {
            try {
                long[] n = Arrays.stream(v.split(",", -1)).mapToLong(x -> Long.parseLong(x.strip())).toArray();
                long none = AttentionSpec.UNBOUNDED;
                if (n.length == 1 && n[0] >= 0) {
                    return n[0] > 0 ? new Window(n[0], 0, 0) : new Window(0, none, none);
                }
                if (n.length == 2 && n[0] >= none && n[1] >= none) {
                    return new Window(0, n[0], n[1]);
                }
            } catch (NumberFormatException e) {
                // refused below
            }
            throw new Options.BadValue("expected W (an integer >= 0) or L,R (integers >= 0, or -1 for no bound), got \""
                    + v + "\"");
        }
    }

    /** The key length of each batch row. */
    record KeyLengths(long[] values) {
    }

    /** Integers >= 0, separated by commas. */
    static final class Lengths implements ITypeConverter<KeyLengths> {
        @Override
        public KeyLengths convert(String v) {
            try {
                long[] n = Arrays.stream(v.split(",", -1)).mapToLong(x -> Long.parseLong(x.strip())).toArray();
                if (Arrays.stream(n).allMatch(x -> x >= 0)) {
                    return new KeyLengths(n);
                }
            } catch (NumberFormatException e) {
                // refused below
            }
            throw new Options.BadValue("expected integers >= 0 separated by commas, one a batch row, got \"" + v
                    + "\"");
        }
    }

    static final class RopeLayout implements ITypeConverter<Rope.Layout> {
        @Override
        public Rope.Layout convert(String v) {
            return switch (v.toLowerCase(Locale.ROOT)) {
                case "half" -> Rope.Layout.HALF;
                case "interleaved" -> Rope.Layout.INTERLEAVED;
                default -> throw new Options.BadValue("expected half or interleaved, got '" + v + "'");
            };
        }
    }
}
