package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Map;

import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

/**
 * The weight files of a multi-head attention layer, with the names and shapes of nn.MultiheadAttention's
 * state_dict (run --variant mha and decode), and the layer they load.
 *
 * @param inProjWeight --in-proj-weight (E + 2·kvDim, E), or null for the three below
 * @param qProjWeight --q-proj-weight (E, E)
 * @param kProjWeight --k-proj-weight (kvDim, kdim)
 * @param vProjWeight --v-proj-weight (kvDim, vdim)
 * @param inProjBias --in-proj-bias (E + 2·kvDim), or null
 * @param outProjWeight --out-proj-weight (E, E)
 * @param outProjBias --out-proj-bias (E), or null
 */
record MhaWeightFiles(String inProjWeight, String qProjWeight, String kProjWeight, String vProjWeight,
                      String inProjBias, String outProjWeight, String outProjBias) {
    /** The files given, by option. */
    Map<String, String> files() {
        return Options.files("--in-proj-weight", inProjWeight, "--q-proj-weight", qProjWeight, "--k-proj-weight",
                kProjWeight, "--v-proj-weight", vProjWeight, "--in-proj-bias", inProjBias, "--out-proj-weight",
                outProjWeight, "--out-proj-bias", outProjBias);
    }

    /**
     * The layer {@code layer} builds, with biases when a bias file is given (the other bias then 0), its
     * weights read and checked against the layer's shapes; the in-projection's only when
     * {@code inProjection} (a caller with projected inputs needs none).
     */
    MultiHeadAttention load(Arena arena, MultiHeadAttention.Builder layer, boolean inProjection) throws IOException {
        String separate = qProjWeight != null ? "--q-proj-weight" : kProjWeight != null ? "--k-proj-weight"
                : vProjWeight != null ? "--v-proj-weight" : null;
        if (inProjWeight != null && separate != null) {
            throw new Options.UsageException("--in-proj-weight and " + separate + " are two forms of the same weights: "
                    + "give --in-proj-weight, or --q-proj-weight, --k-proj-weight and --v-proj-weight");
        }
        boolean bias = inProjBias != null || outProjBias != null;
        MultiHeadAttention mha = layer.bias(bias).build(arena);
        long e = mha.embedDim();
        if (inProjection) {
            long rows = e + mha.kProjWeight().size(0) + mha.vProjWeight().size(0);
            float[] inBias = inProjBias != null ? Inputs.floats("--in-proj-bias", inProjBias, "(E + 2·kvDim)", rows)
                    : bias ? new float[Math.toIntExact(rows)] : null;
            if (inProjWeight != null) {
                mha.loadInProj(Inputs.floats("--in-proj-weight", inProjWeight, "(E + 2·kvDim, E)", rows, e), inBias);
            } else {
                mha.loadQkv(weight("--q-proj-weight", qProjWeight, "(E, E)", mha.qProjWeight()),
                        weight("--k-proj-weight", kProjWeight, "(kvDim, kdim)", mha.kProjWeight()),
                        weight("--v-proj-weight", vProjWeight, "(kvDim, vdim)", mha.vProjWeight()), inBias);
            }
        }
        float[] outBias = outProjBias != null ? Inputs.floats("--out-proj-bias", outProjBias, "(E)", e)
                : bias ? new float[Math.toIntExact(e)] : null;
        mha.loadOutProj(weight("--out-proj-weight", outProjWeight, "(E, E)", mha.outProjWeight()), outBias);
        return mha;
    }

    /** A required weight file of the shape of the layer's tensor {@code like}. */
    private static float[] weight(String option, String file, String meaning, Tensor like) throws IOException {
        return Inputs.floats(option, Options.require(file, option), meaning, like.shape());
    }
}
