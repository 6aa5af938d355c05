/*
 * writers.h — what every model writer receives, and the helpers they share.
 *
 * convert.c opens the source model and gathers, once, everything a writer may need whatever
 * the source format was: the network's tensors in the source's order, a tokenizer for the
 * vocabulary (the file's own, a vocabulary file beside it, or the built-in one), the mel filter
 * bank (the file's, or steno's own librosa-equal one), and the alignment heads. Writers read
 * tensor values through st_write_tensor_f32, which handles every stored type.
 */
#ifndef ST_MODELS_WRITERS_H
#define ST_MODELS_WRITERS_H

#include <stdint.h>

#include "models/convert.h"
#include "util/atomic_file.h"
#include "models/tensor_set.h"
#include "whisper/tokenizer.h"

typedef struct st_write_source {
    const st_model *model;
    const st_tensor **tensors; /* the network's tensors in source order, mel_filters excluded */
    size_t n_tensors;
    const st_tokenizer *tokenizer;
    const float *mel_filters; /* [n_mels][n_mel_bins] */
    int n_mel_bins;
    const int *alignment_heads; /* (layer, head) pairs */
    int n_alignment_heads;
    float *scratch; /* room for the largest tensor as f32 */
} st_write_source;

/* The tensor's values as f32 (in src->scratch, valid until the next call). */
steno_status st_write_tensor_f32(const st_write_source *src, const st_tensor *tensor, const float **out, st_error *err);
/* The tensor by canonical name (always present: convert.c checked completeness). */
const st_tensor *st_write_find(const st_write_source *src, const char *name);

/* whisper.cpp stores the conv biases as [n_state, 1]; the canonical layout as [n_state]. */
int st_write_is_conv_bias(const char *name);

/* Writes a tensor's values as little-endian f32 or f16 (round to nearest even); a tensor
 * already stored in that type is copied byte for byte. */
steno_status st_write_values_f32(const st_write_source *src, const st_tensor *tensor, st_atomic_file *out,
                                 st_error *err);
steno_status st_write_values_f16(const st_write_source *src, const st_tensor *tensor, st_atomic_file *out,
                                 st_error *err);
void st_write_f16_array(st_atomic_file *out, const float *values, size_t n);

/* Python's json.dumps(text, ensure_ascii=...) of UTF-8 bytes, quotes included. */
void st_write_json_string(st_atomic_file *out, const uint8_t *text, size_t length, int ensure_ascii);
/* GPT-2's byte-to-unicode spelling of a token's raw bytes, UTF-8 encoded into out (capacity
 * at least 2 * length + 1); returns the length written. */
size_t st_write_gpt2_spelling(const uint8_t *bytes, size_t length, uint8_t *out);

/* preprocessor_config.json (WhisperFeatureExtractor's settings) as json.dump(indent=2) writes it. */
steno_status st_write_preprocessor_config(const st_write_source *src, const char *path, st_error *err);

/* The writers: each writes path atomically, or leaves it untouched on failure. */
steno_status st_ggml_write(const st_write_source *src, st_convert_precision precision, const char *path, st_error *err);
steno_status st_pt_write(const st_write_source *src, st_convert_precision precision, const char *path, st_error *err);
steno_status st_ct2_write(const st_write_source *src, st_convert_precision precision, const char *path, st_error *err);
steno_status st_hf_write(const st_write_source *src, st_convert_precision precision, const char *path, st_error *err);

#endif
