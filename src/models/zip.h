/*
 * zip.h — a read-only ZIP archive index over bytes already in memory (a mapped file).
 *
 * torch.save writes its checkpoints as ZIP archives whose entries are STORED (uncompressed)
 * and padded so each payload starts on a 64-byte boundary: the weights can be used in place,
 * straight from the mapping. This reader parses the central directory (found through the
 * end-of-central-directory record, or its ZIP64 successor that torch always writes), checks
 * every entry's local header against it, and hands out each entry's payload as a pointer into
 * the bytes. It never decompresses and never writes files: compressed entries are listed with
 * their method so that callers can refuse them by name. Every offset and size is checked
 * against the archive's length before use; entries may not overlap each other or the
 * central directory; names must be plain relative paths.
 */
#ifndef ST_MODELS_ZIP_H
#define ST_MODELS_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum { ST_ZIP_STORED = 0, ST_ZIP_DEFLATED = 8 };

typedef struct st_zip_entry {
    const char *name; /* NUL-terminated, owned by the archive */
    uint16_t method;  /* ST_ZIP_STORED, or another ZIP method that steno does not decode */
    uint64_t compressed_size;
    uint64_t size;          /* uncompressed */
    uint64_t header_offset; /* of the entry's local header from the start of the archive */
    uint64_t data_offset;   /* of the payload from the start of the archive */
    const uint8_t *data;    /* the payload (still compressed when method != ST_ZIP_STORED) */
} st_zip_entry;

typedef struct st_zip_archive {
    st_zip_entry *entries; /* in central-directory order */
    size_t n_entries;
    char *names; /* storage of the entry names */
} st_zip_archive;

/* True when the first bytes of a file look like a ZIP archive (a local header, or the
 * end-of-central-directory record of an empty archive). */
int st_zip_is_archive(const uint8_t *head, size_t n);

/* Indexes the archive in data[0..size); source names it in messages. The caller keeps data
 * alive as long as *out. On failure *out is zeroed. */
steno_status st_zip_open(const uint8_t *data, size_t size, const char *source, st_zip_archive *out, st_error *err);

/* The entry with exactly this name, or NULL. */
const st_zip_entry *st_zip_find(const st_zip_archive *archive, const char *name);

/* Frees the index; safe on a zeroed struct. */
void st_zip_close(st_zip_archive *archive);

#endif
