/*
 * linear.h — the fully connected layer on weights kept in their stored type.
 *
 * Weights stay in their stored type where a kernel reads it: half (the official ggml and
 * PyTorch files) and ggml q8_0. The layer BORROWS them: it points into the st_tensor's data
 * (the model file's mapping) and copies nothing, so the st_model a layer was built from must
 * outlive the layer (st_whisper_context keeps its file for its whole life). The kernels widen
 * or dequantize the weights in registers and sum in float32 (nn/kernels.h). Other stored types
 * (bf16, ggml's 4- and 5-bit blocks, int16) are converted to an owned float32 copy once, when
 * the layer is built.
 *
 * int8 layers compute in integers (nn/kernels.h): CTranslate2's int8 weights, and with the
 * int8 compute type every layer, quantized when it is built with a scale per output row
 * (127 / its largest |weight|, CTranslate2's rule). Their weights are packed once into the
 * kernels' layout (an owned copy, the size of the int8 weights); each product quantizes its
 * rows of x to 8 bits into the scratch. bf16 layers (the bf16 compute type) are packed the
 * same way, their weights rounded to bfloat16, and each product rounds its rows of x to bf16.
 *
 * A product over a few rows (a decoder step: one row per sequence) is bound by reading the
 * weights, and runs as matrix-vector kernels split over the thread pool, each weight read
 * once. A product over many rows (the encoder's 1500 frames, a long prompt) is bound by
 * arithmetic, and goes to OpenBLAS's sgemm: stored weights are widened into caller-provided
 * scratch, a block of output rows at a time, to exactly the values st_nn_tensor_to_f32 gives,
 * which costs one conversion per weight against n_rows multiply-adds.
 */
#ifndef ST_NN_LINEAR_H
#define ST_NN_LINEAR_H

#include <stddef.h>

#include "models/tensor_set.h"
#include "nn/kernels.h"
#include "util/error.h"

/* A float32 copy of a tensor, allocated with 64-byte alignment; freed with st_nn_free. */
steno_status st_nn_tensor_to_f32(const st_tensor *tensor, float **out, st_error *err);

/* Frees what st_nn_tensor_to_f32 or st_nn_alloc returned (NULL is allowed). */
void st_nn_free(void *buffer);

/* n_floats float32s, 64-byte aligned and zeroed, or NULL when out of memory. */
float *st_nn_alloc(size_t n_floats);

/* Asks for ordinary 4 KiB pages over the whole pages inside [buffer, buffer + n_floats), part of
 * a block from st_nn_alloc: for memory touched sparsely (a key/value cache whose sequences each
 * fill only their first positions), where a 2 MiB page would be zeroed whole on its first touch. */
void st_nn_advise_small_pages(float *buffer, size_t n_floats);

/* Up to this many rows a product runs as matrix-vector kernels on the stored weights; above
 * it, through sgemm on widened blocks. Beam search's 5 sequences stay below. */
#define ST_NN_LINEAR_GEMV_MAX_ROWS 8

/* y[r * y_stride + o] = bias[o] + sum over i of x[r * n_in + i] * w[o * n_in + i]: sgemm over
 * the thread pool, a block of output columns per task. bias may be NULL. */
void st_nn_matmul_f32(const float *x, int n_rows, const float *w, const float *bias, int n_in, int n_out, float *y,
                      int y_stride);

/* What the linear layers compute in, for the layers built after it is set (a process-wide
 * setting, like the thread count; ST_NN_COMPUTE_AUTO at start).
 *   AUTO: the fastest that keeps the word error rate (bench/README.md): float weights (F32,
 *         F16, BF16) quantized on load to int8 on CPUs with vector int8 kernels (AVX-512 VNNI,
 *         AVX2), int8 weights in integers, everything else in its stored type summed in
 *         float32 (half and q8_0 widened in registers).
 *   FP32: each weight in its stored type summed in float32, int8 weights dequantized (the
 *         exact product of the file: openai-whisper's float32 numerics).
 *   INT8: every layer in integers, quantized on load (nn/kernels.h).
 *   BF16: every layer's weights rounded to bfloat16 on load and packed (nn/kernels.h), x
 *         rounded to bf16 per product, sums in float32: AVX512_BF16's vdpbf16ps, and on
 *         other CPUs the same products widened in AVX2 (2.5 times vdpbf16ps's time here)
 *         or C (far slower). AUTO never picks it: int8 is faster on every CPU that has
 *         vdpbf16ps (VNNI comes with it) and no less accurate (bench/README.md).
 * (The values are steno_compute_type's, include/steno.h.) */
typedef enum st_nn_compute {
    ST_NN_COMPUTE_AUTO,
    ST_NN_COMPUTE_FP32,
    ST_NN_COMPUTE_INT8,
    ST_NN_COMPUTE_BF16
} st_nn_compute;

void st_nn_set_compute(st_nn_compute compute);
st_nn_compute st_nn_get_compute(void);

/* What a layer built now from `weight` computes in: ST_NN_COMPUTE_INT8 (packed int8, integer
 * products), ST_NN_COMPUTE_BF16 (packed bf16) or ST_NN_COMPUTE_FP32 (float32 sums over the
 * stored type), AUTO resolved as above. */
st_nn_compute st_nn_layer_compute(const st_tensor *weight);

/* "auto", "fp32", "int8", "bf16" to the compute type; 0 on success, -1 for another name. */
int st_nn_compute_from_name(const char *name, st_nn_compute *out);

typedef struct st_nn_linear {
    st_dtype dtype;          /* ST_DTYPE_F32, F16, Q8_0 (weight), I8 (i8) or BF16 (bf16) */
    const void *weight;      /* [n_out][n_in] row-major in dtype, borrowed (or `owned`); may be unaligned */
    float *owned;            /* the float32 conversion weight points at, for types without kernels */
    st_nn_i8_weights i8;     /* I8: the packed weights, owned (in packed_buffer); bias is `bias` */
    st_nn_bf16_weights bf16; /* BF16: the same */
    void *packed_buffer;
    float *bias; /* [n_out], owned; NULL for a layer without bias */
    int n_in;
    int n_out;
} st_nn_linear;

/* Builds a layer from a weight tensor [n_out, n_in] and an optional bias [n_out] (NULL when the
 * layer has none, like Whisper's attention key). The shapes must have been checked already.
 * The layer borrows weight->data (and row_scales): they must stay valid until
 * st_nn_linear_free. */
steno_status st_nn_linear_init(st_nn_linear *layer, const st_tensor *weight, const st_tensor *bias, st_error *err);

void st_nn_linear_free(st_nn_linear *layer);

/* Whether the layer computes in reduced precision on a packed copy of its weights (int8 or
 * bf16): a model built of such layers takes its attention in reduced precision too, and needs
 * none of the file's pages once loaded. */
static inline int st_nn_linear_is_packed(const st_nn_linear *layer) {
    return layer->dtype == ST_DTYPE_I8 || layer->dtype == ST_DTYPE_BF16;
}

/* Row `row` of the weight as float32 into out[n_in] (an embedding lookup on a tied matrix). */
void st_nn_linear_weight_row(const st_nn_linear *layer, int row, float *out);

/* Floats of scratch with which st_nn_linear_forward runs every row count at full speed: a
 * block of output rows widened to float32, up to the whole weight (int8 and bf16: as many rows
 * of quantized or rounded x). Less (or none) still gives the right result, through smaller blocks or the
 * matrix-vector kernels. */
size_t st_nn_linear_scratch_floats(const st_nn_linear *layer);

/* y[r] = x[r] W^T + b for n_rows rows; x is [n_rows][n_in], y is [n_rows][n_out]; x and y must
 * not overlap. scratch (scratch_floats floats, may be NULL) is used for stored (not float32)
 * weights over more than ST_NN_LINEAR_GEMV_MAX_ROWS rows, for int8 layers' quantized x and
 * for bf16 layers' rounded x. */
void st_nn_linear_forward(const st_nn_linear *layer, const float *x, int n_rows, float *y, float *scratch,
                          size_t scratch_floats);

#endif
