/*
 * model_cache.c — loaded models shared between a server's jobs; see model_cache.h.
 *
 * Loading happens under the cache's lock, so two requests for one cold model load it once
 * (the second waits); sharing, transcribing and releasing take the lock only to count users.
 */
#include "server/model_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct cached_model {
    char *path;
    steno_context *base; /* holds the weights; never transcribes */
    int users;
    struct timespec last_used;
    struct cached_model *next;
} cached_model;

struct st_model_cache {
    pthread_mutex_t lock;
    cached_model *models;
    int n_threads;
};

static double seconds_since(const struct timespec *then) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - then->tv_sec) + (double)(now.tv_nsec - then->tv_nsec) * 1e-9;
}

st_model_cache *st_model_cache_create(int n_threads) {
    st_model_cache *cache = calloc(1, sizeof *cache);
    if (!cache) return NULL;
    pthread_mutex_init(&cache->lock, NULL);
    cache->n_threads = n_threads < 1 ? 1 : n_threads;
    return cache;
}

static void free_model(cached_model *m) {
    steno_context_free(m->base);
    free(m->path);
    free(m);
}

void st_model_cache_free(st_model_cache *cache) {
    if (!cache) return;
    for (cached_model *m = cache->models, *next; m; m = next) {
        next = m->next;
        free_model(m);
    }
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

steno_status st_model_cache_acquire(st_model_cache *cache, const char *path, int max_hypotheses,
                                    steno_context **context, char *message, size_t size) {
    *context = NULL;
    pthread_mutex_lock(&cache->lock);
    cached_model *m = cache->models;
    while (m && strcmp(m->path, path) != 0)
        m = m->next;
    if (!m) {
        steno_context_params params = steno_context_default_params();
        params.n_threads = cache->n_threads;
        params.max_hypotheses = 1; /* the jobs' own contexts carry their beams */
        m = calloc(1, sizeof *m);
        steno_status status = m ? STENO_OK : STENO_ERR_NO_MEMORY;
        if (m && !(m->path = strdup(path))) status = STENO_ERR_NO_MEMORY;
        if (status == STENO_OK) status = steno_context_open(path, &params, &m->base);
        if (status != STENO_OK) {
            snprintf(message, size, "%s", status == STENO_ERR_NO_MEMORY ? "out of memory" : steno_context_error(NULL));
            if (m) free_model(m);
            pthread_mutex_unlock(&cache->lock);
            return status;
        }
        m->next = cache->models;
        cache->models = m;
    }
    m->users++;
    clock_gettime(CLOCK_MONOTONIC, &m->last_used);
    steno_context *base = m->base;
    pthread_mutex_unlock(&cache->lock);

    steno_context_params params = steno_context_default_params();
    params.n_threads = cache->n_threads;
    params.max_hypotheses = max_hypotheses;
    steno_status status = steno_context_share(base, &params, context);
    if (status != STENO_OK) {
        snprintf(message, size, "%s", steno_context_error(NULL));
        st_model_cache_release(cache, path, NULL);
    }
    return status;
}

void st_model_cache_release(st_model_cache *cache, const char *path, steno_context *context) {
    steno_context_free(context);
    pthread_mutex_lock(&cache->lock);
    for (cached_model *m = cache->models; m; m = m->next) {
        if (strcmp(m->path, path) == 0) {
            m->users--;
            clock_gettime(CLOCK_MONOTONIC, &m->last_used);
            break;
        }
    }
    pthread_mutex_unlock(&cache->lock);
}

int st_model_cache_sweep(st_model_cache *cache, double idle_seconds) {
    int remaining = 0;
    pthread_mutex_lock(&cache->lock);
    for (cached_model **link = &cache->models; *link;) {
        cached_model *m = *link;
        if (m->users == 0 && seconds_since(&m->last_used) >= idle_seconds) {
            *link = m->next;
            free_model(m);
        } else {
            link = &m->next;
            remaining++;
        }
    }
    pthread_mutex_unlock(&cache->lock);
    return remaining;
}

int st_model_cache_count(st_model_cache *cache) {
    int n = 0;
    pthread_mutex_lock(&cache->lock);
    for (const cached_model *m = cache->models; m; m = m->next)
        n++;
    pthread_mutex_unlock(&cache->lock);
    return n;
}
