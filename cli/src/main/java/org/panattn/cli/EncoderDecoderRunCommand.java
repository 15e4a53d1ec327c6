package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;

import org.panattn.Tensor;
import org.panattn.layers.EncoderDecoderAttention;
import org.panattn.layers.LayerOutput;

/**
 * {@code run --variant encoder-decoder}: the seq2seq tutorials' attention step ({@link EncoderDecoderAttention})
 * with the weight files of its {@code Attn} module, and every option of the spec.
 */
final class EncoderDecoderRunCommand {
    private EncoderDecoderRunCommand() {
    }

    static void run(RunCommand r) throws IOException {
        RunCommand.Qkv o = r.qkv;
        RunCommand.EncoderDecoder w = r.encoderDecoder;
        Options.checkOutputs(r.inputs("--q", o.q, "--k", o.k, "--v", o.v, "--attn-weight", w.attnWeight, "--attn-bias",
                w.attnBias, "--combine-weight", w.combineWeight, "--combine-bias", w.combineBias), r.outputs());
        String outFile = Options.require(r.common.out, "--out");
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = rank3(arena, o.q, "--q", "(B, Lq, Dq)", -1, -1, -1);
            long b = q.size(0), lq = q.size(1), dq = q.size(2);
            Tensor k = rank3(arena, o.k, "--k", "(B, Lq, Dk)", b, lq, -1);
            Tensor v = rank3(arena, o.v, "--v", "(B, Lv, Dv)", b, -1, -1);
            long dk = k.size(2), lv = v.size(1), dv = v.size(2);
            float[] attnW = Inputs.floats("--attn-weight", Options.require(w.attnWeight, "--attn-weight"),
                    "(Lv, Dq + Dk)", lv, dq + dk);
            float[] combineW = Inputs.floats("--combine-weight", Options.require(w.combineWeight, "--combine-weight"),
                    "(OUT, Dq + Dv)", -1, dq + dv);
            long outSize = combineW.length / (dq + dv);
            float[] attnB = w.attnBias == null ? new float[Math.toIntExact(lv)]
                    : Inputs.floats("--attn-bias", w.attnBias, "(Lv)", lv);
            float[] combineB = w.combineBias == null ? new float[Math.toIntExact(outSize)]
                    : Inputs.floats("--combine-bias", w.combineBias, "(OUT)", outSize);
            EncoderDecoderAttention step = new EncoderDecoderAttention(arena, dq, dk, lv, dv, outSize)
                    .load(attnW, attnB, combineW, combineB);
            LayerOutput out = step.forward(arena, q, k, v, r.spec(arena, q, v).build());
            Npy.write(Path.of(outFile), out.output().toArray(), out.output().shape());
            if (r.common.weights != null) {
                Npy.write(Path.of(r.common.weights), out.weights().toArray(), out.weights().shape());
            }
        }
    }

    /** A required rank-3 float32 input of the shape {@code want} (-1: any size). */
    private static Tensor rank3(Arena arena, String file, String option, String meaning, long... want)
            throws IOException {
        return Inputs.tensor(arena, option, Options.require(file, option), meaning, want);
    }
}
