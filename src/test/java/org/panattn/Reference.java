package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** A float64 reference of scaled dot-product attention, and test data helpers. */
final class Reference {
    private Reference() {
    }

    /** Result of the reference: output (B,H,Lq,Dv) and weights (B,H,Lq,Lk), row-major. */
    record Result(double[] out, double[] weights) {
    }

    /** Rank-4 tensors only; the mask as given to the API (4-D shape, broadcasting 1s). */
    static Result sdpa(Tensor q, Tensor k, Tensor v, Mask mask, Causal causal, double scale) {
        return sdpa(q, k, v, mask, null, causal, 0, scale);
    }

    /** With a second (key-padding) mask and a sliding window counted back from the causal position. */
    static Result sdpa(Tensor q, Tensor k, Tensor v, Mask mask, Mask keyPadding, Causal causal, long window,
                       double scale) {
        long b = q.size(0), h = q.size(1), lq = q.size(2), dk = q.size(3);
        long hkv = k.size(1), lk = k.size(2), dv = v.size(3);
        double[] out = new double[(int) (b * h * lq * dv)];
        double[] w = new double[(int) (b * h * lq * lk)];
        double[] s = new double[(int) lk];
        boolean[] kept = new boolean[(int) lk];
        for (long bi = 0; bi < b; bi++) {
            for (long hi = 0; hi < h; hi++) {
                long kh = hi / (h / hkv);
                for (long i = 0; i < lq; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (long j = 0; j < lk; j++) {
                        double dot = 0;
                        for (long d = 0; d < dk; d++) {
                            dot += (double) q.get(bi, hi, i, d) * k.get(bi, kh, j, d);
                        }
                        double x = dot * scale;
                        long position = switch (causal) {
                            case NONE -> lk - 1;
                            case TOP_LEFT -> i;
                            case BOTTOM_RIGHT -> i + lk - lq;
                        };
                        boolean keep = j <= position && (window == 0 || j > position - window);
                        for (Mask m : new Mask[] {mask, keyPadding}) {
                            if (m == null) {
                                continue;
                            }
                            long[] ms = m.shape();
                            long[] st = m.strides();
                            long off = (ms[0] == 1 ? 0 : bi * st[0]) + (ms[1] == 1 ? 0 : hi * st[1])
                                    + (ms[2] == 1 ? 0 : i * st[2]) + j * st[3];
                            if (m.kind() == Mask.Kind.KEEP) {
                                keep &= m.segment().get(ValueLayout.JAVA_BYTE, off) != 0;
                            } else {
                                x += m.segment().getAtIndex(ValueLayout.JAVA_FLOAT, off);
                            }
                        }
                        keep &= x != Double.NEGATIVE_INFINITY;
                        s[(int) j] = x;
                        kept[(int) j] = keep;
                        if (keep) {
                            max = Math.max(max, x);
                        }
                    }
                    double sum = 0;
                    for (int j = 0; j < lk; j++) {
                        s[j] = kept[j] ? Math.exp(s[j] - max) : 0;
                        sum += s[j];
                    }
                    int row = (int) (((bi * h + hi) * lq + i));
                    for (int j = 0; j < lk; j++) {
                        s[j] = sum > 0 ? s[j] / sum : 0;
                        w[(int) (row * lk + j)] = s[j];
                    }
                    for (long d = 0; d < dv; d++) {
                        double acc = 0;
                        for (int j = 0; j < lk; j++) {
                            acc += s[j] * v.get(bi, kh, j, d);
                        }
                        out[(int) (row * dv + d)] = acc;
                    }
                }
            }
        }
        return new Result(out, w);
    }

    /** max |got - want| / max |want|; NaN in got counts as infinite error. */
    static double relativeError(float[] got, double[] want) {
        double err = 0, scale = 1e-30;
        for (int i = 0; i < want.length; i++) {
            double e = Math.abs(got[i] - want[i]);
            err = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(err, e);
            scale = Math.max(scale, Math.abs(want[i]));
        }
        return err / scale;
    }

    /** A tensor of uniform values in [-1, 1): never zeros. */
    static Tensor random(Arena arena, SplittableRandom rnd, long... shape) {
        Tensor t = Tensor.allocate(arena, shape);
        float[] values = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return t.copyFrom(values);
    }
}
