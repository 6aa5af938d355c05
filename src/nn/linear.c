/* linear.c — stored-type weights and the fully connected layer over the kernels, the thread
 * pool and sgemm; see linear.h. */
#include "nn/linear.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/quant.h"
#include "nn/threads.h"

/* 64 bytes: a cache line, and the widest vector load (AVX-512) the kernels may use. */
#define NN_ALIGNMENT 64
/* Outputs per task of a matrix-vector product: 64 rows of 512 halves are 64 KiB, enough work
 * to amortise taking a task and few enough that two threads end together. */
#define GEMV_TASK_OUTPUTS 64
/* Output rows widened per task on the sgemm path. */
#define WIDEN_TASK_ROWS 64
/* Output columns of an sgemm task are a multiple of this (OpenBLAS's register tile). */
#define MATMUL_COLUMN_ALIGN 64

/* Buffers come from calloc, whose large blocks are fresh pages the kernel zeroes on first
 * touch: scratch sized for the worst case (five beams, a full context) costs no memory until it
 * is used. The pointer calloc returned is kept just below the aligned start. */
float *st_nn_alloc(size_t n_floats) {
    if (n_floats > (SIZE_MAX - 2 * NN_ALIGNMENT) / sizeof(float)) return NULL;
    size_t bytes = n_floats * sizeof(float) + NN_ALIGNMENT + sizeof(void *);
    unsigned char *block = calloc(1, bytes);
    if (!block) return NULL;
    uintptr_t start = ((uintptr_t)(block + sizeof(void *)) + NN_ALIGNMENT - 1) & ~(uintptr_t)(NN_ALIGNMENT - 1);
    memcpy((unsigned char *)start - sizeof(void *), &block, sizeof block);
    return (float *)start;
}

void st_nn_free(void *buffer) {
    if (!buffer) return;
    void *block;
    memcpy(&block, (unsigned char *)buffer - sizeof(void *), sizeof block);
    free(block);
}

static steno_status check_tensor_size(const st_tensor *tensor, int64_t *n, st_error *err) {
    *n = st_tensor_n_elements(tensor);
    if (*n <= 0 || st_dtype_bytes(tensor->dtype, *n) > tensor->n_bytes) {
        return st_error_set(err, STENO_ERR_FORMAT, "tensor '%s': %lld %s elements do not fit its %zu bytes",
                            tensor->name, (long long)*n, st_dtype_name(tensor->dtype), tensor->n_bytes);
    }
    return STENO_OK;
}

steno_status st_nn_tensor_to_f32(const st_tensor *tensor, float **out, st_error *err) {
    *out = NULL;
    int64_t n;
    steno_status status = check_tensor_size(tensor, &n, err);
    if (status != STENO_OK) return status;
    float *buffer = st_nn_alloc((size_t)n);
    if (!buffer) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "tensor '%s': cannot allocate %lld floats", tensor->name,
                            (long long)n);
    }
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
    int64_t n;
    steno_status status = check_tensor_size(weight, &n, err);
    if (status != STENO_OK) return status;
    int n_in = (int)weight->shape[1];
    int q8_0 = weight->dtype == ST_DTYPE_Q8_0 && n_in % 32 == 0; /* blocks never straddle rows */
    int i8 = weight->dtype == ST_DTYPE_I8 && weight->row_scales;
    if (weight->dtype == ST_DTYPE_F16 || q8_0 || i8) {
        layer->dtype = weight->dtype;
        layer->weight = weight->data;
        layer->row_scales = i8 ? weight->row_scales : NULL;
    } else {
        layer->dtype = ST_DTYPE_F32;
        status = st_nn_tensor_to_f32(weight, &layer->owned, err);
        layer->weight = layer->owned;
    }
    if (status == STENO_OK && bias) status = st_nn_tensor_to_f32(bias, &layer->bias, err);
    if (status != STENO_OK) {
        st_nn_linear_free(layer);
        return status;
    }
    layer->n_out = (int)weight->shape[0];
    layer->n_in = n_in;
    return STENO_OK;
}

void st_nn_linear_free(st_nn_linear *layer) {
    st_nn_free(layer->owned);
    st_nn_free(layer->bias);
    memset(layer, 0, sizeof *layer);
}

/* Rows begin .. begin + count of a stored weight as float32, the values st_nn_tensor_to_f32
 * gives (the shapes were checked when the layer was built, so the conversions cannot fail). */
static void widen_rows(const st_nn_linear *layer, int begin, int count, float *out) {
    size_t first = (size_t)begin * layer->n_in, n = (size_t)count * layer->n_in;
    const unsigned char *bytes = layer->weight;
    switch (layer->dtype) {
    case ST_DTYPE_F16:
        st_nn_kernels_best()->f16_to_f32(bytes + first * 2, out, n);
        break;
    case ST_DTYPE_Q8_0:
        st_convert_to_f32(ST_DTYPE_Q8_0, bytes + st_dtype_bytes(ST_DTYPE_Q8_0, (int64_t)first), out, n);
        break;
    case ST_DTYPE_I8:
        st_dequantize_scaled_to_f32(ST_DTYPE_I8, bytes + first, (const unsigned char *)layer->row_scales + (size_t)begin * sizeof(float),
                                    (size_t)count, (size_t)layer->n_in, out);
        break;
    default:
        memcpy(out, (const float *)layer->weight + first, sizeof(float) * n);
        break;
    }
}

void st_nn_linear_weight_row(const st_nn_linear *layer, int row, float *out) {
    widen_rows(layer, row, 1, out);
}

size_t st_nn_linear_scratch_floats(const st_nn_linear *layer) {
    return layer->dtype == ST_DTYPE_F32 ? 0 : (size_t)layer->n_in * layer->n_out;
}

/* y = x W^T (+ b) on float32 weights, one block of output columns per task. */
typedef struct matmul_job {
    const float *x;
    int n_rows;
    const float *w;
    const float *bias;
    int n_in;
    int n_out;
    float *y;
    int y_stride;
    int task_columns;
} matmul_job;

static void matmul_task(void *context, int task) {
    const matmul_job *job = context;
    int begin = task * job->task_columns;
    int count = job->n_out - begin < job->task_columns ? job->n_out - begin : job->task_columns;
    float *y = job->y + begin;
    /* Seed y with the bias so the sgemm can accumulate onto it (beta = 1) in the same pass. */
    float beta = 0.0f;
    if (job->bias) {
        for (int r = 0; r < job->n_rows; r++)
            memcpy(y + (size_t)r * job->y_stride, job->bias + begin, sizeof(float) * (size_t)count);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, job->n_rows, count, job->n_in, 1.0f, job->x, job->n_in,
                job->w + (size_t)begin * job->n_in, job->n_in, beta, y, job->y_stride);
}

void st_nn_matmul_f32(const float *x, int n_rows, const float *w, const float *bias, int n_in, int n_out, float *y,
                      int y_stride) {
    /* One task per thread: each task packs all of x again, so more tasks cost copying. */
    int n_threads = st_nn_get_threads();
    int columns = (n_out + n_threads - 1) / n_threads;
    columns = (columns + MATMUL_COLUMN_ALIGN - 1) / MATMUL_COLUMN_ALIGN * MATMUL_COLUMN_ALIGN;
    matmul_job job = {x, n_rows, w, bias, n_in, n_out, y, y_stride, columns};
    st_nn_parallel_for((n_out + columns - 1) / columns, matmul_task, &job);
}

typedef struct gemv_job {
    const st_nn_linear *layer;
    const float *x;
    int n_rows;
    float *y;
} gemv_job;

static void gemv_task(void *context, int task) {
    const gemv_job *job = context;
    const st_nn_linear *layer = job->layer;
    const st_nn_kernels *kernels = st_nn_kernels_best();
    int begin = task * GEMV_TASK_OUTPUTS;
    int end = begin + GEMV_TASK_OUTPUTS < layer->n_out ? begin + GEMV_TASK_OUTPUTS : layer->n_out;
    if (layer->dtype == ST_DTYPE_Q8_0)
        kernels->gemv_q8_0(layer->weight, layer->bias, layer->n_in, job->x, job->n_rows, job->y, layer->n_out, begin,
                           end);
    else if (layer->dtype == ST_DTYPE_I8)
        kernels->gemv_i8(layer->weight, layer->row_scales, layer->bias, layer->n_in, job->x, job->n_rows, job->y,
                         layer->n_out, begin, end);
    else
        kernels->gemv_f16(layer->weight, layer->bias, layer->n_in, job->x, job->n_rows, job->y, layer->n_out, begin,
                          end);
}

typedef struct widen_job {
    const st_nn_linear *layer;
    int first_row; /* the block's first output row */
    int n_rows;
    float *out;
} widen_job;

static void widen_task(void *context, int task) {
    const widen_job *job = context;
    int begin = task * WIDEN_TASK_ROWS;
    int count = job->n_rows - begin < WIDEN_TASK_ROWS ? job->n_rows - begin : WIDEN_TASK_ROWS;
    widen_rows(job->layer, job->first_row + begin, count, job->out + (size_t)begin * job->layer->n_in);
}

void st_nn_linear_forward(const st_nn_linear *layer, const float *x, int n_rows, float *y, float *scratch,
                          size_t scratch_floats) {
    const int n_in = layer->n_in, n_out = layer->n_out;
    if (layer->dtype == ST_DTYPE_F32) {
        st_nn_matmul_f32(x, n_rows, layer->weight, layer->bias, n_in, n_out, y, n_out);
        return;
    }
    size_t block_rows = scratch ? scratch_floats / (size_t)n_in : 0;
    if (block_rows > (size_t)n_out) block_rows = (size_t)n_out;
    if (n_rows <= ST_NN_LINEAR_GEMV_MAX_ROWS || block_rows == 0) {
        gemv_job job = {layer, x, n_rows, y};
        st_nn_parallel_for((n_out + GEMV_TASK_OUTPUTS - 1) / GEMV_TASK_OUTPUTS, gemv_task, &job);
        return;
    }
    for (int begin = 0; begin < n_out; begin += (int)block_rows) {
        int count = n_out - begin < (int)block_rows ? n_out - begin : (int)block_rows;
        widen_job job = {layer, begin, count, scratch};
        st_nn_parallel_for((count + WIDEN_TASK_ROWS - 1) / WIDEN_TASK_ROWS, widen_task, &job);
        st_nn_matmul_f32(x, n_rows, scratch, layer->bias ? layer->bias + begin : NULL, n_in, count, y + begin, n_out);
    }
}
