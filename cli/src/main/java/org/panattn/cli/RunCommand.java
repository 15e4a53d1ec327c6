package org.panattn.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import org.panattn.Alibi;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.Tensor;

/** {@code run}: attention on .npy files, so results can be checked against NumPy or PyTorch. */
final class RunCommand {
    static final String USAGE = """
            run [--variant sdpa] --q Q.npy --k K.npy --v V.npy --out OUT.npy [--mask M.npy] [--causal]
                [--causal-align top-left|bottom-right] [--scale S] [--backend native|java|vector]
                [--weights W.npy] [--softcap S] [--alibi] [--rel-bias TABLE.npy
                [--rel-max-distance N] [--rel-unidirectional]] [--rope-base B [--rope-layout half|interleaved]]
              Q (B,H,Lq,Dk), K (B,Hkv,Lk,Dk), V (B,Hkv,Lk,Dv), or all rank 3 (B,L,D):
              float32 '<f4' in C order. The mask is (Lq,Lk), (B,Lq,Lk) or (B,H,Lq,Lk):
              bool '|b1' (true = attend) or float32 '<f4' (added to the scores). TABLE is T5's
              (numBuckets, H) relative_attention_bias; --alibi uses the paper's slopes.""";

    private RunCommand() {
    }

    static void run(String[] args, PrintStream out) throws IOException {
        String variant = variant(args);
        switch (variant) {
            case "sdpa" -> runSdpa(args);
            case "mha" -> MhaRunCommand.run(args);
            case "general", "additive", "concat", "concat-tanh", "pooling" -> RuleRunCommand.run(variant, args);
            default -> throw new Options.UsageException("--variant must be sdpa, mha, general, additive, concat, concat-tanh or pooling, got '" + variant + "'");
        }
    }

    /** The value of --variant, "sdpa" when absent. */
    private static String variant(String[] args) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("--variant")) {
                return args[i + 1];
            }
        }
        return "sdpa";
    }

    private static void runSdpa(String[] args) throws IOException {
        Options o = new Options(args, Set.of("--causal", "--alibi", "--rel-unidirectional"),
                Set.of("--variant", "--q", "--k", "--v", "--out", "--mask", "--causal-align", "--scale", "--backend",
                        "--weights", "--softcap", "--rel-bias", "--rel-max-distance", "--rope-base", "--rope-layout"));
        o.checkOutputs(List.of("--q", "--k", "--v", "--mask", "--rel-bias"), List.of("--out", "--weights"));
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = load(arena, o.require("--q"), "--q");
            Tensor k = load(arena, o.require("--k"), "--k");
            Tensor v = load(arena, o.require("--v"), "--v");
            AttentionSpec.Builder spec = AttentionSpec.builder();
            String align = o.get("--causal-align");
            if (align != null || o.flag("--causal")) {
                spec.causal(switch (align == null ? "top-left" : align) {
                    case "top-left" -> Causal.TOP_LEFT;
                    case "bottom-right" -> Causal.BOTTOM_RIGHT;
                    default -> throw new Options.UsageException("--causal-align must be top-left or bottom-right");
                });
            }
            if (o.get("--scale") != null) {
                spec.scale((float) o.number("--scale", 0));
            }
            if (o.get("--backend") != null) {
                spec.backend(parseBackend(o.get("--backend")));
            }
            if (o.get("--mask") != null) {
                spec.mask(loadMask(arena, o.get("--mask")));
            }
            positional(arena, o, spec, q, k, o.get("--backend") == null ? Panattn.defaultBackend()
                    : parseBackend(o.get("--backend")));
            long[] outShape = q.shape();
            outShape[outShape.length - 1] = v.size(v.rank() - 1);
            Tensor result = Tensor.allocate(arena, outShape);
            Tensor weights = null;
            if (o.get("--weights") != null) {
                long[] ws = q.shape();
                ws[ws.length - 1] = k.size(k.rank() - 2);
                weights = Tensor.allocate(arena, ws);
                spec.weights(weights);
            }
            Attention.scaledDotProduct(q, k, v, result, spec.build());
            Npy.write(Path.of(o.require("--out")), result.toArray(), result.shape());
            if (weights != null) {
                Npy.write(Path.of(o.get("--weights")), weights.toArray(), weights.shape());
            }
        }
    }

    /** --softcap, --alibi, --rel-bias and --rope-base: positional variants of scaled dot-product attention. */
    private static void positional(Arena arena, Options o, AttentionSpec.Builder spec, Tensor q, Tensor k,
                                   Backend backend) throws IOException {
        int heads = q.rank() == 4 ? (int) q.size(1) : 1;
        if (o.get("--softcap") != null) {
            spec.softcap((float) o.number("--softcap", 0));
        }
        if (o.flag("--alibi")) {
            spec.alibi(Alibi.slopes(arena, heads));
        }
        if (o.get("--rel-bias") != null) {
            Tensor table = RuleRunCommand.matrix(arena, o.get("--rel-bias"), "--rel-bias");
            int maxDistance = (int) o.integer("--rel-max-distance", 128, 2, Integer.MAX_VALUE);
            spec.relativeBias(new RelativePositionBias(table, !o.flag("--rel-unidirectional"), maxDistance));
        }
        if (o.get("--rope-base") != null) {
            float base = (float) o.number("--rope-base", 0);
            Rope.Layout layout = switch (o.get("--rope-layout") == null ? "half" : o.get("--rope-layout")) {
                case "half" -> Rope.Layout.HALF;
                case "interleaved" -> Rope.Layout.INTERLEAVED;
                default -> throw new Options.UsageException("--rope-layout must be half or interleaved");
            };
            // Queries sit at the end of the keys' positions when aligned bottom-right (decoding).
            long lq = q.size(q.rank() - 2), lk = k.size(k.rank() - 2);
            long queryStart = "bottom-right".equals(o.get("--causal-align")) ? lk - lq : 0;
            Rope.apply(q, queryStart, base, layout, backend);
            Rope.apply(k, 0, base, layout, backend);
        }
    }

    static Backend parseBackend(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "native" -> Backend.NATIVE;
            case "java" -> Backend.JAVA;
            case "vector" -> Backend.JAVA_VECTOR;
            default -> throw new Options.UsageException("--backend must be native, java or vector, got '" + name + "'");
        };
    }

    static Tensor load(Arena arena, String file, String option) throws IOException {
        Npy.Array a = Npy.read(option, file);
        if (a.isBoolean()) {
            throw new Options.UsageException(option + " " + file + ": expected float32 '<f4', got bool");
        }
        if (a.shape().length != 3 && a.shape().length != 4) {
            throw new Options.UsageException(option + " " + file + ": expected rank 3 or 4, got rank "
                    + a.shape().length);
        }
        return Tensor.of(arena, a.floats(), a.shape());
    }

    /** The --mask file. */
    static Mask loadMask(Arena arena, String file) throws IOException {
        Npy.Array a = Npy.read("--mask", file);
        return a.isBoolean() ? Mask.keep(arena, a.booleans(), a.shape())
                : Mask.additive(Tensor.of(arena, a.floats(), a.shape()));
    }
}
