/*
 * ct2_write.c — writer of CTranslate2 (faster-whisper) Whisper model folders.
 *
 * Produces what CTranslate2's converter (specs/model_spec.py, specs/whisper_spec.py) writes
 * for a Whisper model, as ct2.c reads it back: model.bin binary version 6, spec "WhisperSpec"
 * revision 3, variables in sorted name order; self-attention Q|K|V fused into one linear layer
 * with a zero key bias, cross-attention K|V fused likewise; the rank-0 configuration variables;
 * every variable equal to one sorting before it replaced by an alias to it (so the output
 * projection, tied to the token embedding, becomes an alias). float16 stores every tensor as
 * f16; int8 stores the weights of linear layers and embeddings as int8 with one f32 scale per
 * row, 127 / max|row| (rounded half to even, as numpy.rint does), and the rest as f32.
 * Beside it: config.json (alignment heads, language ids, suppressed ids), vocabulary.json (the
 * tokens in GPT-2's spelling, HF's special-token names) and preprocessor_config.json, all
 * spelt as Python's json module spells them, so a folder written from the same weights is
 * byte-identical to the converter's (scripts/reference_ct2.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/writers.h"

enum {
    CT2_BINARY_VERSION = 6,
    CT2_WHISPER_REVISION = 3,
    CT2_TYPE_F32 = 0,
    CT2_TYPE_I8 = 1,
    CT2_TYPE_I16 = 2,
    CT2_TYPE_F16 = 4,
    CT2_GELU = 3,
    CT2_NAME = 96,
    MAX_PARTS = 3,
};

typedef struct ct2_var {
    char name[CT2_NAME];
    int scalar_type; /* 0 for a tensor, else CT2_TYPE_I8 or CT2_TYPE_I16 */
    int scalar_value;
    /* A tensor: its parts stacked along rows; a NULL part is that many rows of zeros. */
    const st_tensor *parts[MAX_PARTS];
    int64_t part_elements[MAX_PARTS];
    int n_parts;
    int rank;
    int64_t shape[ST_TENSOR_MAX_DIMS];
    int64_t n_elements;
    int quantizable;      /* has a *_scale slot: linear and embedding weights */
    int is_scale;         /* the int8 scales of the variable named without "_scale" */
    char alias[CT2_NAME]; /* non-empty: written as an alias of this variable */
    uint64_t hash;        /* of the values with -0 as +0, to find duplicates quickly */
} ct2_var;

typedef struct ct2_plan {
    ct2_var *vars;
    size_t n, capacity;
    float *values, *other; /* room for the largest variable, twice (duplicate checks) */
    int64_t largest;
} ct2_plan;

static ct2_var *add(ct2_plan *p, const char *name) {
    if (p->n == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 256;
        ct2_var *grown = realloc(p->vars, capacity * sizeof *grown);
        if (!grown) return NULL;
        p->vars = grown;
        p->capacity = capacity;
    }
    ct2_var *v = &p->vars[p->n++];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    return v;
}

static int add_scalar(ct2_plan *p, const char *name, int type, int value) {
    ct2_var *v = add(p, name);
    if (!v) return -1;
    v->scalar_type = type;
    v->scalar_value = value;
    return 0;
}

/* A tensor variable stacking n parts along rows; parts[i] NULL stands for zeros shaped like
 * shape_of[i] (Whisper's key projections have no bias; CTranslate2 fuses them with zeros). */
static int add_stacked(ct2_plan *p, const char *name, int n, const st_tensor *const *parts,
                       const st_tensor *const *shape_of) {
    ct2_var *v = add(p, name);
    if (!v) return -1;
    v->n_parts = n;
    for (int i = 0; i < n; i++) {
        v->parts[i] = parts[i];
        v->part_elements[i] = st_tensor_n_elements(shape_of[i]);
        v->n_elements += v->part_elements[i];
    }
    v->rank = shape_of[0]->n_dims;
    memcpy(v->shape, shape_of[0]->shape, sizeof v->shape);
    v->shape[0] = 0;
    for (int i = 0; i < n; i++)
        v->shape[0] += shape_of[i]->shape[0];
    size_t length = strlen(name);
    int is_weight = length > 7 && !strcmp(name + length - 7, "/weight");
    v->quantizable = is_weight && (strstr(name, "/linear_") || strstr(name, "embeddings/weight") ||
                                   strstr(name, "projection/weight"));
    if (v->n_elements > p->largest) p->largest = v->n_elements;
    return 0;
}

static int add_tensor(ct2_plan *p, const char *name, const st_tensor *t) {
    const st_tensor *parts[1] = {t};
    return add_stacked(p, name, 1, parts, parts);
}

static const st_tensor *find(const st_write_source *src, const char *format, const char *side, int layer,
                             const char *part) {
    char name[128];
    snprintf(name, sizeof name, format, side, layer, part);
    return st_write_find(src, name);
}

/* CTranslate2's WhisperSpec variables, from canonical tensors. */
static int plan_variables(const st_write_source *src, ct2_plan *p) {
    const st_whisper_dims *d = &src->model->dims;
    char name[CT2_NAME];
    int rc = 0;
#define T(n) st_write_find(src, n)
#define LINEAR(prefix, w, b)                                                                                           \
    do {                                                                                                               \
        snprintf(name, sizeof name, "%s/weight", prefix);                                                              \
        rc |= add_tensor(p, name, w);                                                                                  \
        if (b) {                                                                                                       \
            snprintf(name, sizeof name, "%s/bias", prefix);                                                            \
            rc |= add_tensor(p, name, b);                                                                              \
        }                                                                                                              \
        snprintf(name, sizeof name, "%s/keep_in_float32", prefix);                                                     \
        rc |= add_scalar(p, name, CT2_TYPE_I8, 0);                                                                     \
    } while (0)
#define NORM(prefix, gamma, beta)                                                                                      \
    do {                                                                                                               \
        snprintf(name, sizeof name, "%s/gamma", prefix);                                                               \
        rc |= add_tensor(p, name, gamma);                                                                              \
        snprintf(name, sizeof name, "%s/beta", prefix);                                                                \
        rc |= add_tensor(p, name, beta);                                                                               \
    } while (0)

    rc |= add_scalar(p, "encoder/num_heads", CT2_TYPE_I16, d->n_audio_head);
    rc |= add_tensor(p, "encoder/conv1/weight", T("encoder.conv1.weight"));
    rc |= add_tensor(p, "encoder/conv1/bias", T("encoder.conv1.bias"));
    rc |= add_tensor(p, "encoder/conv2/weight", T("encoder.conv2.weight"));
    rc |= add_tensor(p, "encoder/conv2/bias", T("encoder.conv2.bias"));
    rc |= add_tensor(p, "encoder/position_encodings/encodings", T("encoder.positional_embedding"));
    NORM("encoder/layer_norm", T("encoder.ln_post.weight"), T("encoder.ln_post.bias"));
    static const char *const sides[2] = {"encoder", "decoder"};
    const char *f = "%s.blocks.%d.%s";
    for (int s = 0; s < 2; s++) {
        const char *side = sides[s];
        int n_layers = s == 0 ? d->n_audio_layer : d->n_text_layer;
        for (int i = 0; i < n_layers; i++) {
            char prefix[CT2_NAME], scope[CT2_NAME];
            snprintf(prefix, sizeof prefix, "%s/layer_%d", side, i);
            snprintf(scope, sizeof scope, "%s/self_attention/layer_norm", prefix);
            NORM(scope, find(src, f, side, i, "attn_ln.weight"), find(src, f, side, i, "attn_ln.bias"));
            const st_tensor *qkv[3] = {find(src, f, side, i, "attn.query.weight"),
                                       find(src, f, side, i, "attn.key.weight"),
                                       find(src, f, side, i, "attn.value.weight")};
            snprintf(name, sizeof name, "%s/self_attention/linear_0/weight", prefix);
            rc |= add_stacked(p, name, 3, qkv, qkv);
            const st_tensor *q_bias = find(src, f, side, i, "attn.query.bias");
            const st_tensor *biases[3] = {q_bias, NULL, find(src, f, side, i, "attn.value.bias")};
            const st_tensor *bias_shapes[3] = {q_bias, q_bias, biases[2]};
            snprintf(name, sizeof name, "%s/self_attention/linear_0/bias", prefix);
            rc |= add_stacked(p, name, 3, biases, bias_shapes);
            snprintf(name, sizeof name, "%s/self_attention/linear_0/keep_in_float32", prefix);
            rc |= add_scalar(p, name, CT2_TYPE_I8, 0);
            snprintf(scope, sizeof scope, "%s/self_attention/linear_1", prefix);
            LINEAR(scope, find(src, f, side, i, "attn.out.weight"), find(src, f, side, i, "attn.out.bias"));
            if (s == 1) {
                snprintf(scope, sizeof scope, "%s/attention/layer_norm", prefix);
                NORM(scope, find(src, f, side, i, "cross_attn_ln.weight"), find(src, f, side, i, "cross_attn_ln.bias"));
                snprintf(scope, sizeof scope, "%s/attention/linear_0", prefix);
                LINEAR(scope, find(src, f, side, i, "cross_attn.query.weight"),
                       find(src, f, side, i, "cross_attn.query.bias"));
                const st_tensor *kv[2] = {find(src, f, side, i, "cross_attn.key.weight"),
                                          find(src, f, side, i, "cross_attn.value.weight")};
                snprintf(name, sizeof name, "%s/attention/linear_1/weight", prefix);
                rc |= add_stacked(p, name, 2, kv, kv);
                const st_tensor *v_bias = find(src, f, side, i, "cross_attn.value.bias");
                const st_tensor *kv_bias[2] = {NULL, v_bias}, *kv_bias_shapes[2] = {v_bias, v_bias};
                snprintf(name, sizeof name, "%s/attention/linear_1/bias", prefix);
                rc |= add_stacked(p, name, 2, kv_bias, kv_bias_shapes);
                snprintf(name, sizeof name, "%s/attention/linear_1/keep_in_float32", prefix);
                rc |= add_scalar(p, name, CT2_TYPE_I8, 0);
                snprintf(scope, sizeof scope, "%s/attention/linear_2", prefix);
                LINEAR(scope, find(src, f, side, i, "cross_attn.out.weight"),
                       find(src, f, side, i, "cross_attn.out.bias"));
            }
            snprintf(scope, sizeof scope, "%s/ffn/layer_norm", prefix);
            NORM(scope, find(src, f, side, i, "mlp_ln.weight"), find(src, f, side, i, "mlp_ln.bias"));
            snprintf(scope, sizeof scope, "%s/ffn/linear_0", prefix);
            LINEAR(scope, find(src, f, side, i, "mlp.0.weight"), find(src, f, side, i, "mlp.0.bias"));
            snprintf(scope, sizeof scope, "%s/ffn/linear_1", prefix);
            LINEAR(scope, find(src, f, side, i, "mlp.2.weight"), find(src, f, side, i, "mlp.2.bias"));
        }
    }
    rc |= add_scalar(p, "decoder/num_heads", CT2_TYPE_I16, d->n_text_head);
    rc |= add_scalar(p, "decoder/pre_norm", CT2_TYPE_I8, 1);
    rc |= add_scalar(p, "decoder/activation", CT2_TYPE_I8, CT2_GELU);
    rc |= add_scalar(p, "decoder/alignment_layer", CT2_TYPE_I16, -1);
    rc |= add_scalar(p, "decoder/alignment_heads", CT2_TYPE_I16, 1);
    static const char *const flags[] = {"scale_embeddings", "alibi", "alibi_use_positive_positions", "scale_alibi",
                                        "start_from_zero_embedding"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        snprintf(name, sizeof name, "decoder/%s", flags[i]);
        rc |= add_scalar(p, name, CT2_TYPE_I8, 0);
    }
    rc |= add_tensor(p, "decoder/embeddings/weight", T("decoder.token_embedding.weight"));
    rc |= add_tensor(p, "decoder/position_encodings/encodings", T("decoder.positional_embedding"));
    NORM("decoder/layer_norm", T("decoder.ln.weight"), T("decoder.ln.bias"));
    /* the output projection is tied to the token embedding: set, then aliased away below */
    LINEAR("decoder/projection", T("decoder.token_embedding.weight"), (const st_tensor *)NULL);
#undef T
#undef LINEAR
#undef NORM
    return rc;
}

/* The variable's f32 values into out. */
static steno_status materialize(const st_write_source *src, const ct2_var *v, float *out, st_error *err) {
    for (int i = 0; i < v->n_parts; i++) {
        size_t n = (size_t)v->part_elements[i];
        if (!v->parts[i]) {
            memset(out, 0, n * sizeof *out);
        } else {
            const float *values;
            steno_status status = st_write_tensor_f32(src, v->parts[i], &values, err);
            if (status != STENO_OK) return status;
            memcpy(out, values, n * sizeof *out);
        }
        out += n;
    }
    return STENO_OK;
}

static uint64_t hash_values(const float *values, int64_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the bits, -0 counted as +0 */
    for (int64_t i = 0; i < n; i++) {
        float v = values[i] + 0.0f;
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        h = (h ^ bits) * 1099511628211ULL;
    }
    return h;
}

static int same_values(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (!(a[i] == b[i])) return 0; /* numpy.array_equal: -0 == +0, NaN != NaN */
    }
    return 1;
}

static int compare_vars(const void *a, const void *b) {
    return strcmp(((const ct2_var *)a)->name, ((const ct2_var *)b)->name);
}

/* The converter's _alias_variables: each tensor equal to one sorting before it (same shape,
 * same values) becomes an alias of the first such. */
static steno_status alias_duplicates(const st_write_source *src, ct2_plan *p, st_error *err) {
    steno_status status;
    for (size_t i = 0; i < p->n; i++) {
        ct2_var *v = &p->vars[i];
        if (v->scalar_type) continue;
        if ((status = materialize(src, v, p->values, err)) != STENO_OK) return status;
        v->hash = hash_values(p->values, v->n_elements);
        for (size_t j = 0; j < i; j++) {
            const ct2_var *w = &p->vars[j];
            if (w->scalar_type || w->alias[0] || w->hash != v->hash || w->rank != v->rank ||
                memcmp(w->shape, v->shape, sizeof w->shape) != 0) {
                continue;
            }
            if ((status = materialize(src, w, p->other, err)) != STENO_OK) return status;
            if (same_values(p->values, p->other, v->n_elements)) {
                memcpy(v->alias, w->name, sizeof v->alias);
                break;
            }
        }
    }
    return STENO_OK;
}

/* Adds "<name>_scale" for each int8 weight and sorts again. */
static int add_scales(ct2_plan *p) {
    size_t n = p->n;
    for (size_t i = 0; i < n; i++) {
        if (p->vars[i].scalar_type || p->vars[i].alias[0] || !p->vars[i].quantizable) continue;
        char name[CT2_NAME + 8];
        snprintf(name, sizeof name, "%s_scale", p->vars[i].name);
        int64_t rows = p->vars[i].shape[0];
        ct2_var *s = add(p, name); /* may move p->vars */
        if (!s) return -1;
        s->is_scale = 1;
        s->rank = 1;
        s->shape[0] = rows;
        s->n_elements = rows;
    }
    qsort(p->vars, p->n, sizeof *p->vars, compare_vars);
    return 0;
}

/* The weight a "<name>_scale" variable belongs to. */
static const ct2_var *weight_of_scale(const ct2_plan *p, const ct2_var *scale) {
    ct2_var key;
    size_t length = strlen(scale->name) - 6;
    memcpy(key.name, scale->name, length);
    key.name[length] = '\0';
    return bsearch(&key, p->vars, p->n, sizeof *p->vars, compare_vars);
}

static void write_string(st_atomic_file *out, const char *s) {
    size_t n = strlen(s);
    st_atomic_u16(out, (uint16_t)(n + 1));
    st_atomic_write(out, s, n + 1);
}

/* 127 / max|row|, with an all-zero row's scale 1 (its maximum taken as 127). */
static void row_scales(const float *values, int64_t rows, int64_t cols, float *scales) {
    for (int64_t r = 0; r < rows; r++) {
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; c++)
            amax = fmaxf(amax, fabsf(values[r * cols + c]));
        if (amax == 0.0f) amax = 127.0f;
        scales[r] = 127.0f / amax;
    }
}

static steno_status write_variable(const st_write_source *src, ct2_plan *p, const ct2_var *v, int int8,
                                   st_atomic_file *out, st_error *err) {
    write_string(out, v->name);
    st_atomic_u8(out, (uint8_t)(v->scalar_type ? 0 : v->rank));
    if (v->scalar_type) {
        int bytes = v->scalar_type == CT2_TYPE_I16 ? 2 : 1;
        st_atomic_u8(out, (uint8_t)v->scalar_type);
        st_atomic_u32(out, (uint32_t)bytes);
        if (bytes == 2)
            st_atomic_u16(out, (uint16_t)(int16_t)v->scalar_value);
        else
            st_atomic_u8(out, (uint8_t)(int8_t)v->scalar_value);
        return STENO_OK;
    }
    for (int k = 0; k < v->rank; k++)
        st_atomic_u32(out, (uint32_t)v->shape[k]);
    const ct2_var *weight = v->is_scale ? weight_of_scale(p, v) : v;
    steno_status status = materialize(src, weight, p->values, err);
    if (status != STENO_OK) return status;
    int64_t rows = weight->shape[0], cols = weight->n_elements / (rows ? rows : 1);
    size_t n = (size_t)v->n_elements;
    if (v->is_scale) {
        row_scales(p->values, rows, cols, p->other);
        st_atomic_u8(out, CT2_TYPE_F32);
        st_atomic_u32(out, (uint32_t)(n * 4));
        st_atomic_write(out, p->other, n * 4);
    } else if (int8 && v->quantizable) {
        row_scales(p->values, rows, cols, p->other);
        st_atomic_u8(out, CT2_TYPE_I8);
        st_atomic_u32(out, (uint32_t)n);
        int8_t chunk[4096];
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t c0 = 0; c0 < cols; c0 += (int64_t)sizeof chunk) {
                int64_t count = cols - c0 < (int64_t)sizeof chunk ? cols - c0 : (int64_t)sizeof chunk;
                for (int64_t c = 0; c < count; c++) {
                    chunk[c] = (int8_t)nearbyintf(p->values[r * cols + c0 + c] * p->other[r]);
                }
                st_atomic_write(out, chunk, (size_t)count);
            }
        }
    } else if (int8) {
        st_atomic_u8(out, CT2_TYPE_F32);
        st_atomic_u32(out, (uint32_t)(n * 4));
        st_atomic_write(out, p->values, n * 4);
    } else {
        st_atomic_u8(out, CT2_TYPE_F16);
        st_atomic_u32(out, (uint32_t)(n * 2));
        st_write_f16_array(out, p->values, n);
    }
    return STENO_OK;
}

static steno_status write_model_bin(const st_write_source *src, ct2_plan *p, int int8, const char *path,
                                    st_error *err) {
    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status != STENO_OK) return status;
    size_t n_variables = 0, n_aliases = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->vars[i].alias[0])
            n_aliases++;
        else
            n_variables++;
    }
    st_atomic_u32(&out, CT2_BINARY_VERSION);
    write_string(&out, "WhisperSpec");
    st_atomic_u32(&out, CT2_WHISPER_REVISION);
    st_atomic_u32(&out, (uint32_t)n_variables);
    for (size_t i = 0; status == STENO_OK && i < p->n; i++) {
        if (!p->vars[i].alias[0]) status = write_variable(src, p, &p->vars[i], int8, &out, err);
    }
    st_atomic_u32(&out, (uint32_t)n_aliases);
    for (size_t i = 0; i < p->n; i++) {
        if (!p->vars[i].alias[0]) continue;
        write_string(&out, p->vars[i].name);
        write_string(&out, p->vars[i].alias);
    }
    if (status != STENO_OK) {
        st_atomic_file_abort(&out);
        return status;
    }
    return st_atomic_file_commit(&out, err);
}

/* ---- JSON files, spelt as Python's json.dump(…, indent=2) ---------------------------------- */

static void json_int_list(st_atomic_file *out, const int *values, int n, int depth) {
    if (n == 0) {
        st_atomic_printf(out, "[]");
        return;
    }
    st_atomic_printf(out, "[\n");
    for (int i = 0; i < n; i++) {
        st_atomic_printf(out, "%*s%d%s\n", 2 * (depth + 1), "", values[i], i + 1 < n ? "," : "");
    }
    st_atomic_printf(out, "%*s]", 2 * depth, "");
}

static steno_status write_config(const st_write_source *src, const char *path, st_error *err) {
    const st_tokenizer *t = src->tokenizer;
    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status != STENO_OK) return status;
    st_atomic_printf(&out, "{\n  \"alignment_heads\": ");
    if (src->n_alignment_heads == 0)
        st_atomic_printf(&out, "[]");
    else
        st_atomic_printf(&out, "[\n");
    for (int i = 0; i < src->n_alignment_heads; i++) {
        st_atomic_printf(&out, "    ");
        json_int_list(&out, src->alignment_heads + 2 * i, 2, 2);
        st_atomic_printf(&out, "%s\n", i + 1 < src->n_alignment_heads ? "," : "");
    }
    if (src->n_alignment_heads > 0) st_atomic_printf(&out, "  ]");
    int n_languages = st_tokenizer_n_languages(t), sot = st_tokenizer_sot(t);
    int *ids = malloc(((size_t)n_languages + 6) * sizeof *ids);
    if (!ids) {
        st_atomic_file_abort(&out);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    for (int i = 0; i < n_languages; i++)
        ids[i] = sot + 1 + i;
    st_atomic_printf(&out, ",\n  \"lang_ids\": ");
    json_int_list(&out, ids, n_languages, 1);
    int suppress[6] = {sot,
                       st_tokenizer_translate(t),
                       st_tokenizer_transcribe(t),
                       st_tokenizer_sot_lm(t),
                       st_tokenizer_sot_prev(t),
                       st_tokenizer_no_speech(t)};
    st_atomic_printf(&out, ",\n  \"suppress_ids\": ");
    json_int_list(&out, suppress, 6, 1);
    int begin[2] = {st_tokenizer_space(t), st_tokenizer_eot(t)};
    st_atomic_printf(&out, ",\n  \"suppress_ids_begin\": ");
    json_int_list(&out, begin, 2, 1);
    st_atomic_printf(&out, "\n}\n");
    free(ids);
    return st_atomic_file_commit(&out, err);
}

static steno_status write_vocabulary(const st_write_source *src, const char *path, st_error *err) {
    const st_tokenizer *t = src->tokenizer;
    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status != STENO_OK) return status;
    int n_vocab = src->model->dims.n_vocab, eot = st_tokenizer_eot(t);
    uint8_t spelling[2 * 1024 + 1];
    st_atomic_printf(&out, "[");
    for (int id = 0; id < n_vocab; id++) {
        st_atomic_printf(&out, "%s\n  ", id ? "," : "");
        if (id < eot) {
            size_t length = 0;
            const uint8_t *bytes = st_tokenizer_token_bytes(t, id, &length);
            if (length > 1024) length = 1024;
            length = st_write_gpt2_spelling(bytes, length, spelling);
        } else if (id == st_tokenizer_no_speech(t)) {
            /* HF's tokenizer, which the converter copies, calls it by its older name */
            snprintf((char *)spelling, sizeof spelling, "<|nocaptions|>");
        } else {
            st_tokenizer_special_name(t, id, (char *)spelling, sizeof spelling);
        }
        st_write_json_string(&out, spelling, strlen((const char *)spelling), 1);
    }
    st_atomic_printf(&out, "\n]");
    return st_atomic_file_commit(&out, err);
}

steno_status st_ct2_write(const st_write_source *src, st_convert_precision precision, const char *path, st_error *err) {
    int int8 = precision == ST_PRECISION_INT8;
    ct2_plan plan = {0};
    steno_status status = STENO_OK;
    if (plan_variables(src, &plan) != 0) status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    if (status == STENO_OK) qsort(plan.vars, plan.n, sizeof *plan.vars, compare_vars);
    if (status == STENO_OK) {
        plan.values = malloc((size_t)plan.largest * sizeof *plan.values);
        plan.other = malloc((size_t)plan.largest * sizeof *plan.other);
        if (!plan.values || !plan.other) status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    if (status == STENO_OK) status = alias_duplicates(src, &plan, err);
    if (status == STENO_OK && int8) {
        if (add_scales(&plan) != 0) status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    st_atomic_dir dir = {0};
    if (status == STENO_OK) status = st_atomic_dir_open(&dir, path, err);
    static const char *const members[] = {"model.bin", "config.json", "vocabulary.json", "preprocessor_config.json"};
    for (int i = 0; status == STENO_OK && i < 4; i++) {
        char *member = st_atomic_dir_member(&dir, members[i]);
        if (!member)
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
        else if (i == 0)
            status = write_model_bin(src, &plan, int8, member, err);
        else if (i == 1)
            status = write_config(src, member, err);
        else if (i == 2)
            status = write_vocabulary(src, member, err);
        else
            status = st_write_preprocessor_config(src, member, err);
        free(member);
    }
    if (status == STENO_OK)
        status = st_atomic_dir_commit(&dir, err);
    else
        st_atomic_dir_abort(&dir);
    free(plan.values);
    free(plan.other);
    free(plan.vars);
    return status;
}
