/*
 * onnx.h — the weights of an ONNX model, read from its protobuf bytes in place.
 *
 * Only what a fixed network needs: every tensor the file stores — the graph's initializers and
 * the `value` of each Constant node — in the main graph and in the subgraphs of If/Loop/Scan
 * nodes (Silero VAD keeps all its weights as Constants inside If branches), with its name,
 * element type, shape and where its numbers lie. A Constant's tensor is named after the node's
 * output, which is how the graph refers to it. Nothing of the graph's operators is interpreted.
 *
 * The bytes are untrusted: every length, count and nesting level is checked against the
 * buffer, and a tensor is handed out only when its data holds exactly as many numbers as its
 * shape says. Data stored outside the file (external_data) is refused when read.
 */
#ifndef ST_VAD_ONNX_H
#define ST_VAD_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define ST_ONNX_MAX_DIMS 8
#define ST_ONNX_MAX_DEPTH 16 /* nesting of subgraphs */

/* TensorProto.DataType values steno reads. */
enum { ST_ONNX_FLOAT = 1, ST_ONNX_INT64 = 7 };

typedef struct st_onnx_tensor {
    char *name; /* owned, NUL-terminated */
    int graph;  /* which graph holds it: 0 the main graph, then each subgraph in file order */
    int data_type;
    int n_dims;
    int64_t dims[ST_ONNX_MAX_DIMS];
    size_t n_elements;
    int external;       /* data_location EXTERNAL: the numbers are in another file */
    const uint8_t *raw; /* raw_data (little-endian), or NULL */
    size_t raw_size;
    const uint8_t *packed;  /* float_data as one packed run of little-endian floats, or NULL */
    size_t n_unpacked;      /* float_data as separate fields: their count (read from message) */
    const uint8_t *message; /* the TensorProto's bytes */
    size_t message_size;
} st_onnx_tensor;

typedef struct st_onnx_model {
    st_onnx_tensor *tensors;
    size_t n_tensors, capacity;
    int n_graphs;
} st_onnx_model;

/* Parses a ModelProto in data[0..size). source names the bytes in messages. The tensors point
 * into data, which must outlive the model. */
steno_status st_onnx_parse(const uint8_t *data, size_t size, const char *source, st_onnx_model *out, st_error *err);
void st_onnx_model_free(st_onnx_model *model);

/* The first tensor in graph (-1: any) whose name ends with suffix and whose shape is
 * dims[n_dims]; NULL if none. */
const st_onnx_tensor *st_onnx_find(const st_onnx_model *model, int graph, const char *suffix, const int64_t *dims,
                                   int n_dims);

/* A float tensor's n_elements numbers into out. */
steno_status st_onnx_tensor_floats(const st_onnx_tensor *tensor, float *out, const char *source, st_error *err);

#endif
