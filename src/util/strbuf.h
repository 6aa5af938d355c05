/*
 * strbuf.h — a growable byte string for building text output (transcript writers, text
 * normalisation). Always NUL-terminated once anything has been appended, so `data` can be used
 * as a C string; it may also hold embedded NULs when built with st_strbuf_append.
 *
 * Growth failures are sticky: after one allocation fails every later append is a no-op and
 * st_strbuf_status reports STENO_ERR_NO_MEMORY, so builders can append freely and check once.
 */
#ifndef ST_UTIL_STRBUF_H
#define ST_UTIL_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steno.h"

typedef struct st_strbuf {
    char *data;      /* NULL until the first append */
    size_t length;   /* bytes used, not counting the terminating NUL */
    size_t capacity; /* bytes allocated */
    bool failed;     /* an allocation failed; contents are incomplete */
} st_strbuf;

void st_strbuf_init(st_strbuf *buffer);
void st_strbuf_free(st_strbuf *buffer);
/* Empties the buffer, keeping its memory (and clearing a past failure). */
void st_strbuf_clear(st_strbuf *buffer);
/* Makes room for `extra` more bytes plus the NUL; false when memory ran out. */
bool st_strbuf_reserve(st_strbuf *buffer, size_t extra);
void st_strbuf_append(st_strbuf *buffer, const char *bytes, size_t length);
void st_strbuf_append_str(st_strbuf *buffer, const char *text);
void st_strbuf_append_char(st_strbuf *buffer, char c);
void st_strbuf_printf(st_strbuf *buffer, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Appends the UTF-8 encoding of a Unicode code point (no validation beyond <= 0x10FFFF). */
void st_strbuf_append_utf8(st_strbuf *buffer, uint32_t code_point);
/* Takes ownership of the contents (an empty string when nothing was appended, NULL when memory
 * ran out) and leaves the buffer empty. The caller frees the result. */
char *st_strbuf_detach(st_strbuf *buffer);
/* STENO_OK, or STENO_ERR_NO_MEMORY if any append failed since the last clear. */
steno_status st_strbuf_status(const st_strbuf *buffer);

#endif
