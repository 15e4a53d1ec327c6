package org.panattn;

import java.lang.foreign.MemorySegment;

/**
 * ONNX's {@code qk_matmul_output} before the softmax (modes 0 to 2): the
 * scores the fused attention never writes out. Q·Kᵀ comes from
 * {@link Attention#linear} on the call's backend, one product per batch and
 * key/value head over the query heads it serves; then one pass applies the
 * scale, the softcap (modes 1 and 2) and the bias (mode 2).
 */
final class OnnxScores {
    private OnnxScores() {
    }

    /** Writes mode {@code mode}'s scores of queries q4 against {@code keys} (B, Hkv, total, D) into qk. */
    static void fill(Backend backend, OnnxInputs in, Tensor keys, float scale, float softcap, int mode, OnnxBias bias,
                     Tensor qk) {
        long b = in.batch(), hq = in.qHeads(), hkv = in.kvHeads(), lq = in.qLength(), lk = in.totalLength();
        if (qk.size() == 0) {
            return;
        }
        long group = hq / hkv;
        Tensor q4 = in.q4();
        for (long bi = 0; bi < b; bi++) {
            for (long g = 0; g < hkv; g++) {
                Tensor scores = slice(qk, bi, g * group, new long[] {group, lq, lk});
                if (in.headSize() == 0) {
                    scores.copyFrom(new float[Math.toIntExact(scores.size())]); // empty dot products
                    continue;
                }
                Tensor queries = slice(q4, bi, g * group, new long[] {group, lq, in.headSize()});
                Tensor key = slice(keys, bi, g, new long[] {lk, in.headSize()});
                Attention.linear(queries, key, null, scores, backend);
            }
        }
        long[] st = qk.strides();
        MemorySegment seg = qk.segment();
        for (long bi = 0; bi < b; bi++) {
            for (long h = 0; h < hq; h++) {
                for (long i = 0; i < lq; i++) {
                    long row = bi * st[0] + h * st[1] + i * st[2];
                    for (long j = 0; j < lk; j++) {
                        float s = seg.getAtIndex(Tensor.FLOAT, row + j) * scale;
                        if (mode >= 1 && softcap > 0f) {
                            s = softcap * (float) Math.tanh(s / softcap);
                        }
                        if (mode == 2) {
                            s += bias.at(bi, h, i, j);
                        }
                        seg.setAtIndex(Tensor.FLOAT, row + j, s);
                    }
                }
            }
        }
    }

    /**
     * The view of {@code t} (B, H, L, D) at batch b from head h on, shaped (heads, L, D) or
     * (L, D) for one head: {@code shape} gives its sizes, t's strides carry over.
     */
    private static Tensor slice(Tensor t, long b, long h, long[] shape) {
        long[] st = t.strides();
        long[] strides = shape.length == 3 ? new long[] {st[1], st[2], st[3]} : new long[] {st[2], st[3]};
        MemorySegment from = t.segment().asSlice((b * st[0] + h * st[1]) * Float.BYTES);
        return Tensor.wrap(from, shape, strides);
    }
}
