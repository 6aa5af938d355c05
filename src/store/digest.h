/*
 * digest.h — SHA-256 and SHA-1 of files and of byte streams, through OpenSSL's EVP interface.
 *
 * Downloads are checked against published checksums: openai publishes SHA-256 (in its URLs),
 * whisper.cpp publishes SHA-1, the Hugging Face Hub names LFS blobs by SHA-256. Both digests are
 * computed in one pass so either can be compared.
 */
#ifndef ST_STORE_DIGEST_H
#define ST_STORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define ST_SHA256_HEX 65 /* 64 hex digits and the NUL */
#define ST_SHA1_HEX 41

typedef struct st_digest {
    void *sha256; /* EVP_MD_CTX * */
    void *sha1;
} st_digest;

typedef struct st_digest_hex {
    char sha256[ST_SHA256_HEX];
    char sha1[ST_SHA1_HEX];
} st_digest_hex;

steno_status st_digest_init(st_digest *digest, st_error *err);
void st_digest_update(st_digest *digest, const void *bytes, size_t length);
/* Writes the lowercase hex digests and frees the contexts. */
void st_digest_finish(st_digest *digest, st_digest_hex *out);
/* Frees the contexts without a result (on error paths); safe on a zeroed struct. */
void st_digest_free(st_digest *digest);

/* Hashes the first `length` bytes of an open file into `digest` (resuming a partial download
 * needs the bytes already on disk hashed first). */
steno_status st_digest_fd(st_digest *digest, int fd, int64_t length, const char *path, st_error *err);

/* Both digests of a whole file. */
steno_status st_digest_file(const char *path, st_digest_hex *out, st_error *err);

#endif
