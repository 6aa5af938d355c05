/* threads.c — thread count of the CPU kernels, delegated to OpenBLAS's pool; see threads.h. */
#include "nn/threads.h"

#include <cblas.h>

void st_nn_set_threads(int n_threads) {
    openblas_set_num_threads(n_threads < 1 ? 1 : n_threads);
}

int st_nn_get_threads(void) {
    return openblas_get_num_threads();
}
