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

/* An aligned copy of a half tensor's bytes. */
static steno_status copy_f16(const st_tensor *tensor, void **out, st_error *err) {
    int64_t n;
    steno_status status = check_tensor_size(tensor, &n, err);
    if (status != STENO_OK) return status;
    void *buffer = st_nn_alloc(((size_t)n + 1) / 2);
    if (!buffer) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "tensor '%s': cannot allocate %lld halves", tensor->name,
                            (long long)n);
    }
    memcpy(buffer, tensor->data, (size_t)n * sizeof(uint16_t));
    *out = buffer;
    return STENO_OK;
}

steno_status st_nn_linear_init(st_nn_linear *layer, const st_tensor *weight, const st_tensor *bias, st_error *err) {
    memset(layer, 0, sizeof *layer);
    steno_status status;
    if (weight->dtype == ST_DTYPE_F16) {
        layer->dtype = ST_DTYPE_F16;
        status = copy_f16(weight, &layer->weight, err);
    } else {
        float *converted;
        layer->dtype = ST_DTYPE_F32;
        status = st_nn_tensor_to_f32(weight, &converted, err);
        layer->weight = converted;
    }
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

void st_nn_linear_weight_row(const st_nn_linear *layer, int row, float *out) {
    size_t offset = (size_t)row * layer->n_in;
    if (layer->dtype == ST_DTYPE_F16)
        st_nn_kernels_best()->f16_to_f32((const uint16_t *)layer->weight + offset, out, (size_t)layer->n_in);
    else
        memcpy(out, (const float *)layer->weight + offset, sizeof(float) * (size_t)layer->n_in);
}

size_t st_nn_linear_scratch_floats(const st_nn_linear *layer) {
    return layer->dtype == ST_DTYPE_F16 ? (size_t)layer->n_in * layer->n_out : 0;
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
    int begin = task * GEMV_TASK_OUTPUTS;
    int end = begin + GEMV_TASK_OUTPUTS < layer->n_out ? begin + GEMV_TASK_OUTPUTS : layer->n_out;
    st_nn_kernels_best()->gemv_f16(layer->weight, layer->bias, layer->n_in, job->x, job->n_rows, job->y, layer->n_out,
                                   begin, end);
}

typedef struct widen_job {
    const uint16_t *weight; /* the block's first row */
    float *out;
    int n_in;
    int n_rows;
} widen_job;

static void widen_task(void *context, int task) {
    const widen_job *job = context;
    int begin = task * WIDEN_TASK_ROWS;
    int count = job->n_rows - begin < WIDEN_TASK_ROWS ? job->n_rows - begin : WIDEN_TASK_ROWS;
    size_t offset = (size_t)begin * job->n_in;
    st_nn_kernels_best()->f16_to_f32(job->weight + offset, job->out + offset, (size_t)count * job->n_in);
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
    const uint16_t *weight = layer->weight;
    for (int begin = 0; begin < n_out; begin += (int)block_rows) {
        int count = n_out - begin < (int)block_rows ? n_out - begin : (int)block_rows;
        widen_job job = {weight + (size_t)begin * n_in, scratch, n_in, count};
        st_nn_parallel_for((count + WIDEN_TASK_ROWS - 1) / WIDEN_TASK_ROWS, widen_task, &job);
        st_nn_matmul_f32(x, n_rows, scratch, layer->bias ? layer->bias + begin : NULL, n_in, count, y + begin, n_out);
    }
}
