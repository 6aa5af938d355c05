/*
 * multipart.c — the streaming multipart/form-data parser of multipart.h.
 *
 * The body is a preamble, then parts each introduced by the delimiter CRLF "--" boundary, then
 * the closing delimiter (the same followed by "--"). The parser pretends the body starts with
 * CRLF so the first delimiter looks like every other one. Inside a part's body it looks for the
 * delimiter with a Knuth–Morris–Pratt automaton: bytes that cannot begin a delimiter go straight
 * to on_data in runs, bytes that might are held back (at most the delimiter's length) until a
 * mismatch releases them.
 */
#include "server/multipart.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    DELIMITER_MAX = ST_MULTIPART_MAX_BOUNDARY + 4, /* CRLF "--" boundary */
};

typedef enum parse_state {
    STATE_PREAMBLE,        /* before the first delimiter: discarded */
    STATE_AFTER_DELIMITER, /* "--" closes the body; optional blanks then CRLF open a part */
    STATE_AFTER_DASH,      /* one '-' of the closing "--" seen */
    STATE_DELIMITER_LF,    /* CR after a delimiter seen, LF expected */
    STATE_HEADERS,
    STATE_BODY,
    STATE_EPILOGUE, /* after the closing delimiter: discarded */
    STATE_FAILED,
} parse_state;

struct st_multipart {
    st_multipart_handler handler;
    char delimiter[DELIMITER_MAX + 1];
    int delimiter_length;
    int failure[DELIMITER_MAX]; /* KMP: the longest proper border of delimiter[0..i] */
    int matched;                /* delimiter bytes matched (and held back) so far */
    parse_state state;
    char headers[ST_MULTIPART_MAX_HEADERS];
    size_t headers_length;
    int n_parts;
};

/* A parameter of a header value (`name="file"` in `form-data; name="file"`), unquoted, into
 * out. Returns 1 when present. Quoted strings may escape a character with a backslash. */
static int header_parameter(const char *value, const char *parameter, char *out, size_t size) {
    const size_t length = strlen(parameter);
    const char *p = strchr(value, ';');
    while (p) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, parameter, length) == 0 && p[length] == '=') {
            p += length + 1;
            size_t n = 0;
            if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    if (*p == '\\' && p[1]) p++;
                    if (n + 1 < size) out[n++] = *p;
                }
            } else {
                for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
                    if (n + 1 < size) out[n++] = *p;
                }
            }
            out[n] = '\0';
            return 1;
        }
        /* skip to the next ';' outside quotes */
        int quoted = 0;
        for (; *p; p++) {
            if (*p == '"')
                quoted = !quoted;
            else if (*p == '\\' && quoted && p[1])
                p++;
            else if (*p == ';' && !quoted)
                break;
        }
        p = *p ? p : NULL;
    }
    return 0;
}

steno_status st_multipart_create(const char *content_type, const st_multipart_handler *handler, st_multipart **out,
                                 st_error *err) {
    *out = NULL;
    if (!content_type) return st_error_set(err, STENO_ERR_FORMAT, "no Content-Type: expected multipart/form-data");
    const char *type = content_type;
    while (*type == ' ')
        type++;
    if (strncasecmp(type, "multipart/form-data", 19) != 0 || (type[19] && type[19] != ';' && type[19] != ' ')) {
        return st_error_set(err, STENO_ERR_FORMAT, "Content-Type must be multipart/form-data");
    }
    char boundary[ST_MULTIPART_MAX_BOUNDARY + 2];
    if (!header_parameter(type, "boundary", boundary, sizeof boundary) || boundary[0] == '\0') {
        return st_error_set(err, STENO_ERR_FORMAT, "multipart/form-data without a boundary");
    }
    size_t boundary_length = strlen(boundary);
    if (boundary_length > ST_MULTIPART_MAX_BOUNDARY) {
        return st_error_set(err, STENO_ERR_FORMAT, "multipart boundary longer than %d bytes",
                            ST_MULTIPART_MAX_BOUNDARY);
    }
    st_multipart *p = calloc(1, sizeof *p);
    if (!p) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    p->handler = *handler;
    p->delimiter_length = (int)boundary_length + 4;
    memcpy(p->delimiter, "\r\n--", 4);
    memcpy(p->delimiter + 4, boundary, boundary_length);
    p->failure[0] = 0;
    for (int i = 1, k = 0; i < p->delimiter_length; i++) {
        while (k > 0 && p->delimiter[i] != p->delimiter[k])
            k = p->failure[k - 1];
        if (p->delimiter[i] == p->delimiter[k]) k++;
        p->failure[i] = k;
    }
    /* the body's first delimiter has no CRLF before it: count those two bytes as matched */
    p->matched = 2;
    p->state = STATE_PREAMBLE;
    *out = p;
    return STENO_OK;
}

void st_multipart_free(st_multipart *parser) {
    free(parser);
}

static steno_status fail(st_multipart *p, steno_status status) {
    p->state = STATE_FAILED;
    return status;
}

static steno_status emit(st_multipart *p, const char *data, size_t n, st_error *err) {
    if (n == 0 || p->state != STATE_BODY || !p->handler.on_data) return STENO_OK;
    return p->handler.on_data(p->handler.user, data, n, err);
}

/* The header block of a part is complete (headers holds it, lines ending in CRLF). */
static steno_status begin_part(st_multipart *p, st_error *err) {
    st_multipart_part part;
    memset(&part, 0, sizeof part);
    int has_disposition = 0;
    char *line = p->headers;
    char *end = p->headers + p->headers_length;
    while (line < end) {
        char *eol = strstr(line, "\r\n");
        if (!eol) eol = end;
        *eol = '\0';
        char *colon = strchr(line, ':');
        if (!colon) return st_error_set(err, STENO_ERR_FORMAT, "multipart part header without a colon");
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        if (strcasecmp(line, "Content-Disposition") == 0) {
            if (strncasecmp(value, "form-data", 9) != 0) {
                return st_error_set(err, STENO_ERR_FORMAT, "multipart part is not form-data");
            }
            has_disposition = 1;
            if (!header_parameter(value, "name", part.name, sizeof part.name)) {
                return st_error_set(err, STENO_ERR_FORMAT, "multipart part without a field name");
            }
            part.has_filename = header_parameter(value, "filename", part.filename, sizeof part.filename);
        } else if (strcasecmp(line, "Content-Type") == 0) {
            size_t n = strlen(value);
            if (n >= sizeof part.content_type) n = sizeof part.content_type - 1;
            memcpy(part.content_type, value, n);
            part.content_type[n] = '\0';
        }
        line = eol + 2;
    }
    if (!has_disposition) return st_error_set(err, STENO_ERR_FORMAT, "multipart part without Content-Disposition");
    if (++p->n_parts > ST_MULTIPART_MAX_PARTS) {
        return st_error_set(err, STENO_ERR_FORMAT, "more than %d multipart parts", ST_MULTIPART_MAX_PARTS);
    }
    return p->handler.on_part ? p->handler.on_part(p->handler.user, &part, err) : STENO_OK;
}

/* Body or preamble bytes: runs of them go to on_data, delimiter candidates are held back. */
static steno_status scan_body(st_multipart *p, const char *data, size_t n, size_t *used, st_error *err) {
    size_t i = 0;
    while (i < n) {
        if (p->matched == 0) {
            const char *cr = memchr(data + i, '\r', n - i);
            size_t run = cr ? (size_t)(cr - (data + i)) : n - i;
            steno_status status = emit(p, data + i, run, err);
            if (status != STENO_OK) return status;
            i += run;
            if (i == n) break;
        }
        char c = data[i++];
        while (p->matched > 0 && c != p->delimiter[p->matched]) {
            int border = p->failure[p->matched - 1];
            steno_status status = emit(p, p->delimiter, (size_t)(p->matched - border), err);
            if (status != STENO_OK) return status;
            p->matched = border;
        }
        if (c == p->delimiter[p->matched]) {
            p->matched++;
        } else {
            steno_status status = emit(p, &c, 1, err);
            if (status != STENO_OK) return status;
        }
        if (p->matched == p->delimiter_length) {
            p->matched = 0;
            if (p->state == STATE_BODY && p->handler.on_part_end) {
                steno_status status = p->handler.on_part_end(p->handler.user, err);
                if (status != STENO_OK) return status;
            }
            p->state = STATE_AFTER_DELIMITER;
            break;
        }
    }
    *used = i;
    return STENO_OK;
}

steno_status st_multipart_feed(st_multipart *p, const char *data, size_t n, st_error *err) {
    if (p->state == STATE_FAILED) return st_error_set(err, STENO_ERR_FORMAT, "multipart body already rejected");
    size_t i = 0;
    while (i < n) {
        switch (p->state) {
        case STATE_PREAMBLE:
        case STATE_BODY: {
            size_t used;
            steno_status status = scan_body(p, data + i, n - i, &used, err);
            if (status != STENO_OK) return fail(p, status);
            i += used;
            break;
        }
        case STATE_AFTER_DELIMITER: {
            char c = data[i++];
            if (c == '-')
                p->state = STATE_AFTER_DASH;
            else if (c == '\r')
                p->state = STATE_DELIMITER_LF;
            else if (c != ' ' && c != '\t') {
                return fail(p, st_error_set(err, STENO_ERR_FORMAT, "multipart delimiter not followed by CRLF"));
            }
            break;
        }
        case STATE_AFTER_DASH:
            if (data[i++] != '-') {
                return fail(p, st_error_set(err, STENO_ERR_FORMAT, "multipart delimiter not followed by CRLF"));
            }
            p->state = STATE_EPILOGUE;
            break;
        case STATE_DELIMITER_LF:
            if (data[i++] != '\n') {
                return fail(p, st_error_set(err, STENO_ERR_FORMAT, "multipart delimiter not followed by CRLF"));
            }
            p->state = STATE_HEADERS;
            p->headers_length = 0;
            break;
        case STATE_HEADERS: {
            /* copy up to and including the blank line that ends the block */
            while (i < n) {
                if (p->headers_length + 1 >= sizeof p->headers) {
                    return fail(p, st_error_set(err, STENO_ERR_FORMAT, "multipart part headers longer than %d bytes",
                                                ST_MULTIPART_MAX_HEADERS));
                }
                p->headers[p->headers_length++] = data[i++];
                size_t h = p->headers_length;
                if (h >= 2 && p->headers[h - 2] == '\r' && p->headers[h - 1] == '\n') {
                    if (h == 2 || (h >= 4 && p->headers[h - 4] == '\r' && p->headers[h - 3] == '\n')) {
                        p->headers_length = h - 2; /* drop the blank line */
                        p->headers[p->headers_length] = '\0';
                        steno_status status = begin_part(p, err);
                        if (status != STENO_OK) return fail(p, status);
                        p->state = STATE_BODY;
                        break;
                    }
                }
            }
            break;
        }
        case STATE_EPILOGUE:
            return STENO_OK;
        case STATE_FAILED:
            return st_error_set(err, STENO_ERR_FORMAT, "multipart body already rejected");
        }
    }
    return STENO_OK;
}

steno_status st_multipart_finish(st_multipart *p, st_error *err) {
    if (p->state == STATE_EPILOGUE) return STENO_OK;
    if (p->state == STATE_FAILED) return st_error_set(err, STENO_ERR_FORMAT, "multipart body already rejected");
    p->state = STATE_FAILED;
    return st_error_set(err, STENO_ERR_FORMAT, "multipart body truncated: no closing boundary");
}
