/* threads.c — the kernels' thread count and their worker pool; see threads.h. */
#include "nn/threads.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define MAX_THREADS 64
/* Rounds a worker polls for the next call before it sleeps (some tens of microseconds): long
 * enough to span the gaps between the kernels of one decoder step, short enough that a worker
 * does not burn a shared core through the serial parts (logit filters, beam bookkeeping). */
#define SPIN_ROUNDS 4000
/* Rounds the caller polls for a claimed task to finish before it starts yielding its core. */
#define WAIT_SPINS 2000

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* The current call's ticket packs its generation, its task count and the next task index in
 * one 64-bit word, so a worker claims a task with one compare-and-swap that also proves the
 * call is still the one it read: a worker that wakes late can never take a task of the next
 * call by mistake. */
#define INDEX_BITS 20
#define COUNT_BITS 20
#define FIELD_MASK ((1u << INDEX_BITS) - 1)
#define MAX_TASKS ((int)FIELD_MASK)

static uint64_t make_ticket(uint64_t generation, uint64_t n_tasks, uint64_t index) {
    return generation << (INDEX_BITS + COUNT_BITS) | n_tasks << INDEX_BITS | index;
}
static unsigned ticket_generation(uint64_t ticket) {
    return (unsigned)(ticket >> (INDEX_BITS + COUNT_BITS));
}
static int ticket_count(uint64_t ticket) {
    return (int)((ticket >> INDEX_BITS) & FIELD_MASK);
}
static int ticket_index(uint64_t ticket) {
    return (int)(ticket & FIELD_MASK);
}

typedef struct pool {
    pthread_mutex_t lock;    /* guards sleeping workers' wake-up and the thread count */
    pthread_cond_t wake;     /* signalled when a new call is posted */
    pthread_mutex_t busy;    /* held by the thread whose call owns the workers */
    int n_threads;           /* the count set by st_nn_set_threads */
    int n_workers;           /* workers started so far (they are never stopped) */
    _Atomic uint64_t ticket; /* see make_ticket */
    atomic_int n_done;       /* tasks of the current call finished */
    st_nn_task task;         /* the current call, written before its ticket is published */
    void *context;
} pool;

static pool the_pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .busy = PTHREAD_MUTEX_INITIALIZER,
    .n_threads = 1,
};

/* Takes tasks of the call with this generation until none is left (or a newer call has
 * replaced it). */
static void work(pool *p, unsigned generation) {
    uint64_t ticket = atomic_load_explicit(&p->ticket, memory_order_acquire);
    for (;;) {
        if (ticket_generation(ticket) != generation || ticket_index(ticket) >= ticket_count(ticket)) return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &ticket, ticket + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        p->task(p->context, ticket_index(ticket));
        atomic_fetch_add_explicit(&p->n_done, 1, memory_order_release);
        ticket = atomic_load_explicit(&p->ticket, memory_order_acquire);
    }
}

static unsigned current_generation(pool *p) {
    return ticket_generation(atomic_load_explicit(&p->ticket, memory_order_acquire));
}

static void *worker_main(void *argument) {
    pool *p = argument;
    unsigned seen = current_generation(p);
    for (;;) {
        unsigned now = seen;
        for (int spin = 0; spin < SPIN_ROUNDS && now == seen; spin++) {
            CPU_RELAX();
            now = current_generation(p);
        }
        if (now == seen) {
            pthread_mutex_lock(&p->lock);
            while ((now = current_generation(p)) == seen)
                pthread_cond_wait(&p->wake, &p->lock);
            pthread_mutex_unlock(&p->lock);
        }
        seen = now;
        work(p, seen);
    }
    return NULL;
}

void st_nn_set_threads(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    /* One pool for everything: sgemm runs single-threaded inside the pool's tasks. Two pools
     * on the same cores (OpenBLAS's spinning workers beside these) slow each other down. */
    openblas_set_num_threads(1);
    pool *p = &the_pool;
    pthread_mutex_lock(&p->busy);
    pthread_mutex_lock(&p->lock);
    while (p->n_workers < n_threads - 1) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker_main, p) != 0) break; /* run with fewer */
        pthread_detach(thread);
        p->n_workers++;
    }
    p->n_threads = n_threads;
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->busy);
}

int st_nn_get_threads(void) {
    pool *p = &the_pool;
    pthread_mutex_lock(&p->lock);
    int n = p->n_threads;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void run_inline(int n_tasks, st_nn_task task, void *context) {
    for (int i = 0; i < n_tasks; i++)
        task(context, i);
}

void st_nn_parallel_for(int n_tasks, st_nn_task task, void *context) {
    pool *p = &the_pool;
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || n_tasks > MAX_TASKS || pthread_mutex_trylock(&p->busy) != 0) {
        run_inline(n_tasks, task, context);
        return;
    }
    if (p->n_threads <= 1 || p->n_workers == 0) {
        pthread_mutex_unlock(&p->busy);
        run_inline(n_tasks, task, context);
        return;
    }
    p->task = task;
    p->context = context;
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    unsigned generation = current_generation(p) + 1;
    pthread_mutex_lock(&p->lock);
    atomic_store_explicit(&p->ticket, make_ticket(generation, (uint64_t)n_tasks, 0), memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    work(p, generation);
    /* Only tasks a worker has claimed are waited for; one that has not woken yet finds the
     * call exhausted. On a loaded machine the claimer may be descheduled: yield to it. */
    for (int spin = 0; atomic_load_explicit(&p->n_done, memory_order_acquire) < n_tasks; spin++) {
        if (spin < WAIT_SPINS)
            CPU_RELAX();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&p->busy);
}
