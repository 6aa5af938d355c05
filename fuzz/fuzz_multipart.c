/* fuzz_multipart.c — libFuzzer target: the server's multipart/form-data parser on any body.
 * The body (after a first byte that picks a chunk size) is parsed twice, once whole and once
 * cut into chunks; what the parser reports (parts, their bytes, their ends, success or failure)
 * must be the same both ways, and no part's data may exceed the body. Seeds: bodies as curl and
 * the openai client send them, with a boundary of "XyZ". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/multipart.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct log {
    st_strbuf text;
    size_t data_bytes;
} log;

static steno_status on_part(void *user, const st_multipart_part *part, st_error *err) {
    (void)err;
    log *l = user;
    if (!memchr(part->name, '\0', sizeof part->name) || !memchr(part->filename, '\0', sizeof part->filename)) abort();
    st_strbuf_printf(&l->text, "P[%s][%d:%s][%s]", part->name, part->has_filename, part->filename, part->content_type);
    return STENO_OK;
}

static steno_status on_data(void *user, const char *bytes, size_t n, st_error *err) {
    (void)err;
    log *l = user;
    if (n == 0) abort(); /* empty runs are never reported */
    l->data_bytes += n;
    st_strbuf_append(&l->text, bytes, n);
    return STENO_OK;
}

static steno_status on_part_end(void *user, st_error *err) {
    (void)err;
    st_strbuf_append_str(&((log *)user)->text, "|E|");
    return STENO_OK;
}

static steno_status parse(const uint8_t *body, size_t size, size_t chunk, log *l) {
    st_multipart_handler handler = {.on_part = on_part, .on_data = on_data, .on_part_end = on_part_end, .user = l};
    st_multipart *parser;
    st_error err;
    if (st_multipart_create("multipart/form-data; boundary=XyZ", &handler, &parser, &err) != STENO_OK) abort();
    steno_status status = STENO_OK;
    for (size_t at = 0; at < size && status == STENO_OK; at += chunk) {
        size_t n = size - at < chunk ? size - at : chunk;
        status = st_multipart_feed(parser, (const char *)body + at, n, &err);
    }
    if (status == STENO_OK) status = st_multipart_finish(parser, &err);
    st_multipart_free(parser);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    const uint8_t *body = data + 1;
    size -= 1;
    log whole = {0}, pieces = {0};
    st_strbuf_init(&whole.text);
    st_strbuf_init(&pieces.text);
    steno_status a = parse(body, size, size ? size : 1, &whole);
    steno_status b = parse(body, size, chunk, &pieces);
    if ((a == STENO_OK) != (b == STENO_OK)) abort();
    if (a == STENO_OK && (whole.text.length != pieces.text.length ||
                          (whole.text.length && memcmp(whole.text.data, pieces.text.data, whole.text.length) != 0))) {
        abort();
    }
    if (whole.data_bytes > size) abort();
    st_strbuf_free(&whole.text);
    st_strbuf_free(&pieces.text);
    return 0;
}
