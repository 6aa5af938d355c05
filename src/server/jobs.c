/*
 * jobs.c — the job queue, its workers and the SQLite record of stored jobs; see jobs.h.
 *
 * Locks: jobs->lock guards the queue, the list of live stored jobs and the counters;
 * job->lock guards one job's changing parts; jobs->db_lock serialises the database connection.
 * No lock is held while a job transcribes. A worker never holds two of them at once except
 * jobs->lock then job->lock (never the other way round).
 */
#include "server/jobs.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct st_jobs {
    sqlite3 *db;
    pthread_mutex_t db_lock;
    char spool[4096];
    st_model_cache *models;

    pthread_mutex_t lock;
    pthread_cond_t work;
    st_job *queue_head, *queue_tail;
    int n_queued, n_running, queue_limit;
    st_job *live; /* stored jobs not yet ended, findable by id */
    atomic_int stopping;
    pthread_t *threads;
    int n_threads;
};

static const char *const state_names[] = {"queued", "running", "succeeded", "failed", "cancelled"};

const char *st_job_state_name(st_job_state state) {
    return state_names[state];
}

static st_job_state state_from_name(const char *name) {
    for (int i = 0; i < 5; i++) {
        if (name && strcmp(name, state_names[i]) == 0) return (st_job_state)i;
    }
    return ST_JOB_FAILED;
}

const char *st_jobs_spool(const st_jobs *jobs) {
    return jobs->spool;
}

/* ---- jobs ---- */

static void new_job_id(char *id, size_t size) {
    unsigned char bytes[12];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) { /* never on Linux ≥ 3.17 */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        for (size_t i = 0; i < sizeof bytes; i++)
            bytes[i] = (unsigned char)(now.tv_nsec >> (i % 4 * 8)) ^ (unsigned char)i;
    }
    int n = snprintf(id, size, "job_");
    for (size_t i = 0; i < sizeof bytes && (size_t)n + 2 < size; i++)
        n += snprintf(id + n, size - (size_t)n, "%02x", bytes[i]);
}

st_job *st_job_create(const st_request_fields *fields, const char *model_path, const char *upload, int stored) {
    st_job *job = calloc(1, sizeof *job);
    if (!job) return NULL;
    job->segments = json_array();
    if (!job->segments) {
        free(job);
        return NULL;
    }
    new_job_id(job->id, sizeof job->id);
    job->stored = stored;
    job->fields = *fields;
    snprintf(job->model_path, sizeof job->model_path, "%s", model_path);
    snprintf(job->upload, sizeof job->upload, "%s", upload);
    job->created_at = (int64_t)time(NULL);
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->changed, NULL);
    job->references = 1;
    job->state = ST_JOB_QUEUED;
    return job;
}

void st_job_release(st_job *job) {
    if (!job) return;
    pthread_mutex_lock(&job->lock);
    int last = --job->references == 0;
    pthread_mutex_unlock(&job->lock);
    if (!last) return;
    json_decref(job->segments);
    json_decref(job->result);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->changed);
    free(job);
}

static void job_retain(st_job *job) {
    pthread_mutex_lock(&job->lock);
    job->references++;
    pthread_mutex_unlock(&job->lock);
}

json_t *st_job_json(const st_job *job) {
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:I, s:f, s:s, s:s}", "id", job->id, "object", "transcription.job", "status",
                  st_job_state_name(job->state), "created_at", (json_int_t)job->created_at, "progress", job->progress,
                  "model", job->fields.model[0] ? job->fields.model : "default", "filename", job->fields.filename);
    if (!out) return NULL;
    if (job->state == ST_JOB_SUCCEEDED && job->result) {
        json_object_set(out, "result", job->result);
    } else {
        json_object_set_new(out, "segments", json_deep_copy(job->segments));
    }
    if (job->state == ST_JOB_FAILED) json_object_set_new(out, "error", json_pack("{s:s}", "message", job->error));
    return out;
}

/* ---- the database ---- */

static steno_status db_exec(st_jobs *jobs, const char *sql, st_error *err) {
    char *message = NULL;
    if (sqlite3_exec(jobs->db, sql, NULL, NULL, &message) != SQLITE_OK) {
        st_error_set(err, STENO_ERR_IO, "job database: %s", message ? message : "error");
        sqlite3_free(message);
        return STENO_ERR_IO;
    }
    return STENO_OK;
}

/* Runs one statement with text/number bindings: "t" text (NULL allowed), "d" double, "i" int64. */
static int db_run(st_jobs *jobs, const char *sql, const char *types, ...) {
    va_list args;
    va_start(args, types);
    pthread_mutex_lock(&jobs->db_lock);
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(jobs->db, sql, -1, &statement, NULL);
    for (int i = 0; rc == SQLITE_OK && types[i]; i++) {
        if (types[i] == 't') {
            const char *text = va_arg(args, const char *);
            rc = text ? sqlite3_bind_text(statement, i + 1, text, -1, SQLITE_TRANSIENT)
                      : sqlite3_bind_null(statement, i + 1);
        } else if (types[i] == 'd') {
            rc = sqlite3_bind_double(statement, i + 1, va_arg(args, double));
        } else {
            rc = sqlite3_bind_int64(statement, i + 1, va_arg(args, int64_t));
        }
    }
    if (rc == SQLITE_OK) rc = sqlite3_step(statement) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    if (rc != SQLITE_OK) fprintf(stderr, "steno serve: job database: %s\n", sqlite3_errmsg(jobs->db));
    sqlite3_finalize(statement);
    pthread_mutex_unlock(&jobs->db_lock);
    va_end(args);
    return rc == SQLITE_OK ? 0 : -1;
}

static int db_set_state(st_jobs *jobs, const st_job *job, st_job_state state, double progress, const char *error,
                        const char *result) {
    return db_run(jobs, "UPDATE jobs SET status=?1, progress=?2, error=?3, result=?4, updated_at=?5 WHERE id=?6",
                  "tdttit", st_job_state_name(state), progress, error, result, (int64_t)time(NULL), job->id);
}

static int db_insert(st_jobs *jobs, const st_job *job) {
    json_t *request = st_request_fields_to_json(&job->fields);
    char *text = request ? json_dumps(request, ST_JSON_FLAGS) : NULL;
    json_decref(request);
    if (!text) return -1;
    int rc = db_run(jobs,
                    "INSERT INTO jobs(id, status, created_at, updated_at, request, model_path, upload, progress)"
                    " VALUES(?1, 'queued', ?2, ?2, ?3, ?4, ?5, 0)",
                    "tittt", job->id, job->created_at, text, job->model_path, job->upload);
    free(text);
    return rc;
}

/* A stored job from its row: id, status, created_at, request, progress, error, result. */
static json_t *row_json(sqlite3_stmt *row, int with_result) {
    st_request_fields fields;
    json_t *request = json_loads((const char *)sqlite3_column_text(row, 3), 0, NULL);
    st_request_fields_from_json(request, &fields);
    json_decref(request);
    st_job_state state = state_from_name((const char *)sqlite3_column_text(row, 1));
    json_t *out = json_pack("{s:s, s:s, s:s, s:I, s:f, s:s, s:s}", "id", (const char *)sqlite3_column_text(row, 0),
                            "object", "transcription.job", "status", st_job_state_name(state), "created_at",
                            (json_int_t)sqlite3_column_int64(row, 2), "progress", sqlite3_column_double(row, 4),
                            "model", fields.model[0] ? fields.model : "default", "filename", fields.filename);
    if (!out) return NULL;
    const char *error = (const char *)sqlite3_column_text(row, 5);
    if (state == ST_JOB_FAILED) json_object_set_new(out, "error", json_pack("{s:s}", "message", error ? error : ""));
    const char *result = (const char *)sqlite3_column_text(row, 6);
    if (with_result && state == ST_JOB_SUCCEEDED && result) {
        json_t *parsed = json_loads(result, 0, NULL);
        if (parsed) json_object_set_new(out, "result", parsed);
    } else if (with_result) {
        json_object_set_new(out, "segments", json_array());
    }
    return out;
}

json_t *st_jobs_stored(st_jobs *jobs, const char *id) {
    json_t *out = NULL;
    pthread_mutex_lock(&jobs->db_lock);
    sqlite3_stmt *row;
    if (sqlite3_prepare_v2(jobs->db,
                           "SELECT id, status, created_at, request, progress, error, result FROM jobs WHERE id=?1", -1,
                           &row, NULL) == SQLITE_OK) {
        sqlite3_bind_text(row, 1, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(row) == SQLITE_ROW) out = row_json(row, 1);
        sqlite3_finalize(row);
    }
    pthread_mutex_unlock(&jobs->db_lock);
    return out;
}

json_t *st_jobs_list(st_jobs *jobs, int limit) {
    json_t *data = json_array();
    pthread_mutex_lock(&jobs->db_lock);
    sqlite3_stmt *row;
    if (data && sqlite3_prepare_v2(jobs->db,
                                   "SELECT id, status, created_at, request, progress, error, NULL FROM jobs"
                                   " ORDER BY created_at DESC, rowid DESC LIMIT ?1",
                                   -1, &row, NULL) == SQLITE_OK) {
        sqlite3_bind_int(row, 1, limit);
        while (sqlite3_step(row) == SQLITE_ROW)
            json_array_append_new(data, row_json(row, 0));
        sqlite3_finalize(row);
    }
    pthread_mutex_unlock(&jobs->db_lock);
    return data ? json_pack("{s:s, s:o}", "object", "list", "data", data) : NULL;
}

/* ---- running a job ---- */

typedef struct job_run {
    st_jobs *jobs;
    st_job *job;
} job_run;

static int on_segment(void *user, const steno_segment_info *segment) {
    st_job *job = ((job_run *)user)->job;
    json_t *json = st_openai_segment(segment);
    pthread_mutex_lock(&job->lock);
    if (json) json_array_append_new(job->segments, json);
    pthread_cond_broadcast(&job->changed);
    pthread_mutex_unlock(&job->lock);
    return 0;
}

static void on_progress(void *user, double done, double total) {
    job_run *run = user;
    st_job *job = run->job;
    double progress = total > 0 ? done / total : 1.0;
    if (progress > 1.0) progress = 1.0;
    pthread_mutex_lock(&job->lock);
    job->progress = progress;
    pthread_cond_broadcast(&job->changed);
    pthread_mutex_unlock(&job->lock);
    if (job->stored) db_run(run->jobs, "UPDATE jobs SET progress=?1 WHERE id=?2", "dt", progress, job->id);
}

static int should_stop(void *user) {
    job_run *run = user;
    return atomic_load(&run->job->cancel) || run->jobs->stopping;
}

static void job_end(st_job *job, st_job_state state, json_t *result, int http_status, const char *error) {
    pthread_mutex_lock(&job->lock);
    job->state = state;
    if (state == ST_JOB_SUCCEEDED) {
        job->result = result;
        job->progress = 1.0;
    }
    if (error) snprintf(job->error, sizeof job->error, "%s", error);
    job->error_status = http_status;
    pthread_cond_broadcast(&job->changed);
    pthread_mutex_unlock(&job->lock);
}

static int http_status_of(steno_status status) {
    switch (status) {
    case STENO_ERR_AUDIO:
    case STENO_ERR_FORMAT:
    case STENO_ERR_INVALID_ARGUMENT:
    case STENO_ERR_UNSUPPORTED:
        return 400;
    default:
        return 500;
    }
}

static void forget_live(st_jobs *jobs, st_job *job) {
    pthread_mutex_lock(&jobs->lock);
    for (st_job **link = &jobs->live; *link; link = &(*link)->next_live) {
        if (*link == job) {
            *link = job->next_live;
            break;
        }
    }
    pthread_mutex_unlock(&jobs->lock);
}

/* A message about the spooled file, with the file named as the client named it: the spool's
 * paths are the server's business. */
static void name_the_upload(char *out, size_t size, const char *message, const st_job *job) {
    const char *name = job->fields.filename[0] ? job->fields.filename : "upload";
    size_t n = 0, upload_length = strlen(job->upload);
    out[0] = '\0';
    while (*message && n + 1 < size) {
        if (upload_length && strncmp(message, job->upload, upload_length) == 0) {
            n += (size_t)snprintf(out + n, size - n, "%s", name);
            if (n >= size) break;
            message += upload_length;
        } else {
            out[n++] = *message++;
            out[n] = '\0';
        }
    }
}

static void run_job(st_jobs *jobs, st_job *job) {
    pthread_mutex_lock(&job->lock);
    int cancelled = atomic_load(&job->cancel);
    if (!cancelled) job->state = ST_JOB_RUNNING;
    pthread_cond_broadcast(&job->changed);
    pthread_mutex_unlock(&job->lock);

    char message[512] = "";
    steno_context *context = NULL;
    steno_result *result = NULL;
    int keep_upload = 0;
    /* cancelled between leaving the queue and starting: ends below as cancelled */
    steno_status status = STENO_ERR_CANCELLED;
    if (!cancelled) {
        if (job->stored) db_set_state(jobs, job, ST_JOB_RUNNING, 0.0, NULL, NULL);
        status = st_model_cache_acquire(jobs->models, job->model_path, st_request_hypotheses(&job->fields), &context,
                                        message, sizeof message);
    }
    if (!cancelled && status == STENO_OK) {
        job_run run = {jobs, job};
        steno_transcribe_params params = st_request_params(&job->fields);
        params.on_segment = on_segment;
        params.on_progress = on_progress;
        params.should_stop = should_stop;
        params.user = &run;
        status = steno_transcribe_file(context, job->upload, &params, &result);
        if (status != STENO_OK) name_the_upload(message, sizeof message, steno_context_error(context), job);
        st_model_cache_release(jobs->models, job->model_path, context);
    }

    if (status == STENO_OK) {
        json_t *verbose = st_openai_transcription(result, &job->fields);
        char *text = verbose ? json_dumps(verbose, ST_JSON_FLAGS) : NULL;
        /* the result is on disk before anyone is told the job succeeded */
        if (!text || (job->stored && db_set_state(jobs, job, ST_JOB_SUCCEEDED, 1.0, NULL, text) != 0)) {
            json_decref(verbose);
            const char *why = text ? "could not record the result" : "out of memory";
            if (job->stored) db_set_state(jobs, job, ST_JOB_FAILED, job->progress, why, NULL);
            job_end(job, ST_JOB_FAILED, NULL, 500, why);
        } else {
            job_end(job, ST_JOB_SUCCEEDED, verbose, 200, NULL);
        }
        free(text);
    } else if (status == STENO_ERR_CANCELLED && !atomic_load(&job->cancel)) {
        /* the server is stopping: a stored job runs again at the next start */
        if (job->stored) {
            db_set_state(jobs, job, ST_JOB_QUEUED, 0.0, NULL, NULL);
            keep_upload = 1;
        }
        job_end(job, ST_JOB_FAILED, NULL, 503, "the server is shutting down");
    } else if (status == STENO_ERR_CANCELLED) {
        if (job->stored) db_set_state(jobs, job, ST_JOB_CANCELLED, job->progress, "cancelled", NULL);
        job_end(job, ST_JOB_CANCELLED, NULL, 499, "cancelled");
    } else {
        if (job->stored) db_set_state(jobs, job, ST_JOB_FAILED, job->progress, message, NULL);
        job_end(job, ST_JOB_FAILED, NULL, http_status_of(status), message);
    }
    steno_result_free(result);
    if (!keep_upload) unlink(job->upload);
    if (job->stored) forget_live(jobs, job);
}

static void *worker_main(void *user) {
    st_jobs *jobs = user;
    for (;;) {
        pthread_mutex_lock(&jobs->lock);
        while (!jobs->stopping && !jobs->queue_head)
            pthread_cond_wait(&jobs->work, &jobs->lock);
        if (jobs->stopping) {
            pthread_mutex_unlock(&jobs->lock);
            return NULL;
        }
        st_job *job = jobs->queue_head;
        jobs->queue_head = job->next_queued;
        if (!jobs->queue_head) jobs->queue_tail = NULL;
        jobs->n_queued--;
        jobs->n_running++;
        pthread_mutex_unlock(&jobs->lock);
        run_job(jobs, job);
        pthread_mutex_lock(&jobs->lock);
        jobs->n_running--;
        pthread_mutex_unlock(&jobs->lock);
        st_job_release(job);
    }
}

/* ---- the queue ---- */

static void enqueue_locked(st_jobs *jobs, st_job *job) {
    job_retain(job);
    job->next_queued = NULL;
    if (jobs->queue_tail)
        jobs->queue_tail->next_queued = job;
    else
        jobs->queue_head = job;
    jobs->queue_tail = job;
    jobs->n_queued++;
    if (job->stored) {
        job->next_live = jobs->live;
        jobs->live = job;
    }
    pthread_cond_signal(&jobs->work);
}

steno_status st_jobs_submit(st_jobs *jobs, st_job *job, st_error *err) {
    pthread_mutex_lock(&jobs->lock);
    int full = jobs->n_queued >= jobs->queue_limit || jobs->stopping;
    pthread_mutex_unlock(&jobs->lock);
    if (full) return st_error_set(err, STENO_ERR_UNSUPPORTED, "the job queue is full; try again later");
    if (job->stored && db_insert(jobs, job) != 0) return st_error_set(err, STENO_ERR_IO, "could not record the job");
    pthread_mutex_lock(&jobs->lock);
    enqueue_locked(jobs, job);
    pthread_mutex_unlock(&jobs->lock);
    return STENO_OK;
}

st_job *st_jobs_find(st_jobs *jobs, const char *id) {
    pthread_mutex_lock(&jobs->lock);
    st_job *job = jobs->live;
    while (job && strcmp(job->id, id) != 0)
        job = job->next_live;
    if (job) job_retain(job);
    pthread_mutex_unlock(&jobs->lock);
    return job;
}

int st_jobs_cancel(st_jobs *jobs, const char *id) {
    pthread_mutex_lock(&jobs->lock);
    st_job *job = jobs->live;
    while (job && strcmp(job->id, id) != 0)
        job = job->next_live;
    if (!job) {
        pthread_mutex_unlock(&jobs->lock);
        json_t *stored = st_jobs_stored(jobs, id);
        json_decref(stored);
        return stored ? 409 : 404;
    }
    atomic_store(&job->cancel, 1);
    /* still waiting: take it out of the queue and record it now */
    int was_queued = 0;
    for (st_job **link = &jobs->queue_head, *previous = NULL; *link; previous = *link, link = &(*link)->next_queued) {
        if (*link == job) {
            *link = job->next_queued;
            if (jobs->queue_tail == job) jobs->queue_tail = previous;
            jobs->n_queued--;
            was_queued = 1;
            break;
        }
    }
    if (was_queued) {
        for (st_job **link = &jobs->live; *link; link = &(*link)->next_live) {
            if (*link == job) {
                *link = job->next_live;
                break;
            }
        }
    }
    pthread_mutex_unlock(&jobs->lock);
    if (was_queued) {
        db_set_state(jobs, job, ST_JOB_CANCELLED, 0.0, "cancelled", NULL);
        job_end(job, ST_JOB_CANCELLED, NULL, 499, "cancelled");
        unlink(job->upload);
        st_job_release(job); /* the queue's reference */
    }
    return 0;
}

void st_jobs_counts(st_jobs *jobs, int *queued, int *running) {
    pthread_mutex_lock(&jobs->lock);
    *queued = jobs->n_queued;
    *running = jobs->n_running;
    pthread_mutex_unlock(&jobs->lock);
}

/* ---- retention ---- */

int st_jobs_purge(st_jobs *jobs, double retention_seconds) {
    if (retention_seconds <= 0) return 0;
    /* whole seconds, rounded so that a job is never purged before its full retention: ended at
     * t (updated_at = floor(t)), it goes once floor(now) > floor(t) + ceil(retention) */
    int64_t cutoff = (int64_t)time(NULL) - (int64_t)ceil(retention_seconds);
    static const char ended[] = "status IN ('succeeded', 'failed', 'cancelled') AND updated_at < ?1";
    char sql[256];
    pthread_mutex_lock(&jobs->db_lock);
    sqlite3_stmt *row = NULL;
    snprintf(sql, sizeof sql, "SELECT upload FROM jobs WHERE %s", ended);
    if (sqlite3_prepare_v2(jobs->db, sql, -1, &row, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(row, 1, cutoff) == SQLITE_OK) {
        while (sqlite3_step(row) == SQLITE_ROW) { /* normally removed when the job ended */
            const char *upload = (const char *)sqlite3_column_text(row, 0);
            if (upload && *upload) unlink(upload);
        }
    }
    sqlite3_finalize(row);
    pthread_mutex_unlock(&jobs->db_lock);
    snprintf(sql, sizeof sql, "DELETE FROM jobs WHERE %s", ended);
    if (db_run(jobs, sql, "i", cutoff) != 0) return -1;
    pthread_mutex_lock(&jobs->db_lock);
    int purged = sqlite3_changes(jobs->db);
    pthread_mutex_unlock(&jobs->db_lock);
    return purged;
}

/* ---- start and stop ---- */

/* Uploads of requests that were being answered when an earlier server stopped: nobody waits
 * for them any more. Stored jobs' uploads ("job_…") are kept for recovery. */
static void clear_spool(const char *spool) {
    DIR *dir = opendir(spool);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (strncmp(entry->d_name, "upload-", 7) == 0) unlinkat(dirfd(dir), entry->d_name, 0);
    }
    closedir(dir);
}

/* Runs before the workers start: nothing else touches the queue or the database yet. */
static steno_status recover(st_jobs *jobs, st_error *err) {
    sqlite3_stmt *row;
    if (sqlite3_prepare_v2(jobs->db,
                           "SELECT id, created_at, request, model_path, upload FROM jobs"
                           " WHERE status IN ('queued', 'running') ORDER BY created_at, rowid",
                           -1, &row, NULL) != SQLITE_OK) {
        return st_error_set(err, STENO_ERR_IO, "job database: %s", sqlite3_errmsg(jobs->db));
    }
    int requeued = 0, failed = 0;
    while (sqlite3_step(row) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(row, 0);
        const char *upload = (const char *)sqlite3_column_text(row, 4);
        const char *model_path = (const char *)sqlite3_column_text(row, 3);
        st_job *job = NULL;
        if (upload && access(upload, R_OK) == 0) {
            st_request_fields fields;
            json_t *request = json_loads((const char *)sqlite3_column_text(row, 2), 0, NULL);
            st_request_fields_from_json(request, &fields);
            json_decref(request);
            job = st_job_create(&fields, model_path ? model_path : "", upload, 1);
        }
        if (job) {
            snprintf(job->id, sizeof job->id, "%s", id);
            job->created_at = sqlite3_column_int64(row, 1);
            enqueue_locked(jobs, job); /* recovered jobs are queued whatever the limit */
            st_job_release(job);
            requeued++;
        } else {
            st_job ghost = {0};
            snprintf(ghost.id, sizeof ghost.id, "%s", id);
            db_set_state(jobs, &ghost, ST_JOB_FAILED, 0.0, "server restarted and the job's upload is gone", NULL);
            failed++;
        }
    }
    sqlite3_finalize(row);
    for (st_job *job = jobs->queue_head; job; job = job->next_queued) {
        db_set_state(jobs, job, ST_JOB_QUEUED, 0.0, NULL, NULL);
    }
    if (requeued || failed) {
        fprintf(stderr, "steno serve: %d unfinished job(s) queued again, %d marked failed (upload gone)\n", requeued,
                failed);
    }
    return STENO_OK;
}

steno_status st_jobs_open(const st_jobs_config *config, st_jobs **out, st_error *err) {
    *out = NULL;
    st_jobs *jobs = calloc(1, sizeof *jobs);
    if (!jobs) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_mutex_init(&jobs->db_lock, NULL);
    pthread_cond_init(&jobs->work, NULL);
    jobs->models = config->models;
    jobs->queue_limit = config->queue_limit > 0 ? config->queue_limit : 1;
    snprintf(jobs->spool, sizeof jobs->spool, "%s", config->spool_dir);
    steno_status status = STENO_OK;
    if (mkdir(jobs->spool, 0700) != 0 && errno != EEXIST) {
        status =
            st_error_set(err, STENO_ERR_IO, "cannot create the upload folder %s: %s", jobs->spool, strerror(errno));
    }
    if (status == STENO_OK &&
        sqlite3_open_v2(config->db_path, &jobs->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        status = st_error_set(err, STENO_ERR_IO, "cannot open the job database %s: %s", config->db_path,
                              jobs->db ? sqlite3_errmsg(jobs->db) : "out of memory");
    }
    if (status == STENO_OK) sqlite3_busy_timeout(jobs->db, 5000);
    /* WAL: readers never wait for the writer; synchronous=FULL: a committed result survives a
     * power cut, not only a killed process */
    if (status == STENO_OK) status = db_exec(jobs, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err);
    if (status == STENO_OK) {
        status = db_exec(jobs,
                         "CREATE TABLE IF NOT EXISTS jobs(id TEXT PRIMARY KEY, status TEXT NOT NULL,"
                         " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, request TEXT NOT NULL,"
                         " model_path TEXT NOT NULL, upload TEXT, progress REAL NOT NULL DEFAULT 0, error TEXT,"
                         " result TEXT)",
                         err);
    }
    if (status == STENO_OK) {
        clear_spool(jobs->spool);
        status = recover(jobs, err);
    }
    if (status == STENO_OK) {
        int n = config->workers > 0 ? config->workers : 1;
        jobs->threads = calloc((size_t)n, sizeof *jobs->threads);
        if (!jobs->threads) status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
        for (int i = 0; status == STENO_OK && i < n; i++) {
            if (pthread_create(&jobs->threads[i], NULL, worker_main, jobs) != 0) {
                status = st_error_set(err, STENO_ERR_NO_MEMORY, "cannot start a worker thread");
            } else {
                jobs->n_threads++;
            }
        }
    }
    if (status != STENO_OK) {
        st_jobs_stop(jobs);
        st_jobs_free(jobs);
        return status;
    }
    *out = jobs;
    return STENO_OK;
}

void st_jobs_stop(st_jobs *jobs) {
    pthread_mutex_lock(&jobs->lock);
    if (jobs->stopping) {
        pthread_mutex_unlock(&jobs->lock);
        return;
    }
    jobs->stopping = 1;
    pthread_cond_broadcast(&jobs->work);
    pthread_mutex_unlock(&jobs->lock);
    for (int i = 0; i < jobs->n_threads; i++)
        pthread_join(jobs->threads[i], NULL);
    free(jobs->threads);
    jobs->threads = NULL;
    jobs->n_threads = 0;
    pthread_mutex_lock(&jobs->lock);
    /* jobs still queued: stored ones stay queued in the database for the next start; clients
     * waiting on the others are told the server is going away */
    for (st_job *job = jobs->queue_head, *next; job; job = next) {
        next = job->next_queued;
        job_end(job, ST_JOB_FAILED, NULL, 503, "the server is shutting down");
        if (!job->stored) unlink(job->upload);
        st_job_release(job);
    }
    jobs->queue_head = jobs->queue_tail = NULL;
    jobs->n_queued = 0;
    jobs->live = NULL;
    pthread_mutex_unlock(&jobs->lock);
}

void st_jobs_free(st_jobs *jobs) {
    if (!jobs) return;
    if (jobs->db) sqlite3_close(jobs->db);
    pthread_mutex_destroy(&jobs->lock);
    pthread_mutex_destroy(&jobs->db_lock);
    pthread_cond_destroy(&jobs->work);
    free(jobs);
}
