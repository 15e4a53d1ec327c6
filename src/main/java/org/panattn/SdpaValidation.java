package org.panattn;

import java.lang.foreign.MemorySegment;
import java.util.Optional;

import org.panattn.OutputChecks.Region;

import org.panattn.internal.NativeLoader;
import org.panattn.internal.SdpaProblem;

/** Checks the arguments of scaled dot-product attention and brings them to rank 4. */
final class SdpaValidation {
    private static final long ANY = -1;

    private SdpaValidation() {
    }

    static SdpaProblem validate(Tensor q, Tensor k, Tensor v, Tensor out, AttentionSpec spec, Backend backend) {
        if (backend == Backend.NATIVE) {
            NativeLoader.ensureLoaded();
        }
        usable("q", q, backend);
        usable("k", k, backend);
        usable("v", v, backend);
        usable("out", out, backend);
        int rank = q.rank();
        if (rank != 3 && rank != 4) {
            throw new IllegalArgumentException("q: expected rank 4 (B, H, Lq, Dk) or rank 3 (B, Lq, Dk), got shape "
                    + Shapes.format(q.shape()));
        }
        for (String name : new String[] {"k", "v", "out"}) {
            Tensor t = name.equals("k") ? k : name.equals("v") ? v : out;
            if (t.rank() != rank) {
                throw new IllegalArgumentException(name + ": expected rank " + rank + " like q, got shape "
                        + Shapes.format(t.shape()));
            }
        }
        Tensor q4 = rank == 3 ? q.unsqueeze(1) : q;
        Tensor k4 = rank == 3 ? k.unsqueeze(1) : k;
        Tensor v4 = rank == 3 ? v.unsqueeze(1) : v;
        Tensor out4 = rank == 3 ? out.unsqueeze(1) : out;
        long b = q4.size(0), h = q4.size(1), lq = q4.size(2), dk = q4.size(3);
        long hkv = k4.size(1), lk = k4.size(2), dv = v4.size(3);
        String dims = rank == 4 ? "(B, Hkv, Lk, Dk)" : "(B, Lk, Dk)";
        expect("k", k4, rank, dims, b, ANY, ANY, dk);
        expect("v", v4, rank, rank == 4 ? "(B, Hkv, Lk, Dv) with Hkv, Lk of k" : "(B, Lk, Dv) with Lk of k",
                b, hkv, lk, ANY);
        expect("out", out4, rank, rank == 4 ? "(B, H, Lq, Dv)" : "(B, Lq, Dv)", b, h, lq, dv);
        if (hkv == 0 ? h != 0 : h % hkv != 0) {
            throw new IllegalArgumentException("k: its " + hkv + " heads must divide q's " + h
                    + " heads (grouped-query attention)");
        }
        contiguousRows("q", q4);
        contiguousRows("k", k4);
        contiguousRows("v", v4);
        contiguousRows("out", out4);

        Tensor w4 = null;
        if (spec.weights() != null) {
            Tensor w = spec.weights();
            usable("weights", w, backend);
            if (w.rank() != rank) {
                throw new IllegalArgumentException("weights: expected rank " + rank + " like q, got shape "
                        + Shapes.format(w.shape()));
            }
            w4 = rank == 3 ? w.unsqueeze(1) : w;
            expect("weights", w4, rank, rank == 4 ? "(B, H, Lq, Lk)" : "(B, Lq, Lk)", b, h, lq, lk);
            contiguousRows("weights", w4);
        }
        Mask mask = spec.mask();
        if (mask != null) {
            checkMask(mask, backend, b, h, lq, lk);
        }
        checkOutputs(q4, k4, v4, out4, mask, w4);
        float scale = Float.isNaN(spec.scale()) ? (float) (1.0 / Math.sqrt(Math.max(dk, 1))) : spec.scale();
        return new SdpaProblem(q4, k4, v4, out4, mask, w4, scale, spec.causal());
    }

    /** Outputs writable, one place per element, sharing no memory with inputs or each other. */
    private static void checkOutputs(Tensor q, Tensor k, Tensor v, Tensor out, Mask mask, Tensor w) {
        OutputChecks.writable("out", out);
        OutputChecks.distinctElements("out", out);
        Optional<Region> maskRegion = Optional.ofNullable(mask).map(Region::of);
        Region o = Region.of(out);
        OutputChecks.disjoint("out", o, "q", Optional.of(Region.of(q)));
        OutputChecks.disjoint("out", o, "k", Optional.of(Region.of(k)));
        OutputChecks.disjoint("out", o, "v", Optional.of(Region.of(v)));
        OutputChecks.disjoint("out", o, "mask", maskRegion);
        if (w != null) {
            OutputChecks.writable("weights", w);
            OutputChecks.distinctElements("weights", w);
            Region r = Region.of(w);
            OutputChecks.disjoint("weights", r, "out", Optional.of(o));
            OutputChecks.disjoint("weights", r, "q", Optional.of(Region.of(q)));
            OutputChecks.disjoint("weights", r, "k", Optional.of(Region.of(k)));
            OutputChecks.disjoint("weights", r, "v", Optional.of(Region.of(v)));
            OutputChecks.disjoint("weights", r, "mask", maskRegion);
        }
    }

    /** Not null, alive, accessible from this thread, and off-heap for the native backend. */
    private static void usable(String name, Tensor t, Backend backend) {
        if (t == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        usable(name, t.segment(), backend);
    }

    private static void usable(String name, MemorySegment seg, Backend backend) {
        if (!seg.scope().isAlive()) {
            throw new IllegalStateException(name + ": its arena is closed");
        }
        if (!seg.isAccessibleBy(Thread.currentThread())) {
            throw new IllegalStateException(name + ": its arena is confined to another thread");
        }
        if (backend == Backend.NATIVE && !seg.isNative()) {
            throw new IllegalArgumentException(name + ": the native backend needs off-heap memory "
                    + "(Tensor.allocate, or a segment from an Arena), got a heap segment");
        }
    }

    /** Checks a rank-4 view against expected dims (ANY = free), reporting in the caller's rank. */
    private static void expect(String name, Tensor t4, int rank, String dims, long... want) {
        for (int d = 0; d < 4; d++) {
            if (want[d] != ANY && t4.size(d) != want[d]) {
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
        }
    }

    private static void contiguousRows(String name, Tensor t4) {
        long[] s = t4.shape();
        long[] st = t4.strides();
        if (s[3] > 1 && st[3] != 1) {
            throw new IllegalArgumentException(name + ": the last dimension must be contiguous (stride 1), got strides "
                    + Shapes.format(st) + "; use contiguous() for a copy");
        }
        if (s[2] > 1 && st[2] < s[3]) {
            throw new IllegalArgumentException(name + ": rows overlap (stride " + st[2] + " < row length " + s[3]
                    + ")");
        }
        if (s[2] > Integer.MAX_VALUE || s[3] > Integer.MAX_VALUE || st[2] > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + ": rows beyond 2^31 elements are not supported, got shape "
                    + Shapes.format(s));
        }
    }

    private static void checkMask(Mask mask, Backend backend, long b, long h, long lq, long lk) {
        usable("mask", mask.segment(), backend);
        long[] s = mask.shape();
        long[] full = {b, h, lq};
        String[] names = {"B", "H", "Lq"};
        for (int d = 0; d < 3; d++) {
            if (s[d] != 1 && s[d] != full[d]) {
                throw new IllegalArgumentException("mask: shape " + Shapes.format(s) + " does not broadcast to (B, H, Lq, Lk) = "
                        + Shapes.format(b, h, lq, lk) + ": dimension " + names[d] + " must be 1 or " + full[d]);
            }
        }
        if (s[3] != lk) {
            throw new IllegalArgumentException("mask: last dimension must be Lk = " + lk + ", got shape "
                    + Shapes.format(s));
        }
        int elementBytes = mask.kind() == Mask.Kind.KEEP ? 1 : Float.BYTES;
        long[] st = mask.strides();
        long[] broadcast = new long[4];
        for (int d = 0; d < 4; d++) {
            broadcast[d] = s[d] == 1 ? 0 : st[d];
        }
        long need = Shapes.extent("mask", s, broadcast);
        if (need > mask.segment().byteSize() / elementBytes) {
            throw new IllegalArgumentException("mask: segment of " + mask.segment().byteSize()
                    + " bytes is too small for shape " + Shapes.format(s));
        }
    }
}
