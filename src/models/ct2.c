/*
 * ct2.c — reader of CTranslate2's model.bin, and of the files beside it, for Whisper models.
 *
 * model.bin (written by CTranslate2's python/ctranslate2/specs/model_spec.py, read by its
 * src/models/model.cc), little-endian, unpadded:
 *
 *   u32 binary version (1..6)
 *   version >= 2: string specification name ("WhisperSpec"), u32 specification revision
 *   u32 variable count, then per variable: string name ('/'-joined scopes:
 *       "encoder/layer_0/self_attention/linear_0/weight"), u8 rank, u32 dims[rank], then
 *       version >= 4: u8 type id (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), u32 byte count;
 *       before:       u8 item size (4 f32, 2 i16, 1 i8), u32 element count;
 *       then the data
 *   version >= 3: u32 alias count, then per alias: string alias, string target
 *   string: u16 length counting a trailing NUL, the bytes, the NUL
 *
 * The converter writes each set of duplicated tensors once and aliases the others to the copy
 * whose name sorts first (decoder/projection/weight -> decoder/embeddings/weight); an alias's
 * "<alias>_scale" implicitly designates "<target>_scale". Rank-0 variables carry configuration
 * (num_heads, activation, …).
 *
 * Nothing is copied: names and tensors point into the mapping. Every length and count is
 * checked against the bytes that remain, every variable's byte count against its shape and
 * type, and every tensor handed out against the shape the model's dimensions imply.
 */
#include "models/ct2.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/whisper_layout.h"

enum {
    CT2_MAX_VERSION = 6,
    CT2_MAX_WHISPER_REVISION = 3,
    CT2_MAX_RANK = 8,
    CT2_MAX_NAME = 1024,
    CT2_MAX_ALIAS_DEPTH = 8,
    CT2_MAX_LAYER_INDEX = 1000, /* far past any model; dims validation gives the message */
    CT2_DEFAULT_HEADS = 8,      /* what CTranslate2 assumes when a model stores no num_heads */
    CT2_GELU = 3,               /* common_spec.Activation.GELU */
    CT2_PATH_SIZE = 4096,
    CANONICAL_NAME_SIZE = 64,
    /* u16 length + "x\0" + u8 rank + u8 type + u32 size: the smallest variable record */
    MIN_VARIABLE_RECORD = 10,
    MIN_ALIAS_RECORD = 8, /* two strings of one character */
};

/* CTranslate2 scaled every int16 weight by this constant before files stored per-tensor
 * scales (ops::Quantize::global_int16_scale); model.cc still assumes it when none is saved. */
static const float ct2_legacy_int16_scale = 1000.0f;

typedef struct ct2_variable {
    const char *name; /* NUL-terminated, inside the mapping */
    size_t offset;    /* of the record, for messages */
    st_dtype dtype;
    int type_id; /* CTranslate2's type id */
    int rank;
    int64_t shape[CT2_MAX_RANK];
    int64_t n_elements;
    const uint8_t *data;
    size_t n_bytes;
    int used;
} ct2_variable;

typedef struct ct2_alias {
    const char *name, *target;
    size_t offset;
    int used;
} ct2_alias;

typedef struct ct2_file {
    const uint8_t *data;
    size_t size, offset;
    const char *name;
    st_error *err;
    uint32_t version;
    ct2_variable *variables;
    size_t n_variables;
    ct2_alias *aliases;
    size_t n_aliases;
} ct2_file;

/* ---- bytes ---------------------------------------------------------------------------- */

static steno_status take(ct2_file *f, size_t n, const char *what, const uint8_t **out) {
    if (n > f->size - f->offset) {
        return st_error_set(f->err, STENO_ERR_FORMAT, "%s: truncated at offset %zu: %s needs %zu bytes, %zu remain",
                            f->name, f->offset, what, n, f->size - f->offset);
    }
    *out = f->data + f->offset;
    f->offset += n;
    return STENO_OK;
}

static steno_status read_u8(ct2_file *f, const char *what, uint8_t *out) {
    const uint8_t *p = NULL;
    steno_status status = take(f, 1, what, &p);
    if (status == STENO_OK) *out = p[0];
    return status;
}

static steno_status read_u16(ct2_file *f, const char *what, uint16_t *out) {
    const uint8_t *p = NULL;
    steno_status status = take(f, 2, what, &p);
    if (status == STENO_OK) *out = (uint16_t)(p[0] | p[1] << 8);
    return status;
}

static steno_status read_u32(ct2_file *f, const char *what, uint32_t *out) {
    const uint8_t *p = NULL;
    steno_status status = take(f, 4, what, &p);
    if (status == STENO_OK) *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return status;
}

/* A string is used in place, so it must end with its NUL and hold no other. */
static steno_status read_string(ct2_file *f, const char *what, const char **out) {
    size_t at = f->offset;
    uint16_t length;
    const uint8_t *p = NULL;
    steno_status status = read_u16(f, what, &length);
    if (status != STENO_OK) return status;
    if (length < 2 || length > CT2_MAX_NAME) {
        return st_error_set(f->err, STENO_ERR_FORMAT,
                            "%s: %s at offset %zu has length %u, expected 2..%d counting its NUL", f->name, what, at,
                            length, CT2_MAX_NAME);
    }
    if ((status = take(f, length, what, &p)) != STENO_OK) return status;
    if (p[length - 1] != 0 || memchr(p, 0, (size_t)length - 1) != NULL) {
        return st_error_set(f->err, STENO_ERR_FORMAT,
                            "%s: %s at offset %zu is not one NUL-terminated string of %u bytes", f->name, what, at,
                            length);
    }
    *out = (const char *)p;
    return STENO_OK;
}

static int64_t load_signed(const uint8_t *p, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    if (bytes < 8 && (v >> (8 * bytes - 1)) & 1) v |= ~(uint64_t)0 << (8 * bytes); /* sign-extend */
    int64_t out;
    memcpy(&out, &v, sizeof out);
    return out;
}

/* ---- records -------------------------------------------------------------------------- */

static int type_id_to_dtype(unsigned id, st_dtype *out) {
    static const st_dtype table[] = {ST_DTYPE_F32, ST_DTYPE_I8,  ST_DTYPE_I16,
                                     ST_DTYPE_I32, ST_DTYPE_F16, ST_DTYPE_BF16};
    if (id >= sizeof table / sizeof table[0]) return 0;
    *out = table[id];
    return 1;
}

/* Files before version 4 stored an item size; model.cc reads 4 as f32, 2 as i16, 1 as i8. */
static int item_size_to_type_id(unsigned item_size, unsigned *out) {
    switch (item_size) {
    case 4:
        *out = 0;
        return 1;
    case 2:
        *out = 2;
        return 1;
    case 1:
        *out = 1;
        return 1;
    default:
        return 0;
    }
}

static void format_shape(char *buffer, size_t size, int rank, const int64_t *shape) {
    size_t used = (size_t)snprintf(buffer, size, "[");
    for (int i = 0; i < rank && used < size; i++) {
        used += (size_t)snprintf(buffer + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (used < size) snprintf(buffer + used, size - used, "]");
}

static steno_status read_variable(ct2_file *f, ct2_variable *v) {
    v->offset = f->offset;
    steno_status status = read_string(f, "variable name", &v->name);
    uint8_t rank = 0;
    if (status == STENO_OK) status = read_u8(f, "variable rank", &rank);
    if (status != STENO_OK) return status;
    if (rank > CT2_MAX_RANK) {
        return st_error_set(f->err, STENO_ERR_FORMAT,
                            "%s: variable '%s' at offset %zu has rank %u, expected at most %d", f->name, v->name,
                            v->offset, rank, CT2_MAX_RANK);
    }
    v->rank = rank;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        uint32_t dim;
        if ((status = read_u32(f, "variable dimension", &dim)) != STENO_OK) return status;
        v->shape[i] = dim;
        if (dim != 0 && n > INT64_MAX / dim) {
            return st_error_set(f->err, STENO_ERR_FORMAT,
                                "%s: variable '%s' at offset %zu has more elements than a file can hold", f->name,
                                v->name, v->offset);
        }
        n *= dim;
    }
    v->n_elements = n;
    uint8_t code;
    uint32_t size_field;
    unsigned type_id = 0;
    if ((status = read_u8(f, f->version >= 4 ? "variable type" : "variable item size", &code)) != STENO_OK)
        return status;
    if ((status = read_u32(f, "variable size", &size_field)) != STENO_OK) return status;
    int known = f->version >= 4 ? (type_id = code, 1) : item_size_to_type_id(code, &type_id);
    if (!known || !type_id_to_dtype(type_id, &v->dtype)) {
        return st_error_set(f->err, STENO_ERR_FORMAT, "%s: variable '%s' at offset %zu has %s %u, expected %s", f->name,
                            v->name, v->offset, f->version >= 4 ? "type id" : "item size", code,
                            f->version >= 4 ? "0..5 (f32, i8, i16, i32, f16, bf16)" : "4, 2 or 1");
    }
    v->type_id = (int)type_id;
    size_t element_bytes = st_dtype_bytes(v->dtype, 1);
    /* version 4 on: a byte count; before: an element count */
    size_t n_bytes = f->version >= 4 ? size_field : (size_t)size_field * element_bytes;
    if ((uint64_t)n > SIZE_MAX / element_bytes || (size_t)n * element_bytes != n_bytes) {
        char shape[160];
        format_shape(shape, sizeof shape, rank, v->shape);
        return st_error_set(f->err, STENO_ERR_FORMAT,
                            "%s: variable '%s' at offset %zu: %s %s needs %lld elements, the record holds %zu bytes",
                            f->name, v->name, v->offset, st_dtype_name(v->dtype), shape, (long long)n, n_bytes);
    }
    v->n_bytes = n_bytes;
    return take(f, n_bytes, v->name, &v->data);
}

static int compare_variables(const void *a, const void *b) {
    return strcmp(((const ct2_variable *)a)->name, ((const ct2_variable *)b)->name);
}

static int compare_aliases(const void *a, const void *b) {
    return strcmp(((const ct2_alias *)a)->name, ((const ct2_alias *)b)->name);
}

static ct2_variable *find_variable(const ct2_file *f, const char *name) {
    ct2_variable key = {.name = name};
    return bsearch(&key, f->variables, f->n_variables, sizeof key, compare_variables);
}

static ct2_alias *find_alias(const ct2_file *f, const char *name) {
    ct2_alias key = {.name = name};
    if (f->n_aliases == 0) return NULL; /* aliases is NULL before binary version 3 */
    return bsearch(&key, f->aliases, f->n_aliases, sizeof key, compare_aliases);
}

/* The variable a name designates, directly or through aliases; NULL if none. With mark set,
 * flags the variable and the aliases taken as used. */
static ct2_variable *resolve(const ct2_file *f, const char *name, int mark) {
    for (int depth = 0; depth <= CT2_MAX_ALIAS_DEPTH; depth++) {
        ct2_variable *v = find_variable(f, name);
        if (v) {
            if (mark) v->used = 1;
            return v;
        }
        ct2_alias *a = find_alias(f, name);
        if (!a) return NULL;
        if (mark) a->used = 1;
        name = a->target;
    }
    return NULL;
}

static steno_status check_names(ct2_file *f) {
    if (f->n_variables > 1) qsort(f->variables, f->n_variables, sizeof *f->variables, compare_variables);
    for (size_t i = 1; i < f->n_variables; i++) {
        if (strcmp(f->variables[i - 1].name, f->variables[i].name) == 0) {
            return st_error_set(f->err, STENO_ERR_FORMAT, "%s: variable '%s' appears twice (offsets %zu and %zu)",
                                f->name, f->variables[i].name, f->variables[i - 1].offset, f->variables[i].offset);
        }
    }
    if (f->n_aliases > 1) qsort(f->aliases, f->n_aliases, sizeof *f->aliases, compare_aliases);
    for (size_t i = 0; i < f->n_aliases; i++) {
        const ct2_alias *a = &f->aliases[i];
        if ((i > 0 && strcmp(f->aliases[i - 1].name, a->name) == 0) || find_variable(f, a->name)) {
            return st_error_set(f->err, STENO_ERR_FORMAT, "%s: alias '%s' at offset %zu names a second thing '%s'",
                                f->name, a->name, a->offset, a->name);
        }
    }
    for (size_t i = 0; i < f->n_aliases; i++) {
        const ct2_alias *a = &f->aliases[i];
        if (!resolve(f, a->name, 0)) {
            return st_error_set(
                f->err, STENO_ERR_FORMAT,
                "%s: alias '%s' at offset %zu leads to '%s', which is no variable (or the aliases loop)", f->name,
                a->name, a->offset, a->target);
        }
    }
    return STENO_OK;
}

static steno_status parse(ct2_file *f) {
    steno_status status = read_u32(f, "binary version", &f->version);
    if (status != STENO_OK) return status;
    if (f->version < 1 || f->version > CT2_MAX_VERSION) {
        return st_error_set(f->err, f->version > CT2_MAX_VERSION ? STENO_ERR_UNSUPPORTED : STENO_ERR_FORMAT,
                            "%s: CTranslate2 binary version %u at offset 0; steno reads versions 1 to %d", f->name,
                            f->version, CT2_MAX_VERSION);
    }
    if (f->version >= 2) {
        const char *spec;
        uint32_t revision;
        size_t at = f->offset;
        if ((status = read_string(f, "specification name", &spec)) != STENO_OK) return status;
        if ((status = read_u32(f, "specification revision", &revision)) != STENO_OK) return status;
        if (strcmp(spec, "WhisperSpec") != 0) {
            return st_error_set(f->err, STENO_ERR_UNSUPPORTED,
                                "%s: a CTranslate2 '%.64s' model (offset %zu), not WhisperSpec", f->name, spec, at);
        }
        if (revision < 1 || revision > CT2_MAX_WHISPER_REVISION) {
            return st_error_set(f->err, STENO_ERR_UNSUPPORTED,
                                "%s: WhisperSpec revision %u at offset %zu; steno reads 1 to %d", f->name, revision,
                                f->offset - 4, CT2_MAX_WHISPER_REVISION);
        }
    }
    uint32_t count;
    size_t at = f->offset;
    if ((status = read_u32(f, "variable count", &count)) != STENO_OK) return status;
    if (count > (f->size - f->offset) / MIN_VARIABLE_RECORD) {
        return st_error_set(f->err, STENO_ERR_FORMAT,
                            "%s: %u variables announced at offset %zu cannot fit in the %zu bytes that remain", f->name,
                            count, at, f->size - f->offset);
    }
    f->variables = calloc(count ? count : 1, sizeof *f->variables);
    if (!f->variables)
        return st_error_set(f->err, STENO_ERR_NO_MEMORY, "%s: out of memory for %u variables", f->name, count);
    for (f->n_variables = 0; f->n_variables < count; f->n_variables++) {
        if ((status = read_variable(f, &f->variables[f->n_variables])) != STENO_OK) return status;
    }
    if (f->version >= 3) {
        at = f->offset;
        if ((status = read_u32(f, "alias count", &count)) != STENO_OK) return status;
        if (count > (f->size - f->offset) / MIN_ALIAS_RECORD) {
            return st_error_set(f->err, STENO_ERR_FORMAT,
                                "%s: %u aliases announced at offset %zu cannot fit in the %zu bytes that remain",
                                f->name, count, at, f->size - f->offset);
        }
        f->aliases = calloc(count ? count : 1, sizeof *f->aliases);
        if (!f->aliases)
            return st_error_set(f->err, STENO_ERR_NO_MEMORY, "%s: out of memory for %u aliases", f->name, count);
        for (f->n_aliases = 0; f->n_aliases < count; f->n_aliases++) {
            ct2_alias *a = &f->aliases[f->n_aliases];
            a->offset = f->offset;
            if ((status = read_string(f, "alias name", &a->name)) != STENO_OK) return status;
            if ((status = read_string(f, "alias target", &a->target)) != STENO_OK) return status;
        }
    }
    if (f->offset != f->size) {
        return st_error_set(f->err, STENO_ERR_FORMAT, "%s: %zu unexpected bytes at offset %zu after the last record",
                            f->name, f->size - f->offset, f->offset);
    }
    return check_names(f);
}

/* ---- from CTranslate2 variables to canonical tensors ---------------------------------- */

typedef struct mapper {
    ct2_file *f;
    st_model *model;
    char *names; /* CANONICAL_NAME_SIZE bytes per tensor slot */
    size_t capacity;
} mapper;

static steno_status require(mapper *m, const char *name, ct2_variable **out) {
    *out = resolve(m->f, name, 1);
    if (*out) return STENO_OK;
    return st_error_set(m->f->err, STENO_ERR_FORMAT, "%s: variable '%s' is missing", m->f->name, name);
}

/* An integer configuration variable (rank 0); *value keeps the default when it is absent. */
static steno_status integer_config(mapper *m, const char *name, int64_t *value, int *present) {
    ct2_variable *v = resolve(m->f, name, 1);
    if (present) *present = v != NULL;
    if (!v) return STENO_OK;
    if ((v->dtype != ST_DTYPE_I8 && v->dtype != ST_DTYPE_I16 && v->dtype != ST_DTYPE_I32) || v->n_elements != 1) {
        return st_error_set(m->f->err, STENO_ERR_FORMAT,
                            "%s: variable '%s' at offset %zu should be one integer, is %lld %s", m->f->name, name,
                            v->offset, (long long)v->n_elements, st_dtype_name(v->dtype));
    }
    *value = load_signed(v->data, v->n_bytes);
    return STENO_OK;
}

/* Configuration that would change the network: Whisper's decoder is pre-norm, GELU, with
 * unscaled learned positional embeddings. */
static steno_status check_whisper_config(mapper *m) {
    static const struct {
        const char *name;
        int64_t required;
    } checks[] = {
        {"decoder/pre_norm", 1}, {"decoder/activation", CT2_GELU},         {"decoder/scale_embeddings", 0},
        {"decoder/alibi", 0},    {"decoder/start_from_zero_embedding", 0},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        int64_t value = checks[i].required;
        steno_status status = integer_config(m, checks[i].name, &value, NULL);
        if (status != STENO_OK) return status;
        if (value != checks[i].required) {
            return st_error_set(m->f->err, STENO_ERR_UNSUPPORTED, "%s: '%s' is %lld; a Whisper model has %lld",
                                m->f->name, checks[i].name, (long long)value, (long long)checks[i].required);
        }
    }
    return STENO_OK;
}

static int to_int(int64_t value) {
    return value > INT_MAX ? -1 : (int)value;
}

/* "<prefix><index>/…" with a canonical decimal index; -1 otherwise. */
static int layer_index(const char *name, const char *prefix) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return -1;
    const char *p = name + n;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '/')) return -1;
    int index = 0;
    while (*p >= '0' && *p <= '9') {
        if (index < CT2_MAX_LAYER_INDEX) index = index * 10 + (*p - '0');
        p++;
    }
    return *p == '/' ? (index < CT2_MAX_LAYER_INDEX ? index : CT2_MAX_LAYER_INDEX) : -1;
}

static int count_layers(const ct2_file *f, const char *prefix) {
    int count = 0;
    for (size_t i = 0; i < f->n_variables; i++) {
        int index = layer_index(f->variables[i].name, prefix);
        if (index + 1 > count) count = index + 1;
    }
    for (size_t i = 0; i < f->n_aliases; i++) {
        int index = layer_index(f->aliases[i].name, prefix);
        if (index + 1 > count) count = index + 1;
    }
    return count;
}

static steno_status derive_dims(mapper *m) {
    static const char *const shaped[] = {"encoder/conv1/weight", "encoder/position_encodings/encodings",
                                         "decoder/embeddings/weight", "decoder/position_encodings/encodings"};
    static const int ranks[] = {3, 2, 2, 2};
    ct2_variable *v[4];
    for (int i = 0; i < 4; i++) {
        steno_status status = require(m, shaped[i], &v[i]);
        if (status != STENO_OK) return status;
        if (v[i]->rank != ranks[i]) {
            return st_error_set(m->f->err, STENO_ERR_FORMAT, "%s: variable '%s' at offset %zu has rank %d, expected %d",
                                m->f->name, shaped[i], v[i]->offset, v[i]->rank, ranks[i]);
        }
    }
    int64_t audio_heads = CT2_DEFAULT_HEADS, text_heads = CT2_DEFAULT_HEADS;
    steno_status status = integer_config(m, "encoder/num_heads", &audio_heads, NULL);
    if (status == STENO_OK) status = integer_config(m, "decoder/num_heads", &text_heads, NULL);
    if (status != STENO_OK) return status;
    st_whisper_dims *d = &m->model->dims;
    *d = (st_whisper_dims){
        .n_mels = to_int(v[0]->shape[1]),
        .n_audio_state = to_int(v[0]->shape[0]),
        .n_audio_ctx = to_int(v[1]->shape[0]),
        .n_audio_head = audio_heads < 1 || audio_heads > INT_MAX ? -1 : (int)audio_heads,
        .n_audio_layer = count_layers(m->f, "encoder/layer_"),
        .n_vocab = to_int(v[2]->shape[0]),
        .n_text_state = to_int(v[2]->shape[1]),
        .n_text_ctx = to_int(v[3]->shape[0]),
        .n_text_head = text_heads < 1 || text_heads > INT_MAX ? -1 : (int)text_heads,
        .n_text_layer = count_layers(m->f, "decoder/layer_"),
    };
    return st_whisper_dims_validate(d, m->f->name, m->f->err);
}

/* The f32 scale(s) an int8/int16 weight needs, as a pointer to its first row's scale. */
static steno_status quantization_scales(mapper *m, const ct2_variable *v, int64_t row_start, const void **out) {
    char name[CT2_MAX_NAME + 8];
    snprintf(name, sizeof name, "%s_scale", v->name);
    ct2_variable *scale = resolve(m->f, name, 1);
    if (v->dtype == ST_DTYPE_I16 && !scale) {
        *out = &ct2_legacy_int16_scale;
        return STENO_OK;
    }
    int64_t want = v->dtype == ST_DTYPE_I8 ? v->shape[0] : 1; /* int8: one per row; int16: one */
    if (!scale) {
        return st_error_set(m->f->err, STENO_ERR_FORMAT, "%s: %s variable '%s' at offset %zu has no '%s'", m->f->name,
                            st_dtype_name(v->dtype), v->name, v->offset, name);
    }
    if (scale->dtype != ST_DTYPE_F32 || scale->n_elements != want || scale->rank > 1) {
        return st_error_set(m->f->err, STENO_ERR_FORMAT, "%s: '%s' at offset %zu is %lld %s, expected %lld f32",
                            m->f->name, name, scale->offset, (long long)scale->n_elements, st_dtype_name(scale->dtype),
                            (long long)want);
    }
    *out = scale->data + (v->dtype == ST_DTYPE_I8 ? (size_t)row_start * 4 : 0);
    return STENO_OK;
}

/* Rows [row_start, row_start + n_rows) of v become the canonical tensor `canonical`. */
static steno_status emit(mapper *m, const char *canonical, const ct2_variable *v, int64_t row_start, int64_t n_rows) {
    st_model *model = m->model;
    int64_t expected[ST_TENSOR_MAX_DIMS];
    int expected_dims = 0;
    if (model->n_tensors >= m->capacity || strlen(canonical) >= CANONICAL_NAME_SIZE ||
        st_whisper_expected_shape(&model->dims, canonical, expected, &expected_dims) != 0) {
        return st_error_set(m->f->err, STENO_ERR_FORMAT, "%s: no place for tensor '%s'", m->f->name, canonical);
    }
    int64_t shape[CT2_MAX_RANK];
    memcpy(shape, v->shape, sizeof shape);
    if (v->rank >= 1) shape[0] = n_rows;
    int same = v->rank == expected_dims;
    for (int i = 0; same && i < expected_dims; i++)
        same = shape[i] == expected[i];
    if (!same) {
        char have[160], want[160];
        format_shape(have, sizeof have, v->rank, shape);
        format_shape(want, sizeof want, expected_dims, expected);
        return st_error_set(m->f->err, STENO_ERR_FORMAT,
                            "%s: variable '%s' at offset %zu gives %s for '%s', expected %s", m->f->name, v->name,
                            v->offset, have, canonical, want);
    }
    const void *scales = NULL;
    switch (v->dtype) {
    case ST_DTYPE_F32:
    case ST_DTYPE_F16:
    case ST_DTYPE_BF16:
        break;
    case ST_DTYPE_I8:
    case ST_DTYPE_I16: {
        steno_status status = quantization_scales(m, v, row_start, &scales);
        if (status != STENO_OK) return status;
        break;
    }
    default:
        return st_error_set(
            m->f->err, STENO_ERR_UNSUPPORTED,
            "%s: variable '%s' at offset %zu is %s; weights are f32, f16, bf16, or int8/int16 with scales", m->f->name,
            v->name, v->offset, st_dtype_name(v->dtype));
    }
    /* shape[0] = n_rows >= 1 (checked above), so the row width divides exactly */
    size_t row_bytes = v->n_bytes / (size_t)v->shape[0];
    char *name = m->names + model->n_tensors * CANONICAL_NAME_SIZE;
    strcpy(name, canonical);
    st_tensor *t = &model->tensors[model->n_tensors++];
    *t = (st_tensor){.name = name,
                     .dtype = v->dtype,
                     .n_dims = expected_dims,
                     .data = v->data + (size_t)row_start * row_bytes,
                     .n_bytes = (size_t)n_rows * row_bytes,
                     .row_scales = scales};
    memcpy(t->shape, expected, sizeof t->shape);
    return STENO_OK;
}

static steno_status emit_whole(mapper *m, const char *canonical, const char *ct2_name) {
    ct2_variable *v;
    steno_status status = require(m, ct2_name, &v);
    if (status != STENO_OK) return status;
    return emit(m, canonical, v, 0, v->rank >= 1 ? v->shape[0] : 1);
}

static steno_status map_linear(mapper *m, const char *ct2, const char *canonical) {
    char from[CT2_MAX_NAME], to[CANONICAL_NAME_SIZE * 2];
    snprintf(from, sizeof from, "%s/weight", ct2);
    snprintf(to, sizeof to, "%s.weight", canonical);
    steno_status status = emit_whole(m, to, from);
    if (status != STENO_OK) return status;
    snprintf(from, sizeof from, "%s/bias", ct2);
    snprintf(to, sizeof to, "%s.bias", canonical);
    return emit_whole(m, to, from);
}

static steno_status map_norm(mapper *m, const char *ct2, const char *canonical) {
    char from[CT2_MAX_NAME], to[CANONICAL_NAME_SIZE * 2];
    snprintf(from, sizeof from, "%s/gamma", ct2);
    snprintf(to, sizeof to, "%s.weight", canonical);
    steno_status status = emit_whole(m, to, from);
    if (status != STENO_OK) return status;
    snprintf(from, sizeof from, "%s/beta", ct2);
    snprintf(to, sizeof to, "%s.bias", canonical);
    return emit_whole(m, to, from);
}

static int float_is_zero(st_dtype dtype, const uint8_t *p) {
    switch (dtype) {
    case ST_DTYPE_F32:
        return ((p[0] | p[1] | p[2]) == 0) && (p[3] & 0x7f) == 0; /* ±0 */
    case ST_DTYPE_F16:
    case ST_DTYPE_BF16:
        return p[0] == 0 && (p[1] & 0x7f) == 0;
    default:
        return 0;
    }
}

/* A linear layer that stacks n_parts projections of `rows` outputs each (self-attention Q|K|V,
 * cross-attention K|V). The key projection has no bias in Whisper: the converter fills its
 * slice of the fused bias with zeros, which is checked and dropped. */
static steno_status map_fused(mapper *m, const char *ct2, const char *const canonical[], int n_parts, int key_part,
                              int64_t rows) {
    static const char *const kinds[] = {"weight", "bias"};
    for (int k = 0; k < 2; k++) {
        char from[CT2_MAX_NAME], to[CANONICAL_NAME_SIZE * 2];
        snprintf(from, sizeof from, "%s/%s", ct2, kinds[k]);
        ct2_variable *v;
        steno_status status = require(m, from, &v);
        if (status != STENO_OK) return status;
        if (v->rank < 1 || v->shape[0] != n_parts * rows) {
            return st_error_set(m->f->err, STENO_ERR_FORMAT,
                                "%s: variable '%s' at offset %zu has %lld rows, expected %d fused projections of %lld",
                                m->f->name, from, v->offset, v->rank < 1 ? 0LL : (long long)v->shape[0], n_parts,
                                (long long)rows);
        }
        for (int p = 0; p < n_parts; p++) {
            if (k == 1 && p == key_part) continue;
            snprintf(to, sizeof to, "%s.%s", canonical[p], kinds[k]);
            if ((status = emit(m, to, v, p * rows, rows)) != STENO_OK) return status;
        }
        if (k == 1) { /* the other slices passed emit: v is a float vector of n_parts * rows */
            size_t element = st_dtype_bytes(v->dtype, 1);
            for (int64_t i = key_part * rows; i < (key_part + 1) * rows; i++) {
                if (!float_is_zero(v->dtype, v->data + (size_t)i * element)) {
                    return st_error_set(
                        m->f->err, STENO_ERR_UNSUPPORTED,
                        "%s: variable '%s' at offset %zu gives the attention key a non-zero bias (element "
                        "%lld); Whisper's key projection has none",
                        m->f->name, from, v->offset, (long long)i);
                }
            }
        }
    }
    return STENO_OK;
}

static steno_status map_block(mapper *m, const char *side, int layer) {
    int decoder = side[0] == 'd';
    int64_t rows = decoder ? m->model->dims.n_text_state : m->model->dims.n_audio_state;
    char ct2[96], canonical[CANONICAL_NAME_SIZE], q[CANONICAL_NAME_SIZE], k[CANONICAL_NAME_SIZE],
        v[CANONICAL_NAME_SIZE];
    steno_status status;
#define CT2_NAME(part) (snprintf(ct2, sizeof ct2, "%s/layer_%d/%s", side, layer, part), ct2)
#define CANONICAL(part) (snprintf(canonical, sizeof canonical, "%s.blocks.%d.%s", side, layer, part), canonical)
    if ((status = map_norm(m, CT2_NAME("self_attention/layer_norm"), CANONICAL("attn_ln"))) != STENO_OK) return status;
    snprintf(q, sizeof q, "%s.blocks.%d.attn.query", side, layer);
    snprintf(k, sizeof k, "%s.blocks.%d.attn.key", side, layer);
    snprintf(v, sizeof v, "%s.blocks.%d.attn.value", side, layer);
    const char *const qkv[] = {q, k, v};
    if ((status = map_fused(m, CT2_NAME("self_attention/linear_0"), qkv, 3, 1, rows)) != STENO_OK) return status;
    if ((status = map_linear(m, CT2_NAME("self_attention/linear_1"), CANONICAL("attn.out"))) != STENO_OK) return status;
    if (decoder) {
        if ((status = map_norm(m, CT2_NAME("attention/layer_norm"), CANONICAL("cross_attn_ln"))) != STENO_OK)
            return status;
        if ((status = map_linear(m, CT2_NAME("attention/linear_0"), CANONICAL("cross_attn.query"))) != STENO_OK) {
            return status;
        }
        snprintf(k, sizeof k, "decoder.blocks.%d.cross_attn.key", layer);
        snprintf(v, sizeof v, "decoder.blocks.%d.cross_attn.value", layer);
        const char *const kv[] = {k, v};
        if ((status = map_fused(m, CT2_NAME("attention/linear_1"), kv, 2, 0, rows)) != STENO_OK) return status;
        if ((status = map_linear(m, CT2_NAME("attention/linear_2"), CANONICAL("cross_attn.out"))) != STENO_OK) {
            return status;
        }
    }
    if ((status = map_norm(m, CT2_NAME("ffn/layer_norm"), CANONICAL("mlp_ln"))) != STENO_OK) return status;
    if ((status = map_linear(m, CT2_NAME("ffn/linear_0"), CANONICAL("mlp.0"))) != STENO_OK) return status;
    return map_linear(m, CT2_NAME("ffn/linear_1"), CANONICAL("mlp.2"));
#undef CT2_NAME
#undef CANONICAL
}

/* openai-whisper ties the output projection to the token embedding; the converter stores it
 * as an alias. A projection stored apart must hold the same bytes. */
static steno_status check_projection(mapper *m) {
    ct2_variable *projection = resolve(m->f, "decoder/projection/weight", 1);
    ct2_variable *embedding = resolve(m->f, "decoder/embeddings/weight", 0);
    if (!projection || projection == embedding) return STENO_OK;
    int same = projection->dtype == embedding->dtype && projection->n_bytes == embedding->n_bytes &&
               memcmp(projection->data, embedding->data, projection->n_bytes) == 0;
    if (same && (projection->dtype == ST_DTYPE_I8 || projection->dtype == ST_DTYPE_I16)) {
        ct2_variable *a = resolve(m->f, "decoder/projection/weight_scale", 1);
        ct2_variable *b = resolve(m->f, "decoder/embeddings/weight_scale", 0);
        same = a == b || (a && b && a->n_bytes == b->n_bytes && memcmp(a->data, b->data, a->n_bytes) == 0);
    }
    if (same) return STENO_OK;
    return st_error_set(
        m->f->err, STENO_ERR_UNSUPPORTED,
        "%s: 'decoder/projection/weight' at offset %zu differs from the token embedding; Whisper ties them", m->f->name,
        projection->offset);
}

/* Anything left unread would change the network in ways steno does not run: refuse it rather
 * than give wrong transcripts. Rank-0 flags are configuration and may be ignored, except a
 * query scale. */
static steno_status check_all_used(mapper *m) {
    const ct2_file *f = m->f;
    for (size_t i = 0; i < f->n_variables; i++) {
        const ct2_variable *v = &f->variables[i];
        if (v->used) continue;
        size_t n = strlen(v->name), suffix = strlen("queries_scale");
        int queries_scale = n >= suffix && strcmp(v->name + n - suffix, "queries_scale") == 0;
        if (v->rank > 0 || queries_scale) {
            return st_error_set(f->err, STENO_ERR_UNSUPPORTED,
                                "%s: variable '%s' at offset %zu is not part of a standard Whisper model", f->name,
                                v->name, v->offset);
        }
    }
    for (size_t i = 0; i < f->n_aliases; i++) {
        if (!f->aliases[i].used) {
            return st_error_set(f->err, STENO_ERR_UNSUPPORTED,
                                "%s: alias '%s' at offset %zu is not part of a standard Whisper model", f->name,
                                f->aliases[i].name, f->aliases[i].offset);
        }
    }
    return STENO_OK;
}

static steno_status map_model(ct2_file *f, st_model *model) {
    mapper m = {.f = f, .model = model};
    steno_status status = derive_dims(&m);
    if (status != STENO_OK) return status;
    const st_whisper_dims *d = &model->dims;
    m.capacity = 11 + 15 * (size_t)d->n_audio_layer + 24 * (size_t)d->n_text_layer;
    model->tensors = calloc(m.capacity, sizeof *model->tensors);
    m.names = malloc(m.capacity * CANONICAL_NAME_SIZE);
    model->owned = m.names;
    if (!model->tensors || !m.names) {
        return st_error_set(f->err, STENO_ERR_NO_MEMORY, "%s: out of memory for %zu tensors", f->name, m.capacity);
    }
    static const char *const globals[][2] = {
        {"encoder.conv1.weight", "encoder/conv1/weight"}, /* PyTorch's [out, in, kernel] in both */
        {"encoder.conv1.bias", "encoder/conv1/bias"},
        {"encoder.conv2.weight", "encoder/conv2/weight"},
        {"encoder.conv2.bias", "encoder/conv2/bias"},
        {"encoder.positional_embedding", "encoder/position_encodings/encodings"},
        {"encoder.ln_post.weight", "encoder/layer_norm/gamma"},
        {"encoder.ln_post.bias", "encoder/layer_norm/beta"},
        {"decoder.token_embedding.weight", "decoder/embeddings/weight"},
        {"decoder.positional_embedding", "decoder/position_encodings/encodings"},
        {"decoder.ln.weight", "decoder/layer_norm/gamma"},
        {"decoder.ln.bias", "decoder/layer_norm/beta"},
    };
    for (size_t i = 0; i < sizeof globals / sizeof globals[0] && status == STENO_OK; i++) {
        status = emit_whole(&m, globals[i][0], globals[i][1]);
    }
    for (int i = 0; i < d->n_audio_layer && status == STENO_OK; i++)
        status = map_block(&m, "encoder", i);
    for (int i = 0; i < d->n_text_layer && status == STENO_OK; i++)
        status = map_block(&m, "decoder", i);
    if (status == STENO_OK) status = check_projection(&m);
    if (status == STENO_OK) status = check_whisper_config(&m);
    if (status == STENO_OK) status = check_all_used(&m);
    if (status == STENO_OK) status = st_whisper_check_complete(model, f->name, f->err);
    if (status == STENO_OK) model->file_type = resolve(f, "encoder/layer_0/ffn/linear_0/weight", 0)->type_id;
    return status;
}

steno_status st_ct2_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    out->file_type = -1;
    ct2_file f = {.data = data, .size = size, .name = name, .err = err};
    steno_status status = parse(&f);
    if (status == STENO_OK) status = map_model(&f, out);
    free(f.variables);
    free(f.aliases);
    if (status == STENO_OK && !(out->format = strdup("ct2"))) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", name);
    }
    if (status != STENO_OK) st_model_free(out);
    return status;
}

int st_ct2_detect(const uint8_t *head, size_t n, int in_model_directory) {
    if (n < 4) return 0;
    uint32_t version = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 24;
    if (version < 1 || version > CT2_MAX_VERSION) return 0;
    if (version == 1) return in_model_directory;
    if (n < 6) return 0;
    size_t length = (size_t)(head[4] | head[5] << 8);
    if (length < 2 || 6 + length > n || head[6 + length - 1] != 0) return 0;
    for (size_t i = 6; i < 6 + length - 1; i++) {
        if (head[i] < 0x21 || head[i] > 0x7e) return 0;
    }
    return 1;
}

int st_ct2_spec_name(const uint8_t *head, size_t n, char *out, size_t size) {
    if (size > 0) out[0] = '\0';
    if (!st_ct2_detect(head, n, 0) || size == 0) return 0;
    /* detect checked the u16 length and the NUL-terminated printable name after the version */
    snprintf(out, size, "%s", (const char *)head + 6);
    return 1;
}

/* ---- the files beside model.bin ------------------------------------------------------- */

static int is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parses an optional JSON file: *out stays NULL when the file does not exist. */
static steno_status load_optional_json(const char *path, json_t **out, st_error *err) {
    *out = NULL;
    if (!is_regular_file(path)) return STENO_OK;
    json_error_t error;
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (*out) return STENO_OK;
    return st_error_set(err, STENO_ERR_FORMAT, "%s: invalid JSON at line %d, column %d (byte %d): %s", path, error.line,
                        error.column, error.position, error.text);
}

/* config.json's alignment_heads: [[decoder layer, head], …], both in range. */
static steno_status read_config(const char *path, st_model *model, st_error *err) {
    json_t *root;
    steno_status status = load_optional_json(path, &root, err);
    if (status != STENO_OK || !root) return status;
    json_t *heads = json_is_object(root) ? json_object_get(root, "alignment_heads") : NULL;
    if (!json_is_object(root) || (heads && !json_is_null(heads) && !json_is_array(heads))) {
        json_decref(root);
        return st_error_set(err, STENO_ERR_FORMAT, "%s: expected an object whose alignment_heads is a list", path);
    }
    size_t n = json_is_array(heads) ? json_array_size(heads) : 0;
    const st_whisper_dims *d = &model->dims;
    if (n > (size_t)d->n_text_layer * (size_t)d->n_text_head) {
        json_decref(root);
        return st_error_set(err, STENO_ERR_FORMAT, "%s: %zu alignment heads, more than the decoder's %d", path, n,
                            d->n_text_layer * d->n_text_head);
    }
    if (n > 0 && !(model->alignment_heads = malloc(2 * n * sizeof *model->alignment_heads))) {
        json_decref(root);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *pair = json_array_get(heads, i);
        json_t *layer = json_array_get(pair, 0), *head = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(layer) || !json_is_integer(head) ||
            json_integer_value(layer) < 0 || json_integer_value(layer) >= d->n_text_layer ||
            json_integer_value(head) < 0 || json_integer_value(head) >= d->n_text_head) {
            json_decref(root);
            return st_error_set(err, STENO_ERR_FORMAT,
                                "%s: alignment_heads[%zu] is not a [layer, head] pair within %d layers of %d heads",
                                path, i, d->n_text_layer, d->n_text_head);
        }
        model->alignment_heads[2 * i] = (int)json_integer_value(layer);
        model->alignment_heads[2 * i + 1] = (int)json_integer_value(head);
    }
    model->n_alignment_heads = (int)n;
    json_decref(root);
    return STENO_OK;
}

/* preprocessor_config.json's feature_size is how many mel bins the features have (128 for
 * large-v3); it must agree with what the first convolution takes. */
static steno_status check_preprocessor(const char *path, const st_model *model, st_error *err) {
    json_t *root;
    steno_status status = load_optional_json(path, &root, err);
    if (status != STENO_OK || !root) return status;
    json_t *size = json_is_object(root) ? json_object_get(root, "feature_size") : NULL;
    if (size && (!json_is_integer(size) || json_integer_value(size) != model->dims.n_mels)) {
        status =
            st_error_set(err, STENO_ERR_FORMAT, "%s: feature_size is not %d, the mel bins encoder/conv1/weight takes",
                         path, model->dims.n_mels);
    }
    json_decref(root);
    return status;
}

steno_status st_ct2_load(const char *path, st_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no such file or folder", path);
    char dir[CT2_PATH_SIZE], file_path[CT2_PATH_SIZE];
    int written;
    if (S_ISDIR(st.st_mode)) {
        written = snprintf(dir, sizeof dir, "%s", path);
    } else { /* the path of model.bin itself: the other files are beside it */
        const char *slash = strrchr(path, '/');
        written = slash ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) : snprintf(dir, sizeof dir, ".");
        if (slash == path) written = snprintf(dir, sizeof dir, "/");
    }
    if (written < 0 || (size_t)written >= sizeof dir - 32) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", path);
    }
    snprintf(file_path, sizeof file_path, "%s/model.bin", dir);
    st_mapped_file file;
    steno_status status = st_mapped_file_open(&file, S_ISDIR(st.st_mode) ? file_path : path, err);
    if (status != STENO_OK) return status;
    if (file.size == 0) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: empty file", file.path);
        st_mapped_file_close(&file);
        return status;
    }
    status = st_ct2_load_memory(file.data, file.size, file.path, out, err);
    if (status != STENO_OK) {
        st_mapped_file_close(&file);
        return status;
    }
    out->file = file; /* the model owns the mapping from here */
    snprintf(file_path, sizeof file_path, "%s/config.json", dir);
    status = read_config(file_path, out, err);
    if (status == STENO_OK) {
        snprintf(file_path, sizeof file_path, "%s/preprocessor_config.json", dir);
        status = check_preprocessor(file_path, out, err);
    }
    /* faster-whisper's converter writes vocabulary.json (older ones vocabulary.txt); the HF
     * tokenizer.json it copies holds the same tokens. */
    static const char *const vocabularies[] = {"vocabulary.json", "vocabulary.txt", "tokenizer.json"};
    for (size_t i = 0; i < 3 && status == STENO_OK && !out->vocabulary_path; i++) {
        snprintf(file_path, sizeof file_path, "%s/%s", dir, vocabularies[i]);
        if (is_regular_file(file_path) && !(out->vocabulary_path = strdup(file_path))) {
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
        }
    }
    if (status != STENO_OK) st_model_free(out);
    return status;
}
