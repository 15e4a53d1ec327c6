package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Dtype;
import org.panattn.Panattn;
import org.panattn.Rope;
import org.panattn.Tensor;

import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
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
            "       panattn run --variant encoder-decoder --q Q.npy --k K.npy --v V.npy --attn-weight W.npy",
            "                   --combine-weight W.npy --out OUT.npy [OPTIONS]",
            "       panattn run --variant mha --query X.npy --heads H (--in-proj-weight W.npy |",
            "                   --q-proj-weight W.npy --k-proj-weight W.npy --v-proj-weight W.npy)",
            "                   --out-proj-weight W.npy --out OUT.npy [OPTIONS]",
            "       panattn run --variant mha --qkv QKV.npy --heads H --out-proj-weight W.npy --out OUT.npy",
            "                   [OPTIONS]",
            "       panattn run --variant pooling --x X.npy --query QV.npy --out OUT.npy [OPTIONS]",
            "       panattn run --variant onnx --q Q.npy --k K.npy --v V.npy --out Y.npy [OPTIONS]"},
        description = {
            "Attention on .npy files: sdpa, mha, score rules, encoder-decoder, pooling, onnx.",
            "",
            "Reads and writes NumPy .npy files, so results can be checked against NumPy or PyTorch:",
            "float32 '<f4' or float16 '<f2' in C order; masks bool '|b1' (true = attend) or float",
            "(added to the scores). Outputs are float32. An output may share its path neither with",
            "another output nor with an input, and every output folder is checked before anything runs."},
        footer = {"",
            "Shapes: Q (B,H,Lq,Dk), K (B,Hkv,Lk,Dk), V (B,Hkv,Lk,Dv) with H a multiple of Hkv, or all",
            "rank 3 (B,L,D). Score rules: general q^T W k; additive v^T tanh(Wq q + Wk k + b);",
            "concat-tanh sum(tanh(W [q; k] + b)); concat softmax(W [q; k] + b) V, with one key per query:",
            "K (B,Lq,Dk), V (B,Lv,Dv). encoder-decoder: concat's weights over V, then attn_combine of",
            "[q; weights·V]: Q (B,Lq,Dq), K (B,Lq,Dk), V (B,Lv,Dv). mha: inputs (B,L,E), or (L,B,E) with",
            "--seq-first (PyTorch's default layout); weights with the names and shapes of",
            "nn.MultiheadAttention's state_dict. Boolean masks mean true = attend, the inverse of",
            "PyTorch's boolean masks (pass ~mask). 'panattn decode' runs an mha layer token by token."})
final class RunCommand implements Callable<Integer> {
    /** The variants, in the usage's order. */
    static final List<String> VARIANTS = List.of("sdpa", "mha", "general", "additive", "concat", "concat-tanh",
            "encoder-decoder", "pooling", "onnx");

    @Spec
    CommandSpec spec;

    @ArgGroup(validate = false, order = 1, heading = "%nEvery variant:%n")
    Common common = new Common();

    @ArgGroup(validate = false, order = 2, heading = "%nsdpa, the score rules general, additive, concat, "
            + "concat-tanh, and encoder-decoder:%n")
    Qkv qkv = new Qkv();

    @ArgGroup(validate = false, order = 3, heading = "%nMasks and causal rule (sdpa, score rules, encoder-decoder; "
            + "mha: all but --mask, --key-lengths):%n")
    SpecOptions.Masks masks = new SpecOptions.Masks();

    @ArgGroup(validate = false, order = 4, heading = "%nWindow, scale and positional terms (sdpa, score rules, "
            + "encoder-decoder, mha):%n")
    SpecOptions.Terms terms = new SpecOptions.Terms();

    @ArgGroup(validate = false, order = 5, heading = "%nRotary embeddings of Q and K (sdpa; mha: of the layer's "
            + "projections):%n")
    Rotary rotary = new Rotary();

    @ArgGroup(validate = false, order = 6, heading = "%nThe score rules' weights:%n")
    Rules rules = new Rules();

    @ArgGroup(validate = false, order = 7, heading = "%nEncoder-decoder step (encoder-decoder), the tutorials' Attn "
            + "module's weights:%n")
    EncoderDecoder encoderDecoder = new EncoderDecoder();

    @ArgGroup(validate = false, order = 8, heading = "%nMulti-head attention layer (mha):%n")
    Mha mha = new Mha();

    @ArgGroup(validate = false, order = 9, heading = "%nAttention pooling (pooling), with --query QV.npy (D) and "
            + "--key-padding-mask M.npy (B, L) bool:%n")
    Pooling pooling = new Pooling();

    @ArgGroup(validate = false, order = 7, heading = "%nThe ONNX Attention operator (onnx, opset 23/24): Q, K, V, "
            + "attn_mask, scale, softcap%nand Y are --q, --k, --v, --attn-mask (bool or float, rank 1 to 4, NumPy "
            + "broadcasting),%n--scale, --softcap and --out; 3-D inputs are (B, L, heads*D). Its other inputs, "
            + "attributes%nand outputs:%n")
    OnnxRunCommand.Onnx onnx = new OnnxRunCommand.Onnx();

    static final class Common {
        @Option(names = "--variant", paramLabel = "V", order = 1, converter = VariantName.class,
                description = "sdpa (default), mha, general, additive, concat, concat-tanh, encoder-decoder, "
                        + "pooling or onnx")
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

        @Option(names = "--dtype", paramLabel = "T", order = 4, converter = Options.DtypeName.class,
                description = "f32, f16 or bf16: Q, K and V are stored so (converted, rounding to nearest even) "
                        + "and computed on in float32; default: each file's own, f16 for '<f2' (sdpa)")
        Dtype dtype;
    }

    /** --rope-base and --rope-layout (also decode's). */
    static final class Rotary {
        @Option(names = "--rope-base", paramLabel = "B", order = 1, converter = Options.Base.class,
                description = "rotary embeddings of the queries and keys, with this base (10000 is usual)")
        Double ropeBase;

        @Option(names = "--rope-layout", paramLabel = "L", order = 2, converter = RopeLayout.class,
                description = "half (default) or interleaved")
        Rope.Layout ropeLayout;

        /** The layout, refused without a base. */
        Rope.Layout layout() {
            if (ropeBase == null && ropeLayout != null) {
                throw new Options.UsageException("--rope-layout needs --rope-base");
            }
            return ropeLayout == null ? Rope.Layout.HALF : ropeLayout;
        }
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

    static final class EncoderDecoder {
        @Option(names = "--attn-weight", paramLabel = "W.npy", order = 1, description = "attn.weight (Lv, Dq+Dk) "
                + "(required)")
        String attnWeight;

        @Option(names = "--attn-bias", paramLabel = "B.npy", order = 2, description = "attn.bias (Lv); default 0")
        String attnBias;

        @Option(names = "--combine-weight", paramLabel = "W.npy", order = 3,
                description = "attn_combine.weight (OUT, Dq+Dv) (required)")
        String combineWeight;

        @Option(names = "--combine-bias", paramLabel = "B.npy", order = 4,
                description = "attn_combine.bias (OUT); default 0")
        String combineBias;
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

        @Option(names = "--attn-mask", paramLabel = "M.npy", order = 13,
                description = "(Lq, Lk), (B*H, Lq, Lk) or (B, H, Lq, Lk)")
        String attnMask;

        @Option(names = "--seq-first", order = 14, description = "inputs are (L, B, E), PyTorch's default layout")
        boolean seqFirst;

        @Option(names = "--average-weights", order = 15, description = "--weights averaged over heads")
        boolean averageWeights;

        @Option(names = "--bias-k", paramLabel = "B.npy", order = 16,
                description = "bias_k (1, 1, E), with --bias-v: PyTorch's add_bias_kv")
        String biasK;

        @Option(names = "--bias-v", paramLabel = "B.npy", order = 17, description = "bias_v (1, 1, E)")
        String biasV;

        @Option(names = "--add-zero-attn", order = 18, description = "append a zero key and value (add_zero_attn)")
        boolean addZeroAttn;

        @Option(names = "--qkv", paramLabel = "QKV.npy", order = 19,
                description = "self-attention from the packed projection (B, L, 3E), q | k | v,"
                        + " instead of --query and the in-projection")
        String qkv;

        /** The layer's weight files. */
        MhaWeightFiles weightFiles() {
            return new MhaWeightFiles(inProjWeight, qProjWeight, kProjWeight, vProjWeight, inProjBias, outProjWeight,
                    outProjBias);
        }
    }

    static final class Pooling {
        @Option(names = "--x", paramLabel = "X.npy", order = 1, description = "the sequence (B, L, D)")
        String x;
    }

    /** The options each variant takes (besides --help). */
    private static List<String> allowed(String variant) {
        List<String> all = new ArrayList<>(List.of("--variant", "--backend", "--out", "--weights"));
        // Every variant over Q, K and V takes every option of the spec; mha all but --mask (it has --attn-mask)
        // and --key-lengths.
        List<String> spec = List.of("--key-padding-mask", "--causal", "--causal-align", "--window", "--scale",
                "--softcap", "--alibi", "--rel-bias", "--rel-max-distance", "--rel-unidirectional");
        List<String> qkv = List.of("--q", "--k", "--v", "--mask", "--key-lengths");
        // pooling has no spec; onnx takes the operator's attributes instead (OnnxRunCommand.OPTIONS).
        if (!variant.equals("pooling") && !variant.equals("onnx")) {
            all.addAll(spec);
        }
        switch (variant) {
            case "sdpa" -> {
                all.addAll(qkv);
                all.addAll(List.of("--dtype", "--rope-base", "--rope-layout"));
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
            case "encoder-decoder" -> {
                all.addAll(qkv);
                all.addAll(List.of("--attn-weight", "--attn-bias", "--combine-weight", "--combine-bias"));
            }
            case "mha" -> all.addAll(List.of("--query", "--key", "--value", "--heads", "--kv-heads", "--in-proj-weight",
                    "--q-proj-weight", "--k-proj-weight", "--v-proj-weight", "--in-proj-bias", "--out-proj-weight",
                    "--out-proj-bias", "--attn-mask", "--seq-first", "--average-weights", "--rope-base", "--rope-layout",
                    "--bias-k", "--bias-v", "--add-zero-attn", "--qkv"));
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
        ParseResult parsed = spec.commandLine().getParseResult();
        Options.refuseRepeated(parsed);
        List<String> given = parsed.matchedOptions().stream().map(OptionSpec::longestName).toList();
        Options.refuseOthers(given, allowed(variant), "--variant " + variant);
        switch (variant) {
            case "sdpa" -> runSdpa();
            case "mha" -> MhaRunCommand.run(this);
            case "onnx" -> OnnxRunCommand.run(this);
            case "encoder-decoder" -> EncoderDecoderRunCommand.run(this);
            default -> RuleRunCommand.run(variant, this);
        }
        return 0;
    }

    /** The input files named by {@code namesAndValues} and by the masks and terms. */
    Map<String, String> inputs(String... namesAndValues) {
        Map<String, String> files = Options.files(namesAndValues);
        files.putAll(masks.files());
        files.putAll(terms.files());
        return files;
    }

    /** The output files. */
    Map<String, String> outputs() {
        return Options.files("--out", common.out, "--weights", common.weights);
    }

    /** A spec of --backend, the masks and the terms, checked against the sizes of q over v. */
    AttentionSpec.Builder spec(Arena arena, Tensor q, Tensor v) throws IOException {
        SpecOptions.Sizes sizes = SpecOptions.Sizes.of(q, v);
        AttentionSpec.Builder spec = AttentionSpec.builder().backend(common.backend);
        masks.apply(arena, spec, sizes);
        terms.apply(arena, spec, sizes, masks.rule());
        return spec;
    }

    private void runSdpa() throws IOException {
        Options.checkOutputs(inputs("--q", qkv.q, "--k", qkv.k, "--v", qkv.v), outputs());
        String outFile = Options.require(common.out, "--out");
        Rope.Layout layout = rotary.layout();
        try (Arena arena = Arena.ofConfined()) {
            Npy.Array qa = array(Options.require(qkv.q, "--q"), "--q");
            Npy.Array ka = array(Options.require(qkv.k, "--k"), "--k");
            Npy.Array va = array(Options.require(qkv.v, "--v"), "--v");
            Tensor q = Tensor.of(arena, qa.floats(), qa.shape());
            Tensor k = Tensor.of(arena, ka.floats(), ka.shape());
            Tensor v = Tensor.of(arena, va.floats(), va.shape());
            AttentionSpec.Builder spec = spec(arena, q, v);
            if (rotary.ropeBase != null) {
                // Queries sit at the end of the keys' positions when aligned bottom-right (decoding).
                long lq = q.size(q.rank() - 2), lk = k.size(k.rank() - 2);
                long queryStart = masks.rule() == Causal.BOTTOM_RIGHT ? lk - lq : 0;
                Backend backend = common.backend == null ? Panattn.defaultBackend() : common.backend;
                Rope.apply(q, queryStart, rotary.ropeBase.floatValue(), layout, backend);
                Rope.apply(k, 0, rotary.ropeBase.floatValue(), layout, backend);
            }
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

    static final class VariantName implements ITypeConverter<String> {
        @Override
        public String convert(String v) {
            if (!VARIANTS.contains(v)) {
                throw new Options.BadValue("expected sdpa, mha, general, additive, concat, concat-tanh, "
                        + "encoder-decoder, pooling or onnx, got '" + v + "'");
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
