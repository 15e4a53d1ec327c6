package org.panattn;

/**
 * The half-precision formats as the tests know them, written from their
 * definitions and independent of the library's conversions: a value from
 * its sign, exponent and fraction fields, and the nearest value to a
 * double (ties to the even bit pattern) found by bisection over the
 * format's own values in order.
 */
final class HalfReference {
    private HalfReference() {
    }

    /** Fraction bits of F16 (10) or BF16 (7). */
    private static int fractionBits(Dtype t) {
        return t == Dtype.F16 ? 10 : 7;
    }

    /** The largest finite value's bits: 0x7BFF (65504) or 0x7F7F (about 3.39e38). */
    static int maxFinite(Dtype t) {
        return t == Dtype.F16 ? 0x7BFF : 0x7F7F;
    }

    /** The bits of +infinity: the exponent all ones, the fraction zero. */
    static int infinity(Dtype t) {
        return maxFinite(t) + 1;
    }

    /** The value of bits (16 bits), NaN for every NaN. */
    static double value(int bits, Dtype t) {
        int f = fractionBits(t), exponentBits = 15 - f, bias = (1 << exponentBits - 1) - 1;
        int exponent = (bits & 0x7FFF) >> f, fraction = bits & (1 << f) - 1;
        double x;
        if (exponent == (1 << exponentBits) - 1) {
            x = fraction != 0 ? Double.NaN : Double.POSITIVE_INFINITY;
        } else if (exponent == 0) {
            x = Math.scalb((double) fraction, 1 - bias - f);
        } else {
            x = Math.scalb((double) (fraction + (1 << f)), exponent - bias - f);
        }
        return (bits & 0x8000) != 0 ? -x : x;
    }

    /**
     * The bits nearest to x, ties to the one with an even last bit; beyond
     * the largest finite value, rounding goes on as if the next value up
     * existed (the exponent all ones), and that value is infinity. NaN gives
     * a NaN (some NaN: its bits are not fixed here, only that it is one).
     */
    static int round(double x, Dtype t) {
        if (Double.isNaN(x)) {
            return infinity(t) | 1; // a NaN: exponent all ones, fraction nonzero
        }
        int sign = Math.copySign(1.0, x) < 0 ? 0x8000 : 0;
        double a = Math.abs(x);
        if (a == Double.POSITIVE_INFINITY) {
            return sign | infinity(t);
        }
        // Non-negative values in order of their bits, 0 .. infinity; "infinity" stands for the value
        // the next step of the last binade would have: max + one ulp of max.
        int lo = 0, hi = infinity(t);
        double top = 2 * value(maxFinite(t), t) - value(maxFinite(t) - 1, t);
        if (a >= top) {
            return sign | infinity(t);
        }
        while (hi - lo > 1) { // value(lo) <= a < value(hi), with value(infinity) read as top
            int mid = (lo + hi) >>> 1;
            if (value(mid, t) <= a) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double below = value(lo, t), above = hi == infinity(t) ? top : value(hi, t);
        int nearest = a - below < above - a ? lo : a - below > above - a ? hi : (lo & 1) == 0 ? lo : hi;
        return sign | nearest;
    }

    /** The double a float becomes once stored as t and read back. */
    static double rounded(float x, Dtype t) {
        return t == Dtype.F32 ? x : value(round(x, t), t);
    }
}
