/*
 * multipart.h — a streaming parser of multipart/form-data request bodies (RFC 7578 over
 * RFC 2046), as the audio endpoints receive them.
 *
 * The body arrives in chunks of any size; the parser never holds more than one part's header
 * block and a delimiter's worth of body, so a 25 MB upload passes through without being kept
 * in memory. Each part is announced with its field name, file name and content type, its bytes
 * follow through on_data (possibly in many calls), then on_part_end. Everything is bounded:
 * boundary length (RFC 2046's 70), header block size, number of parts. A body that does not
 * end with the closing delimiter is an error at st_multipart_finish.
 */
#ifndef ST_SERVER_MULTIPART_H
#define ST_SERVER_MULTIPART_H

#include <stddef.h>

#include "util/error.h"

enum {
    ST_MULTIPART_MAX_BOUNDARY = 70,
    ST_MULTIPART_MAX_HEADERS = 8192, /* bytes of one part's header block */
    ST_MULTIPART_MAX_PARTS = 64,
    ST_MULTIPART_MAX_NAME = 256, /* bytes of a field or file name */
};

typedef struct st_multipart_part {
    char name[ST_MULTIPART_MAX_NAME];     /* the form field ("file", "model") */
    char filename[ST_MULTIPART_MAX_NAME]; /* as the client sent it; "" when absent; never a path to use */
    int has_filename;
    char content_type[128]; /* "" when absent */
} st_multipart_part;

/* Callbacks return 0 to go on; anything else stops the parse with that value as the error
 * (st_multipart_feed returns it; the callback sets err's message). */
typedef struct st_multipart_handler {
    steno_status (*on_part)(void *user, const st_multipart_part *part, st_error *err);
    steno_status (*on_data)(void *user, const char *data, size_t n, st_error *err);
    steno_status (*on_part_end)(void *user, st_error *err);
    void *user;
} st_multipart_handler;

typedef struct st_multipart st_multipart;

/* Reads the boundary from a Content-Type header value ("multipart/form-data; boundary=xyz").
 * Fails with STENO_ERR_FORMAT when the type is not multipart/form-data or has no valid boundary. */
steno_status st_multipart_create(const char *content_type, const st_multipart_handler *handler, st_multipart **out,
                                 st_error *err);
/* Parses the next n bytes of the body. After an error the parser refuses further input. */
steno_status st_multipart_feed(st_multipart *parser, const char *data, size_t n, st_error *err);
/* The body ended: succeeds only when the closing delimiter was seen. */
steno_status st_multipart_finish(st_multipart *parser, st_error *err);
void st_multipart_free(st_multipart *parser);

#endif
