/*
 * decoder.c — Whisper's text decoder on CPU with a self-attention cache per sequence, and the
 * cache reordering beam search needs; see model.h.
 */
#include "whisper/model.h"

#include <string.h>

#include "nn/attention.h"
#include "nn/ops.h"
#include "whisper/device.h"

/* Start of the cache rows of (layer, sequence slot). */
static float *cache_rows(const st_whisper_state *state, float *cache, int layer, int slot) {
    const st_whisper_dims *d = &state->model->dims;
    return cache + (((size_t)layer * state->max_sequences + (size_t)slot) * d->n_text_ctx) * d->n_text_state;
}

typedef struct capture_context {
    st_whisper_capture *capture;
    int layer;
} capture_context;

/* Attention hook: copies the heads the capture asked for out of the cross-attention scores. */
static void capture_scores(void *user, int head, const float *scores, int n_q, int n_kv) {
    const capture_context *context = user;
    st_whisper_capture *capture = context->capture;
    for (int i = 0; i < capture->n_heads; i++) {
        if (capture->heads[2 * i] != context->layer || capture->heads[2 * i + 1] != head) continue;
        memcpy(capture->scores + (size_t)i * capture->max_rows * n_kv, scores, sizeof(float) * (size_t)n_q * n_kv);
    }
}

static steno_status check_decode(const st_whisper_model *model, const st_whisper_state *state, int n_seq,
                                 const int *tokens, int n_tokens, int n_past, const float *logits, st_error *err) {
    if (!model || !state || !tokens || !logits || state->model != model) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "whisper decode: missing argument or a state made for another model");
    }
    const st_whisper_dims *d = &model->dims;
    if (!state->have_audio) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "whisper decode: no audio window has been encoded");
    }
    if (n_seq < 1 || n_seq > state->max_sequences) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "whisper decode: %d sequences, the state holds 1..%d",
                            n_seq, state->max_sequences);
    }
    if (n_tokens < 1 || n_past < 0 || n_past > d->n_text_ctx - n_tokens) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "whisper decode: %d tokens after %d do not fit the %d-token context", n_tokens, n_past,
                            d->n_text_ctx);
    }
    for (int i = 0; i < n_seq * n_tokens; i++) {
        if (tokens[i] < 0 || tokens[i] >= d->n_vocab) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                "whisper decode: token %d at index %d is outside 0..%d", tokens[i], i, d->n_vocab - 1);
        }
    }
    const st_whisper_capture *capture = state->capture;
    if (capture) {
        if (!capture->scores || n_seq * n_tokens > capture->max_rows) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                "whisper decode: the capture buffer holds %d rows, %d needed", capture->max_rows,
                                n_seq * n_tokens);
        }
        for (int i = 0; i < capture->n_heads; i++) {
            int layer = capture->heads[2 * i], head = capture->heads[2 * i + 1];
            if (layer < 0 || layer >= d->n_text_layer || head < 0 || head >= d->n_text_head) {
                return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                    "whisper decode: capture head (%d, %d) does not exist", layer, head);
            }
        }
    }
    return STENO_OK;
}

/* Where the sequences of one decoder pass live: sequence s's cache slot (slots NULL: slot s)
 * and cross-attention window (windows NULL: the selected one for all). */
typedef struct sequence_places {
    const int *slots, *windows;
} sequence_places;

static void decoder_block(const st_whisper_model *model, st_whisper_state *state, int layer, int n_seq, int n_tokens,
                          int n_past, const sequence_places *places) {
    const st_whisper_dims *d = &model->dims;
    const st_whisper_block *block = &model->decoder_blocks[layer];
    const int width = d->n_text_state, rows = n_seq * n_tokens, d_head = width / d->n_text_head;
    const size_t size = (size_t)rows * width, sequence_size = (size_t)n_tokens * width;

    /* Self-attention: the projections run over all sequences' rows at once; the new keys and
     * values then go to each sequence's cache slot, and each sequence attends to its own. */
    st_nn_layer_norm(state->dec_x, rows, width, block->attn_ln.weight, block->attn_ln.bias, state->dec_norm);
    st_whisper_linear(state, &block->attn.query, state->dec_norm, rows, state->dec_q);
    st_whisper_linear(state, &block->attn.key, state->dec_norm, rows, state->dec_k);
    st_whisper_linear(state, &block->attn.value, state->dec_norm, rows, state->dec_v);
    for (int s = 0; s < n_seq; s++) {
        const int slot = places->slots ? places->slots[s] : s;
        float *k = cache_rows(state, state->self_k, layer, slot), *v = cache_rows(state, state->self_v, layer, slot);
        memcpy(k + (size_t)n_past * width, state->dec_k + s * sequence_size, sizeof(float) * sequence_size);
        memcpy(v + (size_t)n_past * width, state->dec_v + s * sequence_size, sizeof(float) * sequence_size);
        st_nn_attention(&(st_nn_attention_args){
            .q = state->dec_q + s * sequence_size,
            .q_stride = width,
            .k = k,
            .v = v,
            .kv_stride = width,
            .n_q = n_tokens,
            .n_kv = n_past + n_tokens,
            .n_head = d->n_text_head,
            .d_head = d_head,
            .causal_offset = n_past,
            .scores = state->dec_scores,
            .scores_floats = state->dec_scores_floats,
            .out = state->dec_attn + s * sequence_size,
            .out_stride = width,
        });
    }
    st_whisper_linear(state, &block->attn.out, state->dec_attn, rows, state->dec_norm);
    st_nn_add(state->dec_x, state->dec_norm, size);

    /* Cross-attention: the sequences of one encoded window read the same keys and values, so
     * their rows go as one. */
    const size_t cross_size = (size_t)d->n_audio_ctx * width;
    capture_context context = {state->capture, layer};
    st_nn_layer_norm(state->dec_x, rows, width, block->cross_attn_ln.weight, block->cross_attn_ln.bias,
                     state->dec_norm);
    st_whisper_linear(state, &block->cross_attn.query, state->dec_norm, rows, state->dec_q);
    for (int first = 0, last; first < n_seq; first = last) {
        last = first + 1;
        while (places->windows && last < n_seq && places->windows[last] == places->windows[first])
            last++;
        if (!places->windows) last = n_seq;
        float *cross_k = state->cross_k, *cross_v = state->cross_v;
        if (places->windows) {
            cross_k = state->cross_k_windows + (size_t)places->windows[first] * state->cross_k_window_floats;
            cross_v = state->cross_v_windows + (size_t)places->windows[first] * state->cross_v_window_floats;
        }
        const st_whisper_cross_i8 i8 = st_whisper_cross_layer_i8(d, cross_k, cross_v, layer);
        st_nn_attention(&(st_nn_attention_args){
            .q = state->dec_q + first * sequence_size,
            .q_stride = width,
            .k = model->cross_i8 ? (const float *)i8.keys : cross_k + layer * cross_size,
            .keys_transposed = 1,
            .values_by_head = 1,
            .kv_i8 = model->cross_i8,
            .k_scales = i8.key_scales,
            .v_scales = i8.value_scales,
            .v = model->cross_i8 ? (const float *)i8.values : cross_v + layer * cross_size,
            .kv_stride = width,
            .n_q = (last - first) * n_tokens,
            .n_kv = d->n_audio_ctx,
            .n_head = d->n_text_head,
            .d_head = d_head,
            .causal_offset = ST_NN_NO_MASK,
            .scores = state->dec_scores,
            .scores_floats = state->dec_scores_floats,
            .out = state->dec_attn + first * sequence_size,
            .out_stride = width,
            .on_scores = state->capture ? capture_scores : NULL,
            .user = &context,
        });
    }
    st_whisper_linear(state, &block->cross_attn.out, state->dec_attn, rows, state->dec_norm);
    st_nn_add(state->dec_x, state->dec_norm, size);

    st_nn_layer_norm(state->dec_x, rows, width, block->mlp_ln.weight, block->mlp_ln.bias, state->dec_norm);
    st_whisper_linear(state, &block->mlp_in, state->dec_norm, rows, state->dec_hidden);
    st_nn_gelu(state->dec_hidden, size * 4);
    st_whisper_linear(state, &block->mlp_out, state->dec_hidden, rows, state->dec_norm);
    st_nn_add(state->dec_x, state->dec_norm, size);
}

/* The pass of st_whisper_decode_batch and st_whisper_decode_windows, arguments checked. */
static void decode_pass(const st_whisper_model *model, st_whisper_state *state, int n_seq, const int *tokens,
                        int n_tokens, int n_past, const sequence_places *places, st_whisper_logits which,
                        float *logits) {
    const st_whisper_dims *d = &model->dims;
    const int width = d->n_text_state, rows = n_seq * n_tokens;

    for (int r = 0; r < rows; r++) {
        const float *position = model->decoder_positions + (size_t)(n_past + r % n_tokens) * width;
        float *x = state->dec_x + (size_t)r * width;
        st_nn_linear_weight_row(&model->token_embedding, tokens[r], x);
        for (int i = 0; i < width; i++)
            x[i] += position[i];
    }
    for (int layer = 0; layer < d->n_text_layer; layer++)
        decoder_block(model, state, layer, n_seq, n_tokens, n_past, places);
    if (state->capture) state->capture->n_rows = rows;

    /* The output projection is the token embedding read as [n_vocab][width] (tied weights). */
    const st_nn_linear *projection = &model->token_embedding;
    if (which == ST_WHISPER_LOGITS_ALL) {
        st_nn_layer_norm(state->dec_x, rows, width, model->decoder_ln.weight, model->decoder_ln.bias, state->dec_norm);
        st_whisper_linear(state, projection, state->dec_norm, rows, logits);
    } else {
        for (int s = 0; s < n_seq; s++) {
            st_nn_layer_norm(state->dec_x + ((size_t)s * n_tokens + n_tokens - 1) * width, 1, width,
                             model->decoder_ln.weight, model->decoder_ln.bias, state->dec_norm + (size_t)s * width);
        }
        st_whisper_linear(state, projection, state->dec_norm, n_seq, logits);
    }
}

steno_status st_whisper_decode_batch(const st_whisper_model *model, st_whisper_state *state, int n_seq,
                                     const int *tokens, int n_tokens, int n_past, st_whisper_logits which,
                                     float *logits, st_error *err) {
    steno_status status = check_decode(model, state, n_seq, tokens, n_tokens, n_past, logits, err);
    if (status != STENO_OK) return status;
    if (state->device) return st_whisper_device_decode(state, n_seq, tokens, n_tokens, n_past, which, logits, err);
    decode_pass(model, state, n_seq, tokens, n_tokens, n_past, &(sequence_places){NULL, NULL}, which, logits);
    return STENO_OK;
}

steno_status st_whisper_decode_windows(const st_whisper_model *model, st_whisper_state *state, int n_seq,
                                       const int *slots, const int *windows, const int *tokens, int n_tokens,
                                       int n_past, st_whisper_logits which, float *logits, st_error *err) {
    steno_status status = check_decode(model, state, n_seq, tokens, n_tokens, n_past, logits, err);
    if (status != STENO_OK) return status;
    if (state->device || state->capture || !slots || !windows) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "whisper decode: windows decode together on the CPU, without capture, with slots");
    }
    for (int i = 0; i < n_seq; i++) {
        if (slots[i] < 0 || slots[i] >= state->max_sequences || windows[i] < 0 || windows[i] >= state->n_windows) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                "whisper decode: sequence %d in slot %d of window %d; the state holds %d slots, %d "
                                "windows",
                                i, slots[i], windows[i], state->max_sequences, state->n_windows);
        }
    }
    decode_pass(model, state, n_seq, tokens, n_tokens, n_past, &(sequence_places){slots, windows}, which, logits);
    return STENO_OK;
}

steno_status st_whisper_decode(const st_whisper_model *model, st_whisper_state *state, const int *tokens, int n_tokens,
                               int n_past, float *logits, st_error *err) {
    return st_whisper_decode_batch(model, state, 1, tokens, n_tokens, n_past, ST_WHISPER_LOGITS_LAST, logits, err);
}

steno_status st_whisper_kv_reorder(st_whisper_state *state, const int *source, int n_seq, int n_positions,
                                   st_error *err) {
    return st_whisper_kv_reorder_at(state, 0, source, n_seq, n_positions, err);
}

steno_status st_whisper_kv_reorder_at(st_whisper_state *state, int first_slot, const int *source, int n_seq,
                                      int n_positions, st_error *err) {
    if (!state || !state->model || !source) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "whisper cache reorder: missing argument");
    }
    const st_whisper_dims *d = &state->model->dims;
    if (first_slot < 0 || n_seq < 1 || first_slot + n_seq > state->max_sequences || n_positions < 0 ||
        n_positions > d->n_text_ctx || (first_slot > 0 && state->device)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "whisper cache reorder: %d sequences from slot %d of %d positions, the state holds %d of "
                            "%d",
                            n_seq, first_slot, n_positions, state->max_sequences, d->n_text_ctx);
    }
    for (int i = 0; i < n_seq; i++) {
        if (source[i] < 0 || first_slot + source[i] >= state->max_sequences) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                "whisper cache reorder: source slot %d of %d does not exist", source[i], i);
        }
    }
    if (state->device) return st_whisper_device_reorder(state, source, n_seq, n_positions, err);
    /* Within one layer, every slot that changes first has its new contents gathered into
     * scratch (the MLP buffer holds at least max_sequences * n_text_ctx rows), and only then are
     * slots overwritten, so a source that is itself replaced is still read intact. Slots that
     * keep their own contents are not copied at all. */
    const size_t slot_size = (size_t)n_positions * d->n_text_state;
    float *caches[] = {state->self_k, state->self_v};
    for (int c = 0; c < 2; c++) {
        for (int layer = 0; layer < d->n_text_layer; layer++) {
            for (int i = 0; i < n_seq; i++) {
                if (source[i] == i) continue;
                memcpy(state->dec_hidden + i * slot_size, cache_rows(state, caches[c], layer, first_slot + source[i]),
                       sizeof(float) * slot_size);
            }
            for (int i = 0; i < n_seq; i++) {
                if (source[i] == i) continue;
                memcpy(cache_rows(state, caches[c], layer, first_slot + i), state->dec_hidden + i * slot_size,
                       sizeof(float) * slot_size);
            }
        }
    }
    return STENO_OK;
}
