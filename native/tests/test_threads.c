/*
 * Eight threads, started together as the library's very first callers (so
 * they race its one-time initialisation), compute attention on shared
 * inputs into their own outputs, mixing shapes, masks, causal rules and
 * the weights output, and call the other entry points (additive and
 * concat-linear attention, a linear layer, RoPE). Each result must equal,
 * bit for bit, the one the main thread computes alone afterwards. Then the same again at the ISA
 * level PANATTN_MAX_ISA selects. Last, calls large enough for the pool
 * run while another thread keeps changing the thread count and the ISA
 * cap: each call must finish with the settings it started with, so its
 * result stays right (to rounding: the settings pick the kernels and the
 * split). Run under ThreadSanitizer by scripts/sanitize.sh.
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers under -std=c11 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "panattn.h"
#include "test_support.h"

#define THREADS 8
#define CASES 6
#define ROUNDS 40

typedef struct variant {
    long long Lq, Lk, Dk, Dv;
    int causal, masked, weights;
} variant;

static const variant variants[CASES] = {
    { 7, 9, 5, 3, PA_CAUSAL_NONE, 0, 0 },      { 33, 17, 8, 8, PA_CAUSAL_TOP_LEFT, 1, 1 },
    { 1, 40, 16, 4, PA_CAUSAL_BOTTOM_RIGHT, 1, 0 }, { 300, 20, 4, 2, PA_CAUSAL_NONE, 0, 1 },
    { 19, 19, 3, 7, PA_CAUSAL_BOTTOM_RIGHT, 0, 1 }, { 5, 64, 32, 1, PA_CAUSAL_TOP_LEFT, 1, 0 },
};

/* Inputs shared by every thread (read only). */
static pa_tensor q[CASES], k[CASES], v[CASES], mask[CASES];

/* The other entry points' shared inputs: additive (qp, kp, vvec, v of
 * case 1), concat-linear (cq, one key per query ck, cw, cb, values cv), a
 * linear layer (lx, lw, lb), RoPE (applied to a copy of rx). */
static pa_tensor qp, kp, vvec, cq, ck, cw, cb, cv, lx, lw, lb, rx;

enum { ADDITIVE, CONCAT, LINEAR, ROPE, OTHERS };

typedef struct outputs { pa_tensor out[CASES], w[CASES], other[OTHERS]; int failures; } outputs;

static pthread_barrier_t start;

static void setup_outputs(outputs *o)
{
    for (int c = 0; c < CASES; c++) {
        const variant *x = &variants[c];
        o->out[c] = ts_tensor(2, 4, x->Lq, x->Dv, 0);
        o->w[c] = ts_tensor(2, 4, x->Lq, x->Lk, 0);
    }
    o->other[ADDITIVE] = ts_tensor(2, 4, qp.shape[2], v[1].shape[3], 0);
    o->other[CONCAT] = ts_tensor(2, 4, cq.shape[2], cv.shape[3], 0);
    o->other[LINEAR] = ts_tensor(1, 1, lx.shape[2], lw.shape[2], 0);
    o->other[ROPE] = ts_tensor(rx.shape[0], rx.shape[1], rx.shape[2], rx.shape[3], 0);
    o->failures = 0;
}

static void free_outputs(outputs *o)
{
    for (int c = 0; c < CASES; c++) {
        free(o->out[c].data);
        free(o->w[c].data);
    }
    for (int e = 0; e < OTHERS; e++)
        free(o->other[e].data);
}

static int compute(outputs *o, int c)
{
    const variant *x = &variants[c];
    pa_sdpa_options opts;
    memset(&opts, 0, sizeof opts);
    opts.causal = x->causal;
    opts.mask = x->masked ? &mask[c] : NULL;
    opts.weights = x->weights ? &o->w[c] : NULL;
    return pa_sdpa(&q[c], &k[c], &v[c], &o->out[c], &opts);
}

static int compute_other(outputs *o, int e)
{
    pa_sdpa_options opts;
    memset(&opts, 0, sizeof opts);
    opts.causal = PA_CAUSAL_BOTTOM_RIGHT;
    pa_tensor *y = &o->other[e];
    switch (e) {
    case ADDITIVE: return pa_additive_attention(&qp, &kp, &vvec, &v[1], y, &opts);
    case CONCAT: return pa_concat_attention(&cq, &ck, &cw, &cb, &cv, y, NULL);
    case LINEAR: return pa_linear(&lx, &lw, &lb, y);
    default:
        memcpy(y->data, rx.data, sizeof(float) * (size_t)ts_numel(&rx));
        return pa_rope(y, 3, 10000.0f, PA_ROPE_HALF);
    }
}

static void *worker(void *arg)
{
    outputs *o = arg;
    pthread_barrier_wait(&start);
    for (int r = 0; r < ROUNDS; r++) {
        for (int c = 0; c < CASES; c++)
            if (compute(o, (c + r) % CASES) != PA_OK)
                o->failures++;
        if (compute_other(o, r % OTHERS) != PA_OK)
            o->failures++;
    }
    return NULL;
}

/* Runs the threads, then checks their last results against the main
 * thread's; returns the number of calls made. */
static long long round_of_threads(const char *what)
{
    static outputs per_thread[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        setup_outputs(&per_thread[t]);
        pthread_create(&threads[t], NULL, worker, &per_thread[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&start);
    outputs alone;
    setup_outputs(&alone);
    for (int c = 0; c < CASES; c++)
        CHECK(compute(&alone, c) == PA_OK, "%s", pa_last_error());
    for (int e = 0; e < OTHERS; e++)
        CHECK(compute_other(&alone, e) == PA_OK, "%s", pa_last_error());
    for (int t = 0; t < THREADS; t++) {
        CHECK(per_thread[t].failures == 0, "%s: thread %d had %d failed calls", what, t,
              per_thread[t].failures);
        for (int c = 0; c < CASES; c++) {
            size_t nout = (size_t)ts_numel(&alone.out[c]) * sizeof(float);
            size_t nw = (size_t)ts_numel(&alone.w[c]) * sizeof(float);
            CHECK(memcmp(per_thread[t].out[c].data, alone.out[c].data, nout) == 0 &&
                  (!variants[c].weights ||
                   memcmp(per_thread[t].w[c].data, alone.w[c].data, nw) == 0),
                  "%s: thread %d case %d differs from the single-thread result", what, t, c);
        }
        for (int e = 0; e < OTHERS; e++) /* each computed in the thread's last rounds */
            CHECK(memcmp(per_thread[t].other[e].data, alone.other[e].data,
                         (size_t)ts_numel(&alone.other[e]) * sizeof(float)) == 0,
                  "%s: thread %d entry point %d differs from the single-thread result", what, t, e);
        free_outputs(&per_thread[t]);
    }
    free_outputs(&alone);
    return (long long)THREADS * ROUNDS * (CASES + 1);
}

/* ---- Settings changed during calls ---- */

#define FLIP_THREADS 3
#define FLIP_ROUNDS 200
enum { PREFILL, DECODE, PROJECT, FLIP_CALLS };

/* Shapes over the pool's threshold: a causal prefill, a GQA decode that
 * splits keys over threads, a linear layer split into row slices. */
static pa_tensor fq, fk, fv, dq, dk, dv;
static atomic_int computing;

static int flip_call(int call, pa_tensor *y)
{
    pa_sdpa_options opts;
    memset(&opts, 0, sizeof opts);
    switch (call) {
    case PREFILL:
        opts.causal = PA_CAUSAL_TOP_LEFT;
        return pa_sdpa(&fq, &fk, &fv, y, &opts);
    case DECODE: return pa_sdpa(&dq, &dk, &dv, y, &opts);
    default: return pa_linear(&lx, &lw, &lb, y);
    }
}

static pa_tensor flip_output(int call)
{
    switch (call) {
    case PREFILL: return ts_tensor(1, 8, fq.shape[2], fv.shape[3], 0);
    case DECODE: return ts_tensor(1, 8, 1, dv.shape[3], 0);
    default: return ts_tensor(1, 1, lx.shape[2], lw.shape[2], 0);
    }
}

static double max_abs_diff(const pa_tensor *a, const pa_tensor *b)
{
    double worst = 0;
    for (long long i = 0; i < ts_numel(a); i++) {
        double d = fabs((double)((float *)a->data)[i] - ((float *)b->data)[i]);
        worst = d > worst || d != d ? d : worst;
    }
    return worst;
}

typedef struct flip_worker { pa_tensor want[FLIP_CALLS]; int failures, wrong; } flip_worker;

static void *flip_compute(void *arg)
{
    flip_worker *w = arg;
    pa_tensor got[FLIP_CALLS];
    for (int c = 0; c < FLIP_CALLS; c++)
        got[c] = flip_output(c);
    for (int r = 0; r < FLIP_ROUNDS; r++)
        for (int c = 0; c < FLIP_CALLS; c++) {
            if (flip_call(c, &got[c]) != PA_OK)
                w->failures++;
            else if (!(max_abs_diff(&got[c], &w->want[c]) <= 1e-4))
                w->wrong++;
        }
    for (int c = 0; c < FLIP_CALLS; c++)
        free(got[c].data);
    atomic_fetch_sub(&computing, 1);
    return NULL;
}

/* Cycles the thread count (below and above the count a call planned with)
 * and the ISA cap (levels of another architecture are refused, harmlessly)
 * until the computing threads are done; returns the changes made. */
static void *flip_settings(void *arg)
{
    long long *changes = arg;
    static const int counts[] = { 2, 16, 1, 5, 0 };
    for (int i = 0; atomic_load(&computing) > 0; i++) {
        pa_set_num_threads(counts[i % 5]);
        pa_set_max_isa(i % 4);
        ++*changes;
    }
    return NULL;
}

/* A loop planned for 2 threads hands out thread ids 0 and 1 only, though
 * the pool has grown since (the race above, made certain). */
static atomic_int highest_id;
static void note_id(void *ctx, long long item, int thread)
{
    (void)ctx; (void)item;
    for (int seen = atomic_load(&highest_id); thread > seen;)
        if (atomic_compare_exchange_weak(&highest_id, &seen, thread))
            break;
}

static void loop_keeps_planned_threads(void)
{
    pa_set_num_threads(16);
    pa_tensor y = flip_output(PROJECT);
    CHECK(flip_call(PROJECT, &y) == PA_OK, "%s", pa_last_error()); /* the pool now has 15 workers */
    free(y.data);
    atomic_store(&highest_id, 0);
    for (int r = 0; r < 50; r++)
        pa_parallel_for(64, 2, note_id, NULL);
    CHECK(atomic_load(&highest_id) <= 1, "a loop planned for 2 threads ran on thread %d",
          atomic_load(&highest_id));
}

static void settings_during_calls(void)
{
    loop_keeps_planned_threads();
    fq = ts_tensor(1, 8, 160, 64, 1);
    fk = ts_tensor(1, 8, 160, 64, 1);
    fv = ts_tensor(1, 8, 160, 64, 1);
    dq = ts_tensor(1, 8, 1, 64, 1);
    dk = ts_tensor(1, 2, 2048, 64, 1);
    dv = ts_tensor(1, 2, 2048, 64, 1);
    pa_set_num_threads(0);
    flip_worker workers[FLIP_THREADS];
    for (int c = 0; c < FLIP_CALLS; c++) {
        pa_tensor want = flip_output(c);
        CHECK(flip_call(c, &want) == PA_OK, "%s", pa_last_error());
        for (int t = 0; t < FLIP_THREADS; t++) {
            workers[t].want[c] = flip_output(c);
            memcpy(workers[t].want[c].data, want.data, sizeof(float) * (size_t)ts_numel(&want));
        }
        free(want.data);
    }
    pthread_t threads[FLIP_THREADS], flipper;
    long long changes = 0;
    atomic_store(&computing, FLIP_THREADS);
    for (int t = 0; t < FLIP_THREADS; t++) {
        workers[t].failures = workers[t].wrong = 0;
        pthread_create(&threads[t], NULL, flip_compute, &workers[t]);
    }
    pthread_create(&flipper, NULL, flip_settings, &changes);
    for (int t = 0; t < FLIP_THREADS; t++)
        pthread_join(threads[t], NULL);
    pthread_join(flipper, NULL);
    for (int t = 0; t < FLIP_THREADS; t++) {
        CHECK(workers[t].failures == 0 && workers[t].wrong == 0,
              "settings changed mid-call: thread %d had %d failed and %d wrong calls", t,
              workers[t].failures, workers[t].wrong);
        for (int c = 0; c < FLIP_CALLS; c++)
            free(workers[t].want[c].data);
    }
    CHECK(changes > 0, "the settings never changed during the calls");
    printf("%d threads x %d calls while the thread count and ISA cap changed %lld times\n",
           FLIP_THREADS, FLIP_ROUNDS * FLIP_CALLS, changes);
    pa_set_num_threads(0);
    const pa_tensor *all[] = { &fq, &fk, &fv, &dq, &dk, &dv };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->data);
}

int main(void)
{
    for (int c = 0; c < CASES; c++) {
        const variant *x = &variants[c];
        q[c] = ts_tensor(2, 4, x->Lq, x->Dk, 1);
        k[c] = ts_tensor(2, 2, x->Lk, x->Dk, 1);
        v[c] = ts_tensor(2, 2, x->Lk, x->Dv, 1);
        mask[c] = ts_tensor(2, 1, 1, x->Lk, 1);   /* additive key mask (B, 1, 1, Lk) */
        for (long long j = 0; j < ts_numel(&mask[c]); j += 3)
            ((float *)mask[c].data)[j] = -1e30f;
    }
    qp = ts_tensor(2, 4, 21, 24, 1);
    kp = ts_tensor(2, 2, variants[1].Lk, 24, 1);
    vvec = ts_tensor(1, 1, 1, 24, 1);
    cq = ts_tensor(2, 4, 19, 6, 1);
    ck = ts_tensor(2, 4, 19, 5, 1);
    cw = ts_tensor(1, 1, 30, 11, 1);
    cb = ts_tensor(1, 1, 1, 30, 1);
    cv = ts_tensor(2, 4, 30, 5, 1);
    lx = ts_tensor(1, 1, 700, 48, 1);
    lw = ts_tensor(1, 1, 72, 48, 1);
    lb = ts_tensor(1, 1, 1, 72, 1);
    rx = ts_tensor(2, 4, 33, 16, 1);
    /* No library call before this point: the threads race the initialisation. */
    long long calls = round_of_threads("first callers");
    ts_select_isa("test_threads");
    calls += round_of_threads("selected ISA");
    printf("%d threads x %d calls each, %lld calls, checked bit for bit\n", THREADS,
           ROUNDS * (CASES + 1), calls);
    settings_during_calls();
    for (int c = 0; c < CASES; c++) {
        free(q[c].data); free(k[c].data); free(v[c].data); free(mask[c].data);
    }
    const pa_tensor *others[] = { &qp, &kp, &vvec, &cq, &ck, &cw, &cb, &cv, &lx, &lw, &lb, &rx };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        free(others[i]->data);
    return ts_report();
}
