/* fuzz_ct2.c — libFuzzer target: any bytes given to the CTranslate2 model.bin reader are
 * refused or loaded, never read out of bounds; a loaded model's tensors and their int8 scales
 * all lie inside the input, and every tensor converts to float32. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "models/ct2.h"
#include "nn/linear.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const void *p, size_t n, const uint8_t *data, size_t size) {
    const uint8_t *q = p;
    return q >= data && n <= size && q <= data + size - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_model model;
    st_error err;
    if (st_ct2_load_memory(data, size, "fuzz", &model, &err) != STENO_OK) return 0;
    for (size_t i = 0; i < model.n_tensors; i++) {
        const st_tensor *t = &model.tensors[i];
        if (!inside(t->data, t->n_bytes, data, size)) abort();
        if (st_dtype_bytes(t->dtype, st_tensor_n_elements(t)) != t->n_bytes) abort();
        if (t->dtype == ST_DTYPE_I8 && !inside(t->row_scales, (size_t)t->shape[0] * 4, data, size)) abort();
        float *values;
        if (st_nn_tensor_to_f32(t, &values, &err) != STENO_OK) abort();
        st_nn_free(values);
    }
    st_model_free(&model);
    return 0;
}
