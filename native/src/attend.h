/*
 * The machinery every score rule shares: validation of values, output,
 * masks and positional options; query tiles; positional terms, masks and
 * softmax row by row; the weighted sum of values (the block_values
 * micro-kernel; sgemm into the weights output). A rule only fills tiles of
 * raw scores (fill below).
 */
#ifndef PANATTN_ATTEND_H
#define PANATTN_ATTEND_H

#include "internal.h"

/* Query rows per tile, and key columns per block of the online softmax:
 * a thread's score block is PA_TILE_ROWS x PA_BLOCK_COLS floats. */
#define PA_TILE_ROWS 64
#define PA_BLOCK_COLS 512

typedef struct pa_mask_plan {
    const pa_tensor *t;         /* NULL when absent */
    long long strides[3];       /* 0 where the mask broadcasts */
} pa_mask_plan;

typedef struct pa_plan pa_plan;

/*
 * A block of query rows that share one key head kvh: query rows
 * i0 .. i0 + count - 1 of head h0, or (by_head, when decoding one query
 * with grouped heads) row i0 of heads h0 .. h0 + count - 1, so one pass
 * over K and V serves the whole group.
 */
typedef struct pa_rows {
    long long b, kvh, h0, i0, count;
    long long keys;             /* keys batch row b has: key_lengths[b], or Lk */
    int by_head;
    /* The thread's scratch for half-precision inputs widened to float:
     * count rows of the rule's per-row input (pa_plan.wide_row_floats
     * each), and one block of at most PA_BLOCK_COLS keys or values. */
    float *wide_rows, *wide_keys;
} pa_rows;

static inline long long pa_rows_h(const pa_rows *r, long long k) { return r->by_head ? r->h0 + k : r->h0; }
static inline long long pa_rows_i(const pa_rows *r, long long k) { return r->by_head ? r->i0 : r->i0 + k; }

/* Stride, in elements, between consecutive rows of the block in t. */
static inline long long pa_rows_stride(const pa_rows *r, const pa_tensor *t)
{
    return r->by_head ? t->strides[1] : t->strides[2];
}

/* Row stride for cblas: at least the row length and at least 1. */
static inline int pa_rows_ld(const pa_rows *r, const pa_tensor *t)
{
    long long s = pa_rows_stride(r, t);
    return (int)(r->count <= 1 || s < t->shape[3] ? (t->shape[3] > 0 ? t->shape[3] : 1) : s);
}

/* Writes the scaled raw scores of the block's rows and key columns
 * [c0, c1) into s[r * lds + (c - c0)]; with ends, row r needs only the
 * columns c0 .. c0 + ends[r] - 1 (the rest may hold anything finite or
 * NaN, never past c1). */
typedef void (*pa_fill_fn)(const pa_plan *p, const pa_rows *rows, long long c0, long long c1,
                           float *s, int lds, const long long *ends);

/* At most this many rule inputs are checked against the outputs. */
#define PA_MAX_RULE_INPUTS 4

struct pa_plan {
    const char *fn;             /* public function name, for messages */
    /* Checked copies of the caller's descriptors (pa_load_tensor): the
     * pointers below point here, so nothing the caller changes during the
     * call can invalidate the checks. */
    pa_tensor values_copy, out_copy, weights_copy, mask_copy[2], alibi_copy, rel_copy;
    long long B, H, Hkv, Lq, Lk, Dv;
    const pa_tensor *values, *out, *weights;
    pa_mask_plan masks[2];      /* mask, key_padding */
    int causal;
    long long window_left, window_right; /* the window's extents, -1 unbounded */
    const long long *key_lengths; /* NULL, or B lengths: read through clamp_keys */
    pa_tensor key_lengths_bytes; /* their memory, for the overlap checks */
    float softcap;
    const pa_tensor *alibi, *rel_bias;
    int rel_bidirectional, rel_max_distance;
    pa_fill_fn fill;
    const void *rule;           /* the rule's own arguments, for fill */
    /* A rule whose scores are q . k (sdpa) names its keys and their depth;
     * pa_plan_run then packs them once per (b, kvh) as panels (PA_PANEL)
     * for the micro-kernels, shared by every query tile and every head of
     * the group, and fill reads them from `panels` (NULL: not packed). */
    const pa_tensor *panel_keys;
    long long panel_depth;
    const float *panels;
    long long panel_stride;     /* floats per (b, kvh) of panels */
    const pa_tensor *queries;   /* the rule's per-row input, for by_head strides */
    const pa_tensor *inputs[PA_MAX_RULE_INPUTS]; /* the rule's own inputs, which a */
    const char *input_names[PA_MAX_RULE_INPUTS]; /* workspace must not overlap either */
    int n_inputs;
    /* Floats of widening scratch the rule's fill needs per query row and
     * per key (sdpa: Dk when q, resp. k, is half); 0 for float inputs. */
    long long wide_row_floats, wide_key_floats;
    const pa_kernels *kernels;
};

/* The caller's options copied (the defaults when opts is NULL): another
 * thread changing them cannot slip past the checks. */
pa_sdpa_options pa_options_copy(const pa_sdpa_options *opts);

/* Checks that t has the expected dimension; names it in the message. */
int pa_expect_dim(const char *fn, const char *name, const pa_tensor *t, int dim,
                  long long want, const char *what);

/* Fills the shared part of a plan from values, out and the options (a
 * copy the caller made), once the rule has set fn, B, H, Hkv, Lq and Lk and
 * loaded its own inputs; the outputs are checked to have a place of their
 * own per element and to overlap none of the inputs (the rule's, listed in
 * inputs/names, n at most PA_MAX_RULE_INPUTS, kept in the plan), nor each
 * other. */
int pa_plan_init(pa_plan *p, const char *values_name, const pa_tensor *values,
                 const pa_tensor *out, const pa_sdpa_options *o,
                 const pa_tensor *const *inputs, const char *const *names, int n);

/* Packed keys beyond this many bytes are not made (the rule's own fill,
 * BLAS, runs instead); a variable so that the tests reach both paths. */
extern long long pa_panel_budget_bytes;

/* Workspace bytes pa_plan_run needs (with the current thread count). */
long long pa_plan_workspace_bytes(const pa_plan *p);

/* Runs every tile, with the caller's workspace or an allocated one. */
int pa_plan_run(pa_plan *p, const pa_sdpa_options *o);

/* Every output is empty. Its other sizes may then be anything (an empty
 * output needs no memory) and their product may overflow, so such a call
 * stops before any size arithmetic. */
int pa_plan_writes_nothing(const pa_plan *p);

/* Threads a call computes on: 1 for small work (no thread wake-up), else
 * pa_num_threads(), read once. */
int pa_plan_threads(const pa_plan *p);

/* Scratch of `need` floats: the caller's workspace (checked for size,
 * alignment and overlap with every tensor of the call), else `stack`
 * (PA_STACK_FLOATS floats) when it is enough, else an allocation returned
 * in *owned as well, for the caller to free (*owned is NULL otherwise). */
#define PA_STACK_FLOATS 4096
int pa_plan_scratch(const pa_plan *p, const pa_sdpa_options *o, long long need, float *stack,
                    float **scratch, void **owned);

/* Keys batch row b has: key_lengths[b] (read now, clamped to [0, Lk]),
 * or Lk without key lengths; what pa_rows.keys holds. */
long long pa_batch_keys(const pa_plan *p, long long b);

/* The keys query row i of a block may see: [lo, hi), within its batch
 * row's keys (r->keys). Over the rows of a block both bounds only grow, so
 * the first row's lo and the last row's hi bound them all. */
void pa_key_range(const pa_plan *p, const pa_rows *r, long long i, long long *lo, long long *hi);

/* Row (b, h, i)'s masks over keys [lo, hi) as one additive and one keep
 * row, either NULL, each pointing at key lo: merged into `merge` (hi - lo
 * floats) when both masks have one dtype (pa_merges_masks). */
int pa_merges_masks(const pa_plan *p);
void pa_mask_row(const pa_plan *p, long long b, long long h, long long i, float *merge,
                 long long lo, long long hi, const float **add, const unsigned char **keep);

/* Softcap, ALiBi and relative-position bias, when the plan has any, for
 * keys [lo, hi) of query row i of head h in a block; s points at key lo. */
int pa_has_positional(const pa_plan *p);
void pa_positional_row(const pa_plan *p, const pa_rows *r, long long h, long long i, float *s,
                       long long lo, long long hi);

/*
 * Key chunks of one block of `rows` query rows, computed apart (split over
 * threads): chunk c's part, at parts + c * stride, holds the rows'
 * unnormalised outputs (rows x Dv floats), then their running maxima and
 * sums (rows floats each). Writes row k's output into `row`:
 * sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c with M the largest m_c;
 * zeros when no chunk kept a key, NaN when a chunk's max is NaN.
 */
void pa_merge_chunks(float *row, long long Dv, const float *parts, long long stride, long long chunks,
                     long long rows, long long k);

/* Address of element (i0, i1, i2, 0) of an f32 tensor, and its row stride
 * as cblas wants it (at least the row length, at least 1). */
float *pa_row(const pa_tensor *t, long long i0, long long i1, long long i2);
int pa_ld(const pa_tensor *t);

/* Rows [j0, j0 + n) of (b, h) of a (B, H, L, D) tensor of any float dtype,
 * as float rows for cblas: the rows themselves for PA_F32, else widened
 * into wide (n rows of D floats). *ld gets their stride. */
const float *pa_rows_f32(const pa_plan *p, const pa_tensor *t, long long b, long long h, long long j0,
                         long long n, float *wide, int *ld);

/* The block's rows of t (its queries, or a per-query input), likewise:
 * themselves for PA_F32 (stride pa_rows_ld), else widened into
 * rows->wide_rows. */
const float *pa_block_f32(const pa_plan *p, const pa_rows *rows, const pa_tensor *t, int *ld);

#endif
