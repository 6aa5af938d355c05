/* fuzz_safetensors.c — libFuzzer target: any bytes given to the safetensors parser and to the
 * transformers Whisper reader are refused or accepted, never read out of bounds; every tensor
 * the parser hands out lies inside the data region with the byte count its dtype and shape
 * imply, and a loaded model's tensors lie inside the input and convert to float32. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "models/hf.h"
#include "models/safetensors.h"
#include "nn/linear.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const void *p, size_t n, const uint8_t *begin, const uint8_t *end) {
    const uint8_t *q = p;
    return q >= begin && n <= (size_t)(end - begin) && q <= end - n;
}

/* The shape's element count; any zero extent makes it 0 whatever the others (which may then be
 * huge), otherwise the parser bounded the product by the file size. */
static int64_t elements(const st_safetensors_tensor *t) {
    for (int d = 0; d < t->n_dims; d++) {
        if (t->shape[d] == 0) return 0;
    }
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++)
        n *= t->shape[d];
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_safetensors parsed;
    st_error err;
    if (st_safetensors_parse(data, size, "fuzz", &parsed, &err) == STENO_OK) {
        const uint8_t *region = data + 8 + parsed.header_length;
        for (size_t i = 0; i < parsed.n_tensors; i++) {
            const st_safetensors_tensor *t = &parsed.tensors[i];
            if (!inside(t->data, t->n_bytes, region, data + size)) abort();
            if (t->dtype != ST_DTYPE_COUNT && st_dtype_bytes(t->dtype, elements(t)) != t->n_bytes) abort();
        }
        st_safetensors_free(&parsed);
    }
    st_model model;
    if (st_hf_load_memory(data, size, "fuzz", &model, &err) != STENO_OK) return 0;
    for (size_t i = 0; i < model.n_tensors; i++) {
        const st_tensor *t = &model.tensors[i];
        if (!inside(t->data, t->n_bytes, data, data + size)) abort();
        if (st_dtype_bytes(t->dtype, st_tensor_n_elements(t)) != t->n_bytes) abort();
        float *values;
        if (st_nn_tensor_to_f32(t, &values, &err) != STENO_OK) abort();
        st_nn_free(values);
    }
    st_model_free(&model);
    return 0;
}
