/*
 * pt.c — torch.save archives (zip + pickle) and the Whisper checkpoints stored in them.
 *
 * st_torch_open finds the archive's single top-level folder by its data.pkl, checks the byte
 * order, and unpickles; st_torch_tensor turns a pickled tensor reference into a pointer into
 * the mapping after checking its storage entry, dtype, contiguity and bounds. st_pt_load maps
 * the two checkpoint layouts steno meets (openai-whisper's and HF's legacy state dict) onto
 * canonical tensors and validates every shape against the model's dimensions.
 */
#include "models/pt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/hf.h"
#include "models/hf_names.h"
#include "models/whisper_layout.h"

enum {
    MAX_NAME_LENGTH = 200,
    MAX_KEY_LENGTH = 64,
    HF_HEAD_WIDTH = 64, /* every released Whisper size has 64-wide attention heads */
};

/* ---- the archive ---- */

steno_status st_torch_open(const uint8_t *data, size_t size, const char *source, st_torch_file *out, st_error *err) {
    memset(out, 0, sizeof *out);
    out->source = source;
    if (!st_zip_is_archive(data, size)) {
        if (size >= 2 && data[0] == 0x80 && data[1] <= 5) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED,
                                "%s: a torch checkpoint in the legacy (pre-1.6, non-zip) format; re-save it with "
                                "torch.save from a current torch",
                                source);
        }
        return st_error_set(err, STENO_ERR_FORMAT, "%s: not a torch.save archive (no ZIP signature at offset 0)",
                            source);
    }
    steno_status status = st_zip_open(data, size, source, &out->zip, err);
    if (status != STENO_OK) return status;

    /* The pickle sits in exactly one top-level folder, whatever its name. */
    const st_zip_entry *pickle_entry = NULL;
    for (size_t i = 0; i < out->zip.n_entries; i++) {
        const char *name = out->zip.entries[i].name, *slash = strchr(name, '/');
        if (!slash || strcmp(slash + 1, "data.pkl") != 0) continue;
        if (pickle_entry) {
            status =
                st_error_set(err, STENO_ERR_FORMAT, "%s: two pickles, '%s' and '%s'", source, pickle_entry->name, name);
            break;
        }
        pickle_entry = &out->zip.entries[i];
        size_t prefix_length = (size_t)(slash - name) + 1;
        if (prefix_length >= sizeof out->prefix) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: top-level folder name of %zu bytes is too long", source,
                                  prefix_length);
            break;
        }
        memcpy(out->prefix, name, prefix_length);
        out->prefix[prefix_length] = '\0';
    }
    if (status == STENO_OK && !pickle_entry) {
        status = st_error_set(err, STENO_ERR_FORMAT,
                              "%s: a ZIP archive without <folder>/data.pkl: not a torch.save file", source);
    }
    char name[sizeof out->prefix + 16];
    if (status == STENO_OK) {
        snprintf(name, sizeof name, "%sbyteorder", out->prefix);
        const st_zip_entry *order = st_zip_find(&out->zip, name);
        /* Files from before torch wrote this entry are little-endian. */
        if (order && !(order->method == ST_ZIP_STORED && order->size == 6 && memcmp(order->data, "little", 6) == 0)) {
            status = st_error_set(err, STENO_ERR_UNSUPPORTED,
                                  "%s: entry '%s' does not say 'little': steno reads little-endian tensors only",
                                  source, name);
        }
    }
    if (status == STENO_OK && pickle_entry->method != ST_ZIP_STORED) {
        status = st_error_set(err, STENO_ERR_UNSUPPORTED,
                              "%s: entry '%s' is compressed (ZIP method %u); torch.save stores entries uncompressed",
                              source, pickle_entry->name, pickle_entry->method);
    }
    if (status == STENO_OK) {
        char pickle_source[1024];
        snprintf(pickle_source, sizeof pickle_source, "%s: %s", source, pickle_entry->name);
        status = st_pickle_load(pickle_entry->data, (size_t)pickle_entry->size, pickle_source, &out->pickle, err);
    }
    if (status != STENO_OK) st_torch_close(out);
    return status;
}

void st_torch_close(st_torch_file *file) {
    st_pickle_free(&file->pickle);
    st_zip_close(&file->zip);
}

/* The element type of a torch storage class, by its pickled name. */
static int storage_dtype(const st_pickle_object *storage_class, st_dtype *dtype) {
    static const struct {
        const char *name;
        st_dtype dtype;
    } table[] = {
        {"HalfStorage", ST_DTYPE_F16}, {"FloatStorage", ST_DTYPE_F32}, {"BFloat16Storage", ST_DTYPE_BF16},
        {"LongStorage", ST_DTYPE_I64}, {"IntStorage", ST_DTYPE_I32},   {"ShortStorage", ST_DTYPE_I16},
        {"CharStorage", ST_DTYPE_I8},  {"ByteStorage", ST_DTYPE_U8},   {"BoolStorage", ST_DTYPE_U8},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (st_pickle_is_global(storage_class, "torch", table[i].name)) {
            *dtype = table[i].dtype;
            return 1;
        }
    }
    return 0;
}

steno_status st_torch_tensor(const st_torch_file *file, const st_pickle_object *tensor, const char *name,
                             st_torch_tensor_view *out, st_error *err) {
    const char *source = file->source;
    if (!tensor || tensor->kind != ST_PICKLE_TENSOR) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: '%s' is a %s, not a tensor", source, name,
                            tensor ? st_pickle_kind_name(tensor->kind) : "missing value");
    }
    const st_pickle_object *storage = tensor->as.tensor.storage;
    const st_pickle_object *storage_class = storage->as.storage.storage_class;
    if (!storage_dtype(storage_class, &out->dtype)) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED,
                            "%s: tensor '%s' is stored as %s.%s, a type steno does not read", source, name,
                            storage_class->as.global.module, storage_class->as.global.name);
    }
    const char *key = storage->as.storage.key;
    if (strlen(key) == 0 || strlen(key) > MAX_KEY_LENGTH || strchr(key, '/')) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' names storage '%.64s', not a plain key", source,
                            name, key);
    }
    char entry_name[sizeof file->prefix + MAX_KEY_LENGTH + 8];
    snprintf(entry_name, sizeof entry_name, "%sdata/%s", file->prefix, key);
    const st_zip_entry *entry = st_zip_find(&file->zip, entry_name);
    if (!entry) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' refers to entry '%s', which is missing", source,
                            name, entry_name);
    }
    if (entry->method != ST_ZIP_STORED) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED,
                            "%s: entry '%s' of tensor '%s' is compressed (ZIP method %u); torch.save stores tensors "
                            "uncompressed so they can be mapped in place",
                            source, entry_name, name, entry->method);
    }
    size_t element = st_dtype_bytes(out->dtype, 1);
    uint64_t numel = (uint64_t)storage->as.storage.numel;
    if (numel > entry->size / element) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: storage '%s' declares %llu elements of %zu bytes but entry '%s' holds %llu bytes",
                            source, key, (unsigned long long)numel, element, entry_name,
                            (unsigned long long)entry->size);
    }
    /* Row-major contiguity: each stride is the product of the sizes after it (a dimension of
     * size 1 may carry any stride, since it is never stepped over; an empty tensor has no
     * layout to check). */
    int n_dims = tensor->as.tensor.n_dims;
    uint64_t n_elements = 1;
    for (int i = 0; i < n_dims; i++) {
        out->shape[i] = tensor->as.tensor.shape[i];
        if (out->shape[i] == 0) n_elements = 0;
    }
    for (int i = n_dims - 1; i >= 0 && n_elements != 0; i--) {
        int64_t size = tensor->as.tensor.shape[i], stride = tensor->as.tensor.stride[i];
        if (size != 1 && (uint64_t)stride != n_elements) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED,
                                "%s: tensor '%s' is not contiguous (dimension %d has stride %lld, expected %llu); "
                                "save it after .contiguous()",
                                source, name, i, (long long)stride, (unsigned long long)n_elements);
        }
        if (n_elements > numel / (uint64_t)size) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' is larger than its storage of %llu elements",
                                source, name, (unsigned long long)numel);
        }
        n_elements *= (uint64_t)size;
    }
    uint64_t offset = (uint64_t)tensor->as.tensor.offset;
    if (offset > numel || n_elements > numel - offset) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: tensor '%s' spans elements %llu..%llu of storage '%s', which has %llu", source, name,
                            (unsigned long long)offset, (unsigned long long)(offset + n_elements), key,
                            (unsigned long long)numel);
    }
    out->n_dims = n_dims;
    out->data = entry->data + offset * element;
    out->n_bytes = (size_t)(n_elements * element);
    return STENO_OK;
}

/* ---- Whisper checkpoints ---- */

typedef struct loader {
    st_torch_file file;
    const char *source;
    st_error *err;
    int heads_from_config[2]; /* encoder, decoder; 0 when there is no config.json */
} loader;

static steno_status read_dims(loader *l, const st_pickle_object *dims, st_whisper_dims *out) {
    static const char *const fields[10] = {"n_mels",  "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                                           "n_vocab", "n_text_ctx",  "n_text_state",  "n_text_head",  "n_text_layer"};
    int *slots[10] = {&out->n_mels,  &out->n_audio_ctx, &out->n_audio_state, &out->n_audio_head, &out->n_audio_layer,
                      &out->n_vocab, &out->n_text_ctx,  &out->n_text_state,  &out->n_text_head,  &out->n_text_layer};
    if (!dims || dims->kind != ST_PICKLE_DICT) {
        return st_error_set(l->err, STENO_ERR_FORMAT, "%s: the checkpoint's 'dims' is not a dict", l->source);
    }
    for (int i = 0; i < 10; i++) {
        const st_pickle_object *v = st_pickle_dict_get(dims, fields[i]);
        if (!v || v->kind != ST_PICKLE_INT || v->as.integer < 0 || v->as.integer > 1 << 30) {
            return st_error_set(l->err, STENO_ERR_FORMAT, "%s: dims['%s'] is missing or not a small integer", l->source,
                                fields[i]);
        }
        *slots[i] = (int)v->as.integer;
    }
    return st_whisper_dims_validate(out, l->source, l->err);
}

/* One state-dict entry, renamed and resolved. */
typedef struct item {
    char name[MAX_NAME_LENGTH + 1];
    st_torch_tensor_view view;
} item;

/* Resolves every entry of the state dict: openai names as they are, HF names renamed (HF
 * entries without a canonical counterpart are dropped). */
static steno_status collect_items(loader *l, const st_pickle_object *state, int hf, item **out, size_t *count) {
    size_t n_pairs = state->as.sequence.count / 2;
    item *items = calloc(n_pairs ? n_pairs : 1, sizeof *items);
    if (!items) return st_error_set(l->err, STENO_ERR_NO_MEMORY, "%s: out of memory", l->source);
    size_t n = 0;
    steno_status status = STENO_OK;
    for (size_t i = 0; i < n_pairs && status == STENO_OK; i++) {
        const st_pickle_object *key = state->as.sequence.items[2 * i], *value = state->as.sequence.items[2 * i + 1];
        if (!st_pickle_is_text(key) || key->as.string.length > MAX_NAME_LENGTH) {
            status =
                st_error_set(l->err, STENO_ERR_FORMAT, "%s: state dict key %zu is not a tensor name", l->source, i);
            break;
        }
        const char *name = key->as.string.bytes;
        item *it = &items[n];
        if (hf) {
            int mapped = st_hf_canonical_name(name, it->name, sizeof it->name);
            if (mapped == 0) continue;
            if (mapped < 0) {
                status = st_error_set(l->err, STENO_ERR_FORMAT, "%s: '%s' is not a tensor of a Whisper model",
                                      l->source, name);
                break;
            }
        } else {
            memcpy(it->name, name, key->as.string.length + 1);
        }
        status = st_torch_tensor(&l->file, value, name, &it->view, l->err);
        if (status == STENO_OK && it->view.dtype != ST_DTYPE_F16 && it->view.dtype != ST_DTYPE_F32 &&
            it->view.dtype != ST_DTYPE_BF16) {
            status =
                st_error_set(l->err, STENO_ERR_FORMAT, "%s: tensor '%s' is %s; Whisper weights are f16, bf16 or f32",
                             l->source, name, st_dtype_name(it->view.dtype));
        }
        n++;
    }
    if (status != STENO_OK) {
        free(items);
        return status;
    }
    *out = items;
    *count = n;
    return STENO_OK;
}

static const item *find_item(const item *items, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].name, name) == 0) return &items[i];
    }
    return NULL;
}

/* A layer count: one more than the highest block index under prefix. */
static int count_layers(const item *items, size_t n, const char *prefix) {
    int layers = 0;
    size_t length = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(items[i].name, prefix, length) != 0) continue;
        long index = strtol(items[i].name + length, NULL, 10);
        if (index >= 0 && index < 1 << 16 && index + 1 > layers) layers = (int)index + 1;
    }
    return layers;
}

/* HF state dicts carry no dimensions: they follow from the shapes (and the head counts from
 * config.json, or the 64-wide heads of every released size). */
static steno_status infer_dims(loader *l, const item *items, size_t n, st_whisper_dims *d) {
    static const struct {
        const char *name;
        int n_dims;
    } sources[4] = {{"encoder.conv1.weight", 3},
                    {"encoder.positional_embedding", 2},
                    {"decoder.token_embedding.weight", 2},
                    {"decoder.positional_embedding", 2}};
    const item *found[4];
    for (int i = 0; i < 4; i++) {
        found[i] = find_item(items, n, sources[i].name);
        if (!found[i] || found[i]->view.n_dims != sources[i].n_dims) {
            return st_error_set(l->err, STENO_ERR_FORMAT,
                                "%s: tensor '%s' is missing or misshapen: cannot size the model", l->source,
                                sources[i].name);
        }
        for (int k = 0; k < sources[i].n_dims; k++) {
            if (found[i]->view.shape[k] > 1 << 30) {
                return st_error_set(l->err, STENO_ERR_FORMAT, "%s: tensor '%s' has an implausible size", l->source,
                                    sources[i].name);
            }
        }
    }
    d->n_audio_state = (int)found[0]->view.shape[0];
    d->n_mels = (int)found[0]->view.shape[1];
    d->n_audio_ctx = (int)found[1]->view.shape[0];
    d->n_vocab = (int)found[2]->view.shape[0];
    d->n_text_state = (int)found[2]->view.shape[1];
    d->n_text_ctx = (int)found[3]->view.shape[0];
    d->n_audio_layer = count_layers(items, n, "encoder.blocks.");
    d->n_text_layer = count_layers(items, n, "decoder.blocks.");
    d->n_audio_head = l->heads_from_config[0] ? l->heads_from_config[0] : d->n_audio_state / HF_HEAD_WIDTH;
    d->n_text_head = l->heads_from_config[1] ? l->heads_from_config[1] : d->n_text_state / HF_HEAD_WIDTH;
    return st_whisper_dims_validate(d, l->source, l->err);
}

/* Checks every item against the architecture and fills the model's tensor table. */
static steno_status build_tensors(loader *l, const item *items, size_t n, st_model *model) {
    size_t name_bytes = 0;
    for (size_t i = 0; i < n; i++)
        name_bytes += strlen(items[i].name) + 1;
    model->tensors = calloc(n ? n : 1, sizeof *model->tensors);
    char *names = malloc(name_bytes ? name_bytes : 1);
    model->owned = names;
    if (!model->tensors || !names) return st_error_set(l->err, STENO_ERR_NO_MEMORY, "%s: out of memory", l->source);
    for (size_t i = 0; i < n; i++) {
        const item *it = &items[i];
        int64_t expected[ST_TENSOR_MAX_DIMS];
        int expected_dims;
        if (st_whisper_expected_shape(&model->dims, it->name, expected, &expected_dims) != 0) {
            return st_error_set(l->err, STENO_ERR_FORMAT, "%s: unexpected tensor '%s' for these dimensions", l->source,
                                it->name);
        }
        int same = it->view.n_dims == expected_dims;
        for (int k = 0; same && k < expected_dims; k++)
            same = it->view.shape[k] == expected[k];
        if (!same) {
            return st_error_set(l->err, STENO_ERR_FORMAT,
                                "%s: tensor '%s' has a shape that does not match the model's dimensions", l->source,
                                it->name);
        }
        size_t length = strlen(it->name) + 1;
        memcpy(names, it->name, length);
        st_tensor *t = &model->tensors[model->n_tensors++];
        *t = (st_tensor){.name = names,
                         .dtype = it->view.dtype,
                         .n_dims = expected_dims,
                         .data = it->view.data,
                         .n_bytes = it->view.n_bytes};
        memcpy(t->shape, expected, sizeof t->shape);
        names += length;
    }
    return st_model_check_unique_names(model, l->source, l->err);
}

/* What the pickled root is, for the message refusing it. */
static void describe(const st_pickle_object *o, char *out, size_t size) {
    if (o->kind == ST_PICKLE_OPAQUE && o->as.opaque.callable->kind == ST_PICKLE_GLOBAL) {
        snprintf(out, size, "an object built by %.100s.%.100s", o->as.opaque.callable->as.global.module,
                 o->as.opaque.callable->as.global.name);
    } else {
        snprintf(out, size, "a %s", st_pickle_kind_name(o->kind));
    }
}

static steno_status load_whisper(loader *l, st_model *out) {
    const st_pickle_object *root = l->file.pickle.root;
    const st_pickle_object *state = st_pickle_dict_get(root, "model_state_dict");
    int hf = 0;
    steno_status status;
    if (state) {
        if (state->kind != ST_PICKLE_DICT) {
            return st_error_set(l->err, STENO_ERR_FORMAT, "%s: 'model_state_dict' is a %s, not a dict", l->source,
                                st_pickle_kind_name(state->kind));
        }
        if ((status = read_dims(l, st_pickle_dict_get(root, "dims"), &out->dims)) != STENO_OK) return status;
    } else if (root->kind == ST_PICKLE_DICT && root->as.sequence.count >= 2 &&
               root->as.sequence.items[1]->kind == ST_PICKLE_TENSOR) {
        state = root; /* a bare state dict: HF's pytorch_model.bin */
        hf = 1;
    } else {
        char what[256];
        describe(root, what, sizeof what);
        return st_error_set(l->err, STENO_ERR_FORMAT,
                            "%s: not a Whisper checkpoint: the pickled object is %s, not openai-whisper's {'dims', "
                            "'model_state_dict'} or a state dict",
                            l->source, what);
    }
    item *items = NULL;
    size_t n = 0;
    status = collect_items(l, state, hf, &items, &n);
    if (status == STENO_OK && hf) status = infer_dims(l, items, n, &out->dims);
    if (status == STENO_OK) status = build_tensors(l, items, n, out);
    if (status == STENO_OK) status = st_whisper_check_complete(out, l->source, l->err);
    free(items);
    return status;
}

static steno_status load(const uint8_t *data, size_t size, const char *name, const int heads[2], st_model *out,
                         st_error *err) {
    memset(out, 0, sizeof *out);
    out->file_type = -1;
    loader l = {.source = name, .err = err, .heads_from_config = {heads[0], heads[1]}};
    steno_status status = st_torch_open(data, size, name, &l.file, err);
    if (status != STENO_OK) return status;
    status = load_whisper(&l, out);
    st_torch_close(&l.file);
    if (status == STENO_OK && !(out->format = strdup("pt"))) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", name);
    }
    if (status != STENO_OK) st_model_free(out);
    return status;
}

steno_status st_pt_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err) {
    static const int no_heads[2] = {0, 0};
    return load(data, size, name, no_heads, out, err);
}

/* Head counts from an HF config.json beside the weights, when there is one (read by hf.c,
 * which owns transformers' configuration). */
static steno_status read_config_heads(const char *path, int heads[2], st_error *err) {
    heads[0] = heads[1] = 0;
    const char *slash = strrchr(path, '/');
    char config[4096];
    int written = slash ? snprintf(config, sizeof config, "%.*s/config.json", (int)(slash - path), path)
                        : snprintf(config, sizeof config, "config.json");
    if (written < 0 || (size_t)written >= sizeof config) return STENO_OK;
    st_whisper_dims dims;
    steno_status status = st_hf_read_config(config, &dims, err);
    if (status == STENO_ERR_NOT_FOUND) {
        st_error_clear(err);
        return STENO_OK;
    }
    heads[0] = dims.n_audio_head;
    heads[1] = dims.n_text_head;
    return status;
}

steno_status st_pt_load(const char *path, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    int heads[2];
    steno_status status = read_config_heads(path, heads, err);
    if (status != STENO_OK) return status;
    st_mapped_file file;
    if ((status = st_mapped_file_open(&file, path, err)) != STENO_OK) return status;
    status = load(file.data, file.size, path, heads, out, err);
    if (status != STENO_OK) {
        st_mapped_file_close(&file);
        return status;
    }
    out->file = file; /* the model owns the mapping from here */
    return STENO_OK;
}
