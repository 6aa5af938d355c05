/*
 * loader.h — opening a model in whatever format it is stored, identified by content.
 *
 * Each format has its own reader (ggml.c, and the pt, CTranslate2 and Hugging Face readers as
 * they arrive); every one produces the same st_model (tensor_set.h) under openai-whisper's
 * canonical names. st_model_open looks at the bytes or the folder, never at the file name,
 * and hands the path to the right reader.
 */
#ifndef ST_MODELS_LOADER_H
#define ST_MODELS_LOADER_H

#include "models/tensor_set.h"

typedef enum st_model_format {
    ST_FORMAT_UNKNOWN,
    ST_FORMAT_GGML,        /* whisper.cpp ggml-*.bin */
    ST_FORMAT_PT,          /* torch.save zip (openai .pt, HF pytorch_model.bin) */
    ST_FORMAT_CT2,         /* CTranslate2 directory (model.bin + config.json + vocabulary) */
    ST_FORMAT_SAFETENSORS, /* Hugging Face directory with model.safetensors */
    ST_FORMAT_GGUF,        /* recognised only to refuse it clearly */
} st_model_format;

const char *st_model_format_name(st_model_format format);

/* Identifies path (a file or a folder) by its content. */
st_model_format st_model_detect(const char *path);

/* The same for a file's first bytes (64 are enough). A version-1 CTranslate2 model.bin carries
 * no name: in_model_directory (the file is a folder's model.bin) vouches for it. */
st_model_format st_model_detect_memory(const uint8_t *head, size_t n, uint64_t file_size, int in_model_directory);

/* A folder that is a Hugging Face cache repository or snapshot is resolved to its snapshot
 * (written to resolved), whose files must all lead to blobs inside the repository, before any
 * of them is opened; resolved is "" for any other folder. */
steno_status st_model_resolve_cache(const char *path, char *resolved, size_t size, st_error *err);

/* Opens path with the reader its content calls for. */
steno_status st_model_open(const char *path, st_model *out, st_error *err);

/* Opens one weights file already in memory (kept alive by the caller as long as *out) with the
 * reader its bytes call for, through the readers' *_load_memory entry points: nothing beside
 * the file (config, vocabulary) is read. name labels it in messages. */
steno_status st_model_open_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err);

#endif
