/* hf.c — transformers Whisper folders: configuration, shards and canonical tensors (see hf.h). */
#include "models/hf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/hf_names.h"
#include "models/safetensors.h"
#include "models/whisper_layout.h"

enum {
    HF_PATH_SIZE = 4096,
    HF_NAME_SIZE = 128,
    HF_MAX_SHARDS = 1024,
    HF_HEAD_WIDTH = 64, /* every released Whisper has 64-wide attention heads */
    HF_MAX_DIMENSION = 1 << 24,
};
/* Configuration files are small; a bound keeps a hostile one from exhausting memory. */
#define HF_MAX_JSON_BYTES (64u << 20)

static int is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int join(char *out, size_t size, const char *dir, const char *file) {
    int written = snprintf(out, size, "%s/%s", dir, file);
    return written >= 0 && (size_t)written < size;
}

/* Parses a JSON file; STENO_ERR_NOT_FOUND (with a message) when it does not exist. */
static steno_status load_json(const char *path, json_t **out, st_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no such file", path);
    }
    if ((uint64_t)st.st_size > HF_MAX_JSON_BYTES) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: %llu bytes, too large for a configuration file", path,
                            (unsigned long long)st.st_size);
    }
    json_error_t error;
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (*out && json_is_object(*out)) return STENO_OK;
    if (*out) {
        json_decref(*out);
        *out = NULL;
        return st_error_set(err, STENO_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    return st_error_set(err, STENO_ERR_FORMAT, "%s: invalid JSON at line %d, column %d (byte %d): %s", path, error.line,
                        error.column, error.position, error.text);
}

/* ---- config.json ---------------------------------------------------------------------- */

/* A positive integer field, 0 when absent or null. */
static steno_status config_int(const json_t *root, const char *key, const char *path, int *out, st_error *err) {
    const json_t *value = json_object_get(root, key);
    *out = 0;
    if (!value || json_is_null(value)) return STENO_OK;
    if (!json_is_integer(value) || json_integer_value(value) < 1 || json_integer_value(value) > HF_MAX_DIMENSION) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: '%s' is not an integer in [1, %d]", path, key,
                            HF_MAX_DIMENSION);
    }
    *out = (int)json_integer_value(value);
    return STENO_OK;
}

/* What steno's Whisper network assumes and transformers lets a config change. */
static steno_status check_architecture(const json_t *root, const char *path, int d_model, st_error *err) {
    const json_t *type = json_object_get(root, "model_type");
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "whisper") == 0)) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: model_type is not \"whisper\"", path);
    }
    const json_t *activation = json_object_get(root, "activation_function");
    if (activation && !(json_is_string(activation) && strcmp(json_string_value(activation), "gelu") == 0)) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: activation_function is not \"gelu\"", path);
    }
    const json_t *scale = json_object_get(root, "scale_embedding");
    if (scale && !json_is_false(scale)) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: scale_embedding is not false; Whisper does not scale",
                            path);
    }
    static const char *const ffn[2] = {"encoder_ffn_dim", "decoder_ffn_dim"};
    for (int i = 0; i < 2; i++) {
        int width;
        steno_status status = config_int(root, ffn[i], path, &width, err);
        if (status != STENO_OK) return status;
        if (width && d_model && width != 4 * d_model) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED,
                                "%s: %s = %d, but Whisper's feed-forward is 4 x d_model = %d", path, ffn[i], width,
                                4 * d_model);
        }
    }
    return STENO_OK;
}

steno_status st_hf_read_config(const char *path, st_whisper_dims *dims, st_error *err) {
    memset(dims, 0, sizeof *dims);
    json_t *root;
    steno_status status = load_json(path, &root, err);
    if (status != STENO_OK) return status;
    int d_model = 0;
    const struct {
        const char *key;
        int *slot;
    } fields[] = {
        {"d_model", &d_model},
        {"encoder_layers", &dims->n_audio_layer},
        {"encoder_attention_heads", &dims->n_audio_head},
        {"decoder_layers", &dims->n_text_layer},
        {"decoder_attention_heads", &dims->n_text_head},
        {"num_mel_bins", &dims->n_mels},
        {"vocab_size", &dims->n_vocab},
        {"max_source_positions", &dims->n_audio_ctx},
        {"max_target_positions", &dims->n_text_ctx},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && status == STENO_OK; i++) {
        status = config_int(root, fields[i].key, path, fields[i].slot, err);
    }
    dims->n_audio_state = dims->n_text_state = d_model; /* one width for both sides in transformers */
    if (status == STENO_OK) status = check_architecture(root, path, d_model, err);
    json_decref(root);
    if (status != STENO_OK) memset(dims, 0, sizeof *dims);
    return status;
}

/* ---- tensors ---------------------------------------------------------------------------- */

/* One shard: its mapping (when read from a file) and its parsed header. */
typedef struct shard {
    st_mapped_file file;
    st_safetensors parsed;
    const char *source; /* the file's path, for messages */
} shard;

/* A tensor renamed to its canonical name. */
typedef struct item {
    char name[HF_NAME_SIZE];
    const st_safetensors_tensor *tensor;
    const char *source;
} item;

typedef struct loader {
    const char *source; /* the folder or file being loaded, for messages */
    st_error *err;
    shard *shards;
    int n_shards;
    item *items;
    size_t n_items;
    const st_safetensors_tensor *projection; /* proj_out.weight, when stored */
    const char *projection_source;
} loader;

static steno_status collect_items(loader *l) {
    size_t total = 0;
    for (int s = 0; s < l->n_shards; s++)
        total += l->shards[s].parsed.n_tensors;
    l->items = calloc(total ? total : 1, sizeof *l->items);
    if (!l->items) return st_error_set(l->err, STENO_ERR_NO_MEMORY, "%s: out of memory", l->source);
    for (int s = 0; s < l->n_shards; s++) {
        const shard *sh = &l->shards[s];
        for (size_t i = 0; i < sh->parsed.n_tensors; i++) {
            const st_safetensors_tensor *t = &sh->parsed.tensors[i];
            item *it = &l->items[l->n_items];
            int mapped = st_hf_canonical_name(t->name, it->name, sizeof it->name);
            if (mapped < 0) {
                return st_error_set(l->err, STENO_ERR_FORMAT,
                                    "%s: tensor '%.200s' at offset %llu is not part of a transformers Whisper model",
                                    sh->source, t->name, (unsigned long long)t->file_offset);
            }
            if (t->dtype != ST_DTYPE_F16 && t->dtype != ST_DTYPE_BF16 && t->dtype != ST_DTYPE_F32) {
                return st_error_set(l->err, STENO_ERR_UNSUPPORTED,
                                    "%s: tensor '%s' at offset %llu is %s; Whisper weights are F16, BF16 or F32",
                                    sh->source, t->name, (unsigned long long)t->file_offset, t->dtype_name);
            }
            if (mapped == 0) { /* proj_out.weight: the tied output projection */
                if (l->projection) {
                    return st_error_set(l->err, STENO_ERR_FORMAT, "%s: tensor '%s' appears twice", sh->source, t->name);
                }
                l->projection = t;
                l->projection_source = sh->source;
                continue;
            }
            it->tensor = t;
            it->source = sh->source;
            l->n_items++;
        }
    }
    return STENO_OK;
}

static const item *find_item(const loader *l, const char *name) {
    for (size_t i = 0; i < l->n_items; i++) {
        if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
    }
    return NULL;
}

/* One more than the highest block index under prefix ("encoder.blocks."). */
static int count_layers(const loader *l, const char *prefix) {
    size_t length = strlen(prefix);
    long layers = 0;
    for (size_t i = 0; i < l->n_items; i++) {
        if (strncmp(l->items[i].name, prefix, length) != 0) continue;
        long index = strtol(l->items[i].name + length, NULL, 10); /* hf_names admits at most 4 digits */
        if (index + 1 > layers) layers = index + 1;
    }
    return (int)layers;
}

/* The dimensions the shapes imply; config (zeros where it is silent) overrides them, so a
 * config that disagrees with the tensors fails the shape checks that follow. */
static steno_status derive_dims(loader *l, const st_whisper_dims *config, st_whisper_dims *d) {
    static const struct {
        const char *name;
        int n_dims;
    } sources[4] = {{"encoder.conv1.weight", 3},
                    {"encoder.positional_embedding", 2},
                    {"decoder.token_embedding.weight", 2},
                    {"decoder.positional_embedding", 2}};
    const st_safetensors_tensor *t[4];
    for (int i = 0; i < 4; i++) {
        const item *it = find_item(l, sources[i].name);
        if (!it)
            return st_error_set(l->err, STENO_ERR_FORMAT, "%s: tensor '%s' is missing", l->source, sources[i].name);
        t[i] = it->tensor;
        if (t[i]->n_dims != sources[i].n_dims) {
            return st_error_set(l->err, STENO_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d", it->source,
                                t[i]->name, t[i]->n_dims, sources[i].n_dims);
        }
        for (int k = 0; k < t[i]->n_dims; k++) {
            if (t[i]->shape[k] > HF_MAX_DIMENSION) {
                return st_error_set(l->err, STENO_ERR_FORMAT, "%s: tensor '%s' has an implausible size", it->source,
                                    t[i]->name);
            }
        }
    }
    *d = (st_whisper_dims){
        .n_audio_state = (int)t[0]->shape[0],
        .n_mels = (int)t[0]->shape[1],
        .n_audio_ctx = (int)t[1]->shape[0],
        .n_vocab = (int)t[2]->shape[0],
        .n_text_state = (int)t[2]->shape[1],
        .n_text_ctx = (int)t[3]->shape[0],
        .n_audio_layer = count_layers(l, "encoder.blocks."),
        .n_text_layer = count_layers(l, "decoder.blocks."),
    };
    d->n_audio_head = d->n_audio_state / HF_HEAD_WIDTH > 0 ? d->n_audio_state / HF_HEAD_WIDTH : 1;
    d->n_text_head = d->n_text_state / HF_HEAD_WIDTH > 0 ? d->n_text_state / HF_HEAD_WIDTH : 1;
    int *slots[10] = {&d->n_mels,  &d->n_audio_ctx, &d->n_audio_state, &d->n_audio_head, &d->n_audio_layer,
                      &d->n_vocab, &d->n_text_ctx,  &d->n_text_state,  &d->n_text_head,  &d->n_text_layer};
    const int given[10] = {config->n_mels,        config->n_audio_ctx, config->n_audio_state, config->n_audio_head,
                           config->n_audio_layer, config->n_vocab,     config->n_text_ctx,    config->n_text_state,
                           config->n_text_head,   config->n_text_layer};
    for (int i = 0; i < 10; i++) {
        if (given[i]) *slots[i] = given[i];
    }
    return st_whisper_dims_validate(d, l->source, l->err);
}

static void format_shape(char *out, size_t size, int n_dims, const int64_t *shape) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < n_dims && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

/* Checks every tensor against the architecture and fills the model's table. */
static steno_status build_tensors(loader *l, st_model *model) {
    size_t n = l->n_items;
    model->tensors = calloc(n ? n : 1, sizeof *model->tensors);
    char *names = malloc(n ? n * HF_NAME_SIZE : 1);
    model->owned = names;
    if (!model->tensors || !names) return st_error_set(l->err, STENO_ERR_NO_MEMORY, "%s: out of memory", l->source);
    for (size_t i = 0; i < n; i++) {
        const item *it = &l->items[i];
        const st_safetensors_tensor *t = it->tensor;
        int64_t expected[ST_TENSOR_MAX_DIMS];
        int expected_dims;
        if (st_whisper_expected_shape(&model->dims, it->name, expected, &expected_dims) != 0) {
            return st_error_set(l->err, STENO_ERR_FORMAT,
                                "%s: tensor '%s' (%s) does not belong in a model of %d/%d layers", it->source, t->name,
                                it->name, model->dims.n_audio_layer, model->dims.n_text_layer);
        }
        int same = t->n_dims == expected_dims;
        for (int k = 0; same && k < expected_dims; k++)
            same = t->shape[k] == expected[k];
        if (!same) {
            char want[96], have[160];
            format_shape(want, sizeof want, expected_dims, expected);
            format_shape(have, sizeof have, t->n_dims, t->shape);
            return st_error_set(l->err, STENO_ERR_FORMAT, "%s: tensor '%s' at offset %llu has shape %s, expected %s",
                                it->source, t->name, (unsigned long long)t->file_offset, have, want);
        }
        char *name = names + i * HF_NAME_SIZE;
        memcpy(name, it->name, HF_NAME_SIZE);
        st_tensor *out = &model->tensors[model->n_tensors++];
        *out = (st_tensor){
            .name = name, .dtype = t->dtype, .n_dims = expected_dims, .data = t->data, .n_bytes = t->n_bytes};
        memcpy(out->shape, expected, sizeof out->shape);
    }
    return st_model_check_unique_names(model, l->source, l->err);
}

/* transformers ties proj_out to the token embedding; a stored copy must be that embedding. */
static steno_status check_projection(const loader *l, const st_model *model) {
    if (!l->projection) return STENO_OK;
    const st_tensor *embedding = st_model_find(model, "decoder.token_embedding.weight");
    const st_safetensors_tensor *p = l->projection;
    int same = embedding && p->dtype == embedding->dtype && p->n_dims == 2 && p->shape[0] == embedding->shape[0] &&
               p->shape[1] == embedding->shape[1] && p->n_bytes == embedding->n_bytes &&
               memcmp(p->data, embedding->data, p->n_bytes) == 0;
    if (same) return STENO_OK;
    return st_error_set(l->err, STENO_ERR_UNSUPPORTED,
                        "%s: 'proj_out.weight' at offset %llu differs from the token embedding; Whisper ties them",
                        l->projection_source, (unsigned long long)p->file_offset);
}

static steno_status map_model(loader *l, const st_whisper_dims *config, st_model *model) {
    steno_status status = collect_items(l);
    if (status == STENO_OK) status = derive_dims(l, config, &model->dims);
    if (status == STENO_OK) status = build_tensors(l, model);
    if (status == STENO_OK) status = check_projection(l, model);
    if (status == STENO_OK) status = st_whisper_check_complete(model, l->source, l->err);
    return status;
}

static steno_status set_format(st_model *model, const char *source, st_error *err) {
    model->file_type = -1;
    if (!(model->format = strdup("safetensors")))
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", source);
    return STENO_OK;
}

steno_status st_hf_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    shard one = {.source = name};
    loader l = {.source = name, .err = err, .shards = &one, .n_shards = 1};
    static const st_whisper_dims no_config;
    steno_status status = st_safetensors_parse(data, size, name, &one.parsed, err);
    if (status == STENO_OK) status = map_model(&l, &no_config, out);
    if (status == STENO_OK) status = set_format(out, name, err);
    free(l.items);
    st_safetensors_free(&one.parsed);
    if (status != STENO_OK) st_model_free(out);
    return status;
}

/* ---- the folder ------------------------------------------------------------------------ */

static steno_status open_shard(const char *path, shard *out, st_error *err) {
    steno_status status = st_mapped_file_open(&out->file, path, err);
    if (status != STENO_OK) return status;
    out->source = out->file.path;
    return st_safetensors_parse(out->file.data, out->file.size, out->source, &out->parsed, err);
}

/* A shard's file name from the index: a plain name in the same folder, never a path. */
static int plain_file_name(const char *name) {
    size_t n = strlen(name);
    return n > 0 && n < 256 && !strchr(name, '/') && !strchr(name, '\\') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

static const st_safetensors_tensor *find_in_shard(const shard *s, const char *name) {
    for (size_t i = 0; i < s->parsed.n_tensors; i++) {
        if (strcmp(s->parsed.tensors[i].name, name) == 0) return &s->parsed.tensors[i];
    }
    return NULL;
}

/* model.safetensors.index.json: opens each shard its weight_map names, and checks that map
 * and shards agree tensor for tensor. */
static steno_status open_sharded(loader *l, const char *dir, const char *index_path) {
    json_t *root;
    steno_status status = load_json(index_path, &root, l->err);
    if (status != STENO_OK) return status;
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0) {
        json_decref(root);
        return st_error_set(l->err, STENO_ERR_FORMAT, "%s: 'weight_map' is not a non-empty object", index_path);
    }
    const char *key;
    json_t *value;
    const char *files[HF_MAX_SHARDS];
    int n_files = 0;
    json_object_foreach(map, key, value) {
        const char *file = json_string_value(value);
        if (!file || !plain_file_name(file)) {
            status =
                st_error_set(l->err, STENO_ERR_FORMAT,
                             "%s: weight_map['%.200s'] is not the name of a file in the same folder", index_path, key);
            break;
        }
        int known = 0;
        for (int i = 0; i < n_files && !known; i++)
            known = strcmp(files[i], file) == 0;
        if (known) continue;
        if (n_files == HF_MAX_SHARDS) {
            status = st_error_set(l->err, STENO_ERR_FORMAT, "%s: more than %d shards", index_path, HF_MAX_SHARDS);
            break;
        }
        files[n_files++] = file;
    }
    if (status == STENO_OK && !(l->shards = calloc((size_t)n_files, sizeof *l->shards))) {
        status = st_error_set(l->err, STENO_ERR_NO_MEMORY, "%s: out of memory", index_path);
    }
    for (int i = 0; i < n_files && status == STENO_OK; i++) {
        char path[HF_PATH_SIZE];
        if (!join(path, sizeof path, dir, files[i])) {
            status = st_error_set(l->err, STENO_ERR_INVALID_ARGUMENT, "%s: path too long", index_path);
            break;
        }
        l->n_shards++;
        status = open_shard(path, &l->shards[i], l->err);
    }
    /* every mapped name is in its shard; names are unique within a shard (the JSON parser
     * refuses duplicate keys), so equal counts leave no tensor outside the map */
    size_t in_shards = 0;
    for (int i = 0; i < l->n_shards && status == STENO_OK; i++)
        in_shards += l->shards[i].parsed.n_tensors;
    json_object_foreach(map, key, value) {
        if (status != STENO_OK) break;
        int i = 0;
        while (strcmp(files[i], json_string_value(value)) != 0)
            i++;
        if (!find_in_shard(&l->shards[i], key)) {
            status =
                st_error_set(l->err, STENO_ERR_FORMAT, "%s: weight_map puts '%.200s' in %s, which does not hold it",
                             index_path, key, files[i]);
        }
    }
    if (status == STENO_OK && in_shards != json_object_size(map)) {
        status = st_error_set(l->err, STENO_ERR_FORMAT, "%s: the shards hold %zu tensors but weight_map names %zu",
                              index_path, in_shards, json_object_size(map));
    }
    json_decref(root);
    return status;
}

/* generation_config.json's alignment_heads: [[decoder layer, head], …], each in range. */
static steno_status read_generation_config(const char *path, st_model *model, st_error *err) {
    json_t *root;
    steno_status status = load_json(path, &root, err);
    if (status == STENO_ERR_NOT_FOUND) {
        st_error_clear(err);
        return STENO_OK;
    }
    if (status != STENO_OK) return status;
    json_t *heads = json_object_get(root, "alignment_heads");
    const st_whisper_dims *d = &model->dims;
    size_t n = json_is_array(heads) ? json_array_size(heads) : 0;
    if (heads && !json_is_null(heads) && !json_is_array(heads)) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: alignment_heads is not a list", path);
    } else if (n > (size_t)d->n_text_layer * (size_t)d->n_text_head) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: %zu alignment heads, more than the decoder's %d", path, n,
                              d->n_text_layer * d->n_text_head);
    } else if (n > 0 && !(model->alignment_heads = malloc(2 * n * sizeof *model->alignment_heads))) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n && status == STENO_OK; i++) {
        json_t *pair = json_array_get(heads, i);
        json_t *layer = json_array_get(pair, 0), *head = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(layer) || !json_is_integer(head) ||
            json_integer_value(layer) < 0 || json_integer_value(layer) >= d->n_text_layer ||
            json_integer_value(head) < 0 || json_integer_value(head) >= d->n_text_head) {
            status = st_error_set(err, STENO_ERR_FORMAT,
                                  "%s: alignment_heads[%zu] is not a [layer, head] pair within %d layers of %d heads",
                                  path, i, d->n_text_layer, d->n_text_head);
            break;
        }
        model->alignment_heads[2 * i] = (int)json_integer_value(layer);
        model->alignment_heads[2 * i + 1] = (int)json_integer_value(head);
    }
    if (status == STENO_OK) model->n_alignment_heads = (int)n;
    json_decref(root);
    return status;
}

/* preprocessor_config.json's feature_size is the mel bins the features have; it must be what
 * the first convolution takes. */
static steno_status check_preprocessor(const char *path, const st_model *model, st_error *err) {
    json_t *root;
    steno_status status = load_json(path, &root, err);
    if (status == STENO_ERR_NOT_FOUND) {
        st_error_clear(err);
        return STENO_OK;
    }
    if (status != STENO_OK) return status;
    json_t *size = json_object_get(root, "feature_size");
    if (size && (!json_is_integer(size) || json_integer_value(size) != model->dims.n_mels)) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: feature_size is not %d, the mel bins the model takes", path,
                              model->dims.n_mels);
    }
    json_decref(root);
    return status;
}

/* The files beside the weights: generation and preprocessor configuration, vocabulary. */
static steno_status read_folder_files(const char *dir, st_model *model, st_error *err) {
    char path[HF_PATH_SIZE];
    if (!join(path, sizeof path, dir, "generation_config.json")) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    }
    steno_status status = read_generation_config(path, model, err);
    if (status != STENO_OK) return status;
    join(path, sizeof path, dir, "preprocessor_config.json");
    if ((status = check_preprocessor(path, model, err)) != STENO_OK) return status;
    static const char *const vocabularies[] = {"vocab.json", "tokenizer.json"};
    for (size_t i = 0; i < 2 && !model->vocabulary_path; i++) {
        join(path, sizeof path, dir, vocabularies[i]);
        if (is_regular_file(path) && !(model->vocabulary_path = strdup(path))) {
            return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", dir);
        }
    }
    return STENO_OK;
}

/* Hands the shards' mappings to the model: the first as model->file, the rest as extra_files. */
static steno_status adopt_mappings(loader *l, st_model *model) {
    if (l->n_shards > 1) {
        model->extra_files = calloc((size_t)l->n_shards - 1, sizeof *model->extra_files);
        if (!model->extra_files) return st_error_set(l->err, STENO_ERR_NO_MEMORY, "%s: out of memory", l->source);
        for (int i = 1; i < l->n_shards; i++) {
            model->extra_files[i - 1] = l->shards[i].file;
            memset(&l->shards[i].file, 0, sizeof l->shards[i].file);
        }
        model->n_extra_files = l->n_shards - 1;
    }
    model->file = l->shards[0].file;
    memset(&l->shards[0].file, 0, sizeof l->shards[0].file);
    return STENO_OK;
}

steno_status st_hf_load(const char *path, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no such file or folder", path);
    char dir[HF_PATH_SIZE], file_path[HF_PATH_SIZE];
    int written;
    if (S_ISDIR(st.st_mode)) {
        written = snprintf(dir, sizeof dir, "%s", path);
    } else { /* a .safetensors file: the configuration is beside it */
        const char *slash = strrchr(path, '/');
        written = slash == path ? snprintf(dir, sizeof dir, "/")
                  : slash       ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path)
                                : snprintf(dir, sizeof dir, ".");
    }
    if (written < 0 || (size_t)written >= sizeof dir - 64) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", path);
    }
    loader l = {.source = path, .err = err};
    shard single = {0};
    steno_status status = STENO_OK;
    if (!S_ISDIR(st.st_mode)) {
        l.shards = &single;
        l.n_shards = 1;
        status = open_shard(path, &single, err);
    } else if (join(file_path, sizeof file_path, dir, "model.safetensors"), is_regular_file(file_path)) {
        l.shards = &single;
        l.n_shards = 1;
        status = open_shard(file_path, &single, err);
    } else if (join(file_path, sizeof file_path, dir, "model.safetensors.index.json"), is_regular_file(file_path)) {
        status = open_sharded(&l, dir, file_path);
    } else {
        status =
            st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", path);
    }
    st_whisper_dims config = {0};
    if (status == STENO_OK) {
        join(file_path, sizeof file_path, dir, "config.json");
        status = st_hf_read_config(file_path, &config, err);
        if (status == STENO_ERR_NOT_FOUND) {
            st_error_clear(err);
            status = STENO_OK;
        }
    }
    if (status == STENO_OK) status = map_model(&l, &config, out);
    if (status == STENO_OK) status = set_format(out, path, err);
    if (status == STENO_OK) status = adopt_mappings(&l, out);
    if (status == STENO_OK) status = read_folder_files(dir, out, err);
    free(l.items);
    for (int i = 0; i < l.n_shards; i++) {
        st_safetensors_free(&l.shards[i].parsed);
        st_mapped_file_close(&l.shards[i].file);
    }
    if (l.shards != &single) free(l.shards);
    if (status != STENO_OK) st_model_free(out);
    return status;
}

int st_hf_is_model_dir(const char *dir) {
    char path[HF_PATH_SIZE];
    if (join(path, sizeof path, dir, "model.safetensors.index.json") && is_regular_file(path)) return 1;
    if (!join(path, sizeof path, dir, "model.safetensors")) return 0;
    uint8_t head[16];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(head, 1, sizeof head, f);
    struct stat st;
    int ok = fstat(fileno(f), &st) == 0 && st_safetensors_detect(head, n, (uint64_t)st.st_size);
    fclose(f);
    return ok;
}
