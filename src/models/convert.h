/*
 * convert.h — converting a Whisper model from any format steno reads into another one.
 *
 * `steno models convert SRC DST --to FORMAT` in library form. The source is opened by content
 * (loader.h) into the format-neutral st_model; each writer (ggml_write.c, pt_write.c,
 * ct2_write.c, safetensors_write.c) rebuilds its format from that, following the choices of
 * the format's own converter (tensor types, names, configuration files), so the output loads
 * in steno and in the format's native engine. Outputs are written atomically: a temporary
 * beside DST, fsync, rename; an existing DST is refused unless force is set.
 */
#ifndef ST_MODELS_CONVERT_H
#define ST_MODELS_CONVERT_H

#include "util/error.h"

typedef enum st_convert_format {
    ST_CONVERT_GGML, /* whisper.cpp ggml-*.bin */
    ST_CONVERT_PT,   /* openai-whisper checkpoint (torch.save zip) */
    ST_CONVERT_CT2,  /* CTranslate2 / faster-whisper folder */
    ST_CONVERT_HF,   /* Hugging Face folder: model.safetensors, config.json, vocab.json, … */
} st_convert_format;

typedef enum st_convert_precision {
    ST_PRECISION_DEFAULT, /* the format's usual type: ggml f16 (1-D f32), pt f16, ct2 float16, hf f32 */
    ST_PRECISION_F16,
    ST_PRECISION_INT8, /* CTranslate2 only: per-row int8 with f32 scales */
    ST_PRECISION_Q8_0, /* ggml only */
    ST_PRECISION_Q5_1, /* ggml only */
} st_convert_precision;

/* Parses "ggml" | "pt" | "ct2" | "hf" and "int8" | "q8_0" | "q5_1" | "f16"; 0 when unknown. */
int st_convert_parse_format(const char *text, st_convert_format *out);
int st_convert_parse_precision(const char *text, st_convert_precision *out);

typedef struct st_convert_report {
    const char *source_format; /* static string */
    unsigned long long bytes_written;
    double seconds;
} st_convert_report;

/* Converts the model at src into dst. report may be NULL. */
steno_status st_model_convert(const char *src, const char *dst, st_convert_format format,
                              st_convert_precision precision, int force, st_convert_report *report, st_error *err);

#endif
