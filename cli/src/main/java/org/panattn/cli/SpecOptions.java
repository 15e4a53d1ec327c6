package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;

import org.panattn.Alibi;
import org.panattn.AttentionSpec;
import org.panattn.Causal;
import org.panattn.Mask;
import org.panattn.RelativePositionBias;
import org.panattn.Tensor;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

/**
 * The options of {@link AttentionSpec} that the commands share, as two picocli groups, and what they add
 * to a spec: {@link Masks} (which keys each query sees: run) and {@link Terms} (the window, the scale and
 * the positional terms: run and decode). Each file is checked against the call's sizes before it reaches the
 * spec, so a refusal names the option and the shape it expected.
 */
final class SpecOptions {
    private SpecOptions() {
    }

    /**
     * The sizes of one call the options are checked against.
     *
     * @param batch B
     * @param heads H (1 for rank-3 inputs)
     * @param lq the queries
     * @param lk the keys (for concat, the value positions)
     */
    record Sizes(long batch, long heads, long lq, long lk) {
        /** The sizes of q (B, H, Lq, D) or (B, Lq, D) over v (B, Hkv, Lk, Dv) or (B, Lk, Dv). */
        static Sizes of(Tensor q, Tensor v) {
            int rank = q.rank();
            return new Sizes(q.size(0), rank == 4 ? q.size(1) : 1, q.size(rank - 2), v.size(v.rank() - 2));
        }
    }

    /** --mask, --key-padding-mask, --key-lengths, --causal, --causal-align. */
    static final class Masks {
        @Option(names = "--mask", paramLabel = "M.npy", order = 1,
                description = "(Lq,Lk), (B,Lq,Lk) or (B,H,Lq,Lk), bool (true = attend) or float (added)")
        String mask;

        @Option(names = "--key-padding-mask", paramLabel = "M.npy", order = 2,
                description = "(B, Lk), bool (true = attend) or float (added), beside --mask; pooling: (B, L) bool")
        String keyPaddingMask;

        @Option(names = "--key-lengths", paramLabel = "N,...", order = 3, converter = Lengths.class,
                description = "one a batch row: row b sees its first N_b keys only (bottom-right alignment then "
                    + "aligns each row to its own length)")
        KeyLengths keyLengths;

        @Option(names = "--causal", order = 4, description = "causal, aligned top-left")
        boolean causal;

        @Option(names = "--causal-align", paramLabel = "A", order = 5, converter = RunCommand.Align.class,
                description = "top-left or bottom-right (decoding: the queries are the last Lq keys); implies "
                        + "--causal")
        Causal align;

        /** The input files these options name. */
        Map<String, String> files() {
            return Options.files("--mask", mask, "--key-padding-mask", keyPaddingMask);
        }

        /** The causal rule: --causal-align, else top-left for --causal, else none. */
        Causal rule() {
            return align != null ? align : causal ? Causal.TOP_LEFT : Causal.NONE;
        }

        /** Adds the causal rule and the masks, read in {@code arena} and checked against {@code s}. */
        void apply(Arena arena, AttentionSpec.Builder spec, Sizes s) throws IOException {
            spec.causal(rule());
            if (mask != null) {
                spec.mask(attentionMask(arena, mask, s));
            }
            if (keyPaddingMask != null) {
                spec.keyPadding(keyPadding(arena, keyPaddingMask, s.batch(), s.lk()));
            }
            if (keyLengths != null) {
                spec.keyLengths(keyLengths.checked(s));
            }
        }
    }

    /** --window, --scale, --softcap, --alibi, --rel-bias, --rel-max-distance, --rel-unidirectional. */
    static final class Terms {
        @Option(names = "--window", paramLabel = "W|L,R", order = 1, converter = WindowValue.class,
                description = "W: the last W keys up to each query (needs a causal rule); L,R: the keys p-L to p+R "
                    + "around each query's position p, -1 for no bound, with or without a causal rule")
        Window window;

        @Option(names = "--scale", paramLabel = "S", order = 2, converter = Options.Scale.class,
                description = "the scores' scale (default 1/sqrt(Dk) for sdpa, mha and decode, else 1)")
        Double scale;

        @Option(names = "--softcap", paramLabel = "S", order = 3, converter = Options.Cap.class,
                description = "logit soft-capping S·tanh(score/S)")
        Double softcap;

        @Option(names = "--alibi", order = 4, description = "ALiBi, with the paper's slopes for H heads")
        boolean alibi;

        @Option(names = "--rel-bias", paramLabel = "TABLE.npy", order = 5,
                description = "T5's relative_attention_bias (numBuckets, H)")
        String relBias;

        @Option(names = "--rel-max-distance", paramLabel = "N", order = 6, converter = Options.Distance.class,
                description = "T5's max_distance (default 128)")
        Long relMaxDistance;

        @Option(names = "--rel-unidirectional", order = 7, description = "T5's decoder buckets (not bidirectional)")
        boolean relUnidirectional;

        /** The input files these options name. */
        Map<String, String> files() {
            return Options.files("--rel-bias", relBias);
        }

        /**
         * Adds the window, scale and positional terms, read in {@code arena} and checked against {@code s};
         * {@code causal} is the call's causal rule, which a window needs.
         */
        void apply(Arena arena, AttentionSpec.Builder spec, Sizes s, Causal causal) throws IOException {
            if (relBias == null && (relMaxDistance != null || relUnidirectional)) {
                throw new Options.UsageException((relMaxDistance != null ? "--rel-max-distance" : "--rel-unidirectional")
                        + " needs --rel-bias");
            }
            if (window != null) {
                if (window.keys() > 0 && causal == Causal.NONE) {
                    throw new Options.UsageException("--window " + window.keys() + " needs --causal or --causal-align: "
                            + "the window counts back from each query's causal position (--window L,R needs neither)");
                }
                window.applyTo(spec);
            }
            if (scale != null) {
                spec.scale(scale.floatValue());
            }
            if (softcap != null) {
                spec.softcap(softcap.floatValue());
            }
            if (alibi) {
                spec.alibi(Alibi.slopes(arena, Math.toIntExact(s.heads())));
            }
            if (relBias != null) {
                float[] table = Inputs.floats("--rel-bias", relBias, "(numBuckets, H)", -1, s.heads());
                spec.relativeBias(new RelativePositionBias(Tensor.of(arena, table, table.length / s.heads(), s.heads()),
                        !relUnidirectional, relMaxDistance == null ? 128 : relMaxDistance.intValue()));
            }
        }
    }

    /**
     * A window: {@code keys} > 0 the last {@code keys} keys up to each query
     * (AttentionSpec's window(W)), else the extents left and right.
     */
    record Window(long keys, long left, long right) {
        void applyTo(AttentionSpec.Builder spec) {
            if (keys > 0) {
                spec.window(keys);
            } else {
                spec.window(left, right);
            }
        }
    }

    /** W (an integer >= 0; 0 for none) or L,R (each an integer >= 0, or -1 for no bound). */
    static final class WindowValue implements ITypeConverter<Window> {
        @Override
        public Window convert(String v) {
            try {
                long[] n = Arrays.stream(v.split(",", -1)).mapToLong(x -> Long.parseLong(x.strip())).toArray();
                long none = AttentionSpec.UNBOUNDED;
                if (n.length == 1 && n[0] >= 0) {
                    return n[0] > 0 ? new Window(n[0], 0, 0) : new Window(0, none, none);
                }
                if (n.length == 2 && n[0] >= none && n[1] >= none) {
                    return new Window(0, n[0], n[1]);
                }
            } catch (NumberFormatException e) {
                // refused below
            }
            throw new Options.BadValue("expected W (an integer >= 0) or L,R (integers >= 0, or -1 for no bound), got \""
                    + v + "\"");
        }
    }

    /** The key length of each batch row. */
    record KeyLengths(long[] values) {
        /** The lengths, refused unless there is one a batch row, each at most Lk. */
        long[] checked(Sizes s) {
            String given = "--key-lengths " + Arrays.stream(values).mapToObj(String::valueOf)
                    .collect(Collectors.joining(","));
            if (values.length != s.batch()) {
                throw new Options.UsageException(given + ": expected one length a batch row, B = " + s.batch()
                        + ", got " + values.length);
            }
            for (int b = 0; b < values.length; b++) {
                if (values[b] > s.lk()) {
                    throw new Options.UsageException(given + ": row " + b + "'s length " + values[b]
                            + " is more than its Lk = " + s.lk() + " keys");
                }
            }
            return values;
        }
    }

    /** Integers >= 0, separated by commas. */
    static final class Lengths implements ITypeConverter<KeyLengths> {
        @Override
        public KeyLengths convert(String v) {
            try {
                long[] n = Arrays.stream(v.split(",", -1)).mapToLong(x -> Long.parseLong(x.strip())).toArray();
                if (Arrays.stream(n).allMatch(x -> x >= 0)) {
                    return new KeyLengths(n);
                }
            } catch (NumberFormatException e) {
                // refused below
            }
            throw new Options.BadValue("expected integers >= 0 separated by commas, one a batch row, got \"" + v
                    + "\"");
        }
    }

    /** A --mask file: rank 2, 3 or 4 over (B, H, Lq, Lk), each size but Lk's equal to the call's or 1. */
    static Mask attentionMask(Arena arena, String file, Sizes s) throws IOException {
        Npy.Array a = Npy.read("--mask", file);
        long[] got = a.shape();
        long[] want = switch (got.length) {
            case 2 -> new long[] {s.lq(), s.lk()};
            case 3 -> new long[] {s.batch(), s.lq(), s.lk()};
            case 4 -> new long[] {s.batch(), s.heads(), s.lq(), s.lk()};
            default -> null;
        };
        boolean ok = want != null && got[got.length - 1] == s.lk();
        for (int d = 0; ok && d < got.length - 1; d++) {
            ok = got[d] == want[d] || got[d] == 1;
        }
        if (!ok) {
            throw new Options.UsageException("--mask " + file + ": expected shape (Lq, Lk), (B, Lq, Lk) or (B, H, Lq, Lk)"
                    + " with B = " + s.batch() + ", H = " + s.heads() + ", Lq = " + s.lq() + ", Lk = " + s.lk()
                    + " (each but Lk may be 1), got " + Inputs.shape(got));
        }
        return a.isBoolean() ? Mask.keep(arena, a.booleans(), got) : Mask.additive(Tensor.of(arena, a.floats(), got));
    }

    /** A --key-padding-mask file (B, Lk), bool or float, as a (B, 1, 1, Lk) mask. */
    static Mask keyPadding(Arena arena, String file, long batch, long lk) throws IOException {
        Npy.Array a = Npy.read("--key-padding-mask", file);
        Inputs.expectShape("--key-padding-mask", file, a.shape(), "(B, Lk)", batch, lk);
        return a.isBoolean() ? Mask.keep(arena, a.booleans(), batch, 1, 1, lk)
                : Mask.additive(Tensor.of(arena, a.floats(), batch, 1, 1, lk));
    }
}
