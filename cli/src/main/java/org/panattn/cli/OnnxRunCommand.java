package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;

import org.panattn.OnnxAttention;
import org.panattn.Tensor;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

/**
 * {@code run --variant onnx}: the ONNX {@code Attention} operator on .npy files named as its inputs
 * and outputs. Q, K, V, attn_mask, scale, softcap and Y are the options every variant shares (--q,
 * --k, --v, --attn-mask, --scale, --softcap, --out); the rest are this variant's own.
 */
final class OnnxRunCommand {
    private OnnxRunCommand() {
    }

    /** The options --variant onnx takes besides --variant, --backend and --out. */
    static final List<String> OPTIONS = List.of("--q", "--k", "--v", "--attn-mask", "--scale", "--softcap",
            "--past-key", "--past-value", "--nonpad-kv-seqlen", "--is-causal", "--q-num-heads", "--kv-num-heads",
            "--qk-matmul-output-mode", "--softmax-precision", "--present-key", "--present-value",
            "--qk-matmul-output");

    /** The operator's own inputs, attributes and outputs, in ONNX's names spelt as options. */
    static final class Onnx {
        @Option(names = "--past-key", paramLabel = "PK.npy", order = 1,
                description = "past_key (B, Hkv, P, D)")
        String pastKey;

        @Option(names = "--past-value", paramLabel = "PV.npy", order = 2,
                description = "past_value (B, Hkv, P, Dv)")
        String pastValue;

        @Option(names = "--nonpad-kv-seqlen", paramLabel = "N.npy", order = 3,
                description = "nonpad_kv_seqlen (B), int64 '<i8'")
        String nonpadKvSeqlen;

        @Option(names = "--is-causal", order = 4,
                description = "is_causal: query i sees keys j <= i + past_sequence_length")
        boolean isCausal;

        @Option(names = "--q-num-heads", paramLabel = "H", order = 5, converter = Options.AtLeast1.class,
                description = "q_num_heads (required for 3-D inputs)")
        Long qNumHeads;

        @Option(names = "--kv-num-heads", paramLabel = "HKV", order = 6, converter = Options.AtLeast1.class,
                description = "kv_num_heads (required for 3-D inputs)")
        Long kvNumHeads;

        @Option(names = "--qk-matmul-output-mode", paramLabel = "M", order = 7, converter = Mode.class,
                description = "0 scaled Q·K^T (default), 1 softcapped, 2 masked, 3 softmax")
        Long qkMatmulOutputMode;

        @Option(names = "--softmax-precision", paramLabel = "T", order = 8, converter = Precision.class,
                description = "1, 10, 11 or 16 (accepted; the softmax runs in float32)")
        Long softmaxPrecision;

        @Option(names = "--present-key", paramLabel = "PK.npy", order = 9,
                description = "write present_key (B, Hkv, P+Lkv, D)")
        String presentKey;

        @Option(names = "--present-value", paramLabel = "PV.npy", order = 10,
                description = "write present_value (B, Hkv, P+Lkv, Dv)")
        String presentValue;

        @Option(names = "--qk-matmul-output", paramLabel = "QK.npy", order = 11,
                description = "write qk_matmul_output (B, Hq, Lq, P+Lkv)")
        String qkMatmulOutput;
    }

    static void run(RunCommand r) throws IOException {
        Onnx o = r.onnx;
        Options.checkOutputs(Options.files("--q", r.qkv.q, "--k", r.qkv.k, "--v", r.qkv.v, "--attn-mask",
                r.mha.attnMask, "--past-key", o.pastKey, "--past-value", o.pastValue, "--nonpad-kv-seqlen",
                o.nonpadKvSeqlen), Options.files("--out", r.common.out, "--present-key", o.presentKey,
                "--present-value", o.presentValue, "--qk-matmul-output", o.qkMatmulOutput));
        String outFile = Options.require(r.common.out, "--out");
        OnnxAttention op = operator(r);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = RunCommand.load(arena, Options.require(r.qkv.q, "--q"), "--q");
            Tensor k = RunCommand.load(arena, Options.require(r.qkv.k, "--k"), "--k");
            Tensor v = RunCommand.load(arena, Options.require(r.qkv.v, "--v"), "--v");
            Tensor pastKey = o.pastKey == null ? null : RunCommand.load(arena, o.pastKey, "--past-key");
            Tensor pastValue = o.pastValue == null ? null : RunCommand.load(arena, o.pastValue, "--past-value");
            OnnxAttention.AttnMask mask = r.mha.attnMask == null ? null : mask(arena, r.mha.attnMask);
            long[] lengths = o.nonpadKvSeqlen == null ? null : lengths(o.nonpadKvSeqlen);
            OnnxAttention.Outputs out = op.allocateOutputs(arena, q, k, v, pastKey, pastValue,
                    o.presentKey != null || o.presentValue != null, o.qkMatmulOutput != null);
            op.run(q, k, v, mask, pastKey, pastValue, lengths, out.y(), o.presentKey == null ? null : out.presentKey(),
                    o.presentValue == null ? null : out.presentValue(), out.qkMatmulOutput());
            write(outFile, out.y());
            write(o.presentKey, out.presentKey());
            write(o.presentValue, out.presentValue());
            write(o.qkMatmulOutput, out.qkMatmulOutput());
        }
    }

    /** The operator of the attribute options; a value the operator refuses is a usage error naming its option. */
    private static OnnxAttention operator(RunCommand r) {
        Onnx o = r.onnx;
        OnnxAttention.Builder b = OnnxAttention.builder().backend(r.common.backend).isCausal(o.isCausal);
        if (o.qNumHeads != null) {
            b.qNumHeads(o.qNumHeads);
        }
        if (o.kvNumHeads != null) {
            b.kvNumHeads(o.kvNumHeads);
        }
        if (o.qkMatmulOutputMode != null) {
            b.qkMatmulOutputMode(o.qkMatmulOutputMode.intValue());
        }
        if (o.softmaxPrecision != null) {
            b.softmaxPrecision(o.softmaxPrecision.intValue());
        }
        try {
            if (r.terms.scale != null) {
                b.scale(r.terms.scale.floatValue());
            }
        } catch (IllegalArgumentException e) {
            throw new Options.UsageException("--scale: " + e.getMessage());
        }
        try {
            if (r.terms.softcap != null) {
                b.softcap(r.terms.softcap.floatValue());
            }
        } catch (IllegalArgumentException e) {
            throw new Options.UsageException("--softcap: " + e.getMessage());
        }
        return b.build();
    }

    /** The --attn-mask file: bool (true = take part) or float32, rank 1 to 4. */
    private static OnnxAttention.AttnMask mask(Arena arena, String file) throws IOException {
        Npy.Array a = Npy.read("--attn-mask", file);
        if (a.shape().length < 1 || a.shape().length > 4) {
            throw new Options.UsageException("--attn-mask " + file + ": expected rank 1 to 4, got rank "
                    + a.shape().length);
        }
        return a.isBoolean() ? OnnxAttention.AttnMask.keep(arena, a.booleans(), a.shape())
                : OnnxAttention.AttnMask.additive(Tensor.of(arena, a.floats(), a.shape()));
    }

    /** The --nonpad-kv-seqlen file: int64, rank 1. */
    private static long[] lengths(String file) throws IOException {
        Npy.Array a = Npy.readInt64("--nonpad-kv-seqlen", file);
        if (a.shape().length != 1) {
            throw new Options.UsageException("--nonpad-kv-seqlen " + file + ": expected rank 1 (batch_size), got rank "
                    + a.shape().length);
        }
        return a.longs();
    }

    private static void write(String file, Tensor t) throws IOException {
        if (file != null) {
            Npy.write(Path.of(file), t.toArray(), t.shape());
        }
    }

    /** qk_matmul_output_mode: 0 to 3. */
    static final class Mode extends Options.Integer {
        Mode() {
            super(0, 3);
        }
    }

    /** softmax_precision: an ONNX floating-point data type. */
    static final class Precision implements ITypeConverter<Long> {
        @Override
        public Long convert(String v) {
            return switch (v.trim()) {
                case "1", "10", "11", "16" -> Long.parseLong(v.trim());
                default -> throw new Options.BadValue("expected 1 (FLOAT), 10 (FLOAT16), 11 (DOUBLE) or 16 (BFLOAT16), "
                        + "got \"" + v + "\"");
            };
        }
    }
}
