/*
 * pickle.h — a safe reader for the subset of Python's pickle format that torch.save writes.
 *
 * The bytes run on a small stack machine that understands the opcodes of protocols 2 to 5
 * that torch's pickler emits (containers, numbers, strings, memo, globals, REDUCE/BUILD/NEWOBJ,
 * persistent ids) and builds a tiny object model from them. Nothing a file names is ever
 * imported or called: a global is only a (module, name) pair, and calling one yields an inert
 * OPAQUE object that records the callable and its arguments. The few callables torch needs are
 * recognised by name and interpreted: collections.OrderedDict (an empty dict),
 * torch._utils._rebuild_tensor_v2 (a TENSOR reference to a storage), and
 * torch._utils._rebuild_parameter(_with_state) (the tensor it wraps). A persistent id of the
 * form ('storage', <storage class>, key, location, numel) becomes a STORAGE object.
 *
 * Everything is bounded: the value stack, the mark stack, the nesting depth of containers, the
 * memo (indices must be smaller than the input), and strings and integers by the input's own
 * length. No code walks the object graph recursively, so self-referencing containers (which a
 * pickle can build through the memo) cannot hang or overflow a reader.
 */
#ifndef ST_MODELS_PICKLE_H
#define ST_MODELS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum st_pickle_kind {
    ST_PICKLE_NONE,
    ST_PICKLE_BOOL,
    ST_PICKLE_INT,
    ST_PICKLE_FLOAT,
    ST_PICKLE_STRING, /* str (UTF-8 as stored) */
    ST_PICKLE_BYTES,  /* bytes, bytearray, and protocol-1 byte strings */
    ST_PICKLE_TUPLE,
    ST_PICKLE_LIST, /* also sets and frozensets, which torch checkpoints rarely hold */
    ST_PICKLE_DICT,
    ST_PICKLE_GLOBAL,  /* a name a file referred to: never resolved */
    ST_PICKLE_OPAQUE,  /* the result of calling or instantiating something steno does not know */
    ST_PICKLE_STORAGE, /* a torch storage named by a persistent id */
    ST_PICKLE_TENSOR,  /* a view into a storage */
} st_pickle_kind;

enum { ST_PICKLE_MAX_DIMS = 8 };

typedef struct st_pickle_object st_pickle_object;

struct st_pickle_object {
    st_pickle_kind kind;
    int depth; /* nesting depth when built: 0 for scalars */
    union {
        int boolean;
        int64_t integer;
        double real;
        struct {
            char *bytes; /* NUL-terminated copy; may contain NUL bytes, see length */
            size_t length;
        } string; /* STRING and BYTES */
        struct {
            st_pickle_object **items; /* DICT: key, value, key, value... in insertion order */
            size_t count;
            size_t capacity;
        } sequence; /* TUPLE, LIST, DICT */
        struct {
            char *module;
            char *name;
        } global;
        struct {
            const st_pickle_object *callable; /* a GLOBAL or any other object */
            const st_pickle_object *args;     /* a TUPLE, or NULL */
            const st_pickle_object *state;    /* from BUILD, or NULL */
        } opaque;
        struct {
            const st_pickle_object *storage_class; /* a GLOBAL such as torch.HalfStorage */
            const char *key;                       /* archive entry data/<key> */
            const char *location;                  /* "cpu", "cuda:0"... */
            int64_t numel;                         /* elements of the storage's dtype */
        } storage;
        struct {
            const st_pickle_object *storage; /* a STORAGE */
            int64_t offset;                  /* in elements */
            int n_dims;
            int64_t shape[ST_PICKLE_MAX_DIMS];
            int64_t stride[ST_PICKLE_MAX_DIMS]; /* in elements */
        } tensor;
    } as;
};

typedef struct st_pickle {
    const st_pickle_object *root; /* what STOP returned */
    st_pickle_object **objects;   /* every object built, for freeing */
    size_t n_objects;
    size_t capacity;
    /* The first global named that would let Python's unpickler run code ("posix.system",
     * "builtins.eval"), empty when none: steno never imports it, but torch.load would. */
    char code_global[208];
} st_pickle;

/* Runs the pickle in data[0..size); source names it in messages (file and entry). On failure
 * *out is empty and err names the offset, the opcode and the reason. */
steno_status st_pickle_load(const uint8_t *data, size_t size, const char *source, st_pickle *out, st_error *err);

void st_pickle_free(st_pickle *pickle);

/* The value stored under string key in dict (the last one when a key was set twice), or NULL
 * when dict is not a DICT or has no such key. */
const st_pickle_object *st_pickle_dict_get(const st_pickle_object *dict, const char *key);

/* True when object is a STRING without NUL bytes inside (usable as a C string). */
int st_pickle_is_text(const st_pickle_object *object);

/* True when object is a GLOBAL module.name. */
int st_pickle_is_global(const st_pickle_object *object, const char *module, const char *name);

/* A short description of the kind, for messages. */
const char *st_pickle_kind_name(st_pickle_kind kind);

#endif
