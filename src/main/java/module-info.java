/**
 * panattn: attention on the CPU from Java. Native C kernels (OpenBLAS GEMM,
 * AVX-512/AVX2/NEON softmax and masking) through Panama, and a pure-Java backend
 * behind the same API. Start with {@link org.panattn.Attention}: the operations
 * and tensors are in {@code org.panattn}, the layers built from them
 * (multi-head attention, the encoder-decoder step, attention pooling) in
 * {@code org.panattn.layers}.
 */
module org.panattn {
    exports org.panattn;
    exports org.panattn.layers;
    // Backend.JAVA_VECTOR only; the JVM needs --add-modules jdk.incubator.vector for it.
    requires static jdk.incubator.vector;
    // The command line's bench --chart only.
    requires static java.desktop;
}
