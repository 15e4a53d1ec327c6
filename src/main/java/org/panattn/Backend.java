package org.panattn;

/** Where attention is computed. Every backend gives the same results within float32 rounding. */
public enum Backend {
    /** The native library: BLAS GEMM plus AVX-512/AVX2/NEON/scalar kernels. */
    NATIVE,
    /** Plain Java loops: the reference, and the baseline of comparisons. */
    JAVA,
    /**
     * Pure Java with the Vector API, on as many threads as the native pool:
     * the fair pure-Java competitor. The Vector API is still incubating, so
     * the JVM needs {@code --add-modules jdk.incubator.vector}.
     */
    JAVA_VECTOR
}
