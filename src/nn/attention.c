/*
 * attention.c — multi-head attention over the thread pool: per head, q·k^T, the softmax and
 * the weighted sum of values, with the work split so no two tasks share score rows; see
 * attention.h.
 */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>

#include "nn/kernels.h"
#include "nn/threads.h"

/* Query rows of a block, when one head's rows are split, are a multiple of this. */
#define QUERY_ALIGN 16

typedef struct attention_job {
    const st_nn_attention_args *args;
    float scale;
    int head;       /* the head of a row-split call, or -1 when tasks are heads */
    int n_blocks;   /* query blocks per head */
    int block_rows; /* query rows per block */
} attention_job;

/* Hands a whole head's raw scores to on_scores, then turns each row into probabilities over
 * the keys it may see (causal mask). */
static void capture_and_softmax(const st_nn_attention_args *a, const st_nn_kernels *kernels, int h, int first,
                                int count, float *scores) {
    if (a->on_scores && first == 0 && count == a->n_q) a->on_scores(a->user, h, scores, a->n_q, a->n_kv);
    for (int i = 0; i < count; i++) {
        int n_valid = a->n_kv;
        if (a->causal_offset != ST_NN_NO_MASK && a->causal_offset + first + i + 1 < n_valid)
            n_valid = a->causal_offset + first + i + 1;
        kernels->softmax(scores + (size_t)i * a->n_kv, n_valid, a->n_kv);
    }
}

/* attend() on keys and values stored as int8, ST_NN_FEW_QUERIES rows at a time. */
static void attend_i8(const st_nn_attention_args *a, float scale, int h, int first, int count, float *scores) {
    const st_nn_kernels *kernels = st_nn_kernels_best();
    const size_t key_slots = (size_t)(a->n_kv + ST_NN_KEY_BLOCK - 1) / ST_NN_KEY_BLOCK * ST_NN_KEY_BLOCK;
    const int8_t *kt = (const int8_t *)a->k + (size_t)h * a->d_head * key_slots; /* blocked: kernels.h */
    const int8_t *v = (const int8_t *)a->v + (size_t)h * a->n_kv * a->d_head;
    const float *k_scales = a->k_scales + (size_t)h * key_slots, *v_scales = a->v_scales + (size_t)h * key_slots;
    for (int i = 0; i < count; i += ST_NN_FEW_QUERIES) {
        int n = count - i < ST_NN_FEW_QUERIES ? count - i : ST_NN_FEW_QUERIES;
        kernels->scores_i8(a->q + (size_t)(first + i) * a->q_stride + (size_t)h * a->d_head, n, a->q_stride, kt,
                           k_scales, a->d_head, a->n_kv, scale, scores + (size_t)i * a->n_kv);
    }
    capture_and_softmax(a, kernels, h, first, count, scores);
    for (int i = 0; i < count; i += ST_NN_FEW_QUERIES) {
        int n = count - i < ST_NN_FEW_QUERIES ? count - i : ST_NN_FEW_QUERIES;
        kernels->weighted_sum_i8(scores + (size_t)i * a->n_kv, n, a->n_kv, v, v_scales, a->d_head, a->d_head,
                                 a->out + (size_t)(first + i) * a->out_stride + (size_t)h * a->d_head, a->out_stride);
    }
}

/* Rows [first, first + count) of head h, with their scores at `scores` (count x n_kv). */
static void attend(const st_nn_attention_args *a, float scale, int h, int first, int count, float *scores) {
    if (a->kv_i8) {
        attend_i8(a, scale, h, first, count, scores);
        return;
    }
    const st_nn_kernels *kernels = st_nn_kernels_best();
    const float *q = a->q + (size_t)first * a->q_stride + (size_t)h * a->d_head;
    const float *v = a->values_by_head ? a->v + (size_t)h * a->n_kv * a->d_head : a->v + (size_t)h * a->d_head;
    const int v_stride = a->values_by_head ? a->d_head : a->kv_stride;
    float *out = a->out + (size_t)first * a->out_stride + (size_t)h * a->d_head;
    int few = count <= ST_NN_FEW_QUERIES;
    if (a->keys_transposed) {
        const float *kt = a->k + (size_t)h * a->d_head * a->n_kv;
        if (few)
            kernels->scores(q, count, a->q_stride, kt, a->d_head, a->n_kv, scale, scores);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, count, a->n_kv, a->d_head, scale, q, a->q_stride, kt,
                        a->n_kv, 0.0f, scores, a->n_kv);
    } else {
        const float *k = a->k + (size_t)h * a->d_head;
        if (count == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, a->n_kv, a->d_head, scale, k, a->kv_stride, q, 1, 0.0f, scores, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, count, a->n_kv, a->d_head, scale, q, a->q_stride, k,
                        a->kv_stride, 0.0f, scores, a->n_kv);
    }
    capture_and_softmax(a, kernels, h, first, count, scores);
    if (few)
        kernels->weighted_sum(scores, count, a->n_kv, v, v_stride, a->d_head, out, a->out_stride);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, count, a->d_head, a->n_kv, 1.0f, scores, a->n_kv, v,
                    v_stride, 0.0f, out, a->out_stride);
}

/* A whole head per task, each with its own n_q x n_kv of the scratch. */
static void head_task(void *context, int task) {
    const attention_job *job = context;
    const st_nn_attention_args *a = job->args;
    attend(a, job->scale, task, 0, a->n_q, a->scores + (size_t)task * a->n_q * a->n_kv);
}

/* One block of one head's query rows per task, scoring into those rows of the scratch. */
static void block_task(void *context, int task) {
    const attention_job *job = context;
    const st_nn_attention_args *a = job->args;
    int first = task * job->block_rows;
    int count = a->n_q - first < job->block_rows ? a->n_q - first : job->block_rows;
    attend(a, job->scale, job->head, first, count, a->scores + (size_t)first * a->n_kv);
}

/* Query rows per task of the bf16 attention. */
#define BF16_TASK_ROWS 32

static size_t bf16_key_values(int n_kv) { /* of one head's packed keys */
    return (size_t)(n_kv + 15) / 16 * 16 * ST_NN_BF16_HEAD;
}

static size_t bf16_value_values(int n_kv) {
    return (size_t)(n_kv + 1) / 2 * 2 * ST_NN_BF16_HEAD;
}

size_t st_nn_attention_bf16_floats(int n_head, int n_kv) {
    return ((size_t)n_head * (bf16_key_values(n_kv) + bf16_value_values(n_kv)) + 1) / 2;
}

typedef struct bf16_job {
    const st_nn_attention_args *args;
    uint16_t *packed; /* per head: keys, then values */
    float scale;
    int n_blocks; /* query blocks per head */
} bf16_job;

static uint16_t *bf16_head(const bf16_job *job, int h) {
    return job->packed + (size_t)h * (bf16_key_values(job->args->n_kv) + bf16_value_values(job->args->n_kv));
}

/* Task 2h packs head h's keys, task 2h + 1 its values, in the layouts of nn/kernels.h. */
static void bf16_pack_task(void *context, int task) {
    const bf16_job *job = context;
    const st_nn_attention_args *a = job->args;
    const int h = task / 2, n_kv = a->n_kv;
    uint16_t *keys = bf16_head(job, h), *values = keys + bf16_key_values(n_kv);
    if (task % 2 == 0) {
        for (size_t j = 0; j < bf16_key_values(n_kv) / ST_NN_BF16_HEAD; j++) {
            const float *row = a->k + j * a->kv_stride + (size_t)h * ST_NN_BF16_HEAD;
            uint16_t *block = keys + j / 16 * 16 * ST_NN_BF16_HEAD + j % 16 * 2;
            for (int c = 0; c < ST_NN_BF16_HEAD; c++)
                block[c / 2 * 32 + c % 2] = j < (size_t)n_kv ? st_nn_to_bf16(row[c]) : 0;
        }
    } else {
        for (size_t j = 0; j < bf16_value_values(n_kv) / ST_NN_BF16_HEAD; j++) {
            const float *row = a->v + j * a->kv_stride + (size_t)h * ST_NN_BF16_HEAD;
            uint16_t *pair = values + j / 2 * 2 * ST_NN_BF16_HEAD + j % 2;
            for (int c = 0; c < ST_NN_BF16_HEAD; c++)
                pair[2 * c] = j < (size_t)n_kv ? st_nn_to_bf16(row[c]) : 0;
        }
    }
}

static void bf16_attend_task(void *context, int task) {
    const bf16_job *job = context;
    const st_nn_attention_args *a = job->args;
    const int h = task / job->n_blocks, first = task % job->n_blocks * BF16_TASK_ROWS;
    const int count = a->n_q - first < BF16_TASK_ROWS ? a->n_q - first : BF16_TASK_ROWS;
    const uint16_t *keys = bf16_head(job, h);
    st_nn_kernels_best()->attend_bf16(a->q + (size_t)first * a->q_stride + (size_t)h * ST_NN_BF16_HEAD, a->q_stride,
                                      count, keys, keys + bf16_key_values(a->n_kv), a->n_kv, job->scale,
                                      a->out + (size_t)first * a->out_stride + (size_t)h * ST_NN_BF16_HEAD,
                                      a->out_stride);
}

static int bf16_applies(const st_nn_attention_args *a) {
    return a->bf16 && a->d_head == ST_NN_BF16_HEAD && a->n_kv <= ST_NN_BF16_MAX_KV && !a->keys_transposed &&
           !a->values_by_head && a->causal_offset == ST_NN_NO_MASK && !a->on_scores &&
           a->scores_floats >= st_nn_attention_bf16_floats(a->n_head, a->n_kv);
}

void st_nn_attention(const st_nn_attention_args *a) {
    if (bf16_applies(a)) {
        bf16_job bf = {a, (uint16_t *)a->scores, 1.0f / sqrtf((float)a->d_head),
                       (a->n_q + BF16_TASK_ROWS - 1) / BF16_TASK_ROWS};
        st_nn_parallel_for(2 * a->n_head, bf16_pack_task, &bf);
        st_nn_parallel_for(a->n_head * bf.n_blocks, bf16_attend_task, &bf);
        return;
    }
    attention_job job = {.args = a, .scale = 1.0f / sqrtf((float)a->d_head), .head = -1};
    size_t per_head = (size_t)a->n_q * a->n_kv;
    if ((size_t)a->n_head * per_head <= a->scores_floats) {
        st_nn_parallel_for(a->n_head, head_task, &job);
    } else if (a->on_scores) { /* the hook wants a head's rows together, in the one buffer */
        for (int h = 0; h < a->n_head; h++)
            attend(a, job.scale, h, 0, a->n_q, a->scores);
    } else {
        /* Two blocks per thread: each block packs the head's keys again, so few blocks, but
         * two each let a thread that started late catch up. */
        int n_threads = st_nn_get_threads();
        job.block_rows = (a->n_q + 2 * n_threads - 1) / (2 * n_threads);
        job.block_rows = (job.block_rows + QUERY_ALIGN - 1) / QUERY_ALIGN * QUERY_ALIGN;
        job.n_blocks = (a->n_q + job.block_rows - 1) / job.block_rows;
        for (job.head = 0; job.head < a->n_head; job.head++)
            st_nn_parallel_for(job.n_blocks, block_task, &job);
    }
}
