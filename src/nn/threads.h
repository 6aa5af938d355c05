/*
 * threads.h — how many CPU threads steno's kernels use.
 *
 * The heavy work of the CPU backend is OpenBLAS's sgemm, which runs its own thread pool; the
 * count is set here once (from the CLI's --threads or a test) instead of through the
 * OPENBLAS_NUM_THREADS environment variable, so one process can choose per job.
 */
#ifndef ST_NN_THREADS_H
#define ST_NN_THREADS_H

/* Sets the number of threads the kernels may use (values below 1 mean 1). */
void st_nn_set_threads(int n_threads);

/* The number set last (OpenBLAS's own default until st_nn_set_threads is called). */
int st_nn_get_threads(void);

#endif
