package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The loops the Java driver and the rules' score fills are made of, in
 * plain scalar Java: the reference, written to be read. {@link VectorOps}
 * overrides each with the Vector API. Offsets are in bytes; rows are
 * contiguous elements: floats, or, where a {@link View} gives the rows,
 * elements of its type, each widened to float as it is read.
 */
public class Ops {
    public static final Ops SCALAR = new Ops();

    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    protected Ops() {
    }

    static float at(MemorySegment s, long off, int d) {
        return s.get(F, off + (long) d * Float.BYTES);
    }

    /** Element d of the row of {@code v} at byte offset {@code off}, as a float. */
    static float at(View v, long off, int d) {
        return v.type().get(v.segment(), off + (long) d * v.type().bytes());
    }

    /** {@code x[0..n)·y[0..n)}, over rows of {@code x} and {@code y}. */
    public float dot(View x, long xOff, View y, long yOff, int n) {
        float sum = 0f;
        for (int d = 0; d < n; d++) {
            sum += at(x, xOff, d) * at(y, yOff, d);
        }
        return sum;
    }

    /** {@code Σ_a v[a]·tanh(q[a] + k[a])} over [0, n); v null means all ones. */
    public float tanhDot(MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff, int n) {
        float sum = 0f;
        for (int a = 0; a < n; a++) {
            float t = (float) Math.tanh(at(q, qOff, a) + at(k, kOff, a));
            sum += v == null ? t : at(v, vOff, a) * t;
        }
        return sum;
    }

    /** {@code acc[0..n) += w·y[0..n)}, y a row of {@code y}. */
    public void axpy(float w, View y, long yOff, float[] acc, int n) {
        for (int d = 0; d < n; d++) {
            acc[d] += w * at(y, yOff, d);
        }
    }

    /** {@code row[j] *= factor} on [lo, hi). */
    public void scale(float[] row, int lo, int hi, float factor) {
        for (int j = lo; j < hi; j++) {
            row[j] *= factor;
        }
    }

    /** {@code row[j] = cap·tanh(row[j]/cap)} on [lo, hi). */
    public void softcap(float[] row, int lo, int hi, float cap) {
        for (int j = lo; j < hi; j++) {
            row[j] = cap * (float) Math.tanh(row[j] / cap);
        }
    }

    /** ALiBi: {@code row[j] −= slope·|j − position|} on [lo, hi). */
    public void alibi(float[] row, int lo, int hi, float slope, long position) {
        for (int j = lo; j < hi; j++) {
            row[j] -= slope * Math.abs(j - position);
        }
    }

    /** {@code row[j] += add[from + j − lo]} on [lo, hi). */
    public void add(float[] row, int lo, int hi, float[] add, int from) {
        for (int j = lo; j < hi; j++) {
            row[j] += add[from + j - lo];
        }
    }

    /** {@code row[j] = exp(row[j] − max)} on [lo, hi); returns their sum. */
    public float exp(float[] row, int lo, int hi, float max) {
        float sum = 0f;
        for (int j = lo; j < hi; j++) {
            row[j] = (float) Math.exp(row[j] - max);
            sum += row[j];
        }
        return sum;
    }

    /** {@code row[j] /= sum} on [lo, hi). */
    public void normalize(float[] row, int lo, int hi, float sum) {
        for (int j = lo; j < hi; j++) {
            row[j] /= sum;
        }
    }

    /**
     * RoPE of one row at {@code off}: pairs (x[p], x[p']) rotate by angle k,
     * with p, p' = k, k + n/2 (half layout) or 2k, 2k + 1 (interleaved).
     */
    public void rotate(MemorySegment x, long off, int n, float[] cos, float[] sin, boolean interleaved) {
        rotatePairs(x, off, n, cos, sin, 0, interleaved);
    }

    /** The rotation of pairs k0 .. n/2 of a row. */
    static void rotatePairs(MemorySegment x, long off, int n, float[] cos, float[] sin, int k0, boolean interleaved) {
        for (int k = k0; k < n / 2; k++) {
            long first = off + (long) (interleaved ? 2 * k : k) * Float.BYTES;
            long second = off + (long) (interleaved ? 2 * k + 1 : k + n / 2) * Float.BYTES;
            float x0 = x.get(F, first), x1 = x.get(F, second);
            x.set(F, first, x0 * cos[k] - x1 * sin[k]);
            x.set(F, second, x0 * sin[k] + x1 * cos[k]);
        }
    }
}
