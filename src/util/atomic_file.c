/*
 * atomic_file.c — atomic creation of files and folders (see atomic_file.h).
 */
#include "util/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OUTPUT_BUFFER = 1 << 20 };

/* Whether every entry of folder is a regular file that `ours` names; else the first other
 * entry's name goes to `foreign`. */
static int only_our_files(const char *folder, int (*ours)(const char *name), char *foreign, size_t size) {
    DIR *d = opendir(folder);
    if (!d) return snprintf(foreign, size, "(cannot open it: %s)", strerror(errno)), 0;
    int clean = 1;
    struct dirent *entry;
    while (clean && (entry = readdir(d)) != NULL) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        clean = ours(entry->d_name) && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
        if (!clean) snprintf(foreign, size, "%s", entry->d_name);
    }
    closedir(d);
    return clean;
}

steno_status st_atomic_check_target(const char *path, int force, int (*folder_file)(const char *name), st_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return STENO_OK;
        return st_error_set(err, STENO_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (!force) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%s already exists (use --force to replace it)", path);
    }
    /* --force replaces by rename, which would put a file in the place of a device, a FIFO, a
     * symlink's name or a user's folder: only what a writer itself could have made is replaced */
    if (S_ISLNK(st.st_mode)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "%s is a symbolic link: not replaced, even with --force (remove it or name its target)",
                            path);
    }
    if (!folder_file) {
        if (S_ISREG(st.st_mode)) return STENO_OK;
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "%s is not a regular file (%s): not replaced, even with --force", path,
                            S_ISDIR(st.st_mode)    ? "a folder"
                            : S_ISCHR(st.st_mode)  ? "a character device"
                            : S_ISBLK(st.st_mode)  ? "a block device"
                            : S_ISFIFO(st.st_mode) ? "a named pipe"
                            : S_ISSOCK(st.st_mode) ? "a socket"
                                                   : "not a plain file");
    }
    if (!S_ISDIR(st.st_mode)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "%s is not a folder, and this format is written as one: not replaced, even with --force",
                            path);
    }
    char foreign[256];
    if (!only_our_files(path, folder_file, foreign, sizeof foreign)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "%s holds %s, which steno does not write: not a model folder steno made, so not replaced, "
                            "even with --force",
                            path, foreign);
    }
    return STENO_OK;
}

/* The folder holding path (malloc'd). */
static char *parent_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return NULL;
    char *parent = strdup(dirname(copy));
    free(copy);
    return parent;
}

/* Makes a rename inside `folder` durable. */
static int sync_folder(const char *folder) {
    int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static char *temp_name(const char *path, int hidden) {
    char *copy = strdup(path), *copy2 = strdup(path);
    char *result = NULL;
    if (copy && copy2) {
        const char *folder = dirname(copy), *base = basename(copy2);
        size_t n = strlen(folder) + strlen(base) + 40;
        if ((result = malloc(n))) {
            snprintf(result, n, "%s/%s%s.tmp.%ld", folder, hidden ? "." : "", base, (long)getpid());
        }
    }
    free(copy);
    free(copy2);
    return result;
}

steno_status st_atomic_file_open(st_atomic_file *out, const char *path, st_error *err) {
    memset(out, 0, sizeof *out);
    out->final_path = strdup(path);
    out->temp_path = temp_name(path, 0);
    if (!out->final_path || !out->temp_path) {
        st_atomic_file_abort(out);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    /* exclusively, never through a link: a stale temporary of a dead process with our pid is
     * removed first (unlink removes a symlink itself, not what it points at) */
    unlink(out->temp_path);
    int fd = open(out->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || !(out->stream = fdopen(fd, "wb"))) {
        int e = errno;
        steno_status status = st_error_set(err, STENO_ERR_IO, "%s: cannot create: %s", out->temp_path, strerror(e));
        if (fd >= 0) {
            close(fd);
        } else {
            free(out->temp_path); /* not created: abort must not unlink another's file */
            out->temp_path = NULL;
        }
        st_atomic_file_abort(out);
        return status;
    }
    setvbuf(out->stream, NULL, _IOFBF, OUTPUT_BUFFER);
    return STENO_OK;
}

void st_atomic_write(st_atomic_file *out, const void *data, size_t n) {
    if (out->error || n == 0) return;
    if (fwrite(data, 1, n, out->stream) != n) {
        out->error = errno ? errno : EIO;
        return;
    }
    out->offset += n;
}

void st_atomic_zeros(st_atomic_file *out, size_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t chunk = n < sizeof zeros ? n : sizeof zeros;
        st_atomic_write(out, zeros, chunk);
        n -= chunk;
    }
}

void st_atomic_u8(st_atomic_file *out, uint8_t v) {
    st_atomic_write(out, &v, 1);
}

void st_atomic_u16(st_atomic_file *out, uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    st_atomic_write(out, b, 2);
}

void st_atomic_u32(st_atomic_file *out, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    st_atomic_write(out, b, 4);
}

void st_atomic_u64(st_atomic_file *out, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    st_atomic_write(out, b, 8);
}

void st_atomic_printf(st_atomic_file *out, const char *format, ...) {
    char small[512];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (n < 0) {
        if (!out->error) out->error = EINVAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        st_atomic_write(out, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        if (!out->error) out->error = ENOMEM;
        return;
    }
    va_start(args, format);
    vsnprintf(big, (size_t)n + 1, format, args);
    va_end(args);
    st_atomic_write(out, big, (size_t)n);
    free(big);
}

steno_status st_atomic_file_commit(st_atomic_file *out, st_error *err) {
    int e = out->error;
    if (!e && fflush(out->stream) != 0) e = errno;
    if (!e && fsync(fileno(out->stream)) != 0) e = errno;
    if (fclose(out->stream) != 0 && !e) e = errno;
    out->stream = NULL;
    if (e) {
        steno_status status = st_error_set(err, STENO_ERR_IO, "%s: write failed after %llu bytes: %s", out->final_path,
                                           (unsigned long long)out->offset, strerror(e));
        st_atomic_file_abort(out);
        return status;
    }
    char *parent = parent_of(out->final_path);
    if (!parent) {
        st_atomic_file_abort(out);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", out->final_path);
    }
    if (rename(out->temp_path, out->final_path) != 0) {
        e = errno;
        free(parent);
        steno_status status = st_error_set(err, STENO_ERR_IO, "%s: cannot rename %s into place: %s", out->final_path,
                                           out->temp_path, strerror(e));
        st_atomic_file_abort(out);
        return status;
    }
    int synced = sync_folder(parent);
    free(parent);
    free(out->temp_path);
    out->temp_path = NULL; /* renamed: nothing left to remove */
    st_atomic_file_abort(out);
    if (synced != 0) return st_error_set(err, STENO_ERR_IO, "cannot sync the folder of the new file");
    return STENO_OK;
}

void st_atomic_file_abort(st_atomic_file *out) {
    if (out->stream) fclose(out->stream);
    if (out->temp_path) unlink(out->temp_path);
    free(out->temp_path);
    free(out->final_path);
    memset(out, 0, sizeof *out);
}

/* ---- folders ------------------------------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

steno_status st_atomic_dir_open(st_atomic_dir *dir, const char *path, st_error *err) {
    memset(dir, 0, sizeof *dir);
    dir->final_path = strdup(path);
    dir->temp_path = temp_name(path, 1);
    if (!dir->final_path || !dir->temp_path) {
        st_atomic_dir_abort(dir);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    remove_tree(dir->temp_path); /* left by an earlier process with our pid, killed mid-way */
    if (mkdir(dir->temp_path, 0755) != 0) {
        steno_status status = st_error_set(err, STENO_ERR_IO, "%s: cannot create: %s", dir->temp_path, strerror(errno));
        free(dir->temp_path);
        dir->temp_path = NULL;
        st_atomic_dir_abort(dir);
        return status;
    }
    return STENO_OK;
}

char *st_atomic_dir_member(const st_atomic_dir *dir, const char *name) {
    size_t n = strlen(dir->temp_path) + strlen(name) + 2;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s", dir->temp_path, name);
    return path;
}

steno_status st_atomic_dir_commit(st_atomic_dir *dir, st_error *err) {
    char *parent = parent_of(dir->final_path);
    if (!parent) {
        st_atomic_dir_abort(dir);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", dir->final_path);
    }
    steno_status status = STENO_OK;
    struct stat st;
    if (sync_folder(dir->temp_path) != 0) {
        status = st_error_set(err, STENO_ERR_IO, "%s: cannot sync: %s", dir->temp_path, strerror(errno));
    } else if (lstat(dir->final_path, &st) == 0) {
        /* Replacing (--force): swap the two names in one step, so the destination is never
         * missing, then delete the old content now under the temporary name. */
        if (renameat2(AT_FDCWD, dir->temp_path, AT_FDCWD, dir->final_path, RENAME_EXCHANGE) != 0) {
            status = st_error_set(err, STENO_ERR_IO, "%s: cannot replace: %s", dir->final_path, strerror(errno));
        }
    } else if (rename(dir->temp_path, dir->final_path) != 0) {
        status = st_error_set(err, STENO_ERR_IO, "%s: cannot rename %s into place: %s", dir->final_path, dir->temp_path,
                              strerror(errno));
    } else {
        free(dir->temp_path);
        dir->temp_path = NULL;
    }
    if (status == STENO_OK && sync_folder(parent) != 0) {
        status = st_error_set(err, STENO_ERR_IO, "%s: cannot sync: %s", parent, strerror(errno));
    }
    free(parent);
    st_atomic_dir_abort(dir); /* removes the temporary name: the old content after a swap */
    return status;
}

void st_atomic_dir_abort(st_atomic_dir *dir) {
    if (dir->temp_path) remove_tree(dir->temp_path);
    free(dir->temp_path);
    free(dir->final_path);
    memset(dir, 0, sizeof *dir);
}
