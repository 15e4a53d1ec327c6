package org.panattn;

/**
 * The ONNX {@code Attention} operator (opset 23, and opset 24's
 * {@code nonpad_kv_seqlen}) in float64, written from the text of the
 * specification with plain loops over the inputs as the caller shaped them:
 * present = concat(past, new) along the sequence; scores Q·Kᵀ·scale
 * (default 1/sqrt(head_size)); softcap; plus the bias (attn_mask broadcast
 * right-aligned to (B, Hq, Lq, total), its last dimension padded with
 * false / -inf when shorter; the causal frontier j &le; i + offset with
 * offset = past length, or nonpad_kv_seqlen[b] - Lq, or 0; the padding
 * j &ge; nonpad_kv_seqlen[b]); softmax, a row whose bias is -inf
 * everywhere being zeros; times V. It shares no code with the operator.
 */
final class OnnxReference {
    private OnnxReference() {
    }

    /** attn_mask as the test made it: booleans (true = take part) or floats, row-major, with its shape. */
    record MaskData(boolean[] keep, float[] add, long[] shape) {
    }

    /** Y in the layout of the inputs (3-D or 4-D), present_key, present_value, qk_matmul_output of the mode. */
    record Result(double[] y, double[] presentKey, double[] presentValue, double[] qk) {
    }

    /** The attributes; scale NaN for the default, softcap 0 for none, heads 0 when not set. */
    record Attributes(boolean isCausal, long qNumHeads, long kvNumHeads, double scale, double softcap, int mode) {
    }

    static Result attention(Tensor q, Tensor k, Tensor v, MaskData mask, Tensor pastKey, Tensor pastValue,
                            long[] nonpad, Attributes a) {
        boolean threeD = q.rank() == 3;
        long b = q.size(0);
        long hq = threeD ? a.qNumHeads() : q.size(1);
        long hkv = threeD ? a.kvNumHeads() : k.size(1);
        long lq = q.size(threeD ? 1 : 2), lkv = k.size(threeD ? 1 : 2);
        long d = threeD ? q.size(2) / hq : q.size(3);
        long dv = threeD ? v.size(2) / hkv : v.size(3);
        long past = pastKey == null ? 0 : pastKey.size(2), total = past + lkv;
        double scale = Double.isNaN(a.scale()) ? 1 / Math.sqrt(d) : a.scale();

        double[] presentK = new double[(int) (b * hkv * total * d)];
        double[] presentV = new double[(int) (b * hkv * total * dv)];
        for (long bi = 0; bi < b; bi++) {
            for (long g = 0; g < hkv; g++) {
                for (long j = 0; j < total; j++) {
                    for (long e = 0; e < d; e++) {
                        presentK[(int) (((bi * hkv + g) * total + j) * d + e)] = j < past ? pastKey.get(bi, g, j, e)
                                : threeD ? k.get(bi, j - past, g * d + e) : k.get(bi, g, j - past, e);
                    }
                    for (long e = 0; e < dv; e++) {
                        presentV[(int) (((bi * hkv + g) * total + j) * dv + e)] = j < past ? pastValue.get(bi, g, j, e)
                                : threeD ? v.get(bi, j - past, g * dv + e) : v.get(bi, g, j - past, e);
                    }
                }
            }
        }

        double[] y = new double[(int) (b * hq * lq * dv)];
        double[] qk = new double[(int) (b * hq * lq * total)];
        double[] raw = new double[(int) total], capped = new double[(int) total], biased = new double[(int) total];
        for (long bi = 0; bi < b; bi++) {
            for (long h = 0; h < hq; h++) {
                long g = h / (hq / hkv); // each key/value head repeated for hq / hkv query heads in a row
                for (long i = 0; i < lq; i++) {
                    boolean anyKept = false;
                    double max = Double.NEGATIVE_INFINITY;
                    for (long j = 0; j < total; j++) {
                        double dot = 0;
                        for (long e = 0; e < d; e++) {
                            double qe = threeD ? q.get(bi, i, h * d + e) : q.get(bi, h, i, e);
                            dot += qe * presentK[(int) (((bi * hkv + g) * total + j) * d + e)];
                        }
                        raw[(int) j] = dot * scale;
                        capped[(int) j] = a.softcap() > 0 ? a.softcap() * Math.tanh(raw[(int) j] / a.softcap())
                                : raw[(int) j];
                        double bias = bias(mask, past, nonpad, a.isCausal(), lq, bi, h, i, j);
                        anyKept |= bias != Double.NEGATIVE_INFINITY;
                        biased[(int) j] = capped[(int) j] + bias;
                        max = Math.max(max, biased[(int) j]);
                    }
                    double[] p = new double[(int) total];
                    if (anyKept) {
                        double sum = 0;
                        for (int j = 0; j < total; j++) {
                            p[j] = Math.exp(biased[j] - max);
                            sum += p[j];
                        }
                        for (int j = 0; j < total; j++) {
                            p[j] /= sum;
                        }
                    }
                    for (long e = 0; e < dv; e++) {
                        double acc = 0;
                        for (long j = 0; j < total; j++) {
                            acc += p[(int) j] * presentV[(int) (((bi * hkv + g) * total + j) * dv + e)];
                        }
                        long at = threeD ? (bi * lq + i) * hq * dv + h * dv + e : ((bi * hq + h) * lq + i) * dv + e;
                        y[(int) at] = acc;
                    }
                    double[] chosen = switch (a.mode()) {
                        case 0 -> raw;
                        case 1 -> capped;
                        case 2 -> biased;
                        default -> p;
                    };
                    System.arraycopy(chosen, 0, qk, (int) (((bi * hq + h) * lq + i) * total), (int) total);
                }
            }
        }
        return new Result(y, presentK, presentV, qk);
    }

    /** The additive bias of (b, h, i, j): attn_mask, then the causal frontier, then the key padding. */
    private static double bias(MaskData mask, long past, long[] nonpad, boolean isCausal, long lq, long b, long h,
                               long i, long j) {
        double x = 0;
        if (mask != null) {
            long[] s = mask.shape();
            int r = s.length;
            if (j >= s[r - 1]) {
                x += Double.NEGATIVE_INFINITY; // the padding of a short last dimension
            } else {
                long[] index = {b, h, i, j};
                long flat = 0;
                for (int dim = 0; dim < r; dim++) {
                    long at = index[4 - r + dim];
                    flat = flat * s[dim] + (s[dim] == 1 ? 0 : at);
                }
                x += mask.keep() != null ? (mask.keep()[(int) flat] ? 0 : Double.NEGATIVE_INFINITY)
                        : mask.add()[(int) flat];
            }
        }
        if (isCausal) {
            long offset = nonpad != null ? nonpad[(int) b] - lq : past;
            if (j > i + offset) {
                x += Double.NEGATIVE_INFINITY;
            }
        }
        if (nonpad != null && j >= nonpad[(int) b]) {
            x += Double.NEGATIVE_INFINITY;
        }
        return x;
    }
}
