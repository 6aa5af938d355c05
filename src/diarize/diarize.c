/*
 * diarize.c — the choice between the default pipeline and pyannote's, and the default pipeline
 * (see diarize.h): speech frames, window statistics of the speaker features (Whisper encoder
 * states or cepstra), agglomerative clustering, frame labels, the BIC merge, resegmentation,
 * turns.
 */
#include "diarize/diarize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "audio/mel.h"
#include "diarize/cluster.h"
#include "diarize/pyannote_pipeline.h"
#include "diarize/speech.h"
#include "nn/threads.h"
#include "store/store.h"
#include "whisper/transcribe.h"
#include "vad/vad.h"

#define N_MELS 80
#define N_CEPSTRA 20         /* c1..c20; c0 (loudness) says little about the speaker */
#define WINDOW_FRAMES 150    /* 1.5 s */
#define STEP_FRAMES 75       /* 0.75 s */
#define MIN_SPEECH_FRAMES 45 /* a window needs 30 % speech to stand for a speaker */
#define MIN_CLUSTER_SIZE 3   /* windows; pyannote's rule caps it at 10 % of them */
/* BIC penalty weight for keeping two speakers apart. Above the textbook 1 because 10 ms frames
 * of one voice are far from independent (bench/README.md: chosen on AMI trn00-04, checked on
 * trn05-09; the sample and falcon speakers stay apart up to about 2.2). */
#define BIC_LAMBDA 1.9
#define RESEGMENT_FRAMES 50 /* +-0.5 s of frames decide each frame's speaker after the merge */
/* The encoder states after this many blocks are the speaker features when a Whisper model is
 * given (bench/README.md: after 2 or 4 blocks the three sets scored no better overall). */
#define ENCODER_BLOCKS 3

struct st_diarizer {
    st_vad *vad; /* the default pipeline's */
    st_mel_filters *filters;
    st_pyannote *pyannote;       /* or pyannote's */
    st_whisper_context *whisper; /* the default pipeline's speaker features when set (owned) */
};

/* indexed by st_diarize_pipeline */
static const char *const pipeline_names[] = {"auto", "default", "pyannote"};
#define N_PIPELINES (sizeof pipeline_names / sizeof *pipeline_names)

const char *st_diarize_pipeline_name(st_diarize_pipeline pipeline) {
    return (size_t)pipeline < N_PIPELINES ? pipeline_names[pipeline] : pipeline_names[ST_DIARIZE_PIPELINE_AUTO];
}

int st_diarize_pipeline_from_name(const char *name, st_diarize_pipeline *out) {
    for (size_t i = 0; name && i < N_PIPELINES; i++) {
        if (!strcmp(name, pipeline_names[i])) return *out = (st_diarize_pipeline)i, 0;
    }
    return -1;
}

/* pyannote's pipeline and nets from the model folders into choice; why (why_size bytes) says
 * what is missing when they are not all there. */
static steno_status find_pyannote(const st_store *store, st_diarize_choice *choice, char *why, size_t why_size,
                                  st_error *err) {
    char path[4096];
    why[0] = '\0';
    steno_status status = st_store_resolve(store, ST_PYANNOTE_PIPELINE_REPO, path, sizeof path, why, why_size, err);
    if (status != STENO_OK) {
        if (!why[0]) snprintf(why, why_size, "%s", st_error_message(err));
        return status;
    }
    st_pyannote_files *files = malloc(sizeof *files);
    if (!files) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory looking for pyannote");
    status = st_pyannote_locate(path, files, err);
    if (status == STENO_OK) {
        snprintf(choice->pyannote, sizeof choice->pyannote, "%s", files->folder);
        snprintf(choice->segmentation, sizeof choice->segmentation, "%s", files->segmentation);
        snprintf(choice->embedding, sizeof choice->embedding, "%s", files->embedding);
    } else {
        snprintf(why, why_size, "%s", st_error_message(err));
    }
    free(files);
    return status;
}

steno_status st_diarize_choose(st_diarize_pipeline wanted, const char *vad_model, st_diarize_choice *out,
                               st_error *err) {
    memset(out, 0, sizeof *out);
    st_store store;
    st_store_init(&store, NULL, 0);
    char why[2048];
    if (wanted != ST_DIARIZE_PIPELINE_DEFAULT) {
        steno_status status = find_pyannote(&store, out, why, sizeof why, err);
        if (status == STENO_OK) {
            out->pipeline = ST_DIARIZE_PIPELINE_PYANNOTE;
            return STENO_OK;
        }
        if (wanted == ST_DIARIZE_PIPELINE_PYANNOTE) return st_error_set(err, status, "%s", why);
        snprintf(out->why_not_pyannote, sizeof out->why_not_pyannote, "%s", why);
    }
    out->pipeline = ST_DIARIZE_PIPELINE_DEFAULT;
    why[0] = '\0';
    steno_status status = st_store_resolve(&store, vad_model ? vad_model : ST_DIARIZE_VAD_MODEL, out->vad_model,
                                           sizeof out->vad_model, why, sizeof why, err);
    if (status == STENO_OK) return STENO_OK;
    if (!why[0]) snprintf(why, sizeof why, "%s", st_error_message(err));
    if (!out->why_not_pyannote[0]) return st_error_set(err, status, "%s", why);
    /* AUTO: neither pipeline can run; say what each lacks */
    return st_error_set(err, status, "%s; pyannote 3.1 is not there either: %s", why, out->why_not_pyannote);
}

steno_status st_diarizer_open_choice(const st_diarize_choice *choice, st_diarizer **out, st_error *err) {
    *out = NULL;
    st_diarizer *d = calloc(1, sizeof *d);
    if (!d) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory opening the diarizer");
    steno_status status;
    if (choice->pipeline == ST_DIARIZE_PIPELINE_PYANNOTE) {
        status = st_pyannote_open(choice->pyannote, &d->pyannote, err);
    } else {
        status = st_vad_open(choice->vad_model, &d->vad, err);
        if (status == STENO_OK && !(d->filters = st_mel_filters_create(N_MELS, err))) {
            status = err ? err->code : STENO_ERR_NO_MEMORY;
        }
    }
    if (status != STENO_OK) {
        st_diarizer_free(d);
        return status;
    }
    *out = d;
    return STENO_OK;
}

void st_diarizer_free(st_diarizer *diarizer) {
    if (!diarizer) return;
    st_vad_free(diarizer->vad);
    st_mel_filters_free(diarizer->filters);
    st_pyannote_close(diarizer->pyannote);
    st_whisper_context_free(diarizer->whisper);
    free(diarizer);
}

void st_diarizer_use_whisper(st_diarizer *diarizer, st_whisper_context *whisper) {
    st_whisper_context_free(diarizer->whisper);
    diarizer->whisper = whisper;
}

int st_diarizer_uses_whisper(const st_diarizer *diarizer) {
    return diarizer->whisper != NULL;
}

st_vad *st_diarizer_vad(st_diarizer *diarizer) {
    return diarizer->vad;
}

st_diarize_pipeline st_diarizer_pipeline(const st_diarizer *diarizer) {
    return diarizer->pyannote ? ST_DIARIZE_PIPELINE_PYANNOTE : ST_DIARIZE_PIPELINE_DEFAULT;
}

st_diarize_options st_diarize_default_options(void) {
    return (st_diarize_options){.n_threads = 1};
}

void st_diarization_free(st_diarization *diarization) {
    free(diarization->turns);
    memset(diarization, 0, sizeof *diarization);
}

void st_diarize_speaker_name(int speaker, char out[16]) {
    snprintf(out, 16, "SPEAKER_%02d", speaker);
}

/* Cepstra of every frame, cep[f * N_CEPSTRA + k - 1] = sum_m mel[m][f] cos(pi k (m + 1/2) / M),
 * with the mean over the speech frames removed. */
static void cepstra(const st_mel *mel, const unsigned char *speech, size_t n_frames, float *cep) {
    float basis[N_CEPSTRA][N_MELS];
    for (int k = 1; k <= N_CEPSTRA; k++) {
        for (int m = 0; m < N_MELS; m++)
            basis[k - 1][m] = (float)cos(M_PI * k * (m + 0.5) / N_MELS);
    }
    double mean[N_CEPSTRA] = {0};
    size_t n_speech = 0;
    for (size_t f = 0; f < n_frames; f++) {
        for (int k = 0; k < N_CEPSTRA; k++) {
            double sum = 0;
            for (int m = 0; m < N_MELS; m++)
                sum += basis[k][m] * mel->data[(size_t)m * mel->n_frames + f];
            cep[f * N_CEPSTRA + k] = (float)sum;
            if (speech[f]) mean[k] += sum;
        }
        n_speech += speech[f];
    }
    for (size_t f = 0; f < n_frames && n_speech; f++) {
        for (int k = 0; k < N_CEPSTRA; k++)
            cep[f * N_CEPSTRA + k] -= (float)(mean[k] / n_speech);
    }
}

/* Sums of the speaker features of each 0.75 s step's speech frames (a window is two steps),
 * gathered row by row as the features come: the cepstra (a row per 10 ms frame) or the Whisper
 * encoder's states (a row per 20 ms, frames 2r and 2r + 1 reading row r), so that the encoder's
 * states need not all be held at once. */
typedef struct step_sums {
    const unsigned char *speech;
    size_t n_frames;
    int dim, frames_per_row;
    int *count;           /* [n_frames / STEP_FRAMES + 1] speech frames */
    double *sum, *square; /* [steps][dim] */
    float *last_row;      /* [dim]: the last row seen, for the frames after it */
    size_t n_rows;        /* rows seen */
} step_sums;

static steno_status step_sums_init(step_sums *s, const unsigned char *speech, size_t n_frames, int dim,
                                   int frames_per_row, st_error *err) {
    size_t n_steps = n_frames / STEP_FRAMES + 1;
    *s = (step_sums){.speech = speech, .n_frames = n_frames, .dim = dim, .frames_per_row = frames_per_row};
    s->count = calloc(n_steps, sizeof *s->count);
    s->sum = calloc(n_steps * dim, sizeof *s->sum);
    s->square = calloc(n_steps * dim, sizeof *s->square);
    s->last_row = malloc(sizeof(float) * dim);
    if (s->count && s->sum && s->square && s->last_row) return STENO_OK;
    return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for %zu steps of %d features", n_steps, dim);
}

static void step_sums_free(step_sums *s) {
    free(s->count), free(s->sum), free(s->square), free(s->last_row);
}

/* Frame f, if it is speech, adds row to its step. */
static void add_frame(step_sums *s, size_t f, const float *row) {
    if (!s->speech[f]) return;
    size_t step = f / STEP_FRAMES;
    double *sum = s->sum + step * s->dim, *square = s->square + step * s->dim;
    s->count[step]++;
    for (int k = 0; k < s->dim; k++)
        sum[k] += row[k], square[k] += (double)row[k] * row[k];
}

/* Rows first .. first + n_rows - 1, in order (st_whisper_states_fn). */
static void add_rows(void *user, int first, int n_rows, const float *rows, int width) {
    step_sums *s = user;
    for (int r = 0; r < n_rows; r++) {
        for (size_t f = (size_t)(first + r) * s->frames_per_row;
             f < (size_t)(first + r + 1) * s->frames_per_row && f < s->n_frames; f++)
            add_frame(s, f, rows + (size_t)r * width);
    }
    if (n_rows > 0) memcpy(s->last_row, rows + (size_t)(n_rows - 1) * width, sizeof(float) * width);
    s->n_rows = (size_t)first + n_rows;
}

/* The frames after the last row (an odd last 10 ms frame under 20 ms rows) read that row. */
static void add_frames_after_rows(step_sums *s) {
    for (size_t f = s->n_rows * s->frames_per_row; s->n_rows && f < s->n_frames; f++)
        add_frame(s, f, s->last_row);
}

/* Window embeddings: the mean and the standard deviation of the speech frames' features (2 *
 * s->dim values) over each window's two steps. Returns the number of windows kept; centre[w] is
 * each one's centre frame. */
static int window_embeddings(const step_sums *s, float *embeddings, double *centre) {
    const int dim = s->dim;
    int n = 0;
    for (size_t start = 0, step = 0; start < s->n_frames; start += STEP_FRAMES, step++) {
        size_t end = start + WINDOW_FRAMES < s->n_frames ? start + WINDOW_FRAMES : s->n_frames;
        int two = end > start + STEP_FRAMES; /* the window reaches the next step */
        int count = s->count[step] + (two ? s->count[step + 1] : 0);
        if (count < MIN_SPEECH_FRAMES) continue;
        const double *sum = s->sum + step * dim, *square = s->square + step * dim;
        float *e = embeddings + (size_t)n * 2 * dim;
        for (int k = 0; k < dim; k++) {
            double total = sum[k] + (two ? sum[dim + k] : 0), total_square = square[k] + (two ? square[dim + k] : 0);
            double mean = total / count, variance = total_square / count - mean * mean;
            e[k] = (float)mean;
            e[dim + k] = (float)sqrt(variance > 0 ? variance : 0);
        }
        centre[n++] = (start + end) / 2.0;
    }
    return n;
}

/* Each dimension to zero mean and unit variance over the windows: what separates speakers in
 * one recording is how they differ from its average, not the average itself. */
static void standardise(float *embeddings, int n, int dim) {
    for (int d = 0; d < dim; d++) {
        double sum = 0, square = 0;
        for (int i = 0; i < n; i++)
            sum += embeddings[(size_t)i * dim + d];
        double mean = sum / n;
        for (int i = 0; i < n; i++) {
            double v = embeddings[(size_t)i * dim + d] - mean;
            square += v * v;
        }
        double scale = 1.0 / (sqrt(square / n) + 1e-8);
        for (int i = 0; i < n; i++) {
            float *v = &embeddings[(size_t)i * dim + d];
            *v = (float)((*v - mean) * scale);
        }
    }
    /* a window exactly at the average has no direction: give it a tiny one so that cosine
     * distances stay defined (it then joins whichever cluster is nearest) */
    for (int i = 0; i < n; i++) {
        double norm = 0;
        for (int d = 0; d < dim; d++)
            norm += (double)embeddings[(size_t)i * dim + d] * embeddings[(size_t)i * dim + d];
        if (!(norm > 0)) embeddings[(size_t)i * dim] = 1e-6f;
    }
}

/* Sufficient statistics of one speaker's speech frames: count, sum and sum of outer products
 * (lower triangle) of their cepstra. */
typedef struct gaussian_stats {
    double count, sum[N_CEPSTRA], outer[N_CEPSTRA][N_CEPSTRA];
} gaussian_stats;

static void stats_add(gaussian_stats *to, const gaussian_stats *from) {
    to->count += from->count;
    for (int i = 0; i < N_CEPSTRA; i++) {
        to->sum[i] += from->sum[i];
        for (int j = 0; j <= i; j++)
            to->outer[i][j] += from->outer[i][j];
    }
}

/* The Cholesky factor l (lower triangle) of the maximum-likelihood full covariance of the
 * frames in s, with its mean; returns log det of the covariance. */
static double covariance_cholesky(const gaussian_stats *s, double l[N_CEPSTRA][N_CEPSTRA], double mean[N_CEPSTRA]) {
    double log_det = 0;
    for (int i = 0; i < N_CEPSTRA; i++)
        mean[i] = s->sum[i] / s->count;
    for (int i = 0; i < N_CEPSTRA; i++) {
        for (int j = 0; j <= i; j++)
            l[i][j] = s->outer[i][j] / s->count - mean[i] * mean[j];
        l[i][i] += 1e-6; /* a floor for degenerate (constant) coefficients */
    }
    for (int j = 0; j < N_CEPSTRA; j++) {
        double d = l[j][j];
        for (int k = 0; k < j; k++)
            d -= l[j][k] * l[j][k];
        l[j][j] = sqrt(d > 1e-12 ? d : 1e-12);
        log_det += 2 * log(l[j][j]);
        for (int i = j + 1; i < N_CEPSTRA; i++) {
            double v = l[i][j];
            for (int k = 0; k < j; k++)
                v -= l[i][k] * l[j][k];
            l[i][j] = v / l[j][j];
        }
    }
    return log_det;
}

static double covariance_log_det(const gaussian_stats *s) {
    double l[N_CEPSTRA][N_CEPSTRA], mean[N_CEPSTRA];
    return covariance_cholesky(s, l, mean);
}

/* stats[k] of the speech frames labelled k (labels in 0..n_speakers-1, -1: none). */
static void accumulate_stats(const float *cep, const int *label, size_t n_frames, gaussian_stats *stats) {
    for (size_t f = 0; f < n_frames; f++) {
        if (label[f] < 0) continue;
        gaussian_stats *s = &stats[label[f]];
        const float *x = cep + f * N_CEPSTRA;
        s->count++;
        for (int i = 0; i < N_CEPSTRA; i++) {
            s->sum[i] += x[i];
            for (int j = 0; j <= i; j++)
                s->outer[i][j] += (double)x[i] * x[j];
        }
    }
}

/*
 * Merges speakers whom the frames cannot tell apart: for each pair, delta BIC = N/2 log|S| -
 * N_a/2 log|S_a| - N_b/2 log|S_b| - lambda P/2 log N compares one full-covariance Gaussian over
 * both speakers' speech frames with one each (P: the parameters of one Gaussian). The pair with
 * the most negative delta is merged until none is negative. The clustering threshold has to
 * suit every recording, while this test weighs how much speech there is and how much the two
 * voices really differ: on meeting recordings whose voices the cepstra barely separate it
 * merges the clustering's split, on clean recordings it keeps it. Stops at min_speakers.
 * Returns the speaker count; labels stay in 0..count-1.
 */
static int merge_by_bic(const float *cep, int *label, size_t n_frames, int n_speakers, int min_speakers) {
    gaussian_stats *stats = calloc((size_t)n_speakers, sizeof *stats);
    double *log_det = malloc(sizeof(double) * n_speakers);
    if (!stats || !log_det) { /* keep the clustering's answer */
        free(stats), free(log_det);
        return n_speakers;
    }
    accumulate_stats(cep, label, n_frames, stats);
    for (int k = 0; k < n_speakers; k++)
        log_det[k] = stats[k].count > N_CEPSTRA ? covariance_log_det(&stats[k]) : 0;
    const double parameters = N_CEPSTRA + N_CEPSTRA * (N_CEPSTRA + 1) / 2.0;
    while (n_speakers > min_speakers) {
        double best = 0;
        int best_a = -1, best_b = -1;
        for (int a = 0; a < n_speakers; a++) {
            for (int b = a + 1; b < n_speakers; b++) {
                if (stats[a].count <= N_CEPSTRA || stats[b].count <= N_CEPSTRA) continue;
                gaussian_stats both = stats[a];
                stats_add(&both, &stats[b]);
                double delta = 0.5 * (both.count * covariance_log_det(&both) - stats[a].count * log_det[a] -
                                      stats[b].count * log_det[b]) -
                               BIC_LAMBDA * 0.5 * parameters * log(both.count);
                if (delta < best) best = delta, best_a = a, best_b = b;
            }
        }
        if (best_a < 0) break;
        /* b joins a; the last speaker takes b's number */
        stats_add(&stats[best_a], &stats[best_b]);
        log_det[best_a] = covariance_log_det(&stats[best_a]);
        int last = --n_speakers;
        stats[best_b] = stats[last], log_det[best_b] = log_det[last];
        for (size_t f = 0; f < n_frames; f++) {
            if (label[f] == best_b) label[f] = best_a;
            if (label[f] == last) label[f] = best_b;
        }
    }
    free(stats), free(log_det);
    return n_speakers;
}

/*
 * Resegmentation: one full-covariance Gaussian per speaker from its speech frames, then every
 * speech frame takes the speaker whose Gaussian gives the speech frames within
 * RESEGMENT_FRAMES of it the highest summed log-likelihood. This moves turn boundaries off the
 * 0.75 s window grid. A speaker left with no frame (an exact or minimum count asked for) keeps
 * the labels as they were.
 */
static steno_status resegment(const float *cep, int *label, size_t n_frames, int n_speakers, st_error *err) {
    gaussian_stats *stats = calloc((size_t)n_speakers, sizeof *stats);
    double(*chol)[N_CEPSTRA][N_CEPSTRA] = malloc(sizeof *chol * n_speakers);
    double(*mean)[N_CEPSTRA] = malloc(sizeof *mean * n_speakers), *log_det = malloc(sizeof(double) * n_speakers);
    double *cumulative = malloc(sizeof(double) * (n_frames + 1) * n_speakers); /* prefix sums */
    int *relabelled = malloc(sizeof(int) * n_frames), *count = calloc((size_t)n_speakers, sizeof(int));
    steno_status status = STENO_OK;
    if (!stats || !chol || !mean || !log_det || !cumulative || !relabelled || !count) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory resegmenting %zu frames", n_frames);
        goto done;
    }
    accumulate_stats(cep, label, n_frames, stats);
    for (int k = 0; k < n_speakers; k++) {
        if (stats[k].count <= N_CEPSTRA) goto done; /* too few frames for a covariance: keep */
        log_det[k] = covariance_cholesky(&stats[k], chol[k], mean[k]);
    }
    for (int k = 0; k < n_speakers; k++)
        cumulative[k] = 0;
    for (size_t f = 0; f < n_frames; f++) {
        for (int k = 0; k < n_speakers; k++) {
            double log_likelihood = 0; /* non-speech frames add nothing */
            if (label[f] >= 0) {
                double y[N_CEPSTRA], distance = 0; /* y = L^-1 (x - mean): forward substitution */
                for (int i = 0; i < N_CEPSTRA; i++) {
                    double v = cep[f * N_CEPSTRA + i] - mean[k][i];
                    for (int j = 0; j < i; j++)
                        v -= chol[k][i][j] * y[j];
                    y[i] = v / chol[k][i][i];
                    distance += y[i] * y[i];
                }
                log_likelihood = -0.5 * (log_det[k] + distance);
            }
            cumulative[(f + 1) * n_speakers + k] = cumulative[f * n_speakers + k] + log_likelihood;
        }
    }
    for (size_t f = 0; f < n_frames; f++) {
        relabelled[f] = label[f];
        if (label[f] < 0) continue;
        size_t from = f > RESEGMENT_FRAMES ? f - RESEGMENT_FRAMES : 0;
        size_t to = f + RESEGMENT_FRAMES + 1 < n_frames ? f + RESEGMENT_FRAMES + 1 : n_frames;
        double best = -INFINITY;
        for (int k = 0; k < n_speakers; k++) {
            double sum = cumulative[to * n_speakers + k] - cumulative[from * n_speakers + k];
            if (sum > best) best = sum, relabelled[f] = k;
        }
        count[relabelled[f]]++;
    }
    for (int k = 0; k < n_speakers; k++) {
        if (!count[k]) goto done;
    }
    memcpy(label, relabelled, sizeof(int) * n_frames);
done:
    free(stats), free(chol), free(mean), free(log_det), free(cumulative), free(relabelled), free(count);
    return status;
}

/* Turns from frame labels (-1: no speech), speakers renumbered by first appearance. */
static steno_status frames_to_turns(const int *label, size_t n_frames, int n_labels, st_diarization *out,
                                    st_error *err) {
    int *renumber = malloc(sizeof(int) * (n_labels ? n_labels : 1));
    size_t capacity = 16;
    out->turns = malloc(sizeof(st_turn) * capacity);
    if (!renumber || !out->turns) {
        free(renumber);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory building speaker turns");
    }
    for (int i = 0; i < n_labels; i++)
        renumber[i] = -1;
    const double seconds = (double)ST_DIARIZE_HOP / ST_DIARIZE_SAMPLE_RATE;
    for (size_t f = 0; f < n_frames;) {
        if (label[f] < 0) {
            f++;
            continue;
        }
        size_t end = f;
        while (end < n_frames && label[end] == label[f])
            end++;
        if ((size_t)out->n_turns == capacity) {
            st_turn *grown = realloc(out->turns, sizeof(st_turn) * (capacity *= 2));
            if (!grown) {
                free(renumber);
                return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory building speaker turns");
            }
            out->turns = grown;
        }
        if (renumber[label[f]] < 0) renumber[label[f]] = out->n_speakers++;
        out->turns[out->n_turns++] =
            (st_turn){.start = f * seconds, .end = end * seconds, .speaker = renumber[label[f]]};
        f = end;
    }
    free(renumber);
    return STENO_OK;
}

/* pyannote's pipeline on the samples; its turns (which may overlap) become *out's. */
static steno_status diarize_pyannote(st_pyannote *pipeline, const float *samples, size_t n_samples,
                                     const st_diarize_options *options, st_diarization *out, st_error *err) {
    st_nn_set_threads(options->n_threads > 0 ? options->n_threads : 1);
    st_pyannote_options counts = {options->num_speakers, options->min_speakers, options->max_speakers};
    st_pyannote_result result;
    steno_status status = st_pyannote_diarize(pipeline, samples, n_samples, &counts, &result, err);
    if (status == STENO_OK) {
        *out = (st_diarization){.turns = result.turns, .n_turns = result.n_turns, .n_speakers = result.n_speakers};
    }
    return status;
}

steno_status st_diarize_pcm(st_diarizer *diarizer, const float *samples, size_t n_samples,
                            const st_diarize_options *options, st_diarization *out, st_error *err) {
    memset(out, 0, sizeof *out);
    st_diarize_options defaults = st_diarize_default_options();
    if (!options) options = &defaults;
    if (options->num_speakers < 0 || options->min_speakers < 0 || options->max_speakers < 0 ||
        (options->max_speakers && options->min_speakers > options->max_speakers)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "speaker counts: at least %d, at most %d",
                            options->min_speakers, options->max_speakers);
    }
    if (diarizer->pyannote) return diarize_pyannote(diarizer->pyannote, samples, n_samples, options, out, err);
    size_t n_frames = st_speech_n_frames(n_samples);
    if (n_frames < 2) return STENO_OK; /* under 20 ms: nobody speaks */
    int n_threads = options->n_threads > 0 ? options->n_threads : 1;
    step_sums steps = {0};
    unsigned char *speech = malloc(n_frames);
    float *cep = malloc(sizeof(float) * n_frames * N_CEPSTRA);
    size_t max_windows = n_frames / STEP_FRAMES + 1;
    float *embeddings = NULL;
    double *centre = malloc(sizeof(double) * max_windows);
    int *window_label = malloc(sizeof(int) * max_windows), *frame_label = malloc(sizeof(int) * n_frames);
    st_mel mel = {0};
    steno_status status = STENO_OK;
    if (!speech || !cep || !centre || !window_label || !frame_label) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory diarizing %zu samples", n_samples);
        goto done;
    }
    if ((status = st_speech_activity(diarizer->vad, samples, n_samples, NULL, speech, err)) != STENO_OK) goto done;
    if ((status = st_mel_compute(diarizer->filters, samples, n_frames * ST_DIARIZE_HOP, 0, n_threads, &mel, err)) !=
        STENO_OK)
        goto done;
    cepstra(&mel, speech, n_frames, cep); /* the merge and the resegmentation use them in any case */
    double threshold = options->threshold > 0 ? options->threshold : ST_DIARIZE_THRESHOLD;
    st_whisper_context *whisper = options->whisper ? options->whisper : diarizer->whisper;
    if (whisper) { /* under 20 ms of mel (no state) leaves the windows empty */
        status = step_sums_init(&steps, speech, n_frames, st_whisper_context_audio_width(whisper), 2, err);
        if (status == STENO_OK)
            status = st_whisper_encoder_states(whisper, samples, n_samples, ENCODER_BLOCKS, n_threads, add_rows, &steps,
                                               err);
        add_frames_after_rows(&steps);
        if (!(options->threshold > 0)) threshold = ST_DIARIZE_ENCODER_THRESHOLD;
    } else {
        status = step_sums_init(&steps, speech, n_frames, N_CEPSTRA, 1, err);
        if (status == STENO_OK) add_rows(&steps, 0, (int)n_frames, cep, N_CEPSTRA);
    }
    if (status != STENO_OK) goto done;
    const int embedding = 2 * steps.dim;
    if (!(embeddings = malloc(sizeof(float) * max_windows * embedding))) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory diarizing %zu samples", n_samples);
        goto done;
    }
    int n_windows = window_embeddings(&steps, embeddings, centre), n_speakers = 1;
    for (int w = 0; w < n_windows; w++)
        window_label[w] = 0;
    if (n_windows > 1) {
        standardise(embeddings, n_windows, embedding);
        st_cluster_options cluster = {.linkage = ST_CLUSTER_CENTROID_COSINE,
                                      .threshold = threshold,
                                      .min_cluster_size = MIN_CLUSTER_SIZE,
                                      .num_clusters = options->num_speakers,
                                      .min_clusters = options->min_speakers,
                                      .max_clusters = options->max_speakers};
        status =
            st_cluster_agglomerative(embeddings, n_windows, embedding, NULL, &cluster, window_label, &n_speakers, err);
        if (status != STENO_OK) goto done;
    }
    /* every speech frame takes the label of the nearest window centre (speaker 0 when no
     * window holds enough speech) */
    int w = 0;
    for (size_t f = 0; f < n_frames; f++) {
        if (!speech[f]) {
            frame_label[f] = -1;
            continue;
        }
        while (w + 1 < n_windows && fabs(centre[w + 1] - f) <= fabs(centre[w] - f))
            w++;
        frame_label[f] = n_windows ? window_label[w] : 0;
    }
    /* an exact count asked for is kept; otherwise the test may merge down to the lower bound */
    if (n_speakers > 1 && !options->num_speakers) {
        int min_speakers = options->min_speakers > 1 ? options->min_speakers : 1;
        n_speakers = merge_by_bic(cep, frame_label, n_frames, n_speakers, min_speakers);
    }
    if (n_speakers > 1 && (status = resegment(cep, frame_label, n_frames, n_speakers, err)) != STENO_OK) goto done;
    status = frames_to_turns(frame_label, n_frames, n_speakers, out, err);
done:
    if (status != STENO_OK) st_diarization_free(out);
    st_mel_free(&mel);
    step_sums_free(&steps);
    free(speech), free(cep), free(embeddings), free(centre), free(window_label), free(frame_label);
    return status;
}

steno_status st_diarize_file(st_diarizer *diarizer, const char *path, const st_diarize_options *options,
                             st_diarization *out, st_error *err) {
    memset(out, 0, sizeof *out);
    st_audio audio;
    steno_status status = st_audio_decode_file(path, ST_DIARIZE_SAMPLE_RATE, &audio, err);
    if (status != STENO_OK) return status;
    status = st_diarize_pcm(diarizer, audio.samples, audio.n_samples, options, out, err);
    st_audio_free(&audio);
    return status;
}

steno_status st_diarization_rttm(const st_diarization *diarization, const char *uri, st_strbuf *out, st_error *err) {
    char(*names)[16] = malloc(sizeof *names * (diarization->n_speakers ? diarization->n_speakers : 1));
    const char **pointers = malloc(sizeof(char *) * (diarization->n_speakers ? diarization->n_speakers : 1));
    if (!names || !pointers) {
        free(names), free(pointers);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory writing RTTM");
    }
    for (int s = 0; s < diarization->n_speakers; s++)
        st_diarize_speaker_name(s, names[s]), pointers[s] = names[s];
    st_rttm_format(uri, diarization->turns, diarization->n_turns, pointers, out);
    free(names), free(pointers);
    return st_strbuf_status(out) == STENO_OK ? STENO_OK
                                             : st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory writing RTTM");
}
