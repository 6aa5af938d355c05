/*
 * encoder.c — Whisper's audio encoder on CPU: the convolutional stem, the residual attention
 * blocks and the final norm, then the decoder's cross-attention keys and values; see model.h.
 */
#include "whisper/model.h"

#include <string.h>

#include "nn/attention.h"
#include "nn/kernels.h"
#include "nn/ops.h"
#include "whisper/device.h"

void st_whisper_encode_stem(const st_whisper_model *model, st_whisper_state *state, const float *mel) {
    const st_whisper_dims *d = &model->dims;
    const int n_ctx = d->n_audio_ctx, frames = 2 * n_ctx, width = d->n_audio_state;
    /* The convolutions read time-major rows; the mel arrives band-major as openai-whisper
     * computes it. */
    for (int band = 0; band < d->n_mels; band++) {
        for (int t = 0; t < frames; t++)
            state->mel_by_time[(size_t)t * d->n_mels + band] = mel[(size_t)band * frames + t];
    }
    st_nn_conv1d_k3(state->mel_by_time, frames, d->n_mels, model->conv1_weight, model->conv1_bias, width, 1,
                    state->conv_cols, state->conv1_out);
    st_nn_gelu(state->conv1_out, (size_t)frames * width);
    st_nn_conv1d_k3(state->conv1_out, frames, width, model->conv2_weight, model->conv2_bias, width, 2, state->conv_cols,
                    state->audio);
    st_nn_gelu(state->audio, (size_t)n_ctx * width);
    st_nn_add(state->audio, model->encoder_positions, (size_t)n_ctx * width);
    state->have_audio = 0;
}

void st_whisper_encode_block(const st_whisper_model *model, st_whisper_state *state, int layer) {
    const st_whisper_dims *d = &model->dims;
    const int n = d->n_audio_ctx;
    const st_whisper_block *block = &model->encoder_blocks[layer];
    const int width = d->n_audio_state;
    const size_t size = (size_t)n * width;

    st_nn_layer_norm(state->audio, n, width, block->attn_ln.weight, block->attn_ln.bias, state->enc_norm);
    st_whisper_linear(state, &block->attn.query, state->enc_norm, n, state->enc_q);
    st_whisper_linear(state, &block->attn.key, state->enc_norm, n, state->enc_k);
    st_whisper_linear(state, &block->attn.value, state->enc_norm, n, state->enc_v);
    st_nn_attention(&(st_nn_attention_args){
        .q = state->enc_q,
        .q_stride = width,
        .k = state->enc_k,
        .v = state->enc_v,
        .kv_stride = width,
        .n_q = n,
        .n_kv = n,
        .n_head = d->n_audio_head,
        .d_head = width / d->n_audio_head,
        .causal_offset = ST_NN_NO_MASK,
        .scores = state->enc_scores,
        .scores_floats = (size_t)n * n,
        .out = state->enc_attn,
        .out_stride = width,
        /* int8 and bf16 models (reduced precision already) take the attention's products in bf16 */
        .bf16 = st_nn_linear_is_packed(&block->attn.query),
    });
    st_whisper_linear(state, &block->attn.out, state->enc_attn, n, state->enc_norm);
    st_nn_add(state->audio, state->enc_norm, size);

    st_nn_layer_norm(state->audio, n, width, block->mlp_ln.weight, block->mlp_ln.bias, state->enc_norm);
    st_whisper_linear(state, &block->mlp_in, state->enc_norm, n, state->enc_hidden);
    st_nn_gelu(state->enc_hidden, size * 4);
    st_whisper_linear(state, &block->mlp_out, state->enc_hidden, n, state->enc_norm);
    st_nn_add(state->audio, state->enc_norm, size);
}

void st_whisper_encode_prefix(const st_whisper_model *model, st_whisper_state *state, const float *mel, int n_blocks) {
    st_whisper_encode_stem(model, state, mel);
    for (int layer = 0; layer < n_blocks; layer++)
        st_whisper_encode_block(model, state, layer);
}

void st_whisper_encode_resume(const st_whisper_model *model, st_whisper_state *state, int n_done) {
    for (int layer = n_done; layer < model->dims.n_audio_layer; layer++)
        st_whisper_encode_block(model, state, layer);
    st_whisper_encode_finish(model, state);
}

/* Quantizes the n_audio_ctx rows of a cross-attention projection in state->enc_q to int8, one
 * scale per frame and head (max |x| / 127, nearest-even): the biased bytes of frame t and head
 * h at enc_k bytes (t * n_text_head + h) * d_head, the scale at enc_v[t * n_text_head + h]. */
static void quantize_heads(const st_whisper_dims *d, st_whisper_state *state) {
    const int d_head = d->n_text_state / d->n_text_head;
    st_nn_kernels_best()->quantize_rows(state->enc_q, d->n_audio_ctx * d->n_text_head, d_head, d_head,
                                        (uint8_t *)state->enc_k, state->enc_v);
}

/* The projection in state->enc_q as int8 keys, in blocks of ST_NN_KEY_BLOCK frames, or values,
 * head by head, with their scales; key slots and scales past n_audio_ctx 0
 * (st_whisper_cross_layer_i8). */
static void store_i8(const st_whisper_dims *d, st_whisper_state *state, int8_t *out, float *scales, int keys) {
    const int n = d->n_audio_ctx, heads = d->n_text_head, d_head = d->n_text_state / heads;
    const int slots = (n + ST_NN_KEY_BLOCK - 1) / ST_NN_KEY_BLOCK * ST_NN_KEY_BLOCK;
    const uint8_t *biased = (const uint8_t *)state->enc_k;
    quantize_heads(d, state);
    for (int h = 0; h < heads; h++)
        for (int t = 0; t < slots; t++) {
            const uint8_t *row = biased + ((size_t)t * heads + h) * d_head; /* read only for t < n */
            scales[(size_t)h * slots + t] = t < n ? state->enc_v[(size_t)t * heads + h] : 0.0f;
            if (keys) {
                int8_t *run =
                    out + ((size_t)h * slots + t / ST_NN_KEY_BLOCK * ST_NN_KEY_BLOCK) * d_head + t % ST_NN_KEY_BLOCK;
                for (int c = 0; c < d_head; c++)
                    run[c * ST_NN_KEY_BLOCK] = t < n ? (int8_t)(row[c] - 128) : 0;
            } else if (t < n) {
                int8_t *values = out + ((size_t)h * n + t) * d_head;
                for (int c = 0; c < d_head; c++)
                    values[c] = (int8_t)(row[c] - 128);
            }
        }
}

void st_whisper_encode_finish(const st_whisper_model *model, st_whisper_state *state) {
    const st_whisper_dims *d = &model->dims;
    const size_t layer_size = (size_t)d->n_audio_ctx * d->n_text_state;
    st_nn_layer_norm(state->audio, d->n_audio_ctx, d->n_audio_state, model->ln_post.weight, model->ln_post.bias,
                     state->audio);
    /* Every decoder step attends to the same window: its keys and values are made once here
     * instead of once per token. */
    const int d_head = d->n_text_state / d->n_text_head;
    for (int layer = 0; layer < d->n_text_layer; layer++) {
        const st_whisper_attention *cross = &model->decoder_blocks[layer].cross_attn;
        const st_whisper_cross_i8 i8 = st_whisper_cross_layer_i8(d, state->cross_k, state->cross_v, layer);
        /* keys transposed, [n_text_state][n_audio_ctx]: see model.h */
        st_whisper_linear(state, &cross->key, state->audio, d->n_audio_ctx, state->enc_q);
        if (model->cross_i8) {
            store_i8(d, state, i8.keys, i8.key_scales, 1);
        } else {
            float *keys = state->cross_k + layer * layer_size;
            for (int t = 0; t < d->n_audio_ctx; t++)
                for (int c = 0; c < d->n_text_state; c++)
                    keys[(size_t)c * d->n_audio_ctx + t] = state->enc_q[(size_t)t * d->n_text_state + c];
        }
        /* values head by head, [n_text_head][n_audio_ctx][d_head] */
        st_whisper_linear(state, &cross->value, state->audio, d->n_audio_ctx, state->enc_q);
        if (model->cross_i8) {
            store_i8(d, state, i8.values, i8.value_scales, 0);
        } else {
            float *values = state->cross_v + layer * layer_size;
            for (int h = 0; h < d->n_text_head; h++)
                for (int t = 0; t < d->n_audio_ctx; t++)
                    memcpy(values + ((size_t)h * d->n_audio_ctx + t) * d_head,
                           state->enc_q + (size_t)t * d->n_text_state + (size_t)h * d_head, sizeof(float) * d_head);
        }
    }
    state->have_audio = 1;
}

steno_status st_whisper_encode(const st_whisper_model *model, st_whisper_state *state, const float *mel,
                               st_error *err) {
    if (!model || !state || !mel || state->model != model) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "whisper encode: missing argument or a state made for another model");
    }
    if (state->device) return st_whisper_device_encode(state, mel, err);
    st_whisper_encode_stem(model, state, mel);
    st_whisper_encode_resume(model, state, 0);
    return STENO_OK;
}
