/* speech.c — frame speech activity for diarization: energy probabilities (a placeholder for
 * Silero VAD) and the threshold / gap / pad mask. */
#include "diarize/speech.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

st_speech_options st_speech_default_options(void) {
    return (st_speech_options){.threshold = 0.5f, .gap_frames = 60, .pad_frames = 25};
}

size_t st_speech_n_frames(size_t n_samples) {
    return n_samples / ST_DIARIZE_HOP;
}

void st_speech_mask(const float *probabilities, size_t n_frames, const st_speech_options *options,
                    unsigned char *speech) {
    for (size_t f = 0; f < n_frames; f++)
        speech[f] = probabilities[f] >= options->threshold;
    /* fill short silences between two stretches of speech */
    size_t last_speech = (size_t)-1;
    for (size_t f = 0; f < n_frames; f++) {
        if (!speech[f]) continue;
        if (last_speech != (size_t)-1 && f - last_speech - 1 <= (size_t)options->gap_frames) {
            memset(speech + last_speech + 1, 1, f - last_speech - 1);
        }
        last_speech = f;
    }
    /* widen: every frame within pad of an original speech frame */
    if (options->pad_frames <= 0) return;
    size_t pad = (size_t)options->pad_frames, reach = 0; /* frames left to mark after a speech run */
    for (size_t f = 0; f < n_frames; f++) {              /* forwards: trailing pads */
        if (speech[f] == 1) {
            reach = pad;
        } else if (reach) {
            speech[f] = 2, reach--;
        }
    }
    reach = 0;
    for (size_t f = n_frames; f-- > 0;) { /* backwards: leading pads, from original speech only */
        if (speech[f] == 1) {
            reach = pad;
        } else if (reach) {
            if (!speech[f]) speech[f] = 2;
            reach--;
        }
    }
    for (size_t f = 0; f < n_frames; f++)
        speech[f] = speech[f] != 0;
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Frame probabilities from log energy: the share of the frames within 0.15 s whose log energy
 * lies above 35 % of the way from the noise floor (10th percentile) to the speech level (95th). */
static steno_status energy_probabilities(const float *samples, size_t n_frames, float *probabilities, st_error *err) {
    if (n_frames == 0) return STENO_OK;
    float *energy = malloc(sizeof(float) * n_frames), *sorted = malloc(sizeof(float) * n_frames);
    if (!energy || !sorted) {
        free(energy), free(sorted);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory finding speech in %zu frames", n_frames);
    }
    for (size_t f = 0; f < n_frames; f++) {
        const float *x = samples + f * ST_DIARIZE_HOP;
        double sum = 0;
        for (size_t i = 0; i < ST_DIARIZE_HOP; i++)
            sum += (double)x[i] * x[i];
        energy[f] = sorted[f] = (float)log(sum / ST_DIARIZE_HOP + 1e-10);
    }
    qsort(sorted, n_frames, sizeof(float), compare_floats);
    float floor = sorted[n_frames / 10], level = sorted[n_frames * 95 / 100];
    float cut = floor + 0.35f * (level - floor);
    const size_t half = 15;
    size_t above = 0; /* frames above the cut in the sliding window [f - half, f + half] */
    for (size_t f = 0; f < half && f < n_frames; f++)
        above += energy[f] > cut;
    for (size_t f = 0; f < n_frames; f++) {
        if (f + half < n_frames) above += energy[f + half] > cut;
        if (f > half) above -= energy[f - half - 1] > cut;
        size_t lo = f > half ? f - half : 0, hi = f + half < n_frames ? f + half : n_frames - 1;
        probabilities[f] = (float)above / (float)(hi - lo + 1);
    }
    free(energy), free(sorted);
    return STENO_OK;
}

steno_status st_speech_activity(const float *samples, size_t n_samples, const st_speech_options *options,
                                unsigned char *speech, st_error *err) {
    st_speech_options defaults = st_speech_default_options();
    if (!options) options = &defaults;
    size_t n_frames = st_speech_n_frames(n_samples);
    float *probabilities = malloc(sizeof(float) * (n_frames ? n_frames : 1));
    if (!probabilities) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory finding speech");
    steno_status status = energy_probabilities(samples, n_frames, probabilities, err);
    if (status == STENO_OK) st_speech_mask(probabilities, n_frames, options, speech);
    free(probabilities);
    return status;
}
