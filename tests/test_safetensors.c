/*
 * test_safetensors.c — the safetensors parser, transformers folders and the Hugging Face cache
 * layout on small files built here.
 *
 * A tiny one-layer Whisper (8 wide) is written in the published safetensors layout under
 * transformers' names, with values chosen exactly representable in F16/BF16/F32; it must load
 * with the right dimensions, names and values. Then the hostile cases: header lengths past the
 * end of the file or over the 100 MB limit, broken JSON, unknown and sub-byte dtypes, shapes that
 * overflow, offsets out of range, overlapping, leaving holes or disagreeing with the shape,
 * truncation at every prefix length; configurations that contradict the tensors; index files
 * that name paths or the wrong shard; cache repositories with garbage in refs/main, symlink
 * loops, symlinks escaping the repository and missing blobs. Each must be refused with its
 * status and a message naming the problem, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/hf.h"
#include "models/hf_cache.h"
#include "models/hf_names.h"
#include "models/loader.h"
#include "models/safetensors.h"
#include "nn/linear.h"
#include "test_support.h"

/* ---- a tiny model, written here ---- */

enum { D = 8, MELS = 4, ACTX = 4, TCTX = 4, VOCAB = 6, MAX_ENTRIES = 80 };

typedef struct entry {
    char name[96];
    char dtype[16];
    int n_dims;
    int64_t shape[10];
    int64_t begin, end; /* in the header; -1: where the values are (packed after the previous entry) */
    int values_of;      /* whose pattern the values follow: -1 for the entry's own */
} entry;

typedef struct tiny {
    entry e[MAX_ENTRIES];
    int n;
    const char *metadata;     /* raw JSON value of __metadata__, or NULL */
    const char *extra_header; /* raw JSON members appended to the header, or NULL */
} tiny;

static void add(tiny *t, const char *name, int n_dims, int64_t a, int64_t b, int64_t c) {
    entry *e = &t->e[t->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->dtype, sizeof e->dtype, "%s", n_dims > 1 ? "F16" : "F32");
    e->n_dims = n_dims;
    e->shape[0] = a;
    e->shape[1] = b;
    e->shape[2] = c;
    e->begin = e->end = -1;
    e->values_of = -1;
}

static void add_layer(tiny *t, const char *side) {
    char p[96], name[160];
    const char *modules[2] = {"self_attn", "encoder_attn"};
    int n_modules = side[0] == 'd' ? 2 : 1;
    for (int m = 0; m < n_modules; m++) {
        static const char *const projections[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "model.%s.layers.0.%s.%s.weight", side, modules[m], projections[i]);
            add(t, name, 2, D, D, 0);
            if (i == 1) continue; /* the key projection has no bias */
            snprintf(name, sizeof name, "model.%s.layers.0.%s.%s.bias", side, modules[m], projections[i]);
            add(t, name, 1, D, 0, 0);
        }
        snprintf(name, sizeof name, "model.%s.layers.0.%s_layer_norm.weight", side, modules[m]);
        add(t, name, 1, D, 0, 0);
        snprintf(name, sizeof name, "model.%s.layers.0.%s_layer_norm.bias", side, modules[m]);
        add(t, name, 1, D, 0, 0);
    }
    snprintf(p, sizeof p, "model.%s.layers.0.", side);
#define LAYER(suffix, n, a, b) (snprintf(name, sizeof name, "%s%s", p, suffix), add(t, name, n, a, b, 0))
    LAYER("fc1.weight", 2, 4 * D, D);
    LAYER("fc1.bias", 1, 4 * D, 0);
    LAYER("fc2.weight", 2, D, 4 * D);
    LAYER("fc2.bias", 1, D, 0);
    LAYER("final_layer_norm.weight", 1, D, 0);
    LAYER("final_layer_norm.bias", 1, D, 0);
#undef LAYER
}

static void tiny_default(tiny *t) {
    memset(t, 0, sizeof *t);
    add(t, "model.encoder.conv1.weight", 3, D, MELS, 3);
    add(t, "model.encoder.conv1.bias", 1, D, 0, 0);
    add(t, "model.encoder.conv2.weight", 3, D, D, 3);
    add(t, "model.encoder.conv2.bias", 1, D, 0, 0);
    add(t, "model.encoder.embed_positions.weight", 2, ACTX, D, 0);
    add_layer(t, "encoder");
    add(t, "model.encoder.layer_norm.weight", 1, D, 0, 0);
    add(t, "model.encoder.layer_norm.bias", 1, D, 0, 0);
    add(t, "model.decoder.embed_tokens.weight", 2, VOCAB, D, 0);
    add(t, "model.decoder.embed_positions.weight", 2, TCTX, D, 0);
    add_layer(t, "decoder");
    add(t, "model.decoder.layer_norm.weight", 1, D, 0, 0);
    add(t, "model.decoder.layer_norm.bias", 1, D, 0, 0);
    t->metadata = "{\"format\":\"pt\"}";
}

static entry *find(tiny *t, const char *name) {
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->e[i].name, name) == 0) return &t->e[i];
    }
    fail_msg("no entry %s", name);
    return NULL;
}

static void drop(tiny *t, const char *name) {
    entry *e = find(t, name);
    memmove(e, e + 1, (size_t)(&t->e[t->n] - (e + 1)) * sizeof *e);
    t->n--;
}

/* Value j of entry k: a multiple of 1/8 in [-0.75, 0.75], exact in every float type. */
static float pattern(int k, int64_t j) {
    return (float)((k * 7 + j) % 13 - 6) / 8.0f;
}

static uint32_t f32_bits(float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    return b;
}

/* Half-precision bits of a value that has an exact normal half representation (or zero). */
static uint16_t f16_bits(float v) {
    uint32_t b = f32_bits(v);
    if ((b & 0x7fffffff) == 0) return (uint16_t)(b >> 16);
    uint32_t sign = b >> 31, exponent = ((b >> 23) & 0xff) - 127 + 15, mantissa = (b >> 13) & 0x3ff;
    return (uint16_t)(sign << 15 | exponent << 10 | mantissa);
}

static int element_size(const char *dtype) {
    if (!strcmp(dtype, "F32") || !strcmp(dtype, "I32") || !strcmp(dtype, "U32")) return 4;
    if (!strcmp(dtype, "F64") || !strcmp(dtype, "I64") || !strcmp(dtype, "U64")) return 8;
    if (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16") || !strcmp(dtype, "I16") || !strcmp(dtype, "U16")) return 2;
    return 1;
}

static int64_t n_elements(const entry *e) {
    int64_t n = 1;
    for (int d = 0; d < e->n_dims; d++)
        n *= e->shape[d];
    return n;
}

typedef struct buffer {
    uint8_t *data;
    size_t size;
} buffer;

/* The file: u64 header length, the JSON header space-padded to 8 bytes, then every entry's
 * values back to back; an entry's begin/end overrides change only what the header says. */
static buffer serialize(const tiny *t) {
    size_t capacity = 1 << 16, data_size = 0;
    char *header = malloc(capacity);
    assert_non_null(header);
    size_t used = (size_t)snprintf(header, capacity, "{");
    if (t->metadata) used += (size_t)snprintf(header + used, capacity - used, "\"__metadata__\":%s,", t->metadata);
    int64_t offset = 0;
    for (int k = 0; k < t->n; k++) {
        const entry *e = &t->e[k];
        int64_t bytes = n_elements(e) * element_size(e->dtype);
        int64_t begin = e->begin >= 0 ? e->begin : offset, end = e->end >= 0 ? e->end : begin + bytes;
        offset += bytes;
        data_size += (size_t)bytes;
        used += (size_t)snprintf(header + used, capacity - used, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", k ? "," : "",
                                 e->name, e->dtype);
        for (int d = 0; d < e->n_dims; d++)
            used += (size_t)snprintf(header + used, capacity - used, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        used += (size_t)snprintf(header + used, capacity - used, "],\"data_offsets\":[%lld,%lld]}", (long long)begin,
                                 (long long)end);
    }
    if (t->extra_header) used += (size_t)snprintf(header + used, capacity - used, ",%s", t->extra_header);
    used += (size_t)snprintf(header + used, capacity - used, "}");
    while ((8 + used) % 8)
        header[used++] = ' ';
    assert_true(used < capacity);
    buffer b = {.size = 8 + used + data_size};
    b.data = calloc(1, b.size);
    assert_non_null(b.data);
    for (int i = 0; i < 8; i++)
        b.data[i] = (uint8_t)((uint64_t)used >> (8 * i));
    memcpy(b.data + 8, header, used);
    free(header);
    uint8_t *data = b.data + 8 + used;
    offset = 0;
    for (int k = 0; k < t->n; k++) {
        const entry *e = &t->e[k];
        int64_t count = n_elements(e);
        int size = element_size(e->dtype);
        {
            for (int64_t j = 0; j < count; j++) {
                float v = pattern(e->values_of >= 0 ? e->values_of : k, j);
                uint8_t *p = data + offset + j * size;
                if (!strcmp(e->dtype, "F16")) {
                    uint16_t h = f16_bits(v);
                    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
                } else if (!strcmp(e->dtype, "BF16")) {
                    uint16_t h = (uint16_t)(f32_bits(v) >> 16);
                    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
                } else if (!strcmp(e->dtype, "F32")) {
                    uint32_t w = f32_bits(v);
                    for (int i = 0; i < 4; i++)
                        p[i] = (uint8_t)(w >> (8 * i));
                }
            }
        }
        offset += count * size;
    }
    return b;
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, text, strlen(text));
}

static void remove_file(const char *dir, const char *name) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void write_tiny(const char *path, const tiny *t) {
    buffer b = serialize(t);
    write_file(path, b.data, b.size);
    free(b.data);
}

static steno_status load_tiny(const tiny *t, st_model *model, st_error *err) {
    buffer b = serialize(t);
    steno_status status = st_hf_load_memory(b.data, b.size, "tiny.safetensors", model, err);
    st_model_free(model);
    free(b.data);
    return status;
}

static void expect_refused(const tiny *t, steno_status code, const char *needle) {
    st_model model;
    st_error err;
    st_error_clear(&err);
    steno_status status = load_tiny(t, &model, &err);
    if (status != code || !strstr(err.message, needle)) {
        fail_msg("expected status %d with '%s', got %d: %s", code, needle, status, err.message);
    }
    assert_non_null(strstr(err.message, "tiny.safetensors"));
}

/* Parses raw bytes and expects code with needle in the message. */
static void expect_parse_refused(const uint8_t *data, size_t size, steno_status code, const char *needle) {
    st_safetensors parsed;
    st_error err;
    st_error_clear(&err);
    steno_status status = st_safetensors_parse(data, size, "raw.safetensors", &parsed, &err);
    if (status != code || !strstr(err.message, needle)) {
        fail_msg("expected status %d with '%s', got %d: %s", code, needle, status, err.message);
    }
    assert_null(parsed.tensors);
    assert_non_null(strstr(err.message, "raw.safetensors"));
}

/* A file of header text with a given header length field (padding not applied). */
static buffer raw_file(const char *header, uint64_t length_field, size_t data_bytes) {
    size_t n = strlen(header);
    buffer b = {.size = 8 + n + data_bytes};
    b.data = calloc(1, b.size);
    assert_non_null(b.data);
    for (int i = 0; i < 8; i++)
        b.data[i] = (uint8_t)(length_field >> (8 * i));
    memcpy(b.data + 8, header, n);
    return b;
}

/* ---- loading ---- */

static void expect_tiny_values(const st_model *model, const tiny *t) {
    for (int k = 0; k < t->n; k++) {
        char canonical[128];
        if (st_hf_canonical_name(t->e[k].name, canonical, sizeof canonical) != 1) continue;
        const st_tensor *tensor = st_model_find(model, canonical);
        if (!tensor) fail_msg("%s missing", canonical);
        float *values = NULL;
        st_error err;
        assert_int_equal(st_nn_tensor_to_f32(tensor, &values, &err), STENO_OK);
        for (int64_t j = 0; j < st_tensor_n_elements(tensor); j++) {
            if (values[j] != pattern(k, j)) fail_msg("%s[%lld] = %g", canonical, (long long)j, values[j]);
        }
        st_nn_free(values);
    }
}

static void tiny_model_loads(void **state) {
    (void)state;
    tiny t;
    tiny_default(&t);
    /* one tensor of each float type the reader takes */
    snprintf(find(&t, "model.encoder.layers.0.fc1.weight")->dtype, 16, "BF16");
    snprintf(find(&t, "model.decoder.layers.0.fc2.weight")->dtype, 16, "F32");
    buffer b = serialize(&t);
    st_model model;
    st_error err;
    if (st_hf_load_memory(b.data, b.size, "tiny.safetensors", &model, &err) != STENO_OK) {
        fail_msg("%s", err.message);
    }
    assert_string_equal(model.format, "safetensors");
    const st_whisper_dims expected = {.n_mels = MELS,
                                      .n_audio_ctx = ACTX,
                                      .n_audio_state = D,
                                      .n_audio_head = 1,
                                      .n_audio_layer = 1,
                                      .n_vocab = VOCAB,
                                      .n_text_ctx = TCTX,
                                      .n_text_state = D,
                                      .n_text_head = 1,
                                      .n_text_layer = 1};
    assert_memory_equal(&model.dims, &expected, sizeof expected);
    assert_int_equal(model.n_tensors, (size_t)t.n);
    assert_int_equal(st_model_find(&model, "encoder.blocks.0.mlp.0.weight")->dtype, ST_DTYPE_BF16);
    assert_int_equal(st_model_find(&model, "decoder.blocks.0.mlp.2.weight")->dtype, ST_DTYPE_F32);
    assert_int_equal(st_model_find(&model, "decoder.blocks.0.cross_attn.query.weight")->dtype, ST_DTYPE_F16);
    for (size_t i = 0; i < model.n_tensors; i++) {
        const uint8_t *p = model.tensors[i].data;
        assert_true(p >= b.data && p + model.tensors[i].n_bytes <= b.data + b.size); /* in place, no copy */
    }
    expect_tiny_values(&model, &t);
    st_model_free(&model);

    /* proj_out.weight holding the embedding's values is accepted, and is no tensor of its own */
    free(b.data);
    add(&t, "proj_out.weight", 2, VOCAB, D, 0);
    t.e[t.n - 1].values_of = (int)(find(&t, "model.decoder.embed_tokens.weight") - t.e);
    snprintf(find(&t, "model.encoder.layers.0.fc1.weight")->dtype, 16, "BF16");
    snprintf(find(&t, "model.decoder.layers.0.fc2.weight")->dtype, 16, "F32");
    if (load_tiny(&t, &model, &err) != STENO_OK) fail_msg("%s", err.message);
}

/* The fuzz seed scripts/reference_hf.py writes (numpy, the published layout) loads too. */
static void python_written_file_loads(void **state) {
    (void)state;
    char path[4096];
    if (!st_test_path(path, sizeof path, "STENO_SOURCE_DIR", "fuzz/corpus/fuzz_safetensors/tiny.safetensors")) fail();
    st_model model;
    st_error err;
    assert_int_equal(st_model_detect(path), ST_FORMAT_SAFETENSORS);
    if (st_model_open(path, &model, &err) != STENO_OK) fail_msg("%s", err.message);
    const st_whisper_dims expected = {.n_mels = MELS,
                                      .n_audio_ctx = ACTX,
                                      .n_audio_state = D,
                                      .n_audio_head = 1,
                                      .n_audio_layer = 1,
                                      .n_vocab = VOCAB,
                                      .n_text_ctx = TCTX,
                                      .n_text_state = D,
                                      .n_text_head = 1,
                                      .n_text_layer = 1};
    assert_memory_equal(&model.dims, &expected, sizeof expected);
    assert_int_equal(st_model_find(&model, "encoder.blocks.0.attn.query.weight")->dtype, ST_DTYPE_F16);
    assert_int_equal(st_model_find(&model, "encoder.blocks.0.attn.query.bias")->dtype, ST_DTYPE_F32);
    assert_null(model.vocabulary_path);
    st_model_free(&model);
}

static void generic_parser(void **state) {
    (void)state;
    /* an empty file of the format: header {} and nothing after it */
    buffer b = raw_file("{}      ", 8, 0);
    st_safetensors parsed;
    st_error err;
    assert_int_equal(st_safetensors_parse(b.data, b.size, "empty", &parsed, &err), STENO_OK);
    assert_int_equal(parsed.n_tensors, 0);
    assert_int_equal(parsed.header_length, 8);
    st_safetensors_free(&parsed);
    free(b.data);
    /* every byte-sized dtype of the format, a zero-size tensor, a scalar, metadata */
    tiny t = {0};
    static const char *const types[] = {"BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
                                        "BF16", "I32", "U32", "F32",     "F64",     "I64", "U64"};
    for (int i = 0; i < 15; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        add(&t, name, 2, 2, 3, 0);
        snprintf(t.e[i].dtype, 16, "%s", types[i]);
    }
    add(&t, "empty", 2, 0, 5, 0);
    add(&t, "scalar", 0, 0, 0, 0);
    t.metadata = "{\"format\":\"pt\",\"note\":\"x\"}";
    b = serialize(&t);
    assert_int_equal(st_safetensors_parse(b.data, b.size, "all", &parsed, &err), STENO_OK);
    assert_int_equal(parsed.n_tensors, 17);
    assert_int_equal((8 + parsed.header_length) % 8, 0);
    int seen_f64 = 0, seen_empty = 0;
    for (size_t i = 0; i < parsed.n_tensors; i++) {
        const st_safetensors_tensor *x = &parsed.tensors[i];
        assert_true(x->data >= b.data + 8 + parsed.header_length && x->data + x->n_bytes <= b.data + b.size);
        if (!strcmp(x->name, "t12")) {
            seen_f64 = 1;
            assert_string_equal(x->dtype_name, "F64");
            assert_int_equal(x->dtype, ST_DTYPE_COUNT);
            assert_int_equal(x->n_bytes, 48);
        }
        if (!strcmp(x->name, "t8")) assert_int_equal(x->dtype, ST_DTYPE_BF16);
        if (!strcmp(x->name, "empty")) seen_empty = x->n_bytes == 0;
        if (!strcmp(x->name, "scalar")) assert_int_equal(x->n_dims, 0);
    }
    assert_true(seen_f64 && seen_empty);
    assert_true(st_safetensors_detect(b.data, b.size, b.size));
    st_safetensors_free(&parsed);
    free(b.data);
}

/* ---- hostile files ---- */

static void hostile_headers(void **state) {
    (void)state;
    expect_parse_refused((const uint8_t *)"\x02\0\0", 3, STENO_ERR_FORMAT, "too short");
    buffer b = raw_file("{}", 1000, 0);
    expect_parse_refused(b.data, b.size, STENO_ERR_FORMAT, "past the end of the file");
    assert_false(st_safetensors_detect(b.data, b.size, b.size));
    free(b.data);
    b = raw_file("{}", UINT64_MAX, 0);
    expect_parse_refused(b.data, b.size, STENO_ERR_FORMAT, "limit");
    free(b.data);
    b = raw_file("{}", 100000001, 0);
    expect_parse_refused(b.data, b.size, STENO_ERR_FORMAT, "limit");
    free(b.data);
    b = raw_file("[]", 2, 0);
    expect_parse_refused(b.data, b.size, STENO_ERR_FORMAT, "does not start with '{'");
    free(b.data);
    static const struct {
        const char *header, *needle;
        steno_status code;
    } cases[] = {
        {"{\"a\":", "invalid JSON", STENO_ERR_FORMAT},
        {"{} x", "invalid JSON", STENO_ERR_FORMAT},
        {"{\"a\":1,\"a\":2}", "invalid JSON", STENO_ERR_FORMAT}, /* duplicate names */
        {"{\"a\":\"\xff\"}", "invalid JSON", STENO_ERR_FORMAT},
        {"{\"a\":1}", "'a' is not an object", STENO_ERR_FORMAT},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "needs a string dtype", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype 'F17'", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", "sub-byte", STENO_ERR_UNSUPPORTED},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "shape[0]", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "shape[0]", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", "9 dimensions",
         STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,4]}}",
         "more bytes than", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", "more bytes than",
         STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,16]}}", "data_offsets is not", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "data_offsets is not", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", "data_offsets is not", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "data_offsets is not", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,2]}}",
         "span 2 bytes, but F32 of this shape takes 4", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F16\",\"shape\":[2],"
         "\"data_offsets\":[2,6]}}",
         "overlaps tensor 'a'", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[2,4]}}", "belong to no tensor", STENO_ERR_FORMAT},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", "file goes on", STENO_ERR_FORMAT},
        {"{\"__metadata__\":{\"k\":1}}", "__metadata__['k'] is not a string", STENO_ERR_FORMAT},
        {"{\"__metadata__\":[]}", "__metadata__ is not an object", STENO_ERR_FORMAT},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", "empty name", STENO_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b = raw_file(cases[i].header, strlen(cases[i].header), 8); /* 8 data bytes */
        expect_parse_refused(b.data, b.size, cases[i].code, cases[i].needle);
        free(b.data);
    }
}

static void hostile_tensors(void **state) {
    (void)state;
    tiny t;
    tiny_default(&t);
    find(&t, "model.encoder.conv2.bias")->end = 1 << 30;
    expect_refused(&t, STENO_ERR_FORMAT, "data_offsets is not");
    tiny_default(&t);
    find(&t, "model.encoder.conv2.bias")->begin = 0; /* on top of conv1.weight */
    expect_refused(&t, STENO_ERR_FORMAT, "overlaps");
    tiny_default(&t);
    snprintf(find(&t, "model.encoder.conv2.weight")->dtype, 16, "I32");
    expect_refused(&t, STENO_ERR_UNSUPPORTED, "is I32; Whisper weights are F16, BF16 or F32");
    tiny_default(&t);
    snprintf(find(&t, "model.encoder.conv2.weight")->dtype, 16, "F8_E4M3");
    expect_refused(&t, STENO_ERR_UNSUPPORTED, "F8_E4M3");
    tiny_default(&t);
    find(&t, "model.encoder.layers.0.fc1.weight")->shape[0] = 4 * D - 1;
    expect_refused(&t, STENO_ERR_FORMAT, "has shape [31, 8], expected [32, 8]");
    tiny_default(&t);
    add(&t, "model.encoder.layers.0.self_attn.k_proj.bias", 1, D, 0, 0);
    expect_refused(&t, STENO_ERR_FORMAT, "does not belong");
    tiny_default(&t);
    add(&t, "model.encoder.layers.0.adapter.weight", 2, D, D, 0);
    expect_refused(&t, STENO_ERR_FORMAT, "not part of a transformers Whisper model");
    tiny_default(&t);
    add(&t, "encoder.conv1.bias", 1, D, 0, 0); /* the same tensor under a second spelling */
    expect_refused(&t, STENO_ERR_FORMAT, "appears twice");
    tiny_default(&t);
    drop(&t, "model.decoder.layers.0.encoder_attn.v_proj.bias");
    expect_refused(&t, STENO_ERR_FORMAT, "'decoder.blocks.0.cross_attn.value.bias' is missing");
    tiny_default(&t);
    drop(&t, "model.encoder.conv1.weight");
    expect_refused(&t, STENO_ERR_FORMAT, "'encoder.conv1.weight' is missing");
    tiny_default(&t);
    add(&t, "proj_out.weight", 2, VOCAB, D, 0); /* its own values: not the embedding */
    expect_refused(&t, STENO_ERR_UNSUPPORTED, "differs from the token embedding");
}

static void every_truncation_is_refused(void **state) {
    (void)state;
    tiny t;
    tiny_default(&t);
    buffer b = serialize(&t);
    for (size_t n = 0; n < b.size; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes, so that ASan sees any overread */
        assert_non_null(copy);
        memcpy(copy, b.data, n);
        st_model model;
        st_error err;
        st_error_clear(&err);
        steno_status status = st_hf_load_memory(copy, n, "tiny.safetensors", &model, &err);
        if (status != STENO_ERR_FORMAT) fail_msg("prefix %zu: status %d (%s)", n, status, err.message);
        assert_true(strlen(err.message) > 0);
        free(copy);
    }
    free(b.data);
}

/* ---- folders ---- */

static char scratch[4096];

static const char *scratch_dir(const char *name) {
    static char path[4200];
    if (!scratch[0]) {
        char base[4096];
        if (!st_test_path(base, sizeof base, "STENO_BINARY_DIR", "test_safetensors_scratch")) {
            snprintf(base, sizeof base, "/tmp/test_safetensors_scratch");
        }
        snprintf(scratch, sizeof scratch, "%s", base);
    }
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    char command[8600];
    snprintf(command, sizeof command, "rm -rf '%s' && mkdir -p '%s'", path, path);
    assert_int_equal(system(command), 0);
    return path;
}

static const char *tiny_config =
    "{\"model_type\":\"whisper\",\"d_model\":8,\"encoder_layers\":1,\"decoder_layers\":1,\"encoder_attention_heads\":2,"
    "\"decoder_attention_heads\":4,\"num_mel_bins\":4,\"vocab_size\":6,\"max_source_positions\":4,"
    "\"max_target_positions\":4,\"encoder_ffn_dim\":32,\"activation_function\":\"gelu\",\"scale_embedding\":false}";

static void write_folder(const char *dir, const char *config) {
    tiny t;
    tiny_default(&t);
    char path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_tiny(path, &t);
    if (config) write_text(dir, "config.json", config);
}

static void expect_open(const char *path, steno_status code, const char *needle) {
    st_model model;
    st_error err;
    st_error_clear(&err);
    steno_status status = st_model_open(path, &model, &err);
    if (status != code || (needle && !strstr(err.message, needle))) {
        fail_msg("%s: expected status %d with '%s', got %d: %s", path, code, needle ? needle : "", status, err.message);
    }
    st_model_free(&model);
}

static void folder_configuration(void **state) {
    (void)state;
    const char *dir = scratch_dir("folder");
    char folder[4200];
    snprintf(folder, sizeof folder, "%s", dir);
    write_folder(folder, tiny_config);
    write_text(folder, "generation_config.json", "{\"alignment_heads\":[[0,3],[0,1]],\"suppress_tokens\":[1]}");
    write_text(folder, "tokenizer.json", "{}");
    assert_int_equal(st_model_detect(folder), ST_FORMAT_SAFETENSORS);
    st_model model;
    st_error err;
    if (st_model_open(folder, &model, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_int_equal(model.dims.n_audio_head, 2); /* from config.json, not the 64-wide default */
    assert_int_equal(model.dims.n_text_head, 4);
    assert_int_equal(model.n_alignment_heads, 2);
    assert_int_equal(model.alignment_heads[0], 0);
    assert_int_equal(model.alignment_heads[1], 3);
    assert_int_equal(model.alignment_heads[3], 1);
    assert_non_null(strstr(model.vocabulary_path, "/tokenizer.json"));
    st_model_free(&model);
    write_text(folder, "vocab.json", "{}");
    if (st_model_open(folder, &model, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_non_null(strstr(model.vocabulary_path, "/vocab.json")); /* vocab.json first */
    st_model_free(&model);

    static const struct {
        const char *file, *text, *needle;
        steno_status code;
    } cases[] = {
        {"config.json", "{\"d_model\":16}", "has shape [8, 4, 3], expected [16, 4, 3]", STENO_ERR_FORMAT},
        {"config.json", "{\"encoder_layers\":2}", "'encoder.blocks.1.", STENO_ERR_FORMAT},
        {"config.json", "{\"decoder_layers\":0}", "'decoder_layers' is not an integer", STENO_ERR_FORMAT},
        {"config.json", "{\"vocab_size\":\"six\"}", "'vocab_size' is not an integer", STENO_ERR_FORMAT},
        {"config.json", "{\"encoder_attention_heads\":3}", "not a multiple of the head count", STENO_ERR_FORMAT},
        {"config.json", "{\"model_type\":\"bert\"}", "model_type", STENO_ERR_UNSUPPORTED},
        {"config.json", "{\"activation_function\":\"relu\"}", "activation_function", STENO_ERR_UNSUPPORTED},
        {"config.json", "{\"scale_embedding\":true}", "scale_embedding", STENO_ERR_UNSUPPORTED},
        {"config.json", "{\"d_model\":8,\"decoder_ffn_dim\":16}", "feed-forward", STENO_ERR_UNSUPPORTED},
        {"config.json", "{\"d_model\":", "invalid JSON", STENO_ERR_FORMAT},
        {"config.json", "[1]", "expected a JSON object", STENO_ERR_FORMAT},
        {"generation_config.json", "{\"alignment_heads\":[[1,0]]}", "alignment_heads[0]", STENO_ERR_FORMAT},
        {"generation_config.json", "{\"alignment_heads\":[[0,4]]}", "alignment_heads[0]", STENO_ERR_FORMAT},
        {"generation_config.json", "{\"alignment_heads\":[[0]]}", "alignment_heads[0]", STENO_ERR_FORMAT},
        {"generation_config.json", "{\"alignment_heads\":{}}", "not a list", STENO_ERR_FORMAT},
        {"generation_config.json", "{\"alignment_heads\":[[0,0],[0,1],[0,2],[0,3],[0,0]]}", "more than the decoder's 4",
         STENO_ERR_FORMAT},
        {"preprocessor_config.json", "{\"feature_size\":128}", "feature_size is not 4", STENO_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_folder(folder, tiny_config);
        remove_file(folder, "generation_config.json");
        write_text(folder, cases[i].file, cases[i].text);
        expect_open(folder, cases[i].code, cases[i].needle);
        remove_file(folder, cases[i].file);
    }
    /* without config.json: dimensions from the shapes, heads 64 wide (here 1) */
    write_folder(folder, tiny_config);
    remove_file(folder, "config.json");
    if (st_model_open(folder, &model, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_int_equal(model.dims.n_audio_head, 1);
    st_model_free(&model);
    char file[4300];
    snprintf(file, sizeof file, "%s/model.safetensors", folder);
    expect_open(file, STENO_OK, NULL);
}

/* Two shards: the encoder's tensors, then the rest; the index maps each name to its shard. */
static void write_sharded(const char *dir, const char *index_override) {
    tiny t, first, second;
    tiny_default(&t);
    memset(&first, 0, sizeof first);
    memset(&second, 0, sizeof second);
    char index[1 << 14];
    size_t used = (size_t)snprintf(index, sizeof index, "{\"metadata\":{\"total_size\":1},\"weight_map\":{");
    for (int k = 0; k < t.n; k++) {
        int encoder = strncmp(t.e[k].name, "model.encoder.", 14) == 0;
        tiny *part = encoder ? &first : &second;
        part->e[part->n++] = t.e[k];
        used += (size_t)snprintf(index + used, sizeof index - used, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"",
                                 k ? "," : "", t.e[k].name, encoder ? 1 : 2);
    }
    snprintf(index + used, sizeof index - used, "}}");
    char path[4300];
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    write_tiny(path, &first);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    write_tiny(path, &second);
    write_text(dir, "model.safetensors.index.json", index_override ? index_override : index);
    write_text(dir, "config.json", tiny_config);
}

static void sharded_folders(void **state) {
    (void)state;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", scratch_dir("sharded"));
    write_sharded(dir, NULL);
    assert_int_equal(st_model_detect(dir), ST_FORMAT_SAFETENSORS);
    st_model model;
    st_error err;
    if (st_model_open(dir, &model, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_int_equal(model.n_extra_files, 1);
    const st_tensor *conv = st_model_find(&model, "encoder.conv1.weight"),
                    *embedding = st_model_find(&model, "decoder.token_embedding.weight");
    assert_true((const uint8_t *)conv->data >= model.file.data &&
                (const uint8_t *)conv->data < model.file.data + model.file.size);
    assert_true((const uint8_t *)embedding->data >= model.extra_files[0].data &&
                (const uint8_t *)embedding->data < model.extra_files[0].data + model.extra_files[0].size);
    st_model_free(&model);

    static const struct {
        const char *index, *needle;
        steno_status code;
    } cases[] = {
        {"{\"weight_map\":{\"model.encoder.conv1.weight\":\"../model-00001-of-00002.safetensors\"}}",
         "not the name of a file in the same folder", STENO_ERR_FORMAT},
        {"{\"weight_map\":{\"model.encoder.conv1.weight\":\"/etc/passwd\"}}", "not the name of a file",
         STENO_ERR_FORMAT},
        {"{\"weight_map\":{\"model.encoder.conv1.weight\":\"..\"}}", "not the name of a file", STENO_ERR_FORMAT},
        {"{\"weight_map\":{\"model.encoder.conv1.weight\":7}}", "not the name of a file", STENO_ERR_FORMAT},
        {"{\"weight_map\":{}}", "not a non-empty object", STENO_ERR_FORMAT},
        {"{\"weight_map\":[]}", "not a non-empty object", STENO_ERR_FORMAT},
        {"{\"weight_map\":{\"model.encoder.conv1.weight\":\"model-00002-of-00002.safetensors\"}}",
         "which does not hold it", STENO_ERR_FORMAT},
        {"{\"weight_map\":{\"model.encoder.conv1.weight\":\"model-00001-of-00002.safetensors\"}}", "the shards hold",
         STENO_ERR_FORMAT},
        {"{\"weight_map\":{\"model.encoder.conv1.weight\":\"missing.safetensors\"}}", "cannot open",
         STENO_ERR_NOT_FOUND},
        {"{\"weight_map\":", "invalid JSON", STENO_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_sharded(dir, cases[i].index);
        expect_open(dir, cases[i].code, cases[i].needle);
    }
    /* the same tensor in both shards */
    write_sharded(dir, NULL);
    tiny t;
    tiny_default(&t);
    char path[4300];
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    write_tiny(path, &t); /* the whole model, encoder included */
    expect_open(dir, STENO_ERR_FORMAT, NULL);
}

/* ---- the Hugging Face cache ---- */

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

/* repo/blobs/<name> for each file of a tiny transformers folder, and a snapshot of relative
 * symlinks (or, with copies, the files themselves) */
static void write_repo(const char *repo, int copies) {
    char command[9000];
    snprintf(command, sizeof command,
             "rm -rf '%s' && mkdir -p '%s/blobs' '%s/refs' '%s/snapshots/" COMMIT "' && printf '%s' > '%s/refs/main'",
             repo, repo, repo, repo, COMMIT, repo);
    assert_int_equal(system(command), 0);
    char blobs[4300], snapshot[4300];
    snprintf(blobs, sizeof blobs, "%s/blobs", repo);
    snprintf(snapshot, sizeof snapshot, "%s/snapshots/" COMMIT, repo);
    write_folder(blobs, tiny_config);
    if (copies) { /* where symlinks cannot be made, huggingface_hub copies the files */
        snprintf(command, sizeof command, "cp '%s/model.safetensors' '%s/config.json' '%s/'", blobs, blobs, snapshot);
    } else {
        snprintf(command, sizeof command,
                 "cd '%s' && mv model.safetensors aaaa && mv config.json bbbb && cd '%s' && "
                 "ln -s ../../blobs/aaaa model.safetensors && ln -s ../../blobs/bbbb config.json",
                 blobs, snapshot);
    }
    assert_int_equal(system(command), 0);
}

static void cache_repository(void **state) {
    (void)state;
    char hub[4200], repo[4300], snapshot[4400], found[4096];
    snprintf(hub, sizeof hub, "%s", scratch_dir("hub"));
    snprintf(repo, sizeof repo, "%s/models--org--tiny", hub);
    snprintf(snapshot, sizeof snapshot, "%s/snapshots/" COMMIT, repo);
    for (int copies = 0; copies < 2; copies++) {
        write_repo(repo, copies);
        assert_true(st_hf_cache_is_repo(repo));
        assert_int_equal(st_model_detect(repo), ST_FORMAT_SAFETENSORS);
        expect_open(repo, STENO_OK, NULL);
        expect_open(snapshot, STENO_OK, NULL);
        st_error err;
        assert_int_equal(st_hf_cache_find(hub, "org/tiny", found, sizeof found, &err), STENO_OK);
        assert_string_equal(found, snapshot);
    }
    char repo_of[4096];
    assert_true(st_hf_cache_snapshot_repo(snapshot, repo_of, sizeof repo_of));
    assert_non_null(strstr(repo_of, "models--org--tiny"));
    assert_false(st_hf_cache_snapshot_repo(repo, repo_of, sizeof repo_of));

    /* refs/main: a commit (whitespace around it is fine) or a plain snapshot name, which must
     * then exist under snapshots/; a path or several lines are refused */
    static const struct {
        const char *ref, *needle;
        steno_status code;
    } refs[] = {
        {"  " COMMIT "\r\n", NULL, STENO_OK},
        {"main", "snapshots/main is missing", STENO_ERR_NOT_FOUND},
        {"0123456789abcdef0123456789abcdef0123456", "is missing", STENO_ERR_NOT_FOUND},
        {COMMIT "8", "is missing", STENO_ERR_NOT_FOUND},
        {"0123456789ABCDEF0123456789ABCDEF01234567", "is missing", STENO_ERR_NOT_FOUND},
        {"../../../../../../../../../../../../etc", "40-digit", STENO_ERR_FORMAT},
        {COMMIT "\n" COMMIT, "40-digit", STENO_ERR_FORMAT},
        {"ffffffffffffffffffffffffffffffffffffffff", "snapshots/ffff", STENO_ERR_NOT_FOUND},
    };
    char ref_path[4400];
    snprintf(ref_path, sizeof ref_path, "%s/refs/main", repo);
    write_repo(repo, 0);
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        write_file(ref_path, refs[i].ref, strlen(refs[i].ref));
        expect_open(repo, refs[i].code, refs[i].needle);
        st_error err;
        st_error_clear(&err);
        assert_int_equal(st_hf_cache_find(hub, "org/tiny", found, sizeof found, &err), refs[i].code);
    }
    /* no refs/main: the only snapshot; two snapshots and no ref: refused */
    unlink(ref_path);
    expect_open(repo, STENO_OK, NULL);
    char other[4500];
    snprintf(other, sizeof other, "%s/snapshots/fedcba9876543210fedcba9876543210fedcba98", repo);
    assert_int_equal(mkdir(other, 0755), 0);
    expect_open(repo, STENO_ERR_NOT_FOUND, "2 snapshots");

    /* symlinks: a loop, one leaving the repository, a missing blob */
    char link_path[4500], outside[4300];
    snprintf(link_path, sizeof link_path, "%s/config.json", snapshot);
    for (int i = 0; i < 2; i++) { /* config.json -> itself; config.json -> a -> config.json */
        write_repo(repo, 0);
        unlink(link_path);
        assert_int_equal(symlink(i == 0 ? "config.json" : "a", link_path), 0);
        if (i == 1) {
            char a[4600];
            snprintf(a, sizeof a, "%s/a", snapshot);
            assert_int_equal(symlink("config.json", a), 0);
        }
        expect_open(repo, STENO_ERR_FORMAT, "symlink loop");
        expect_open(snapshot, STENO_ERR_FORMAT, "symlink loop");
    }
    snprintf(outside, sizeof outside, "%s/outside.json", hub);
    write_text(hub, "outside.json", tiny_config);
    static const char *const escapes[] = {"../../../outside.json", NULL};
    for (int i = 0; i < 2; i++) {
        write_repo(repo, 0);
        unlink(link_path);
        assert_int_equal(symlink(escapes[i] ? escapes[i] : outside, link_path), 0);
        expect_open(repo, STENO_ERR_FORMAT, "outside the repository folder");
        expect_open(snapshot, STENO_ERR_FORMAT, "outside the repository folder");
        st_error err;
        assert_int_equal(st_hf_cache_find(hub, "org/tiny", found, sizeof found, &err), STENO_ERR_FORMAT);
    }
    write_repo(repo, 0);
    unlink(link_path);
    assert_int_equal(symlink("../../blobs/0000", link_path), 0);
    expect_open(repo, STENO_ERR_NOT_FOUND, "../../blobs/0000, which is missing");
    /* a symlinked folder inside the repository is not a file */
    unlink(link_path);
    assert_int_equal(symlink("../../blobs", link_path), 0);
    expect_open(repo, STENO_ERR_FORMAT, "not a regular file");

    /* repository ids the store may pass */
    static const char *const bad_ids[] = {"tiny",   "org/",     "/tiny",     "org/a/b", "../tiny",
                                          "org/..", "org/a--b", "org/ti ny", ""};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        st_error err;
        assert_int_equal(st_hf_cache_find(hub, bad_ids[i], found, sizeof found, &err), STENO_ERR_INVALID_ARGUMENT);
    }
    st_error err;
    assert_int_equal(st_hf_cache_find(hub, "org/absent", found, sizeof found, &err), STENO_ERR_NOT_FOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_model_loads),     cmocka_unit_test(python_written_file_loads),
        cmocka_unit_test(generic_parser),       cmocka_unit_test(hostile_headers),
        cmocka_unit_test(hostile_tensors),      cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(folder_configuration), cmocka_unit_test(sharded_folders),
        cmocka_unit_test(cache_repository),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
