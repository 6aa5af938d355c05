/*
 * server.c — the HTTP side of `steno serve`: routing, authentication, uploads, responses and
 * event streams over libmicrohttpd; see server.h for the endpoints.
 *
 * libmicrohttpd runs a thread per connection, so a request that waits for its transcription
 * (or streams its events) simply blocks in its own thread while the job runs on a worker; the
 * number of connections is bounded, and so are the queue and the workers. An upload goes through
 * the multipart parser straight into a private file in the spool folder (mkstemp: the client's
 * file name is never used as a path), counted against the size limit as it arrives.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/jobs.h"
#include "server/model_cache.h"
#include "server/multipart.h"
#include "server/openai.h"
#include "server/web_assets.h"
#include "util/strbuf.h"

enum {
    MAX_FIELD_BYTES = 65536,  /* one non-file form field */
    KEEPALIVE_SECONDS = 15,   /* an event stream sends a comment at least this often */
    DISCONNECT_POLL_MS = 500, /* how often a waiting request checks that its client is still there */
    MAX_CONNECTIONS = 256,
    MAX_FORM_OVERHEAD = 256 * 1024, /* bytes a request may carry beyond its file */
};

struct st_server {
    st_server_config config;
    char *host, *api_key, *db_path;
    char default_model[256];       /* as configured */
    char default_model_path[4096]; /* resolved at start */
    char spool[4096];
    struct MHD_Daemon *daemon;
    st_model_cache *models;
    st_jobs *jobs;
    int port;
    pthread_t janitor;
    int janitor_running;
    pthread_mutex_t janitor_lock;
    pthread_cond_t janitor_wake;
    int stopping;
};

st_server_config st_server_default_config(void) {
    return (st_server_config){.host = "127.0.0.1",
                              .port = 8080,
                              .max_upload_bytes = 25u * 1024 * 1024,
                              .workers = 2,
                              .queue_limit = 64,
                              .threads_per_job = 1,
                              .default_model = "base.en",
                              .timeout_seconds = 120,
                              .model_idle_seconds = 300,
                              .job_retention_seconds = 7 * 24 * 3600.0};
}

int st_server_port(const st_server *server) {
    return server->port;
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *connection, int status, char *body, const char *mime) {
    if (!body) {
        status = 500;
        body = strdup(
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        mime = "application/json";
        if (!body) return MHD_NO;
    }
    struct MHD_Response *response = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, mime);
    if (status == 401) MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 503) MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    enum MHD_Result result = MHD_queue_response(connection, (unsigned)status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result respond_json(struct MHD_Connection *connection, int status, json_t *json) {
    char *body = json ? json_dumps(json, ST_JSON_FLAGS) : NULL;
    json_decref(json);
    return respond(connection, status, body, "application/json");
}

static enum MHD_Result respond_error(struct MHD_Connection *connection, int status, const char *message,
                                     const char *param, const char *code) {
    return respond(connection, status, st_openai_error(status, message, param, code), "application/json");
}

/* ---- one request ---- */

typedef enum route {
    ROUTE_OTHER,
    ROUTE_TRANSCRIPTIONS,
    ROUTE_TRANSLATIONS,
    ROUTE_JOBS_SUBMIT,
} route;

typedef struct request {
    st_server *server;
    route route;
    st_multipart *parser;
    st_request_fields fields;
    char part_name[ST_MULTIPART_MAX_NAME];
    int in_file;
    st_strbuf value;
    int upload_fd;
    char upload[4096]; /* ours until a job takes it ("" then) */
    size_t upload_bytes;
    int have_file;
    size_t body_bytes;
    int error_status; /* the first problem found in the body */
    char error_message[512];
    char error_param[64];
    const char *error_code;
} request;

static void request_fail(request *r, int status, const char *param, const char *code, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

static void request_fail(request *r, int status, const char *param, const char *code, const char *format, ...) {
    if (r->error_status) return;
    r->error_status = status;
    va_list args;
    va_start(args, format);
    vsnprintf(r->error_message, sizeof r->error_message, format, args);
    va_end(args);
    snprintf(r->error_param, sizeof r->error_param, "%s", param ? param : "");
    r->error_code = code;
}

static void request_free(request *r) {
    if (!r) return;
    if (r->upload_fd >= 0) close(r->upload_fd);
    if (r->upload[0]) unlink(r->upload);
    st_multipart_free(r->parser);
    st_strbuf_free(&r->value);
    free(r);
}

static steno_status on_part(void *user, const st_multipart_part *part, st_error *err) {
    request *r = user;
    snprintf(r->part_name, sizeof r->part_name, "%s", part->name);
    st_strbuf_clear(&r->value);
    r->in_file = strcmp(part->name, "file") == 0;
    if (!r->in_file) return STENO_OK;
    if (r->have_file || r->upload_fd >= 0) {
        request_fail(r, 400, "file", NULL, "more than one file in the request");
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "more than one file");
    }
    snprintf(r->fields.filename, sizeof r->fields.filename, "%s", part->filename);
    snprintf(r->upload, sizeof r->upload, "%s/upload-XXXXXX", r->server->spool);
    r->upload_fd = mkostemp(r->upload, O_CLOEXEC);
    if (r->upload_fd < 0) {
        r->upload[0] = '\0';
        request_fail(r, 500, NULL, NULL, "cannot store the upload: %s", strerror(errno));
        return st_error_set(err, STENO_ERR_IO, "cannot store the upload");
    }
    return STENO_OK;
}

static steno_status on_data(void *user, const char *data, size_t n, st_error *err) {
    request *r = user;
    if (!r->in_file) {
        if (r->value.length + n > MAX_FIELD_BYTES) {
            request_fail(r, 400, r->part_name, NULL, "form field '%.64s' is longer than %d bytes", r->part_name,
                         MAX_FIELD_BYTES);
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "field too long");
        }
        st_strbuf_append(&r->value, data, n);
        return STENO_OK;
    }
    if (r->upload_bytes + n > r->server->config.max_upload_bytes) {
        request_fail(r, 413, "file", "file_too_large", "the file is larger than this server's limit of %zu bytes",
                     r->server->config.max_upload_bytes);
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "file too large");
    }
    while (n > 0) {
        ssize_t written = write(r->upload_fd, data, n);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) {
            request_fail(r, 500, NULL, NULL, "cannot store the upload: %s", strerror(errno));
            return st_error_set(err, STENO_ERR_IO, "cannot store the upload");
        }
        data += written;
        n -= (size_t)written;
        r->upload_bytes += (size_t)written;
    }
    return STENO_OK;
}

static steno_status on_part_end(void *user, st_error *err) {
    request *r = user;
    if (r->in_file) {
        close(r->upload_fd);
        r->upload_fd = -1;
        r->have_file = 1;
        return STENO_OK;
    }
    char message[512];
    int status =
        st_request_field(&r->fields, r->part_name, r->value.data ? r->value.data : "", message, sizeof message);
    if (status) {
        request_fail(r, status, r->part_name, NULL, "%s", message);
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%s", message);
    }
    return STENO_OK;
}

/* ---- authentication ---- */

static int authorized(const st_server *s, struct MHD_Connection *connection) {
    if (!s->api_key) return 1;
    const char *header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return 0;
    const char *given = header + 7;
    size_t n = strlen(s->api_key);
    if (strlen(given) != n) return 0;
    unsigned char difference = 0; /* every byte compared: the time taken says nothing */
    for (size_t i = 0; i < n; i++)
        difference |= (unsigned char)(given[i] ^ s->api_key[i]);
    return difference == 0;
}

/* ---- models ---- */

/* The model file a request's `model` means. Clients name models, never paths: a name must be
 * one the catalogue knows (or the default's own name, or OpenAI's "whisper-1"). */
static int resolve_model(const st_server *s, const char *name, char *path, size_t size, char *message,
                         size_t message_size) {
    if (!name[0] || strcmp(name, "whisper-1") == 0 || strcmp(name, s->default_model) == 0) {
        snprintf(path, size, "%s", s->default_model_path);
        return 0;
    }
    if (!steno_model_is_known(name)) {
        snprintf(message, message_size, "the model '%.128s' does not exist: GET /v1/models lists the models here",
                 name);
        return 404;
    }
    if (steno_model_resolve(name, path, size) != STENO_OK) {
        snprintf(message, message_size, "%s", steno_context_error(NULL));
        return 404;
    }
    return 0;
}

static enum MHD_Result list_models(st_server *s, struct MHD_Connection *connection) {
    json_t *data = json_array();
    json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", "whisper-1", "object", "model", "created", 0,
                                          "owned_by", "steno"));
    steno_store *store;
    if (steno_store_open(NULL, &store) == STENO_OK) {
        const char *names[256];
        int n = steno_store_whisper_models(store, names, 256);
        for (int i = 0; i < n; i++) {
            json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", names[i], "object", "model", "created",
                                                  0, "owned_by", "steno"));
        }
        steno_store_free(store);
    }
    (void)s;
    return respond_json(connection, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* ---- waiting for a job ---- */

static int job_ended(const st_job *job) {
    return job->state != ST_JOB_QUEUED && job->state != ST_JOB_RUNNING;
}

/* A client that closed its connection no longer wants the answer. */
static int client_gone(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info) return 0;
    struct pollfd p = {.fd = info->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void wait_for(st_job *job, struct MHD_Connection *connection) {
    pthread_mutex_lock(&job->lock);
    while (!job_ended(job)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += DISCONNECT_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&job->changed, &job->lock, &until);
        if (!job_ended(job) && client_gone(connection)) atomic_store(&job->cancel, 1);
    }
    pthread_mutex_unlock(&job->lock);
}

static enum MHD_Result respond_result(struct MHD_Connection *connection, st_job *job, st_response_format format) {
    pthread_mutex_lock(&job->lock);
    enum MHD_Result result;
    if (job->state == ST_JOB_SUCCEEDED) {
        const char *mime = "application/json";
        char *body = st_openai_render(job->result, format, &mime);
        result = respond(connection, 200, body, mime);
    } else {
        int status = job->error_status ? job->error_status : 500;
        result = respond_error(connection, status, job->error, status == 400 ? "file" : NULL,
                               status == 400 ? "invalid_audio" : NULL);
    }
    pthread_mutex_unlock(&job->lock);
    return result;
}

/* ---- event streams ---- */

typedef enum stream_kind {
    STREAM_TEXT, /* stream=true: OpenAI's transcript.text.delta / transcript.text.done */
    /* stream=true with diarized_json: each segment as decoded, its speaker known (the
     * diarization runs first), as its text's delta and then its transcript.text.segment */
    STREAM_DIARIZED,
    STREAM_JOB,  /* /v1/jobs/{id}/events: progress, segment, done */
} stream_kind;

typedef struct event_stream {
    st_job *job;
    stream_kind kind;
    size_t segments_sent;
    double progress_sent;
    int done; /* the last event is in pending */
    st_strbuf pending;
    size_t pending_offset;
} event_stream;

static void append_event(st_strbuf *out, const char *event, json_t *data) {
    char *text = data ? json_dumps(data, ST_JSON_FLAGS) : NULL;
    json_decref(data);
    if (event) st_strbuf_printf(out, "event: %s\n", event);
    st_strbuf_printf(out, "data: %s\n\n", text ? text : "{}");
    free(text);
}

/* Turns what changed in the job since the last call into events. Under job->lock. */
static void collect_events(event_stream *s) {
    st_job *job = s->job;
    size_t n = json_array_size(job->segments);
    for (; s->segments_sent < n; s->segments_sent++) {
        json_t *segment = json_array_get(job->segments, s->segments_sent);
        if (s->kind == STREAM_JOB) {
            append_event(&s->pending, "segment", json_incref(segment));
        } else {
            const char *text = json_string_value(json_object_get(segment, "text"));
            if (!text) text = "";
            if (s->segments_sent == 0) text += strspn(text, " "); /* the whole text starts without its space */
            append_event(&s->pending, NULL, json_pack("{s:s, s:s}", "type", "transcript.text.delta", "delta", text));
            if (s->kind == STREAM_DIARIZED) {
                append_event(&s->pending, NULL, st_openai_diarized_segment(segment, s->segments_sent));
            }
        }
    }
    if (s->kind == STREAM_JOB && job->progress > s->progress_sent) {
        s->progress_sent = job->progress;
        append_event(&s->pending, "progress", json_pack("{s:s, s:f}", "id", job->id, "progress", job->progress));
    }
    if (!job_ended(job)) return;
    s->done = 1;
    if (s->kind == STREAM_JOB) {
        append_event(&s->pending, "done", st_job_json(job));
    } else if (job->state == ST_JOB_SUCCEEDED) {
        append_event(
            &s->pending, NULL,
            json_pack("{s:s, s:O}", "type", "transcript.text.done", "text", json_object_get(job->result, "text")));
    } else {
        char *error = st_openai_error(job->error_status ? job->error_status : 500, job->error, NULL, NULL);
        st_strbuf_printf(&s->pending, "data: %s\n\n", error ? error : "{}");
        free(error);
    }
}

static ssize_t read_events(void *user, uint64_t position, char *buffer, size_t max) {
    (void)position;
    event_stream *s = user;
    if (s->pending_offset >= s->pending.length) {
        if (s->done) return MHD_CONTENT_READER_END_OF_STREAM;
        st_strbuf_clear(&s->pending);
        s->pending_offset = 0;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += KEEPALIVE_SECONDS;
        pthread_mutex_lock(&s->job->lock);
        collect_events(s);
        while (s->pending.length == 0 && pthread_cond_timedwait(&s->job->changed, &s->job->lock, &until) != ETIMEDOUT) {
            collect_events(s);
        }
        pthread_mutex_unlock(&s->job->lock);
        if (s->pending.length == 0) st_strbuf_append_str(&s->pending, ": keep-alive\n\n");
        if (st_strbuf_status(&s->pending) != STENO_OK) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->pending.length - s->pending_offset;
    if (n > max) n = max;
    memcpy(buffer, s->pending.data + s->pending_offset, n);
    s->pending_offset += n;
    return (ssize_t)n;
}

static void free_events(void *user) {
    event_stream *s = user;
    /* a stream=true client that went away takes its job with it; a /v1/jobs job runs on */
    if (s->kind == STREAM_TEXT) atomic_store(&s->job->cancel, 1);
    st_job_release(s->job);
    st_strbuf_free(&s->pending);
    free(s);
}

static enum MHD_Result respond_events(struct MHD_Connection *connection, st_job *job, stream_kind kind) {
    event_stream *s = calloc(1, sizeof *s);
    if (!s) {
        st_job_release(job);
        return respond_error(connection, 500, "out of memory", NULL, NULL);
    }
    s->job = job; /* the stream owns this reference */
    s->kind = kind;
    s->progress_sent = -1;
    st_strbuf_init(&s->pending);
    struct MHD_Response *response =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_events, s, free_events);
    if (!response) {
        free_events(s);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result result = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return result;
}

/* The answer to a request refused while its headers or body were read. */
static enum MHD_Result respond_failure(const request *r, struct MHD_Connection *connection) {
    return respond_error(connection, r->error_status, r->error_message, r->error_param[0] ? r->error_param : NULL,
                         r->error_code);
}

/* ---- the audio endpoints and job submission ---- */

static enum MHD_Result finish_upload(request *r, struct MHD_Connection *connection) {
    st_server *s = r->server;
    st_error err;
    st_error_clear(&err);
    if (!r->error_status && st_multipart_finish(r->parser, &err) != STENO_OK) {
        request_fail(r, 400, NULL, "invalid_multipart", "%s", st_error_message(&err));
    }
    if (!r->error_status && !r->have_file) {
        request_fail(r, 400, "file", NULL, "no file: send the audio as the multipart field 'file'");
    }
    if (!r->error_status && r->upload_bytes == 0) request_fail(r, 400, "file", "invalid_audio", "the file is empty");
    if (r->error_status) return respond_failure(r, connection);
    if (r->route == ROUTE_TRANSLATIONS) r->fields.translate = 1;
    if (r->route == ROUTE_JOBS_SUBMIT) r->fields.stream = 0; /* a job's events have their own endpoint */
    const char *param = NULL;
    char message[512];
    int status = st_request_check(&r->fields, &param, message, sizeof message);
    if (status) return respond_error(connection, status, message, param, NULL);
    char model_path[4096];
    status = resolve_model(s, r->fields.model, model_path, sizeof model_path, message, sizeof message);
    if (status) return respond_error(connection, status, message, "model", "model_not_found");

    int stored = r->route == ROUTE_JOBS_SUBMIT;
    st_job *job = st_job_create(&r->fields, model_path, r->upload, stored);
    if (!job) return respond_error(connection, 500, "out of memory", NULL, NULL);
    if (stored) { /* the upload must outlive this server: give it the job's name */
        char kept[4096];
        snprintf(kept, sizeof kept, "%s/%s", s->spool, job->id);
        if (rename(r->upload, kept) != 0) {
            st_job_release(job);
            return respond_error(connection, 500, "cannot keep the upload", NULL, NULL);
        }
        snprintf(job->upload, sizeof job->upload, "%s", kept);
    }
    r->upload[0] = '\0'; /* the job owns the file now */
    if (st_jobs_submit(s->jobs, job, &err) != STENO_OK) {
        unlink(job->upload);
        st_job_release(job);
        int busy = err.code == STENO_ERR_UNSUPPORTED;
        return respond_error(connection, busy ? 503 : 500, st_error_message(&err), NULL, busy ? "queue_full" : NULL);
    }
    if (stored) {
        json_t *answer = json_pack("{s:s, s:s, s:s}", "id", job->id, "object", "transcription.job", "status", "queued");
        st_job_release(job);
        return respond_json(connection, 202, answer);
    }
    if (r->fields.stream) {
        return respond_events(connection, job,
                              r->fields.format == ST_RESPONSE_DIARIZED_JSON ? STREAM_DIARIZED : STREAM_TEXT);
    }
    wait_for(job, connection);
    enum MHD_Result result = respond_result(connection, job, r->fields.format);
    st_job_release(job);
    return result;
}

/* ---- /v1/jobs/{id} ---- */

static int valid_job_id(const char *id, size_t n) {
    if (n < 5 || n >= 40 || strncmp(id, "job_", 4) != 0) return 0;
    for (size_t i = 4; i < n; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
    }
    return 1;
}

static enum MHD_Result job_endpoint(st_server *s, struct MHD_Connection *connection, const char *method,
                                    const char *rest) {
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *what = slash ? slash + 1 : "";
    char id[40];
    if (!valid_job_id(rest, n)) return respond_error(connection, 404, "no such job", NULL, "job_not_found");
    memcpy(id, rest, n);
    id[n] = '\0';

    if (strcmp(method, "DELETE") == 0 && !*what) {
        int status = st_jobs_cancel(s->jobs, id);
        if (status == 404) return respond_error(connection, 404, "no such job", NULL, "job_not_found");
        if (status == 409) return respond_error(connection, 409, "the job has already ended", NULL, "job_ended");
        return respond_json(
            connection, 200,
            json_pack("{s:s, s:s, s:b}", "id", id, "object", "transcription.job", "cancel_requested", 1));
    }
    if (strcmp(method, "GET") != 0) return respond_error(connection, 405, "method not allowed", NULL, NULL);

    st_job *job = st_jobs_find(s->jobs, id);
    if (strcmp(what, "events") == 0) {
        if (job) return respond_events(connection, job, STREAM_JOB);
        json_t *stored = st_jobs_stored(s->jobs, id);
        if (!stored) return respond_error(connection, 404, "no such job", NULL, "job_not_found");
        char *text = json_dumps(stored, ST_JSON_FLAGS);
        json_decref(stored);
        st_strbuf body;
        st_strbuf_init(&body);
        st_strbuf_printf(&body, "event: done\ndata: %s\n\n", text ? text : "{}");
        free(text);
        if (st_strbuf_status(&body) != STENO_OK) {
            st_strbuf_free(&body);
            return respond_error(connection, 500, "out of memory", NULL, NULL);
        }
        return respond(connection, 200, st_strbuf_detach(&body), "text/event-stream");
    }
    if (strcmp(what, "result") == 0) {
        st_job_release(job); /* a result is read from the record: it is there once the job succeeded */
        st_request_fields fields;
        st_request_fields_init(&fields);
        const char *format = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "response_format");
        char message[256];
        if (format && st_request_field(&fields, "response_format", format, message, sizeof message)) {
            return respond_error(connection, 400, message, "response_format", NULL);
        }
        json_t *stored = st_jobs_stored(s->jobs, id);
        if (!stored) return respond_error(connection, 404, "no such job", NULL, "job_not_found");
        json_t *result = json_object_get(stored, "result");
        if (!result) {
            json_decref(stored);
            return respond_error(connection, 409, "the job has no result (yet)", NULL, "job_not_done");
        }
        if (fields.format == ST_RESPONSE_DIARIZED_JSON && !st_openai_has_speakers(result)) {
            json_decref(stored);
            return respond_error(connection, 400, "diarized_json needs a job submitted with diarize=true",
                                 "response_format", NULL);
        }
        const char *mime = "application/json";
        char *body = st_openai_render(result, fields.format, &mime);
        json_decref(stored);
        return respond(connection, 200, body, mime);
    }
    if (*what) {
        st_job_release(job);
        return respond_error(connection, 404, "no such endpoint", NULL, NULL);
    }
    if (job) {
        pthread_mutex_lock(&job->lock);
        json_t *json = st_job_json(job);
        pthread_mutex_unlock(&job->lock);
        st_job_release(job);
        return respond_json(connection, 200, json);
    }
    json_t *stored = st_jobs_stored(s->jobs, id);
    if (!stored) return respond_error(connection, 404, "no such job", NULL, "job_not_found");
    return respond_json(connection, 200, stored);
}

/* ---- dispatch ---- */

/* How much of a rejected body the server reads (and drops) so that the client gets its answer. */
static unsigned long long drain_limit(const st_server *s) {
    return 2ull * s->config.max_upload_bytes + (16ull << 20);
}

static route route_of(const char *method, const char *url) {
    if (strcmp(method, "POST") != 0) return ROUTE_OTHER;
    if (strcmp(url, "/v1/audio/transcriptions") == 0) return ROUTE_TRANSCRIPTIONS;
    if (strcmp(url, "/v1/audio/translations") == 0) return ROUTE_TRANSLATIONS;
    if (strcmp(url, "/v1/jobs") == 0) return ROUTE_JOBS_SUBMIT;
    return ROUTE_OTHER;
}

/* The first call for a request: its headers are in, its body is not.
 *
 * A request refused now (wrong key, body over the limit, not a form) is answered at once when
 * it has no body, when the client waits for a go-ahead (Expect: 100-continue, as curl sends) or
 * when the body is too large even to drain; otherwise its body is read and dropped first, since
 * most clients (OpenAI's among them) cannot read an answer while they are still sending. */
static enum MHD_Result begin_request(st_server *s, struct MHD_Connection *connection, const char *url,
                                     const char *method, request **out) {
    request *r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->server = s;
    r->upload_fd = -1;
    st_strbuf_init(&r->value);
    st_request_fields_init(&r->fields);
    r->route = route_of(method, url);
    *out = r;

    const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *chunked = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *expect = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    unsigned long long declared = length ? strtoull(length, NULL, 10) : 0;
    int has_body = declared > 0 || chunked;
    int waits = expect && strcasecmp(expect, "100-continue") == 0;

    int api = strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0;
    if (api && !authorized(s, connection)) {
        request_fail(r, 401, NULL, "invalid_api_key", "missing or wrong API key: send 'Authorization: Bearer KEY'");
    } else if (r->route != ROUTE_OTHER) {
        /* the limit allows for the form's other fields and framing */
        if (declared > s->config.max_upload_bytes + MAX_FORM_OVERHEAD) {
            request_fail(r, 413, "file", "file_too_large",
                         "the request is larger than this server's limit of %zu bytes", s->config.max_upload_bytes);
        } else {
            const char *type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            st_multipart_handler handler = {
                .on_part = on_part, .on_data = on_data, .on_part_end = on_part_end, .user = r};
            st_error err;
            st_error_clear(&err);
            if (st_multipart_create(type, &handler, &r->parser, &err) != STENO_OK) {
                request_fail(r, 400, NULL, "invalid_multipart", "%s", st_error_message(&err));
            }
        }
    }
    if (r->error_status && (!has_body || waits || declared > drain_limit(s))) return respond_failure(r, connection);
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **state) {
    (void)version;
    st_server *s = cls;
    request *r = *state;
    if (!r) return begin_request(s, connection, url, method, (request **)state);

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->body_bytes += n;
        /* a refused request, or a body nobody asked for: read on to answer, but not forever */
        if (r->error_status || !r->parser) return r->body_bytes > drain_limit(s) ? MHD_NO : MHD_YES;
        st_error err;
        st_error_clear(&err);
        if (st_multipart_feed(r->parser, upload_data, n, &err) != STENO_OK) {
            request_fail(r, 400, NULL, "invalid_multipart", "%s", st_error_message(&err));
        }
        return MHD_YES;
    }

    if (r->error_status) return respond_failure(r, connection);
    if (r->route != ROUTE_OTHER) return finish_upload(r, connection);
    if (strcmp(url, "/health") == 0 && strcmp(method, "GET") == 0) {
        int queued, running;
        st_jobs_counts(s->jobs, &queued, &running);
        return respond_json(connection, 200,
                            json_pack("{s:s, s:s, s:i, s:i, s:i, s:i}", "status", "ok", "version", steno_version(),
                                      "workers", s->config.workers, "running", running, "queued", queued,
                                      "models_loaded", st_model_cache_count(s->models)));
    }
    if (strcmp(url, "/v1/models") == 0 && strcmp(method, "GET") == 0) return list_models(s, connection);
    if (strcmp(url, "/v1/jobs") == 0 && strcmp(method, "GET") == 0) {
        return respond_json(connection, 200, st_jobs_list(s->jobs, 100));
    }
    if (strncmp(url, "/v1/jobs/", 9) == 0) return job_endpoint(s, connection, method, url + 9);
    if (strncmp(url, "/v1/", 4) == 0) {
        int known = strcmp(url, "/v1/audio/transcriptions") == 0 || strcmp(url, "/v1/audio/translations") == 0 ||
                    strcmp(url, "/v1/models") == 0 || strcmp(url, "/v1/jobs") == 0;
        return known ? respond_error(connection, 405, "method not allowed", NULL, NULL)
                     : respond_error(connection, 404, "no such endpoint", NULL, NULL);
    }
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        const unsigned char *data;
        size_t length;
        const char *mime;
        if (st_web_asset(url, &data, &length, &mime) == 0) {
            struct MHD_Response *response =
                MHD_create_response_from_buffer(length, (void *)data, MHD_RESPMEM_PERSISTENT);
            if (!response) return MHD_NO;
            MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, mime);
            enum MHD_Result result = MHD_queue_response(connection, 200, response);
            MHD_destroy_response(response);
            return result;
        }
    }
    return respond_error(connection, 404, "not found", NULL, NULL);
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **state,
                              enum MHD_RequestTerminationCode code) {
    (void)cls;
    (void)connection;
    (void)code;
    request_free(*state);
    *state = NULL;
}

/* ---- start and stop ---- */

/* Every second: unloads idle models; and, every quarter of the retention period (at least each
 * second, at most each minute), deletes the stored jobs past it. */
static void *janitor_main(void *user) {
    st_server *s = user;
    double retention = s->config.job_retention_seconds, every = retention / 4;
    every = every < 1 ? 1 : every > 60 ? 60 : every;
    time_t last_purge = 0;
    pthread_mutex_lock(&s->janitor_lock);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->janitor_wake, &s->janitor_lock, &until);
        if (s->stopping) break;
        st_model_cache_sweep(s->models, s->config.model_idle_seconds);
        if (retention > 0 && difftime(time(NULL), last_purge) >= every) {
            last_purge = time(NULL);
            int purged = st_jobs_purge(s->jobs, retention);
            if (purged > 0) fprintf(stderr, "steno serve: %d ended job(s) past the retention period deleted\n", purged);
        }
    }
    pthread_mutex_unlock(&s->janitor_lock);
    return NULL;
}

static char *copy_or_null(const char *text) {
    return text && *text ? strdup(text) : NULL;
}

static steno_status listen_on(st_server *s, st_error *err) {
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->config.port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)s->config.port)};
    const struct sockaddr *address = (const struct sockaddr *)&v4;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, s->host, &v4.sin_addr) != 1) {
        if (inet_pton(AF_INET6, s->host, &v6.sin6_addr) != 1) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "--host %s is not an IPv4 or IPv6 address", s->host);
        }
        address = (const struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    }
    s->daemon =
        MHD_start_daemon(flags, (uint16_t)s->config.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, address,
                         MHD_OPTION_CONNECTION_TIMEOUT, s->config.timeout_seconds, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)MAX_CONNECTIONS, MHD_OPTION_NOTIFY_COMPLETED, request_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        return st_error_set(err, STENO_ERR_IO, "cannot listen on %s port %d (in use, or not allowed)", s->host,
                            s->config.port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->config.port;
    return STENO_OK;
}

steno_status st_server_start(const st_server_config *config, st_server **out, st_error *err) {
    *out = NULL;
    st_server *s = calloc(1, sizeof *s);
    if (!s) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    s->config = *config;
    s->host = strdup(config->host ? config->host : "127.0.0.1");
    s->api_key = copy_or_null(config->api_key);
    s->db_path = strdup(config->db_path ? config->db_path : "steno-jobs.db");
    pthread_mutex_init(&s->janitor_lock, NULL);
    pthread_cond_init(&s->janitor_wake, NULL);
    steno_status status = s->host && s->db_path ? STENO_OK : st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    if (s->config.workers < 1) s->config.workers = 1;
    if (s->config.threads_per_job < 1) s->config.threads_per_job = 1;
    snprintf(s->default_model, sizeof s->default_model, "%s", config->default_model ? config->default_model : "");
    if (status == STENO_OK &&
        steno_model_resolve(s->default_model, s->default_model_path, sizeof s->default_model_path) != STENO_OK) {
        status = st_error_set(err, STENO_ERR_NOT_FOUND, "default model: %s", steno_context_error(NULL));
    }
    snprintf(s->spool, sizeof s->spool, "%s.uploads", s->db_path);
    if (status == STENO_OK && !(s->models = st_model_cache_create(s->config.threads_per_job))) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    if (status == STENO_OK) {
        st_jobs_config jobs = {.db_path = s->db_path,
                               .spool_dir = s->spool,
                               .workers = s->config.workers,
                               .queue_limit = s->config.queue_limit,
                               .models = s->models};
        status = st_jobs_open(&jobs, &s->jobs, err);
    }
    if (status == STENO_OK) status = listen_on(s, err);
    if (status == STENO_OK) {
        if (pthread_create(&s->janitor, NULL, janitor_main, s) == 0)
            s->janitor_running = 1;
        else
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "cannot start a thread");
    }
    if (status != STENO_OK) {
        st_server_stop(s);
        return status;
    }
    *out = s;
    return STENO_OK;
}

void st_server_stop(st_server *s) {
    if (!s) return;
    if (s->daemon) MHD_quiesce_daemon(s->daemon); /* no new connections */
    if (s->jobs) st_jobs_stop(s->jobs);           /* wakes every request waiting on a job */
    if (s->daemon) MHD_stop_daemon(s->daemon);    /* joins the connections' threads */
    if (s->janitor_running) { /* before the jobs it purges are freed */
        pthread_mutex_lock(&s->janitor_lock);
        s->stopping = 1;
        pthread_cond_signal(&s->janitor_wake);
        pthread_mutex_unlock(&s->janitor_lock);
        pthread_join(s->janitor, NULL);
    }
    st_jobs_free(s->jobs);
    st_model_cache_free(s->models);
    pthread_mutex_destroy(&s->janitor_lock);
    pthread_cond_destroy(&s->janitor_wake);
    free(s->host);
    free(s->api_key);
    free(s->db_path);
    free(s);
}
