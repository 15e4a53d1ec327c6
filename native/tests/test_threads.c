/*
 * Eight threads, started together as the library's very first callers (so
 * they race its one-time initialisation), compute attention on shared
 * inputs into their own outputs, mixing shapes, masks, causal rules and
 * the weights output. Each result must equal, bit for bit, the one the
 * main thread computes alone afterwards. Then the same again at the ISA
 * level PANATTN_MAX_ISA selects. Run under ThreadSanitizer by
 * scripts/sanitize.sh.
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers under -std=c11 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct outputs { pa_tensor out[CASES], w[CASES]; int failures; } outputs;

static pthread_barrier_t start;

static void setup_outputs(outputs *o)
{
    for (int c = 0; c < CASES; c++) {
        const variant *x = &variants[c];
        o->out[c] = ts_tensor(2, 4, x->Lq, x->Dv, 0);
        o->w[c] = ts_tensor(2, 4, x->Lq, x->Lk, 0);
    }
    o->failures = 0;
}

static void free_outputs(outputs *o)
{
    for (int c = 0; c < CASES; c++) {
        free(o->out[c].data);
        free(o->w[c].data);
    }
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

static void *worker(void *arg)
{
    outputs *o = arg;
    pthread_barrier_wait(&start);
    for (int r = 0; r < ROUNDS; r++)
        for (int c = 0; c < CASES; c++)
            if (compute(o, (c + r) % CASES) != PA_OK)
                o->failures++;
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
        free_outputs(&per_thread[t]);
    }
    free_outputs(&alone);
    return (long long)THREADS * ROUNDS * CASES;
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
    /* No library call before this point: the threads race the initialisation. */
    long long calls = round_of_threads("first callers");
    ts_select_isa("test_threads");
    calls += round_of_threads("selected ISA");
    printf("%d threads x %d calls each, %lld calls, checked bit for bit\n", THREADS,
           ROUNDS * CASES, calls);
    for (int c = 0; c < CASES; c++) {
        free(q[c].data); free(k[c].data); free(v[c].data); free(mask[c].data);
    }
    return ts_report();
}
