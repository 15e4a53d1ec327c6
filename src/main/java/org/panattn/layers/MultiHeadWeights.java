package org.panattn.layers;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import org.panattn.Backend;
import org.panattn.Tensor;

/**
 * A {@link MultiHeadAttention} layer's weights in PyTorch's layout: their
 * allocation, PyTorch's loaders and PyTorch's initialisation. With packed
 * projections (kdim == vdim == E) q, k and v project through one
 * {@code in_proj_weight (E + 2·kvDim, E)} whose row blocks are the q, k
 * and v weights; otherwise each has its own. Fields are views a forward
 * pass reads; they are filled only through the loaders and
 * {@link #initRandom}.
 */
final class MultiHeadWeights {
    private final MultiHeadConfig config;
    /** (E + 2·kvDim, E) when packed, else null; qW, kW, vW and kvW are then views of its rows. */
    final Tensor inProj;
    /** q_proj (E, E), k_proj (kvDim, kdim), v_proj (kvDim, vdim), out_proj (E, E). */
    final Tensor qW, kW, vW, outW;
    /** The k and v rows of {@code in_proj_weight} together (2·kvDim, E), when packed, else null. */
    final Tensor kvW;
    /**
     * {@code in_proj_bias} (E + 2·kvDim), its q, k, v and k-and-v parts, and
     * {@code out_proj.bias} (E): all null without biases.
     */
    final Tensor inBias, qB, kB, vB, kvB, outB;
    /** {@code bias_k} and {@code bias_v} (kvDim each), appended to the keys and values; null without addBiasKv. */
    final Tensor biasK, biasV;

    MultiHeadWeights(MultiHeadConfig config, Arena arena) {
        this.config = config;
        long embedDim = config.embedDim(), kvDim = config.kvDim();
        long inRows; // E + 2·kvDim, the rows of in_proj_weight
        try {
            inRows = Math.addExact(embedDim, Math.multiplyExact(2, kvDim));
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("embedDim: in_proj_weight's E + 2·kvDim rows overflow 64 bits (E = "
                    + embedDim + ", kvDim = " + kvDim + ")", e);
        }
        if (config.isPacked()) {
            inProj = Weights.allocate("in_proj_weight", arena, inRows, embedDim);
            qW = rows(inProj, 0, embedDim);
            kW = rows(inProj, embedDim, kvDim);
            vW = rows(inProj, embedDim + kvDim, kvDim);
            kvW = rows(inProj, embedDim, 2 * kvDim);
        } else {
            inProj = kvW = null;
            qW = Weights.allocate("q_proj_weight", arena, embedDim, embedDim);
            kW = Weights.allocate("k_proj_weight", arena, kvDim, config.kdim());
            vW = Weights.allocate("v_proj_weight", arena, kvDim, config.vdim());
        }
        outW = Weights.allocate("out_proj.weight", arena, embedDim, embedDim);
        if (config.bias()) {
            inBias = Weights.allocate("in_proj_bias", arena, inRows);
            qB = slice(inBias, 0, embedDim);
            kB = slice(inBias, embedDim, kvDim);
            vB = slice(inBias, embedDim + kvDim, kvDim);
            kvB = slice(inBias, embedDim, 2 * kvDim);
            outB = Tensor.allocate(arena, embedDim);
        } else {
            inBias = qB = kB = vB = kvB = outB = null;
        }
        if (config.addBiasKv()) {
            biasK = Tensor.allocate(arena, kvDim);
            biasV = Tensor.allocate(arena, kvDim);
        } else {
            biasK = biasV = null;
        }
    }

    private static Tensor rows(Tensor m, long first, long count) {
        return Tensor.wrap(m.segment().asSlice(first * m.size(1) * Float.BYTES, count * m.size(1) * Float.BYTES),
                count, m.size(1));
    }

    private static Tensor slice(Tensor v, long first, long count) {
        return Tensor.wrap(v.segment().asSlice(first * Float.BYTES, count * Float.BYTES), count);
    }

    /** The weights live in the arena the layer was built in: alive, and usable by this thread on {@code backend}. */
    void checkUsable(Backend backend) {
        Checks.usable("the layer's weights", outW, backend);
    }

    /**
     * PyTorch's initialisation: Xavier-uniform q, k and v projections
     * (jointly for a packed {@code in_proj_weight}), zero biases, and
     * {@code out_proj.weight} uniform in ±1/√E (the default of {@code nn.Linear}),
     * and {@code bias_k}, {@code bias_v} Xavier-normal (of their (1, 1, kvDim)
     * shape: standard deviation 1/√kvDim).
     */
    void initRandom(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        if (config.isPacked()) {
            Weights.fillUniform(inProj, rnd, Math.sqrt(6.0 / (inProj.size(0) + inProj.size(1))));
        } else {
            for (Tensor w : new Tensor[] {qW, kW, vW}) {
                Weights.fillUniform(w, rnd, Math.sqrt(6.0 / (w.size(0) + w.size(1))));
            }
        }
        Weights.fillUniform(outW, rnd, 1.0 / Math.sqrt(config.embedDim()));
        if (inBias != null) {
            inBias.copyFrom(new float[(int) inBias.size()]);
            outB.copyFrom(new float[(int) outB.size()]);
        }
        if (biasK != null) {
            Weights.fillNormal(biasK, rnd, 1.0 / Math.sqrt(config.kvDim()));
            Weights.fillNormal(biasV, rnd, 1.0 / Math.sqrt(config.kvDim()));
        }
    }

    /** PyTorch's packed {@code in_proj_weight} and {@code in_proj_bias}. */
    void loadInProj(float[] weight, float[] bias) {
        if (!config.isPacked()) {
            throw new IllegalStateException("kdim/vdim differ from embedDim: load q/k/v projections with loadQkv");
        }
        Weights.load(new String[] {"in_proj_weight", "in_proj_bias"}, new Tensor[] {inProj, inBias}, weight, bias);
    }

    /** PyTorch's separate q, k and v projection weights, and {@code in_proj_bias}. */
    void loadQkv(float[] qWeight, float[] kWeight, float[] vWeight, float[] inProjBias) {
        Weights.load(new String[] {"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias"},
                new Tensor[] {qW, kW, vW, inBias}, qWeight, kWeight, vWeight, inProjBias);
    }

    /** PyTorch's {@code bias_k} and {@code bias_v}, (1, 1, kvDim) each. */
    void loadBiasKv(float[] biasK, float[] biasV) {
        if (!config.addBiasKv()) {
            throw new IllegalStateException("bias_k, bias_v: this layer was built without addBiasKv(true)");
        }
        Weights.load(new String[] {"bias_k", "bias_v"}, new Tensor[] {this.biasK, this.biasV}, biasK, biasV);
    }

    /** PyTorch's {@code out_proj.weight} and {@code out_proj.bias}. */
    void loadOutProj(float[] weight, float[] bias) {
        Weights.load(new String[] {"out_proj.weight", "out_proj.bias"}, new Tensor[] {outW, outB}, weight, bias);
    }
}
