package org.panattn;

import java.lang.foreign.MemorySegment;

import org.panattn.internal.Plan;
import org.panattn.internal.PreparedCall;
import org.panattn.internal.Rule;
import org.panattn.internal.View;

/**
 * A scaled dot-product attention call on fixed tensors, validated once by
 * {@link Attention#prepare}: each {@link #run()} computes what
 * {@link Attention#scaledDotProduct(Tensor, Tensor, Tensor, Tensor, AttentionSpec)}
 * would with the same arguments, from the tensors' contents at that moment.
 *
 * <p>Tensors, masks and specs never change, so shapes, strides, overlaps,
 * read-only outputs and the backend are checked when the call is prepared;
 * a run checks only what can change: that the arena of every tensor the
 * call touches is still open and that this thread may access it, and
 * refuses the run with an {@link IllegalStateException} naming the tensor
 * otherwise, before anything is written. On the native backend the call's
 * descriptors are written once, so a run allocates nothing.
 *
 * <p>A run may come from any thread that may access the tensors. Runs only
 * read the call's state, but they all write the same outputs: run it on one
 * thread at a time, or prepare one call per thread, each with its own
 * outputs.
 */
public final class PreparedAttention {
    private final Backend backend;
    private final PreparedCall call;
    /** Every segment the call touches, and the names messages give them. */
    private final MemorySegment[] segments;
    private final String[] names;

    PreparedAttention(Backend backend, Plan plan, Rule rule, String[] inputNames) {
        View[] inputs = rule.inputs();
        View[] shared = {plan.values(), plan.out(), plan.weights(), plan.mask(), plan.keyPadding(), plan.alibi(),
            plan.relTable()};
        String[] sharedNames = {"v", "out", "weights", "mask", "keyPadding", "alibiSlopes", "relativeBias.table"};
        int count = inputs.length;
        for (View v : shared) {
            count += v == null ? 0 : 1;
        }
        segments = new MemorySegment[count];
        names = new String[count];
        int n = 0;
        for (int i = 0; i < inputs.length; i++, n++) {
            segments[n] = inputs[i].segment();
            names[n] = inputNames[i];
        }
        for (int i = 0; i < shared.length; i++) {
            if (shared[i] != null) {
                segments[n] = shared[i].segment();
                names[n++] = sharedNames[i];
            }
        }
        this.backend = backend;
        this.call = Attention.implementation(backend).prepare(plan, rule);
    }

    /** {@return the backend every run computes on, resolved when the call was prepared} */
    public Backend backend() {
        return backend;
    }

    /**
     * Runs the call on the tensors' current contents.
     *
     * @throws IllegalStateException if a tensor's arena is closed or confined to another thread
     */
    public void run() {
        for (int i = 0; i < segments.length; i++) {
            Tensor.checkUsable(names[i], segments[i], null);
        }
        call.run();
    }
}
