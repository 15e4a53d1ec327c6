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
    // Nothing but java.base. Backend.JAVA_VECTOR uses jdk.incubator.vector without requiring it: the
    // compiler adds the module and the read edge (pom.xml), and Attention adds the read edge at run time
    // when the JVM has the module (--add-modules jdk.incubator.vector).
}
