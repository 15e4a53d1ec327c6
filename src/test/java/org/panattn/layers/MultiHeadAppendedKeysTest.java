package org.panattn.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.panattn.Attention;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Isa;
import org.panattn.Mask;
import org.panattn.Panattn;
import org.panattn.Reference;
import org.panattn.Rope;
import org.panattn.Tensor;

/**
 * MultiHeadAttention's appended keys ({@code addBiasKv}, {@code addZeroAttn})
 * and packed input ({@code forwardPacked}), on every backend and native ISA
 * level, against a float64 reference that attends over the projected keys
 * followed by bias_k and a zero key, applying the causal rule, window, masks
 * and key padding to the input's keys only (PyTorch's fixtures check the
 * same in the command line's tests).
 */
class MultiHeadAppendedKeysTest {
    private static final double TOLERANCE = 1e-5;

    enum Input { SELF, SHARED_KV, CROSS }

    enum MaskKind { NONE, ADDITIVE_LQ_LK, KEEP_B_H_LQ_LK }

    record Case(String name, int e, int h, int hkv, int kdim, int vdim, int b, int lq, int lk, Input input,
                boolean batchFirst, boolean bias, boolean biasKv, boolean zeroAttn, Causal causal, long window,
                MaskKind mask, boolean keyPadding, float scale, float softcap, float rope) {
        int appended() {
            return (biasKv ? 1 : 0) + (zeroAttn ? 1 : 0);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("bias_kv, causal window, GQA, RoPE, padding, additive mask", 24, 4, 2, 24, 24, 2, 9, 9,
                        Input.SELF, true, true, true, false, Causal.TOP_LEFT, 3, MaskKind.ADDITIVE_LQ_LK, true,
                        Float.NaN, 0f, 10000f),
                new Case("both, cross seq-first, kdim/vdim, bottom-right, keep mask, scale, softcap", 12, 3, 3, 7,
                        5, 2, 3, 11, Input.CROSS, false, true, true, true, Causal.BOTTOM_RIGHT, 0,
                        MaskKind.KEEP_B_H_LQ_LK, false, 0.3f, 2.5f, 0f),
                new Case("both, shared key/value, MQA, padding hides a whole batch, no biases", 16, 4, 1, 16, 16, 3, 5,
                        7, Input.SHARED_KV, true, false, true, true, Causal.NONE, 0, MaskKind.NONE, true, Float.NaN, 0f,
                        0f),
                new Case("both, self seq-first, causal, keep mask, RoPE interleaved", 8, 2, 2, 8, 8, 2, 6, 6,
                        Input.SELF, false, true, true, true, Causal.TOP_LEFT, 0, MaskKind.KEEP_B_H_LQ_LK, false,
                        Float.NaN, 0f, 500f),
                new Case("zero_attn, self, bottom-right window, odd sizes", 6, 2, 2, 6, 6, 1, 13, 13, Input.SELF, true,
                        true, false, true, Causal.BOTTOM_RIGHT, 2, MaskKind.ADDITIVE_LQ_LK, true, Float.NaN, 0f, 0f));
    }

    /** Java, Vector API, and native at each ISA level of this machine. */
    private static List<Object[]> targets() {
        List<Object[]> all = new ArrayList<>();
        all.add(new Object[] {Backend.JAVA, null});
        all.add(new Object[] {Backend.JAVA_VECTOR, null});
        for (Isa isa : Panattn.isaLevels()) {
            all.add(new Object[] {Backend.NATIVE, isa});
        }
        return all;
    }

    /** The masks of a case, as arrays the reference reads and as the layer's spec. */
    private record Masks(float[] additive, boolean[] keep, long[] valid, AttentionSpec spec) {
    }

    private static Masks masks(Arena arena, SplittableRandom rnd, Case c) {
        AttentionSpec.Builder spec = AttentionSpec.builder().causal(c.causal).window(c.window);
        if (!Float.isNaN(c.scale)) {
            spec.scale(c.scale);
        }
        spec.softcap(c.softcap);
        float[] additive = null;
        boolean[] keep = null;
        long[] valid = null;
        if (c.mask == MaskKind.ADDITIVE_LQ_LK) {
            additive = Reference.random(arena, rnd, c.lq, c.lk).toArray();
            additive[c.lk] = Float.NEGATIVE_INFINITY; // query 1 never sees key 0
            spec.mask(Mask.additive(Tensor.of(arena, additive, c.lq, c.lk)));
        } else if (c.mask == MaskKind.KEEP_B_H_LQ_LK) {
            keep = new boolean[c.b * c.h * c.lq * c.lk];
            for (int i = 0; i < keep.length; i++) {
                keep[i] = rnd.nextDouble() < 0.6;
            }
            spec.mask(Mask.keep(arena, keep, c.b, c.h, c.lq, c.lk));
        }
        if (c.keyPadding) {
            valid = new long[c.b];
            for (int b = 0; b < c.b; b++) {
                valid[b] = b == c.b - 1 ? 0 : 1 + rnd.nextInt(c.lk); // the last batch sees the appended keys only
            }
            spec.keyPadding(Mask.keyPadding(arena, valid, c.lk));
        }
        return new Masks(additive, keep, valid, spec.build());
    }

    private static MultiHeadAttention layer(Arena arena, SplittableRandom rnd, Case c) {
        MultiHeadAttention.Builder builder = MultiHeadAttention.builder(c.e, c.h).kvHeads(c.hkv).kdim(c.kdim)
                .vdim(c.vdim).bias(c.bias).batchFirst(c.batchFirst).addBiasKv(c.biasKv).addZeroAttn(c.zeroAttn);
        if (c.rope > 0) {
            builder.rope(c.rope, c.name.contains("interleaved") ? Rope.Layout.INTERLEAVED : Rope.Layout.HALF);
        }
        MultiHeadAttention mha = builder.build(arena).initRandom(c.name.hashCode());
        if (c.bias) { // initRandom zeroes biases; make them count
            long inRows = c.e + 2L * c.hkv * (c.e / c.h);
            float[] inBias = Reference.random(arena, rnd, inRows).toArray();
            if (mha.isPacked()) {
                mha.loadInProj(inProj(mha), inBias);
            } else {
                mha.loadQkv(mha.qProjWeight().toArray(), mha.kProjWeight().toArray(), mha.vProjWeight().toArray(),
                        inBias);
            }
            mha.loadOutProj(mha.outProjWeight().toArray(), Reference.random(arena, rnd, c.e).toArray());
        }
        return mha;
    }

    /** {@code in_proj_weight}: the q, k and v weights' rows, one after the other. */
    private static float[] inProj(MultiHeadAttention mha) {
        Tensor[] parts = {mha.qProjWeight(), mha.kProjWeight(), mha.vProjWeight()};
        float[] w = new float[(int) (parts[0].size() + parts[1].size() + parts[2].size())];
        int at = 0;
        for (Tensor t : parts) {
            System.arraycopy(t.toArray(), 0, w, at, (int) t.size());
            at += (int) t.size();
        }
        return w;
    }

    private static Tensor input(Arena arena, SplittableRandom rnd, Case c, int length, int width) {
        return c.batchFirst ? Reference.random(arena, rnd, c.b, length, width)
                : Reference.random(arena, rnd, length, c.b, width);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyTargetMatchesTheFloat64Reference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(c.name.hashCode());
            MultiHeadAttention mha = layer(arena, rnd, c);
            Tensor query = input(arena, rnd, c, c.lq, c.e);
            Tensor key = c.input == Input.SELF ? query : input(arena, rnd, c, c.lk, c.kdim);
            Tensor value = c.input == Input.CROSS ? input(arena, rnd, c, c.lk, c.vdim) : key;
            Masks m = masks(arena, rnd, c);
            Reference.Result ref = reference(mha, c, query, key, value, m);
            Tensor qkv = c.input == Input.SELF ? packedProjection(arena, mha, query) : null;
            float[] qkvBefore = qkv == null ? null : qkv.toArray();
            try {
                for (Object[] t : targets()) {
                    Backend backend = (Backend) t[0];
                    if (t[1] != null) {
                        Panattn.setMaxIsa((Isa) t[1]);
                    }
                    String where = backend + (t[1] == null ? "" : " " + t[1]);
                    AttentionSpec spec = m.spec.toBuilder().backend(backend).build();
                    LayerOutput r = mha.forward(arena, query, key, value, spec, MultiHeadAttention.NeedWeights.PER_HEAD);
                    assertArrayEquals(query.shape(), r.output().shape(), where);
                    assertArrayEquals(new long[] {c.b, c.h, c.lq, c.lk + c.appended()}, r.weights().shape(), where);
                    assertClose(r.output().toArray(), ref.out(), where + ": output");
                    assertClose(r.weights().toArray(), ref.weights(), where + ": weights");
                    if (qkv != null) {
                        LayerOutput p = mha.forwardPacked(arena, qkv, spec, MultiHeadAttention.NeedWeights.PER_HEAD);
                        assertClose(p.output().toArray(), ref.out(), where + ": forwardPacked output");
                        assertClose(p.weights().toArray(), ref.weights(), where + ": forwardPacked weights");
                        assertArrayEquals(qkvBefore, qkv.toArray(), where + ": forwardPacked leaves qkv as it was");
                    }
                }
            } finally {
                Panattn.setMaxIsa(Panattn.supportedIsa());
            }
        }
    }

    /**
     * A two-sided window and key lengths, with and without a causal rule,
     * hide input keys only, as the keep-mask over the input's keys that
     * they equal does (the masks' path is the one checked against float64
     * above); the appended keys stay visible to every query.
     */
    @Test
    void windowsAndKeyLengthsHideInputKeysOnly() {
        int b = 2, l = 7, e = 8, h = 2;
        long[] lengths = {5, 2};
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(12);
            MultiHeadAttention mha = MultiHeadAttention.builder(e, h).addBiasKv(true).addZeroAttn(true).build(arena)
                    .initRandom(13);
            Tensor x = Reference.random(arena, rnd, b, l, e);
            for (Causal causal : Causal.values()) {
                long left = 1, right = causal == Causal.NONE ? 2 : AttentionSpec.UNBOUNDED;
                boolean[] keep = new boolean[b * l * l];
                for (int r = 0; r < b; r++) {
                    for (int i = 0; i < l; i++) {
                        long p = causal == Causal.BOTTOM_RIGHT ? i + lengths[r] - l : i;
                        for (int j = 0; j < l; j++) {
                            keep[(r * l + i) * l + j] = j < lengths[r] && (causal == Causal.NONE || j <= p)
                                    && p - j <= left && (right < 0 || j - p <= right);
                        }
                    }
                }
                AttentionSpec ranged = AttentionSpec.builder().causal(causal).window(left, right).keyLengths(lengths)
                        .build();
                AttentionSpec masked = AttentionSpec.builder().mask(Mask.keep(arena, keep, b, 1, l, l)).build();
                for (Object[] t : targets()) {
                    Backend backend = (Backend) t[0];
                    if (t[1] != null) {
                        Panattn.setMaxIsa((Isa) t[1]);
                    }
                    String where = backend + (t[1] == null ? "" : " " + t[1]) + " " + causal;
                    LayerOutput want = mha.forward(arena, x, masked.toBuilder().backend(backend).build(),
                            MultiHeadAttention.NeedWeights.PER_HEAD);
                    LayerOutput got = mha.forward(arena, x, ranged.toBuilder().backend(backend).build(),
                            MultiHeadAttention.NeedWeights.PER_HEAD);
                    assertClose(got.output().toArray(), Reference.toDouble(want.output().toArray()), where + ": output");
                    assertClose(got.weights().toArray(), Reference.toDouble(want.weights().toArray()),
                            where + ": weights");
                    assertTrue(got.weights().get(1, 0, 6, l) > 0f, where + ": bias_k stays visible beyond the length");
                }
            }
        } finally {
            Panattn.setMaxIsa(Panattn.supportedIsa());
        }
    }

    private static void assertClose(float[] got, double[] want, String what) {
        assertEquals(want.length, got.length, what);
        double err = Reference.relativeError(got, want);
        assertTrue(err < TOLERANCE, what + ": relative error " + err);
    }

    /** x·in_proj_weightᵀ + in_proj_bias, q | k | v side by side: a packed projection. */
    private static Tensor packedProjection(Arena arena, MultiHeadAttention mha, Tensor x) {
        Tensor w = Tensor.of(arena, inProj(mha), mha.embedDim() + 2 * mha.numKvHeads() * mha.headDim(),
                mha.embedDim());
        Tensor y = Tensor.allocate(arena, x.size(0), x.size(1), w.size(0));
        Attention.linear(x, w, mha.inProjBias(), y, Backend.JAVA);
        return y;
    }

    /**
     * The layer in float64: projections, RoPE on the input's positions, keys
     * followed by bias_k and a zero key (values likewise), visibility of the
     * input's keys by causal rule, window, masks and key padding, the
     * appended keys always visible; softmax; output projection.
     */
    private static Reference.Result reference(MultiHeadAttention mha, Case c, Tensor query, Tensor key, Tensor value,
                                              Masks m) {
        int d = c.e / c.h, kvDim = c.hkv * d, keys = c.lk + c.appended();
        double[][][] q = project(c, query, mha.qProjWeight().toArray(), bias(mha, 0, c.e), c.lq);
        double[][][] k = project(c, key, mha.kProjWeight().toArray(), bias(mha, c.e, kvDim), c.lk);
        double[][][] v = project(c, value, mha.vProjWeight().toArray(), bias(mha, c.e + kvDim, kvDim), c.lk);
        if (c.rope > 0) {
            rotate(q, c.h, d, c.rope, c.name.contains("interleaved"));
            rotate(k, c.hkv, d, c.rope, c.name.contains("interleaved"));
        }
        float[] biasK = c.biasKv ? mha.biasK().toArray() : null, biasV = c.biasKv ? mha.biasV().toArray() : null;
        double scale = Float.isNaN(c.scale) ? 1 / Math.sqrt(d) : c.scale;
        double[] heads = new double[c.b * c.lq * c.e];
        double[] weights = new double[c.b * c.h * c.lq * keys];
        double[] s = new double[keys];
        boolean[] seen = new boolean[keys];
        for (int b = 0; b < c.b; b++) {
            for (int h = 0; h < c.h; h++) {
                int kh = h / (c.h / c.hkv);
                for (int i = 0; i < c.lq; i++) {
                    long position = c.causal == Causal.BOTTOM_RIGHT ? i + c.lk - c.lq : i;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < keys; j++) {
                        double dot = 0;
                        for (int x = 0; x < d; x++) {
                            dot += q[b][i][h * d + x] * keyAt(k, biasK, c, b, j, kh * d + x);
                        }
                        double score = dot * scale;
                        if (c.softcap > 0) {
                            score = c.softcap * Math.tanh(score / c.softcap);
                        }
                        boolean visible = true;
                        if (j < c.lk) {
                            visible = c.causal == Causal.NONE
                                    || j <= position && (c.window == 0 || position - j < c.window);
                            if (m.additive != null) {
                                score += m.additive[i * c.lk + j];
                            }
                            if (m.keep != null) {
                                visible &= m.keep[((b * c.h + h) * c.lq + i) * c.lk + j];
                            }
                            if (m.valid != null) {
                                visible &= j < m.valid[b];
                            }
                            visible &= score != Double.NEGATIVE_INFINITY;
                        }
                        seen[j] = visible;
                        s[j] = score;
                        if (visible) {
                            max = Math.max(max, score);
                        }
                    }
                    double sum = 0;
                    for (int j = 0; j < keys; j++) {
                        s[j] = seen[j] ? Math.exp(s[j] - max) : 0;
                        sum += s[j];
                    }
                    for (int j = 0; j < keys; j++) {
                        weights[((b * c.h + h) * c.lq + i) * keys + j] = s[j] / sum;
                        for (int x = 0; x < d; x++) {
                            heads[(b * c.lq + i) * c.e + h * d + x] += s[j] / sum * keyAt(v, biasV, c, b, j, kh * d + x);
                        }
                    }
                }
            }
        }
        float[] outW = mha.outProjWeight().toArray();
        float[] outB = mha.outProjBias() == null ? new float[c.e] : mha.outProjBias().toArray();
        double[] out = new double[c.b * c.lq * c.e];
        for (int b = 0; b < c.b; b++) {
            for (int i = 0; i < c.lq; i++) {
                for (int o = 0; o < c.e; o++) {
                    double acc = outB[o];
                    for (int x = 0; x < c.e; x++) {
                        acc += heads[(b * c.lq + i) * c.e + x] * outW[o * c.e + x];
                    }
                    out[c.batchFirst ? (b * c.lq + i) * c.e + o : (i * c.b + b) * c.e + o] = acc;
                }
            }
        }
        return new Reference.Result(out, weights);
    }

    /** Feature f of key (or value) j: projected, then bias_k (bias_v), then zeros. */
    private static double keyAt(double[][][] projected, float[] bias, Case c, int b, int j, int f) {
        if (j < c.lk) {
            return projected[b][j][f];
        }
        return j == c.lk && bias != null ? bias[f] : 0;
    }

    /** Part [from, from + count) of the in-projection bias, or zeros without biases. */
    private static float[] bias(MultiHeadAttention mha, int from, int count) {
        float[] b = new float[count];
        if (mha.inProjBias() != null) {
            System.arraycopy(mha.inProjBias().toArray(), from, b, 0, count);
        }
        return b;
    }

    /** x·Wᵀ + b in double, as [batch][token][feature]. */
    private static double[][][] project(Case c, Tensor x, float[] w, float[] b, int length) {
        int width = (int) x.size(2), n = b.length;
        double[][][] y = new double[c.b][length][n];
        for (int bi = 0; bi < c.b; bi++) {
            for (int t = 0; t < length; t++) {
                for (int o = 0; o < n; o++) {
                    double acc = b[o];
                    for (int kk = 0; kk < width; kk++) {
                        acc += (double) (c.batchFirst ? x.get(bi, t, kk) : x.get(t, bi, kk)) * w[o * width + kk];
                    }
                    y[bi][t][o] = acc;
                }
            }
        }
        return y;
    }

    /** RoPE in double: token t's pair p of each head rotates by t·base^(−2p/d). */
    private static void rotate(double[][][] x, int heads, int d, double base, boolean interleaved) {
        for (double[][] sequence : x) {
            for (int t = 0; t < sequence.length; t++) {
                for (int h = 0; h < heads; h++) {
                    for (int p = 0; p < d / 2; p++) {
                        double angle = t * Math.pow(base, -2.0 * p / d);
                        int a = h * d + (interleaved ? 2 * p : p), z = h * d + (interleaved ? 2 * p + 1 : p + d / 2);
                        double x1 = sequence[t][a], x2 = sequence[t][z];
                        sequence[t][a] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
                        sequence[t][z] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
                    }
                }
            }
        }
    }

    @Test
    void initRandomDrawsBiasKvAndTheLoaderTakesPyTorchsArrays() {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).kvHeads(1).addBiasKv(true).build(arena)
                    .initRandom(4);
            assertArrayEquals(new long[] {4}, mha.biasK().shape(), "bias_k has kvDim values");
            assertNotEquals(0f, mha.biasK().get(0));
            assertNotEquals(mha.biasK().get(0), mha.biasV().get(0));
            mha.loadBiasKv(new float[] {1, 2, 3, 4}, new float[] {5, 6, 7, 8});
            assertArrayEquals(new float[] {1, 2, 3, 4}, mha.biasK().toArray());
            assertArrayEquals(new float[] {5, 6, 7, 8}, mha.biasV().toArray());
            MultiHeadAttention plain = MultiHeadAttention.builder(8, 2).build(arena);
            assertTrue(plain.biasK() == null && plain.biasV() == null && !plain.addZeroAttn());
        }
    }

    /** Without appended keys, forwardPacked reads the caller's tensor in place, and gives what forward gives. */
    @Test
    void forwardPackedEqualsForwardOnTheFusedProjection() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(9);
            MultiHeadAttention mha = MultiHeadAttention.builder(12, 3).kvHeads(3).batchFirst(false).build(arena)
                    .initRandom(9);
            Tensor x = Reference.random(arena, rnd, 4, 2, 12);
            Tensor qkv = packedProjection(arena, mha, x);
            for (Backend backend : Backend.values()) {
                AttentionSpec spec = AttentionSpec.builder().causal(Causal.TOP_LEFT).backend(backend).build();
                LayerOutput want = mha.forward(arena, x, spec, MultiHeadAttention.NeedWeights.AVERAGED);
                LayerOutput got = mha.forwardPacked(arena, qkv, spec, MultiHeadAttention.NeedWeights.AVERAGED);
                assertClose(got.output().toArray(), Reference.toDouble(want.output().toArray()), backend + " output");
                assertClose(got.weights().toArray(), Reference.toDouble(want.weights().toArray()), backend + " weights");
            }
        }
    }
}
