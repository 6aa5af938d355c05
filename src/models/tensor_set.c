/* tensor_set.c — dtype sizes and lookups on the format-neutral tensor set. */
#include "models/tensor_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dtype_info {
    const char *name;
    int block_size;  /* elements per block */
    int block_bytes; /* bytes per block */
} dtype_info;

static const dtype_info dtype_table[ST_DTYPE_COUNT] = {
    [ST_DTYPE_F32] = {"f32", 1, 4},   [ST_DTYPE_F16] = {"f16", 1, 2},   [ST_DTYPE_BF16] = {"bf16", 1, 2},
    [ST_DTYPE_I8] = {"i8", 1, 1},     [ST_DTYPE_I16] = {"i16", 1, 2},   [ST_DTYPE_I32] = {"i32", 1, 4},
    [ST_DTYPE_I64] = {"i64", 1, 8},   [ST_DTYPE_U8] = {"u8", 1, 1},     [ST_DTYPE_Q4_0] = {"q4_0", 32, 18},
    [ST_DTYPE_Q4_1] = {"q4_1", 32, 20}, [ST_DTYPE_Q5_0] = {"q5_0", 32, 22}, [ST_DTYPE_Q5_1] = {"q5_1", 32, 24},
    [ST_DTYPE_Q8_0] = {"q8_0", 32, 34},
};

size_t st_dtype_bytes(st_dtype dtype, int64_t n_elements) {
    if ((unsigned)dtype >= ST_DTYPE_COUNT || n_elements < 0) return 0;
    const dtype_info *info = &dtype_table[dtype];
    return (size_t)(n_elements / info->block_size) * (size_t)info->block_bytes;
}

int st_dtype_block_size(st_dtype dtype) {
    return (unsigned)dtype < ST_DTYPE_COUNT ? dtype_table[dtype].block_size : 1;
}

const char *st_dtype_name(st_dtype dtype) {
    return (unsigned)dtype < ST_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

int64_t st_tensor_n_elements(const st_tensor *tensor) {
    int64_t n = 1;
    for (int i = 0; i < tensor->n_dims; i++) n *= tensor->shape[i];
    return n;
}

const st_tensor *st_model_find(const st_model *model, const char *name) {
    for (size_t i = 0; i < model->n_tensors; i++) {
        if (strcmp(model->tensors[i].name, name) == 0) return &model->tensors[i];
    }
    return NULL;
}

static void format_shape(char *buffer, size_t size, int n_dims, const int64_t *shape) {
    size_t used = (size_t)snprintf(buffer, size, "[");
    for (int i = 0; i < n_dims && used < size; i++) {
        used += (size_t)snprintf(buffer + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (used < size) snprintf(buffer + used, size - used, "]");
}

steno_status st_model_require(const st_model *model, const char *name, int n_dims, const int64_t *shape,
                              const st_tensor **out, st_error *err) {
    const st_tensor *tensor = st_model_find(model, name);
    *out = NULL;
    if (!tensor) {
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: tensor '%s' is missing", model->file.path ? model->file.path : "model",
                            name);
    }
    int same = tensor->n_dims == n_dims;
    for (int i = 0; same && i < n_dims; i++) same = tensor->shape[i] == shape[i];
    if (!same) {
        char want[96], have[96];
        format_shape(want, sizeof want, n_dims, shape);
        format_shape(have, sizeof have, tensor->n_dims, tensor->shape);
        return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s",
                            model->file.path ? model->file.path : "model", name, have, want);
    }
    *out = tensor;
    return STENO_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

steno_status st_model_check_unique_names(const st_model *model, const char *source, st_error *err) {
    size_t n = model->n_tensors;
    st_tensor *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", source);
    if (n) memcpy(sorted, model->tensors, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_names);
    steno_status status = STENO_OK;
    for (size_t i = 1; i < n && status == STENO_OK; i++) {
        if (strcmp(sorted[i - 1].name, sorted[i].name) == 0) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' appears twice", source, sorted[i].name);
        }
    }
    free(sorted);
    return status;
}

void st_model_free(st_model *model) {
    if (!model) return;
    free(model->format);
    free(model->tensors);
    free(model->vocab);
    free(model->vocabulary_path);
    free(model->alignment_heads);
    free(model->owned);
    st_mapped_file_close(&model->file);
    for (int i = 0; i < model->n_extra_files; i++)
        st_mapped_file_close(&model->extra_files[i]);
    free(model->extra_files);
    memset(model, 0, sizeof *model);
}
