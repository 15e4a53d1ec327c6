/*
 * panattn: attention kernels for the CPU.
 *
 * The one public header of libpanattn, and the input of scripts/jextract.sh.
 * Plain C11. Only types whose size is the same on LP64 and LLP64 cross this
 * boundary (int, long long, float, pointers and structs of those), so the
 * Java bindings generated from it are the same on every platform.
 *
 * Conventions
 *  - Every function that can fail returns a status (PA_OK or a negative
 *    PA_E* code); pa_last_error() then explains the failure in the calling
 *    thread. The library never aborts, prints or exits.
 *  - Tensors cross as pa_tensor descriptors: shapes and strides in elements,
 *    so (B,H,L,D) and (B,L,H,D) layouts both work without copies.
 *  - Masks use one polarity: a boolean mask is a keep-mask (nonzero = attend);
 *    a float mask is added to the scaled scores (-INFINITY = never attend).
 *  - A query row whose keys are all masked yields zeros (output and
 *    weights), never NaN.
 *  - Arguments are checked before anything is written: a failed call
 *    leaves every output untouched. The library reads each descriptor and
 *    the options once, into its own copy, and checks that copy.
 *  - Outputs (out, weights, a caller's workspace) must give every element
 *    its own memory (no stride-0 or interleaved dimension) and must not
 *    overlap any input or each other; data pointers must be aligned to
 *    their element size. Either mistake is PA_EINVAL, not a wrong result.
 *
 * Non-finite numbers. For each query row, the score of key j is
 * (q.k_j) * scale + mask[j] (additive mask), in float. A key the causal
 * rule, the window, the key length or the keep-mask hides is left out
 * whatever its score. Among the keys left:
 *  - a score of -INFINITY gets weight 0 (that is how a float mask masks);
 *  - if every score is -INFINITY (or no key is left) the row is zeros;
 *  - otherwise, if any score is NaN or +INFINITY, the row's weights (for
 *    the keys its causal rule, window and key length show) and its output
 *    are NaN;
 *  - otherwise softmax subtracts the row's max first, so finite scores of
 *    any size (1e30 and beyond) never overflow.
 * A NaN or infinity in V reaches, through the matrix product, the matching
 * output column of every row that gives its key a nonzero weight; rows of
 * the same head that give it weight 0 may get NaN there too (0 * Inf is
 * NaN), except rows that see no key at all, which stay zeros. Every ISA
 * level follows these rules identically.
 */
#ifndef PANATTN_H
#define PANATTN_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(PANATTN_BUILD)
#    define PA_API __declspec(dllexport)
#  else
#    define PA_API __declspec(dllimport)
#  endif
#else
#  define PA_API __attribute__((visibility("default")))
#endif

/* Status codes. */
enum pa_status {
    PA_OK = 0,
    PA_EINVAL = -1,         /* an argument is invalid; see pa_last_error() */
    PA_ENOMEM = -2,         /* a workspace could not be allocated */
    PA_EUNSUPPORTED = -3,   /* valid, but not supported by this build/CPU */
    PA_EINTERNAL = -4       /* a bug in panattn; please report it */
};

/*
 * Element types of a tensor. PA_F16 and PA_BF16 are storage formats: the
 * inputs that accept them (q, k and v of pa_sdpa, the values of every
 * attention rule) are widened to float exactly, and everything is computed
 * and accumulated in float, at every ISA level. Outputs are PA_F32.
 */
enum pa_dtype {
    PA_F32 = 0,             /* float, 4 bytes */
    PA_BOOL = 1,            /* unsigned char, 1 byte, nonzero = true */
    PA_F16 = 2,             /* IEEE 754 binary16, 2 bytes */
    PA_BF16 = 3             /* bfloat16: the top 16 bits of a float, 2 bytes */
};

/*
 * Instruction-set levels of the softmax/masking kernels. Scalar exists
 * everywhere; the others belong to one architecture each, and within an
 * architecture a higher value is a higher level:
 * x86-64 scalar < avx2 < avx512; aarch64 scalar < neon.
 */
enum pa_isa {
    PA_ISA_SCALAR = 0,
    PA_ISA_AVX2 = 1,        /* x86-64: AVX2 + FMA + F16C */
    PA_ISA_AVX512 = 2,      /* x86-64: AVX-512 F */
    PA_ISA_NEON = 3         /* aarch64: Advanced SIMD (NEON) */
};

/* Causal alignment when Lq != Lk. */
enum pa_causal {
    PA_CAUSAL_NONE = 0,
    PA_CAUSAL_TOP_LEFT = 1,     /* query i sees keys j <= i */
    PA_CAUSAL_BOTTOM_RIGHT = 2  /* query i sees keys j <= i + (Lk - Lq) */
};

/*
 * A strided 4-D view of memory. Element (i0,i1,i2,i3) lives at
 * data + (i0*strides[0] + i1*strides[1] + i2*strides[2] + i3*strides[3])
 * elements. Shapes and strides are >= 0; a stride of 0 broadcasts.
 * capacity is the number of elements addressable from data: every element
 * the shape and strides reach must lie below it, which the library checks.
 * data must be aligned to the element size. A tensor with a size of 0 is
 * empty: nothing is read or written, and data may be NULL.
 */
typedef struct pa_tensor {
    void *data;
    int dtype;                  /* enum pa_dtype */
    int reserved;               /* must be 0 */
    long long shape[4];
    long long strides[4];
    long long capacity;
} pa_tensor;

/*
 * Options of pa_sdpa. Zero-initialised options mean: default scale, no
 * causal mask, no window, no mask, every key, no weights output,
 * library-owned workspace.
 */
typedef struct pa_sdpa_options {
    float scale;                /* multiplies Q.K^T; 0 means 1/sqrt(Dk) */
    int causal;                 /* enum pa_causal */
    const pa_tensor *mask;      /* NULL, or (1|B, 1|H, 1|Lq, Lk): PA_BOOL
                                   keep-mask or PA_F32 additive mask;
                                   strides[3] must be 1 */
    const pa_tensor *weights;   /* NULL, or PA_F32 output (B,H,Lq,Lk),
                                   strides[3] == 1: the attention weights */
    void *workspace;            /* NULL: allocated per call */
    long long workspace_bytes;  /* size of workspace */
    const pa_tensor *key_padding; /* NULL, or a second mask, same rules as
                                   mask (typically (B, 1, 1, Lk)); both
                                   masks apply */
    long long window;           /* 0, or a sliding window (needs a causal
                                   rule): query i sees keys j with
                                   p - window < j <= p, p its causal
                                   position (i, or i + Lk - Lq); see also
                                   window_extents */
    /* Positional variants, applied to the scaled scores before the masks.
     * Query i sits at key position i (i + Lk - Lq with bottom-right causal
     * alignment); d = key position - query position. */
    float softcap;              /* 0, or cap: score = cap * tanh(score / cap) */
    const pa_tensor *alibi_slopes; /* NULL, or (1, 1, 1, H) PA_F32: score
                                   -= slope[h] * |d| (ALiBi) */
    const pa_tensor *rel_bias;  /* NULL, or (1, 1, H, num_buckets) PA_F32: a
                                   T5 relative-position bias table; score +=
                                   rel_bias[h][bucket(d)] */
    int rel_bidirectional;      /* T5 buckets: 1 both directions, 0 causal */
    int rel_max_distance;       /* T5 buckets: distances >= this share the
                                   last bucket (T5: 128) */
    /* A local window by its two extents, as FlashAttention's window_size,
     * when window_extents is 1 (window must then be 0): query i at key
     * position p sees keys j with p - window_left <= j <= p + window_right;
     * an extent of -1 is unbounded on that side. p is the position the
     * causal rule and the positional variants use: i + Lk - Lq with
     * PA_CAUSAL_BOTTOM_RIGHT, else i, also without a causal rule (where
     * FlashAttention aligns bottom-right; with Lq == Lk the two agree). A
     * causal rule still hides keys j > p, so with one only window_left
     * matters: window = w is window_left = w - 1 with its causal rule. */
    int window_extents;         /* 0 or 1 */
    long long window_left;      /* >= 0, or -1; 0 unless window_extents */
    long long window_right;     /* >= 0, or -1; 0 unless window_extents */
    /* Per-sequence key lengths (ONNX's nonpad_kv_seqlen): NULL, or
     * key_lengths_count == B lengths, 0 <= key_lengths[b] <= Lk, aligned
     * to 8 bytes. Batch row b reads keys j < key_lengths[b] only and is
     * computed as if Lk were key_lengths[b] (its bottom-right alignment,
     * window position and ALiBi and T5 distances included); its weights
     * for the other keys are 0. The lengths are read through this pointer
     * while the call runs, not passed to the _buffers twins: the caller
     * keeps them alive and unchanged, as it does the options (a change
     * cannot make the library touch memory outside the tensors, whose
     * every length is clamped to [0, Lk] when read). They must not
     * overlap an output. */
    const long long *key_lengths;
    long long key_lengths_count;
} pa_sdpa_options;

/* Version string, "MAJOR.MINOR.PATCH". Never NULL. */
PA_API const char *pa_version(void);

/* Text of the last failure in the calling thread ("" when none). */
PA_API const char *pa_last_error(void);

/* Name of a status code, e.g. "PA_EINVAL". */
PA_API const char *pa_status_name(int status);

/* The ISA level the kernels use now: the best the CPU supports, capped by
 * the environment variable PANATTN_MAX_ISA=scalar|avx2|avx512|neon (read
 * once; a level of another architecture is no cap) and by pa_set_max_isa(). */
PA_API int pa_isa(void);

/* The best ISA level this CPU and build support, ignoring any cap. */
PA_API int pa_isa_supported(void);

/* Caps the ISA level (enum pa_isa) for all threads; a cap above what the
 * CPU supports selects the best supported level. A level of another
 * architecture returns PA_EUNSUPPORTED and changes nothing. For tests and
 * comparisons. Safe while other threads compute: a call in flight keeps the
 * kernels it started with. */
PA_API int pa_set_max_isa(int level);

/* Name of an ISA level: "scalar", "avx2", "avx512", "neon". */
PA_API const char *pa_isa_name(int level);

/* Threads of panattn's pool (the BLAS runs single-threaded inside it), at
 * most 256; 0 means one per CPU, the default. Safe while other threads
 * compute: a call in flight keeps the thread count it planned with. */
PA_API int pa_set_num_threads(int threads);

/* Threads the pool uses. */
PA_API int pa_num_threads(void);

/* Describes the BLAS linked in (vendor, version, build options). */
PA_API const char *pa_blas_info(void);

/* Threads one BLAS call uses (panattn asks OpenBLAS for 1: it owns the
 * threading), or 0 when the BLAS cannot tell. */
PA_API int pa_blas_threads(void);

/*
 * Scaled dot-product attention:
 *   out = softmax(Q.K^T * scale + mask) . V
 * q   (B, H,   Lq, Dk)  PA_F32, PA_F16 or PA_BF16, strides[3] == 1
 * k   (B, Hkv, Lk, Dk)  PA_F32, PA_F16 or PA_BF16, strides[3] == 1
 * v   (B, Hkv, Lk, Dv)  PA_F32, PA_F16 or PA_BF16, strides[3] == 1
 * out (B, H,   Lq, Dv)  PA_F32, strides[3] == 1
 * q, k and v may each have their own dtype (a half-precision KV cache with
 * float queries, say); half ones are widened to float block by block.
 * H must be a multiple of Hkv: query head h reads key/value head
 * h / (H / Hkv) (grouped-query attention; Hkv == H is plain multi-head).
 * opts may be NULL for the defaults. Sizes of 0 are legal: nothing is
 * computed, and with Lk == 0 every output row is zeros.
 */
PA_API int pa_sdpa(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                   const pa_tensor *out, const pa_sdpa_options *opts);

/*
 * Additive (Bahdanau) attention with projected inputs:
 *   score(i, j) = scale * sum_a vvec[a] * tanh(qp[i][a] + kp[j][a])
 * (scale 0 means 1), then masks, softmax and the weighted sum of values as
 * in pa_sdpa. The caller projects once: qp = q . Wq^T, kp = k . Wk^T + b,
 * so W_k . k is computed once per key, not per (query, key) pair.
 * qp     (B, H,   Lq, A)   PA_F32, strides[3] == 1
 * kp     (B, Hkv, Lk, A)   PA_F32, strides[3] == 1
 * vvec   NULL (all ones: the "sum(tanh(Linear([q; k])))" rule), or (1, 1, 1, A)
 * values (B, Hkv, Lk, Dv), out (B, H, Lq, Dv): as v and out of pa_sdpa
 * (values PA_F32, PA_F16 or PA_BF16).
 */
PA_API int pa_additive_attention(const pa_tensor *qp, const pa_tensor *kp, const pa_tensor *vvec,
                                 const pa_tensor *values, const pa_tensor *out,
                                 const pa_sdpa_options *opts);

/*
 * Concat-linear attention (the first rule of the seq2seq tutorials): the
 * weights over Lv value positions come from a linear layer on [q_i; k_i]:
 *   score(i, j) = scale * (w[j] . [q_i; k_i] + bias[j])   (scale 0 means 1)
 * then masks, softmax and the weighted sum of values as in pa_sdpa.
 * q      (B, H, Lq, Dq)          k (B, H, Lq, Dk): one key per query row
 * w      (1, 1, Lv, Dq + Dk)     bias NULL or (1, 1, 1, Lv)
 * values (B, H, Lv, Dv)          out (B, H, Lq, Dv)
 * All PA_F32 but values, which may also be PA_F16 or PA_BF16.
 */
PA_API int pa_concat_attention(const pa_tensor *q, const pa_tensor *k, const pa_tensor *w,
                               const pa_tensor *bias, const pa_tensor *values,
                               const pa_tensor *out, const pa_sdpa_options *opts);

/* Rotary position embedding layouts. */
enum pa_rope_layout {
    PA_ROPE_HALF = 0,           /* pairs (i, i + D/2): GPT-NeoX, LLaMA (HF) */
    PA_ROPE_INTERLEAVED = 1     /* pairs (2i, 2i + 1): GPT-J, original RoPE */
};

/*
 * Rotary position embedding, in place: x (B, H, L, D), D even, row l at
 * position `position + l`. Pair k of a row rotates by
 * angle = pos * base^(-2k / D). Apply to Q and K before attention; with a
 * KV cache, position is the number of tokens already cached.
 */
PA_API int pa_rope(const pa_tensor *x, long long position, float base, int layout);

/*
 * Linear layer: y = x . w^T + bias, over the last dimension.
 * x    (A, B, M, K)  PA_F32, strides[3] == 1
 * w    (1, 1, N, K)  PA_F32, strides[3] == 1 (PyTorch's weight layout)
 * bias NULL, or (1, 1, 1, N) PA_F32
 * y    (A, B, M, N)  PA_F32, strides[3] == 1; must not overlap x or w
 * One sgemm per (a, b); rows may be strided, so views of a fused
 * projection (e.g. the q, k, v parts of one (L, 3E) matrix) work in place.
 */
PA_API int pa_linear(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias,
                     const pa_tensor *y);

/*
 * pa_sdpa on dense row-major arrays: q (B, H, Lq, Dk), k (B, Hkv, Lk, Dk),
 * v (B, Hkv, Lk, Dv), out (B, H, Lq, Dv), each exactly that size; scale
 * and causal as in pa_sdpa_options. The smallest call, for managed
 * callers that pass heap arrays directly (the Java binding's
 * Linker.Option.critical path); small problems allocate nothing.
 */
PA_API int pa_sdpa_dense(const float *q, const float *k, const float *v, float *out, int B, int H,
                         int Hkv, int Lq, int Lk, int Dk, int Dv, float scale, int causal);

/*
 * Buffers as arguments. pa_sdpa, pa_additive_attention,
 * pa_concat_attention, pa_rope and pa_linear each have a twin, named with
 * _buffers, that takes the data pointer of every tensor it may touch as an
 * argument of its own: first the call's tensors in their order, then the
 * options' tensors in the order of pa_sdpa_options (mask, weights,
 * key_padding, alibi_slopes, rel_bias). The twin reads each tensor at its
 * argument and ignores the descriptors' data fields; an argument whose
 * tensor is absent (a NULL descriptor or option) is ignored. Everything
 * else is as the plain entry point.
 * For managed runtimes: one that keeps a buffer alive while it is an
 * argument of a native call (Java's FFM Linker does, for memory segments
 * passed as pointers) can so guarantee that no buffer is freed while the
 * library computes, which a pointer stored inside a descriptor cannot.
 */
PA_API int pa_sdpa_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                           const pa_tensor *out, const pa_sdpa_options *opts,
                           const void *q_data, const void *k_data, const void *v_data,
                           void *out_data, const void *mask_data, void *weights_data,
                           const void *key_padding_data, const void *alibi_slopes_data,
                           const void *rel_bias_data);

PA_API int pa_additive_attention_buffers(const pa_tensor *qp, const pa_tensor *kp,
                                         const pa_tensor *vvec, const pa_tensor *values,
                                         const pa_tensor *out, const pa_sdpa_options *opts,
                                         const void *qp_data, const void *kp_data,
                                         const void *vvec_data, const void *values_data,
                                         void *out_data, const void *mask_data, void *weights_data,
                                         const void *key_padding_data, const void *alibi_slopes_data,
                                         const void *rel_bias_data);

PA_API int pa_concat_attention_buffers(const pa_tensor *q, const pa_tensor *k, const pa_tensor *w,
                                       const pa_tensor *bias, const pa_tensor *values,
                                       const pa_tensor *out, const pa_sdpa_options *opts,
                                       const void *q_data, const void *k_data, const void *w_data,
                                       const void *bias_data, const void *values_data, void *out_data,
                                       const void *mask_data, void *weights_data,
                                       const void *key_padding_data, const void *alibi_slopes_data,
                                       const void *rel_bias_data);

PA_API int pa_rope_buffers(const pa_tensor *x, long long position, float base, int layout,
                           void *x_data);

PA_API int pa_linear_buffers(const pa_tensor *x, const pa_tensor *w, const pa_tensor *bias,
                             const pa_tensor *y, const void *x_data, const void *w_data,
                             const void *bias_data, void *y_data);

/* Bytes of workspace pa_sdpa needs for these arguments (0 when none). */
PA_API int pa_sdpa_workspace_size(const pa_tensor *q, const pa_tensor *k,
                                  const pa_tensor *v, const pa_tensor *out,
                                  const pa_sdpa_options *opts,
                                  long long *bytes);

#ifdef __cplusplus
}
#endif

#endif /* PANATTN_H */
