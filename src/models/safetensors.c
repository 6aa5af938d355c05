/* safetensors.c — parsing and validating a safetensors header over mapped bytes (see safetensors.h). */
#include "models/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct dtype_entry {
    const char *name;
    int size;       /* bytes per element; 0: sub-byte, valid in the format but not readable here */
    st_dtype dtype; /* ST_DTYPE_COUNT: no st_dtype for it */
} dtype_entry;

/* The dtypes of the published format (safetensors' Dtype enum). */
static const dtype_entry dtypes[] = {
    {"BOOL", 1, ST_DTYPE_COUNT},    {"U8", 1, ST_DTYPE_U8},         {"I8", 1, ST_DTYPE_I8},
    {"F8_E5M2", 1, ST_DTYPE_COUNT}, {"F8_E4M3", 1, ST_DTYPE_COUNT}, {"F8_E8M0", 1, ST_DTYPE_COUNT},
    {"I16", 2, ST_DTYPE_I16},       {"U16", 2, ST_DTYPE_COUNT},     {"F16", 2, ST_DTYPE_F16},
    {"BF16", 2, ST_DTYPE_BF16},     {"I32", 4, ST_DTYPE_I32},       {"U32", 4, ST_DTYPE_COUNT},
    {"F32", 4, ST_DTYPE_F32},       {"F64", 8, ST_DTYPE_COUNT},     {"I64", 8, ST_DTYPE_I64},
    {"U64", 8, ST_DTYPE_COUNT},     {"F4", 0, ST_DTYPE_COUNT},      {"F6_E2M3", 0, ST_DTYPE_COUNT},
    {"F6_E3M2", 0, ST_DTYPE_COUNT},
};

static const dtype_entry *find_dtype(const char *name) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (strcmp(dtypes[i].name, name) == 0) return &dtypes[i];
    }
    return NULL;
}

static uint64_t read_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int st_safetensors_detect(const uint8_t *head, size_t n, uint64_t file_size) {
    if (n < 9 || file_size < 9) return 0;
    uint64_t length = read_u64(head);
    return length >= 2 && length <= ST_SAFETENSORS_MAX_HEADER && length <= file_size - 8 && head[8] == '{';
}

typedef struct parser {
    const char *source;
    st_error *err;
    uint64_t data_start, data_size;
} parser;

/* A JSON integer in [0, limit]. */
static int small_unsigned(const json_t *value, uint64_t limit, uint64_t *out) {
    if (!json_is_integer(value) || json_integer_value(value) < 0) return 0;
    *out = (uint64_t)json_integer_value(value);
    return *out <= limit;
}

/* One header entry: dtype, shape and data_offsets, checked against each other and the file. */
static steno_status parse_tensor(const parser *p, const char *name, const json_t *entry, const uint8_t *data,
                                 st_safetensors_tensor *t) {
    if (!json_is_object(entry)) {
        return st_error_set(p->err, STENO_ERR_FORMAT, "%s: header entry '%s' is not an object", p->source, name);
    }
    const json_t *dtype = json_object_get(entry, "dtype"), *shape = json_object_get(entry, "shape"),
                 *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offsets)) {
        return st_error_set(p->err, STENO_ERR_FORMAT,
                            "%s: tensor '%s' needs a string dtype, a shape list and a data_offsets list", p->source,
                            name);
    }
    const dtype_entry *type = find_dtype(json_string_value(dtype));
    if (!type) {
        return st_error_set(p->err, STENO_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%.40s'", p->source, name,
                            json_string_value(dtype));
    }
    if (type->size == 0) {
        return st_error_set(p->err, STENO_ERR_UNSUPPORTED,
                            "%s: tensor '%s' has sub-byte dtype %s, which steno cannot read", p->source, name,
                            type->name);
    }
    size_t rank = json_array_size(shape);
    if (rank > ST_SAFETENSORS_MAX_DIMS) {
        return st_error_set(p->err, STENO_ERR_FORMAT, "%s: tensor '%s' has %zu dimensions, more than %d", p->source,
                            name, rank, ST_SAFETENSORS_MAX_DIMS);
    }
    /* The element count times the element size must stay below the data region's size, which
     * bounds every intermediate product below 2^64. */
    uint64_t n_bytes = (uint64_t)type->size;
    int zero = 0;
    for (size_t i = 0; i < rank; i++) {
        uint64_t extent;
        if (!small_unsigned(json_array_get(shape, i), INT64_MAX, &extent)) {
            return st_error_set(p->err, STENO_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                                p->source, name, i);
        }
        t->shape[i] = (int64_t)extent;
        if (extent == 0) zero = 1;
        if (!zero && extent > p->data_size / n_bytes) {
            return st_error_set(p->err, STENO_ERR_FORMAT,
                                "%s: tensor '%s': its shape needs more bytes than the %llu of the data region",
                                p->source, name, (unsigned long long)p->data_size);
        }
        n_bytes = zero ? 0 : n_bytes * extent;
    }
    uint64_t begin, end;
    if (json_array_size(offsets) != 2 || !small_unsigned(json_array_get(offsets, 0), p->data_size, &begin) ||
        !small_unsigned(json_array_get(offsets, 1), p->data_size, &end) || begin > end) {
        return st_error_set(p->err, STENO_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets is not [begin, end] with begin <= end <= %llu, the size of "
                            "the data region at offset %llu",
                            p->source, name, (unsigned long long)p->data_size, (unsigned long long)p->data_start);
    }
    if (end - begin != n_bytes) {
        return st_error_set(p->err, STENO_ERR_FORMAT,
                            "%s: tensor '%s' at offset %llu: data_offsets span %llu bytes, but %s of this shape takes "
                            "%llu",
                            p->source, name, (unsigned long long)(p->data_start + begin),
                            (unsigned long long)(end - begin), type->name, (unsigned long long)n_bytes);
    }
    t->dtype_name = type->name;
    t->dtype = type->dtype;
    t->n_dims = (int)rank;
    t->data = data + p->data_start + begin;
    t->n_bytes = (size_t)n_bytes;
    t->file_offset = p->data_start + begin;
    return STENO_OK;
}

static int compare_offsets(const void *a, const void *b) {
    const st_safetensors_tensor *x = a, *y = b;
    if (x->file_offset != y->file_offset) return x->file_offset < y->file_offset ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : x->n_bytes > y->n_bytes;
}

/* The tensors, in offset order, must cover the data region byte for byte. */
static steno_status check_tiling(const parser *p, const st_safetensors *file) {
    uint64_t next = p->data_start;
    const char *previous = NULL;
    for (size_t i = 0; i < file->n_tensors; i++) {
        const st_safetensors_tensor *t = &file->tensors[i];
        if (t->file_offset < next) {
            return st_error_set(p->err, STENO_ERR_FORMAT, "%s: tensor '%s' at offset %llu overlaps tensor '%s'",
                                p->source, t->name, (unsigned long long)t->file_offset, previous);
        }
        if (t->file_offset > next) {
            return st_error_set(p->err, STENO_ERR_FORMAT,
                                "%s: bytes %llu..%llu belong to no tensor (the format packs tensors back to back)",
                                p->source, (unsigned long long)next, (unsigned long long)t->file_offset);
        }
        next = t->file_offset + t->n_bytes;
        previous = t->name;
    }
    if (next != p->data_start + p->data_size) {
        return st_error_set(p->err, STENO_ERR_FORMAT,
                            "%s: the tensors end at offset %llu but the file goes on to %llu (extra or missing bytes)",
                            p->source, (unsigned long long)next, (unsigned long long)(p->data_start + p->data_size));
    }
    return STENO_OK;
}

static steno_status check_metadata(const parser *p, const json_t *metadata) {
    if (json_is_null(metadata)) return STENO_OK;
    if (!json_is_object(metadata)) {
        return st_error_set(p->err, STENO_ERR_FORMAT, "%s: __metadata__ is not an object", p->source);
    }
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)metadata, key, value) {
        if (!json_is_string(value)) {
            return st_error_set(p->err, STENO_ERR_FORMAT, "%s: __metadata__['%.100s'] is not a string", p->source, key);
        }
    }
    return STENO_OK;
}

static steno_status parse_header(const parser *p, const json_t *root, const uint8_t *data, st_safetensors *out) {
    if (!json_is_object(root)) {
        return st_error_set(p->err, STENO_ERR_FORMAT, "%s: the header at offset 8 is not a JSON object", p->source);
    }
    size_t n = json_object_size(root), name_bytes = 0;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)root, key, value) {
        name_bytes += strlen(key) + 1;
    }
    out->tensors = calloc(n ? n : 1, sizeof *out->tensors);
    out->names = malloc(name_bytes ? name_bytes : 1);
    if (!out->tensors || !out->names) return st_error_set(p->err, STENO_ERR_NO_MEMORY, "%s: out of memory", p->source);
    char *names = out->names;
    json_object_foreach((json_t *)root, key, value) {
        steno_status status;
        if (strcmp(key, "__metadata__") == 0) {
            if ((status = check_metadata(p, value)) != STENO_OK) return status;
            continue;
        }
        if (key[0] == '\0') return st_error_set(p->err, STENO_ERR_FORMAT, "%s: a tensor has an empty name", p->source);
        st_safetensors_tensor *t = &out->tensors[out->n_tensors];
        size_t length = strlen(key) + 1;
        memcpy(names, key, length);
        t->name = names;
        names += length;
        if ((status = parse_tensor(p, t->name, value, data, t)) != STENO_OK) return status;
        out->n_tensors++;
    }
    qsort(out->tensors, out->n_tensors, sizeof *out->tensors, compare_offsets);
    return check_tiling(p, out);
}

steno_status st_safetensors_parse(const uint8_t *data, size_t size, const char *source, st_safetensors *out,
                                  st_error *err) {
    memset(out, 0, sizeof *out);
    if (size < 8) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: %zu bytes, too short for the 8-byte header length", source,
                            size);
    }
    uint64_t length = read_u64(data);
    if (length > ST_SAFETENSORS_MAX_HEADER) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: header length %llu at offset 0 exceeds the format's %u-byte limit", source,
                            (unsigned long long)length, ST_SAFETENSORS_MAX_HEADER);
    }
    if (length > size - 8) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: header length %llu at offset 0 runs past the end of the file (%zu bytes)", source,
                            (unsigned long long)length, size);
    }
    if (length < 2 || data[8] != '{') {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: the header at offset 8 does not start with '{'", source);
    }
    out->header_length = length;
    parser p = {.source = source, .err = err, .data_start = 8 + length, .data_size = size - 8 - length};
    json_error_t json_error;
    /* Duplicate names would make the file ambiguous; trailing spaces (the padding) are allowed. */
    json_t *root = json_loadb((const char *)data + 8, (size_t)length, JSON_REJECT_DUPLICATES, &json_error);
    if (!root) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: invalid JSON header at offset %llu: %s", source,
                            (unsigned long long)(8 + (json_error.position > 0 ? json_error.position : 0)),
                            json_error.text);
    }
    steno_status status = parse_header(&p, root, data, out);
    json_decref(root);
    if (status != STENO_OK) st_safetensors_free(out);
    return status;
}

void st_safetensors_free(st_safetensors *file) {
    if (!file) return;
    free(file->tensors);
    free(file->names);
    memset(file, 0, sizeof *file);
}
