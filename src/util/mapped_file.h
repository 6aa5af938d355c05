/*
 * mapped_file.h — a read-only memory mapping of a whole file.
 *
 * Model loaders hand out tensors as pointers into such a mapping, so weights are never copied:
 * the page cache is the only copy, shared between processes.
 */
#ifndef ST_UTIL_MAPPED_FILE_H
#define ST_UTIL_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct st_mapped_file {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
    char *path; /* owned copy, for messages */
} st_mapped_file;

/* Maps path read-only. On failure *out is zeroed and err names the path and the reason. */
steno_status st_mapped_file_open(st_mapped_file *out, const char *path, st_error *err);

/* Drops the mapping's resident pages (the page cache keeps them; the next access faults them
 * back in): for a caller that has made its own copies of what it needs. */
void st_mapped_file_release(const st_mapped_file *file);

/* Unmaps and frees; safe on a zeroed struct. */
void st_mapped_file_close(st_mapped_file *file);

#endif
