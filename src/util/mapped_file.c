/* mapped_file.c — POSIX mmap of a whole file, read-only. */
#include "util/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

steno_status st_mapped_file_open(st_mapped_file *out, const char *path, st_error *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return st_error_set(err, errno == ENOENT ? STENO_ERR_NOT_FOUND : STENO_ERR_IO, "%s: cannot open: %s", path,
                            strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return st_error_set(err, STENO_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return st_error_set(err, STENO_ERR_IO, "%s: not a regular file", path);
    }
    out->path = strdup(path);
    if (!out->path) {
        close(fd);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    out->size = (size_t)st.st_size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            st_mapped_file_close(out);
            return st_error_set(err, STENO_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        out->data = p;
    }
    close(fd);
    return STENO_OK;
}

void st_mapped_file_close(st_mapped_file *file) {
    if (file->data) munmap((void *)file->data, file->size);
    free(file->path);
    memset(file, 0, sizeof *file);
}

void st_mapped_file_release(const st_mapped_file *file) {
    if (file->data) madvise((void *)(uintptr_t)file->data, file->size, MADV_DONTNEED); /* page-aligned by mmap */
}
