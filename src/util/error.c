/* error.c — status descriptions and the st_error helpers. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_text[STENO_STATUS_COUNT] = {
    [STENO_OK] = "success",
    [STENO_ERR_INVALID_ARGUMENT] = "invalid argument",
    [STENO_ERR_NO_MEMORY] = "out of memory",
    [STENO_ERR_IO] = "input/output error",
    [STENO_ERR_NOT_FOUND] = "not found",
    [STENO_ERR_FORMAT] = "corrupt or malformed file",
    [STENO_ERR_UNSUPPORTED] = "unsupported variant",
    [STENO_ERR_AUDIO] = "audio could not be decoded",
    [STENO_ERR_CANCELLED] = "cancelled",
    [STENO_ERR_INTERNAL] = "internal error",
};

const char *steno_strerror(steno_status status) {
    if ((unsigned)status >= STENO_STATUS_COUNT) return "unknown status";
    return status_text[status];
}

const char *steno_version(void) {
#define ST_STR2(x) #x
#define ST_STR(x) ST_STR2(x)
    return ST_STR(STENO_VERSION_MAJOR) "." ST_STR(STENO_VERSION_MINOR) "." ST_STR(STENO_VERSION_PATCH);
}

steno_status st_error_set(st_error *err, steno_status code, const char *format, ...) {
    if (err) {
        err->code = code;
        va_list args;
        va_start(args, format);
        vsnprintf(err->message, sizeof err->message, format, args);
        va_end(args);
    }
    return code;
}

void st_error_clear(st_error *err) {
    if (err) {
        err->code = STENO_OK;
        err->message[0] = '\0';
    }
}

const char *st_error_message(const st_error *err) {
    if (!err) return "";
    return err->message[0] ? err->message : steno_strerror(err->code);
}
