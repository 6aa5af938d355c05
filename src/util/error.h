/*
 * error.h — errors as values inside steno.
 *
 * A fallible internal function takes an `st_error *` (which may be NULL) and returns a
 * steno_status. On failure it fills the error with the code and a message that names the file,
 * the offset and what was expected, so the CLI can print it as is.
 */
#ifndef ST_UTIL_ERROR_H
#define ST_UTIL_ERROR_H

#include "steno.h"

#define ST_ERROR_MESSAGE_SIZE 512

typedef struct st_error {
    steno_status code;
    char message[ST_ERROR_MESSAGE_SIZE];
} st_error;

/* Records code and a printf-style message in err (if non-NULL) and returns code. */
steno_status st_error_set(st_error *err, steno_status code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to STENO_OK with an empty message. */
void st_error_clear(st_error *err);

/* The message, or the code's generic description when no message was set. */
const char *st_error_message(const st_error *err);

#endif
