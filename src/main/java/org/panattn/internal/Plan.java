package org.panattn.internal;

/**
 * A validated attention call: what every score rule shares. The values,
 * the output, the masks, the causal rule and window, the positional terms
 * added to the rule's scaled scores, the scale, and the sizes. Backends
 * trust it; {@link Rule} holds the rule's own inputs.
 *
 * @param values           (B, Hkv, Lk, Dv)
 * @param out              (B, H, Lq, Dv)
 * @param mask             null, or broadcast to (B, H, Lq, Lk); float (added) or bool (kept)
 * @param keyPadding       null, or a second mask with the same rules
 * @param weights          null, or (B, H, Lq, Lk)
 * @param causal           {@link #NONE}, {@link #TOP_LEFT} or {@link #BOTTOM_RIGHT}
 * @param windowLeft       keys before the query's position it sees, or {@link #UNBOUNDED}
 * @param windowRight      keys after the query's position it sees, or {@link #UNBOUNDED}
 * @param keyLengths       null, or each batch row's keys (B), each in [0, Lk]
 * @param softcap          0, or the cap of {@code cap·tanh(s/cap)}
 * @param alibi            null, or (1, 1, 1, H) slopes: score −= slope[h]·|d|
 * @param relTable         null, or (1, 1, H, numBuckets): score += table[h][bucket(d)]
 * @param relBidirectional T5 buckets in both directions, or causal ones
 * @param relMaxDistance   distances from here on share the last bucket
 * @param scale            the rule's resolved scale
 */
public record Plan(View values, View out, View mask, View keyPadding, View weights, int causal, long windowLeft,
                   long windowRight, long[] keyLengths, float softcap, View alibi, View relTable,
                   boolean relBidirectional, int relMaxDistance, float scale, long batch, long heads, long kvHeads,
                   long queries, long keys) {
    /** The causal rules, with panattn.h's codes. */
    public static final int NONE = 0, TOP_LEFT = 1, BOTTOM_RIGHT = 2;

    /** A window extent without a bound, as panattn.h's -1. */
    public static final long UNBOUNDED = -1;

    /** Whether a positional term applies. */
    public boolean positional() {
        return softcap > 0f || alibi != null || relTable != null;
    }

    /** The key head of query head h (grouped-query attention). */
    public long kvHead(long h) {
        return heads == 0 ? 0 : h / (heads / kvHeads);
    }

    /** The keys batch row b has: its key length, or Lk. */
    public long keys(long b) {
        return keyLengths == null ? keys : keyLengths[Math.toIntExact(b)];
    }

    /**
     * Query i's position on batch row b's key axis, for the causal rule, the
     * window and the positional terms: i + keys(b) − Lq with bottom-right
     * causal alignment, else i.
     */
    public long queryPosition(long b, long i) {
        return causal == BOTTOM_RIGHT ? i + keys(b) - queries : i;
    }

    /** One past the last key query i of batch row b may see (as attend.c's key_range). */
    public long endKey(long b, long i) {
        long n = keys(b), pos = queryPosition(b, i), end = n;
        if (causal != NONE && pos < n) {
            end = pos + 1;
        }
        if (windowRight != UNBOUNDED && windowRight < end - pos - 1) { // pos + windowRight + 1 may not fit
            end = pos + windowRight + 1;
        }
        return Math.max(0, end);
    }

    /** First key query i of batch row b may see; never above {@link #endKey}. */
    public long firstKey(long b, long i) {
        long pos = queryPosition(b, i);
        long first = windowLeft != UNBOUNDED && windowLeft < pos ? pos - windowLeft : 0; // pos - windowLeft may not fit
        return Math.min(first, endKey(b, i));
    }

    /** Every output is empty: nothing to compute (the library does the same). */
    public boolean writesNothing() {
        return out.count() == 0 && (weights == null || weights.count() == 0);
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
