package org.panattn;

import org.panattn.internal.NativeLoader;
import org.panattn.internal.Plan;
import org.panattn.internal.View;

/**
 * Checks the arguments of the attention operations and brings them to
 * rank 4, before any native call; every failure names the argument and
 * the expected shape.
 */
final class AttentionValidation {
    static final long ANY = -1;
    /** Why a score rule's weights must be float32, for refusals. */
    static final String RULE_WEIGHTS = "a score rule's weights are float32";

    private AttentionValidation() {
    }

    /**
     * Checks that every tensor is usable and all have q's rank (3 or 4),
     * and returns them as rank 4 (a rank-3 tensor gains a head dimension).
     */
    static Tensor[] rank4(Backend backend, String[] names, Tensor... tensors) {
        if (backend == Backend.NATIVE) {
            NativeLoader.ensureLoaded();
        }
        for (int i = 0; i < tensors.length; i++) {
            usable(names[i], tensors[i], backend);
        }
        int rank = tensors[0].rank();
        if (rank != 3 && rank != 4) {
            throw new IllegalArgumentException(names[0] + ": expected rank 4 (B, H, L, D) or rank 3 (B, L, D), got shape "
                    + Shapes.format(tensors[0].shape()));
        }
        Tensor[] out = new Tensor[tensors.length];
        for (int i = 0; i < tensors.length; i++) {
            if (tensors[i].rank() != rank) {
                throw new IllegalArgumentException(names[i] + ": expected rank " + rank + " like " + names[0]
                        + ", got shape " + Shapes.format(tensors[i].shape()));
            }
            out[i] = rank == 3 ? tensors[i].unsqueeze(1) : tensors[i];
        }
        return out;
    }

    /**
     * The part every rule shares: values (B, Hkv, Lk, Dv) and out (B, H, Lq, Dv)
     * given the queries' (B, H, Lq) from {@code q4}; weights, masks, window,
     * key lengths and positional terms from the spec; the rule's resolved scale.
     */
    static Plan plan(int rank, Tensor q4, long hkv, long lk, String valuesName, Tensor v4, Tensor out4,
                     AttentionSpec spec, Backend backend, float scale) {
        long b = q4.size(0), h = q4.size(1), lq = q4.size(2), dv = v4.size(3);
        expect(valuesName, v4, rank, rank == 4 ? "(B, Hkv, Lk, Dv)" : "(B, Lk, Dv)", b, hkv, lk, ANY);
        expect("out", out4, rank, rank == 4 ? "(B, H, Lq, Dv)" : "(B, Lq, Dv)", b, h, lq, dv);
        if (hkv == 0 ? h != 0 : h % hkv != 0) {
            throw new IllegalArgumentException("k: its " + hkv + " heads must divide q's " + h
                    + " heads (grouped-query attention)");
        }
        contiguousRows(valuesName, v4);
        contiguousRows("out", out4);
        float32("out", out4, "outputs are float32");
        View w4 = null;
        if (spec.weights() != null) {
            Tensor w = spec.weights();
            usable("weights", w, backend);
            if (w.rank() != rank) {
                throw new IllegalArgumentException("weights: expected rank " + rank + ", got shape "
                        + Shapes.format(w.shape()));
            }
            Tensor t = rank == 3 ? w.unsqueeze(1) : w;
            expect("weights", t, rank, rank == 4 ? "(B, H, Lq, Lk)" : "(B, Lq, Lk)", b, h, lq, lk);
            contiguousRows("weights", t);
            float32("weights", t, "outputs are float32");
            w4 = t.view();
        }
        View mask = spec.mask() == null ? null : checkMask("mask", spec.mask(), backend, b, h, lq, lk);
        View padding = spec.keyPadding() == null ? null
                : checkMask("keyPadding", spec.keyPadding(), backend, b, h, lq, lk);
        View alibi = null;
        Tensor slopes = spec.alibiSlopes();
        if (slopes != null) {
            usable("alibiSlopes", slopes, backend);
            if (slopes.rank() != 1 || slopes.size(0) != h) {
                throw new IllegalArgumentException("alibiSlopes: expected shape (H) = (" + h + "), got "
                        + Shapes.format(slopes.shape()));
            }
            float32("alibiSlopes", slopes, "ALiBi slopes are float32");
            alibi = slopes.view();
        }
        RelativePositionBias rel = spec.relativeBias();
        View table = null;
        if (rel != null) {
            usable("relativeBias.table", rel.table(), backend);
            if (rel.table().size(1) != h) {
                throw new IllegalArgumentException("relativeBias.table: expected shape (numBuckets, H = " + h
                        + "), got " + Shapes.format(rel.table().shape()));
            }
            float32("relativeBias.table", rel.table(), "a T5 bias table is float32");
            table = rel.table().permute(1, 0).view();
        }
        long[] lengths = spec.keyLengths();
        if (lengths != null) {
            if (lengths.length != b) {
                throw new IllegalArgumentException("keyLengths: expected B = " + b + " lengths, one a batch row, got "
                        + lengths.length);
            }
            for (int i = 0; i < lengths.length; i++) {
                if (lengths[i] > lk) {
                    throw new IllegalArgumentException("keyLengths[" + i + "] = " + lengths[i] + ", expected 0 to Lk = "
                            + lk);
                }
            }
        }
        int causal = switch (spec.causal()) {
            case NONE -> Plan.NONE;
            case TOP_LEFT -> Plan.TOP_LEFT;
            case BOTTOM_RIGHT -> Plan.BOTTOM_RIGHT;
        };
        return new Plan(v4.view(), out4.view(), mask, padding, w4, causal, spec.windowLeft(), spec.windowRight(),
                lengths, spec.softcap(), alibi, table, rel == null || rel.bidirectional(),
                rel == null ? 128 : rel.maxDistance(), scale, b, h, hkv, lq, lk);
    }

    /**
     * Outputs writable, one place per element, sharing no memory with the
     * inputs (the shared ones and the rule's, named) or with each other.
     */
    static void checkOutputs(Plan p, String[] names, View... inputs) {
        View out = p.out(), weights = p.weights();
        OutputChecks.writable("out", out);
        OutputChecks.distinctElements("out", out);
        disjointFromInputs("out", out, p, names, inputs);
        if (weights != null) {
            OutputChecks.writable("weights", weights);
            OutputChecks.distinctElements("weights", weights);
            OutputChecks.disjoint("weights", weights, "out", out);
            disjointFromInputs("weights", weights, p, names, inputs);
        }
    }

    /** The output shares no byte with the rule's inputs (named), then with v, mask and keyPadding. */
    private static void disjointFromInputs(String name, View output, Plan p, String[] names, View[] inputs) {
        for (int i = 0; i < inputs.length; i++) {
            OutputChecks.disjoint(name, output, names[i], inputs[i]);
        }
        OutputChecks.disjoint(name, output, "v", p.values());
        OutputChecks.disjoint(name, output, "mask", p.mask());
        OutputChecks.disjoint(name, output, "keyPadding", p.keyPadding());
    }

    /**
     * Refuses a tensor whose dtype is not F32 where only float32 is taken,
     * naming it and saying why ({@code why}). Half precision is for the q, k
     * and v of scaled dot-product attention, every rule's v, and the cache.
     */
    static void float32(String name, Tensor t, String why) {
        if (t != null && t.dtype() != Dtype.F32) {
            throw new IllegalArgumentException(name + ": dtype " + t.dtype() + ", expected F32 (" + why + ")");
        }
    }

    /** Not null, alive, accessible from this thread, and off-heap for the native backend. */
    static void usable(String name, Tensor t, Backend backend) {
        if (t == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        t.checkUsable(name, backend);
    }

    /** Checks a rank-4 view against expected dims (ANY = free), reporting in the caller's rank. */
    static void expect(String name, Tensor t4, int rank, String dims, long b, long h, long l, long d) {
        if (fits(t4.size(0), b) && fits(t4.size(1), h) && fits(t4.size(2), l) && fits(t4.size(3), d)) {
            return;
        }
        long[] want = {b, h, l, d};
        StringBuilder e = new StringBuilder();
        long[] got = t4.shape();
        for (int i = 0; i < 4; i++) {
            if (rank == 3 && i == 1) {
                continue;
            }
            e.append(e.isEmpty() ? "(" : ", ").append(want[i] == ANY ? "*" : Long.toString(want[i]));
        }
        long[] shown = rank == 3 ? new long[] {got[0], got[2], got[3]} : got;
        throw new IllegalArgumentException(name + ": expected shape " + dims + " = " + e + "), got "
                + Shapes.format(shown));
    }

    private static boolean fits(long size, long want) {
        return want == ANY || size == want;
    }

    /** The last dimension of {@code t} (rank 3 or 4, as the caller passed it) is {@code width}. */
    static void expectWidth(String name, Tensor t, long width, String what) {
        if (t.size(t.rank() - 1) != width) {
            throw new IllegalArgumentException(name + ": last dimension must be " + width + " (" + what + "), got shape "
                    + Shapes.format(t.shape()));
        }
    }

    static void contiguousRows(String name, Tensor t4) {
        long rows = t4.size(2), width = t4.size(3), rowStride = t4.stride(2);
        if (width > 1 && t4.stride(3) != 1) {
            throw new IllegalArgumentException(name + ": the last dimension must be contiguous (stride 1), got strides "
                    + Shapes.format(t4.strides()) + "; use contiguous() for a copy");
        }
        if (rows > 1 && rowStride < width) {
            throw new IllegalArgumentException(name + ": rows overlap (stride " + rowStride + " < row length " + width
                    + ")");
        }
        if (rows > Integer.MAX_VALUE || width > Integer.MAX_VALUE || rowStride > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + ": rows beyond 2^31 elements are not supported, got shape "
                    + Shapes.format(t4.shape()));
        }
    }

    private static View checkMask(String name, Mask mask, Backend backend, long b, long h, long lq, long lk) {
        Tensor.checkUsable(name, mask.segment(), backend);
        long[] s = mask.shape();
        long[] full = {b, h, lq};
        String[] names = {"B", "H", "Lq"};
        for (int d = 0; d < 3; d++) {
            if (s[d] != 1 && s[d] != full[d]) {
                throw new IllegalArgumentException(name + ": shape " + Shapes.format(s) + " does not broadcast to (B, H, Lq, Lk) = "
                        + Shapes.format(b, h, lq, lk) + ": dimension " + names[d] + " must be 1 or " + full[d]);
            }
        }
        if (s[3] != lk) {
            throw new IllegalArgumentException(name + ": last dimension must be Lk = " + lk + ", got shape "
                    + Shapes.format(s));
        }
        int elementBytes = mask.kind() == Mask.Kind.KEEP ? 1 : Float.BYTES;
        long[] st = mask.strides();
        long[] broadcast = new long[4];
        for (int d = 0; d < 4; d++) {
            broadcast[d] = s[d] == 1 ? 0 : st[d];
        }
        long need = Shapes.extent(name, s, broadcast);
        if (need > mask.segment().byteSize() / elementBytes) {
            throw new IllegalArgumentException(name + ": segment of " + mask.segment().byteSize()
                    + " bytes is too small for shape " + Shapes.format(s));
        }
        return mask.view();
    }
}
