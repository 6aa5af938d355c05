/*
 * pt.h — PyTorch checkpoints (torch.save zip archives) read in place.
 *
 * A torch.save archive holds one top-level folder (named after the saved file, or "archive")
 * with data.pkl, the pickled object, and data/<key>, the raw bytes of each storage it refers
 * to. st_torch_open indexes the archive and runs the pickle (safely: see pickle.h); callers then
 * walk the object and resolve each tensor to a pointer into the mapping with st_torch_tensor.
 * Those two are shared by every reader of torch checkpoints (Whisper here, pyannote later).
 *
 * st_pt_load reads Whisper models from such archives: openai-whisper's checkpoint
 * {"dims": {...}, "model_state_dict": {name: tensor}} and Hugging Face's legacy
 * pytorch_model.bin (a state dict under HF names; dimensions follow from the tensor shapes and
 * the head counts from config.json beside the file when there is one). Neither carries a
 * vocabulary: vocab and vocabulary_path stay NULL. The legacy (pre-1.6, non-zip) torch format
 * is refused with a message saying so.
 */
#ifndef ST_MODELS_PT_H
#define ST_MODELS_PT_H

#include <stddef.h>
#include <stdint.h>

#include "models/pickle.h"
#include "models/tensor_set.h"
#include "models/zip.h"

typedef struct st_torch_file {
    const char *source; /* for messages; not owned */
    st_zip_archive zip;
    st_pickle pickle;
    char prefix[256]; /* the top-level folder with its trailing '/' */
} st_torch_file;

/* Indexes the archive in data[0..size) and unpickles its data.pkl. The caller keeps data alive
 * as long as *out. */
steno_status st_torch_open(const uint8_t *data, size_t size, const char *source, st_torch_file *out, st_error *err);
void st_torch_close(st_torch_file *file);

/* A tensor resolved to its bytes. */
typedef struct st_torch_tensor_view {
    st_dtype dtype;
    int n_dims;
    int64_t shape[ST_PICKLE_MAX_DIMS];
    const void *data; /* into the archive */
    size_t n_bytes;
} st_torch_tensor_view;

/* Resolves a TENSOR object: its storage must be a stored (uncompressed) data/<key> entry of an
 * f16/f32/bf16/integer type, the tensor contiguous in row-major order and within the storage.
 * name labels the tensor in messages. */
steno_status st_torch_tensor(const st_torch_file *file, const st_pickle_object *tensor, const char *name,
                             st_torch_tensor_view *out, st_error *err);

/* Loads a Whisper checkpoint from path into *out (zeroed on failure). */
steno_status st_pt_load(const char *path, st_model *out, st_error *err);

/* The same from bytes in memory (kept alive by the caller as long as *out); no config.json is
 * consulted. Used by the fuzz target. */
steno_status st_pt_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err);

#endif
