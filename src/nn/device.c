/*
 * device.c — the device setting and the CUDA backend's loader; see device.h.
 */
#include "nn/device.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/backend.h"
#include "util/parse.h"

static int chosen_device = ST_NN_DEVICE_CPU;
static const st_cuda_api *backend;
static pthread_mutex_t backend_lock = PTHREAD_MUTEX_INITIALIZER;

int st_nn_device_from_name(const char *name, int *device) {
    if (!name) return -1;
    if (strcmp(name, "cpu") == 0) {
        *device = ST_NN_DEVICE_CPU;
        return 0;
    }
    if (strcmp(name, "cuda") == 0) {
        *device = 0;
        return 0;
    }
    long index;
    if (strncmp(name, "cuda:", 5) != 0 || !st_parse_long(name + 5, 0, 1023, &index)) return -1;
    *device = (int)index;
    return 0;
}

/* Opens the backend library (once) and keeps its table; err says why when it cannot. */
static steno_status load_backend(st_error *err) {
    const char *candidates[] = {
        getenv("STENO_CUDA_LIBRARY"),
#ifdef STENO_CUDA_MODULE_BUILT
        STENO_CUDA_MODULE_BUILT,
        STENO_CUDA_MODULE_INSTALLED,
#endif
    };
    const size_t n_candidates = sizeof candidates / sizeof candidates[0];
    char reason[ST_ERROR_MESSAGE_SIZE] = "this steno was built without the CUDA backend (no nvcc at build time)";
    for (size_t i = 0; i < n_candidates; i++) {
        if (!candidates[i] || !candidates[i][0]) continue;
        void *library = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (!library) { /* dlerror names the file and what is missing (libcublas.so.13, say) */
            const char *why = dlerror();
            snprintf(reason, sizeof reason, "the CUDA backend could not be loaded: %s", why ? why : candidates[i]);
            continue;
        }
        const st_cuda_api *(*entry)(void) = (const st_cuda_api *(*)(void))dlsym(library, "st_cuda_backend");
        const st_cuda_api *api = entry ? entry() : NULL;
        if (api && api->abi_version == ST_CUDA_ABI_VERSION) {
            backend = api; /* the library stays loaded for the life of the process */
            return STENO_OK;
        }
        snprintf(reason, sizeof reason, "%s is not a CUDA backend of this steno (interface version %d, expected %d)",
                 candidates[i], api ? api->abi_version : -1, ST_CUDA_ABI_VERSION);
        dlclose(library);
    }
    return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s", reason);
}

steno_status st_nn_set_device(int device, st_error *err) {
    chosen_device = ST_NN_DEVICE_CPU; /* also when the GPU asked for cannot be used */
    if (device < 0) return STENO_OK;
    pthread_mutex_lock(&backend_lock);
    steno_status status = backend ? STENO_OK : load_backend(err);
    pthread_mutex_unlock(&backend_lock);
    if (status != STENO_OK) return status;
    char message[ST_ERROR_MESSAGE_SIZE];
    int count = 0;
    if (backend->device_count(&count, message, sizeof message) != ST_CUDA_OK) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s", message);
    }
    if (device >= count) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "there is no GPU cuda:%d (%d visible: cuda:0 to cuda:%d)",
                            device, count, count - 1);
    }
    chosen_device = device;
    return STENO_OK;
}

int st_nn_get_device(void) {
    return chosen_device;
}

const st_cuda_api *st_nn_cuda(void) {
    return backend;
}
