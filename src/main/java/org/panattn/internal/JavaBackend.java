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

    @Override
    public void sdpa(SdpaProblem p) {
        final View q = View.of(p.q()), k = View.of(p.k()), v = View.of(p.v()), out = View.of(p.out());
        final View w = p.weights() == null ? null : View.of(p.weights());
        final View mask = p.mask() == null ? null : View.of(p.mask());
        final boolean keepMask = p.mask() != null && p.mask().kind() == Mask.Kind.KEEP;
        final long lk = p.keys();
        final long dk = p.q().size(3);
        final long dv = p.v().size(3);
        if (p.out().size() == 0 && (w == null || p.weights().size() == 0)) {
            return; // nothing to write (the library does the same)
        }
        final long group = p.heads() / p.kvHeads();
        final float[] scores = new float[Math.toIntExact(lk)];
        for (long b = 0; b < p.batch(); b++) {
            for (long h = 0; h < p.heads(); h++) {
                final long kvh = h / group;
                for (long i = 0; i < p.queries(); i++) {
                    final long limit = p.causalLimit(i);
                    float max = Float.NEGATIVE_INFINITY;
                    boolean poisoned = false; // a NaN or +Inf score among the kept keys
                    for (int j = 0; j < limit; j++) {
                        float dot = 0f;
                        for (long d = 0; d < dk; d++) {
                            dot += q.get(b, h, i, d) * k.get(b, kvh, j, d);
                        }
                        float s = dot * p.scale();
                        if (keepMask && mask.seg().get(ValueLayout.JAVA_BYTE, mask.offset(b, h, i, j)) == 0) {
                            s = Float.NEGATIVE_INFINITY;
                        } else if (mask != null && !keepMask) {
                            s += mask.get(b, h, i, j);
                        }
                        scores[j] = s;
                        poisoned |= Float.isNaN(s) || s == Float.POSITIVE_INFINITY;
                        max = Math.max(max, s);
                    }
                    // No kept finite score: zeros. A NaN or +Inf score: NaN for
                    // every key the causal rule shows. Else softmax with the
                    // row max subtracted.
                    final boolean empty = !poisoned && max == Float.NEGATIVE_INFINITY;
                    float sum = 0f;
                    for (int j = 0; j < limit; j++) {
                        scores[j] = empty ? 0f : poisoned ? Float.NaN : (float) Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j < lk; j++) {
                        scores[j] = j < limit && !empty ? scores[j] / sum : 0f;
                        if (w != null) {
                            w.set(b, h, i, j, scores[j]);
                        }
                    }
                    for (long d = 0; d < dv; d++) {
                        float acc = 0f;
                        for (int j = 0; j < limit && !empty; j++) {
                            acc += scores[j] * v.get(b, kvh, j, d); // 0 * NaN in V is NaN, as in sgemm
                        }
                        out.set(b, h, i, d, acc);
                    }
                }
            }
        }
    }
}
