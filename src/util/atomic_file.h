/*
 * atomic_file.h — files and folders that appear at their final path complete or not at all.
 *
 * The model writers and the transcript writers never write to the destination itself, so a
 * full disk or a crash never truncates what was there, and a symlink at the destination is
 * replaced, never written through. A file goes to "DST.tmp.<pid>" (created exclusively)
 * beside it (same folder, so the final rename cannot cross file systems); a folder target is
 * built as ".NAME.tmp.<pid>" and renamed into place. Committing fsyncs the data, renames, and
 * fsyncs the parent folder so the new name survives a crash; aborting removes the temporary.
 * A write error (a full disk included) is remembered on the handle and reported by commit, so
 * writers can stream without checking every call.
 */
#ifndef ST_UTIL_ATOMIC_FILE_H
#define ST_UTIL_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

typedef struct st_atomic_file {
    FILE *stream;
    char *final_path;
    char *temp_path;
    uint64_t offset; /* bytes written so far */
    int error;       /* errno of the first failed write, 0 while all is well */
} st_atomic_file;

/* Checks that path may be written: refuses an existing path unless force is set, and even with
 * force anything but what a writer could have made: for a file target (folder_file NULL) a
 * regular file; for a folder target a folder holding only regular files folder_file names.
 * Symlinks, devices, FIFOs and sockets are never replaced. */
steno_status st_atomic_check_target(const char *path, int force, int (*folder_file)(const char *name), st_error *err);

/* Opens the temporary file for final path `path`. */
steno_status st_atomic_file_open(st_atomic_file *out, const char *path, st_error *err);
void st_atomic_write(st_atomic_file *out, const void *data, size_t n);
void st_atomic_zeros(st_atomic_file *out, size_t n);
void st_atomic_u8(st_atomic_file *out, uint8_t v);
void st_atomic_u16(st_atomic_file *out, uint16_t v);
void st_atomic_u32(st_atomic_file *out, uint32_t v);
void st_atomic_u64(st_atomic_file *out, uint64_t v);
void st_atomic_printf(st_atomic_file *out, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Flushes, fsyncs and renames over the final path (replacing what is there), then fsyncs the
 * folder. On any failure the temporary file is removed and the final path left untouched. */
steno_status st_atomic_file_commit(st_atomic_file *out, st_error *err);
/* Closes and removes the temporary file; safe after commit and on a zeroed struct. */
void st_atomic_file_abort(st_atomic_file *out);

/* A folder built under a temporary name beside `path` and renamed into place. */
typedef struct st_atomic_dir {
    char *final_path;
    char *temp_path;
} st_atomic_dir;

steno_status st_atomic_dir_open(st_atomic_dir *dir, const char *path, st_error *err);
/* The path of `name` inside the temporary folder (malloc'd), NULL when out of memory. */
char *st_atomic_dir_member(const st_atomic_dir *dir, const char *name);
/* Fsyncs the folder, moves an existing final folder aside, renames, removes the old one and
 * fsyncs the parent. The files inside must have been committed already. */
steno_status st_atomic_dir_commit(st_atomic_dir *dir, st_error *err);
/* Removes the temporary folder and what is in it; safe after commit and on a zeroed struct. */
void st_atomic_dir_abort(st_atomic_dir *dir);

#endif
