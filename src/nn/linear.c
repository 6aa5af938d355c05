/* linear.c — stored-type weights and the fully connected layer over the kernels, the thread
 * pool and sgemm; see linear.h. */
#include "nn/linear.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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
/* Packed (int8 and bf16) products: blocks of 16 outputs per task (few rows: 64 outputs, as
 * GEMV_TASK_OUTPUTS; many rows: 256 outputs by PACKED_TASK_ROWS rows, a few hundred KiB of
 * weights and x per task), and rows quantized or rounded per task. */
#define PACKED_FEW_TASK_BLOCKS 4
#define PACKED_TASK_BLOCKS 16
#define PACKED_TASK_ROWS 128
#define PACKED_QUANTIZE_TASK_ROWS 32
/* Quantized (int8) or rounded (bf16) x for packed layers called without scratch, a row or
 * more at a time; layers wider than this (none in Whisper) stay in float32. */
#define PACKED_STACK_BYTES 16384

static _Atomic int compute_type = ST_NN_COMPUTE_AUTO;

void st_nn_set_compute(st_nn_compute compute) {
    compute_type = (int)compute;
}

st_nn_compute st_nn_get_compute(void) {
    return (st_nn_compute)compute_type;
}

st_nn_compute st_nn_layer_compute(const st_tensor *weight) {
    const st_nn_compute compute = st_nn_get_compute();
    if (compute != ST_NN_COMPUTE_AUTO) return compute;
    if (weight->dtype == ST_DTYPE_I8 && weight->row_scales) return ST_NN_COMPUTE_INT8;
    const int is_float =
        weight->dtype == ST_DTYPE_F32 || weight->dtype == ST_DTYPE_F16 || weight->dtype == ST_DTYPE_BF16;
    /* the portable integer kernel is slower than the float32 path */
    return is_float && st_nn_kernels_best()->gemm_i8 != st_nn_portable_gemm_i8 ? ST_NN_COMPUTE_INT8
                                                                                : ST_NN_COMPUTE_FP32;
}

int st_nn_compute_from_name(const char *name, st_nn_compute *out) {
    static const char *const names[] = {"auto", "fp32", "int8", "bf16"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (st_nn_compute)i;
            return 0;
        }
    }
    return -1;
}

/* Buffers come from calloc, whose large blocks are fresh pages the kernel zeroes on first
 * touch: scratch sized for the worst case (five beams, a full context) costs no memory until it
 * is used. The pointer calloc returned is kept just below the aligned start. Blocks of several
 * MiB (weights, the run state) ask for transparent huge pages: a page fault costs a few
 * microseconds here (a virtual machine), and 2 MiB pages take 512 times fewer of them. */
float *st_nn_alloc(size_t n_floats) {
    if (n_floats > (SIZE_MAX - 2 * NN_ALIGNMENT) / sizeof(float)) return NULL;
    size_t bytes = n_floats * sizeof(float) + NN_ALIGNMENT + sizeof(void *);
    unsigned char *block = calloc(1, bytes);
    if (!block) return NULL;
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t first = ((uintptr_t)block + huge - 1) & ~(huge - 1), last = ((uintptr_t)block + bytes) & ~(huge - 1);
    if (last > first) madvise((void *)first, last - first, MADV_HUGEPAGE); /* advice: failure changes nothing */
#endif
    uintptr_t start = ((uintptr_t)(block + sizeof(void *)) + NN_ALIGNMENT - 1) & ~(uintptr_t)(NN_ALIGNMENT - 1);
    memcpy((unsigned char *)start - sizeof(void *), &block, sizeof block);
    return (float *)start;
}

void st_nn_advise_small_pages(float *buffer, size_t n_floats) {
#ifdef MADV_NOHUGEPAGE
    const uintptr_t page = 4096;
    uintptr_t first = ((uintptr_t)buffer + page - 1) & ~(page - 1);
    uintptr_t last = ((uintptr_t)(buffer + n_floats)) & ~(page - 1);
    if (last > first) madvise((void *)first, last - first, MADV_NOHUGEPAGE); /* advice: failure changes nothing */
#else
    (void)buffer, (void)n_floats;
#endif
}

void st_nn_free(void *buffer) {
    if (!buffer) return;
    void *block;
    memcpy(&block, (unsigned char *)buffer - sizeof(void *), sizeof block);
    free(block);
}

/* Packed int8 weights come from chunks of transparent huge pages shared by many layers: most
 * layers (a few hundred KiB) are too small to hold a 2 MiB page of their own, and a 4 KiB page
 * fault costs 5-20 us on this kind of virtual machine (base.en's 74 MB of int8 weights: about
 * 250 ms of faults in 4 KiB pages, under 10 ms in huge pages). Each allocation starts with a
 * header naming its chunk; a chunk is unmapped when its last allocation is freed. Chunks are
 * never rewound, so their memory is fresh (zero) when handed out. */
#define WEIGHT_CHUNK_BYTES ((size_t)32 << 20)
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

typedef struct weight_chunk {
    unsigned char *base;
    size_t size;
    size_t used;
    int live; /* allocations not freed yet */
} weight_chunk;

static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static weight_chunk *current_chunk; /* where the next allocation goes, while it has room */

/* A fresh chunk of at least `bytes`, its start aligned to a huge page. */
static weight_chunk *new_chunk(size_t bytes) {
    size_t size = bytes > WEIGHT_CHUNK_BYTES ? (bytes + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES
                                             : WEIGHT_CHUNK_BYTES;
    weight_chunk *chunk = malloc(sizeof *chunk);
    void *mapping = chunk ? mmap(NULL, size + HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                 -1, 0)
                          : MAP_FAILED;
    if (mapping == MAP_FAILED) {
        free(chunk);
        return NULL;
    }
    uintptr_t start = (uintptr_t)mapping, base = (start + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    if (base > start) munmap(mapping, base - start); /* the slack before and after the aligned part */
    if (base + size < start + size + HUGE_PAGE_BYTES)
        munmap((void *)(base + size), start + size + HUGE_PAGE_BYTES - (base + size));
#ifdef MADV_HUGEPAGE
    madvise((void *)base, size, MADV_HUGEPAGE); /* advice: failure changes nothing */
#endif
    *chunk = (weight_chunk){(unsigned char *)base, size, 0, 0};
    return chunk;
}

/* bytes of zeroed memory, 64-byte aligned, or NULL; freed with weights_free. */
static void *weights_alloc(size_t bytes) {
    if (bytes > SIZE_MAX / 2) return NULL;
    const size_t need = NN_ALIGNMENT + (bytes + NN_ALIGNMENT - 1) / NN_ALIGNMENT * NN_ALIGNMENT;
    pthread_mutex_lock(&chunk_lock);
    weight_chunk *chunk = current_chunk;
    if (!chunk || chunk->size - chunk->used < need) {
        /* the old chunk stays until its allocations are freed */
        chunk = new_chunk(need);
        if (chunk) current_chunk = chunk;
    }
    unsigned char *block = NULL;
    if (chunk) {
        block = chunk->base + chunk->used;
        memcpy(block, &chunk, sizeof chunk);
        chunk->used += need;
        chunk->live++;
    }
    pthread_mutex_unlock(&chunk_lock);
    return block ? block + NN_ALIGNMENT : NULL;
}

static void weights_free(void *buffer) {
    if (!buffer) return;
    weight_chunk *chunk;
    memcpy(&chunk, (unsigned char *)buffer - NN_ALIGNMENT, sizeof chunk);
    pthread_mutex_lock(&chunk_lock);
    if (--chunk->live == 0) {
        if (chunk == current_chunk) current_chunk = NULL;
        munmap(chunk->base, chunk->size);
        free(chunk);
    }
    pthread_mutex_unlock(&chunk_lock);
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

/* Packing a layer's int8 weights into the kernels' layout (st_nn_i8_weights), a block of 16
 * output rows per task over the thread pool. The rows come either as int8 with a scale per
 * row (CTranslate2's int8, weight = q / scale) or as float32 values (halves widened, other
 * types converted) quantized here with CTranslate2's rule: scale = 127 / max |w| (1 for a
 * zero row), q = nearest-even(w * scale). That rule is the activations' (st_nn_kernels'
 * quantize_rows, which gives q + 128 and 1 / scale), so the vector kernel quantizes weights
 * too. */
typedef struct pack_job {
    const st_tensor *weight;
    int from_i8;         /* int8 with row scales, packed as it is */
    const float *values; /* the float32 conversion, for types other than half and int8 */
    int n_in;
    int n_out;
    int k_pad;
    int8_t *packed;
    int32_t *sums;
    float *inv_scales;
    uint16_t *bf16;     /* the bf16 layer's packed weights, instead of the three above */
    _Atomic int failed; /* a task could not allocate its row buffer */
} pack_job;

/* Row `row` of a float weight as float32: in `values`, or widened into row_f32 (halves). */
static const float *row_f32_values(const pack_job *job, int row, float *row_f32) {
    const size_t first = (size_t)row * job->n_in;
    if (job->weight->dtype != ST_DTYPE_F16) return job->values + first;
    st_nn_kernels_best()->f16_to_f32((const unsigned char *)job->weight->data + first * 2, row_f32, (size_t)job->n_in);
    return row_f32;
}

/* Row `row`'s int8 weights, k_pad bytes (0 past n_in), and its 1 / scale into q and
 * inv_scale; row_f32 has room for a row of float32. */
static void row_i8(const pack_job *job, int row, float *row_f32, int8_t *q, float *inv_scale) {
    const st_tensor *weight = job->weight;
    const size_t first = (size_t)row * job->n_in;
    if (job->from_i8) {
        memcpy(q, (const int8_t *)weight->data + first, (size_t)job->n_in);
        float scale;
        memcpy(&scale, (const unsigned char *)weight->row_scales + (size_t)row * sizeof scale, sizeof scale);
        *inv_scale = 1.0f / scale;
        return;
    }
    uint8_t *offset = (uint8_t *)q;
    st_nn_kernels_best()->quantize_rows(row_f32_values(job, row, row_f32), 1, job->n_in, job->k_pad, offset, inv_scale);
    for (int i = 0; i < job->k_pad; i++) /* q + 128 (128 past n_in) to q */
        offset[i] ^= 0x80;
}

static void pack_task(void *context, int block) {
    pack_job *job = context;
    const int rows = job->n_out - 16 * block < 16 ? job->n_out - 16 * block : 16, k_groups = job->k_pad / 4;
    /* a row of float32 and the block's 16 rows of bytes: below malloc's threshold for mmap for
     * every Whisper size */
    float *row_f32 = malloc(sizeof(float) * (size_t)job->n_in + 16 * (size_t)job->k_pad);
    if (!row_f32) {
        job->failed = 1;
        return;
    }
    int8_t *q = (int8_t *)(row_f32 + job->n_in);
    memset(q, 0, 16 * (size_t)job->k_pad); /* rows past n_out stay 0 */
    for (int j = 0; j < rows; j++) {
        int8_t *row = q + (size_t)j * job->k_pad;
        row_i8(job, 16 * block + j, row_f32, row, job->inv_scales + 16 * block + j);
        int32_t sum = 0;
        for (int i = 0; i < job->k_pad; i++)
            sum += row[i];
        job->sums[16 * block + j] = sum;
    }
    /* 4 bytes of each of the 16 rows in turn: the panel is written in order */
    unsigned char *panel = (unsigned char *)job->packed + (size_t)block * k_groups * 64;
    for (int g = 0; g < k_groups; g++)
        for (int j = 0; j < 16; j++)
            memcpy(panel + ((size_t)g * 16 + j) * 4, q + (size_t)j * job->k_pad + 4 * g, 4);
    free(row_f32);
}

/* A block of 16 output rows of a bf16 layer, rounded and packed (0 past n_out and n_in). */
static void pack_bf16_task(void *context, int block) {
    pack_job *job = context;
    const int first = 16 * block, rows = job->n_out - first < 16 ? job->n_out - first : 16;
    float *row_f32 = malloc(sizeof(float) * (size_t)job->n_in);
    if (!row_f32) {
        job->failed = 1;
        return;
    }
    for (int o = first; o < first + rows; o++) {
        const float *values = row_f32_values(job, o, row_f32);
        for (int i = 0; i < job->n_in; i++)
            job->bf16[st_nn_bf16_packed_index(job->k_pad, o, i)] = st_nn_to_bf16(values[i]);
    }
    free(row_f32);
}

/* The int8 layer of `weight` (int8 with row scales, or any type quantized on load). */
static steno_status pack_i8(st_nn_linear *layer, const st_tensor *weight, int n_out, int n_in, st_error *err) {
    const int k_pad = (n_in + 3) / 4 * 4, n_blocks = (n_out + 15) / 16;
    const size_t packed_bytes = (size_t)n_blocks * 16 * k_pad, per_output = (size_t)n_blocks * 16;
    const int from_i8 = weight->dtype == ST_DTYPE_I8 && weight->row_scales;
    float *values = NULL;
    steno_status status = STENO_OK;
    if (weight->dtype != ST_DTYPE_F16 && !from_i8) status = st_nn_tensor_to_f32(weight, &values, err);
    if (status != STENO_OK) return status;
    /* one buffer: the packed bytes, then the sums and the inverse scales */
    unsigned char *buffer = weights_alloc(packed_bytes + 2 * per_output * 4);
    pack_job job = {weight, from_i8, values, n_in, n_out, k_pad, (int8_t *)buffer, NULL, NULL, NULL, 0};
    if (buffer) {
        job.sums = (int32_t *)(buffer + packed_bytes);
        job.inv_scales = (float *)(job.sums + per_output);
        st_nn_parallel_for(n_blocks, pack_task, &job);
    }
    st_nn_free(values);
    if (!buffer || job.failed) {
        weights_free(buffer);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "tensor '%s': cannot allocate its int8 copy", weight->name);
    }
    layer->dtype = ST_DTYPE_I8;
    layer->packed_buffer = buffer;
    layer->i8 = (st_nn_i8_weights){job.packed, job.sums, job.inv_scales, NULL, n_out, k_pad};
    return STENO_OK;
}

/* The bf16 layer of `weight` (any type, through float32). */
static steno_status pack_bf16(st_nn_linear *layer, const st_tensor *weight, int n_out, int n_in, st_error *err) {
    const int k_pad = (n_in + 1) / 2 * 2, n_blocks = (n_out + 15) / 16;
    float *values = NULL;
    steno_status status = STENO_OK;
    if (weight->dtype != ST_DTYPE_F16) status = st_nn_tensor_to_f32(weight, &values, err);
    if (status != STENO_OK) return status;
    /* zeroed memory: the padding stays 0 */
    uint16_t *buffer = weights_alloc((size_t)n_blocks * 16 * k_pad * sizeof *buffer);
    pack_job job = {weight, 0, values, n_in, n_out, k_pad, NULL, NULL, NULL, buffer, 0};
    if (buffer) st_nn_parallel_for(n_blocks, pack_bf16_task, &job);
    st_nn_free(values);
    if (!buffer || job.failed) {
        weights_free(buffer);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "tensor '%s': cannot allocate its bf16 copy", weight->name);
    }
    layer->dtype = ST_DTYPE_BF16;
    layer->packed_buffer = buffer;
    layer->bf16 = (st_nn_bf16_weights){buffer, NULL, n_out, k_pad};
    return STENO_OK;
}

steno_status st_nn_linear_init(st_nn_linear *layer, const st_tensor *weight, const st_tensor *bias, st_error *err) {
    memset(layer, 0, sizeof *layer);
    int64_t n;
    steno_status status = check_tensor_size(weight, &n, err);
    if (status != STENO_OK) return status;
    const int n_out = (int)weight->shape[0], n_in = (int)weight->shape[1];
    const int int8_fits = (n_in + 3) / 4 * 4 + (int)sizeof(float) <= PACKED_STACK_BYTES;
    const int bf16_fits = (n_in + 1) / 2 * 2 * (int)sizeof(uint16_t) <= PACKED_STACK_BYTES;
    int q8_0 = weight->dtype == ST_DTYPE_Q8_0 && n_in % 32 == 0; /* blocks never straddle rows */
    const st_nn_compute compute = st_nn_layer_compute(weight);
    if (int8_fits && compute == ST_NN_COMPUTE_INT8) {
        status = pack_i8(layer, weight, n_out, n_in, err);
    } else if (bf16_fits && compute == ST_NN_COMPUTE_BF16) {
        status = pack_bf16(layer, weight, n_out, n_in, err);
    } else if (weight->dtype == ST_DTYPE_F16 || q8_0) {
        layer->dtype = weight->dtype;
        layer->weight = weight->data;
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
    layer->i8.bias = layer->bias;
    layer->bf16.bias = layer->bias;
    layer->n_out = n_out;
    layer->n_in = n_in;
    return STENO_OK;
}

void st_nn_linear_free(st_nn_linear *layer) {
    st_nn_free(layer->owned);
    weights_free(layer->packed_buffer);
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
    default:
        memcpy(out, (const float *)layer->weight + first, sizeof(float) * n);
        break;
    }
}

void st_nn_linear_weight_row(const st_nn_linear *layer, int row, float *out) {
    if (layer->dtype == ST_DTYPE_BF16) {
        for (int i = 0; i < layer->n_in; i++) {
            uint32_t bits = (uint32_t)layer->bf16.packed[st_nn_bf16_packed_index(layer->bf16.k_pad, row, i)] << 16;
            memcpy(out + i, &bits, sizeof bits);
        }
        return;
    }
    if (layer->dtype != ST_DTYPE_I8) {
        widen_rows(layer, row, 1, out);
        return;
    }
    const st_nn_i8_weights *w = &layer->i8;
    const int8_t *panel = w->packed + (size_t)(row / 16) * w->k_pad * 16;
    for (int i = 0; i < layer->n_in; i++)
        out[i] = (float)panel[((size_t)(i / 4) * 16 + row % 16) * 4 + i % 4] * w->inv_scales[row];
}

size_t st_nn_linear_scratch_floats(const st_nn_linear *layer) {
    if (layer->dtype == ST_DTYPE_I8) return (size_t)layer->n_out * ((size_t)layer->i8.k_pad / 4 + 1);
    if (layer->dtype == ST_DTYPE_BF16) return (size_t)layer->n_out * ((size_t)layer->bf16.k_pad / 2);
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

/* A product on packed weights (int8 or bf16): x quantized or rounded, then the kernel over
 * tasks of rows by blocks of 16 outputs. */
typedef struct packed_job {
    const st_nn_linear *layer;
    const float *x;
    int n_rows;
    void *xp;     /* x quantized to bytes (int8) or rounded to bf16, k_pad per row */
    float *x_inv; /* int8: the rows' inverse scales */
    int task_rows;
    int task_blocks;
    int n_block_tasks;
    float *y;
} packed_job;

static void quantize_task(void *context, int task) {
    const packed_job *job = context;
    const st_nn_linear *layer = job->layer;
    int first = task * PACKED_QUANTIZE_TASK_ROWS;
    int count = job->n_rows - first < PACKED_QUANTIZE_TASK_ROWS ? job->n_rows - first : PACKED_QUANTIZE_TASK_ROWS;
    const float *x = job->x + (size_t)first * layer->n_in;
    if (layer->dtype == ST_DTYPE_BF16)
        st_nn_kernels_best()->rows_to_bf16(x, count, layer->n_in, layer->bf16.k_pad,
                                           (uint16_t *)job->xp + (size_t)first * layer->bf16.k_pad);
    else
        st_nn_kernels_best()->quantize_rows(x, count, layer->n_in, layer->i8.k_pad,
                                            (uint8_t *)job->xp + (size_t)first * layer->i8.k_pad, job->x_inv + first);
}

static void packed_task(void *context, int task) {
    const packed_job *job = context;
    const st_nn_linear *layer = job->layer;
    const int n_blocks = (layer->n_out + 15) / 16;
    int row = task / job->n_block_tasks * job->task_rows, block = task % job->n_block_tasks * job->task_blocks;
    int row_end = row + job->task_rows < job->n_rows ? row + job->task_rows : job->n_rows;
    int block_end = block + job->task_blocks < n_blocks ? block + job->task_blocks : n_blocks;
    const st_nn_kernels *kernels = st_nn_kernels_best();
    if (layer->dtype == ST_DTYPE_BF16)
        kernels->gemm_bf16(&layer->bf16, job->xp, row, row_end, block, block_end, job->y, layer->n_out);
    else
        kernels->gemm_i8(&layer->i8, job->xp, job->x_inv, row, row_end, block, block_end, job->y, layer->n_out);
}

/* The packed product: rows quantized or rounded into the scratch (or the stack), as many as
 * fit at once. */
static void forward_packed(const st_nn_linear *layer, const float *x, int n_rows, float *y, float *scratch,
                           size_t scratch_floats) {
    const int bf16 = layer->dtype == ST_DTYPE_BF16;
    const size_t row_bytes =
        bf16 ? (size_t)layer->bf16.k_pad * sizeof(uint16_t) : (size_t)layer->i8.k_pad + sizeof(float);
    _Alignas(64) unsigned char stack[PACKED_STACK_BYTES];
    unsigned char *buffer = (unsigned char *)scratch;
    size_t chunk = scratch ? scratch_floats * sizeof(float) / row_bytes : 0;
    if (chunk == 0) {
        buffer = stack;
        chunk = sizeof stack / row_bytes; /* at least 1: checked when the layer was built */
    }
    const int n_blocks = (layer->n_out + 15) / 16;
    for (int first = 0; first < n_rows; first += (int)chunk) {
        int rows = n_rows - first < (int)chunk ? n_rows - first : (int)chunk;
        /* int8: the float scales after the bytes (k_pad is a multiple of 4, so they are aligned) */
        packed_job job = {layer,
                          x + (size_t)first * layer->n_in,
                          rows,
                          buffer,
                          bf16 ? NULL : (float *)(buffer + (size_t)rows * layer->i8.k_pad),
                          0,
                          0,
                          0,
                          y + (size_t)first * layer->n_out};
        st_nn_parallel_for((rows + PACKED_QUANTIZE_TASK_ROWS - 1) / PACKED_QUANTIZE_TASK_ROWS, quantize_task, &job);
        job.task_rows = rows <= ST_NN_LINEAR_GEMV_MAX_ROWS ? rows : PACKED_TASK_ROWS;
        job.task_blocks = rows <= ST_NN_LINEAR_GEMV_MAX_ROWS ? PACKED_FEW_TASK_BLOCKS : PACKED_TASK_BLOCKS;
        job.n_block_tasks = (n_blocks + job.task_blocks - 1) / job.task_blocks;
        int n_row_tasks = (rows + job.task_rows - 1) / job.task_rows;
        st_nn_parallel_for(n_row_tasks * job.n_block_tasks, packed_task, &job);
    }
}

void st_nn_linear_forward(const st_nn_linear *layer, const float *x, int n_rows, float *y, float *scratch,
                          size_t scratch_floats) {
    const int n_in = layer->n_in, n_out = layer->n_out;
    if (layer->dtype == ST_DTYPE_I8 || layer->dtype == ST_DTYPE_BF16) {
        forward_packed(layer, x, n_rows, y, scratch, scratch_floats);
        return;
    }
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
