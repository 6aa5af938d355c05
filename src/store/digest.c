/* digest.c — SHA-256 and SHA-1 with OpenSSL EVP, of streams and of files. */
#include "store/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

steno_status st_digest_init(st_digest *digest, st_error *err) {
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    if (!a || !b || EVP_DigestInit_ex(a, EVP_sha256(), NULL) != 1 || EVP_DigestInit_ex(b, EVP_sha1(), NULL) != 1) {
        EVP_MD_CTX_free(a);
        EVP_MD_CTX_free(b);
        digest->sha256 = digest->sha1 = NULL;
        return st_error_set(err, STENO_ERR_NO_MEMORY, "cannot start a SHA-256/SHA-1 digest (OpenSSL)");
    }
    digest->sha256 = a;
    digest->sha1 = b;
    return STENO_OK;
}

void st_digest_update(st_digest *digest, const void *bytes, size_t length) {
    EVP_DigestUpdate(digest->sha256, bytes, length);
    EVP_DigestUpdate(digest->sha1, bytes, length);
}

static void to_hex(const unsigned char *bytes, unsigned n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void st_digest_finish(st_digest *digest, st_digest_hex *out) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(digest->sha256, md, &n);
    to_hex(md, n, out->sha256);
    EVP_DigestFinal_ex(digest->sha1, md, &n);
    to_hex(md, n, out->sha1);
    st_digest_free(digest);
}

void st_digest_free(st_digest *digest) {
    EVP_MD_CTX_free(digest->sha256);
    EVP_MD_CTX_free(digest->sha1);
    digest->sha256 = digest->sha1 = NULL;
}

steno_status st_digest_fd(st_digest *digest, int fd, int64_t length, const char *path, st_error *err) {
    enum { CHUNK = 1 << 20 };
    unsigned char *buffer = malloc(CHUNK);
    if (!buffer) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory hashing %s", path);
    int64_t done = 0;
    while (done < length) {
        size_t want = length - done < CHUNK ? (size_t)(length - done) : CHUNK;
        ssize_t got = pread(fd, buffer, want, done);
        if (got <= 0) {
            free(buffer);
            return st_error_set(err, STENO_ERR_IO, "%s: read failed at offset %lld: %s", path, (long long)done,
                                got < 0 ? strerror(errno) : "unexpected end of file");
        }
        st_digest_update(digest, buffer, (size_t)got);
        done += got;
    }
    free(buffer);
    return STENO_OK;
}

steno_status st_digest_file(const char *path, st_digest_hex *out, st_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return st_error_set(err, STENO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    off_t size = lseek(fd, 0, SEEK_END);
    st_digest digest;
    steno_status status = size < 0 ? st_error_set(err, STENO_ERR_IO, "%s: cannot seek: %s", path, strerror(errno))
                                   : st_digest_init(&digest, err);
    if (status == STENO_OK) {
        status = st_digest_fd(&digest, fd, size, path, err);
        if (status == STENO_OK) {
            st_digest_finish(&digest, out);
        } else {
            st_digest_free(&digest);
        }
    }
    close(fd);
    return status;
}
