/* loader.c — format detection by content and dispatch to the format's reader. */
#include "models/loader.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "models/ct2.h"
#include "models/ggml.h"
#include "models/hf.h"
#include "models/hf_cache.h"
#include "models/pt.h"
#include "models/safetensors.h"
#include "models/zip.h"

const char *st_model_format_name(st_model_format format) {
    switch (format) {
    case ST_FORMAT_GGML:
        return "ggml";
    case ST_FORMAT_PT:
        return "pt";
    case ST_FORMAT_CT2:
        return "ct2";
    case ST_FORMAT_SAFETENSORS:
        return "safetensors";
    case ST_FORMAT_GGUF:
        return "gguf";
    default:
        return "unknown";
    }
}

/* The first bytes of a file (enough for a CTranslate2 specification name). */
static size_t read_head(const char *path, unsigned char *head, size_t size) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(head, 1, size, f);
    fclose(f);
    return n;
}

/* dir/name into out; 0 when it does not fit. */
static int join_name(char *out, size_t size, const char *dir, const char *name) {
    int written = snprintf(out, size, "%s/%s", dir, name);
    return written >= 0 && (size_t)written < size;
}

/* A Hugging Face cache repository folder stands for the snapshot refs/main names. */
static int cache_snapshot(const char *path, char *snapshot, size_t size) {
    st_error ignored;
    return st_hf_cache_is_repo(path) && st_hf_cache_snapshot(path, snapshot, size, &ignored) == STENO_OK;
}

st_model_format st_model_detect(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return ST_FORMAT_UNKNOWN;
    unsigned char head[64] = {0};
    if (S_ISDIR(st.st_mode)) {
        char file[4096];
        if (cache_snapshot(path, file, sizeof file)) return st_model_detect(file);
        if (!join_name(file, sizeof file, path, "model.bin")) return ST_FORMAT_UNKNOWN;
        if (st_ct2_detect(head, read_head(file, head, sizeof head), 1)) return ST_FORMAT_CT2;
        if (st_hf_is_model_dir(path)) return ST_FORMAT_SAFETENSORS;
        if (join_name(file, sizeof file, path, "pytorch_model.bin") &&
            st_zip_is_archive(head, read_head(file, head, sizeof head))) {
            return ST_FORMAT_PT;
        }
        return ST_FORMAT_UNKNOWN;
    }
    return st_model_detect_memory(head, read_head(path, head, sizeof head), (uint64_t)st.st_size, 0);
}

st_model_format st_model_detect_memory(const uint8_t *head, size_t n, uint64_t file_size, int in_model_directory) {
    if (n >= 4 && head[0] == 'l' && head[1] == 'm' && head[2] == 'g' && head[3] == 'g') return ST_FORMAT_GGML;
    if (n >= 4 && memcmp(head, "GGUF", 4) == 0) return ST_FORMAT_GGUF;
    if (st_ct2_detect(head, n, in_model_directory)) return ST_FORMAT_CT2;
    if (st_zip_is_archive(head, n)) return ST_FORMAT_PT;
    if (st_safetensors_detect(head, n, file_size)) return ST_FORMAT_SAFETENSORS;
    return ST_FORMAT_UNKNOWN;
}

steno_status st_model_open_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    switch (st_model_detect_memory(data, size, size, 0)) {
    case ST_FORMAT_GGML:
    case ST_FORMAT_GGUF:
        return st_ggml_load_memory(data, size, name, out, err);
    case ST_FORMAT_CT2:
        return st_ct2_load_memory(data, size, name, out, err);
    case ST_FORMAT_PT:
        return st_pt_load_memory(data, size, name, out, err);
    case ST_FORMAT_SAFETENSORS:
        return st_hf_load_memory(data, size, name, out, err);
    default:
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: not a model steno can read (unrecognised content)", name);
    }
}

steno_status st_model_resolve_cache(const char *path, char *resolved, size_t size, st_error *err) {
    char repo[4096];
    resolved[0] = '\0';
    steno_status status = STENO_OK;
    if (st_hf_cache_is_repo(path)) {
        status = st_hf_cache_snapshot(path, resolved, size, err);
        if (status == STENO_OK) status = st_hf_cache_check_snapshot(path, resolved, err);
    } else if (st_hf_cache_snapshot_repo(path, repo, sizeof repo)) {
        status = st_hf_cache_check_snapshot(repo, path, err);
    }
    return status;
}

steno_status st_model_open(const char *path, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no such file or folder", path);
    char snapshot[4096] = "";
    if (S_ISDIR(st.st_mode)) {
        steno_status status = st_model_resolve_cache(path, snapshot, sizeof snapshot, err);
        if (status != STENO_OK) return status;
        if (snapshot[0]) path = snapshot;
    }
    char file[4096];
    switch (st_model_detect(path)) {
    case ST_FORMAT_GGML:
    case ST_FORMAT_GGUF: /* the ggml reader explains why GGUF is refused */
        return st_ggml_load(path, out, err);
    case ST_FORMAT_CT2:
        return st_ct2_load(path, out, err);
    case ST_FORMAT_PT:
        if (S_ISDIR(st.st_mode)) { /* a transformers folder with the legacy pytorch_model.bin */
            if (!join_name(file, sizeof file, path, "pytorch_model.bin")) {
                return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", path);
            }
            return st_pt_load(file, out, err);
        }
        return st_pt_load(path, out, err);
    case ST_FORMAT_SAFETENSORS:
        return st_hf_load(path, out, err);
    default:
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: not a model steno can read (%s)", path,
                            S_ISDIR(st.st_mode) ? "no model files in this folder" : "unrecognised content");
    }
}
