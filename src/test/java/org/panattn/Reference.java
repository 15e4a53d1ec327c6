package org.panattn;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** A float64 reference of scaled dot-product attention, and test data helpers, for the tests of every package. */
public final class Reference {
    private Reference() {
    }

    /** Result of the reference: output (B,H,Lq,Dv) and weights (B,H,Lq,Lk), row-major. */
    public record Result(double[] out, double[] weights) {
    }

    /** Rank-4 tensors only; the mask as given to the API (4-D shape, broadcasting 1s). */
    public static Result sdpa(Tensor q, Tensor k, Tensor v, Mask mask, Causal causal, double scale) {
        return sdpa(q, k, v, mask, null, causal, 0, scale);
    }

    /** With a second (key-padding) mask and a sliding window counted back from the causal position. */
    public static Result sdpa(Tensor q, Tensor k, Tensor v, Mask mask, Mask keyPadding, Causal causal, long window,
                       double scale) {
        return sdpa(q, k, v, mask, keyPadding, causal, window, scale, Pos.NONE);
    }

    /** ... and positional terms. */
    public static Result sdpa(Tensor q, Tensor k, Tensor v, Mask mask, Mask keyPadding, Causal causal, long window,
                       double scale, Pos pos) {
        return sdpa(q, k, v, mask, keyPadding, causal, Keys.window(window), scale, pos);
    }

    /** ... with any {@link Keys}. */
    public static Result sdpa(Tensor q, Tensor k, Tensor v, Mask mask, Mask keyPadding, Causal causal, Keys keys,
                              double scale, Pos pos) {
        long dk = q.size(3);
        Score dot = (b, h, kh, i, j) -> {
            double s = 0;
            for (long d = 0; d < dk; d++) {
                s += (double) q.get(b, h, i, d) * k.get(b, kh, j, d);
            }
            return s * scale;
        };
        return attend(dot, q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), v, mask, keyPadding, causal,
                keys, pos);
    }

    /**
     * Which keys a query sees besides the causal rule and the masks: a
     * one-sided window (0: none) counted back from the causal position, a
     * two-sided window's extents (-1: unbounded), each batch row's key
     * length (null: Lk).
     */
    public record Keys(long window, long left, long right, long[] lengths) {
        public static final Keys ALL = new Keys(0, -1, -1, null);

        public static Keys window(long window) {
            return new Keys(window, -1, -1, null);
        }

        public static Keys extents(long left, long right) {
            return new Keys(0, left, right, null);
        }

        public Keys withLengths(long... lengths) {
            return new Keys(window, left, right, lengths);
        }

        /** Batch row b's keys. */
        long keys(long b, long lk) {
            return lengths == null ? lk : lengths[(int) b];
        }

        /** Whether query position pos sees key j of a row of n keys, by the window and the length. */
        boolean shows(long pos, long j, long n) {
            return j < n && (window == 0 || pos - j < window) // pos - window may overflow
                    && (left < 0 || pos - j <= left) && (right < 0 || j - pos <= right);
        }
    }

    /** The raw (scaled) score of query i and key j. */
    public interface Score {
        double score(long b, long h, long kh, long i, long j);
    }

    /** Positional terms: softcap (0 none), ALiBi slopes (null none), T5 table [h][bucket] (null none). */
    public record Pos(double softcap, double[] slopes, double[][] rel, boolean bidirectional, int maxDistance) {
        static final Pos NONE = new Pos(0, null, null, true, 128);
    }

    /** Any rule's attention in float64: positional terms, masks, causal rule, window, softmax, weighted sum. */
    public static Result attend(Score rule, long b, long h, long hkv, long lq, long lk, Tensor v, Mask mask,
                         Mask keyPadding, Causal causal, long window, Pos pos) {
        return attend(rule, b, h, hkv, lq, lk, v, mask, keyPadding, causal, Keys.window(window), pos);
    }

    /** ... with any {@link Keys}: each batch row computed as if Lk were its key length. */
    public static Result attend(Score rule, long b, long h, long hkv, long lq, long lk, Tensor v, Mask mask,
                                Mask keyPadding, Causal causal, Keys keys, Pos pos) {
        long dv = v.size(3);
        double[] out = new double[(int) (b * h * lq * dv)];
        double[] w = new double[(int) (b * h * lq * lk)];
        double[] s = new double[(int) lk];
        boolean[] kept = new boolean[(int) lk];
        for (long bi = 0; bi < b; bi++) {
            for (long hi = 0; hi < h; hi++) {
                long kh = hi / (h / hkv);
                long n = keys.keys(bi, lk);
                for (long i = 0; i < lq; i++) {
                    long position = causal == Causal.BOTTOM_RIGHT ? i + n - lq : i;
                    double max = Double.NEGATIVE_INFINITY;
                    for (long j = 0; j < lk; j++) {
                        double x = rule.score(bi, hi, kh, i, j);
                        long d = j - position;
                        if (pos.softcap() > 0) {
                            x = pos.softcap() * Math.tanh(x / pos.softcap());
                        }
                        if (pos.slopes() != null) {
                            x -= pos.slopes()[(int) hi] * Math.abs(d);
                        }
                        if (pos.rel() != null) {
                            x += pos.rel()[(int) hi][t5Bucket(d, pos.rel()[0].length, pos.bidirectional(),
                                    pos.maxDistance())];
                        }
                        boolean keep = (causal == Causal.NONE || j <= position) && keys.shows(position, j, n);
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
                        for (int j = 0; j < n; j++) { // keys beyond the length are never read
                            acc += s[j] * v.get(bi, kh, j, d);
                        }
                        out[(int) (row * dv + d)] = acc;
                    }
                }
            }
        }
        return new Result(out, w);
    }

    /** T5's bucket, from the T5 code (independent of the library's). */
    public static int t5Bucket(long relative, int numBuckets, boolean bidirectional, int maxDistance) {
        int ret = 0;
        long n = -relative;
        if (bidirectional) {
            numBuckets /= 2;
            ret += n < 0 ? numBuckets : 0;
            n = Math.abs(n);
        } else {
            n = Math.max(n, 0);
        }
        int maxExact = numBuckets / 2;
        if (n < maxExact) {
            return ret + (int) n;
        }
        if (n >= maxDistance || maxExact == 0) { // panattn's documented rule where T5's formula has no bucket
            return ret + numBuckets - 1;
        }
        int large = maxExact + (int) (Math.log(n / (double) maxExact) / Math.log(maxDistance / (double) maxExact)
                * (numBuckets - maxExact));
        return ret + Math.min(large, numBuckets - 1);
    }

    /** max |got - want| / max |want|; NaN in got counts as infinite error. */
    public static double relativeError(float[] got, double[] want) {
        double err = 0, scale = 1e-30;
        for (int i = 0; i < want.length; i++) {
            double e = Math.abs(got[i] - want[i]);
            err = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(err, e);
            scale = Math.max(scale, Math.abs(want[i]));
        }
        return err / scale;
    }

    /** The values widened to double, to compare one backend's floats with another's. */
    public static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    /** A tensor of uniform values in [-1, 1): never zeros. */
    public static Tensor random(Arena arena, SplittableRandom rnd, long... shape) {
        Tensor t = Tensor.allocate(arena, shape);
        float[] values = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return t.copyFrom(values);
    }
}
