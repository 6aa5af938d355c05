/* model.c — Whisper weights from a tensor set, and the run state's buffers; see model.h. */
#include "whisper/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/device.h"
#include "whisper/device.h"

#define NAME_SIZE 128

/* prefix.suffix into buffer. Every canonical name is far shorter than NAME_SIZE; were one
 * not, the lookup that follows fails on a name that says so. */
static const char *join_name(char buffer[NAME_SIZE], const char *prefix, const char *suffix) {
    int length = snprintf(buffer, NAME_SIZE, "%s.%s", prefix, suffix);
    if (length < 0 || length >= NAME_SIZE) strcpy(buffer, "(over-long tensor name)");
    return buffer;
}

/* Requires the tensor `name` with the given shape and makes a float32 copy of it. */
static steno_status load_f32(const st_model *source, const char *name, int n_dims, const int64_t *shape, float **out,
                             st_error *err) {
    const st_tensor *tensor;
    steno_status status = st_model_require(source, name, n_dims, shape, &tensor, err);
    if (status != STENO_OK) return status;
    return st_nn_tensor_to_f32(tensor, out, err);
}

static steno_status load_linear(const st_model *source, const char *prefix, int n_out, int n_in, int with_bias,
                                st_nn_linear *layer, st_error *err) {
    char name[NAME_SIZE];
    const st_tensor *weight, *bias = NULL;
    steno_status status =
        st_model_require(source, join_name(name, prefix, "weight"), 2, (const int64_t[]){n_out, n_in}, &weight, err);
    if (status == STENO_OK && with_bias) {
        status = st_model_require(source, join_name(name, prefix, "bias"), 1, (const int64_t[]){n_out}, &bias, err);
    }
    if (status != STENO_OK) return status;
    return st_nn_linear_init(layer, weight, bias, err);
}

static steno_status load_norm(const st_model *source, const char *prefix, int dim, st_whisper_norm *norm,
                              st_error *err) {
    char name[NAME_SIZE];
    steno_status status =
        load_f32(source, join_name(name, prefix, "weight"), 1, (const int64_t[]){dim}, &norm->weight, err);
    if (status != STENO_OK) return status;
    return load_f32(source, join_name(name, prefix, "bias"), 1, (const int64_t[]){dim}, &norm->bias, err);
}

static steno_status load_attention(const st_model *source, const char *prefix, int dim, st_whisper_attention *attention,
                                   st_error *err) {
    static const char *const parts[] = {"query", "key", "value", "out"};
    st_nn_linear *layers[] = {&attention->query, &attention->key, &attention->value, &attention->out};
    for (int i = 0; i < 4; i++) {
        char name[NAME_SIZE];
        /* openai-whisper's attention key projection is the one linear layer without bias */
        steno_status status = load_linear(source, join_name(name, prefix, parts[i]), dim, dim, i != 1, layers[i], err);
        if (status != STENO_OK) return status;
    }
    return STENO_OK;
}

static steno_status load_block(const st_model *source, const char *stack, int index, int dim, int with_cross,
                               st_whisper_block *block, st_error *err) {
    char block_prefix[NAME_SIZE], name[NAME_SIZE];
    steno_status status;
    int length = snprintf(block_prefix, sizeof block_prefix, "%s.blocks.%d", stack, index);
    if (length < 0 || length >= NAME_SIZE) return st_error_set(err, STENO_ERR_INTERNAL, "block name too long");
#define BLOCK_PART(part) join_name(name, block_prefix, part)
    if ((status = load_norm(source, BLOCK_PART("attn_ln"), dim, &block->attn_ln, err)) != STENO_OK) return status;
    if ((status = load_attention(source, BLOCK_PART("attn"), dim, &block->attn, err)) != STENO_OK) return status;
    if (with_cross) {
        if ((status = load_norm(source, BLOCK_PART("cross_attn_ln"), dim, &block->cross_attn_ln, err)) != STENO_OK)
            return status;
        if ((status = load_attention(source, BLOCK_PART("cross_attn"), dim, &block->cross_attn, err)) != STENO_OK)
            return status;
    }
    if ((status = load_norm(source, BLOCK_PART("mlp_ln"), dim, &block->mlp_ln, err)) != STENO_OK) return status;
    if ((status = load_linear(source, BLOCK_PART("mlp.0"), 4 * dim, dim, 1, &block->mlp_in, err)) != STENO_OK)
        return status;
    return load_linear(source, BLOCK_PART("mlp.2"), dim, 4 * dim, 1, &block->mlp_out, err);
#undef BLOCK_PART
}

/* Limits that keep every buffer size and index of the passes well inside int and size_t; the
 * largest published model (large-v3: 1280 wide, 32 layers, 51866 tokens) is far below them. */
static steno_status check_dims(const st_model *source, const st_whisper_dims *d, st_error *err) {
    const char *path = source->file.path ? source->file.path : "model";
    const int values[] = {d->n_mels,  d->n_audio_ctx, d->n_audio_state, d->n_audio_head, d->n_audio_layer,
                          d->n_vocab, d->n_text_ctx,  d->n_text_state,  d->n_text_head,  d->n_text_layer};
    const int limits[] = {512, 4096, 8192, 256, 256, 1 << 20, 4096, 8192, 256, 256};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        if (values[i] <= 0 || values[i] > limits[i]) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: model dimension %zu is %d, expected 1..%d", path, i,
                                values[i], limits[i]);
        }
    }
    if (d->n_audio_state % d->n_audio_head != 0 || d->n_text_state % d->n_text_head != 0) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: state widths %d/%d are not divisible by head counts %d/%d",
                            path, d->n_audio_state, d->n_text_state, d->n_audio_head, d->n_text_head);
    }
    if (d->n_audio_state != d->n_text_state) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: audio width %d differs from text width %d", path,
                            d->n_audio_state, d->n_text_state);
    }
    return STENO_OK;
}

/* When the layers compute in int8 or bf16 (`layer`, the last one built, tells) each is a packed
 * copy: the file pages read so far need not stay resident while the rest loads (they fault back
 * in if read again). */
static void release_quantized(const st_model *source, const st_nn_linear *layer) {
    if (!st_nn_linear_is_packed(layer)) return;
    st_mapped_file_release(&source->file);
    for (int i = 0; i < source->n_extra_files; i++)
        st_mapped_file_release(&source->extra_files[i]);
}

static steno_status load_model(st_whisper_model *model, const st_model *source, st_error *err) {
    const st_whisper_dims *d = &source->dims;
    const int64_t state = d->n_audio_state;
    steno_status status;
    if ((status = check_dims(source, d, err)) != STENO_OK) return status;
    model->dims = *d;

    if ((status = load_f32(source, "encoder.conv1.weight", 3, (const int64_t[]){state, d->n_mels, 3},
                           &model->conv1_weight, err)) != STENO_OK ||
        (status = load_f32(source, "encoder.conv1.bias", 1, (const int64_t[]){state}, &model->conv1_bias, err)) !=
            STENO_OK ||
        (status = load_f32(source, "encoder.conv2.weight", 3, (const int64_t[]){state, state, 3}, &model->conv2_weight,
                           err)) != STENO_OK ||
        (status = load_f32(source, "encoder.conv2.bias", 1, (const int64_t[]){state}, &model->conv2_bias, err)) !=
            STENO_OK ||
        (status = load_f32(source, "encoder.positional_embedding", 2, (const int64_t[]){d->n_audio_ctx, state},
                           &model->encoder_positions, err)) != STENO_OK) {
        return status;
    }
    model->encoder_blocks = calloc((size_t)d->n_audio_layer, sizeof *model->encoder_blocks);
    model->decoder_blocks = calloc((size_t)d->n_text_layer, sizeof *model->decoder_blocks);
    if (!model->encoder_blocks || !model->decoder_blocks) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "cannot allocate the layer tables");
    }
    for (int i = 0; i < d->n_audio_layer; i++) {
        if ((status = load_block(source, "encoder", i, d->n_audio_state, 0, &model->encoder_blocks[i], err)) !=
            STENO_OK)
            return status;
        release_quantized(source, &model->encoder_blocks[i].mlp_out);
    }
    if ((status = load_norm(source, "encoder.ln_post", d->n_audio_state, &model->ln_post, err)) != STENO_OK ||
        (status = load_linear(source, "decoder.token_embedding", d->n_vocab, d->n_text_state, 0,
                              &model->token_embedding, err)) != STENO_OK ||
        (status = load_f32(source, "decoder.positional_embedding", 2, (const int64_t[]){d->n_text_ctx, d->n_text_state},
                           &model->decoder_positions, err)) != STENO_OK) {
        return status;
    }
    release_quantized(source, &model->token_embedding);
    for (int i = 0; i < d->n_text_layer; i++) {
        if ((status = load_block(source, "decoder", i, d->n_text_state, 1, &model->decoder_blocks[i], err)) != STENO_OK)
            return status;
        release_quantized(source, &model->decoder_blocks[i].mlp_out);
    }
    return load_norm(source, "decoder.ln", d->n_text_state, &model->decoder_ln, err);
}

steno_status st_whisper_model_init(st_whisper_model *model, const st_model *source, st_error *err) {
    memset(model, 0, sizeof *model);
    steno_status status = load_model(model, source, err);
    if (status != STENO_OK) {
        st_whisper_model_free(model);
        return status;
    }
    model->cross_i8 = st_nn_linear_is_packed(&model->decoder_blocks[0].cross_attn.key);
    if (st_nn_get_device() != ST_NN_DEVICE_CPU) {
        status = st_whisper_device_model_create(model, err);
        if (status != STENO_OK) st_whisper_model_free(model);
    }
    return status;
}

static void free_norm(st_whisper_norm *norm) {
    st_nn_free(norm->weight);
    st_nn_free(norm->bias);
}

static void free_attention(st_whisper_attention *attention) {
    st_nn_linear_free(&attention->query);
    st_nn_linear_free(&attention->key);
    st_nn_linear_free(&attention->value);
    st_nn_linear_free(&attention->out);
}

static void free_blocks(st_whisper_block *blocks, int n) {
    for (int i = 0; blocks && i < n; i++) {
        free_norm(&blocks[i].attn_ln);
        free_attention(&blocks[i].attn);
        free_norm(&blocks[i].cross_attn_ln);
        free_attention(&blocks[i].cross_attn);
        free_norm(&blocks[i].mlp_ln);
        st_nn_linear_free(&blocks[i].mlp_in);
        st_nn_linear_free(&blocks[i].mlp_out);
    }
    free(blocks);
}

void st_whisper_model_free(st_whisper_model *model) {
    if (!model) return;
    st_whisper_device_model_free(model);
    st_nn_free(model->conv1_weight);
    st_nn_free(model->conv1_bias);
    st_nn_free(model->conv2_weight);
    st_nn_free(model->conv2_bias);
    st_nn_free(model->encoder_positions);
    free_blocks(model->encoder_blocks, model->dims.n_audio_layer);
    free_norm(&model->ln_post);
    st_nn_linear_free(&model->token_embedding);
    st_nn_free(model->decoder_positions);
    free_blocks(model->decoder_blocks, model->dims.n_text_layer);
    free_norm(&model->decoder_ln);
    memset(model, 0, sizeof *model);
}

static size_t cross_slots(const st_whisper_dims *d) {
    return (size_t)(d->n_audio_ctx + ST_NN_KEY_BLOCK - 1) / ST_NN_KEY_BLOCK * ST_NN_KEY_BLOCK;
}

/* The bytes of keys or values, whole floats (a multiple of 16 bytes, as slots is) */
static size_t cross_byte_floats(const st_whisper_dims *d) {
    return cross_slots(d) * (size_t)d->n_text_state / sizeof(float);
}

size_t st_whisper_cross_floats_i8(const st_whisper_dims *d) {
    return cross_byte_floats(d) + cross_slots(d) * (size_t)d->n_text_head;
}

st_whisper_cross_i8 st_whisper_cross_layer_i8(const st_whisper_dims *d, float *cross_k, float *cross_v, int layer) {
    float *keys = cross_k + (size_t)layer * st_whisper_cross_floats_i8(d);
    float *values = cross_v + (size_t)layer * st_whisper_cross_floats_i8(d);
    return (st_whisper_cross_i8){
        .keys = (int8_t *)keys,
        .values = (int8_t *)values,
        .key_scales = keys + cross_byte_floats(d),
        .value_scales = values + cross_byte_floats(d),
    };
}

steno_status st_whisper_state_init(st_whisper_state *state, const st_whisper_model *model, int max_sequences,
                                   st_error *err) {
    return st_whisper_state_init_windows(state, model, max_sequences, 1, err);
}

void st_whisper_select_window(st_whisper_state *state, int window) {
    state->cross_k = state->cross_k_windows + (size_t)window * state->cross_k_window_floats;
    state->cross_v = state->cross_v_windows + (size_t)window * state->cross_v_window_floats;
}

steno_status st_whisper_state_init_windows(st_whisper_state *state, const st_whisper_model *model, int max_sequences,
                                           int n_windows, st_error *err) {
    memset(state, 0, sizeof *state);
    const st_whisper_dims *d = &model->dims;
    if (max_sequences < 1 || max_sequences > 256) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "whisper state: %d sequences, expected 1..256",
                            max_sequences);
    }
    if (n_windows < 1 || n_windows > 64 || (n_windows > 1 && model->device)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "whisper state: %d windows, expected 1..64 (and 1 on a GPU)", n_windows);
    }
    state->model = model;
    state->max_sequences = max_sequences;
    state->max_rows = max_sequences * d->n_text_ctx;

    const size_t audio_ctx = (size_t)d->n_audio_ctx, frames = 2 * audio_ctx, width = (size_t)d->n_audio_state;
    const size_t text_width = (size_t)d->n_text_state, rows = (size_t)state->max_rows;
    const size_t conv1_cols = frames * (size_t)d->n_mels * 3, conv2_cols = audio_ctx * width * 3;
    const size_t score_cols = (size_t)(d->n_text_ctx > d->n_audio_ctx ? d->n_text_ctx : d->n_audio_ctx);
    const size_t cross = (size_t)d->n_text_layer * audio_ctx * text_width;
    /* an int8 model's keys or values and their scales (st_whisper_cross_layer_i8) */
    const size_t cross_i8 = (size_t)d->n_text_layer * st_whisper_cross_floats_i8(d);
    const size_t cross_window = cross > cross_i8 ? cross : cross_i8;
    const size_t cache = (size_t)d->n_text_layer * (size_t)max_sequences * (size_t)d->n_text_ctx * text_width;
    /* Room to widen the largest block layer (the MLP's 4d x d) whole; the output projection
     * then goes in blocks of 4d rows. */
    const size_t widest = width > text_width ? width : text_width;
    const size_t weight_scratch = 4 * widest * widest;
    state->weight_scratch_floats = weight_scratch;
    state->dec_scores_floats = rows * score_cols;
    const struct {
        float **buffer;
        size_t n_floats;
    } sizes[] = {
        {&state->mel_by_time, frames * (size_t)d->n_mels},
        {&state->conv_cols, conv1_cols > conv2_cols ? conv1_cols : conv2_cols},
        {&state->conv1_out, frames * width},
        {&state->audio, audio_ctx * width},
        {&state->enc_norm, audio_ctx * width},
        {&state->enc_q, audio_ctx * width},
        {&state->enc_k, audio_ctx * width},
        {&state->enc_v, audio_ctx * width},
        {&state->enc_attn, audio_ctx * width},
        {&state->enc_hidden, audio_ctx * 4 * width},
        {&state->enc_scores, audio_ctx * audio_ctx},
        {&state->cross_k_windows, cross_window * (size_t)n_windows},
        {&state->cross_v_windows, cross_window * (size_t)n_windows},
        {&state->self_k, cache},
        {&state->self_v, cache},
        {&state->dec_x, rows * text_width},
        {&state->dec_norm, rows * text_width},
        {&state->dec_q, rows * text_width},
        {&state->dec_k, rows * text_width},
        {&state->dec_v, rows * text_width},
        {&state->dec_attn, rows * text_width},
        {&state->dec_hidden, rows * 4 * text_width},
        {&state->dec_scores, rows * score_cols},
        {&state->weight_scratch, weight_scratch},
    };
    /* One allocation carved into 64-byte aligned pieces: one free, and no piece shares a cache
     * line with the next. */
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += (sizes[i].n_floats + 15) / 16 * 16;
    state->arena = st_nn_alloc(total);
    if (!state->arena) {
        memset(state, 0, sizeof *state);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "whisper state: cannot allocate %zu MiB",
                            total * sizeof(float) >> 20);
    }
    float *next = state->arena;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *sizes[i].buffer = next;
        next += (sizes[i].n_floats + 15) / 16 * 16;
    }
    /* each sequence fills its cache from the first position, a few hundred KiB of each ~1 MiB
     * per layer: 2 MiB pages would be zeroed whole for it */
    st_nn_advise_small_pages(state->self_k, cache);
    st_nn_advise_small_pages(state->self_v, cache);
    state->n_windows = n_windows;
    state->cross_k_window_floats = cross_window;
    state->cross_v_window_floats = cross_window;
    st_whisper_select_window(state, 0);
    steno_status status = st_whisper_device_state_create(state, err);
    if (status != STENO_OK) st_whisper_state_free(state);
    return status;
}

void st_whisper_state_free(st_whisper_state *state) {
    if (!state) return;
    st_whisper_device_state_free(state);
    st_nn_free(state->arena);
    memset(state, 0, sizeof *state);
}
