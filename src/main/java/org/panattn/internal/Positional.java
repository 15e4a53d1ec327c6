package org.panattn.internal;

import org.panattn.Tensor;

/**
 * The positional terms added to scaled scores before the masks: a logit
 * soft-cap, ALiBi slopes, and a T5 relative-position bias.
 *
 * @param softcap          0, or the cap of {@code cap·tanh(s/cap)}
 * @param alibiSlopes      null, or (H) slopes: score −= slope[h]·|d|
 * @param relTable         null, or (H, numBuckets) (any strides): score += table[h][bucket(d)]
 * @param relBidirectional T5 buckets in both directions, or causal ones
 * @param relMaxDistance   distances from here on share the last bucket
 */
public record Positional(float softcap, Tensor alibiSlopes, Tensor relTable, boolean relBidirectional,
                         int relMaxDistance) {
    public static final Positional NONE = new Positional(0f, null, null, true, 128);

    public boolean any() {
        return softcap > 0f || alibiSlopes != null || relTable != null;
    }

    /** T5's bucket of d = key position − query position (integer arithmetic as in T5's code). */
    public static int bucket(long d, int numBuckets, boolean bidirectional, int maxDistance) {
        int bucket = 0;
        long n = -d;
        int buckets = numBuckets;
        if (bidirectional) {
            buckets /= 2;
            bucket += n < 0 ? buckets : 0;
            n = Math.abs(n);
        } else {
            n = Math.max(n, 0);
        }
        int exact = buckets / 2;
        if (n < exact) {
            return bucket + (int) n;
        }
        if (n >= maxDistance || exact == 0) {
            // Far keys share the last bucket; checked first, since with maxDistance <= exact (or no
            // exact bucket) the logarithm below is NaN, infinite or negative. As the native library.
            return bucket + buckets - 1;
        }
        int large = exact + (int) (Math.log((double) n / exact) / Math.log((double) maxDistance / exact)
                * (buckets - exact));
        return bucket + Math.min(large, buckets - 1);
    }
}
