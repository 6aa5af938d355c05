/*
 * jobs.h — transcription jobs: a bounded queue, a pool of workers, and their record in SQLite.
 *
 * Every transcription the server does is a job, whether the client waits for it
 * (/v1/audio/transcriptions and translations), streams it (stream=true) or polls it (/v1/jobs). Only /v1/jobs jobs are
 * stored: their request, status, progress and final result live in the database (WAL), their
 * upload in the spool folder until the job ends; an ended job is deleted after the server's
 * retention period (st_jobs_purge). A server that starts finds the jobs an earlier
 * one left queued or running: those whose upload is still on disk are queued again, the others
 * marked failed ("server restarted"). A finished result is written before the job reports
 * itself done, so no result a client was told about is ever lost.
 *
 * Workers take jobs in order; each gets a context of its own on the shared model (see
 * model_cache.h), so jobs run side by side with no lock around transcription. A job is
 * cancelled through a flag the transcription reads before each 30-second window.
 */
#ifndef ST_SERVER_JOBS_H
#define ST_SERVER_JOBS_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "server/model_cache.h"
#include "server/openai.h"
#include "util/error.h"

typedef enum st_job_state {
    ST_JOB_QUEUED,
    ST_JOB_RUNNING,
    ST_JOB_SUCCEEDED,
    ST_JOB_FAILED,
    ST_JOB_CANCELLED,
} st_job_state;

const char *st_job_state_name(st_job_state state);

typedef struct st_job {
    char id[40];
    int stored; /* a /v1/jobs job, kept in the database */
    st_request_fields fields;
    char model_path[4096]; /* resolved before the job is accepted */
    char upload[4096];     /* the spooled audio; removed when the job ends */
    int64_t created_at;    /* Unix seconds */

    /* everything below changes while the job runs: read and write it under lock */
    pthread_mutex_t lock;
    pthread_cond_t changed; /* broadcast on every change */
    int references;
    st_job_state state;
    double progress;   /* fraction of the audio done */
    json_t *segments;  /* verbose_json segments so far */
    json_t *result;    /* verbose_json, once succeeded */
    char error[512];   /* once failed */
    int error_status;  /* the HTTP status that error maps to */
    atomic_int cancel; /* set by DELETE or a client gone away */
    struct st_job *next_queued;
    struct st_job *next_live;
} st_job;

typedef struct st_jobs_config {
    const char *db_path;
    const char *spool_dir; /* uploads: created 0700 */
    int workers;
    int queue_limit; /* jobs waiting, beyond those running */
    st_model_cache *models;
} st_jobs_config;

typedef struct st_jobs st_jobs;

/* Opens (creating) the database, recovers what an earlier server left and starts the workers. */
steno_status st_jobs_open(const st_jobs_config *config, st_jobs **out, st_error *err);
/* Stops the workers: running jobs are stopped and, when stored, left queued for the next start;
 * clients waiting on unstored jobs are told the server is shutting down. Calls made after it
 * (by connections still closing) find the queue closed. */
void st_jobs_stop(st_jobs *jobs);
/* Frees what st_jobs_open made, once no connection uses it. */
void st_jobs_free(st_jobs *jobs);

/* A new job (one reference, the caller's) for fields and an upload already spooled. */
st_job *st_job_create(const st_request_fields *fields, const char *model_path, const char *upload, int stored);
void st_job_release(st_job *job);

/* Queues the job (taking a reference of its own). Fails with STENO_ERR_UNSUPPORTED when the
 * queue is full (the caller answers 503). Stored jobs are written to the database first. */
steno_status st_jobs_submit(st_jobs *jobs, st_job *job, st_error *err);

/* The live job with this id (a new reference), or NULL. */
st_job *st_jobs_find(st_jobs *jobs, const char *id);
/* The stored job as the API shows it (without its live parts), or NULL when there is none. */
json_t *st_jobs_stored(st_jobs *jobs, const char *id);
/* The stored jobs, newest first (at most limit). */
json_t *st_jobs_list(st_jobs *jobs, int limit);
/* Cancels a job: a queued one at once, a running one before its next window. Returns 0, or
 * 404 when there is no such job, 409 when it has already ended. */
int st_jobs_cancel(st_jobs *jobs, const char *id);

/* The job as the API shows it: id, status, progress, segments so far, result when done.
 * Call under job->lock. */
json_t *st_job_json(const st_job *job);

/* Deletes the stored jobs that ended more than retention_seconds ago, with any upload they left
 * (<= 0: keeps them forever). A job is never deleted before its full retention has passed since
 * it ended, nor while it is queued or running. Returns how many went, -1 on a database error. */
int st_jobs_purge(st_jobs *jobs, double retention_seconds);
/* Counts for /health. */
void st_jobs_counts(st_jobs *jobs, int *queued, int *running);

/* The spool folder, for the HTTP layer's uploads. */
const char *st_jobs_spool(const st_jobs *jobs);

#endif
