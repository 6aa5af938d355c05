/*
 * threads.h — how many CPU threads steno's kernels use, and the small pool that runs them.
 *
 * All of steno's CPU kernels split their work into tasks over the pool below: the products
 * on stored weights, attention, softmax, GELU, layer norm, and OpenBLAS's sgemm, which runs
 * single-threaded inside tasks that each take a block of output columns. One pool instead of
 * OpenBLAS's own beside it: two pools spinning on the same few cores slow each other down.
 *
 * The pool's workers are started when the count is set, never in a hot loop. A parallel call
 * hands out task indices through an atomic counter and the caller works on them too; workers
 * spin briefly between calls (a decoder step makes about a hundred calls a few microseconds
 * apart) and then sleep on a condition variable, so an idle pool costs nothing. Only one
 * parallel call uses the pool at a time: a second caller on another thread (two jobs of a
 * server) runs its tasks itself instead of waiting.
 */
#ifndef ST_NN_THREADS_H
#define ST_NN_THREADS_H

/* Sets the number of threads the kernels may use (values below 1 mean 1; at most 64). */
void st_nn_set_threads(int n_threads);

/* The number set last (1 until st_nn_set_threads is called). */
int st_nn_get_threads(void);

/* One task of a parallel call: task is 0 .. n_tasks-1. Tasks of one call may run at once on
 * different threads and in any order. */
typedef void (*st_nn_task)(void *context, int task);

/* Runs task(context, i) for every i in 0 .. n_tasks-1 over the pool and returns when all are
 * done. */
void st_nn_parallel_for(int n_tasks, st_nn_task task, void *context);

#endif
