/*
 * diarize.h — "who spoke when" with no model download: the default diarization pipeline.
 *
 *   1. speech activity per 10 ms frame from Silero VAD (speech.h);
 *   2. speaker features per frame: with a Whisper model (st_diarizer_use_whisper; `steno
 *      diarize` takes base.en when the model folders hold it, `transcribe --diarize` the model
 *      it transcribes with), the encoder's hidden states after its first 3 blocks, one per
 *      20 ms (st_whisper_encoder_states: the recording in the seek loop's 30 s windows, so
 *      that with st_diarize_options.whisper the transcription on that context resumes its
 *      first window after those blocks instead of encoding it again); else 20 cepstral
 *      coefficients (c1..c20, the DCT of Whisper's 80-bin log-mel spectrogram) with the
 *      recording's mean removed over its speech frames;
 *   3. one embedding per 1.5 s window (0.75 s step) holding enough speech: the mean and the
 *      standard deviation of its speech frames' features (2 x 512 values for base.en, 40 for
 *      the cepstra), then standardised dimension by dimension over the recording's windows;
 *   4. the windows clustered by cluster.h (centroid linkage on cosine distance, threshold
 *      ST_DIARIZE_ENCODER_THRESHOLD or ST_DIARIZE_THRESHOLD, minimum cluster size 3, the
 *      speaker-count options);
 *   5. each speech frame takes the speaker of the nearest window centre;
 *   6. unless an exact count is asked for, speakers whose speech frames one full-covariance
 *      Gaussian over the cepstra (whichever features clustered) explains as well as two
 *      (delta BIC, penalty weight 1.9) are merged, down to min_speakers;
 *   7. with two speakers or more, each speech frame is relabelled by the speakers' Gaussians
 *      (summed log-likelihood over +-0.5 s); runs of one speaker become turns.
 *
 * bench/README.md gives the measured DER of this recipe and the others that were tried: the
 * encoder states lower it on the pyannote sample from 40 % to 20 % and leave AMI and falcon
 * about as they were, for an encoder pass of 3 blocks (about half of a 30 s window's encoding).
 *
 * A diarizer runs either that pipeline or pyannote 3.1's (pyannote_pipeline.h), chosen by
 * st_diarize_choose: pyannote when the model folders hold its checkpoints, unless told.
 */
#ifndef ST_DIARIZE_DIARIZE_H
#define ST_DIARIZE_DIARIZE_H

#include <stddef.h>

#include "diarize/rttm.h"
#include "util/error.h"
#include "vad/vad.h"
#include "whisper/transcribe.h"

/* Chosen on ../shared/data/diarization (bench/README.md): cosine distance between centroids,
 * for the cepstra and for the encoder states (which keep the three sets' figures from 1.2 to
 * 1.4). */
#define ST_DIARIZE_THRESHOLD 1.4
#define ST_DIARIZE_ENCODER_THRESHOLD 1.3

typedef struct st_diarize_options {
    int num_speakers; /* exact count; 0: estimate */
    int min_speakers; /* bounds on the estimate; 0: none */
    int max_speakers;
    double threshold; /* clustering threshold; 0 (the default): the features' own, above */
    int n_threads;    /* for the spectrogram and the encoder (>= 1) */
    /* The default pipeline's speaker features from this Whisper context, borrowed for the call,
     * instead of the diarizer's own (st_diarizer_use_whisper): a transcription of the same
     * samples on it that follows then resumes its first window (st_whisper_encoder_states). */
    st_whisper_context *whisper;
} st_diarize_options;

st_diarize_options st_diarize_default_options(void);

typedef struct st_diarization {
    st_turn *turns; /* ordered by start; speaker in 0..n_speakers-1; only pyannote's overlap */
    int n_turns;
    int n_speakers; /* numbered in order of first appearance */
} st_diarization;

/* Which pipeline diarizes. */
typedef enum st_diarize_pipeline {
    ST_DIARIZE_PIPELINE_AUTO = 0, /* pyannote when its checkpoints are found, else the default */
    ST_DIARIZE_PIPELINE_DEFAULT,  /* the recipe above: Silero VAD, no gated download */
    ST_DIARIZE_PIPELINE_PYANNOTE, /* pyannote 3.1 on the user's checkpoints */
} st_diarize_pipeline;

/* "auto", "default", "pyannote". */
const char *st_diarize_pipeline_name(st_diarize_pipeline pipeline);
/* The pipeline of one of those names to *out: 0, or -1 (and *out untouched) for another name or
 * NULL. The one parser of the names, for the command line, the library and the models check. */
int st_diarize_pipeline_from_name(const char *name, st_diarize_pipeline *out);

/* The pipeline a run uses and the files it reads, resolved (nothing loaded yet). */
typedef struct st_diarize_choice {
    st_diarize_pipeline pipeline; /* DEFAULT or PYANNOTE */
    char vad_model[4096];         /* DEFAULT: the Silero VAD file */
    char pyannote[4096];          /* PYANNOTE: the folder of the pipeline's config.yaml */
    char segmentation[4096];      /* PYANNOTE: the nets (snapshot folders or checkpoint files) */
    char embedding[4096];
    char why_not_pyannote[1024]; /* AUTO that chose DEFAULT: why pyannote was not taken */
} st_diarize_choice;

/* vad_model: a Silero VAD ONNX file (v5 or v6), or a name the model folders resolve
 * (ST_DIARIZE_VAD_MODEL; store.h). */
#define ST_DIARIZE_VAD_MODEL "silero-vad"

/* Chooses the pipeline: with AUTO, pyannote when the model folders (store.h: the Hugging Face
 * cache among them) hold ST_PYANNOTE_PIPELINE_REPO and both nets its config.yaml names, else the
 * default with vad_model; PYANNOTE and DEFAULT insist, and fail saying what is missing. */
steno_status st_diarize_choose(st_diarize_pipeline wanted, const char *vad_model, st_diarize_choice *out,
                               st_error *err);

/* What a pipeline loads once: the VAD network and the mel filters, or pyannote's two nets. Not
 * thread-safe: one per thread. */
typedef struct st_diarizer st_diarizer;

/* Opens the pipeline st_diarize_choose chose. */
steno_status st_diarizer_open_choice(const st_diarize_choice *choice, st_diarizer **out, st_error *err);
void st_diarizer_free(st_diarizer *diarizer);
/* The diarizer's Silero VAD, which a caller may also use (one thread at a time) for the VAD
 * filter of the same recording (vad.h: st_vad_keep_last runs it once for both); NULL for
 * pyannote's pipeline. */
st_vad *st_diarizer_vad(st_diarizer *diarizer);
/* Gives the default pipeline a Whisper model's encoder states as speaker features (see the
 * recipe above); the diarizer owns whisper from then on (a context of its own, e.g. from
 * st_whisper_context_share). Without one the cepstra are used. */
void st_diarizer_use_whisper(st_diarizer *diarizer, st_whisper_context *whisper);
int st_diarizer_uses_whisper(const st_diarizer *diarizer);
/* DEFAULT or PYANNOTE. */
st_diarize_pipeline st_diarizer_pipeline(const st_diarizer *diarizer);

/* Diarizes 16 kHz mono samples with the diarizer's pipeline (pyannote takes the speaker counts
 * and n_threads of options, not the threshold). options may be NULL (the defaults). On failure
 * *out is empty. */
steno_status st_diarize_pcm(st_diarizer *diarizer, const float *samples, size_t n_samples,
                            const st_diarize_options *options, st_diarization *out, st_error *err);
/* Decodes any file FFmpeg reads, then st_diarize_pcm. */
steno_status st_diarize_file(st_diarizer *diarizer, const char *path, const st_diarize_options *options,
                             st_diarization *out, st_error *err);
void st_diarization_free(st_diarization *diarization);

/* "SPEAKER_00", "SPEAKER_01", ... (pyannote's labels) into out. */
void st_diarize_speaker_name(int speaker, char out[16]);

/* The RTTM text of a diarization for a recording named uri. */
steno_status st_diarization_rttm(const st_diarization *diarization, const char *uri, st_strbuf *out, st_error *err);

#endif
