/* whisper_layout.c — expected tensor names and shapes of the Whisper architecture. */
#include "models/whisper_layout.h"

#include <stdio.h>
#include <string.h>

/* Upper bounds far above any released Whisper model (large: 1280 wide, 32 layers, 51866
 * tokens), low enough that products of them cannot overflow. */
enum { MAX_STATE = 8192, MAX_LAYERS = 256, MAX_VOCAB = 1 << 20, MAX_CTX = 1 << 16, MAX_MELS = 512 };

steno_status st_whisper_dims_validate(const st_whisper_dims *d, const char *source, st_error *err) {
    struct {
        const char *name;
        int value, low, high;
    } checks[] = {
        {"n_mels", d->n_mels, 1, MAX_MELS},
        {"n_audio_ctx", d->n_audio_ctx, 1, MAX_CTX},
        {"n_audio_state", d->n_audio_state, 1, MAX_STATE},
        {"n_audio_head", d->n_audio_head, 1, MAX_STATE},
        {"n_audio_layer", d->n_audio_layer, 1, MAX_LAYERS},
        {"n_vocab", d->n_vocab, 1, MAX_VOCAB},
        {"n_text_ctx", d->n_text_ctx, 1, MAX_CTX},
        {"n_text_state", d->n_text_state, 1, MAX_STATE},
        {"n_text_head", d->n_text_head, 1, MAX_STATE},
        {"n_text_layer", d->n_text_layer, 1, MAX_LAYERS},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].value < checks[i].low || checks[i].value > checks[i].high) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: %s = %d is outside [%d, %d]", source, checks[i].name,
                                checks[i].value, checks[i].low, checks[i].high);
        }
    }
    if (d->n_audio_state % d->n_audio_head != 0 || d->n_text_state % d->n_text_head != 0) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: state width %d/%d is not a multiple of the head count %d/%d",
                            source, d->n_audio_state, d->n_text_state, d->n_audio_head, d->n_text_head);
    }
    return STENO_OK;
}

static int set_shape(int64_t shape[ST_TENSOR_MAX_DIMS], int *n_dims, int n, int64_t a, int64_t b, int64_t c) {
    int64_t values[3] = {a, b, c};
    for (int i = 0; i < n; i++) shape[i] = values[i];
    *n_dims = n;
    return 0;
}

/* Shapes inside one transformer block of width `state` (input width `kv_state` for the
 * cross-attention key/value projections). */
static int block_shape(const char *rest, int64_t state, int64_t kv_state, int cross_allowed, int64_t shape[],
                       int *n_dims) {
    static const char *const norms[] = {"attn_ln", "cross_attn_ln", "mlp_ln"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(norms[i]);
        if (strncmp(rest, norms[i], n) == 0 && (!strcmp(rest + n, ".weight") || !strcmp(rest + n, ".bias"))) {
            if (i == 1 && !cross_allowed) return -1;
            return set_shape(shape, n_dims, 1, state, 0, 0);
        }
    }
    if (!strcmp(rest, "mlp.0.weight")) return set_shape(shape, n_dims, 2, 4 * state, state, 0);
    if (!strcmp(rest, "mlp.0.bias")) return set_shape(shape, n_dims, 1, 4 * state, 0, 0);
    if (!strcmp(rest, "mlp.2.weight")) return set_shape(shape, n_dims, 2, state, 4 * state, 0);
    if (!strcmp(rest, "mlp.2.bias")) return set_shape(shape, n_dims, 1, state, 0, 0);

    int cross = strncmp(rest, "cross_attn.", 11) == 0;
    if (cross && !cross_allowed) return -1;
    const char *projection = cross ? rest + 11 : (strncmp(rest, "attn.", 5) == 0 ? rest + 5 : NULL);
    if (!projection) return -1;
    static const char *const names[] = {"query", "key", "value", "out"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(projection, names[i], n) != 0) continue;
        const char *kind = projection + n;
        int64_t in = (cross && (i == 1 || i == 2)) ? kv_state : state;
        if (!strcmp(kind, ".weight")) return set_shape(shape, n_dims, 2, state, in, 0);
        if (!strcmp(kind, ".bias") && i != 1) return set_shape(shape, n_dims, 1, state, 0, 0); /* key: no bias */
        return -1;
    }
    return -1;
}

/* "<prefix><index>.<rest>" with a canonical decimal index (no sign, no leading zero), so each
 * tensor has exactly one accepted spelling. Returns the index and sets *rest, or -1. */
static int parse_block_index(const char *name, const char *prefix, const char **rest) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return -1;
    const char *p = name + n;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return -1;
    int index = 0;
    while (*p >= '0' && *p <= '9') {
        index = index * 10 + (*p++ - '0');
        if (index > MAX_LAYERS) return -1;
    }
    if (*p != '.') return -1;
    *rest = p + 1;
    return index;
}

int st_whisper_expected_shape(const st_whisper_dims *d, const char *name, int64_t shape[ST_TENSOR_MAX_DIMS],
                              int *n_dims) {
    int64_t audio = d->n_audio_state, text = d->n_text_state;
    if (!strcmp(name, "mel_filters")) return -1; /* not part of the network; checked by its loader */
    if (!strcmp(name, "encoder.conv1.weight")) return set_shape(shape, n_dims, 3, audio, d->n_mels, 3);
    if (!strcmp(name, "encoder.conv2.weight")) return set_shape(shape, n_dims, 3, audio, audio, 3);
    if (!strcmp(name, "encoder.conv1.bias") || !strcmp(name, "encoder.conv2.bias") ||
        !strcmp(name, "encoder.ln_post.weight") || !strcmp(name, "encoder.ln_post.bias")) {
        return set_shape(shape, n_dims, 1, audio, 0, 0);
    }
    if (!strcmp(name, "encoder.positional_embedding")) return set_shape(shape, n_dims, 2, d->n_audio_ctx, audio, 0);
    if (!strcmp(name, "decoder.positional_embedding")) return set_shape(shape, n_dims, 2, d->n_text_ctx, text, 0);
    if (!strcmp(name, "decoder.token_embedding.weight")) return set_shape(shape, n_dims, 2, d->n_vocab, text, 0);
    if (!strcmp(name, "decoder.ln.weight") || !strcmp(name, "decoder.ln.bias")) {
        return set_shape(shape, n_dims, 1, text, 0, 0);
    }
    const char *rest;
    int layer = parse_block_index(name, "encoder.blocks.", &rest);
    if (layer >= 0) {
        if (layer >= d->n_audio_layer) return -1;
        return block_shape(rest, audio, audio, 0, shape, n_dims);
    }
    layer = parse_block_index(name, "decoder.blocks.", &rest);
    if (layer >= 0) {
        if (layer >= d->n_text_layer) return -1;
        return block_shape(rest, text, audio, 1, shape, n_dims);
    }
    return -1;
}

static steno_status require_present(const st_model *model, const char *name, const char *source, st_error *err) {
    if (st_model_find(model, name)) return STENO_OK;
    return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' is missing", source, name);
}

steno_status st_whisper_check_complete(const st_model *model, const char *source, st_error *err) {
    static const char *const globals[] = {
        "encoder.conv1.weight", "encoder.conv1.bias", "encoder.conv2.weight", "encoder.conv2.bias",
        "encoder.positional_embedding", "encoder.ln_post.weight", "encoder.ln_post.bias",
        "decoder.token_embedding.weight", "decoder.positional_embedding", "decoder.ln.weight", "decoder.ln.bias",
    };
    static const char *const block_parts[] = {
        "attn_ln.weight", "attn_ln.bias", "attn.query.weight", "attn.query.bias", "attn.key.weight",
        "attn.value.weight", "attn.value.bias", "attn.out.weight", "attn.out.bias", "mlp_ln.weight", "mlp_ln.bias",
        "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias",
        /* decoder only, from here */
        "cross_attn_ln.weight", "cross_attn_ln.bias", "cross_attn.query.weight", "cross_attn.query.bias",
        "cross_attn.key.weight", "cross_attn.value.weight", "cross_attn.value.bias", "cross_attn.out.weight",
        "cross_attn.out.bias",
    };
    enum { ENCODER_PARTS = 15, ALL_PARTS = sizeof block_parts / sizeof block_parts[0] };
    steno_status status;
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        if ((status = require_present(model, globals[i], source, err)) != STENO_OK) return status;
    }
    char name[128];
    for (int layer = 0; layer < model->dims.n_audio_layer; layer++) {
        for (int p = 0; p < ENCODER_PARTS; p++) {
            snprintf(name, sizeof name, "encoder.blocks.%d.%s", layer, block_parts[p]);
            if ((status = require_present(model, name, source, err)) != STENO_OK) return status;
        }
    }
    for (int layer = 0; layer < model->dims.n_text_layer; layer++) {
        for (int p = 0; p < ALL_PARTS; p++) {
            snprintf(name, sizeof name, "decoder.blocks.%d.%s", layer, block_parts[p]);
            if ((status = require_present(model, name, source, err)) != STENO_OK) return status;
        }
    }
    return STENO_OK;
}
