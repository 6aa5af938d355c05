/*
 * server.h — `steno serve`: an OpenAI-compatible HTTP API over libmicrohttpd, with long jobs
 * kept in SQLite and the web page at `/`.
 *
 *   GET    /health                      liveness, queue and worker counts
 *   GET    /v1/models                   the store's Whisper models (OpenAI's list shape)
 *   POST   /v1/audio/transcriptions     OpenAI's multipart request; the answer when done,
 *   POST   /v1/audio/translations       or server-sent events with stream=true
 *   POST   /v1/jobs                     the same fields; answers {id, status} at once
 *   GET    /v1/jobs                     stored jobs, newest first
 *   GET    /v1/jobs/{id}                status, progress, segments so far, result when done
 *   GET    /v1/jobs/{id}/events         server-sent events: progress, segment, done
 *   GET    /v1/jobs/{id}/result         the result in any response_format (?response_format=srt)
 *   DELETE /v1/jobs/{id}                cancels
 *   GET    anything else                the web page's files (web_assets.h)
 *
 * Errors are OpenAI's shape, {"error":{"message","type","param","code"}}, with a 4xx status
 * for anything the client sent wrong. The README's section "The server" documents the fields.
 */
#ifndef ST_SERVER_SERVER_H
#define ST_SERVER_SERVER_H

#include <stddef.h>

#include "util/error.h"

typedef struct st_server_config {
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* 0: any free port (st_server_port says which) */
    const char *api_key;       /* NULL: no authentication */
    size_t max_upload_bytes;   /* default 25 MB, OpenAI's limit */
    int workers;               /* jobs transcribed at once */
    int queue_limit;           /* jobs waiting beyond those */
    int threads_per_job;       /* CPU threads each job's kernels use */
    const char *db_path;       /* the job database; uploads are spooled beside it */
    const char *default_model; /* what "whisper-1" or no model means: a name or a path */
    unsigned timeout_seconds;  /* idle connection timeout */
    double model_idle_seconds; /* unload a model unused this long */
    double job_retention_seconds; /* delete stored jobs this long after they end (default a week; 0: never) */
} st_server_config;

st_server_config st_server_default_config(void);

typedef struct st_server st_server;

steno_status st_server_start(const st_server_config *config, st_server **out, st_error *err);
int st_server_port(const st_server *server);
void st_server_stop(st_server *server);

#endif
