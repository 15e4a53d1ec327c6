package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.panattn.Mask;
import org.panattn.Tensor;

/**
 * Plain Java loops, one thread: the reference every other backend is
 * checked against, written to be read. Same semantics as the native
 * library, including zeros for fully masked rows.
 */
public final class JavaBackend implements AttentionBackend {
    public static final JavaBackend INSTANCE = new JavaBackend();

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private JavaBackend() {
    }

    /** A 4-D strided view with its strides unpacked; broadcast dimensions get stride 0. */
    private record View(MemorySegment seg, long s0, long s1, long s2, long s3) {
        static View of(Tensor t) {
            long[] st = t.strides();
            return new View(t.segment(), st[0], st[1], st[2], st[3]);
        }

        /** A vector (n) as the last dimension of a 4-D view. */
        static View ofVector(Tensor t) {
            return new View(t.segment(), 0, 0, 0, t.strides()[0]);
        }

        static View of(Mask m) {
            long[] sh = m.shape();
            long[] st = m.strides();
            return new View(m.segment(), sh[0] == 1 ? 0 : st[0], sh[1] == 1 ? 0 : st[1],
                    sh[2] == 1 ? 0 : st[2], st[3]);
        }

        long offset(long a, long b, long c, long d) {
            return a * s0 + b * s1 + c * s2 + d * s3;
        }

        float get(long a, long b, long c, long d) {
            return seg.getAtIndex(F, offset(a, b, c, d));
        }

        void set(long a, long b, long c, long d, float value) {
            seg.setAtIndex(F, offset(a, b, c, d), value);
        }
    }

    /** A mask's view and kind, for applying it to one score. */
    private record MaskView(View view, boolean keep) {
        static MaskView of(Mask m) {
            return m == null ? null : new MaskView(View.of(m), m.kind() == Mask.Kind.KEEP);
        }

        /** The score with this mask applied: -inf where a keep-mask says no, else plus the addend. */
        float apply(float score, long b, long h, long i, long j) {
            if (keep) {
                return view.seg().get(ValueLayout.JAVA_BYTE, view.offset(b, h, i, j)) == 0
                        ? Float.NEGATIVE_INFINITY : score;
            }
            return score + view.get(b, h, i, j);
        }
    }

    /** The raw, scaled score of query i and key j in head h (key head kvh). */
    private interface Scores {
        float score(long b, long h, long kvh, long i, long j);
    }

    @Override
    public void sdpa(SdpaProblem p) {
        final View q = View.of(p.q()), k = View.of(p.k());
        final long dk = p.q().size(3);
        attend(p.common(), (b, h, kvh, i, j) -> {
            float dot = 0f;
            for (long d = 0; d < dk; d++) {
                dot += q.get(b, h, i, d) * k.get(b, kvh, j, d);
            }
            return dot * p.scale();
        });
    }

    @Override
    public void additive(AdditiveProblem p) {
        final View q = View.of(p.qp()), k = View.of(p.kp());
        final View v = p.vvec() == null ? null : View.ofVector(p.vvec());
        final long a = p.qp().size(3);
        attend(p.common(), (b, h, kvh, i, j) -> {
            float sum = 0f;
            for (long x = 0; x < a; x++) {
                float t = (float) Math.tanh(q.get(b, h, i, x) + k.get(b, kvh, j, x));
                sum += v == null ? t : v.get(0, 0, 0, x) * t;
            }
            return sum * p.scale();
        });
    }

    @Override
    public void concat(ConcatProblem p) {
        final View q = View.of(p.q()), k = View.of(p.k()), w = View.of(p.w().unsqueeze(0).unsqueeze(0));
        final View bias = p.bias() == null ? null : View.ofVector(p.bias());
        final long dq = p.q().size(3), dk = p.k().size(3);
        attend(p.common(), (b, h, kvh, i, j) -> {
            float s = bias == null ? 0f : bias.get(0, 0, 0, j);
            for (long d = 0; d < dq; d++) {
                s += w.get(0, 0, j, d) * q.get(b, h, i, d);
            }
            for (long d = 0; d < dk; d++) {
                s += w.get(0, 0, j, dq + d) * k.get(b, h, i, d);
            }
            return s * p.scale();
        });
    }

    /** The machinery every rule shares: positional terms, masks, softmax, weighted sum of values. */
    private static void attend(AttendProblem p, Scores rule) {
        if (p.out().size() == 0 && (p.weights() == null || p.weights().size() == 0)) {
            return; // nothing to write (the library does the same)
        }
        final View v = View.of(p.values()), out = View.of(p.out());
        final View w = p.weights() == null ? null : View.of(p.weights());
        final MaskView mask = MaskView.of(p.mask()), padding = MaskView.of(p.keyPadding());
        final Positional pos = p.positional();
        final View alibi = pos.alibiSlopes() == null ? null : View.ofVector(pos.alibiSlopes());
        final View rel = pos.relTable() == null ? null : View.of(pos.relTable().unsqueeze(0).unsqueeze(0));
        final int buckets = pos.relTable() == null ? 0 : (int) pos.relTable().size(1);
        final long lk = p.keys();
        final long dv = p.values().size(3);
        final long group = p.heads() / p.kvHeads();
        final float[] scores = new float[Math.toIntExact(lk)];
        for (long b = 0; b < p.batch(); b++) {
            for (long h = 0; h < p.heads(); h++) {
                final long kvh = h / group;
                for (long i = 0; i < p.queries(); i++) {
                    final int lo = (int) p.firstKey(i), hi = (int) p.endKey(i);
                    final long qpos = p.queryPosition(i);
                    float max = Float.NEGATIVE_INFINITY;
                    boolean poisoned = false; // a NaN or +Inf score among the kept keys
                    for (int j = lo; j < hi; j++) {
                        float s = rule.score(b, h, kvh, i, j);
                        if (pos.softcap() > 0f) {
                            s = pos.softcap() * (float) Math.tanh(s / pos.softcap());
                        }
                        long d = j - qpos;
                        if (alibi != null) {
                            s -= alibi.get(0, 0, 0, h) * Math.abs(d);
                        }
                        if (rel != null) {
                            s += rel.get(0, 0, h, Positional.bucket(d, buckets, pos.relBidirectional(),
                                    pos.relMaxDistance()));
                        }
                        if (mask != null) {
                            s = mask.apply(s, b, h, i, j);
                        }
                        if (padding != null) {
                            s = padding.apply(s, b, h, i, j);
                        }
                        scores[j] = s;
                        poisoned |= Float.isNaN(s) || s == Float.POSITIVE_INFINITY;
                        max = Math.max(max, s);
                    }
                    // No kept finite score: zeros. A NaN or +Inf score: NaN for
                    // every key the causal rule and window show. Else softmax
                    // with the row max subtracted.
                    final boolean empty = !poisoned && max == Float.NEGATIVE_INFINITY;
                    float sum = 0f;
                    for (int j = lo; j < hi; j++) {
                        scores[j] = empty ? 0f : poisoned ? Float.NaN : (float) Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j < lk; j++) {
                        scores[j] = j >= lo && j < hi && !empty ? scores[j] / sum : 0f;
                        if (w != null) {
                            w.set(b, h, i, j, scores[j]);
                        }
                    }
                    for (long d = 0; d < dv; d++) {
                        float acc = 0f;
                        for (int j = lo; j < hi && !empty; j++) { // 0 * NaN in V is NaN, as in sgemm
                            acc += scores[j] * v.get(b, kvh, j, d);
                        }
                        out.set(b, h, i, d, acc);
                    }
                }
            }
        }
    }

    @Override
    public void linear(LinearProblem p) {
        final View x = View.of(p.x()), w = View.of(p.w()), y = View.of(p.y());
        final View bias = p.bias() == null ? null : View.of(p.bias());
        final long[] shape = p.x().shape();
        final long n = p.w().size(2);
        for (long a = 0; a < shape[0]; a++) {
            for (long b = 0; b < shape[1]; b++) {
                for (long m = 0; m < shape[2]; m++) {
                    for (long o = 0; o < n; o++) {
                        float acc = 0f;
                        for (long kk = 0; kk < shape[3]; kk++) {
                            acc += x.get(a, b, m, kk) * w.get(0, 0, o, kk);
                        }
                        y.set(a, b, m, o, acc + (bias == null ? 0f : bias.get(0, 0, 0, o)));
                    }
                }
            }
        }
    }

    @Override
    public void rope(Tensor x, long position, float base, boolean interleaved) {
        final View v = View.of(x);
        final long[] s = x.shape();
        final long half = s[3] / 2;
        for (long l = 0; l < s[2]; l++) {
            for (long k = 0; k < half; k++) {
                double angle = (position + l) * Math.pow(base, -2.0 * k / s[3]);
                float c = (float) Math.cos(angle), sn = (float) Math.sin(angle);
                long first = interleaved ? 2 * k : k, second = interleaved ? 2 * k + 1 : k + half;
                for (long b = 0; b < s[0]; b++) {
                    for (long h = 0; h < s[1]; h++) {
                        float x0 = v.get(b, h, l, first), x1 = v.get(b, h, l, second);
                        v.set(b, h, l, first, x0 * c - x1 * sn);
                        v.set(b, h, l, second, x0 * sn + x1 * c);
                    }
                }
            }
        }
    }
}
