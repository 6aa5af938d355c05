/*
 * linear.h — float32 weights made from stored tensors, and the fully connected layer.
 *
 * The first step of the CPU backend: every weight matrix is converted to float32 once, when a
 * model is set up (f16, bf16 and ggml's quantized blocks alike, through st_convert_to_f32),
 * and kept row-major in PyTorch's [out, in] order. A layer is then one sgemm with the weight
 * transposed on the fly (transB), which is how BLAS reads an [out, in] matrix fastest. The
 * price is memory: base.en's f16 weights take twice their file size. Kernels that work on the
 * stored types directly can later replace this without changing the layer's callers.
 */
#ifndef ST_NN_LINEAR_H
#define ST_NN_LINEAR_H

#include <stddef.h>

#include "models/tensor_set.h"
#include "util/error.h"

/* A float32 copy of a tensor, allocated with 64-byte alignment; freed with st_nn_free. */
steno_status st_nn_tensor_to_f32(const st_tensor *tensor, float **out, st_error *err);

/* Frees what st_nn_tensor_to_f32 or st_nn_alloc returned (NULL is allowed). */
void st_nn_free(void *buffer);

/* n_floats float32s, 64-byte aligned and zeroed, or NULL when out of memory. */
float *st_nn_alloc(size_t n_floats);

typedef struct st_nn_linear {
    float *weight; /* [n_out][n_in], row-major, owned */
    float *bias;   /* [n_out], owned; NULL for a layer without bias */
    int n_in;
    int n_out;
} st_nn_linear;

/* Builds a layer from a weight tensor [n_out, n_in] and an optional bias [n_out] (NULL when the
 * layer has none, like Whisper's attention key). The shapes must have been checked already. */
steno_status st_nn_linear_init(st_nn_linear *layer, const st_tensor *weight, const st_tensor *bias, st_error *err);

void st_nn_linear_free(st_nn_linear *layer);

/* y[r] = x[r] W^T + b for n_rows rows; x is [n_rows][n_in], y is [n_rows][n_out]; x and y must
 * not overlap. */
void st_nn_linear_forward(const st_nn_linear *layer, const float *x, int n_rows, float *y);

#endif
