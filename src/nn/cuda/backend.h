/*
 * backend.h — the CUDA backend's interface: what libsteno_cuda.so (built from whisper.cu when
 * nvcc is found) offers to the C code that loads it with dlopen (nn/device.c).
 *
 * The library exports one function, st_cuda_backend(), returning a table of functions. Loading
 * it at run time, not linking it, keeps every other part of steno free of the CUDA libraries: a
 * machine without a GPU driver, or without the CUDA libraries at all, gets a message and the
 * CPU path instead of a loader error.
 *
 * The interface is plain C over host pointers. A model is the Whisper network's weights in GPU
 * memory, uploaded once: linear weights as halves (row-major [n_out][n_in]), biases, norms and
 * positions as floats. A state is one run's buffers (cuBLAS handle, stream, activations,
 * cross-attention keys and values, the self-attention cache of max_sequences sequences), like
 * st_whisper_state on the CPU. Every function returns ST_CUDA_OK or an error code and writes a
 * message into message[size]. The calls on one state come from one thread at a time; states on
 * one model may run on different threads.
 */
#ifndef ST_NN_CUDA_BACKEND_H
#define ST_NN_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever the table or a struct below changes, so an old library is refused. */
#define ST_CUDA_ABI_VERSION 1

enum { ST_CUDA_OK = 0, ST_CUDA_NO_MEMORY = 1, ST_CUDA_INVALID = 2, ST_CUDA_FAILED = 3 };

/* openai-whisper's ModelDimensions (the same fields as st_whisper_dims). */
typedef struct st_cuda_dims {
    int n_mels, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_vocab, n_text_ctx, n_text_state, n_text_head, n_text_layer;
} st_cuda_dims;

/* The weights outside the residual blocks (host pointers; halves are IEEE binary16 bits). */
typedef struct st_cuda_globals {
    const uint16_t *conv1_weight; /* [n_audio_state][n_mels * 3] (PyTorch's [out][in][3]) */
    const float *conv1_bias;
    const uint16_t *conv2_weight; /* [n_audio_state][n_audio_state * 3] */
    const float *conv2_bias;
    const float *encoder_positions; /* [n_audio_ctx][n_audio_state] */
    const float *ln_post_weight, *ln_post_bias;
    const uint16_t *token_embedding; /* [n_vocab][n_text_state], also the output projection */
    const float *decoder_positions;  /* [n_text_ctx][n_text_state] */
    const float *decoder_ln_weight, *decoder_ln_bias;
} st_cuda_globals;

/* One residual block (d = its width). The query, key and value projections come as one matrix
 * [3d][d] with one bias [3d] (the key's part zero: Whisper's key has none), so one product
 * makes all three; likewise the cross-attention key and value, [2d][d] and [2d]. Encoder blocks
 * leave the cross_ fields NULL. */
typedef struct st_cuda_block {
    const float *attn_ln_weight, *attn_ln_bias;
    const uint16_t *qkv_weight;
    const float *qkv_bias;
    const uint16_t *attn_out_weight;
    const float *attn_out_bias;
    const float *cross_ln_weight, *cross_ln_bias;
    const uint16_t *cross_query_weight;
    const float *cross_query_bias;
    const uint16_t *cross_kv_weight;
    const float *cross_kv_bias;
    const uint16_t *cross_out_weight;
    const float *cross_out_bias;
    const float *mlp_ln_weight, *mlp_ln_bias;
    const uint16_t *mlp_in_weight; /* [4d][d] */
    const float *mlp_in_bias;
    const uint16_t *mlp_out_weight; /* [d][4d] */
    const float *mlp_out_bias;
} st_cuda_block;

/* Cross-attention scores to copy out of a decode call (st_whisper_capture's fields). */
typedef struct st_cuda_capture {
    const int *heads; /* n_heads (decoder layer, head) pairs */
    int n_heads;
    float *scores; /* host [n_heads][max_rows][n_audio_ctx]: scaled q·k before softmax */
    int max_rows;
} st_cuda_capture;

typedef struct st_cuda_api {
    int abi_version; /* ST_CUDA_ABI_VERSION */
    /* The number of CUDA devices (> 0), or an error when there is no driver or no device. */
    int (*device_count)(int *count, char *message, size_t size);
    /* The device's name and its free and total memory in bytes. */
    int (*device_info)(int device, char *name, size_t name_size, size_t *free_bytes, size_t *total_bytes,
                       char *message, size_t size);
    /* Allocates a model on the device and uploads the globals; then each block is uploaded
     * with model_set_block (decoder 0: encoder block, 1: decoder block). */
    int (*model_create)(const st_cuda_dims *dims, const st_cuda_globals *globals, int device, void **model,
                        char *message, size_t size);
    int (*model_set_block)(void *model, int decoder, int layer, const st_cuda_block *block, char *message,
                           size_t size);
    size_t (*model_bytes)(const void *model); /* device memory the model holds */
    void (*model_free)(void *model);
    int (*state_create)(void *model, int max_sequences, void **state, char *message, size_t size);
    size_t (*state_bytes)(const void *state); /* device memory the state holds */
    void (*state_free)(void *state);
    /* Encodes mel [n_mels][2 * n_audio_ctx] and makes every decoder layer's cross-attention
     * keys and values; the encoder output [n_audio_ctx][n_audio_state] goes to audio. */
    int (*encode)(void *state, const float *mel, float *audio, char *message, size_t size);
    /* st_whisper_decode_batch: n_seq sequences of n_tokens tokens each at n_past; logits get
     * the last row of each sequence, or every row when all_rows; capture may be NULL. The
     * arguments have been checked by the caller. */
    int (*decode)(void *state, int n_seq, const int *tokens, int n_tokens, int n_past, int all_rows, float *logits,
                  const st_cuda_capture *capture, char *message, size_t size);
    /* st_whisper_kv_reorder: slot i gets slot source[i]'s first n_positions positions (checked by
     * the caller). Positions from n_positions on are undefined afterwards, in every slot. */
    int (*reorder)(void *state, const int *source, int n_seq, int n_positions, char *message, size_t size);
} st_cuda_api;

/* The one symbol the library exports. */
const st_cuda_api *st_cuda_backend(void);

#ifdef __cplusplus
}
#endif

#endif
