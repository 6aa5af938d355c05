/*
 * zip.c — central-directory reader for ZIP archives held in memory (see zip.h).
 *
 * Order of work: find the end-of-central-directory record (EOCD) by scanning back over at most
 * a maximal comment; if a ZIP64 locator sits just before it, take the counts, size and offset
 * of the central directory from the ZIP64 record instead; walk the central directory, reading
 * ZIP64 extended sizes where the 32-bit fields are saturated; then visit each entry's local
 * header to find where its payload starts (the local extra field, which torch uses for
 * alignment padding, differs from the central one). Sizes come from the central directory:
 * torch's writer streams entries with data descriptors and leaves the local sizes zero.
 */
#include "models/zip.h"

#include <stdlib.h>
#include <string.h>

enum {
    EOCD_SIZE = 22,
    EOCD_SIGNATURE = 0x06054b50,
    ZIP64_LOCATOR_SIZE = 20,
    ZIP64_LOCATOR_SIGNATURE = 0x07064b50,
    ZIP64_EOCD_SIZE = 56,
    ZIP64_EOCD_SIGNATURE = 0x06064b50,
    CENTRAL_SIZE = 46,
    CENTRAL_SIGNATURE = 0x02014b50,
    LOCAL_SIZE = 30,
    LOCAL_SIGNATURE = 0x04034b50,
    MAX_COMMENT = 0xffff,
    ZIP64_EXTRA_ID = 0x0001,
    FLAG_ENCRYPTED = 0x0001,
    FLAG_DATA_DESCRIPTOR = 0x0008,
    HOST_UNIX = 3,
    UNIX_TYPE_MASK = 0170000,
    UNIX_SYMLINK = 0120000,
    MAX_NAME_LENGTH = 1024,
};

static uint16_t le16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int st_zip_is_archive(const uint8_t *head, size_t n) {
    if (n < 4 || head[0] != 'P' || head[1] != 'K') return 0;
    return (head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6);
}

/* Where the central directory is and how many entries it declares. */
typedef struct directory {
    uint64_t offset, size, count;
    size_t end; /* first byte after the central directory's records: the ZIP64 record or EOCD */
} directory;

static steno_status find_directory(const uint8_t *data, size_t size, const char *source, directory *out,
                                   st_error *err) {
    if (size < EOCD_SIZE) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: %zu bytes is too short for a ZIP archive (needs %d)", source,
                            size, EOCD_SIZE);
    }
    /* The EOCD is followed only by its comment: the last signature whose comment length reaches
     * exactly the end of the file is the record (a comment may itself contain the signature). */
    size_t lowest = size - EOCD_SIZE > MAX_COMMENT ? size - EOCD_SIZE - MAX_COMMENT : 0;
    size_t at = size - EOCD_SIZE;
    for (;;) {
        if (le32(data + at) == EOCD_SIGNATURE && at + EOCD_SIZE + le16(data + at + 20) == size) break;
        if (at == lowest) {
            return st_error_set(err, STENO_ERR_FORMAT,
                                "%s: no end-of-central-directory record in the last %zu bytes: not a ZIP archive",
                                source, size - lowest);
        }
        at--;
    }
    const uint8_t *e = data + at;
    if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10)) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: the archive at offset %zu spans several disks", source,
                            at);
    }
    out->count = le16(e + 10);
    out->size = le32(e + 12);
    out->offset = le32(e + 16);
    out->end = at;

    if (at >= ZIP64_LOCATOR_SIZE && le32(data + at - ZIP64_LOCATOR_SIZE) == ZIP64_LOCATOR_SIGNATURE) {
        const uint8_t *locator = data + at - ZIP64_LOCATOR_SIZE;
        uint64_t record = le64(locator + 8);
        size_t locator_at = at - ZIP64_LOCATOR_SIZE;
        if (le32(locator + 4) != 0 || le32(locator + 16) > 1) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: the ZIP64 locator at offset %zu names several disks",
                                source, locator_at);
        }
        if (record > locator_at || locator_at - record < ZIP64_EOCD_SIZE) {
            return st_error_set(err, STENO_ERR_FORMAT,
                                "%s: the ZIP64 locator at offset %zu points to offset %llu, outside the %zu bytes "
                                "before it",
                                source, locator_at, (unsigned long long)record, locator_at);
        }
        const uint8_t *z = data + record;
        if (le32(z) != ZIP64_EOCD_SIGNATURE) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: no ZIP64 end-of-central-directory record at offset %llu",
                                source, (unsigned long long)record);
        }
        if (le32(z + 16) != 0 || le32(z + 20) != 0 || le64(z + 24) != le64(z + 32)) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: the archive at offset %llu spans several disks",
                                source, (unsigned long long)record);
        }
        out->count = le64(z + 32);
        out->size = le64(z + 40);
        out->offset = le64(z + 48);
        out->end = (size_t)record;
    }
    if (out->offset > out->end || out->size != out->end - out->offset) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: the central directory is declared at offset %llu with %llu bytes, but its end "
                            "record is at offset %zu",
                            source, (unsigned long long)out->offset, (unsigned long long)out->size, out->end);
    }
    if (out->count > out->size / CENTRAL_SIZE) {
        return st_error_set(
            err, STENO_ERR_FORMAT, "%s: %llu entries cannot fit in a central directory of %llu bytes at offset %llu",
            source, (unsigned long long)out->count, (unsigned long long)out->size, (unsigned long long)out->offset);
    }
    return STENO_OK;
}

/* A name an archive may carry: a non-empty relative path without NUL, backslash, "." or ".."
 * components. steno never extracts files, but such a name only appears in a crafted archive. */
static int name_is_plain(const uint8_t *name, size_t length) {
    if (length == 0 || name[0] == '/') return 0;
    size_t start = 0;
    for (size_t i = 0; i <= length; i++) {
        if (i < length && (name[i] == '\0' || name[i] == '\\')) return 0;
        if (i == length || name[i] == '/') {
            size_t n = i - start;
            if ((n == 1 && name[start] == '.') || (n == 2 && name[start] == '.' && name[start + 1] == '.')) return 0;
            if (n == 0 && i < length) return 0; /* "a//b" */
            start = i + 1;
        }
    }
    return 1;
}

/* Reads the ZIP64 extended-information field for the saturated 32-bit fields of one entry. */
static steno_status read_zip64_extra(const uint8_t *extra, size_t length, size_t at, const char *source, uint64_t *size,
                                     uint64_t *compressed, uint64_t *local, st_error *err) {
    size_t i = 0;
    while (length - i >= 4) {
        uint16_t id = le16(extra + i), n = le16(extra + i + 2);
        if (n > length - i - 4) break; /* a ragged tail: torch and zip tools never write one */
        if (id == ZIP64_EXTRA_ID) {
            const uint8_t *p = extra + i + 4;
            size_t left = n;
            uint64_t *fields[3] = {size, compressed, local};
            for (int f = 0; f < 3; f++) {
                if (*fields[f] != 0xffffffffu) continue;
                if (left < 8) {
                    return st_error_set(err, STENO_ERR_FORMAT,
                                        "%s: central directory entry at offset %zu lacks a ZIP64 size or offset",
                                        source, at);
                }
                *fields[f] = le64(p);
                p += 8;
                left -= 8;
            }
            return STENO_OK;
        }
        i += 4 + (size_t)n;
    }
    if (*size == 0xffffffffu || *compressed == 0xffffffffu || *local == 0xffffffffu) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: central directory entry at offset %zu has saturated sizes but no ZIP64 field", source,
                            at);
    }
    return STENO_OK;
}

/* Checks the local header of entry at header_offset and sets data_offset to its payload. */
static steno_status read_local_header(const uint8_t *data, const directory *dir, const char *source, uint16_t flags,
                                      st_zip_entry *entry, st_error *err) {
    uint64_t at = entry->header_offset;
    if (at > dir->offset || dir->offset - at < LOCAL_SIZE) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: entry '%s' has its local header at offset %llu, not before the central directory "
                            "at %llu",
                            source, entry->name, (unsigned long long)at, (unsigned long long)dir->offset);
    }
    const uint8_t *h = data + at;
    if (le32(h) != LOCAL_SIGNATURE) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: no local header for entry '%s' at offset %llu", source,
                            entry->name, (unsigned long long)at);
    }
    uint16_t local_method = le16(h + 8), name_length = le16(h + 26), extra_length = le16(h + 28);
    uint64_t local_compressed = le32(h + 18), local_size = le32(h + 22);
    uint64_t start = at + LOCAL_SIZE + name_length + extra_length;
    if (start > dir->offset || dir->offset - start < entry->compressed_size) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: entry '%s' (local header at offset %llu) runs to offset %llu, past the central "
                            "directory at %llu",
                            source, entry->name, (unsigned long long)at,
                            (unsigned long long)(start + entry->compressed_size), (unsigned long long)dir->offset);
    }
    size_t central_length = strlen(entry->name);
    if (local_method != entry->method || name_length != central_length ||
        memcmp(h + LOCAL_SIZE, entry->name, central_length) != 0) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: the local header at offset %llu disagrees with the central directory about entry "
                            "'%s'",
                            source, (unsigned long long)at, entry->name);
    }
    /* Streamed entries (data descriptor) may leave the local sizes zero; saturated ones defer to
     * the ZIP64 extra. Any other value must agree with the central directory. */
    int deferred = (flags & FLAG_DATA_DESCRIPTOR) && local_compressed == 0 && local_size == 0;
    int saturated = local_compressed == 0xffffffffu && local_size == 0xffffffffu;
    if (!deferred && !saturated && (local_compressed != entry->compressed_size || local_size != entry->size)) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: entry '%s' at offset %llu has sizes %llu/%llu in its local header but %llu/%llu in "
                            "the central directory",
                            source, entry->name, (unsigned long long)at, (unsigned long long)local_compressed,
                            (unsigned long long)local_size, (unsigned long long)entry->compressed_size,
                            (unsigned long long)entry->size);
    }
    entry->data_offset = start;
    entry->data = data + start;
    return STENO_OK;
}

static int compare_offsets(const void *a, const void *b) {
    const st_zip_entry *x = *(const st_zip_entry *const *)a, *y = *(const st_zip_entry *const *)b;
    return (x->header_offset > y->header_offset) - (x->header_offset < y->header_offset);
}

static int compare_names(const void *a, const void *b) {
    return strcmp((*(const st_zip_entry *const *)a)->name, (*(const st_zip_entry *const *)b)->name);
}

/* Refuses two entries with one name, and two payloads that share bytes (each payload's range
 * starts after the previous one ends, in file order). */
static steno_status check_distinct(const st_zip_archive *archive, const char *source, st_error *err) {
    if (archive->n_entries < 2) return STENO_OK;
    const st_zip_entry **order = malloc(archive->n_entries * sizeof *order);
    if (!order) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", source);
    for (size_t i = 0; i < archive->n_entries; i++)
        order[i] = &archive->entries[i];
    steno_status status = STENO_OK;
    qsort(order, archive->n_entries, sizeof *order, compare_names);
    for (size_t i = 1; i < archive->n_entries && status == STENO_OK; i++) {
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: entry '%s' appears twice in the central directory",
                                  source, order[i]->name);
        }
    }
    qsort(order, archive->n_entries, sizeof *order, compare_offsets);
    for (size_t i = 1; i < archive->n_entries && status == STENO_OK; i++) {
        const st_zip_entry *previous = order[i - 1], *next = order[i];
        if (previous->data_offset + previous->compressed_size > next->header_offset) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: entries '%s' and '%s' overlap at offset %llu", source,
                                  previous->name, next->name, (unsigned long long)next->header_offset);
        }
    }
    free(order);
    return status;
}

steno_status st_zip_open(const uint8_t *data, size_t size, const char *source, st_zip_archive *out, st_error *err) {
    memset(out, 0, sizeof *out);
    directory dir = {0};
    steno_status status = find_directory(data, size, source, &dir, err);
    if (status != STENO_OK) return status;

    /* Pass 1 checks every record's bounds and sums the name bytes; pass 2 fills the index. */
    size_t name_bytes = 0;
    const uint8_t *cd = data + dir.offset;
    size_t cd_size = (size_t)dir.size, at = 0;
    for (uint64_t i = 0; i < dir.count; i++) {
        if (cd_size - at < CENTRAL_SIZE || le32(cd + at) != CENTRAL_SIGNATURE) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: no central directory entry %llu at offset %llu", source,
                                (unsigned long long)i, (unsigned long long)(dir.offset + at));
        }
        size_t record = (size_t)le16(cd + at + 28) + le16(cd + at + 30) + le16(cd + at + 32);
        if (cd_size - at - CENTRAL_SIZE < record) {
            return st_error_set(err, STENO_ERR_FORMAT,
                                "%s: central directory entry at offset %llu runs past the directory's end", source,
                                (unsigned long long)(dir.offset + at));
        }
        name_bytes += (size_t)le16(cd + at + 28) + 1;
        at += CENTRAL_SIZE + record;
    }
    out->entries = calloc(dir.count ? (size_t)dir.count : 1, sizeof *out->entries);
    out->names = malloc(name_bytes ? name_bytes : 1);
    if (!out->entries || !out->names) {
        st_zip_close(out);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory for %llu entries", source,
                            (unsigned long long)dir.count);
    }
    char *names = out->names;
    at = 0;
    for (uint64_t i = 0; i < dir.count && status == STENO_OK; i++) {
        const uint8_t *c = cd + at;
        size_t record_at = (size_t)dir.offset + at;
        uint16_t made_by = le16(c + 4), flags = le16(c + 8), method = le16(c + 10);
        uint16_t name_length = le16(c + 28), extra_length = le16(c + 30), comment_length = le16(c + 32);
        uint64_t compressed = le32(c + 20), uncompressed = le32(c + 24), local = le32(c + 42);
        uint32_t attributes = le32(c + 38);
        const uint8_t *name = c + CENTRAL_SIZE;
        at += CENTRAL_SIZE + (size_t)name_length + extra_length + comment_length;

        if (name_length > MAX_NAME_LENGTH || !name_is_plain(name, name_length)) {
            status = st_error_set(err, STENO_ERR_FORMAT,
                                  "%s: central directory entry at offset %zu has an unsafe or empty name '%.*s'",
                                  source, record_at, name_length > 64 ? 64 : (int)name_length, (const char *)name);
            break;
        }
        memcpy(names, name, name_length);
        names[name_length] = '\0';
        st_zip_entry *entry = &out->entries[out->n_entries++];
        *entry = (st_zip_entry){.name = names, .method = method};
        names += name_length + 1;

        if (le16(c + 34) != 0) {
            status =
                st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: entry '%s' lies on another disk", source, entry->name);
        } else if (flags & FLAG_ENCRYPTED) {
            status = st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: entry '%s' is encrypted", source, entry->name);
        } else if (made_by >> 8 == HOST_UNIX && ((attributes >> 16) & UNIX_TYPE_MASK) == UNIX_SYMLINK) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: entry '%s' is a symbolic link", source, entry->name);
        } else {
            status = read_zip64_extra(c + CENTRAL_SIZE + name_length, extra_length, record_at, source, &uncompressed,
                                      &compressed, &local, err);
        }
        if (status != STENO_OK) break;
        if (method == ST_ZIP_STORED && compressed != uncompressed) {
            status = st_error_set(err, STENO_ERR_FORMAT,
                                  "%s: stored entry '%s' declares %llu bytes stored but %llu bytes of content", source,
                                  entry->name, (unsigned long long)compressed, (unsigned long long)uncompressed);
            break;
        }
        entry->compressed_size = compressed;
        entry->size = uncompressed;
        entry->header_offset = local;
        status = read_local_header(data, &dir, source, flags, entry, err);
    }
    if (status == STENO_OK) status = check_distinct(out, source, err);
    if (status != STENO_OK) st_zip_close(out);
    return status;
}

const st_zip_entry *st_zip_find(const st_zip_archive *archive, const char *name) {
    for (size_t i = 0; i < archive->n_entries; i++) {
        if (strcmp(archive->entries[i].name, name) == 0) return &archive->entries[i];
    }
    return NULL;
}

void st_zip_close(st_zip_archive *archive) {
    free(archive->entries);
    free(archive->names);
    memset(archive, 0, sizeof *archive);
}
