/*
 * The streaming decode kernel of scaled dot-product attention (decode.c):
 * calls with a few query rows per key head, whose time is reading K and V.
 */
#ifndef PANATTN_DECODE_H
#define PANATTN_DECODE_H

#include "attend.h"

/* At most this many queries (Lq), and query rows per key head (Lq * H /
 * Hkv), go through the decode kernel. Every such row multiplies each K
 * and V row it streams past: up to about 16 rows that work still hides
 * under the memory's time (the rows' queries, outputs and score block
 * stay in L1); more rows are the GEMM tiles' job (attend.c). */
#define PA_DECODE_MAX_LQ 8
#define PA_DECODE_MAX_ROWS 16

/* Keys per score block: the block's scores for every row (16 KB at most)
 * and its V rows stay in cache between the two passes. */
#define PA_DECODE_BLOCK 256

/* Keys per chunk at least, when a key head's keys are split over threads. */
#define PA_DECODE_MIN_CHUNK 512

/* The dot-product rule's own inputs: the queries, the keys and the scale. */
typedef struct pa_decode_input {
    const pa_tensor *q, *k;
    float scale;
} pa_decode_input;

/* Whether a plan (of pa_sdpa) goes through the decode kernel. */
int pa_decode_applies(const pa_plan *p);

/* Workspace bytes pa_decode_run needs (with the current thread count). */
long long pa_decode_workspace_bytes(const pa_plan *p, const pa_decode_input *in);

/* Computes the call, with the caller's workspace or its own. */
int pa_decode_run(pa_plan *p, const pa_decode_input *in, const pa_sdpa_options *o);

/* For the tests: sets *decodes to whether pa_sdpa runs these arguments
 * through the decode kernel; fails as pa_sdpa would on bad arguments. */
int pa_sdpa_decodes(const pa_tensor *q, const pa_tensor *k, const pa_tensor *v,
                    const pa_tensor *out, const pa_sdpa_options *opts, int *decodes);

#endif
