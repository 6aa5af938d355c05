/*
 * download.h — fetching one file over HTTP(S) so that it is never fetched twice and never
 * seen half-written.
 *
 * libcurl does the transfer. Bytes go to a partial file beside the destination; a partial left
 * by an interrupted run is resumed with an HTTP Range request (and restarted if the server
 * ignores the range). SHA-256 and SHA-1 are computed as bytes arrive (over the resumed prefix
 * too) and compared with the expected checksum; a mismatch deletes the partial. Only a complete,
 * verified file is renamed into place, atomically. A lock file (flock) makes a second process
 * that wants the same file wait and then find it done instead of downloading it again.
 */
#ifndef ST_STORE_DOWNLOAD_H
#define ST_STORE_DOWNLOAD_H

#include <stdint.h>

#include "store/digest.h"
#include "util/error.h"

/* Progress of one file: done and total bytes (total -1 when unknown). done == -1 means
 * "waiting for another process that is downloading this file". */
typedef void (*st_download_progress)(void *user, const char *label, int64_t done, int64_t total);

typedef struct st_download_result {
    char final_path[4096];
    st_digest_hex digest; /* of the complete file (empty when already_present) */
    int64_t bytes;        /* size of the complete file */
    int64_t transferred;  /* bytes fetched by this call */
    int64_t resumed_from; /* bytes of an earlier partial kept and continued, 0 when fresh */
    int already_present;  /* `present` said so once the lock was held: nothing fetched */
    char commit[64];      /* the Hub's X-Repo-Commit header, when sent */
} st_download_result;

typedef struct st_download_request {
    const char *url;
    /* Where the finished file goes. With by_sha256 this is a folder and the file is named by
     * its SHA-256 (the Hugging Face cache's blobs/). */
    const char *destination;
    int by_sha256;
    const char *partial; /* where bytes accumulate */
    const char *lock;    /* the lock file */
    /* Called while the lock is held: nonzero (and the path written) when the file is already
     * in place, so nothing is fetched. NULL to always fetch. */
    int (*present)(void *context, char *path, size_t size);
    const char *sha256, *sha1; /* expected checksums, NULL when not published */
    /* Take the expected SHA-256 from the Hub's X-Linked-Etag header (LFS files) when sha256 is
     * NULL. */
    int trust_server_sha256;
    int64_t expected_size; /* exact size, or -1 */
    const char *token;     /* bearer token (HF_TOKEN) for gated repositories, or NULL */
    const char *label;     /* for progress and messages */
    st_download_progress progress;
    void *user;
    /* Runs while the lock is still held, after the file is in place (the store links HF
     * snapshots here, so a waiting process sees the link when it gets the lock). */
    steno_status (*finish)(void *context, const st_download_result *result, st_error *err);
    void *context; /* for present and finish */
} st_download_request;

/* Initialises libcurl once per process (call before threads start). */
steno_status st_download_global_init(st_error *err);

/* mkdir -p of the folder holding path; 0 on success, -1 with errno set. */
int st_download_make_parent(const char *path);

steno_status st_download(const st_download_request *request, st_download_result *result, st_error *err);

#endif
