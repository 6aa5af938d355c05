/*
 * device.c — the Whisper model and state on a GPU through the CUDA backend; see device.h.
 */
#include "whisper/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/backend.h"
#include "nn/device.h"
#include "nn/kernels.h"

/* The backend's code as a steno status, with its message. */
static steno_status backend_status(int code, const char *message, st_error *err) {
    if (code == ST_CUDA_OK) return STENO_OK;
    steno_status status = code == ST_CUDA_NO_MEMORY ? STENO_ERR_NO_MEMORY
                          : code == ST_CUDA_INVALID ? STENO_ERR_INVALID_ARGUMENT
                                                    : STENO_ERR_INTERNAL;
    return st_error_set(err, status, "GPU: %s", message);
}

/* A linear layer's weight [n_out][n_in] as halves: a half layer's bytes as stored, any other type
 * widened row by row as the CPU reads it (row: n_in floats of scratch). */
static void linear_halves(const st_nn_linear *layer, uint16_t *out, float *row) {
    if (layer->dtype == ST_DTYPE_F16) {
        memcpy(out, layer->weight, sizeof(uint16_t) * (size_t)layer->n_out * layer->n_in);
        return;
    }
    for (int r = 0; r < layer->n_out; r++) {
        st_nn_linear_weight_row(layer, r, row);
        st_nn_kernels_best()->f32_to_f16(row, out + (size_t)r * layer->n_in, (size_t)layer->n_in);
    }
}

/* Weights stacked as one matrix, their biases side by side (zeros for a layer without). */
static void stack_linears(const st_nn_linear *const *layers, int n, uint16_t *weights, float *biases, float *row) {
    for (int i = 0; i < n; i++) {
        const size_t rows = (size_t)layers[i]->n_out;
        linear_halves(layers[i], weights + i * rows * layers[i]->n_in, row);
        if (layers[i]->bias) memcpy(biases + i * rows, layers[i]->bias, sizeof(float) * rows);
        else memset(biases + i * rows, 0, sizeof(float) * rows);
    }
}

/* Host staging for one block: every matrix of a decoder block (16 d^2 halves) and the stacked
 * biases (5 d floats). */
typedef struct block_staging {
    uint16_t *halves;
    float *biases;
    float *row;
} block_staging;

static int upload_block(const st_cuda_api *api, void *handle, const st_whisper_block *block, int decoder, int layer,
                        int width, block_staging *s, char *message, size_t size) {
    const size_t square = (size_t)width * width;
    uint16_t *qkv = s->halves, *attn_out = qkv + 3 * square, *cross_query = attn_out + square;
    uint16_t *cross_kv = cross_query + square, *cross_out = cross_kv + 2 * square, *mlp_in = cross_out + square;
    uint16_t *mlp_out = mlp_in + 4 * square;
    float *qkv_bias = s->biases, *cross_kv_bias = qkv_bias + 3 * width;
    stack_linears((const st_nn_linear *[]){&block->attn.query, &block->attn.key, &block->attn.value}, 3, qkv, qkv_bias,
                  s->row);
    linear_halves(&block->attn.out, attn_out, s->row);
    linear_halves(&block->mlp_in, mlp_in, s->row);
    linear_halves(&block->mlp_out, mlp_out, s->row);
    st_cuda_block b = {
        .attn_ln_weight = block->attn_ln.weight,
        .attn_ln_bias = block->attn_ln.bias,
        .qkv_weight = qkv,
        .qkv_bias = qkv_bias,
        .attn_out_weight = attn_out,
        .attn_out_bias = block->attn.out.bias,
        .mlp_ln_weight = block->mlp_ln.weight,
        .mlp_ln_bias = block->mlp_ln.bias,
        .mlp_in_weight = mlp_in,
        .mlp_in_bias = block->mlp_in.bias,
        .mlp_out_weight = mlp_out,
        .mlp_out_bias = block->mlp_out.bias,
    };
    if (decoder) {
        linear_halves(&block->cross_attn.query, cross_query, s->row);
        stack_linears((const st_nn_linear *[]){&block->cross_attn.key, &block->cross_attn.value}, 2, cross_kv,
                      cross_kv_bias, s->row);
        linear_halves(&block->cross_attn.out, cross_out, s->row);
        b.cross_ln_weight = block->cross_attn_ln.weight;
        b.cross_ln_bias = block->cross_attn_ln.bias;
        b.cross_query_weight = cross_query;
        b.cross_query_bias = block->cross_attn.query.bias;
        b.cross_kv_weight = cross_kv;
        b.cross_kv_bias = cross_kv_bias;
        b.cross_out_weight = cross_out;
        b.cross_out_bias = block->cross_attn.out.bias;
    }
    return api->model_set_block(handle, decoder, layer, &b, message, size);
}

/* Uploads everything to the model made on the device (handle). */
static int upload_model(const st_cuda_api *api, const st_whisper_model *model, const st_cuda_dims *dims, int device,
                        void **handle, char *message, size_t size) {
    const st_whisper_dims *d = &model->dims;
    const size_t width = (size_t)d->n_audio_state, text = (size_t)d->n_text_state;
    const size_t widest = width > text ? width : text;
    const size_t conv1 = width * d->n_mels * 3, conv2 = width * width * 3, embedding = (size_t)d->n_vocab * text;
    uint16_t *globals16 = malloc(sizeof(uint16_t) * (conv1 + conv2 + embedding));
    /* row: one weight row widened, the longest being the MLP output's 4d */
    block_staging s = {malloc(sizeof(uint16_t) * 16 * widest * widest), malloc(sizeof(float) * 5 * widest),
                       malloc(sizeof(float) * 4 * widest)};
    int code = ST_CUDA_OK;
    if (!globals16 || !s.halves || !s.biases || !s.row) {
        snprintf(message, size, "out of host memory for the upload");
        code = ST_CUDA_NO_MEMORY;
    }
    if (code == ST_CUDA_OK) {
        const st_nn_kernels *kernels = st_nn_kernels_best();
        kernels->f32_to_f16(model->conv1_weight, globals16, conv1);
        kernels->f32_to_f16(model->conv2_weight, globals16 + conv1, conv2);
        linear_halves(&model->token_embedding, globals16 + conv1 + conv2, s.row);
        const st_cuda_globals globals = {
            .conv1_weight = globals16,
            .conv1_bias = model->conv1_bias,
            .conv2_weight = globals16 + conv1,
            .conv2_bias = model->conv2_bias,
            .encoder_positions = model->encoder_positions,
            .ln_post_weight = model->ln_post.weight,
            .ln_post_bias = model->ln_post.bias,
            .token_embedding = globals16 + conv1 + conv2,
            .decoder_positions = model->decoder_positions,
            .decoder_ln_weight = model->decoder_ln.weight,
            .decoder_ln_bias = model->decoder_ln.bias,
        };
        code = api->model_create(dims, &globals, device, handle, message, size);
    }
    for (int i = 0; code == ST_CUDA_OK && i < d->n_audio_layer; i++)
        code = upload_block(api, *handle, &model->encoder_blocks[i], 0, i, d->n_audio_state, &s, message, size);
    for (int i = 0; code == ST_CUDA_OK && i < d->n_text_layer; i++)
        code = upload_block(api, *handle, &model->decoder_blocks[i], 1, i, d->n_text_state, &s, message, size);
    free(globals16);
    free(s.halves);
    free(s.biases);
    free(s.row);
    return code;
}

steno_status st_whisper_device_model_create(st_whisper_model *model, st_error *err) {
    const st_cuda_api *api = st_nn_cuda();
    const int device = st_nn_get_device();
    if (!api || device == ST_NN_DEVICE_CPU) return STENO_OK;
    const st_whisper_dims *d = &model->dims;
    const st_cuda_dims dims = {d->n_mels,  d->n_audio_ctx,  d->n_audio_state, d->n_audio_head, d->n_audio_layer,
                               d->n_vocab, d->n_text_ctx,   d->n_text_state,  d->n_text_head,  d->n_text_layer};
    char message[ST_ERROR_MESSAGE_SIZE] = "";
    void *handle = NULL;
    int code = upload_model(api, model, &dims, device, &handle, message, sizeof message);
    if (code != ST_CUDA_OK) {
        if (handle) api->model_free(handle);
        return backend_status(code, message, err);
    }
    model->device = handle;
    return STENO_OK;
}

void st_whisper_device_model_free(st_whisper_model *model) {
    if (model->device) st_nn_cuda()->model_free(model->device);
    model->device = NULL;
}

steno_status st_whisper_device_state_create(st_whisper_state *state, st_error *err) {
    if (!state->model->device) return STENO_OK;
    char message[ST_ERROR_MESSAGE_SIZE] = "";
    int code = st_nn_cuda()->state_create(state->model->device, state->max_sequences, &state->device, message,
                                          sizeof message);
    return backend_status(code, message, err);
}

void st_whisper_device_state_free(st_whisper_state *state) {
    if (state->device) st_nn_cuda()->state_free(state->device);
    state->device = NULL;
}

steno_status st_whisper_device_encode(st_whisper_state *state, const float *mel, st_error *err) {
    char message[ST_ERROR_MESSAGE_SIZE] = "";
    state->have_audio = 0;
    int code = st_nn_cuda()->encode(state->device, mel, state->audio, message, sizeof message);
    if (code == ST_CUDA_OK) state->have_audio = 1;
    return backend_status(code, message, err);
}

steno_status st_whisper_device_decode(st_whisper_state *state, int n_seq, const int *tokens, int n_tokens, int n_past,
                                      st_whisper_logits which, float *logits, st_error *err) {
    char message[ST_ERROR_MESSAGE_SIZE] = "";
    st_whisper_capture *capture = state->capture;
    const st_cuda_capture scores = {
        .heads = capture ? capture->heads : NULL,
        .n_heads = capture ? capture->n_heads : 0,
        .scores = capture ? capture->scores : NULL,
        .max_rows = capture ? capture->max_rows : 0,
    };
    int code = st_nn_cuda()->decode(state->device, n_seq, tokens, n_tokens, n_past, which == ST_WHISPER_LOGITS_ALL,
                                    logits, capture ? &scores : NULL, message, sizeof message);
    if (code == ST_CUDA_OK && capture) capture->n_rows = n_seq * n_tokens;
    return backend_status(code, message, err);
}

steno_status st_whisper_device_reorder(st_whisper_state *state, const int *source, int n_seq, int n_positions,
                                       st_error *err) {
    char message[ST_ERROR_MESSAGE_SIZE] = "";
    int code = st_nn_cuda()->reorder(state->device, source, n_seq, n_positions, message, sizeof message);
    return backend_status(code, message, err);
}

size_t st_whisper_device_bytes(const st_whisper_state *state) {
    if (!state->device) return 0;
    const st_cuda_api *api = st_nn_cuda();
    return api->model_bytes(state->model->device) + api->state_bytes(state->device);
}
