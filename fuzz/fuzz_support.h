/* fuzz_support.h — the checks every model-reader fuzz target makes on a model it loaded: each
 * tensor (and a CTranslate2 int8 tensor's row scales) lies inside the input, its byte count
 * matches its dtype and shape, and it converts to float32. A failure aborts, which libFuzzer
 * reports with the input. */
#ifndef ST_FUZZ_SUPPORT_H
#define ST_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "models/tensor_set.h"
#include "nn/linear.h"

static inline int st_fuzz_inside(const void *p, size_t n, const uint8_t *data, size_t size) {
    const uint8_t *q = p;
    return q >= data && n <= size && q <= data + size - n;
}

static inline void st_fuzz_check_model(const st_model *model, const uint8_t *data, size_t size) {
    for (size_t i = 0; i < model->n_tensors; i++) {
        const st_tensor *t = &model->tensors[i];
        if (!st_fuzz_inside(t->data, t->n_bytes, data, size)) abort();
        if (st_dtype_bytes(t->dtype, st_tensor_n_elements(t)) != t->n_bytes) abort();
        if (t->row_scales && t->dtype == ST_DTYPE_I8 &&
            !st_fuzz_inside(t->row_scales, (size_t)t->shape[0] * 4, data, size)) {
            abort();
        }
        float *values;
        if (st_nn_tensor_to_f32(t, &values, NULL) != STENO_OK) abort();
        st_nn_free(values);
    }
}

#endif
