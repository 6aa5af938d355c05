/*
 * pyannote.c — pyannote.audio checkpoints as tensor sets (see pyannote.h).
 *
 * The torch archive and its pickle are read by pt.c's st_torch_open / st_torch_tensor, which
 * bound-check every storage; here the pickled tree is walked: the "pyannote.audio" entry must
 * name the expected architecture class, and every "state_dict" entry must be a tensor whose
 * name is text. Integer tensors (BatchNorm's num_batches_tracked) are kept like the others;
 * the nets never ask for them.
 */
#include "models/pyannote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/loader.h"
#include "models/pt.h"

#define MAX_NAME_LENGTH 255

static const char *text_of(const st_pickle_object *object) {
    return object && st_pickle_is_text(object) ? object->as.string.bytes : NULL;
}

/* The architecture class pyannote.audio recorded ("architecture", or "model" before 3.0). */
static steno_status check_architecture(const st_pickle_object *root, const char *source, const char *class_name,
                                       st_error *err) {
    const st_pickle_object *meta = st_pickle_dict_get(root, "pyannote.audio");
    if (!meta || meta->kind != ST_PICKLE_DICT) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: not a pyannote.audio checkpoint (no 'pyannote.audio' entry)",
                            source);
    }
    const st_pickle_object *architecture = st_pickle_dict_get(meta, "architecture");
    if (!architecture) architecture = st_pickle_dict_get(meta, "model");
    const char *found = text_of(st_pickle_dict_get(architecture, "class"));
    if (!found) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: the pyannote.audio entry names no architecture class", source);
    }
    if (strcmp(found, class_name) != 0) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: a pyannote.audio %.80s checkpoint, not %s", source, found,
                            class_name);
    }
    return STENO_OK;
}

static steno_status build(const st_torch_file *file, const st_pickle_object *state, const char *source, st_model *out,
                          st_error *err) {
    size_t n_pairs = state->as.sequence.count / 2, name_bytes = 0;
    for (size_t i = 0; i < n_pairs; i++) {
        const st_pickle_object *key = state->as.sequence.items[2 * i];
        if (!st_pickle_is_text(key) || key->as.string.length > MAX_NAME_LENGTH) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: state_dict key %zu is not a tensor name", source, i);
        }
        name_bytes += key->as.string.length + 1;
    }
    out->tensors = calloc(n_pairs ? n_pairs : 1, sizeof *out->tensors);
    char *names = malloc(name_bytes ? name_bytes : 1);
    out->owned = names;
    if (!out->tensors || !names) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", source);
    for (size_t i = 0; i < n_pairs; i++) {
        const st_pickle_object *key = state->as.sequence.items[2 * i];
        st_torch_tensor_view view;
        steno_status status =
            st_torch_tensor(file, state->as.sequence.items[2 * i + 1], key->as.string.bytes, &view, err);
        if (status != STENO_OK) return status;
        if (view.n_dims > ST_TENSOR_MAX_DIMS) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (at most %d expected)",
                                source, key->as.string.bytes, view.n_dims, ST_TENSOR_MAX_DIMS);
        }
        for (int d = 0; d < view.n_dims; d++) {
            if (view.shape[d] == 0) {
                return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' has no elements (dimension %d is 0)",
                                    source, key->as.string.bytes, d);
            }
        }
        memcpy(names, key->as.string.bytes, key->as.string.length + 1);
        st_tensor *t = &out->tensors[out->n_tensors++];
        *t = (st_tensor){
            .name = names, .dtype = view.dtype, .n_dims = view.n_dims, .data = view.data, .n_bytes = view.n_bytes};
        memcpy(t->shape, view.shape, sizeof(int64_t) * (size_t)view.n_dims);
        names += key->as.string.length + 1;
    }
    return st_model_check_unique_names(out, source, err);
}

steno_status st_pyannote_load_memory(const uint8_t *data, size_t size, const char *name, const char *class_name,
                                     st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    out->file_type = -1;
    st_torch_file file;
    steno_status status = st_torch_open(data, size, name, &file, err);
    if (status != STENO_OK) return status;
    const st_pickle_object *root = file.pickle.root;
    status = check_architecture(root, name, class_name, err);
    const st_pickle_object *state = st_pickle_dict_get(root, "state_dict");
    if (status == STENO_OK && (!state || state->kind != ST_PICKLE_DICT)) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: the checkpoint has no 'state_dict' dict", name);
    }
    if (status == STENO_OK) status = build(&file, state, name, out, err);
    st_torch_close(&file);
    if (status == STENO_OK && !(out->format = strdup("pt"))) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", name);
    }
    if (status != STENO_OK) st_model_free(out);
    return status;
}

steno_status st_pyannote_load(const char *path, const char *class_name, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no such file or folder", path);
    char file[4096];
    if (S_ISDIR(st.st_mode)) {
        char snapshot[4096];
        steno_status status = st_model_resolve_cache(path, snapshot, sizeof snapshot, err);
        if (status != STENO_OK) return status;
        int written = snprintf(file, sizeof file, "%s/pytorch_model.bin", snapshot[0] ? snapshot : path);
        if (written < 0 || (size_t)written >= sizeof file) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", path);
        }
        path = file;
    }
    st_mapped_file mapped;
    steno_status status = st_mapped_file_open(&mapped, path, err);
    if (status != STENO_OK) return status;
    status = st_pyannote_load_memory(mapped.data, mapped.size, path, class_name, out, err);
    if (status != STENO_OK) {
        st_mapped_file_close(&mapped);
        return status;
    }
    out->file = mapped; /* the model owns the mapping from here */
    return STENO_OK;
}
