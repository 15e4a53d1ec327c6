package org.panattn.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * The Java backends: {@link JavaDriver} for attention and the loops of the
 * linear layer and RoPE, all written with an {@link Ops}. This class, with
 * {@link Ops#SCALAR} on the calling thread, is the reference every other
 * backend is checked against; {@link VectorBackend} changes only the ops
 * and how the work items are run.
 */
public class JavaBackend implements AttentionBackend {
    public static final JavaBackend INSTANCE = new JavaBackend(Ops.SCALAR);

    private final Ops ops;

    JavaBackend(Ops ops) {
        this.ops = ops;
    }

    /**
     * Runs {@code item} for each of [0, count), here on the caller;
     * {@code memory} gives the segments the items touch (asked for only
     * when the work could be split).
     */
    void run(long count, LongConsumer item, Supplier<List<MemorySegment>> memory) {
        for (long i = 0; i < count; i++) {
            item.accept(i);
        }
    }

    @Override
    public void attend(Plan p, Rule rule) {
        Supplier<List<MemorySegment>> memory = () -> {
            List<MemorySegment> all = segments(p.values(), p.out(), p.weights(), p.mask(), p.keyPadding(), p.alibi(),
                    p.relTable());
            all.addAll(segments(rule.inputs()));
            return all;
        };
        JavaDriver.attend(p, rule, ops, (count, item) -> run(count, item, memory));
    }

    @Override
    public void linear(LinearPlan p) {
        final View x = p.x(), w = p.w(), y = p.y(), bias = p.bias();
        final int k = (int) x.size(3), n = (int) w.size(2);
        final long rows = x.size(0) * x.size(1) * x.size(2);
        final long tiles = (rows + JavaDriver.TILE - 1) / JavaDriver.TILE;
        run(tiles, tile -> {
            for (long r = tile * JavaDriver.TILE; r < Math.min(rows, (tile + 1) * JavaDriver.TILE); r++) {
                long a = r / (x.size(1) * x.size(2)), b = r / x.size(2) % x.size(1), m = r % x.size(2);
                long xOff = x.row(a, b, m), yOff = y.row(a, b, m);
                for (int o = 0; o < n; o++) {
                    float s = ops.dot(x, xOff, w, w.row(0, 0, o), k)
                            + (bias == null ? 0f : bias.get(0, 0, 0, o));
                    y.segment().set(ValueLayout.JAVA_FLOAT_UNALIGNED, yOff + (long) o * Float.BYTES, s);
                }
            }
        }, () -> segments(x, w, bias, y));
    }

    @Override
    public void rope(View x, long position, float base, boolean interleaved) {
        final int d = (int) x.size(3), half = d / 2;
        run(x.size(2), l -> {
            float[] cos = new float[half], sin = new float[half];
            for (int k = 0; k < half; k++) {
                double angle = (position + l) * Math.pow(base, -2.0 * k / d);
                cos[k] = (float) Math.cos(angle);
                sin[k] = (float) Math.sin(angle);
            }
            for (long b = 0; b < x.size(0); b++) {
                for (long h = 0; h < x.size(1); h++) {
                    ops.rotate(x.segment(), x.row(b, h, l), d, cos, sin, interleaved);
                }
            }
        }, () -> segments(x));
    }

    private static List<MemorySegment> segments(View... views) {
        List<MemorySegment> list = new ArrayList<>();
        for (View v : views) {
            if (v != null) {
                list.add(v.segment());
            }
        }
        return list;
    }
}
