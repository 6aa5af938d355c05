/*
 * transcribe.h — long-form transcription as openai-whisper's transcribe() does it.
 *
 * A st_whisper_context bundles what one loaded model needs to run: the weights, tokenizer and
 * mel filters (shareable between contexts, see st_whisper_context_share), the run state and
 * the window decoder. st_transcribe then walks the log-mel of a whole recording in 30-second
 * windows (the seek loop), decodes each with temperature fallback, cuts segments at timestamp
 * pairs and conditions each window on the text before it.
 */
#ifndef ST_WHISPER_TRANSCRIBE_H
#define ST_WHISPER_TRANSCRIBE_H

#include <stddef.h>
#include <stdint.h>

#include "audio/mel.h"
#include "models/tensor_set.h"
#include "output/transcript.h"
#include "util/error.h"
#include "vad/vad.h"

typedef struct st_whisper_context st_whisper_context;

/* Loads the model at path (any format st_model_open reads) for up to max_sequences parallel
 * hypotheses (the largest beam_size / best_of to be used). */
steno_status st_whisper_context_load(const char *path, int max_sequences, int n_threads, st_whisper_context **out,
                                     st_error *err);
/* The same for a model already opened (st_model_open or a format's reader): the context takes
 * ownership of *model, which is zeroed, on success and on failure alike. */
steno_status st_whisper_context_load_model(st_model *model, int max_sequences, int n_threads, st_whisper_context **out,
                                           st_error *err);
/* A second context on the model `base` holds: the weights, tokenizer and filters are shared
 * read-only (and freed with the last context that uses them), the run state is its own, so the
 * two may transcribe at the same time on different threads. Each context is used by one thread
 * at a time. */
steno_status st_whisper_context_share(const st_whisper_context *base, int max_sequences, st_whisper_context **out,
                                      st_error *err);
void st_whisper_context_free(st_whisper_context *context);
int st_whisper_context_is_multilingual(const st_whisper_context *context);
/* The languages a multilingual model knows (0 for an English-only one), in its token order
 * (openai-whisper's LANGUAGES: en, zh, de, es, ru, …), and the code of the index-th. */
int st_whisper_context_n_languages(const st_whisper_context *context);
const char *st_whisper_context_language(const st_whisper_context *context, int index);

/* The width of the model's encoder states (n_audio_state). */
int st_whisper_context_audio_width(const st_whisper_context *context);

/* Receives encoder states: rows first .. first+n_rows-1 of a recording (20 ms each), states[r *
 * width + i] for row first + r. */
typedef void (*st_whisper_states_fn)(void *user, int first, int n_rows, const float *states, int width);

/* The states after the first n_blocks encoder blocks (0 .. n_audio_layer) of 16 kHz mono
 * samples, on the CPU: the windows the transcription's seek loop encodes when each window
 * advances a full 30 s (the log-mel of 30 s from 0, 30, 60 s ..., the last one padded with
 * zeros), each window's rows given once to take, in order, a window at a time (so the
 * recording's states are never held at once); row r stands for mel frames 2r and 2r + 1, and
 * a last odd frame has no row of its own. Speaker features for diarization (diarize.h). The
 * context keeps the first window's states: a transcription of the same samples on it resumes
 * that window's encoding after those blocks (the same numbers, part of the work). */
steno_status st_whisper_encoder_states(st_whisper_context *context, const float *samples, size_t n_samples,
                                       int n_blocks, int n_threads, st_whisper_states_fn take, void *user,
                                       st_error *err);
/* How many window encodings on the context resumed from states st_whisper_encoder_states kept
 * (tests and diagnostics). */
int st_whisper_context_resumed_windows(const st_whisper_context *context);

/* openai-whisper's detect_language as transcribe() uses it: the spoken language of the first
 * 30 s of 16 kHz mono samples. *code receives the most probable language's code (owned by the
 * model); probs, if not NULL, one probability per language in the order above. Fails with
 * STENO_ERR_INVALID_ARGUMENT for an English-only model. */
steno_status st_whisper_detect_language(st_whisper_context *context, const float *samples, size_t n_samples,
                                        int n_threads, float *probs, const char **code, st_error *err);

enum { ST_MAX_TEMPERATURES = 16, ST_MAX_BATCH_SIZE = 32 };

typedef struct st_transcribe_options {
    const char *language; /* code ("en", "ru"); NULL: detect on the first window (multilingual) */
    /* With language NULL on a multilingual model: detect the language on every 30 s window, not
     * only the first, and record it in each segment (a recording that switches language). */
    int language_per_window;
    int translate;                           /* task: translate to English instead of transcribe */
    float temperatures[ST_MAX_TEMPERATURES]; /* fallback schedule, tried in order */
    int n_temperatures;
    int beam_size; /* at temperature 0; 1 = greedy */
    int best_of;   /* samples at temperature > 0 */
    float patience;
    float length_penalty;               /* < 0: none */
    double compression_ratio_threshold; /* <= 0: off */
    double logprob_threshold;           /* set has_logprob_threshold */
    int has_logprob_threshold;
    double no_speech_threshold; /* <= 0: off */
    int condition_on_previous_text;
    const char *initial_prompt; /* NULL: none */
    int without_timestamps;
    int suppress_blank;
    int suppress_non_speech; /* openai-whisper's suppress_tokens="-1" */
    int n_threads;
    uint64_t seed;
    /* Word-level timestamps (openai's word_timestamps): each segment gets its words, segment
     * times follow the words, and the next window starts after the last word. */
    int word_timestamps;
    const char *prepend_punctuations; /* merged into the following word; NULL: openai's default */
    const char *append_punctuations;  /* merged into the preceding word; NULL: openai's default */
    /* With word_timestamps: skip silent stretches longer than this many seconds around
     * suspected hallucinations (openai's hallucination_silence_threshold); set the has_ flag. */
    double hallucination_silence_threshold;
    int has_hallucination_silence_threshold;
    /* When a window's text ends with a timestamp before the window does, openai-whisper takes
     * the whole window as done, and so drops any speech after that timestamp. steno starts the
     * next window at the timestamp instead, as whisper.cpp does, when speech follows it: with
     * has_speech set, it is asked whether [from, to) (seconds of the samples transcribed) holds
     * speech after that timestamp (the VAD filter sets it from its probabilities); without, the
     * window's log-mel decides (sound within 20 dB of the text's loudest, from 0.3 s after the
     * timestamp on; transcribe.c). */
    int (*has_speech)(void *user, double from, double to);
    void *speech_user;
    /* faster-whisper's vad_filter: when vad is set, only the speech it finds (with
     * vad_options) is transcribed, its spans joined end to end, and every segment and word
     * time is mapped back to the recording (whisper/vad_filter.c). The recording is then held
     * in memory whole (4 bytes a sample: 230 MB an hour). */
    st_vad *vad;
    st_vad_options vad_options;
    /* faster-whisper's batched pipeline (BatchedInferencePipeline), done in steno's network: with
     * batch_size 2 .. ST_MAX_BATCH_SIZE the audio is cut into independent chunks of at most 30 s
     * (at chunk_ends when set, else every 30 s); batch_size chunks at a time are encoded, then
     * decoded in lockstep (one decoder pass computes every live sequence of every chunk), each
     * from its own prompt (initial_prompt, never the text of another chunk), with its own
     * temperature fallback (a chunk that fails the thresholds is decoded again alone). Segments
     * keep the times of the chunk's timestamps; text after a chunk's last timestamp pair ends
     * at the chunk's end. 0 or 1: the seek loop above. CPU only; not with language_per_window
     * or hallucination_silence_threshold (they move the seek loop's windows). */
    int batch_size;
    const size_t *chunk_ends; /* with batch_size > 1: where chunks end, in samples, ascending; NULL: every 30 s */
    size_t n_chunk_ends;
    /* Called with each segment as soon as its window is decoded; return non-zero to stop. */
    int (*on_segment)(void *user, const st_segment *segment);
    /* Called after each window with the seconds of audio done and in all. */
    void (*on_progress)(void *user, double done, double total);
    /* Asked before each window; non-zero stops the job with STENO_ERR_CANCELLED. */
    int (*should_stop)(void *user);
    void *user;
} st_transcribe_options;

/* openai-whisper's transcribe() defaults: temperatures 0, 0.2 … 1.0, greedy, best_of 5,
 * thresholds 2.4 / −1 / 0.6, conditioning on previous text, suppress "-1". */
st_transcribe_options st_transcribe_default_options(void);

/* Transcribes 16 kHz mono samples into *out (initialised by the caller with
 * st_transcript_init). */
steno_status st_transcribe(st_whisper_context *context, const float *samples, size_t n_samples,
                           const st_transcribe_options *options, st_transcript *out, st_error *err);

/* The same from an audio file, streamed: memory stays bounded whatever the recording's length
 * (the audio is decoded twice, see audio/mel_source.h). */
steno_status st_transcribe_file(st_whisper_context *context, const char *path, const st_transcribe_options *options,
                                st_transcript *out, st_error *err);

#endif
