/* fuzz_ggml.c — libFuzzer target: any bytes given to the ggml loader are refused or loaded,
 * never read out of bounds; a loaded model's tensors all lie inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "models/ggml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_model model;
    st_error err;
    if (st_ggml_load_memory(data, size, "fuzz", &model, &err) != STENO_OK) return 0;
    for (size_t i = 0; i < model.n_tensors; i++) {
        const st_tensor *t = &model.tensors[i];
        const uint8_t *p = t->data;
        if (p < data || p + t->n_bytes > data + size) abort();
        if (st_dtype_bytes(t->dtype, st_tensor_n_elements(t)) != t->n_bytes) abort();
    }
    st_model_free(&model);
    return 0;
}
