/* strbuf.c — growable byte string; see strbuf.h. */
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void st_strbuf_init(st_strbuf *buffer) { *buffer = (st_strbuf){0}; }

void st_strbuf_free(st_strbuf *buffer) {
    free(buffer->data);
    *buffer = (st_strbuf){0};
}

void st_strbuf_clear(st_strbuf *buffer) {
    buffer->length = 0;
    buffer->failed = false;
    if (buffer->data) buffer->data[0] = '\0';
}

bool st_strbuf_reserve(st_strbuf *buffer, size_t extra) {
    if (buffer->failed) return false;
    if (extra > SIZE_MAX / 2 - buffer->length) {
        buffer->failed = true;
        return false;
    }
    size_t needed = buffer->length + extra + 1;
    if (needed <= buffer->capacity) return true;
    size_t capacity = buffer->capacity ? buffer->capacity : 64;
    while (capacity < needed) capacity *= 2;
    char *data = realloc(buffer->data, capacity);
    if (!data) {
        buffer->failed = true;
        return false;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return true;
}

void st_strbuf_append(st_strbuf *buffer, const char *bytes, size_t length) {
    if (!st_strbuf_reserve(buffer, length)) return;
    if (length) memcpy(buffer->data + buffer->length, bytes, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
}

void st_strbuf_append_str(st_strbuf *buffer, const char *text) { st_strbuf_append(buffer, text, strlen(text)); }

void st_strbuf_append_char(st_strbuf *buffer, char c) { st_strbuf_append(buffer, &c, 1); }

void st_strbuf_printf(st_strbuf *buffer, const char *format, ...) {
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    int needed = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    if (needed < 0) {
        buffer->failed = true;
    } else if (st_strbuf_reserve(buffer, (size_t)needed)) {
        vsnprintf(buffer->data + buffer->length, (size_t)needed + 1, format, args);
        buffer->length += (size_t)needed;
    }
    va_end(args);
}

void st_strbuf_append_utf8(st_strbuf *buffer, uint32_t cp) {
    char bytes[4];
    size_t n;
    if (cp < 0x80) {
        bytes[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        bytes[0] = (char)(0xC0 | (cp >> 6));
        bytes[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        bytes[0] = (char)(0xE0 | (cp >> 12));
        bytes[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bytes[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        bytes[0] = (char)(0xF0 | (cp >> 18));
        bytes[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        bytes[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bytes[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    st_strbuf_append(buffer, bytes, n);
}

char *st_strbuf_detach(st_strbuf *buffer) {
    if (buffer->failed) {
        st_strbuf_free(buffer);
        return NULL;
    }
    char *data = buffer->data;
    if (!data) data = calloc(1, 1);
    *buffer = (st_strbuf){0};
    return data;
}

steno_status st_strbuf_status(const st_strbuf *buffer) { return buffer->failed ? STENO_ERR_NO_MEMORY : STENO_OK; }
