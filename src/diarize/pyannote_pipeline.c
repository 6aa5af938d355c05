/*
 * pyannote_pipeline.c — pyannote 3.1's diarization recipe (see pyannote_pipeline.h).
 *
 * Frame arithmetic follows pyannote.core's SlidingWindow in double precision: output frame i
 * spans [i step, i step + duration) with step 270/16000 s and duration 991/16000 s (PyanNet's
 * receptive field), and a time t falls on frame rint((t - duration/2) / step). The speaker
 * count is averaged in float32, as pyannote's aggregation buffers are, before rounding.
 */
#include "diarize/pyannote_pipeline.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diarize/cluster.h"
#include "diarize/pyannote_seg.h"
#include "diarize/wespeaker.h"
#include "models/hf_cache.h"
#include "models/loader.h"

#define SAMPLE_RATE 16000
#define CHUNK_SAMPLES ST_PYANNOTE_SEG_CHUNK_SAMPLES
#define STEP_SAMPLES (SAMPLE_RATE * 1) /* pyannote 3.1: segmentation step 0.1 x 10 s */
#define CHUNK_SECONDS 10.0
#define STEP_SECONDS 1.0
#define FRAME_DURATION (991.0 / SAMPLE_RATE)
#define FRAME_STEP (270.0 / SAMPLE_RATE)
#define LOCAL_SPEAKERS ST_PYANNOTE_SEG_SPEAKERS
#define MIN_ACTIVE_RATIO 0.2
#define MIN_EMBEDDING_SAMPLES 400 /* WeSpeaker needs one fbank frame */
#define MAX_CONFIG_BYTES (1 << 20)

struct st_pyannote {
    st_pyannote_config config;
    st_pyannote_seg *segmentation;
    st_wespeaker *embedding;
};

/* ---- config.yaml ---------------------------------------------------------------------------- */

/* The subset of YAML a pipeline config uses: nested "key: value" mappings by indentation,
 * scalars plain or quoted, comments. Each scalar is reported with its dotted path. */
#define YAML_DEPTH 8
#define YAML_KEY 64

static int config_path_is(const char path[YAML_DEPTH][YAML_KEY], int depth, const char *dotted) {
    char joined[YAML_DEPTH * YAML_KEY] = "";
    for (int i = 0; i < depth; i++) {
        if (i) strcat(joined, ".");
        strcat(joined, path[i]);
    }
    return strcmp(joined, dotted) == 0;
}

static steno_status parse_number(const char *value, const char *name, const char *key, double low, double high,
                                 double *out, st_error *err) {
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end || !(v >= low && v <= high)) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: %s is '%.40s', not a number in [%g, %g]", name, key, value, low,
                            high);
    }
    *out = v;
    return STENO_OK;
}

static steno_status config_value(st_pyannote_config *c, const char path[YAML_DEPTH][YAML_KEY], int depth,
                                 const char *value, const char *name, int *seen, st_error *err) {
    double number;
    steno_status status = STENO_OK;
    if (config_path_is(path, depth, "pipeline.name")) {
        if (!strstr(value, "SpeakerDiarization")) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: pipeline '%.80s' is not pyannote's SpeakerDiarization",
                                name, value);
        }
        *seen |= 1;
    } else if (config_path_is(path, depth, "pipeline.params.segmentation")) {
        snprintf(c->segmentation, sizeof c->segmentation, "%s", value);
        *seen |= 2;
    } else if (config_path_is(path, depth, "pipeline.params.embedding")) {
        snprintf(c->embedding, sizeof c->embedding, "%s", value);
        *seen |= 4;
    } else if (config_path_is(path, depth, "pipeline.params.embedding_exclude_overlap")) {
        c->exclude_overlap = !strcmp(value, "true") || !strcmp(value, "True");
    } else if (config_path_is(path, depth, "params.clustering.method")) {
        if (strcmp(value, "centroid") != 0) {
            return st_error_set(err, STENO_ERR_UNSUPPORTED, "%s: clustering method '%.40s' (steno runs 'centroid')",
                                name, value);
        }
    } else if (config_path_is(path, depth, "params.clustering.threshold")) {
        status = parse_number(value, name, "clustering threshold", 0.0, 2.0, &c->threshold, err);
        *seen |= 8;
    } else if (config_path_is(path, depth, "params.clustering.min_cluster_size")) {
        status = parse_number(value, name, "min_cluster_size", 1, 1e6, &number, err);
        c->min_cluster_size = (int)number;
        *seen |= 16;
    } else if (config_path_is(path, depth, "params.segmentation.min_duration_off")) {
        status = parse_number(value, name, "min_duration_off", 0.0, 3600.0, &c->min_duration_off, err);
    }
    return status;
}

steno_status st_pyannote_config_parse(const char *text, size_t size, const char *name, st_pyannote_config *out,
                                      st_error *err) {
    memset(out, 0, sizeof *out);
    char path[YAML_DEPTH][YAML_KEY];
    int indents[YAML_DEPTH], depth = 0, seen = 0, line_number = 0;
    size_t at = 0;
    while (at < size) {
        size_t end = at;
        while (end < size && text[end] != '\n')
            end++;
        char line[1024];
        line_number++;
        size_t length = end - at;
        if (length >= sizeof line) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s: line %d is too long", name, line_number);
        }
        memcpy(line, text + at, length);
        line[length] = '\0';
        at = end + 1;
        if (memchr(line, '\0', length))
            return st_error_set(err, STENO_ERR_FORMAT, "%s: line %d holds a NUL", name, line_number);
        char *hash = strchr(line, '#'); /* no quoted '#' in a pipeline config */
        if (hash) *hash = '\0';
        int indent = 0;
        while (line[indent] == ' ')
            indent++;
        char *key = line + indent;
        size_t key_length = strlen(key);
        while (key_length && isspace((unsigned char)key[key_length - 1]))
            key[--key_length] = '\0';
        if (!key_length || !strcmp(key, "---")) continue;
        if (*key == '\t')
            return st_error_set(err, STENO_ERR_FORMAT, "%s: line %d is indented by a tab", name, line_number);
        char *colon = strchr(key, ':');
        if (!colon || *key == '-') continue; /* list items and other forms: nothing steno reads */
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ')
            value++;
        size_t value_length = strlen(value);
        if (value_length >= 2 && (value[0] == '"' || value[0] == '\'') && value[value_length - 1] == value[0]) {
            value[value_length - 1] = '\0';
            value++;
        }
        while (depth > 0 && indents[depth - 1] >= indent)
            depth--;
        if (depth == YAML_DEPTH || strlen(key) >= YAML_KEY) continue; /* deeper than anything steno reads */
        snprintf(path[depth], YAML_KEY, "%s", key);
        indents[depth] = indent;
        if (*value) {
            steno_status status = config_value(out, path, depth + 1, value, name, &seen, err);
            if (status != STENO_OK) return status;
        } else {
            depth++;
        }
    }
    static const char *const required[5] = {"pipeline.name", "pipeline.params.segmentation",
                                            "pipeline.params.embedding", "params.clustering.threshold",
                                            "params.clustering.min_cluster_size"};
    for (int i = 0; i < 5; i++) {
        if (!(seen & (1 << i))) return st_error_set(err, STENO_ERR_FORMAT, "%s: no %s", name, required[i]);
    }
    return STENO_OK;
}

/* ---- opening -------------------------------------------------------------------------------- */

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The folder holding config.yaml, and the hub it sits in ("" when it is not in a cache). */
static steno_status locate(const char *path, char *folder, size_t size, char *hub, size_t hub_size, st_error *err) {
    hub[0] = '\0';
    char repo[4096] = "", snapshot[4096];
    snprintf(repo, sizeof repo, "%s/models--%s", path, "pyannote--speaker-diarization-3.1");
    if (is_dir(repo)) { /* a hub */
        snprintf(hub, hub_size, "%s", path);
        steno_status status = st_model_resolve_cache(repo, snapshot, sizeof snapshot, err);
        if (status != STENO_OK) return status;
        snprintf(folder, size, "%s", snapshot);
        return STENO_OK;
    }
    if (!is_dir(path)) return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no such folder", path);
    steno_status status = st_model_resolve_cache(path, snapshot, sizeof snapshot, err);
    if (status != STENO_OK) return status;
    snprintf(folder, size, "%s", snapshot[0] ? snapshot : path);
    if (snapshot[0] || st_hf_cache_snapshot_repo(path, repo, sizeof repo)) {
        /* the hub is the repository folder's parent */
        const char *repo_dir = snapshot[0] ? path : repo;
        snprintf(hub, hub_size, "%s", repo_dir);
        char *slash = strrchr(hub, '/');
        while (slash && slash[1] == '\0' && slash > hub) { /* a trailing slash */
            *slash = '\0';
            slash = strrchr(hub, '/');
        }
        if (slash)
            *slash = '\0';
        else
            snprintf(hub, hub_size, ".");
    }
    return STENO_OK;
}

/* A net the config names: a path (absolute, or relative to the config's folder) when one
 * exists, otherwise a repository id in the hub. */
static steno_status resolve_net(const char *value, const char *folder, const char *hub, char *out, size_t size,
                                st_error *err) {
    if (value[0] == '/' && exists(value)) {
        snprintf(out, size, "%s", value);
        return STENO_OK;
    }
    snprintf(out, size, "%s/%s", folder, value);
    if (exists(out)) return STENO_OK;
    if (!hub[0]) {
        return st_error_set(err, STENO_ERR_NOT_FOUND,
                            "%s: the config names '%s', which is no file here, and the folder is in no Hugging Face "
                            "cache to look it up in",
                            folder, value);
    }
    return st_hf_cache_find(hub, value, out, size, err);
}

/* Reads and parses config.yaml in folder into config. */
static steno_status read_config(const char *folder, st_pyannote_config *config, st_error *err) {
    char file[4200];
    snprintf(file, sizeof file, "%s/config.yaml", folder);
    FILE *f = fopen(file, "rb");
    if (!f)
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no config.yaml (a pyannote pipeline folder has one)",
                            folder);
    char *text = malloc(MAX_CONFIG_BYTES);
    size_t n = text ? fread(text, 1, MAX_CONFIG_BYTES, f) : 0;
    fclose(f);
    steno_status status;
    if (!text)
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", file);
    else if (n == MAX_CONFIG_BYTES)
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: larger than 1 MiB", file);
    else
        status = st_pyannote_config_parse(text, n, file, config, err);
    free(text);
    return status;
}

steno_status st_pyannote_locate(const char *path, st_pyannote_files *out, st_error *err) {
    memset(out, 0, sizeof *out);
    char hub[4096];
    steno_status status = locate(path, out->folder, sizeof out->folder, hub, sizeof hub, err);
    if (status == STENO_OK) status = read_config(out->folder, &out->config, err);
    if (status == STENO_OK) {
        status = resolve_net(out->config.segmentation, out->folder, hub, out->segmentation, sizeof out->segmentation,
                             err);
    }
    if (status == STENO_OK) {
        status = resolve_net(out->config.embedding, out->folder, hub, out->embedding, sizeof out->embedding, err);
    }
    return status;
}

steno_status st_pyannote_open(const char *path, st_pyannote **out, st_error *err) {
    *out = NULL;
    st_pyannote_files *files = malloc(sizeof *files);
    st_pyannote *p = calloc(1, sizeof *p);
    steno_status status = STENO_OK;
    if (!files || !p) status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    if (status == STENO_OK) status = st_pyannote_locate(path, files, err);
    if (status == STENO_OK) {
        p->config = files->config;
        status = st_pyannote_seg_load(files->segmentation, &p->segmentation, err);
    }
    if (status == STENO_OK) status = st_wespeaker_load(files->embedding, &p->embedding, err);
    free(files);
    if (status != STENO_OK) {
        st_pyannote_close(p);
        return status;
    }
    *out = p;
    return STENO_OK;
}

void st_pyannote_close(st_pyannote *p) {
    if (!p) return;
    st_pyannote_seg_free(p->segmentation);
    st_wespeaker_free(p->embedding);
    free(p);
}

const st_pyannote_config *st_pyannote_get_config(const st_pyannote *p) {
    return &p->config;
}

/* ---- the recipe ----------------------------------------------------------------------------- */

static int closest_frame(double t) {
    return (int)rint((t - 0.5 * FRAME_DURATION) / FRAME_STEP);
}

typedef struct run_state {
    int n_chunks, n_frames, total;
    float *binarized;  /* [chunk][frame][local speaker] 0/1 */
    float *embeddings; /* [chunk][local speaker][256], NaN when none */
    int *count;        /* [total] */
    int *hard;         /* [chunk][local speaker]: cluster, -2 inactive */
    int *starts;       /* [chunk]: first output frame */
} run_state;

static void free_state(run_state *s) {
    free(s->binarized);
    free(s->embeddings);
    free(s->count);
    free(s->hard);
    free(s->starts);
}

/* Chunk c's samples, zero-padded to 10 s, into chunk. */
static void chunk_samples(const float *samples, size_t n_samples, int c, float *chunk) {
    size_t start = (size_t)c * STEP_SAMPLES;
    size_t available = n_samples > start ? n_samples - start : 0;
    if (available > CHUNK_SAMPLES) available = CHUNK_SAMPLES;
    memcpy(chunk, samples + start, sizeof(float) * available);
    memset(chunk + available, 0, sizeof(float) * (CHUNK_SAMPLES - available));
}

static steno_status segment(st_pyannote *p, const float *samples, size_t n_samples, run_state *s, float *chunk,
                            st_error *err) {
    float *log_probs = malloc(sizeof(float) * (size_t)s->n_frames * ST_PYANNOTE_SEG_CLASSES);
    if (!log_probs) return st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory");
    steno_status status = STENO_OK;
    for (int c = 0; c < s->n_chunks && status == STENO_OK; c++) {
        chunk_samples(samples, n_samples, c, chunk);
        status = st_pyannote_seg_run(p->segmentation, chunk, CHUNK_SAMPLES, log_probs, err);
        if (status == STENO_OK) {
            st_pyannote_powerset_to_multilabel(log_probs, s->n_frames,
                                               s->binarized + (size_t)c * s->n_frames * LOCAL_SPEAKERS);
        }
    }
    free(log_probs);
    return status;
}

/* The instantaneous speaker count per output frame; returns its maximum. */
static int speaker_count(run_state *s) {
    float *summed = calloc((size_t)s->total, sizeof(float)), *covered = calloc((size_t)s->total, sizeof(float));
    int top = 0;
    if (!summed || !covered) {
        free(summed);
        free(covered);
        return -1;
    }
    for (int c = 0; c < s->n_chunks; c++) {
        const float *b = s->binarized + (size_t)c * s->n_frames * LOCAL_SPEAKERS;
        for (int f = 0; f < s->n_frames; f++) {
            int t = s->starts[c] + f;
            summed[t] += b[f * LOCAL_SPEAKERS] + b[f * LOCAL_SPEAKERS + 1] + b[f * LOCAL_SPEAKERS + 2];
            covered[t] += 1.0f;
        }
    }
    for (int t = 0; t < s->total; t++) {
        s->count[t] = (int)rintf(summed[t] / (covered[t] > 1e-12f ? covered[t] : 1e-12f));
        top = s->count[t] > top ? s->count[t] : top;
    }
    free(summed);
    free(covered);
    return top;
}

static steno_status embed(st_pyannote *p, const float *samples, size_t n_samples, run_state *s, float *chunk,
                          st_error *err) {
    int min_frames = (int)ceil((double)s->n_frames * MIN_EMBEDDING_SAMPLES / CHUNK_SAMPLES);
    float *masks = malloc(sizeof(float) * (size_t)LOCAL_SPEAKERS * s->n_frames);
    if (!masks) return st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory");
    steno_status status = STENO_OK;
    for (int c = 0; c < s->n_chunks && status == STENO_OK; c++) {
        const float *b = s->binarized + (size_t)c * s->n_frames * LOCAL_SPEAKERS;
        int active = 0;
        for (int i = 0; i < s->n_frames * LOCAL_SPEAKERS && !active; i++)
            active = b[i] != 0;
        if (!active) continue; /* nobody speaks: every embedding would be NaN (all-zero weights) */
        for (int k = 0; k < LOCAL_SPEAKERS; k++) {
            float *mask = masks + (size_t)k * s->n_frames;
            double clean = 0;
            for (int f = 0; f < s->n_frames; f++) {
                const float *m = b + f * LOCAL_SPEAKERS;
                int alone = !p->config.exclude_overlap || m[0] + m[1] + m[2] < 2;
                mask[f] = alone ? m[k] : 0.0f;
                clean += mask[f];
            }
            if (clean <= min_frames) { /* too little clean speech: every frame of the speaker */
                for (int f = 0; f < s->n_frames; f++)
                    mask[f] = b[f * LOCAL_SPEAKERS + k];
            }
        }
        chunk_samples(samples, n_samples, c, chunk);
        status = st_wespeaker_embed(p->embedding, chunk, CHUNK_SAMPLES, masks, s->n_frames, LOCAL_SPEAKERS,
                                    s->embeddings + (size_t)c * LOCAL_SPEAKERS * ST_WESPEAKER_DIM, err);
    }
    free(masks);
    return status;
}

static steno_status cluster(st_pyannote *p, const st_pyannote_options *o, run_state *s, st_error *err) {
    int n = s->n_chunks * LOCAL_SPEAKERS, n_train = 0;
    int *train = malloc(sizeof(int) * (size_t)n), *labels = malloc(sizeof(int) * (size_t)n);
    float *vectors = malloc(sizeof(float) * (size_t)n * ST_WESPEAKER_DIM);
    float *centroids = NULL;
    steno_status status = STENO_OK;
    if (!train || !labels || !vectors) status = st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory");
    /* speakers active alone long enough, with an embedding */
    for (int i = 0; i < n && status == STENO_OK; i++) {
        int c = i / LOCAL_SPEAKERS, k = i % LOCAL_SPEAKERS;
        const float *b = s->binarized + (size_t)c * s->n_frames * LOCAL_SPEAKERS;
        int clean = 0;
        for (int f = 0; f < s->n_frames; f++) {
            const float *m = b + f * LOCAL_SPEAKERS;
            clean += m[0] + m[1] + m[2] == 1 && m[k] != 0;
        }
        const float *e = s->embeddings + (size_t)i * ST_WESPEAKER_DIM;
        int valid = 1;
        for (int d = 0; d < ST_WESPEAKER_DIM; d++)
            valid &= !isnan(e[d]);
        if (clean >= MIN_ACTIVE_RATIO * s->n_frames && valid) {
            memcpy(vectors + (size_t)n_train * ST_WESPEAKER_DIM, e, sizeof(float) * ST_WESPEAKER_DIM);
            train[n_train++] = i;
        }
    }
    int max_clusters = o->num_speakers ? o->num_speakers : o->max_speakers ? o->max_speakers : n_train;
    if (max_clusters > n_train) max_clusters = n_train;
    int n_clusters = 1;
    if (status == STENO_OK && max_clusters >= 2) {
        st_cluster_options options = st_cluster_default_options();
        options.threshold = p->config.threshold;
        options.min_cluster_size = p->config.min_cluster_size;
        options.num_clusters = o->num_speakers;
        options.min_clusters = o->min_speakers;
        options.max_clusters = o->max_speakers;
        options.pyannote_numbering = 1; /* reconstruction breaks ties by cluster number */
        status = st_cluster_agglomerative(vectors, n_train, ST_WESPEAKER_DIM, NULL, &options, labels, &n_clusters, err);
        /* the centroids pyannote assigns to: means of the clusters' embeddings as they are */
        centroids = status == STENO_OK ? calloc((size_t)n_clusters * ST_WESPEAKER_DIM, sizeof(float)) : NULL;
        double *sum = status == STENO_OK ? calloc((size_t)n_clusters * ST_WESPEAKER_DIM, sizeof(double)) : NULL;
        int *members = status == STENO_OK ? calloc((size_t)n_clusters, sizeof(int)) : NULL;
        if (status == STENO_OK && (!centroids || !sum || !members)) {
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory");
        }
        for (int j = 0; j < n_train && status == STENO_OK; j++) {
            members[labels[j]]++;
            for (int d = 0; d < ST_WESPEAKER_DIM; d++)
                sum[(size_t)labels[j] * ST_WESPEAKER_DIM + d] += vectors[(size_t)j * ST_WESPEAKER_DIM + d];
        }
        for (int k = 0; k < n_clusters && status == STENO_OK; k++) {
            for (int d = 0; d < ST_WESPEAKER_DIM; d++)
                centroids[(size_t)k * ST_WESPEAKER_DIM + d] =
                    (float)(sum[(size_t)k * ST_WESPEAKER_DIM + d] / (members[k] ? members[k] : 1));
        }
        free(sum);
        free(members);
        /* every (chunk, speaker) to its nearest centroid; NaN embeddings land on 0, as numpy's
         * argmax over NaN does (they are the inactive speakers, dropped below) */
        if (status == STENO_OK) {
            status = st_cluster_assign(s->embeddings, n, ST_WESPEAKER_DIM, NULL, centroids, n_clusters, s->hard, err);
        }
    } else {
        memset(s->hard, 0, sizeof(int) * (size_t)n);
    }
    free(train);
    free(labels);
    free(vectors);
    free(centroids);
    return status;
}

typedef struct turn_list {
    st_turn *items;
    int count, capacity;
} turn_list;

static int push_turn(turn_list *list, double start, double end, int speaker) {
    if (list->count == list->capacity) {
        int capacity = list->capacity ? 2 * list->capacity : 64;
        st_turn *items = realloc(list->items, sizeof(st_turn) * (size_t)capacity);
        if (!items) return -1;
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = (st_turn){.start = start, .end = end, .speaker = speaker};
    return 0;
}

static int compare_turns(const void *a, const void *b) {
    const st_turn *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->speaker > y->speaker) - (x->speaker < y->speaker);
}

/* Reconstruction and turns. */
static steno_status reconstruct(const st_pyannote *p, const run_state *s, int max_speakers, st_pyannote_result *out,
                                st_error *err) {
    int n_clusters = 0, top = 0;
    for (int i = 0; i < s->n_chunks * LOCAL_SPEAKERS; i++)
        n_clusters = s->hard[i] + 1 > n_clusters ? s->hard[i] + 1 : n_clusters;
    for (int t = 0; t < s->total; t++) {
        if (s->count[t] > max_speakers) s->count[t] = max_speakers;
        top = s->count[t] > top ? s->count[t] : top;
    }
    if (n_clusters < top) n_clusters = top;
    float *activations = calloc((size_t)s->total * (n_clusters ? n_clusters : 1), sizeof(float));
    unsigned char *binary = calloc((size_t)s->total * (n_clusters ? n_clusters : 1), 1);
    int *order = malloc(sizeof(int) * (size_t)(n_clusters ? n_clusters : 1));
    turn_list list = {0};
    steno_status status = STENO_OK;
    if (!activations || !binary || !order)
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory");
    for (int c = 0; c < s->n_chunks && status == STENO_OK; c++) {
        const float *b = s->binarized + (size_t)c * s->n_frames * LOCAL_SPEAKERS;
        const int *hard = s->hard + (size_t)c * LOCAL_SPEAKERS;
        for (int k = 0; k < n_clusters; k++) {
            int any = 0;
            for (int j = 0; j < LOCAL_SPEAKERS; j++)
                any |= hard[j] == k;
            if (!any) continue;
            for (int f = 0; f < s->n_frames; f++) { /* the most active of the chunk's speakers in k */
                float v = 0;
                for (int j = 0; j < LOCAL_SPEAKERS; j++)
                    if (hard[j] == k && b[f * LOCAL_SPEAKERS + j] > v) v = b[f * LOCAL_SPEAKERS + j];
                activations[(size_t)(s->starts[c] + f) * n_clusters + k] += v;
            }
        }
    }
    for (int t = 0; t < s->total && status == STENO_OK; t++) {
        const float *a = activations + (size_t)t * n_clusters;
        for (int k = 0; k < n_clusters; k++) { /* stable sort, most active first */
            int j = k;
            while (j > 0 && a[order[j - 1]] < a[k]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = k;
        }
        for (int i = 0; i < s->count[t]; i++)
            binary[(size_t)t * n_clusters + order[i]] = 1;
    }
    /* runs of active frames; timestamps are frame middles */
    int *present = calloc((size_t)(n_clusters ? n_clusters : 1), sizeof(int));
    if (status == STENO_OK && !present) status = st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory");
    for (int k = 0; k < n_clusters && status == STENO_OK; k++) {
        double start = 0.5 * FRAME_DURATION;
        int active = binary[k];
        for (int t = 1; t < s->total; t++) {
            double middle = t * FRAME_STEP + 0.5 * FRAME_DURATION;
            int on = binary[(size_t)t * n_clusters + k];
            if (active && !on) {
                if (push_turn(&list, start, middle, k)) status = STENO_ERR_NO_MEMORY;
                active = 0;
            } else if (!active && on) {
                start = middle;
                active = 1;
            }
        }
        if (active && push_turn(&list, start, (s->total - 1) * FRAME_STEP + 0.5 * FRAME_DURATION, k)) {
            status = STENO_ERR_NO_MEMORY;
        }
    }
    if (status == STENO_ERR_NO_MEMORY) st_error_set(err, status, "diarization: out of memory");
    /* fill a speaker's gaps shorter than min_duration_off (turns of one speaker are in order) */
    if (status == STENO_OK && p->config.min_duration_off > 0) {
        int kept = 0;
        for (int i = 0; i < list.count; i++) {
            st_turn *last = NULL;
            for (int j = kept - 1; j >= 0 && !last; j--)
                if (list.items[j].speaker == list.items[i].speaker) last = &list.items[j];
            if (last && list.items[i].start - last->end < p->config.min_duration_off) {
                last->end = list.items[i].end > last->end ? list.items[i].end : last->end;
            } else {
                list.items[kept++] = list.items[i];
            }
        }
        list.count = kept;
    }
    if (status == STENO_OK) { /* speakers renumbered over those with turns, in cluster order */
        for (int i = 0; i < list.count; i++)
            present[list.items[i].speaker] = 1;
        int next = 0;
        for (int k = 0; k < n_clusters; k++)
            present[k] = present[k] ? next++ : -1;
        for (int i = 0; i < list.count; i++)
            list.items[i].speaker = present[list.items[i].speaker];
        qsort(list.items, (size_t)list.count, sizeof *list.items, compare_turns);
        out->turns = list.items;
        out->n_turns = list.count;
        out->n_speakers = next;
    } else {
        free(list.items);
    }
    free(present);
    free(activations);
    free(binary);
    free(order);
    return status;
}

steno_status st_pyannote_diarize(st_pyannote *p, const float *samples, size_t n_samples,
                                 const st_pyannote_options *options, st_pyannote_result *out, st_error *err) {
    memset(out, 0, sizeof *out);
    st_pyannote_options o = options ? *options : (st_pyannote_options){0};
    if (o.num_speakers < 0 || o.min_speakers < 0 || o.max_speakers < 0) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "speaker counts cannot be negative");
    }
    int min_speakers = o.num_speakers ? o.num_speakers : o.min_speakers ? o.min_speakers : 1;
    int max_speakers = o.num_speakers ? o.num_speakers : o.max_speakers ? o.max_speakers : 1 << 30;
    if (min_speakers > max_speakers) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "min_speakers (%d) is larger than max_speakers (%d)",
                            min_speakers, max_speakers);
    }
    if (n_samples > (size_t)SAMPLE_RATE * 3600 * 24) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "diarization: more than 24 hours of audio");
    }
    run_state s = {.n_frames = st_pyannote_seg_n_frames(CHUNK_SAMPLES)};
    int complete = n_samples >= CHUNK_SAMPLES ? (int)((n_samples - CHUNK_SAMPLES) / STEP_SAMPLES) + 1 : 0;
    int has_last = n_samples < CHUNK_SAMPLES || (n_samples - CHUNK_SAMPLES) % STEP_SAMPLES > 0;
    s.n_chunks = complete + has_last;
    s.total = closest_frame(CHUNK_SECONDS + (s.n_chunks - 1) * STEP_SECONDS + 0.5 * FRAME_DURATION) + 1;
    size_t n_local = (size_t)s.n_chunks * LOCAL_SPEAKERS;
    s.binarized = malloc(sizeof(float) * n_local * s.n_frames);
    s.embeddings = malloc(sizeof(float) * n_local * ST_WESPEAKER_DIM);
    s.count = malloc(sizeof(int) * (size_t)s.total);
    s.hard = malloc(sizeof(int) * n_local);
    s.starts = malloc(sizeof(int) * (size_t)s.n_chunks);
    float *chunk = malloc(sizeof(float) * CHUNK_SAMPLES);
    steno_status status = STENO_OK;
    if (!s.binarized || !s.embeddings || !s.count || !s.hard || !s.starts || !chunk) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory for %zu samples", n_samples);
    }
    for (int c = 0; c < s.n_chunks && status == STENO_OK; c++)
        s.starts[c] = closest_frame(c * STEP_SECONDS + 0.5 * FRAME_DURATION);
    if (status == STENO_OK) status = segment(p, samples, n_samples, &s, chunk, err);
    int top = status == STENO_OK ? speaker_count(&s) : 0;
    if (status == STENO_OK && top < 0) status = st_error_set(err, STENO_ERR_NO_MEMORY, "diarization: out of memory");
    if (status == STENO_OK && top > 0) { /* nobody ever speaks: no turns */
        for (size_t i = 0; i < n_local * ST_WESPEAKER_DIM; i++)
            s.embeddings[i] = NAN;
        if (max_speakers >= 2) {
            status = embed(p, samples, n_samples, &s, chunk, err);
            if (status == STENO_OK) status = cluster(p, &o, &s, err);
        } else {
            memset(s.hard, 0, sizeof(int) * n_local);
        }
        for (size_t i = 0; i < n_local && status == STENO_OK; i++) { /* never active: dropped */
            const float *b = s.binarized + (i / LOCAL_SPEAKERS) * s.n_frames * LOCAL_SPEAKERS;
            int any = 0;
            for (int f = 0; f < s.n_frames && !any; f++)
                any = b[f * LOCAL_SPEAKERS + i % LOCAL_SPEAKERS] != 0;
            if (!any) s.hard[i] = -2;
        }
        if (status == STENO_OK) status = reconstruct(p, &s, max_speakers, out, err);
    }
    free(chunk);
    free_state(&s);
    return status;
}

void st_pyannote_result_free(st_pyannote_result *result) {
    free(result->turns);
    memset(result, 0, sizeof *result);
}
