/*
 * model_cache.h — the models a server has loaded, shared between its requests.
 *
 * Each model is loaded once (keyed by its resolved path) into a base context; every job gets
 * its own context sharing those weights (steno_context_share), so jobs on one model run at the
 * same time without a lock around transcription. A model nobody has used for idle_seconds is
 * unloaded by st_model_cache_sweep.
 */
#ifndef ST_SERVER_MODEL_CACHE_H
#define ST_SERVER_MODEL_CACHE_H

#include "steno.h"

typedef struct st_model_cache st_model_cache;

st_model_cache *st_model_cache_create(int n_threads);
void st_model_cache_free(st_model_cache *cache);

/* A context of its own on the model at path (loaded now unless it is already), able to run
 * max_hypotheses hypotheses. On failure the message is written into message. */
steno_status st_model_cache_acquire(st_model_cache *cache, const char *path, int max_hypotheses,
                                    steno_context **context, char *message, size_t size);
/* Gives back a context from st_model_cache_acquire. */
void st_model_cache_release(st_model_cache *cache, const char *path, steno_context *context);
/* Unloads the models idle for at least idle_seconds; returns how many remain loaded. */
int st_model_cache_sweep(st_model_cache *cache, double idle_seconds);
/* How many models are loaded now. */
int st_model_cache_count(st_model_cache *cache);

#endif
