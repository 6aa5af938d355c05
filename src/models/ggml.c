/*
 * ggml.c — reader of whisper.cpp's legacy ggml model container.
 *
 * Layout (all little-endian, no padding): u32 magic; eleven i32 hyperparameters; the mel
 * filter bank (i32 n_mel, i32 n_fft, n_mel*n_fft f32); the vocabulary (i32 count, then per
 * token u32 length and its bytes; only the text tokens are stored, the special tokens are
 * implied by n_vocab); then tensor records until the end of the file: i32 n_dims, i32
 * name_length, i32 type, i32 ne[n_dims] (innermost dimension first), the name, the data.
 *
 * Nothing is copied: names are the only allocation, tensors point into the mapping. Every
 * count and length is checked against the bytes that remain before it is used.
 */
#include "models/ggml.h"

#include <stdlib.h>
#include <string.h>

#include "models/whisper_layout.h"

enum {
    MAX_NAME_LENGTH = 256,
    MAX_TOKEN_LENGTH = 1024, /* Whisper's longest token is a few dozen bytes */
    MAX_FILTER_BINS = 4096,
    GGML_QUANT_VERSION_FACTOR = 1000, /* quantized files store ftype + 1000 * quant version */
};

typedef struct reader {
    const uint8_t *data;
    size_t size;
    size_t offset;
    const char *name;
    st_error *err;
} reader;

static steno_status truncated(reader *r, size_t need, const char *what) {
    return st_error_set(r->err, STENO_ERR_FORMAT, "%s: truncated at offset %zu: %s needs %zu bytes, %zu remain", r->name,
                        r->offset, what, need, r->size - r->offset);
}

static steno_status take(reader *r, size_t n, const char *what, const uint8_t **out) {
    if (n > r->size - r->offset) return truncated(r, n, what);
    *out = r->data + r->offset;
    r->offset += n;
    return STENO_OK;
}

static steno_status read_i32(reader *r, const char *what, int32_t *out) {
    const uint8_t *p = NULL;
    steno_status status = take(r, 4, what, &p);
    if (status != STENO_OK) return status;
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(out, &v, sizeof v);
    return STENO_OK;
}

static int ggml_type_to_dtype(int32_t type, st_dtype *out) {
    switch (type) {
    case 0: *out = ST_DTYPE_F32; return 1;
    case 1: *out = ST_DTYPE_F16; return 1;
    case 2: *out = ST_DTYPE_Q4_0; return 1;
    case 3: *out = ST_DTYPE_Q4_1; return 1;
    case 6: *out = ST_DTYPE_Q5_0; return 1;
    case 7: *out = ST_DTYPE_Q5_1; return 1;
    case 8: *out = ST_DTYPE_Q8_0; return 1;
    default: return 0;
    }
}

static steno_status read_header(reader *r, st_model *model) {
    int32_t h[11];
    static const char *const fields[11] = {"n_vocab",      "n_audio_ctx", "n_audio_state", "n_audio_head",
                                           "n_audio_layer", "n_text_ctx", "n_text_state",  "n_text_head",
                                           "n_text_layer", "n_mels",      "ftype"};
    for (int i = 0; i < 11; i++) {
        steno_status status = read_i32(r, fields[i], &h[i]);
        if (status != STENO_OK) return status;
    }
    st_whisper_dims *d = &model->dims;
    *d = (st_whisper_dims){.n_vocab = h[0], .n_audio_ctx = h[1], .n_audio_state = h[2], .n_audio_head = h[3],
                           .n_audio_layer = h[4], .n_text_ctx = h[5], .n_text_state = h[6], .n_text_head = h[7],
                           .n_text_layer = h[8], .n_mels = h[9]};
    steno_status status = st_whisper_dims_validate(d, r->name, r->err);
    if (status != STENO_OK) return status;
    if (h[10] < 0) {
        return st_error_set(r->err, STENO_ERR_FORMAT, "%s: file type %d at offset 44 is negative", r->name, h[10]);
    }
    model->file_type = h[10] % GGML_QUANT_VERSION_FACTOR;
    return STENO_OK;
}

/* The mel filter bank becomes the f32 tensor "mel_filters"; slot is filled by the caller. */
static steno_status read_mel_filters(reader *r, const st_model *model, st_tensor *slot) {
    int32_t n_mel, n_fft;
    steno_status status;
    size_t at = r->offset;
    if ((status = read_i32(r, "mel filter count", &n_mel)) != STENO_OK) return status;
    if ((status = read_i32(r, "mel filter width", &n_fft)) != STENO_OK) return status;
    if (n_mel != model->dims.n_mels || n_fft < 1 || n_fft > MAX_FILTER_BINS) {
        return st_error_set(r->err, STENO_ERR_FORMAT,
                            "%s: mel filter bank at offset %zu is %d x %d, expected %d filters of 1..%d bins", r->name,
                            at, n_mel, n_fft, model->dims.n_mels, MAX_FILTER_BINS);
    }
    const uint8_t *data = NULL;
    size_t bytes = (size_t)n_mel * (size_t)n_fft * 4;
    if ((status = take(r, bytes, "mel filter bank", &data)) != STENO_OK) return status;
    *slot = (st_tensor){.name = "mel_filters", .dtype = ST_DTYPE_F32, .n_dims = 2, .shape = {n_mel, n_fft},
                        .data = data, .n_bytes = bytes};
    return STENO_OK;
}

static steno_status read_vocab(reader *r, st_model *model) {
    int32_t count;
    size_t at = r->offset;
    steno_status status = read_i32(r, "vocabulary size", &count);
    if (status != STENO_OK) return status;
    if (count < 0 || count > model->dims.n_vocab) {
        return st_error_set(r->err, STENO_ERR_FORMAT, "%s: vocabulary size %d at offset %zu is outside [0, n_vocab %d]",
                            r->name, count, at, model->dims.n_vocab);
    }
    /* each entry takes at least 4 bytes: refuse a count the file cannot hold before allocating */
    if ((size_t)count > (r->size - r->offset) / 4) return truncated(r, (size_t)count * 4, "vocabulary");
    model->vocab = calloc((size_t)count ? (size_t)count : 1, sizeof *model->vocab);
    if (!model->vocab) return st_error_set(r->err, STENO_ERR_NO_MEMORY, "%s: out of memory for the vocabulary", r->name);
    model->n_vocab_entries = (size_t)count;
    for (int32_t i = 0; i < count; i++) {
        int32_t length;
        at = r->offset;
        if ((status = read_i32(r, "token length", &length)) != STENO_OK) return status;
        if (length < 0 || length > MAX_TOKEN_LENGTH) {
            return st_error_set(r->err, STENO_ERR_FORMAT, "%s: token %d at offset %zu has length %d, expected 0..%d",
                                r->name, i, at, length, MAX_TOKEN_LENGTH);
        }
        const uint8_t *bytes = NULL;
        if ((status = take(r, (size_t)length, "token bytes", &bytes)) != STENO_OK) return status;
        model->vocab[i] = (st_vocab_entry){.bytes = bytes, .length = (uint32_t)length};
    }
    return STENO_OK;
}

typedef struct record {
    const uint8_t *name; /* not NUL-terminated */
    int32_t name_length;
    st_dtype dtype;
    int n_dims;
    int64_t shape[ST_TENSOR_MAX_DIMS]; /* PyTorch order */
    const uint8_t *data;
    size_t n_bytes;
} record;

/* Reads and checks one tensor record at r->offset. */
static steno_status read_record(reader *r, const st_model *model, record *out) {
    size_t at = r->offset;
    int32_t n_dims, name_length, type;
    steno_status status;
    if ((status = read_i32(r, "tensor rank", &n_dims)) != STENO_OK) return status;
    if ((status = read_i32(r, "tensor name length", &name_length)) != STENO_OK) return status;
    if ((status = read_i32(r, "tensor type", &type)) != STENO_OK) return status;
    if (n_dims < 1 || n_dims > ST_TENSOR_MAX_DIMS) {
        return st_error_set(r->err, STENO_ERR_FORMAT, "%s: tensor record at offset %zu has rank %d, expected 1..%d",
                            r->name, at, n_dims, ST_TENSOR_MAX_DIMS);
    }
    if (name_length < 1 || name_length > MAX_NAME_LENGTH) {
        return st_error_set(r->err, STENO_ERR_FORMAT,
                            "%s: tensor record at offset %zu has name length %d, expected 1..%d", r->name, at,
                            name_length, MAX_NAME_LENGTH);
    }
    if (!ggml_type_to_dtype(type, &out->dtype)) {
        return st_error_set(r->err, STENO_ERR_UNSUPPORTED,
                            "%s: tensor record at offset %zu has ggml type %d; steno reads f32, f16, q4_0, q4_1, q5_0, "
                            "q5_1 and q8_0",
                            r->name, at, type);
    }
    int32_t ne[ST_TENSOR_MAX_DIMS];
    for (int i = 0; i < n_dims; i++) {
        if ((status = read_i32(r, "tensor dimension", &ne[i])) != STENO_OK) return status;
    }
    if ((status = take(r, (size_t)name_length, "tensor name", &out->name)) != STENO_OK) return status;
    out->name_length = name_length;
    char name[MAX_NAME_LENGTH + 1];
    memcpy(name, out->name, (size_t)name_length);
    name[name_length] = '\0';
    if (memchr(out->name, '\0', (size_t)name_length)) {
        return st_error_set(r->err, STENO_ERR_FORMAT, "%s: tensor name at offset %zu contains a NUL byte", r->name, at);
    }

    int64_t expected[ST_TENSOR_MAX_DIMS];
    int expected_dims;
    if (st_whisper_expected_shape(&model->dims, name, expected, &expected_dims) != 0) {
        return st_error_set(r->err, STENO_ERR_FORMAT, "%s: unexpected tensor '%.64s' at offset %zu", r->name, name, at);
    }
    /* ggml order is innermost first; whisper.cpp stores conv biases as [1, n_state] (ne order),
     * a trailing 1 in PyTorch order that the canonical shape drops. */
    int n = n_dims;
    while (n > expected_dims && ne[n_dims - n] == 1) n--;
    int same = n == expected_dims;
    for (int i = 0; same && i < n; i++) same = ne[n_dims - 1 - i] == expected[i];
    if (!same) {
        return st_error_set(r->err, STENO_ERR_FORMAT,
                            "%s: tensor '%s' at offset %zu has dimensions that do not match the model's hyperparameters",
                            r->name, name, at);
    }
    out->n_dims = expected_dims;
    int64_t n_elements = 1;
    for (int i = 0; i < expected_dims; i++) {
        out->shape[i] = expected[i];
        n_elements *= expected[i]; /* bounded by the layout's limits: cannot overflow */
    }
    int block = st_dtype_block_size(out->dtype);
    if (expected[expected_dims - 1] % block != 0) {
        return st_error_set(r->err, STENO_ERR_FORMAT,
                            "%s: tensor '%s' at offset %zu is %s but its rows of %lld are not whole %d-element blocks",
                            r->name, name, at, st_dtype_name(out->dtype), (long long)expected[expected_dims - 1], block);
    }
    out->n_bytes = st_dtype_bytes(out->dtype, n_elements);
    return take(r, out->n_bytes, name, &out->data);
}

static steno_status read_tensors(reader *r, st_model *model, const st_tensor *mel_filters) {
    /* Pass 1: validate every record and count names; pass 2: fill the tensor table. */
    size_t start = r->offset, count = 0, name_bytes = 0;
    record rec;
    steno_status status;
    while (r->offset < r->size) {
        if ((status = read_record(r, model, &rec)) != STENO_OK) return status;
        count++;
        name_bytes += (size_t)rec.name_length + 1;
    }
    model->tensors = calloc(count + 1, sizeof *model->tensors);
    char *names = malloc(name_bytes ? name_bytes : 1);
    if (!model->tensors || !names) {
        free(names);
        return st_error_set(r->err, STENO_ERR_NO_MEMORY, "%s: out of memory for %zu tensors", r->name, count);
    }
    model->owned = names;
    model->tensors[0] = *mel_filters;
    model->n_tensors = 1;
    r->offset = start;
    while (r->offset < r->size) {
        if ((status = read_record(r, model, &rec)) != STENO_OK) return status;
        memcpy(names, rec.name, (size_t)rec.name_length);
        names[rec.name_length] = '\0';
        st_tensor *t = &model->tensors[model->n_tensors++];
        *t = (st_tensor){.name = names, .dtype = rec.dtype, .n_dims = rec.n_dims, .data = rec.data,
                         .n_bytes = rec.n_bytes};
        memcpy(t->shape, rec.shape, sizeof t->shape);
        names += rec.name_length + 1;
    }
    return st_model_check_unique_names(model, r->name, r->err);
}

steno_status st_ggml_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    out->file_type = -1;
    reader r = {.data = data, .size = size, .offset = 0, .name = name, .err = err};
    int32_t magic;
    steno_status status = read_i32(&r, "magic", &magic);
    if (status != STENO_OK) return status;
    if ((uint32_t)magic != ST_GGML_MAGIC) {
        if (memcmp(data, "GGUF", 4) == 0) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED,
                                "%s: a GGUF file; whisper.cpp models use the legacy ggml container", name);
        }
        return st_error_set(err, STENO_ERR_FORMAT, "%s: not a whisper.cpp ggml model (magic 0x%08x at offset 0)", name,
                            (unsigned)magic);
    }
    st_tensor mel_filters;
    if ((status = read_header(&r, out)) == STENO_OK && (status = read_mel_filters(&r, out, &mel_filters)) == STENO_OK &&
        (status = read_vocab(&r, out)) == STENO_OK && (status = read_tensors(&r, out, &mel_filters)) == STENO_OK) {
        status = st_whisper_check_complete(out, name, err);
    }
    if (status == STENO_OK) out->format = strdup("ggml");
    if (status == STENO_OK && !out->format) status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", name);
    if (status != STENO_OK) st_model_free(out);
    return status;
}

steno_status st_ggml_load(const char *path, st_model *out, st_error *err) {
    st_mapped_file file;
    memset(out, 0, sizeof *out);
    steno_status status = st_mapped_file_open(&file, path, err);
    if (status != STENO_OK) return status;
    if (file.size == 0) {
        st_mapped_file_close(&file);
        return st_error_set(err, STENO_ERR_FORMAT, "%s: empty file", path);
    }
    status = st_ggml_load_memory(file.data, file.size, path, out, err);
    if (status != STENO_OK) {
        st_mapped_file_close(&file);
        return status;
    }
    out->file = file; /* the model owns the mapping from here */
    return STENO_OK;
}
