/*
 * safetensors.h — the safetensors container (Hugging Face), parsed and validated in place.
 *
 * A file is a little-endian u64 N, then N bytes of UTF-8 JSON (often space-padded so the data
 * starts 8-byte aligned), then the data region. The JSON maps each tensor name to its dtype,
 * shape and data_offsets [begin, end) relative to the first byte after the header; the optional
 * "__metadata__" maps strings to strings. This parser checks everything the published format
 * promises before handing out a pointer: the header fits the file and stays under 100 MB, every
 * dtype is known, end - begin is exactly the shape's element count times the element size
 * (overflow-checked), and the tensors tile the data region exactly, in offset order, without
 * overlaps or holes (what the reference implementation requires too). The tensors point into
 * the caller's bytes (a read-only mapping); nothing is copied.
 *
 * It knows nothing of Whisper: hf.c maps the tensors of a transformers model to canonical names.
 */
#ifndef ST_MODELS_SAFETENSORS_H
#define ST_MODELS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "models/tensor_set.h"

#define ST_SAFETENSORS_MAX_DIMS 8
#define ST_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

typedef struct st_safetensors_tensor {
    const char *name;       /* owned by the st_safetensors */
    const char *dtype_name; /* as the header spells it ("F16", "BOOL", "F8_E4M3"…); static */
    st_dtype dtype;         /* ST_DTYPE_COUNT for a valid dtype steno has no st_dtype for (F64, BOOL…) */
    int n_dims;
    int64_t shape[ST_SAFETENSORS_MAX_DIMS];
    const uint8_t *data; /* into the caller's bytes; unaligned in general */
    size_t n_bytes;
    uint64_t file_offset; /* of data, from the start of the file: for messages */
} st_safetensors_tensor;

typedef struct st_safetensors {
    st_safetensors_tensor *tensors; /* in offset order */
    size_t n_tensors;
    uint64_t header_length; /* N; the data region starts at 8 + N */
    char *names;            /* storage of the tensors' names */
} st_safetensors;

/* Parses and validates data[0..size) (source names the file in messages). On failure *out is
 * zeroed and err says which byte or tensor is wrong (STENO_ERR_FORMAT, or UNSUPPORTED for a
 * sub-byte dtype). The caller keeps data alive as long as *out. */
steno_status st_safetensors_parse(const uint8_t *data, size_t size, const char *source, st_safetensors *out,
                                  st_error *err);

void st_safetensors_free(st_safetensors *file);

/* Whether the first n bytes of a file of file_size bytes look like safetensors: a header
 * length that fits the file and the 100 MB limit, then '{'. */
int st_safetensors_detect(const uint8_t *head, size_t n, uint64_t file_size);

#endif
