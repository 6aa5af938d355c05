/*
 * ggml_write.c — writer of whisper.cpp's legacy ggml container (the layout ggml.c reads).
 *
 * Tensor types follow whisper.cpp's convert-pt-to-ggml.py: 1-D tensors, the conv biases
 * (stored as [n_state, 1]) and both positional embeddings stay f32, everything else is f16.
 * With q8_0 or q5_1, every 2-D weight but the positional embeddings whose rows are whole
 * 32-value blocks is quantized, as whisper.cpp's quantize tool does, with the block formulas
 * of scripts/reference_ggml.py (round half to even, as numpy does, so both agree bit for bit);
 * the header's ftype is then the type plus 1000 × quantization version 2.
 * Tensors keep the source's order; a whisper.cpp source is thus rewritten byte for byte.
 */
#include <math.h>
#include <string.h>

#include "models/writers.h"
#include "nn/quant.h"

enum {
    GGML_MAGIC = 0x67676d6c,
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_FTYPE_F16 = 1,
    GGML_FTYPE_Q5_1 = 9,
    GGML_FTYPE_Q8_0 = 7,
    GGML_QUANT_VERSION = 2,
    QK = 32, /* values per quantization block */
};

static int keeps_f32(const st_tensor *t) {
    return t->n_dims < 2 || st_write_is_conv_bias(t->name) || strstr(t->name, "positional_embedding") != NULL;
}

static int quantizable(const st_tensor *t) {
    return t->n_dims == 2 && !strstr(t->name, "positional_embedding") && t->shape[1] % QK == 0;
}

static void put_half(uint8_t *p, float v) {
    uint16_t h = st_fp32_to_fp16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* q8_0: f16 scale d = max|x| / 127, then 32 int8 round(x / d). */
static void quantize_q8_0(const float *x, uint8_t block[34]) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float inverse = d > 0.0f ? 1.0f / d : 0.0f;
    put_half(block, d);
    for (int j = 0; j < QK; j++)
        block[2 + j] = (uint8_t)(int8_t)nearbyintf(x[j] * inverse);
}

/* q5_1: f16 step d = (max − min) / 31 and f16 minimum m, then 5-bit q = ⌊(x − min)/d + ½⌋:
 * the fifth bits gathered in a u32, the low nibbles two to a byte (value j with j + 16). */
static void quantize_q5_1(const float *x, uint8_t block[24]) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < QK; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    float d = (hi - lo) / 31.0f;
    float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[QK];
    uint32_t high_bits = 0;
    for (int j = 0; j < QK; j++) {
        float v = floorf((x[j] - lo) * inverse + 0.5f);
        v = v < 0.0f ? 0.0f : v > 31.0f ? 31.0f : v;
        q[j] = (uint8_t)v;
        high_bits |= (uint32_t)(q[j] >> 4) << j;
    }
    put_half(block, d);
    put_half(block + 2, lo);
    for (int i = 0; i < 4; i++)
        block[4 + i] = (uint8_t)(high_bits >> (8 * i));
    for (int j = 0; j < QK / 2; j++)
        block[8 + j] = (uint8_t)((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4);
}

static steno_status write_quantized(const st_write_source *src, const st_tensor *t, int type, st_atomic_file *out,
                                    st_error *err) {
    const float *values;
    steno_status status = st_write_tensor_f32(src, t, &values, err);
    if (status != STENO_OK) return status;
    size_t n_blocks = (size_t)st_tensor_n_elements(t) / QK;
    uint8_t block[34];
    for (size_t b = 0; b < n_blocks; b++) {
        if (type == GGML_TYPE_Q8_0) {
            quantize_q8_0(values + b * QK, block);
            st_atomic_write(out, block, 34);
        } else {
            quantize_q5_1(values + b * QK, block);
            st_atomic_write(out, block, 24);
        }
    }
    return STENO_OK;
}

static void write_vocabulary(const st_write_source *src, st_atomic_file *out) {
    const st_model *model = src->model;
    if (model->vocab) { /* a whisper.cpp source: its list as it was */
        st_atomic_u32(out, (uint32_t)model->n_vocab_entries);
        for (size_t i = 0; i < model->n_vocab_entries; i++) {
            st_atomic_u32(out, model->vocab[i].length);
            st_atomic_write(out, model->vocab[i].bytes, model->vocab[i].length);
        }
        return;
    }
    /* as whisper.cpp's converter lists GPT-2's vocabulary: the text tokens, then end-of-text */
    static const char eot_name[] = "<|endoftext|>";
    int eot = st_tokenizer_eot(src->tokenizer);
    st_atomic_u32(out, (uint32_t)eot + 1);
    for (int id = 0; id < eot; id++) {
        size_t length = 0;
        const uint8_t *bytes = st_tokenizer_token_bytes(src->tokenizer, id, &length);
        st_atomic_u32(out, (uint32_t)length);
        st_atomic_write(out, bytes, length);
    }
    st_atomic_u32(out, sizeof eot_name - 1);
    st_atomic_write(out, eot_name, sizeof eot_name - 1);
}

steno_status st_ggml_write(const st_write_source *src, st_convert_precision precision, const char *path,
                           st_error *err) {
    int quant_type = precision == ST_PRECISION_Q8_0   ? GGML_TYPE_Q8_0
                     : precision == ST_PRECISION_Q5_1 ? GGML_TYPE_Q5_1
                                                      : -1;
    int ftype = quant_type == GGML_TYPE_Q8_0   ? GGML_FTYPE_Q8_0 + 1000 * GGML_QUANT_VERSION
                : quant_type == GGML_TYPE_Q5_1 ? GGML_FTYPE_Q5_1 + 1000 * GGML_QUANT_VERSION
                                               : GGML_FTYPE_F16;
    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status != STENO_OK) return status;
    const st_whisper_dims *d = &src->model->dims;
    int32_t header[11] = {d->n_vocab,    d->n_audio_ctx,  d->n_audio_state, d->n_audio_head, d->n_audio_layer,
                          d->n_text_ctx, d->n_text_state, d->n_text_head,   d->n_text_layer, d->n_mels,
                          ftype};
    st_atomic_u32(&out, GGML_MAGIC);
    for (int i = 0; i < 11; i++)
        st_atomic_u32(&out, (uint32_t)header[i]);
    st_atomic_u32(&out, (uint32_t)d->n_mels);
    st_atomic_u32(&out, (uint32_t)src->n_mel_bins);
    st_atomic_write(&out, src->mel_filters, (size_t)d->n_mels * (size_t)src->n_mel_bins * sizeof(float));
    write_vocabulary(src, &out);

    for (size_t i = 0; status == STENO_OK && i < src->n_tensors; i++) {
        const st_tensor *t = src->tensors[i];
        int type = keeps_f32(t) ? GGML_TYPE_F32 : GGML_TYPE_F16;
        if (quant_type >= 0 && quantizable(t)) type = quant_type;
        /* ggml lists dimensions innermost first; conv biases gain their trailing 1 */
        int32_t ne[ST_TENSOR_MAX_DIMS + 1];
        int n_dims = 0;
        if (st_write_is_conv_bias(t->name)) ne[n_dims++] = 1;
        for (int k = t->n_dims - 1; k >= 0; k--)
            ne[n_dims++] = (int32_t)t->shape[k];
        size_t name_length = strlen(t->name);
        st_atomic_u32(&out, (uint32_t)n_dims);
        st_atomic_u32(&out, (uint32_t)name_length);
        st_atomic_u32(&out, (uint32_t)type);
        for (int k = 0; k < n_dims; k++)
            st_atomic_u32(&out, (uint32_t)ne[k]);
        st_atomic_write(&out, t->name, name_length);
        if (type == GGML_TYPE_F32)
            status = st_write_values_f32(src, t, &out, err);
        else if (type == GGML_TYPE_F16)
            status = st_write_values_f16(src, t, &out, err);
        else
            status = write_quantized(src, t, type, &out, err);
    }
    if (status != STENO_OK) {
        st_atomic_file_abort(&out);
        return status;
    }
    return st_atomic_file_commit(&out, err);
}
