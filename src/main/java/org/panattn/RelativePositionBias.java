package org.panattn;

/**
 * T5's relative-position bias: a learned table of {@code numBuckets × H}
 * values; the score of query position p and key position j gets
 * {@code table[bucket(j − p)][h]}. Buckets are exact for small distances
 * and logarithmic up to {@code maxDistance}; bidirectional buckets tell
 * earlier from later keys (encoders), causal ones only look back
 * (decoders). The table has T5's layout, {@code (numBuckets, H)}, as in
 * {@code relative_attention_bias.weight}.
 *
 * @param table         (numBuckets, H), numBuckets &ge; 2
 * @param bidirectional T5 encoder buckets (true) or decoder ones (false)
 * @param maxDistance   distances from here on share the last bucket (T5: 128)
 */
public record RelativePositionBias(Tensor table, boolean bidirectional, int maxDistance) {
    /** Checks the table's shape and the distance. */
    public RelativePositionBias {
        if (table == null || table.rank() != 2 || table.size(0) < 2) {
            throw new IllegalArgumentException("table: expected shape (numBuckets >= 2, H), got "
                    + (table == null ? "null" : Shapes.format(table.shape())));
        }
        if (maxDistance < 2) {
            throw new IllegalArgumentException("maxDistance must be >= 2, got " + maxDistance);
        }
    }

    /**
     * The bucket of relative position {@code d = key position − query position}, as T5 computes it.
     *
     * @param d the width
     * @return the bucket index
     */
    public int bucket(long d) {
        return org.panattn.internal.Plan.bucket(d, (int) table.size(0), bidirectional, maxDistance);
    }
}
