/*
 * pt_write.c — writer of openai-whisper checkpoints in torch.save's zip format.
 *
 * The archive is what torch.save writes and torch.load (and pt.c) reads: stored (uncompressed)
 * entries under one folder named after the file, "FOLDER/data.pkl" (pickle protocol 2),
 * "FOLDER/data/N" (one storage per tensor, little-endian) and "FOLDER/version" ("3\n"). Every
 * payload starts at a multiple of 64 bytes, padded through a local extra field as torch does,
 * so readers can map tensors in place. ZIP64 fields are written whenever an offset or a size
 * does not fit 32 bits.
 *
 * data.pkl holds openai's checkpoint: {"dims": {n_mels, n_audio_ctx, …} in ModelDimensions'
 * order, "model_state_dict": OrderedDict(name -> tensor)}, each tensor pickled as torch does:
 * torch._utils._rebuild_tensor_v2(persistent storage ("storage", torch.HalfStorage, key,
 * "cpu", numel), offset 0, size, contiguous stride, False, OrderedDict()). Every tensor is f16
 * like the official checkpoints; conv biases are 1-D.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "models/writers.h"
#include "nn/quant.h"

enum {
    ZIP_LOCAL_SIGNATURE = 0x04034b50,
    ZIP_CENTRAL_SIGNATURE = 0x02014b50,
    ZIP_EOCD_SIGNATURE = 0x06054b50,
    ZIP64_EOCD_SIGNATURE = 0x06064b50,
    ZIP64_LOCATOR_SIGNATURE = 0x07064b50,
    ZIP_VERSION = 20,
    ZIP64_VERSION = 45,
    ZIP_ALIGNMENT = 64,
    ZIP_PADDING_ID = 0x4246, /* "FB": torch's padding field */
    PICKLE_BATCH = 1000,     /* SETITEMS batch, as Python's pickler */
};

/* ---- a growing byte buffer for the pickle ---------------------------------------------- */

typedef struct bytes {
    uint8_t *data;
    size_t size, capacity;
    int failed;
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->failed) return;
    if (b->size + n > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->size + n)
            capacity *= 2;
        uint8_t *grown = realloc(b->data, capacity);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, data, n);
    b->size += n;
}

static void put_op(bytes *b, uint8_t op) {
    put(b, &op, 1);
}

static void put_string(bytes *b, const char *s) { /* BINUNICODE */
    size_t n = strlen(s);
    uint8_t head[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    put(b, head, 5);
    put(b, s, n);
}

static void put_int(bytes *b, int64_t v) {
    if (v >= 0 && v < 256) {
        uint8_t op[2] = {'K', (uint8_t)v}; /* BININT1 */
        put(b, op, 2);
    } else if (v >= 0 && v < 65536) {
        uint8_t op[3] = {'M', (uint8_t)v, (uint8_t)(v >> 8)}; /* BININT2 */
        put(b, op, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        uint32_t u = (uint32_t)(int32_t)v;
        uint8_t op[5] = {'J', (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)}; /* BININT */
        put(b, op, 5);
    } else {
        uint64_t u = (uint64_t)v; /* LONG1: 8 little-endian two's-complement bytes */
        uint8_t op[10] = {0x8a, 8};
        for (int i = 0; i < 8; i++)
            op[2 + i] = (uint8_t)(u >> (8 * i));
        put(b, op, 10);
    }
}

static void put_global(bytes *b, const char *module, const char *name) {
    put_op(b, 'c');
    put(b, module, strlen(module));
    put_op(b, '\n');
    put(b, name, strlen(name));
    put_op(b, '\n');
}

static void put_tensor(bytes *b, const st_tensor *t, size_t key) {
    char key_text[32];
    snprintf(key_text, sizeof key_text, "%zu", key);
    put_global(b, "torch._utils", "_rebuild_tensor_v2");
    put_op(b, '('); /* MARK: the arguments */
    put_op(b, '(');
    put_string(b, "storage");
    put_global(b, "torch", "HalfStorage");
    put_string(b, key_text);
    put_string(b, "cpu");
    put_int(b, st_tensor_n_elements(t));
    put_op(b, 't'); /* TUPLE */
    put_op(b, 'Q'); /* BINPERSID */
    put_int(b, 0);  /* storage offset */
    put_op(b, '(');
    for (int k = 0; k < t->n_dims; k++)
        put_int(b, t->shape[k]);
    put_op(b, 't');
    put_op(b, '(');
    int64_t stride = 1, strides[ST_TENSOR_MAX_DIMS];
    for (int k = t->n_dims - 1; k >= 0; k--) {
        strides[k] = stride;
        stride *= t->shape[k];
    }
    for (int k = 0; k < t->n_dims; k++)
        put_int(b, strides[k]);
    put_op(b, 't');
    put_op(b, 0x89); /* NEWFALSE: requires_grad */
    put_global(b, "collections", "OrderedDict");
    put_op(b, ')'); /* EMPTY_TUPLE */
    put_op(b, 'R'); /* REDUCE: backward hooks, an empty OrderedDict */
    put_op(b, 't');
    put_op(b, 'R');
}

static void build_pickle(const st_write_source *src, bytes *b) {
    const st_whisper_dims *d = &src->model->dims;
    const struct {
        const char *name;
        int value;
    } dims[] = {{"n_mels", d->n_mels},
                {"n_audio_ctx", d->n_audio_ctx},
                {"n_audio_state", d->n_audio_state},
                {"n_audio_head", d->n_audio_head},
                {"n_audio_layer", d->n_audio_layer},
                {"n_vocab", d->n_vocab},
                {"n_text_ctx", d->n_text_ctx},
                {"n_text_state", d->n_text_state},
                {"n_text_head", d->n_text_head},
                {"n_text_layer", d->n_text_layer}};
    put(b, "\x80\x02", 2); /* PROTO 2 */
    put_op(b, '}');        /* EMPTY_DICT */
    put_op(b, '(');
    put_string(b, "dims");
    put_op(b, '}');
    put_op(b, '(');
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        put_string(b, dims[i].name);
        put_int(b, dims[i].value);
    }
    put_op(b, 'u'); /* SETITEMS */
    put_string(b, "model_state_dict");
    put_global(b, "collections", "OrderedDict");
    put_op(b, ')');
    put_op(b, 'R');
    for (size_t i = 0; i < src->n_tensors; i++) {
        if (i % PICKLE_BATCH == 0) put_op(b, '(');
        put_string(b, src->tensors[i]->name);
        put_tensor(b, src->tensors[i], i);
        if (i % PICKLE_BATCH == PICKLE_BATCH - 1 || i + 1 == src->n_tensors) put_op(b, 'u');
    }
    put_op(b, 'u');
    put_op(b, '.'); /* STOP */
}

/* ---- the zip container ------------------------------------------------------------------- */

typedef struct zip_entry {
    char *name;
    uint64_t offset, size;
    uint32_t crc;
} zip_entry;

typedef struct zip_writer {
    st_atomic_file out;
    zip_entry *entries;
    size_t n, capacity;
} zip_writer;

static int saturated(uint64_t v) {
    return v >= 0xFFFFFFFFu;
}

/* One stored entry: local header (ZIP64 sizes if needed, padding to align the payload), data. */
static int zip_add(zip_writer *z, const char *name, const void *data, uint64_t size) {
    if (z->n == z->capacity) {
        size_t capacity = z->capacity ? 2 * z->capacity : 64;
        zip_entry *grown = realloc(z->entries, capacity * sizeof *grown);
        if (!grown) return -1;
        z->entries = grown;
        z->capacity = capacity;
    }
    zip_entry *e = &z->entries[z->n];
    if (!(e->name = strdup(name))) return -1;
    z->n++;
    e->offset = z->out.offset;
    e->size = size;
    e->crc = 0;
    for (uint64_t done = 0; done < size;) { /* zlib's crc32 takes 32-bit lengths */
        uint64_t chunk = size - done < (1u << 30) ? size - done : (1u << 30);
        e->crc = (uint32_t)crc32(e->crc, (const Bytef *)data + done, (uInt)chunk);
        done += chunk;
    }
    size_t name_length = strlen(name);
    int zip64 = saturated(size);
    uint16_t zip64_extra = zip64 ? 20 : 0;
    uint64_t data_start = e->offset + 30 + name_length + zip64_extra + 4;
    uint16_t padding = (uint16_t)((ZIP_ALIGNMENT - data_start % ZIP_ALIGNMENT) % ZIP_ALIGNMENT);
    st_atomic_u32(&z->out, ZIP_LOCAL_SIGNATURE);
    st_atomic_u16(&z->out, zip64 ? ZIP64_VERSION : ZIP_VERSION);
    st_atomic_u16(&z->out, 0); /* flags */
    st_atomic_u16(&z->out, 0); /* stored */
    st_atomic_u16(&z->out, 0); /* time */
    st_atomic_u16(&z->out, 0); /* date */
    st_atomic_u32(&z->out, e->crc);
    st_atomic_u32(&z->out, zip64 ? 0xFFFFFFFFu : (uint32_t)size);
    st_atomic_u32(&z->out, zip64 ? 0xFFFFFFFFu : (uint32_t)size);
    st_atomic_u16(&z->out, (uint16_t)name_length);
    st_atomic_u16(&z->out, (uint16_t)(zip64_extra + 4 + padding));
    st_atomic_write(&z->out, name, name_length);
    if (zip64) {
        st_atomic_u16(&z->out, 1);
        st_atomic_u16(&z->out, 16);
        st_atomic_u64(&z->out, size);
        st_atomic_u64(&z->out, size);
    }
    st_atomic_u16(&z->out, ZIP_PADDING_ID);
    st_atomic_u16(&z->out, padding);
    st_atomic_zeros(&z->out, padding);
    st_atomic_write(&z->out, data, (size_t)size);
    return 0;
}

static void zip_finish(zip_writer *z) {
    uint64_t directory_start = z->out.offset;
    for (size_t i = 0; i < z->n; i++) {
        const zip_entry *e = &z->entries[i];
        int big_size = saturated(e->size), big_offset = saturated(e->offset);
        uint16_t extra = (uint16_t)((big_size || big_offset) ? 4 + 16 * big_size + 8 * big_offset : 0);
        size_t name_length = strlen(e->name);
        st_atomic_u32(&z->out, ZIP_CENTRAL_SIGNATURE);
        st_atomic_u16(&z->out, extra ? ZIP64_VERSION : ZIP_VERSION); /* made by */
        st_atomic_u16(&z->out, extra ? ZIP64_VERSION : ZIP_VERSION); /* needed */
        st_atomic_u16(&z->out, 0);
        st_atomic_u16(&z->out, 0);
        st_atomic_u16(&z->out, 0);
        st_atomic_u16(&z->out, 0);
        st_atomic_u32(&z->out, e->crc);
        st_atomic_u32(&z->out, big_size ? 0xFFFFFFFFu : (uint32_t)e->size);
        st_atomic_u32(&z->out, big_size ? 0xFFFFFFFFu : (uint32_t)e->size);
        st_atomic_u16(&z->out, (uint16_t)name_length);
        st_atomic_u16(&z->out, extra);
        st_atomic_u16(&z->out, 0); /* comment */
        st_atomic_u16(&z->out, 0); /* disk */
        st_atomic_u16(&z->out, 0); /* internal attributes */
        st_atomic_u32(&z->out, 0); /* external attributes */
        st_atomic_u32(&z->out, big_offset ? 0xFFFFFFFFu : (uint32_t)e->offset);
        st_atomic_write(&z->out, e->name, name_length);
        if (extra) { /* the saturated fields, in the order of the header */
            st_atomic_u16(&z->out, 1);
            st_atomic_u16(&z->out, (uint16_t)(extra - 4));
            if (big_size) {
                st_atomic_u64(&z->out, e->size);
                st_atomic_u64(&z->out, e->size);
            }
            if (big_offset) st_atomic_u64(&z->out, e->offset);
        }
    }
    uint64_t directory_end = z->out.offset, directory_size = directory_end - directory_start;
    int zip64 = z->n >= 0xFFFF || saturated(directory_start) || saturated(directory_size);
    if (zip64) {
        st_atomic_u32(&z->out, ZIP64_EOCD_SIGNATURE);
        st_atomic_u64(&z->out, 44); /* size of the rest of this record */
        st_atomic_u16(&z->out, ZIP64_VERSION);
        st_atomic_u16(&z->out, ZIP64_VERSION);
        st_atomic_u32(&z->out, 0);
        st_atomic_u32(&z->out, 0);
        st_atomic_u64(&z->out, z->n);
        st_atomic_u64(&z->out, z->n);
        st_atomic_u64(&z->out, directory_size);
        st_atomic_u64(&z->out, directory_start);
        st_atomic_u32(&z->out, ZIP64_LOCATOR_SIGNATURE);
        st_atomic_u32(&z->out, 0);
        st_atomic_u64(&z->out, directory_end);
        st_atomic_u32(&z->out, 1);
    }
    st_atomic_u32(&z->out, ZIP_EOCD_SIGNATURE);
    st_atomic_u16(&z->out, 0);
    st_atomic_u16(&z->out, 0);
    st_atomic_u16(&z->out, zip64 ? 0xFFFF : (uint16_t)z->n);
    st_atomic_u16(&z->out, zip64 ? 0xFFFF : (uint16_t)z->n);
    st_atomic_u32(&z->out, zip64 ? 0xFFFFFFFFu : (uint32_t)directory_size);
    st_atomic_u32(&z->out, zip64 ? 0xFFFFFFFFu : (uint32_t)directory_start);
    st_atomic_u16(&z->out, 0);
}

/* torch.save names the archive's folder after the file, without its extension. */
static void folder_name(const char *path, char *out, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, size, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
    for (char *c = out; *c; c++) {
        if (*c == '/' || *c == '\\' || (unsigned char)*c < 0x20) *c = '_';
    }
    if (!out[0]) snprintf(out, size, "archive");
}

steno_status st_pt_write(const st_write_source *src, st_convert_precision precision, const char *path, st_error *err) {
    (void)precision; /* openai's checkpoints are f16: default and f16 are the same */
    bytes pickle = {0};
    build_pickle(src, &pickle);
    size_t largest = 0;
    for (size_t i = 0; i < src->n_tensors; i++) {
        size_t n = (size_t)st_tensor_n_elements(src->tensors[i]);
        if (n > largest) largest = n;
    }
    uint16_t *halves = malloc((largest ? largest : 1) * sizeof *halves);
    if (pickle.failed || !halves) {
        free(pickle.data);
        free(halves);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    zip_writer z = {0};
    steno_status status = st_atomic_file_open(&z.out, path, err);
    char folder[256], name[320];
    folder_name(path, folder, sizeof folder);
    if (status == STENO_OK) {
        snprintf(name, sizeof name, "%s/data.pkl", folder);
        if (zip_add(&z, name, pickle.data, pickle.size) != 0)
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    for (size_t i = 0; status == STENO_OK && i < src->n_tensors; i++) {
        const st_tensor *t = src->tensors[i];
        size_t n = (size_t)st_tensor_n_elements(t);
        const void *data = t->data;
        if (t->dtype != ST_DTYPE_F16) {
            const float *values;
            status = st_write_tensor_f32(src, t, &values, err);
            for (size_t k = 0; status == STENO_OK && k < n; k++)
                halves[k] = st_fp32_to_fp16(values[k]);
            data = halves;
        }
        snprintf(name, sizeof name, "%s/data/%zu", folder, i);
        if (status == STENO_OK && zip_add(&z, name, data, (uint64_t)n * 2) != 0) {
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
        }
    }
    if (status == STENO_OK) {
        snprintf(name, sizeof name, "%s/version", folder);
        if (zip_add(&z, name, "3\n", 2) != 0)
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    if (status == STENO_OK) {
        zip_finish(&z);
        status = st_atomic_file_commit(&z.out, err);
    } else {
        st_atomic_file_abort(&z.out);
    }
    for (size_t i = 0; i < z.n; i++)
        free(z.entries[i].name);
    free(z.entries);
    free(halves);
    free(pickle.data);
    return status;
}
