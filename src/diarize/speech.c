/* speech.c — frame speech activity for diarization: Silero VAD's probabilities on 10 ms frames
 * and the threshold / gap / pad mask. */
#include "diarize/speech.h"

#include <stdlib.h>
#include <string.h>

st_speech_options st_speech_default_options(void) {
    return (st_speech_options){.threshold = 0.3f, .gap_frames = 60, .pad_frames = 25};
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

steno_status st_speech_activity(st_vad *vad, const float *samples, size_t n_samples, const st_speech_options *options,
                                unsigned char *speech, st_error *err) {
    st_speech_options defaults = st_speech_default_options();
    if (!options) options = &defaults;
    size_t n_frames = st_speech_n_frames(n_samples), n_vad = st_vad_n_frames(n_samples);
    float *vad_probabilities = malloc(sizeof(float) * n_vad);
    float *probabilities = malloc(sizeof(float) * (n_frames ? n_frames : 1));
    steno_status status = STENO_OK;
    if (!vad_probabilities || !probabilities) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory finding speech");
    } else {
        status = st_vad_probabilities(vad, samples, n_samples, vad_probabilities, err);
    }
    if (status == STENO_OK) {
        for (size_t f = 0; f < n_frames; f++) {
            size_t v = (f * ST_DIARIZE_HOP + ST_DIARIZE_HOP / 2) / ST_VAD_FRAME;
            probabilities[f] = vad_probabilities[v < n_vad ? v : n_vad - 1];
        }
        st_speech_mask(probabilities, n_frames, options, speech);
    }
    free(vad_probabilities), free(probabilities);
    return status;
}
