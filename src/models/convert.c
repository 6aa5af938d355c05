/*
 * convert.c — `steno models convert`: opens the source by content, gathers what the writers
 * share (writers.h), and hands it to the target format's writer.
 */
#include "models/convert.h"

#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "audio/mel.h"
#include "models/loader.h"
#include "models/whisper_layout.h"
#include "models/writers.h"
#include "nn/quant.h"
#include "whisper/alignment_heads.h"
#include "whisper/vocabularies.h"

/* Writers copy f32/f16 arrays to files as they lie in memory. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the model writers assume a little-endian host");

int st_convert_parse_format(const char *text, st_convert_format *out) {
    static const struct {
        const char *name;
        st_convert_format format;
    } names[] = {{"ggml", ST_CONVERT_GGML}, {"pt", ST_CONVERT_PT}, {"ct2", ST_CONVERT_CT2}, {"hf", ST_CONVERT_HF}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(text, names[i].name)) {
            *out = names[i].format;
            return 1;
        }
    }
    return 0;
}

int st_convert_parse_precision(const char *text, st_convert_precision *out) {
    static const struct {
        const char *name;
        st_convert_precision precision;
    } names[] = {{"f16", ST_PRECISION_F16},
                 {"int8", ST_PRECISION_INT8},
                 {"q8_0", ST_PRECISION_Q8_0},
                 {"q5_1", ST_PRECISION_Q5_1}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(text, names[i].name)) {
            *out = names[i].precision;
            return 1;
        }
    }
    return 0;
}

steno_status st_write_tensor_f32(const st_write_source *src, const st_tensor *tensor, const float **out,
                                 st_error *err) {
    size_t n = (size_t)st_tensor_n_elements(tensor);
    steno_status status;
    if ((tensor->dtype == ST_DTYPE_I8 || tensor->dtype == ST_DTYPE_I16) && tensor->row_scales) {
        size_t rows = tensor->n_dims >= 1 ? (size_t)tensor->shape[0] : 1;
        status =
            st_dequantize_scaled_to_f32(tensor->dtype, tensor->data, tensor->row_scales, rows, n / rows, src->scratch);
    } else {
        status = st_convert_to_f32(tensor->dtype, tensor->data, src->scratch, n);
    }
    if (status != STENO_OK) {
        return st_error_set(err, status, "tensor '%s': cannot convert type %s to f32", tensor->name,
                            st_dtype_name(tensor->dtype));
    }
    *out = src->scratch;
    return STENO_OK;
}

const st_tensor *st_write_find(const st_write_source *src, const char *name) {
    return st_model_find(src->model, name);
}

void st_write_f16_array(st_atomic_file *out, const float *values, size_t n) {
    uint8_t chunk[8192];
    while (n > 0) {
        size_t count = n < sizeof chunk / 2 ? n : sizeof chunk / 2;
        for (size_t i = 0; i < count; i++) {
            uint16_t h = st_fp32_to_fp16(values[i]);
            chunk[2 * i] = (uint8_t)h;
            chunk[2 * i + 1] = (uint8_t)(h >> 8);
        }
        st_atomic_write(out, chunk, 2 * count);
        values += count;
        n -= count;
    }
}

steno_status st_write_values_f32(const st_write_source *src, const st_tensor *tensor, st_atomic_file *out,
                                 st_error *err) {
    size_t n = (size_t)st_tensor_n_elements(tensor);
    if (tensor->dtype == ST_DTYPE_F32) {
        st_atomic_write(out, tensor->data, n * 4);
        return STENO_OK;
    }
    const float *values;
    steno_status status = st_write_tensor_f32(src, tensor, &values, err);
    if (status == STENO_OK) st_atomic_write(out, values, n * sizeof *values); /* little-endian host */
    return status;
}

steno_status st_write_values_f16(const st_write_source *src, const st_tensor *tensor, st_atomic_file *out,
                                 st_error *err) {
    size_t n = (size_t)st_tensor_n_elements(tensor);
    if (tensor->dtype == ST_DTYPE_F16) {
        st_atomic_write(out, tensor->data, n * 2);
        return STENO_OK;
    }
    const float *values;
    steno_status status = st_write_tensor_f32(src, tensor, &values, err);
    if (status == STENO_OK) st_write_f16_array(out, values, n);
    return status;
}

int st_write_is_conv_bias(const char *name) {
    return !strcmp(name, "encoder.conv1.bias") || !strcmp(name, "encoder.conv2.bias");
}

/* Which precisions each format can store. */
static steno_status check_precision(st_convert_format format, st_convert_precision precision, st_error *err) {
    static const char *const formats[] = {"ggml", "pt", "ct2", "hf"};
    int ok = precision == ST_PRECISION_DEFAULT || precision == ST_PRECISION_F16;
    if (format == ST_CONVERT_GGML) ok = ok || precision == ST_PRECISION_Q8_0 || precision == ST_PRECISION_Q5_1;
    if (format == ST_CONVERT_CT2) ok = ok || precision == ST_PRECISION_INT8;
    if (ok) return STENO_OK;
    return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                        "--to %s cannot store that quantization (ggml: f16, q8_0, q5_1; ct2: f16, int8; pt, hf: f16)",
                        formats[format]);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The files the folder writers make (ct2_write.c, safetensors_write.c). */
static const char *const folder_files[] = {"model.bin",
                                           "config.json",
                                           "vocabulary.json",
                                           "model.safetensors",
                                           "generation_config.json",
                                           "vocab.json",
                                           "preprocessor_config.json"};

/* Whether a folder writer makes a file of this name: a folder of only such files is one steno
 * wrote, and --force may replace it. */
static int written_by_steno(const char *name) {
    for (size_t i = 0; i < sizeof folder_files / sizeof folder_files[0]; i++) {
        if (!strcmp(name, folder_files[i])) return 1;
    }
    return 0;
}

/* Sum of the sizes of the files at path (a file or a flat folder). */
static unsigned long long output_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (unsigned long long)st.st_size;
    unsigned long long total = 0;
    char member[4096];
    for (size_t i = 0; i < sizeof folder_files / sizeof folder_files[0]; i++) {
        snprintf(member, sizeof member, "%s/%s", path, folder_files[i]);
        if (stat(member, &st) == 0) total += (unsigned long long)st.st_size;
    }
    return total;
}

/* The tokenizer for the source's vocabulary: its own, the file beside it, or the built-in one. */
static steno_status open_tokenizer(const st_model *model, st_tokenizer **out, st_error *err) {
    if (model->vocab) return st_tokenizer_create(model->vocab, model->n_vocab_entries, model->dims.n_vocab, out, err);
    if (model->vocabulary_path) return st_tokenizer_load_file(model->vocabulary_path, model->dims.n_vocab, out, err);
    return st_tokenizer_create_builtin(model->dims.n_vocab, out, err);
}

steno_status st_model_convert(const char *src_path, const char *dst, st_convert_format format,
                              st_convert_precision precision, int force, st_convert_report *report, st_error *err) {
    double start = now_seconds();
    steno_status status = check_precision(format, precision, err);
    if (status != STENO_OK) return status;
    int folder = format == ST_CONVERT_CT2 || format == ST_CONVERT_HF;
    if ((status = st_atomic_check_target(dst, force, folder ? written_by_steno : NULL, err)) != STENO_OK) return status;

    st_model model;
    if ((status = st_model_open(src_path, &model, err)) != STENO_OK) return status;
    st_write_source src = {.model = &model};
    st_tokenizer *tokenizer = NULL;
    st_mel_filters *filters = NULL;
    st_alignment_heads heads = {0};
    size_t largest = 1;
    src.tensors = malloc(model.n_tensors * sizeof *src.tensors);
    if (!src.tensors) status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", src_path);
    const st_tensor *mel_filters = NULL;
    for (size_t i = 0; status == STENO_OK && i < model.n_tensors; i++) {
        const st_tensor *t = &model.tensors[i];
        if (!strcmp(t->name, "mel_filters")) {
            mel_filters = t;
            continue;
        }
        src.tensors[src.n_tensors++] = t;
        size_t n = (size_t)st_tensor_n_elements(t);
        if (n > largest) largest = n;
    }
    if (status == STENO_OK) status = st_whisper_check_complete(&model, src_path, err);
    if (status == STENO_OK && mel_filters && mel_filters->dtype == ST_DTYPE_F32 && mel_filters->n_dims == 2 &&
        mel_filters->shape[0] == model.dims.n_mels) {
        /* whisper.cpp files carry openai's own filter bank: keep its exact bits */
        size_t n = (size_t)st_tensor_n_elements(mel_filters);
        if (n > largest) largest = n;
        float *copy = malloc(n * sizeof *copy);
        if (!copy)
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", src_path);
        else
            memcpy(copy, mel_filters->data, n * sizeof *copy);
        src.mel_filters = copy;
        src.n_mel_bins = (int)mel_filters->shape[1];
    } else if (status == STENO_OK) {
        if (!(filters = st_mel_filters_create(model.dims.n_mels, err)))
            status = err ? err->code : STENO_ERR_INTERNAL;
        else {
            src.mel_filters = st_mel_filters_weights(filters);
            src.n_mel_bins = ST_MEL_N_BINS;
        }
    }
    if (status == STENO_OK) status = open_tokenizer(&model, &tokenizer, err);
    src.tokenizer = tokenizer;
    if (status == STENO_OK) {
        status = st_alignment_heads_choose(&model.dims, model.alignment_heads, model.n_alignment_heads, src_path,
                                           &heads, err);
        src.alignment_heads = heads.pairs;
        src.n_alignment_heads = heads.n;
    }
    if (status == STENO_OK && !(src.scratch = malloc(largest * sizeof *src.scratch))) {
        status =
            st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory for a tensor of %zu values", src_path, largest);
    }
    if (status == STENO_OK) {
        switch (format) {
        case ST_CONVERT_GGML:
            status = st_ggml_write(&src, precision, dst, err);
            break;
        case ST_CONVERT_PT:
            status = st_pt_write(&src, precision, dst, err);
            break;
        case ST_CONVERT_CT2:
            status = st_ct2_write(&src, precision, dst, err);
            break;
        case ST_CONVERT_HF:
            status = st_hf_write(&src, precision, dst, err);
            break;
        }
    }
    if (status == STENO_OK && report) {
        report->source_format = st_model_format_name(st_model_detect(src_path));
        report->bytes_written = output_size(dst);
        report->seconds = now_seconds() - start;
    }
    if (!filters) free((void *)src.mel_filters);
    st_mel_filters_free(filters);
    st_alignment_heads_free(&heads);
    st_tokenizer_free(tokenizer);
    free(src.scratch);
    free(src.tensors);
    st_model_free(&model);
    return status;
}
