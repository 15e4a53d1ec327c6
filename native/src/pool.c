/*
 * One persistent pool of worker threads, owned by panattn: parallel loops
 * hand out items through an atomic counter, the calling thread works too.
 * A loop that finds the pool busy (another thread's call) runs on its
 * caller alone rather than wait. The BLAS stays single-threaded (blas.c),
 * so there is no oversubscription.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

#if defined(_WIN32)
/* The few pthread calls the pool makes, on Win32 primitives. */
#  include <windows.h>
typedef SRWLOCK pthread_mutex_t;
typedef CONDITION_VARIABLE pthread_cond_t;
typedef HANDLE pthread_t;
#  define PTHREAD_MUTEX_INITIALIZER SRWLOCK_INIT
#  define PTHREAD_COND_INITIALIZER CONDITION_VARIABLE_INIT
static int pthread_mutex_lock(pthread_mutex_t *m) { AcquireSRWLockExclusive(m); return 0; }
static int pthread_mutex_unlock(pthread_mutex_t *m) { ReleaseSRWLockExclusive(m); return 0; }
static int pthread_mutex_trylock(pthread_mutex_t *m) { return TryAcquireSRWLockExclusive(m) ? 0 : 1; }
static int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    return SleepConditionVariableSRW(c, m, INFINITE, 0) ? 0 : 1;
}
static int pthread_cond_signal(pthread_cond_t *c) { WakeConditionVariable(c); return 0; }
static int pthread_cond_broadcast(pthread_cond_t *c) { WakeAllConditionVariable(c); return 0; }
typedef struct start { void *(*fn)(void *); void *arg; } start;
static DWORD WINAPI trampoline(LPVOID p)
{
    start s = *(start *)p;
    free(p);
    s.fn(s.arg);
    return 0;
}
static int pthread_create(pthread_t *t, const void *attr, void *(*fn)(void *), void *arg)
{
    (void)attr;
    start *s = malloc(sizeof *s);
    if (s == NULL)
        return 1;
    s->fn = fn;
    s->arg = arg;
    *t = CreateThread(NULL, 0, trampoline, s, 0, NULL);
    if (*t == NULL) {
        free(s);
        return 1;
    }
    return 0;
}
static int pthread_join(pthread_t t, void **result)
{
    (void)result;
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
    return 0;
}
static long cpus_online(void)
{
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return (long)info.dwNumberOfProcessors;
}
#else
#  include <pthread.h>
#  include <unistd.h>
static long cpus_online(void) { return sysconf(_SC_NPROCESSORS_ONLN); }
#endif

#define MAX_THREADS 256

typedef struct loop {
    void (*fn)(void *ctx, long long item, int thread);
    void *ctx;
    long long count;
    int threads;               /* the caller planned for this many: ids 0..threads-1 */
    atomic_llong next;
} loop;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;   /* guards the fields below */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;     /* a new loop, or a resize */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;     /* a worker finished its part */
static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;   /* held while a loop runs */
static pthread_t workers[MAX_THREADS];
static int started;            /* workers running */
static int wanted;             /* threads in total (workers + caller); 0 until set */
static atomic_ulong generation; /* read without the lock while a worker spins */
static int pending;            /* workers still inside the current loop */
static loop *current;

static int cpu_count(void)
{
    long n = cpus_online();
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static void drain(loop *l, int thread)
{
    for (;;) {
        long long item = atomic_fetch_add(&l->next, 1);
        if (item >= l->count)
            return;
        l->fn(l->ctx, item, thread);
    }
}

/* A spinning thread's pause: lets the other hyperthread run, saves power. */
static inline void cpu_relax(void)
{
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Pauses a worker spins through before it sleeps (tens of microseconds):
 * a call that follows soon, or a call's second loop, finds it awake
 * instead of paying a wake-up, which in a VM can cost as much. */
#define SPIN_PAUSES 4096

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&lock);
    for (;;) {
        if (generation == seen && id < started) {
            pthread_mutex_unlock(&lock);
            for (int i = 0; i < SPIN_PAUSES && atomic_load_explicit(&generation, memory_order_acquire) == seen; i++)
                cpu_relax();
            pthread_mutex_lock(&lock);
        }
        while (generation == seen && id < started)
            pthread_cond_wait(&wake, &lock);
        if (id >= started)
            break;             /* the pool shrank */
        seen = generation;
        loop *l = current;
        pthread_mutex_unlock(&lock);
        if (id + 1 < l->threads)
            drain(l, id + 1);  /* a pool grown since the plan: extra workers sit out */
        pthread_mutex_lock(&lock);
        if (--pending == 0)
            pthread_cond_signal(&done);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

int pa_num_threads(void)
{
    pthread_mutex_lock(&lock);
    int n = wanted > 0 ? wanted : cpu_count();
    pthread_mutex_unlock(&lock);
    return n;
}

int pa_set_num_threads(int n)
{
    if (n < 0 || n > MAX_THREADS)
        return pa_fail(PA_EINVAL, "pa_set_num_threads: %d is not in 0..%d (0 = one per CPU)", n,
                       MAX_THREADS);
    pthread_mutex_lock(&busy); /* no loop runs while the pool changes */
    pthread_mutex_lock(&lock);
    wanted = n == 0 ? cpu_count() : n;
    int keep = started < wanted - 1 ? started : wanted - 1;
    int stopping = started;
    started = keep;            /* workers with id >= keep exit */
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (int i = keep; i < stopping; i++)
        pthread_join(workers[i], NULL);
    pthread_mutex_unlock(&busy);
    return PA_OK;
}

/* Starts workers up to wanted - 1; called with lock held. */
static void grow(void)
{
    if (wanted == 0)
        wanted = cpu_count();
    while (started < wanted - 1) {
        if (pthread_create(&workers[started], NULL, worker, (void *)(intptr_t)started) != 0)
            break;             /* fewer threads: still correct */
        started++;
    }
}

void pa_parallel_for(long long count, int threads, void (*fn)(void *ctx, long long item, int thread),
                     void *ctx)
{
    loop l = { fn, ctx, count, threads, 0 };
    if (count <= 1 || threads <= 1 || pthread_mutex_trylock(&busy) != 0) {
        drain(&l, 0);          /* serial: tiny work, one thread, or the pool is busy */
        return;
    }
    pthread_mutex_lock(&lock);
    grow();
    current = &l;
    pending = started;
    generation++;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    drain(&l, 0);
    pthread_mutex_lock(&lock);
    while (pending > 0)
        pthread_cond_wait(&done, &lock);
    current = NULL;
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&busy);
}
