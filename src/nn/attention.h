/*
 * attention.h — multi-head scaled dot-product attention on CPU.
 *
 * Queries, keys and values arrive already projected, each head a block of d_head columns of a
 * row-major matrix, so the projections stay single sgemms over all heads and the per-head work
 * reads them in place through the leading dimension. Whisper scales q and k each by
 * d_head^-0.25 before their product; here the product is scaled once by d_head^-0.5 (the sgemm's
 * alpha), which is the same up to float rounding.
 *
 * The work goes over the thread pool (nn/threads.h), and OpenBLAS runs single-threaded inside
 * each task. A few queries per head (decoder steps) use matrix-vector products that read the
 * keys and values in place.
 */
#ifndef ST_NN_ATTENTION_H
#define ST_NN_ATTENTION_H

#include <stddef.h>

/* causal_offset value for attention without a mask (encoder, cross-attention). */
#define ST_NN_NO_MASK (-1)

/* Called per head with the scaled scores q·k^T of that head, [n_q][n_kv] row-major, before the
 * mask and softmax (what openai-whisper's word timing reads from its cross-attention). Calls
 * for different heads may come at once from different threads. */
typedef void (*st_nn_scores_hook)(void *user, int head, const float *scores, int n_q, int n_kv);

typedef struct st_nn_attention_args {
    const float *q; /* [n_q][q_stride]; head h at columns h*d_head .. +d_head */
    int q_stride;
    const float *k; /* [n_kv][kv_stride], or with keys_transposed [n_head * d_head][n_kv] */
    const float *v; /* [n_kv][kv_stride] */
    int kv_stride;
    /* Keys stored transposed, each head's d_head rows of n_kv: a few queries then score all
     * keys with vector multiply-adds and no horizontal sums (the decoder's cross-attention,
     * whose keys are made once per window). */
    int keys_transposed;
    /* Values stored head by head, [n_head][n_kv][d_head] (kv_stride then applies to keys
     * only): each head's values are one contiguous run, read as a single stream. */
    int values_by_head;
    /* With keys_transposed and values_by_head: k and v point to int8 (int8_t), not float32s,
     * with one scale per frame and head in k_scales and v_scales, [n_head][n_kv rounded up to
     * a whole ST_NN_KEY_BLOCK], read a few queries at a time (the cross-attention of int8
     * models). The keys are then transposed in blocks of ST_NN_KEY_BLOCK (nn/kernels.h), each
     * head's n_kv rounded up to a whole block. */
    int kv_i8;
    const float *k_scales, *v_scales;
    int n_q;
    int n_kv;
    int n_head;
    int d_head;
    /* ST_NN_NO_MASK, or the causal mask of a decoder: query i (at absolute position
     * causal_offset + i) sees keys 0 .. causal_offset + i. */
    int causal_offset;
    /* Scratch of scores_floats floats, at least n_q * n_kv. With n_head * n_q * n_kv the heads
     * run in parallel (a decoder step); with less, each head's query rows are split instead
     * (the encoder), or with a scores hook the heads run one after another. */
    float *scores;
    size_t scores_floats;
    float *out; /* [n_q][out_stride]; head h written at columns h*d_head .. +d_head */
    int out_stride;
    st_nn_scores_hook on_scores; /* optional */
    void *user;
    /* Products in bfloat16 (nn/kernels.h) where they apply: keys and values as rows, no mask,
     * no hook, heads of ST_NN_BF16_HEAD columns, at most ST_NN_BF16_MAX_KV keys, and scratch for
     * the packed keys and values of all heads (st_nn_attention_bf16_floats); else float32. */
    int bf16;
} st_nn_attention_args;

/* Scratch floats the bf16 products need for the packed keys and values of n_head heads. */
size_t st_nn_attention_bf16_floats(int n_head, int n_kv);

void st_nn_attention(const st_nn_attention_args *args);

#endif
