/**
 * panattn: attention on the CPU from Java. Native C kernels (OpenBLAS GEMM,
 * AVX-512/AVX2/NEON softmax and masking) through Panama, and a pure-Java backend
 * behind the same API. Start with {@link org.panattn.Attention}.
 */
module org.panattn {
    exports org.panattn;
}
