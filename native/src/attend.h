/*
 * The machinery every score rule shares: validation of values, output,
 * masks and positional options; query tiles; positional terms, masks and
 * softmax row by row; the weighted sum of values with sgemm. A rule only
 * fills tiles of raw scores (fill below).
 */
#ifndef PANATTN_ATTEND_H
#define PANATTN_ATTEND_H

#include "internal.h"

/* Query rows per tile: bounds the score tile at PA_TILE_ROWS x Lk floats. */
#define PA_TILE_ROWS 256

typedef struct pa_mask_plan {
    const pa_tensor *t;         /* NULL when absent */
    long long strides[3];       /* 0 where the mask broadcasts */
} pa_mask_plan;

typedef struct pa_plan pa_plan;

/* Writes the scaled raw scores of query rows [i0, i0 + rows) and key
 * columns [c0, c1) of (b, h) into s[r * lds + c]; kvh is h's key head. */
typedef void (*pa_fill_fn)(const pa_plan *p, long long b, long long h, long long kvh,
                           long long i0, long long rows, long long c0, long long c1,
                           float *s, int lds);

struct pa_plan {
    const char *fn;             /* public function name, for messages */
    long long B, H, Hkv, Lq, Lk, Dv;
    const pa_tensor *values, *out, *weights;
    pa_mask_plan masks[2];      /* mask, key_padding */
    int causal;
    long long window;
    long long query_offset;     /* key position of query row 0 */
    float softcap;
    const pa_tensor *alibi, *rel_bias;
    int rel_bidirectional, rel_max_distance;
    long long tiles;
    pa_fill_fn fill;
    const void *rule;           /* the rule's own arguments, for fill */
    const pa_kernels *kernels;
};

/* Checks that t has the expected dimension; names it in the message. */
int pa_expect_dim(const char *fn, const char *name, const pa_tensor *t, int dim,
                  long long want, const char *what);

/* Fills the shared part of a plan from values, out and the options, once
 * the rule has set fn, B, H, Hkv, Lq and Lk. */
int pa_plan_init(pa_plan *p, const char *values_name, const pa_tensor *values,
                 const pa_tensor *out, const pa_sdpa_options *o);

/* Workspace bytes pa_plan_run needs. */
long long pa_plan_workspace_bytes(const pa_plan *p);

/* Runs every tile, with the caller's workspace or an allocated one. */
int pa_plan_run(pa_plan *p, const pa_sdpa_options *o);

/* Address of element (i0, i1, i2, 0) of an f32 tensor, and its row stride
 * as cblas wants it (at least the row length, at least 1). */
float *pa_row(const pa_tensor *t, long long i0, long long i1, long long i2);
int pa_ld(const pa_tensor *t);

#endif
