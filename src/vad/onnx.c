/* onnx.c — reading the stored tensors of an ONNX ModelProto (see onnx.h).
 *
 * Protobuf wire format: each field is a varint key (field number << 3 | wire type) followed by
 * a varint (type 0), 8 bytes (1), a varint length and that many bytes (2), or 4 bytes (5).
 * Unknown fields are skipped, so files from newer exporters still read. */
#include "vad/onnx.h"

#include <stdlib.h>
#include <string.h>

/* Field numbers from onnx.proto. */
enum { MODEL_GRAPH = 7 };
enum { GRAPH_NODE = 1, GRAPH_INITIALIZER = 5 };
enum { NODE_OUTPUT = 2, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5 };
enum { ATTRIBUTE_NAME = 1, ATTRIBUTE_T = 5, ATTRIBUTE_G = 6, ATTRIBUTE_GRAPHS = 11 };
enum {
    TENSOR_DIMS = 1,
    TENSOR_DATA_TYPE = 2,
    TENSOR_FLOAT_DATA = 4,
    TENSOR_NAME = 8,
    TENSOR_RAW_DATA = 9,
    TENSOR_DATA_LOCATION = 14
};
enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

typedef struct span {
    const uint8_t *p;
    size_t n;
} span;

/* One field as read from a message. */
typedef struct field {
    uint32_t number;
    int wire;
    uint64_t value; /* varint, or the fixed-size bits */
    span bytes;     /* WIRE_LEN */
} field;

typedef struct reader {
    const uint8_t *p, *end;
} reader;

typedef struct parser {
    const char *source;
    const uint8_t *base; /* start of the file, for offsets in messages */
    st_onnx_model *model;
    st_error *err;
} parser;

static int read_varint(reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return 0;
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0; /* more than 10 bytes */
}

/* Next field of the message under r: 1 read, 0 end of message, -1 malformed. */
static int next_field(reader *r, field *f) {
    *f = (field){0};
    if (r->p >= r->end) return 0;
    uint64_t key;
    if (!read_varint(r, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX) return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    size_t left;
    switch (f->wire) {
    case WIRE_VARINT:
        return read_varint(r, &f->value) ? 1 : -1;
    case WIRE_I64:
    case WIRE_I32: {
        size_t n = f->wire == WIRE_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) return -1;
        f->value = 0;
        for (size_t i = 0; i < n; i++)
            f->value |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 1;
    }
    case WIRE_LEN:
        if (!read_varint(r, &f->value)) return -1;
        left = (size_t)(r->end - r->p);
        if (f->value > left) return -1;
        f->bytes = (span){r->p, (size_t)f->value};
        r->p += f->value;
        return 1;
    default:
        return -1; /* groups (3, 4) are not used by ONNX; 6 and 7 do not exist */
    }
}

static steno_status malformed(const parser *ps, const uint8_t *at, const char *what) {
    return st_error_set(ps->err, STENO_ERR_FORMAT, "%s: malformed ONNX protobuf at byte %zu: %s", ps->source,
                        (size_t)(at - ps->base), what);
}

static int span_equals(span s, const char *text) {
    return s.n == strlen(text) && memcmp(s.p, text, s.n) == 0;
}

static steno_status parse_graph(const parser *ps, span graph, int depth);

/* Adds the TensorProto in message, named name (NULL: its own name field). */
static steno_status parse_tensor(const parser *ps, int graph, span message, const span *name) {
    st_onnx_tensor t = {.graph = graph, .message = message.p, .message_size = message.n};
    span own_name = {message.p, 0};
    int has_data_type = 0, floats_packed_runs = 0;
    size_t packed_count = 0;
    reader r = {message.p, message.p + message.n};
    field f = {0};
    int got;
    while ((got = next_field(&r, &f)) == 1) {
        if (f.number == TENSOR_DIMS) {
            if (f.wire == WIRE_VARINT) {
                if (t.n_dims == ST_ONNX_MAX_DIMS) return malformed(ps, r.p, "a tensor has more than 8 dimensions");
                t.dims[t.n_dims++] = (int64_t)f.value;
            } else if (f.wire == WIRE_LEN) {
                reader packed = {f.bytes.p, f.bytes.p + f.bytes.n};
                uint64_t v;
                while (packed.p < packed.end) {
                    if (!read_varint(&packed, &v)) return malformed(ps, packed.p, "bad packed tensor dims");
                    if (t.n_dims == ST_ONNX_MAX_DIMS)
                        return malformed(ps, packed.p, "a tensor has more than 8 dimensions");
                    t.dims[t.n_dims++] = (int64_t)v;
                }
            } else {
                return malformed(ps, r.p, "tensor dims of the wrong wire type");
            }
        } else if (f.number == TENSOR_DATA_TYPE && f.wire == WIRE_VARINT) {
            if (f.value > 64) return malformed(ps, r.p, "unknown tensor data type");
            t.data_type = (int)f.value;
            has_data_type = 1;
        } else if (f.number == TENSOR_FLOAT_DATA && f.wire == WIRE_LEN) {
            if (f.bytes.n % 4) return malformed(ps, r.p, "packed float_data is not a whole number of floats");
            t.packed = f.bytes.p;
            packed_count = f.bytes.n / 4;
            floats_packed_runs++;
        } else if (f.number == TENSOR_FLOAT_DATA && f.wire == WIRE_I32) {
            t.n_unpacked++;
        } else if (f.number == TENSOR_NAME && f.wire == WIRE_LEN) {
            own_name = f.bytes;
        } else if (f.number == TENSOR_RAW_DATA && f.wire == WIRE_LEN) {
            t.raw = f.bytes.p;
            t.raw_size = f.bytes.n;
        } else if (f.number == TENSOR_DATA_LOCATION && f.wire == WIRE_VARINT) {
            t.external = f.value == 1;
        }
    }
    if (got < 0) return malformed(ps, r.p, "truncated or invalid field in a tensor");
    if (!has_data_type) return malformed(ps, message.p, "a tensor has no data type");
    if (floats_packed_runs > 1 || (t.packed && t.n_unpacked)) {
        return st_error_set(ps->err, STENO_ERR_UNSUPPORTED, "%s: a tensor's float_data is split into several runs",
                            ps->source);
    }

    /* The element count, bounded so that it can never overflow a byte count below. */
    size_t n = 1;
    for (int d = 0; d < t.n_dims; d++) {
        if (t.dims[d] < 0) return malformed(ps, message.p, "a tensor has a negative dimension");
        if (t.dims[d] != 0 && n > (SIZE_MAX / 16) / (uint64_t)t.dims[d])
            return malformed(ps, message.p, "a tensor's shape is impossibly large");
        n *= (size_t)t.dims[d];
    }
    t.n_elements = n;
    if (t.data_type == ST_ONNX_FLOAT && !t.external) {
        int sources = (t.raw != NULL) + (t.packed != NULL) + (t.n_unpacked > 0);
        int fits = sources == 0  ? n == 0
                   : sources > 1 ? 0
                   : t.raw       ? t.raw_size == 4 * n
                   : t.packed    ? packed_count == n
                                 : t.n_unpacked == n;
        if (!fits) return malformed(ps, message.p, "a float tensor's data does not match its shape");
    } else if (t.data_type == ST_ONNX_INT64 && t.raw && t.raw_size != 8 * n) {
        return malformed(ps, message.p, "an int64 tensor's data does not match its shape");
    }

    span chosen = name ? *name : own_name;
    t.name = malloc(chosen.n + 1);
    if (!t.name) return st_error_set(ps->err, STENO_ERR_NO_MEMORY, "%s: out of memory", ps->source);
    memcpy(t.name, chosen.p, chosen.n);
    t.name[chosen.n] = '\0';
    st_onnx_model *m = ps->model;
    if (m->n_tensors == m->capacity) {
        size_t capacity = m->capacity ? 2 * m->capacity : 32;
        st_onnx_tensor *grown = realloc(m->tensors, capacity * sizeof *grown);
        if (!grown) {
            free(t.name);
            return st_error_set(ps->err, STENO_ERR_NO_MEMORY, "%s: out of memory", ps->source);
        }
        m->tensors = grown;
        m->capacity = capacity;
    }
    m->tensors[m->n_tensors++] = t;
    return STENO_OK;
}

/* An AttributeProto of a node: a tensor (kept when the node is a Constant and this is its
 * value) or subgraphs (walked). */
static steno_status parse_attribute(const parser *ps, int graph, span attribute, int is_constant, const span *output,
                                    int depth) {
    span name = {attribute.p, 0};
    reader r = {attribute.p, attribute.p + attribute.n};
    field f = {0};
    int got;
    while ((got = next_field(&r, &f)) == 1) {
        if (f.number == ATTRIBUTE_NAME && f.wire == WIRE_LEN) name = f.bytes;
    }
    if (got < 0) return malformed(ps, r.p, "truncated or invalid field in a node attribute");
    r = (reader){attribute.p, attribute.p + attribute.n};
    while (next_field(&r, &f) == 1) {
        if (f.wire != WIRE_LEN) continue;
        steno_status status = STENO_OK;
        if (f.number == ATTRIBUTE_T && is_constant && output && span_equals(name, "value")) {
            status = parse_tensor(ps, graph, f.bytes, output);
        } else if (f.number == ATTRIBUTE_G || f.number == ATTRIBUTE_GRAPHS) {
            status = parse_graph(ps, f.bytes, depth + 1);
        }
        if (status != STENO_OK) return status;
    }
    return STENO_OK;
}

static steno_status parse_node(const parser *ps, int graph, span node, int depth) {
    span op_type = {node.p, 0}, output = {node.p, 0};
    int has_output = 0;
    reader r = {node.p, node.p + node.n};
    field f = {0};
    int got;
    while ((got = next_field(&r, &f)) == 1) {
        if (f.wire != WIRE_LEN) continue;
        if (f.number == NODE_OP_TYPE) op_type = f.bytes;
        if (f.number == NODE_OUTPUT && !has_output) {
            output = f.bytes;
            has_output = 1;
        }
    }
    if (got < 0) return malformed(ps, r.p, "truncated or invalid field in a node");
    int is_constant = span_equals(op_type, "Constant");
    r = (reader){node.p, node.p + node.n};
    while (next_field(&r, &f) == 1) {
        if (f.number != NODE_ATTRIBUTE || f.wire != WIRE_LEN) continue;
        steno_status status = parse_attribute(ps, graph, f.bytes, is_constant, has_output ? &output : NULL, depth);
        if (status != STENO_OK) return status;
    }
    return STENO_OK;
}

static steno_status parse_graph(const parser *ps, span graph, int depth) {
    if (depth > ST_ONNX_MAX_DEPTH) return malformed(ps, graph.p, "subgraphs nested too deeply");
    int index = ps->model->n_graphs++;
    reader r = {graph.p, graph.p + graph.n};
    field f = {0};
    int got;
    while ((got = next_field(&r, &f)) == 1) {
        if (f.wire != WIRE_LEN) continue;
        steno_status status = STENO_OK;
        if (f.number == GRAPH_NODE) status = parse_node(ps, index, f.bytes, depth);
        if (f.number == GRAPH_INITIALIZER) status = parse_tensor(ps, index, f.bytes, NULL);
        if (status != STENO_OK) return status;
    }
    return got < 0 ? malformed(ps, r.p, "truncated or invalid field in a graph") : STENO_OK;
}

steno_status st_onnx_parse(const uint8_t *data, size_t size, const char *source, st_onnx_model *out, st_error *err) {
    memset(out, 0, sizeof *out);
    parser ps = {.source = source, .base = data, .model = out, .err = err};
    reader r = {data, data + size};
    field f = {0};
    int got, graphs = 0;
    steno_status status = STENO_OK;
    while (status == STENO_OK && (got = next_field(&r, &f)) == 1) {
        if (f.number == MODEL_GRAPH && f.wire == WIRE_LEN) {
            graphs++;
            status = parse_graph(&ps, f.bytes, 0);
        }
    }
    if (status == STENO_OK && got < 0) status = malformed(&ps, r.p, "not an ONNX model (truncated or invalid field)");
    if (status == STENO_OK && graphs != 1) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: not an ONNX model (%d graphs, expected 1)", source, graphs);
    }
    if (status != STENO_OK) st_onnx_model_free(out);
    return status;
}

void st_onnx_model_free(st_onnx_model *model) {
    for (size_t i = 0; i < model->n_tensors; i++)
        free(model->tensors[i].name);
    free(model->tensors);
    memset(model, 0, sizeof *model);
}

const st_onnx_tensor *st_onnx_find(const st_onnx_model *model, int graph, const char *suffix, const int64_t *dims,
                                   int n_dims) {
    size_t suffix_length = strlen(suffix);
    for (size_t i = 0; i < model->n_tensors; i++) {
        const st_onnx_tensor *t = &model->tensors[i];
        if (graph >= 0 && t->graph != graph) continue;
        size_t length = strlen(t->name);
        if (length < suffix_length || strcmp(t->name + length - suffix_length, suffix) != 0) continue;
        if (t->n_dims != n_dims || memcmp(t->dims, dims, (size_t)n_dims * sizeof *dims) != 0) continue;
        return t;
    }
    return NULL;
}

static float float_at(const uint8_t *p) {
    uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

steno_status st_onnx_tensor_floats(const st_onnx_tensor *t, float *out, const char *source, st_error *err) {
    if (t->data_type != ST_ONNX_FLOAT) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: tensor '%s' has data type %d, expected float", source, t->name,
                            t->data_type);
    }
    if (t->external) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: tensor '%s' keeps its data in an external file", source,
                            t->name);
    }
    const uint8_t *bytes = t->raw ? t->raw : t->packed;
    if (bytes) {
        for (size_t i = 0; i < t->n_elements; i++)
            out[i] = float_at(bytes + 4 * i);
        return STENO_OK;
    }
    /* float_data as separate fixed32 fields: parse_tensor counted exactly n_elements of them. */
    reader r = {t->message, t->message + t->message_size};
    field f = {0};
    size_t i = 0;
    while (next_field(&r, &f) == 1) {
        if (f.number == TENSOR_FLOAT_DATA && f.wire == WIRE_I32 && i < t->n_elements) {
            uint32_t bits = (uint32_t)f.value;
            memcpy(&out[i++], &bits, sizeof bits);
        }
    }
    return STENO_OK;
}
