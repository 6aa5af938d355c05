/*
 * device.h — where the network runs: the CPU, or a CUDA GPU.
 *
 * The GPU code is a separate library, libsteno_cuda.so (nn/cuda/, built when nvcc is found),
 * opened with dlopen the first time a GPU is asked for, so steno itself links no CUDA library
 * and a machine without a driver gets a message and the CPU. The choice is a process-wide
 * setting like the compute type (nn/linear.h): models loaded after it is set run on that device.
 * Set it before loading models, from one thread.
 *
 * The library is looked for at $STENO_CUDA_LIBRARY, then where this build put it, then in the
 * installed library folder.
 */
#ifndef ST_NN_DEVICE_H
#define ST_NN_DEVICE_H

#include "util/error.h"

#define ST_NN_DEVICE_CPU (-1)

struct st_cuda_api;

/* "cpu" -> ST_NN_DEVICE_CPU, "cuda" -> 0, "cuda:N" -> N; 0 on success, -1 for another name. */
int st_nn_device_from_name(const char *name, int *device);

/* Selects the device for the models loaded after this. Choosing a GPU loads the backend and
 * checks that GPU exists; when it cannot be used (no backend library, no driver, no such GPU)
 * err says why, STENO_ERR_UNSUPPORTED is returned and the setting is the CPU. */
steno_status st_nn_set_device(int device, st_error *err);
int st_nn_get_device(void);

/* The loaded backend's functions; NULL until st_nn_set_device has loaded it. */
const struct st_cuda_api *st_nn_cuda(void);

#endif
