/*
 * ggml.h — whisper.cpp's legacy ggml model file (`ggml-*.bin`), read in place.
 *
 * The file is mapped read-only; every tensor of the resulting st_model points into the
 * mapping, under openai-whisper's canonical names and in PyTorch shape order (ggml stores
 * dimensions innermost first; the loader reverses them, and drops the trailing 1 of the conv
 * biases that whisper.cpp's converter stores as [n_state, 1]). Every header field and tensor
 * record is checked against the file size and the model's dimensions before it is trusted.
 */
#ifndef ST_MODELS_GGML_H
#define ST_MODELS_GGML_H

#include <stddef.h>
#include <stdint.h>

#include "models/tensor_set.h"

#define ST_GGML_MAGIC 0x67676d6cu /* "ggml" read as a little-endian u32 */

/* Loads the file at path into *out (zeroed on failure; err names the offset and the reason). */
steno_status st_ggml_load(const char *path, st_model *out, st_error *err);

/* The same from bytes already in memory (the caller keeps them alive as long as *out).
 * name is used in messages. Used by the fuzz target and for files inside other containers. */
steno_status st_ggml_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err);

#endif
