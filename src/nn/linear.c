/* linear.c — float32 copies of stored weights and the sgemm-backed linear layer; see linear.h. */
#include "nn/linear.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/quant.h"

/* 64 bytes: a cache line, and the widest vector load (AVX-512) the kernels may use. */
#define NN_ALIGNMENT 64

float *st_nn_alloc(size_t n_floats) {
    if (n_floats > SIZE_MAX / sizeof(float) - NN_ALIGNMENT) return NULL;
    size_t bytes = (n_floats * sizeof(float) + NN_ALIGNMENT - 1) / NN_ALIGNMENT * NN_ALIGNMENT;
    if (bytes == 0) bytes = NN_ALIGNMENT;
    float *buffer = aligned_alloc(NN_ALIGNMENT, bytes);
    if (buffer) memset(buffer, 0, bytes);
    return buffer;
}

void st_nn_free(void *buffer) {
    free(buffer);
}

steno_status st_nn_tensor_to_f32(const st_tensor *tensor, float **out, st_error *err) {
    *out = NULL;
    int64_t n = st_tensor_n_elements(tensor);
    if (n <= 0 || st_dtype_bytes(tensor->dtype, n) > tensor->n_bytes) {
        return st_error_set(err, STENO_ERR_FORMAT, "tensor '%s': %lld %s elements do not fit its %zu bytes",
                            tensor->name, (long long)n, st_dtype_name(tensor->dtype), tensor->n_bytes);
    }
    float *buffer = st_nn_alloc((size_t)n);
    if (!buffer) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "tensor '%s': cannot allocate %lld floats", tensor->name,
                            (long long)n);
    }
    steno_status status;
    if ((tensor->dtype == ST_DTYPE_I8 || tensor->dtype == ST_DTYPE_I16) && tensor->row_scales) {
        /* CTranslate2's int8 has a scale per output row (shape[0]); int16 one in all */
        size_t rows = tensor->n_dims >= 1 ? (size_t)tensor->shape[0] : 1; /* n > 0: not 0 */
        status = st_dequantize_scaled_to_f32(tensor->dtype, tensor->data, tensor->row_scales, rows, (size_t)n / rows,
                                             buffer);
    } else {
        status = st_convert_to_f32(tensor->dtype, tensor->data, buffer, (size_t)n);
    }
    if (status != STENO_OK) {
        st_nn_free(buffer);
        return st_error_set(err, status, "tensor '%s': cannot convert type %s to f32", tensor->name,
                            st_dtype_name(tensor->dtype));
    }
    *out = buffer;
    return STENO_OK;
}

steno_status st_nn_linear_init(st_nn_linear *layer, const st_tensor *weight, const st_tensor *bias, st_error *err) {
    memset(layer, 0, sizeof *layer);
    steno_status status = st_nn_tensor_to_f32(weight, &layer->weight, err);
    if (status == STENO_OK && bias) status = st_nn_tensor_to_f32(bias, &layer->bias, err);
    if (status != STENO_OK) {
        st_nn_linear_free(layer);
        return status;
    }
    layer->n_out = (int)weight->shape[0];
    layer->n_in = (int)weight->shape[1];
    return STENO_OK;
}

void st_nn_linear_free(st_nn_linear *layer) {
    st_nn_free(layer->weight);
    st_nn_free(layer->bias);
    memset(layer, 0, sizeof *layer);
}

void st_nn_linear_forward(const st_nn_linear *layer, const float *x, int n_rows, float *y) {
    /* Seed y with the bias so the sgemm can accumulate onto it (beta = 1) in the same pass. */
    float beta = 0.0f;
    if (layer->bias) {
        for (int r = 0; r < n_rows; r++)
            memcpy(y + (size_t)r * layer->n_out, layer->bias, sizeof(float) * (size_t)layer->n_out);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, layer->n_out, layer->n_in, 1.0f, x, layer->n_in,
                layer->weight, layer->n_in, beta, y, layer->n_out);
}
