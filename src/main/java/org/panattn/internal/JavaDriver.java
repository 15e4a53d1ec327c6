package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.function.LongConsumer;

/**
 * The one attention driver in Java, shared by the Java and Vector API
 * backends (which differ only in their {@link Ops} and in how they run the
 * items). For each query row: the rule's scores times the scale, the positional
 * terms, the masks, the row softmax, the weights and the weighted sum of
 * values, with the rules of attend.c and panattn.h:
 * <ul>
 * <li>keys outside the causal rule, the window and the row's key length are left out (never read);</li>
 * <li>a row with no kept finite score (all {@code -Infinity}, or no key) is zeros;</li>
 * <li>a NaN or {@code +Infinity} score among the kept keys makes the row NaN;</li>
 * <li>otherwise softmax subtracts the row's maximum.</li>
 * </ul>
 */
public final class JavaDriver {
    /** Query rows per work item. */
    static final int TILE = 16;

    private JavaDriver() {
    }

    /** Runs {@code item} for each of [0, count): serially, or over threads. */
    public interface Runner {
        void run(long count, LongConsumer item);
    }

    /** Runs the call; items are (batch, head, tile of {@link #TILE} query rows). */
    public static void attend(Plan p, Rule rule, Ops ops, Runner runner) {
        if (p.writesNothing()) {
            return;
        }
        final long tiles = (p.queries() + TILE - 1) / TILE;
        runner.run(p.batch() * p.heads() * tiles, item -> {
            long b = item / (p.heads() * tiles), h = item / tiles % p.heads(), tile = item % tiles;
            new Rows(p, rule, ops).run(b, h, tile * TILE, Math.min(p.queries(), (tile + 1) * TILE));
        });
    }

    /** One item's rows, with its scratch. */
    private static final class Rows {
        private final Plan p;
        private final Rule rule;
        private final Ops ops;
        private final float[] row, acc;
        /** The T5 bias of each distance the item's rows reach, from {@code relFrom} on. */
        private float[] rel;
        private long relFrom;

        Rows(Plan p, Rule rule, Ops ops) {
            this.p = p;
            this.rule = rule;
            this.ops = ops;
            this.row = new float[Math.toIntExact(p.keys())];
            this.acc = new float[(int) p.values().size(3)];
        }

        void run(long b, long h, long first, long end) {
            if (p.relTable() != null && p.keys(b) > 0) {
                relativeBias(b, h, first, end);
            }
            for (long i = first; i < end; i++) {
                row(b, h, i);
            }
        }

        /**
         * table[h][bucket(d)] for every distance d = j − position(i) of rows
         * [first, end): Lk + TILE buckets per item instead of one per score.
         */
        private void relativeBias(long b, long h, long first, long end) {
            relFrom = -p.queryPosition(b, end - 1);
            long to = p.keys(b) - 1 - p.queryPosition(b, first);
            rel = new float[Math.toIntExact(Math.max(0, to - relFrom + 1))];
            View t = p.relTable();
            int buckets = (int) t.size(3);
            for (int x = 0; x < rel.length; x++) {
                rel[x] = t.get(0, 0, h, Plan.bucket(relFrom + x, buckets, p.relBidirectional(), p.relMaxDistance()));
            }
        }

        private void row(long b, long h, long i) {
            final int lo = (int) p.firstKey(b, i), hi = (int) p.endKey(b, i);
            final long position = p.queryPosition(b, i);
            if (lo < hi) {
                rule.scores(ops, b, h, p.kvHead(h), i, row, lo, hi);
                ops.scale(row, lo, hi, p.scale());
                if (p.softcap() > 0f) {
                    ops.softcap(row, lo, hi, p.softcap());
                }
                if (p.alibi() != null) {
                    ops.alibi(row, lo, hi, p.alibi().get(0, 0, 0, h), position);
                }
                if (rel != null) {
                    ops.add(row, lo, hi, rel, (int) (lo - position - relFrom));
                }
                mask(p.mask(), b, h, i, lo, hi);
                mask(p.keyPadding(), b, h, i, lo, hi);
            }
            float max = Float.NEGATIVE_INFINITY;
            boolean poisoned = false; // a NaN or +Inf score among the kept keys
            for (int j = lo; j < hi; j++) {
                poisoned |= Float.isNaN(row[j]) || row[j] == Float.POSITIVE_INFINITY;
                max = Math.max(max, row[j]);
            }
            final boolean empty = !poisoned && max == Float.NEGATIVE_INFINITY;
            if (poisoned) {
                Arrays.fill(row, lo, hi, Float.NaN);
            } else if (!empty) {
                ops.normalize(row, lo, hi, ops.exp(row, lo, hi, max));
            }
            View w = p.weights();
            if (w != null) {
                for (int j = 0; j < row.length; j++) {
                    w.set(b, h, i, j, j >= lo && j < hi && !empty ? row[j] : 0f);
                }
            }
            Arrays.fill(acc, 0f);
            View v = p.values();
            long kvh = p.kvHead(h);
            for (int j = lo; j < hi && !empty; j++) { // every kept key, as sgemm: 0 · NaN in V is NaN
                ops.axpy(row[j], v, v.row(b, kvh, j), acc, acc.length);
            }
            MemorySegment.copy(acc, 0, p.out().segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, p.out().row(b, h, i),
                    acc.length);
        }

        /** Adds a float mask, or sets −∞ where a keep-mask hides the key. */
        private void mask(View m, long b, long h, long i, int lo, int hi) {
            if (m == null) {
                return;
            }
            for (int j = lo; j < hi; j++) {
                if (m.bool()) {
                    row[j] = m.keeps(b, h, i, j) ? row[j] : Float.NEGATIVE_INFINITY;
                } else {
                    row[j] += m.get(b, h, i, j);
                }
            }
        }
    }
}
