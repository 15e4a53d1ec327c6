package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Ops} with the Vector API (jdk.incubator.vector): every loop of the
 * rules, the positional terms, the softmax, the values and RoPE runs on
 * the machine's preferred vector width, with a scalar tail. Half-precision
 * rows are widened in registers, a vector of floats from a vector of
 * 16-bit elements (half the width).
 */
final class VectorOps extends Ops {
    static final VectorOps INSTANCE = new VectorOps();

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final VectorSpecies<Integer> INTS = S.withLanes(int.class);
    /** L 16-bit elements: half of S's bits. */
    private static final VectorSpecies<Short> HALVES = VectorSpecies.of(short.class,
            VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** Swaps the two lanes of each pair: (x1, x0, x3, x2, ...). */
    private static final VectorShuffle<Float> PAIR_SWAP = VectorShuffle.fromOp(S, i -> i ^ 1);
    /** −1 on even lanes, +1 on odd ones. */
    private static final FloatVector ALTERNATE = FloatVector.fromArray(S, alternate(), 0);

    private VectorOps() {
    }

    private static float[] alternate() {
        float[] a = new float[L];
        for (int i = 0; i < L; i++) {
            a[i] = i % 2 == 0 ? -1f : 1f;
        }
        return a;
    }

    private static FloatVector load(MemorySegment s, long off, int d) {
        return FloatVector.fromMemorySegment(S, s, off + (long) d * Float.BYTES, ORDER);
    }

    /** L elements of the row of {@code v} at byte offset {@code off}, from element d, as floats. */
    private static FloatVector load(View v, long off, int d) {
        return switch (v.type()) {
            case F32 -> load(v.segment(), off, d);
            case BF16 -> halves(v, off, d).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            case F16 -> f16ToFloats(halves(v, off, d));
            case BOOL -> throw new IllegalArgumentException("a keep-mask has no floats");
        };
    }

    /** L 16-bit elements, one to a 32-bit lane (its low half; the high half is the sign's copies). */
    private static IntVector halves(View v, long off, int d) {
        return (IntVector) ShortVector.fromMemorySegment(HALVES, v.segment(), off + (long) d * Short.BYTES, ORDER)
                .convertShape(VectorOperators.S2I, INTS, 0);
    }

    /**
     * binary16 fields to float32 ones: the sign moves to bit 31; exponent and
     * fraction shift up 13 bits and the exponent is rebiased by 127 − 15 = 112
     * (by 224 for the all-ones exponent of infinities and NaN, which becomes
     * 255); zeros and subnormals, fraction × 2^−24, are converted exactly.
     */
    private static FloatVector f16ToFloats(IntVector h) {
        IntVector magnitude = h.and(0x7FFF);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector wide = magnitude.lanewise(VectorOperators.LSHL, 13).add(112 << 23);
        wide = wide.add(IntVector.broadcast(INTS, 112 << 23), magnitude.compare(VectorOperators.GE, 0x7C00));
        IntVector small = ((FloatVector) magnitude.convert(VectorOperators.I2F, 0)).mul(0x1p-24f).reinterpretAsInts();
        return wide.blend(small, magnitude.compare(VectorOperators.LT, 0x400)).or(sign).reinterpretAsFloats();
    }

    @Override
    public float dot(View x, long xOff, View y, long yOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int d = 0;
        for (int bound = S.loopBound(n); d < bound; d += L) {
            acc = load(x, xOff, d).fma(load(y, yOff, d), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; d < n; d++) {
            sum += at(x, xOff, d) * at(y, yOff, d);
        }
        return sum;
    }

    @Override
    public float tanhDot(MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int a = 0;
        for (int bound = S.loopBound(n); a < bound; a += L) {
            FloatVector t = load(q, qOff, a).add(load(k, kOff, a)).lanewise(VectorOperators.TANH);
            acc = v == null ? acc.add(t) : load(v, vOff, a).fma(t, acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; a < n; a++) {
            float t = (float) Math.tanh(at(q, qOff, a) + at(k, kOff, a));
            sum += v == null ? t : at(v, vOff, a) * t;
        }
        return sum;
    }

    @Override
    public void axpy(float w, View y, long yOff, float[] acc, int n) {
        FloatVector wv = FloatVector.broadcast(S, w);
        int d = 0;
        for (int bound = S.loopBound(n); d < bound; d += L) {
            load(y, yOff, d).fma(wv, FloatVector.fromArray(S, acc, d)).intoArray(acc, d);
        }
        for (; d < n; d++) {
            acc[d] += w * at(y, yOff, d);
        }
    }

    @Override
    public void scale(float[] row, int lo, int hi, float factor) {
        int j = lo;
        for (int bound = lo + S.loopBound(hi - lo); j < bound; j += L) {
            FloatVector.fromArray(S, row, j).mul(factor).intoArray(row, j);
        }
        super.scale(row, j, hi, factor);
    }

    @Override
    public void softcap(float[] row, int lo, int hi, float cap) {
        int j = lo;
        for (int bound = lo + S.loopBound(hi - lo); j < bound; j += L) {
            FloatVector.fromArray(S, row, j).div(cap).lanewise(VectorOperators.TANH).mul(cap).intoArray(row, j);
        }
        super.softcap(row, j, hi, cap);
    }

    @Override
    public void alibi(float[] row, int lo, int hi, float slope, long position) {
        int j = lo;
        if (Math.abs(position) < Integer.MAX_VALUE / 2) { // j − position then fits an int lane
            IntVector iota = IntVector.zero(S.withLanes(int.class)).addIndex(1);
            for (int bound = lo + S.loopBound(hi - lo); j < bound; j += L) {
                FloatVector d = (FloatVector) iota.add(j - (int) position).abs().convert(VectorOperators.I2F, 0);
                FloatVector.fromArray(S, row, j).sub(d.mul(slope)).intoArray(row, j);
            }
        }
        super.alibi(row, j, hi, slope, position);
    }

    @Override
    public void add(float[] row, int lo, int hi, float[] add, int from) {
        int j = lo;
        for (int bound = lo + S.loopBound(hi - lo); j < bound; j += L) {
            FloatVector.fromArray(S, row, j).add(FloatVector.fromArray(S, add, from + j - lo)).intoArray(row, j);
        }
        super.add(row, j, hi, add, from + j - lo);
    }

    @Override
    public float exp(float[] row, int lo, int hi, float max) {
        FloatVector acc = FloatVector.zero(S);
        int j = lo;
        for (int bound = lo + S.loopBound(hi - lo); j < bound; j += L) {
            FloatVector e = FloatVector.fromArray(S, row, j).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(row, j);
            acc = acc.add(e);
        }
        return acc.reduceLanes(VectorOperators.ADD) + super.exp(row, j, hi, max);
    }

    @Override
    public void normalize(float[] row, int lo, int hi, float sum) {
        float inv = 1f / sum;
        int j = lo;
        for (int bound = lo + S.loopBound(hi - lo); j < bound; j += L) {
            FloatVector.fromArray(S, row, j).mul(inv).intoArray(row, j);
        }
        for (; j < hi; j++) {
            row[j] *= inv;
        }
    }

    @Override
    public void rotate(MemorySegment x, long off, int n, float[] cos, float[] sin, boolean interleaved) {
        int half = n / 2;
        if (interleaved) {
            // Lane pairs (x0, x1) → (x0·c − x1·s, x1·c + x0·s): x·c + swap(x)·(∓s).
            float[] c2 = new float[L], s2 = new float[L];
            int d = 0;
            for (int bound = S.loopBound(n); d < bound; d += L) {
                for (int i = 0; i < L; i++) {
                    c2[i] = cos[(d + i) / 2];
                    s2[i] = sin[(d + i) / 2];
                }
                FloatVector v = load(x, off, d);
                FloatVector swapped = v.rearrange(PAIR_SWAP).mul(ALTERNATE);
                v.mul(FloatVector.fromArray(S, c2, 0)).add(swapped.mul(FloatVector.fromArray(S, s2, 0)))
                        .intoMemorySegment(x, off + (long) d * Float.BYTES, ORDER);
            }
            rotatePairs(x, off, n, cos, sin, d / 2, true);
            return;
        }
        int k = 0;
        long second = off + (long) half * Float.BYTES;
        for (int bound = S.loopBound(half); k < bound; k += L) {
            FloatVector x0 = load(x, off, k), x1 = load(x, second, k);
            FloatVector c = FloatVector.fromArray(S, cos, k), s = FloatVector.fromArray(S, sin, k);
            x0.mul(c).sub(x1.mul(s)).intoMemorySegment(x, off + (long) k * Float.BYTES, ORDER);
            x0.mul(s).add(x1.mul(c)).intoMemorySegment(x, second + (long) k * Float.BYTES, ORDER);
        }
        rotatePairs(x, off, n, cos, sin, k, false);
    }
}
