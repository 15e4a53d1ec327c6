package org.panattn;

/**
 * The causal rule: which keys a query may see. When Lq equals Lk both
 * alignments are the same ordinary causal mask.
 */
public enum Causal {
    /** No causal rule. */
    NONE,
    /** Query i sees keys j &le; i (PyTorch's {@code is_causal}). */
    TOP_LEFT,
    /** Query i sees keys j &le; i + (Lk &minus; Lq): the last query sees every key, as when decoding with a cache. */
    BOTTOM_RIGHT
}
