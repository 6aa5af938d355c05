/*
 * tensor_set.h — the format-neutral result of every model loader.
 *
 * Whatever file a model came from (ggml .bin, openai .pt, CTranslate2, safetensors), its loader
 * produces an st_model: hyperparameters, the vocabulary when the file carries one, and a set
 * of tensors under canonical names with dtype, shape and a pointer into a read-only mapping.
 * Model code asks for tensors by name and never learns which format they came from.
 *
 * Canonical names are openai-whisper's state-dict names ("encoder.blocks.0.attn.query.weight",
 * "decoder.token_embedding.weight"); shapes are in PyTorch order (outermost dimension first).
 * A file that carries its own mel filter bank (whisper.cpp's) exposes it as the f32 tensor
 * "mel_filters" [n_mels, n_fft/2 + 1].
 */
#ifndef ST_MODELS_TENSOR_SET_H
#define ST_MODELS_TENSOR_SET_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/mapped_file.h"

typedef enum st_dtype {
    ST_DTYPE_F32,
    ST_DTYPE_F16,
    ST_DTYPE_BF16,
    ST_DTYPE_I8,
    ST_DTYPE_I16,
    ST_DTYPE_I32,
    ST_DTYPE_I64,
    ST_DTYPE_U8,
    /* ggml block-quantized types: 32 weights per block along the innermost dimension */
    ST_DTYPE_Q4_0,
    ST_DTYPE_Q4_1,
    ST_DTYPE_Q5_0,
    ST_DTYPE_Q5_1,
    ST_DTYPE_Q8_0,
    ST_DTYPE_COUNT
} st_dtype;

#define ST_TENSOR_MAX_DIMS 4

typedef struct st_tensor {
    const char *name; /* canonical name, owned by the st_model */
    st_dtype dtype;
    int n_dims;
    int64_t shape[ST_TENSOR_MAX_DIMS]; /* PyTorch order: shape[n_dims-1] is contiguous */
    /* Into the mapping (or an owned buffer); read-only. NOT necessarily aligned for its
     * element type (ggml files pack tensors at odd offsets): read it with memcpy or through
     * st_convert_to_f32 (nn/quant.h), never by casting to float* or uint16_t*. */
    const void *data;
    size_t n_bytes;
    /* CTranslate2 int8 weights: one f32 scale per output row (shape[0] of them), value =
     * q / scale; int16 weights: one f32 scale for the whole tensor. May be unaligned like
     * data. NULL for every other tensor. */
    const void *row_scales;
} st_tensor;

/* Hyperparameters of a Whisper model, openai-whisper's ModelDimensions. */
typedef struct st_whisper_dims {
    int n_mels;
    int n_audio_ctx;
    int n_audio_state;
    int n_audio_head;
    int n_audio_layer;
    int n_vocab;
    int n_text_ctx;
    int n_text_state;
    int n_text_head;
    int n_text_layer;
} st_whisper_dims;

/* A token's bytes as the model's vocabulary stores them (raw UTF-8 bytes, not GPT-2 unicode). */
typedef struct st_vocab_entry {
    const uint8_t *bytes;
    uint32_t length;
} st_vocab_entry;

typedef struct st_model {
    char *format; /* "ggml", "pt", "ct2", "safetensors": for messages and `models check` */
    st_whisper_dims dims;
    st_tensor *tensors;
    size_t n_tensors;
    st_vocab_entry *vocab; /* NULL when the file has no vocabulary */
    size_t n_vocab_entries;
    /* A vocabulary file beside the weights (HF vocab.json/tokenizer.json, CTranslate2
     * vocabulary.json or vocabulary.txt; st_tokenizer_load_file reads them all) when the
     * weights file itself has none; NULL otherwise. Owned. */
    char *vocabulary_path;
    /* Word-timestamp alignment heads from the model's own config (HF generation_config.json,
     * CTranslate2 config.json): (decoder layer, head) pairs. NULL when the file names none. */
    int *alignment_heads;
    int n_alignment_heads;
    int file_type; /* format-specific precision code (ggml ftype), -1 if none */
    st_mapped_file file;
    /* Further mappings for formats that spread the tensors over several files (sharded
     * safetensors: file is the first shard, these the others); NULL / 0 otherwise. */
    st_mapped_file *extra_files;
    int n_extra_files;
    void *owned; /* loader-private allocations (names, index), freed by st_model_free */
} st_model;

/* Bytes occupied by n_elements of dtype (block types: n_elements must be a multiple of 32). */
size_t st_dtype_bytes(st_dtype dtype, int64_t n_elements);
/* Elements per block: 32 for ggml quantized types, 1 otherwise. */
int st_dtype_block_size(st_dtype dtype);
const char *st_dtype_name(st_dtype dtype);

int64_t st_tensor_n_elements(const st_tensor *tensor);

/* The tensor with this canonical name, or NULL. */
const st_tensor *st_model_find(const st_model *model, const char *name);

/* Like st_model_find, but checks dims (n_dims shape entries) and fails with a message naming
 * the tensor, the expected and the actual shape. */
steno_status st_model_require(const st_model *model, const char *name, int n_dims, const int64_t *shape,
                              const st_tensor **out, st_error *err);

/* Checks that no two tensors share a canonical name (two stored names mapping to one tensor
 * would make lookups ambiguous); source names the file in the message. */
steno_status st_model_check_unique_names(const st_model *model, const char *source, st_error *err);

/* Frees everything the loader allocated and unmaps the file; safe on a zeroed struct. */
void st_model_free(st_model *model);

#endif
