/*
 * steno.h — the public C API of libsteno.
 *
 * In the whisper.cpp style: an opaque context per loaded model, steno_*_default_params()
 * functions that fill a params struct, one call per job, callbacks for new segments and
 * progress, and status codes with steno_strerror(). A minimal program:
 *
 *     steno_context *ctx;
 *     steno_result *result;
 *     if (steno_context_open("ggml-base.en.bin", NULL, &ctx) != STENO_OK) ...
 *     steno_transcribe_params p = steno_transcribe_default_params();
 *     if (steno_transcribe_file(ctx, "jfk.wav", &p, &result) == STENO_OK)
 *         puts(steno_result_text(result));
 *     else
 *         fprintf(stderr, "%s\n", steno_context_error(ctx));
 *     steno_result_free(result);
 *     steno_context_free(ctx);
 */
#ifndef STENO_H
#define STENO_H

#ifdef __cplusplus
extern "C" {
#endif

#define STENO_VERSION_MAJOR 0
#define STENO_VERSION_MINOR 1
#define STENO_VERSION_PATCH 0

/* Every fallible call returns one of these. 0 is success. */
typedef enum steno_status {
    STENO_OK = 0,
    STENO_ERR_INVALID_ARGUMENT, /* a caller's argument is out of range or malformed */
    STENO_ERR_NO_MEMORY,        /* an allocation failed */
    STENO_ERR_IO,               /* a file could not be opened, read, mapped or written */
    STENO_ERR_NOT_FOUND,        /* a file, tensor or model that was asked for is absent */
    STENO_ERR_FORMAT,           /* bytes are not what their format requires: corrupt, truncated or hostile */
    STENO_ERR_UNSUPPORTED,      /* well-formed, but a variant steno does not handle */
    STENO_ERR_AUDIO,            /* the audio could not be decoded */
    STENO_ERR_CANCELLED,        /* a callback asked to stop */
    STENO_ERR_INTERNAL,         /* a bug in steno: please report it */
    STENO_STATUS_COUNT
} steno_status;

/* A short static description of a status code ("corrupt or unsupported file format"). */
const char *steno_strerror(steno_status status);

/* "MAJOR.MINOR.PATCH" */
const char *steno_version(void);

#include <stddef.h>

/* ---- models ---- */

typedef struct steno_context steno_context;

typedef struct steno_context_params {
    int n_threads;      /* CPU threads (default 2) */
    int max_hypotheses; /* the largest beam_size / best_of this context will be asked for (default 5) */
} steno_context_params;

steno_context_params steno_context_default_params(void);

/* Loads a Whisper model from a file or folder in any format steno reads. params may be NULL.
 * On failure *out is NULL; steno_last_error() says why. */
steno_status steno_context_open(const char *model_path, const steno_context_params *params, steno_context **out);
void steno_context_free(steno_context *context);

/* A second context on the model base has loaded, without loading it again: the weights are
 * shared read-only (they stay in memory until the last context on them is freed), the run state
 * is the new context's own, sized by params (NULL: base's). Contexts on one model may transcribe
 * at the same time, each on its own thread; one context is used by one thread at a time. */
steno_status steno_context_share(steno_context *base, const steno_context_params *params, steno_context **out);

/* The model file or folder a name means ("base.en", "Systran/faster-whisper-small"), looked up
 * in the model folders as `steno models check` lists them; an existing path is returned as is.
 * On failure steno_context_error(NULL) says what was looked for. */
steno_status steno_model_resolve(const char *name_or_path, char *path, size_t size);

/* openai-whisper's name of a language code ("en" -> "english"), or NULL when unknown; and the
 * code of a code or name in any case ("English" -> "en"), or NULL. */
const char *steno_language_name(const char *code);
const char *steno_language_code(const char *code_or_name);

/* The message of the last failure in this context (or of the last failed steno_context_open
 * in this thread when context is NULL). */
const char *steno_context_error(const steno_context *context);

/* ---- transcription ---- */

typedef struct steno_segment_info {
    int id;
    double start, end; /* seconds */
    const char *text;  /* UTF-8, usually with a leading space; valid while the result lives */
    double avg_logprob, no_speech_prob, compression_ratio, temperature;
    int seek;          /* mel frame (10 ms) where the 30-second window that produced it began */
    const int *tokens; /* its text and timestamp tokens, n_tokens of them */
    int n_tokens;
    int n_words; /* with word_timestamps: its words (steno_result_word); else 0 */
    int speaker; /* with diarize: 0, 1, ... ("SPEAKER_00", ...) in order of first appearance; else -1 */
} steno_segment_info;

typedef struct steno_word_info {
    const char *text; /* as decoded, usually with a leading space */
    double start, end, probability;
} steno_word_info;

/* Called as each segment is decoded; return non-zero to stop the job (STENO_ERR_CANCELLED). */
typedef int (*steno_segment_callback)(void *user, const steno_segment_info *segment);
/* Called after each 30-second window with the seconds done and in all. */
typedef void (*steno_progress_callback)(void *user, double done_seconds, double total_seconds);
/* Asked before each 30-second window; non-zero stops the job (STENO_ERR_CANCELLED). Another
 * thread cancels a job by setting a flag this callback reads. */
typedef int (*steno_stop_callback)(void *user);

typedef struct steno_transcribe_params {
    const char *language;        /* "en", "ru", ...; NULL detects it (multilingual models) */
    int translate;               /* translate to English instead of transcribing */
    int beam_size;               /* 1 = greedy (default 5, like the whisper command line) */
    int best_of;                 /* samples at temperature > 0 (default 5) */
    float temperature;           /* first temperature (default 0) */
    float temperature_increment; /* fallback step up to 1.0 (default 0.2; 0 disables fallback) */
    const char *initial_prompt;
    int condition_on_previous_text; /* default 1 */
    int without_timestamps;
    int word_timestamps; /* each segment gets its words with their times (openai's word_timestamps) */
    int n_threads; /* 0: the context's */
    /* Voice activity detection, like faster-whisper's vad_filter: only the speech Silero VAD
     * finds is transcribed, and every time stays that of the recording. vad_model: a Silero
     * VAD ONNX file, or "silero-vad" for the first one in the model folders; NULL (the
     * default) transcribes everything. */
    const char *vad_model;
    float vad_threshold;    /* speech probability threshold; 0: 0.5 */
    int vad_min_silence_ms; /* silence that ends a stretch of speech; 0: 2000 */
    /* Who speaks (the default diarization: Silero VAD, read from vad_model when it is set, else
     * "silero-vad" in the model folders, and signal features; no model download). Segments are
     * split where the speaker changes and carry it (steno_segment_info.speaker, "[SPEAKER_00]: "
     * in txt/srt/vtt, "speaker" in json); STENO_FORMAT_RTTM gives the turns. on_segment still
     * sees the segments as decoded, before speakers are known. */
    int diarize;
    int num_speakers;               /* exact count when known; 0: estimated */
    int min_speakers, max_speakers; /* bounds on the estimate; 0: none */
    steno_segment_callback on_segment;
    steno_progress_callback on_progress;
    steno_stop_callback should_stop;
    void *user;
} steno_transcribe_params;

steno_transcribe_params steno_transcribe_default_params(void);

typedef struct steno_result steno_result;

/* Decodes any audio or video file FFmpeg reads and transcribes it. params may be NULL. */
steno_status steno_transcribe_file(steno_context *context, const char *audio_path,
                                   const steno_transcribe_params *params, steno_result **out);
/* Transcribes 16 kHz mono float samples. */
steno_status steno_transcribe_pcm(steno_context *context, const float *samples, size_t n_samples,
                                  const steno_transcribe_params *params, steno_result **out);

const char *steno_result_text(const steno_result *result);
const char *steno_result_language(const steno_result *result);
double steno_result_duration(const steno_result *result);
int steno_result_n_segments(const steno_result *result);
/* Segment i (0 <= i < n_segments). */
steno_segment_info steno_result_segment(const steno_result *result, int i);
/* Word i of segment `segment` (0 <= i < its n_words); text "" and times 0 when out of range. */
steno_word_info steno_result_word(const steno_result *result, int segment, int i);

typedef enum steno_format {
    STENO_FORMAT_TXT,
    STENO_FORMAT_VTT,
    STENO_FORMAT_SRT,
    STENO_FORMAT_TSV,
    STENO_FORMAT_JSON,
    STENO_FORMAT_RTTM, /* speaker turns (NIST RTTM, recording "audio"), for a diarized result */
} steno_format;

/* The result in one of openai-whisper's output formats (or RTTM), NUL-terminated, malloc'd:
 * release it with steno_free. NULL when memory runs out, the format is unknown, or RTTM is asked
 * of a result transcribed without diarize. */
char *steno_result_render(const steno_result *result, steno_format format);

void steno_result_free(steno_result *result);
void steno_free(void *memory);

#ifdef __cplusplus
}
#endif
#endif /* STENO_H */
