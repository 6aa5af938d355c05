/*
 * download.c — one file over HTTP with libcurl: lock, resume, checksum, atomic rename.
 *
 * Order of events, each step there for a fault users hit:
 *   lock      two `steno models pull` of one model: the second waits, then finds it present
 *   present?  checked under the lock, so a file finished meanwhile is not fetched again
 *   partial   an interrupted transfer left bytes: hash them, ask for the rest with Range
 *   transfer  write errors (disk full, read-only) stop the transfer with errno's reason
 *   verify    size and SHA-256/SHA-1; a corrupt file is deleted, never renamed into place
 *   rename    fsync, then rename(2) into place: the destination is either absent or whole
 */
#include "store/download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "steno.h"

steno_status st_download_global_init(st_error *err) {
    static int done;
    if (done) return STENO_OK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return st_error_set(err, STENO_ERR_INTERNAL, "libcurl failed to initialise");
    }
    done = 1;
    return STENO_OK;
}

/* mkdir -p of the folder holding path. */
static int make_parent(const char *path) {
    char buffer[4096];
    snprintf(buffer, sizeof buffer, "%s", path);
    char *slash = strrchr(buffer, '/');
    if (!slash || slash == buffer) return 0;
    *slash = '\0';
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buffer, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buffer, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int st_download_make_parent(const char *path) {
    return make_parent(path);
}

typedef struct transfer {
    const st_download_request *request;
    int fd;
    int64_t offset; /* bytes already in the partial file when this transfer started */
    int64_t received;
    int first_write_seen;
    int write_errno;
    st_digest digest;
    long status; /* HTTP status of the last response */
    int64_t content_length;
    char linked_etag[80];
    char commit[64];
} transfer;

static void header_value(const char *line, size_t n, const char *name, char *out, size_t size) {
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':') return;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '"'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '"'))
        end--;
    size_t len = (size_t)(end - v) < size - 1 ? (size_t)(end - v) : size - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static size_t on_header(char *line, size_t size, size_t count, void *user) {
    transfer *t = user;
    size_t n = size * count;
    if (n > 5 && !strncmp(line, "HTTP/", 5)) {
        const char *space = memchr(line, ' ', n);
        t->status = space ? strtol(space + 1, NULL, 10) : 0;
        t->content_length = -1;
    }
    char value[80] = "";
    header_value(line, n, "Content-Length", value, sizeof value);
    if (value[0]) t->content_length = strtoll(value, NULL, 10);
    header_value(line, n, "X-Linked-Etag", t->linked_etag, sizeof t->linked_etag);
    header_value(line, n, "X-Repo-Commit", t->commit, sizeof t->commit);
    return n;
}

static size_t on_body(char *bytes, size_t size, size_t count, void *user) {
    transfer *t = user;
    size_t n = size * count;
    if (!t->first_write_seen) {
        t->first_write_seen = 1;
        /* asked for a range but got the whole file: start the partial over */
        if (t->offset > 0 && t->status == 200) {
            if (ftruncate(t->fd, 0) != 0) {
                t->write_errno = errno;
                return 0;
            }
            st_digest_free(&t->digest);
            if (st_digest_init(&t->digest, NULL) != STENO_OK) {
                t->write_errno = ENOMEM;
                return 0;
            }
            t->offset = 0;
        }
    }
    size_t written = 0;
    while (written < n) {
        ssize_t w = pwrite(t->fd, bytes + written, n - written, t->offset + t->received + (int64_t)written);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            t->write_errno = w < 0 ? errno : ENOSPC;
            return 0; /* makes curl stop with CURLE_WRITE_ERROR */
        }
        written += (size_t)w;
    }
    st_digest_update(&t->digest, bytes, n);
    t->received += (int64_t)n;
    return n;
}

static int on_progress(void *user, curl_off_t total, curl_off_t now, curl_off_t up_total, curl_off_t up_now) {
    (void)up_total;
    (void)up_now;
    (void)now;
    transfer *t = user;
    const st_download_request *r = t->request;
    if (!r->progress || !t->first_write_seen) return 0;
    int64_t whole = total > 0 ? t->offset + (int64_t)total : r->expected_size;
    r->progress(r->user, r->label, t->offset + t->received, whole);
    return 0;
}

static int is_hex(const char *s, size_t n) {
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789abcdef", s[i])) return 0;
    }
    return 1;
}

static steno_status http_error(const st_download_request *r, long status, st_error *err) {
    if (status == 401 || status == 403) {
        return st_error_set(err, STENO_ERR_IO,
                            "%s: HTTP %ld from %s: the repository is gated or private; accept its conditions on "
                            "the Hub and set HF_TOKEN",
                            r->label, status, r->url);
    }
    if (status == 404)
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: HTTP 404, %s does not exist", r->label, r->url);
    return st_error_set(err, STENO_ERR_IO, "%s: HTTP %ld from %s", r->label, status, r->url);
}

/* One GET (ranged when the partial has bytes). STENO_OK when the partial now holds a whole
 * response body. */
static steno_status fetch(transfer *t, st_error *err) {
    const st_download_request *r = t->request;
    CURL *curl = curl_easy_init();
    if (!curl) return st_error_set(err, STENO_ERR_NO_MEMORY, "libcurl: cannot create a transfer");
    struct curl_slist *headers = NULL;
    char auth[1024];
    if (r->token && *r->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->token);
        headers = curl_slist_append(headers, auth);
    }
    char range[64];
    snprintf(range, sizeof range, "%lld-", (long long)t->offset);
    curl_easy_setopt(curl, CURLOPT_URL, r->url);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT,
                     "steno/"
                     "0.1");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    /* a stalled connection (no byte for a minute) fails instead of hanging forever */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    if (t->offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range);
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    t->status = status;
    if (code == CURLE_WRITE_ERROR && t->write_errno) {
        return st_error_set(err, STENO_ERR_IO, "%s: cannot write %s: %s (%lld bytes kept there; run again to resume)",
                            r->label, r->partial, strerror(t->write_errno), (long long)(t->offset + t->received));
    }
    if (code != CURLE_OK && status < 400) {
        return st_error_set(err, STENO_ERR_IO, "%s: download from %s failed: %s (%lld bytes kept; run again to resume)",
                            r->label, r->url, curl_easy_strerror(code), (long long)(t->offset + t->received));
    }
    if (status == 416) return STENO_ERR_CANCELLED; /* the caller decides about an overlong partial */
    if (status >= 400) return http_error(r, status, err);
    return STENO_OK;
}

static steno_status verify(transfer *t, st_download_result *result, st_error *err) {
    const st_download_request *r = t->request;
    int64_t size = t->offset + t->received;
    st_digest_finish(&t->digest, &result->digest);
    result->bytes = size;
    const char *sha256 = r->sha256;
    char server[80];
    snprintf(server, sizeof server, "%s", t->linked_etag);
    if (!sha256 && r->trust_server_sha256 && is_hex(server, 64)) sha256 = server;
    const char *problem = NULL;
    char detail[256] = "";
    if (r->expected_size >= 0 && size != r->expected_size) {
        problem = "size";
        snprintf(detail, sizeof detail, "%lld bytes, expected %lld", (long long)size, (long long)r->expected_size);
    } else if (sha256 && strcmp(sha256, result->digest.sha256) != 0) {
        problem = "SHA-256";
        snprintf(detail, sizeof detail, "got %s, expected %s", result->digest.sha256, sha256);
    } else if (r->sha1 && strcmp(r->sha1, result->digest.sha1) != 0) {
        problem = "SHA-1";
        snprintf(detail, sizeof detail, "got %s, expected %s", result->digest.sha1, r->sha1);
    }
    if (problem) {
        unlink(r->partial);
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: the downloaded file is corrupt (%s mismatch: %s); it was deleted, nothing was "
                            "installed; run again to download it afresh",
                            r->label, problem, detail);
    }
    return STENO_OK;
}

/* fsync, rename into place, fsync the folder: after a crash the file is whole or absent. */
static steno_status install(transfer *t, st_download_result *result, st_error *err) {
    const st_download_request *r = t->request;
    if (r->by_sha256) {
        snprintf(result->final_path, sizeof result->final_path, "%s/%s", r->destination, result->digest.sha256);
    } else {
        snprintf(result->final_path, sizeof result->final_path, "%s", r->destination);
    }
    if (fsync(t->fd) != 0) {
        return st_error_set(err, STENO_ERR_IO, "%s: cannot flush %s: %s", r->label, r->partial, strerror(errno));
    }
    if (make_parent(result->final_path) != 0 || rename(r->partial, result->final_path) != 0) {
        return st_error_set(err, STENO_ERR_IO, "%s: cannot move %s to %s: %s", r->label, r->partial, result->final_path,
                            strerror(errno));
    }
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", result->final_path);
    int dir = open(dirname(folder), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    return STENO_OK;
}

static steno_status locked_download(const st_download_request *r, st_download_result *result, st_error *err) {
    if (r->present && r->present(r->context, result->final_path, sizeof result->final_path)) {
        result->already_present = 1;
        return STENO_OK;
    }
    if (make_parent(r->partial) != 0 || (!r->by_sha256 && make_parent(r->destination) != 0)) {
        return st_error_set(err, STENO_ERR_IO, "%s: cannot create the folder for %s: %s", r->label, r->partial,
                            strerror(errno));
    }
    transfer t = {.request = r, .content_length = -1};
    t.fd = open(r->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t.fd < 0)
        return st_error_set(err, STENO_ERR_IO, "%s: cannot write %s: %s", r->label, r->partial, strerror(errno));
    struct stat st;
    steno_status status = fstat(t.fd, &st) == 0
                              ? st_digest_init(&t.digest, err)
                              : st_error_set(err, STENO_ERR_IO, "%s: %s", r->partial, strerror(errno));
    if (status == STENO_OK) {
        t.offset = st.st_size;
        if (r->expected_size >= 0 && t.offset > r->expected_size) {
            /* longer than the file can be: not a prefix of it */
            status = ftruncate(t.fd, 0) == 0 ? STENO_OK
                                             : st_error_set(err, STENO_ERR_IO, "%s: %s", r->partial, strerror(errno));
            t.offset = 0;
        }
    }
    if (status == STENO_OK && t.offset > 0) status = st_digest_fd(&t.digest, t.fd, t.offset, r->partial, err);
    result->resumed_from = t.offset;
    if (status == STENO_OK && !(r->expected_size >= 0 && t.offset == r->expected_size)) {
        status = fetch(&t, err);
        if (status == STENO_ERR_CANCELLED) {
            /* 416: the server has nothing past our partial; it is complete or it is garbage,
             * and verify() tells which */
            status = STENO_OK;
        }
    }
    result->transferred = t.received;
    snprintf(result->commit, sizeof result->commit, "%s", t.commit);
    if (result->resumed_from > t.offset) result->resumed_from = 0; /* the server restarted us */
    if (status == STENO_OK)
        status = verify(&t, result, err);
    else
        st_digest_free(&t.digest);
    if (status == STENO_OK) status = install(&t, result, err);
    close(t.fd);
    if (status == STENO_OK && r->finish) status = r->finish(r->context, result, err);
    return status;
}

steno_status st_download(const st_download_request *r, st_download_result *result, st_error *err) {
    memset(result, 0, sizeof *result);
    steno_status status = st_download_global_init(err);
    if (status != STENO_OK) return status;
    if (make_parent(r->lock) != 0) {
        return st_error_set(err, STENO_ERR_IO, "%s: cannot create the folder for %s: %s", r->label, r->lock,
                            strerror(errno));
    }
    int lock = open(r->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0)
        return st_error_set(err, STENO_ERR_IO, "%s: cannot create %s: %s", r->label, r->lock, strerror(errno));
    if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
        if (r->progress) r->progress(r->user, r->label, -1, -1);
        while (flock(lock, LOCK_EX) != 0) {
            if (errno != EINTR) {
                close(lock);
                return st_error_set(err, STENO_ERR_IO, "%s: cannot lock %s: %s", r->label, r->lock, strerror(errno));
            }
        }
    }
    status = locked_download(r, result, err);
    /* the lock file stays: removing it would let a third process lock a different inode */
    close(lock);
    return status;
}
