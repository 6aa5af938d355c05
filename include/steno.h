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
 *
 * This header is the whole engine as the `steno` command line and `steno serve` use it: neither
 * includes an engine module (store, models, whisper, audio, vad, diarize, output, nn); a CTest
 * test (include_rule) enforces it. They share with the library only generic C helpers from
 * src/util (parse, strbuf, atomic_file, embed, error), which carry no engine logic.
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
#include <stdio.h>

/* ---- models ---- */

typedef struct steno_context steno_context;

/* What the linear layers compute in. AUTO: the fastest that keeps the word error rate (float
 * weights quantized to int8 on load on CPUs with AVX-512 VNNI or AVX2, int8 CTranslate2 files in
 * integers, float32 otherwise); FP32: openai-whisper's float32 numerics; INT8: every layer
 * quantized to int8 on load; BF16: every layer's weights rounded to bfloat16 on load, products
 * of bf16 summed in float32 (AVX512_BF16; other CPUs run it too, more slowly, in AVX2 or C). */
typedef enum steno_compute_type {
    STENO_COMPUTE_AUTO,
    STENO_COMPUTE_FP32,
    STENO_COMPUTE_INT8,
    STENO_COMPUTE_BF16
} steno_compute_type;

/* "auto", "fp32", "int8", "bf16" to *out; 0 on success, -1 for another name. */
int steno_compute_type_from_name(const char *name, steno_compute_type *out);

/* Where the network runs: STENO_DEVICE_CPU, or the index of a CUDA GPU. The GPU backend is a
 * separate library opened on first use (built when nvcc was found). */
#define STENO_DEVICE_CPU (-1)

/* "cpu", "cuda" (GPU 0) or "cuda:N" to *device; 0 on success, -1 for another name. */
int steno_device_from_name(const char *name, int *device);

/* Selects the device for the models loaded from then on, in the whole process (like the compute
 * type). When the GPU cannot be used (no backend library, no driver, no such GPU) the setting
 * stays the CPU, STENO_ERR_UNSUPPORTED is returned and steno_context_error(NULL) says why. */
steno_status steno_set_device(int device);
int steno_get_device(void);

typedef struct steno_context_params {
    int n_threads;      /* CPU threads (default 2) */
    int max_hypotheses; /* the largest beam_size / best_of this context will be asked for (default 5) */
    /* Applies to the models loaded from then on, in the whole process (this version keeps one
     * setting for all contexts); AUTO (the default) leaves the current setting. */
    steno_compute_type compute_type;
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
/* The same with the reason in why (which copy was chosen and where, or what was looked for);
 * on failure steno_context_error(NULL) says "model 'NAME' not found: " and the reason. */
steno_status steno_model_locate(const char *name_or_path, char *path, size_t size, char *why, size_t why_size);

/* Whether the context's model knows other languages than English (and translation). */
int steno_context_is_multilingual(const steno_context *context);

/* openai-whisper's name of a language code ("en" -> "english"), or NULL when unknown; and the
 * code of a code or name in any case ("English" -> "en"), or NULL. */
const char *steno_language_name(const char *code);
const char *steno_language_code(const char *code_or_name);

/* The message of the last failure in this context (or, when context is NULL, of the last failed
 * call in this thread that has no context: steno_context_open, steno_model_locate, the store,
 * the diarizer's opening, steno_output_prepare_dir, steno_result_save). */
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
    /* With language NULL on a multilingual model: detect the language on every 30 s window, not
     * only the first, and record it per segment (json "language" on each segment). */
    int language_per_window;
    int beam_size;               /* 1 = greedy (default 5, like the whisper command line) */
    int best_of;                 /* samples at temperature > 0 (default 5) */
    float temperature;           /* first temperature (default 0) */
    float temperature_increment; /* fallback step up to 1.0 (default 0.2; 0 disables fallback);
                                    at most STENO_MAX_TEMPERATURES temperatures are tried */
    float patience;              /* beam search patience (default 1.0) */
    /* openai-whisper's fallback and silence thresholds (defaults 2.4, -1.0, 0.6) */
    double compression_ratio_threshold, logprob_threshold, no_speech_threshold;
    const char *initial_prompt;
    int condition_on_previous_text; /* default 1 */
    int without_timestamps;
    int word_timestamps; /* each segment gets its words with their times (openai's word_timestamps) */
    const char *prepend_punctuations, *append_punctuations; /* merged into words; NULL: openai's */
    /* With word timestamps: skip silences longer than this (seconds) around suspected
     * hallucinations; < 0 (the default): off */
    double hallucination_silence_threshold;
    int n_threads; /* 0: the context's */
    /* Batched long-form, like faster-whisper's BatchedInferencePipeline: 2 .. STENO_MAX_BATCH_SIZE
     * cuts the audio into independent chunks of at most 30 s (at pauses between the speech spans
     * with vad_model, else every 30 s), encodes batch_size of them, then decodes them together,
     * one network pass for all their hypotheses; no chunk sees another's text
     * (condition_on_previous_text does not apply; initial_prompt prompts every chunk). Faster on
     * long audio, at some accuracy (bench/README.md). CPU only; not with language_per_window or
     * hallucination_silence_threshold. 0 or 1 (the default): the sequential 30 s seek loop. */
    int batch_size;
    /* Voice activity detection, like faster-whisper's vad_filter: only the speech Silero VAD
     * finds is transcribed, and every time stays that of the recording. vad_model: a Silero
     * VAD ONNX file, or "silero-vad" for the first one in the model folders; NULL (the
     * default) transcribes everything. */
    const char *vad_model;
    float vad_threshold;    /* speech probability threshold (default 0.5; < 0: the default) */
    int vad_min_silence_ms; /* silence that ends a stretch of speech (default 2000; < 0: the default) */
    /* Who speaks, by diarize_pipeline (AUTO: pyannote 3.1 when the model folders hold its
     * checkpoints, else the default: Silero VAD, read from vad_model when it is set, else
     * "silero-vad" in the model folders, and the context's model's encoder states as speaker
     * features; no model download). Segments are
     * split where the speaker changes and carry it (steno_segment_info.speaker, "[SPEAKER_00]: "
     * in txt/srt/vtt, "speaker" in json); STENO_FORMAT_RTTM gives the turns. The speakers are
     * found before the transcription (the default pipeline costs a fraction of it), so
     * on_segment sees each decoded segment as the result will hold it: split where the speaker
     * changes, each piece with its speaker and its id in the result. */
    int diarize;
    int num_speakers;               /* exact count when known; 0: estimated */
    int min_speakers, max_speakers; /* bounds on the estimate; 0: none */
    int diarize_pipeline;           /* a steno_diarize_pipeline (default STENO_DIARIZE_AUTO) */
    const char *diarize_vad_model;  /* Silero VAD for diarization when vad_model is NULL; NULL: "silero-vad" */
    steno_segment_callback on_segment;
    steno_progress_callback on_progress;
    steno_stop_callback should_stop;
    void *user;
} steno_transcribe_params;

#define STENO_MAX_TEMPERATURES 16
#define STENO_MAX_BATCH_SIZE 32

steno_transcribe_params steno_transcribe_default_params(void);

/* Loads now what a job with these params will need besides the model (the VAD network, the
 * diarization pipeline), so that a missing or broken one is reported before any audio is read;
 * the context keeps them for its next jobs. Jobs load them by themselves otherwise. */
steno_status steno_context_prepare(steno_context *context, const steno_transcribe_params *params);
/* The diarizer the context's jobs with diarize use (steno_diarizer_pipeline says which pipeline
 * AUTO chose), once steno_context_prepare or such a job has opened it; else NULL. Owned by the
 * context. */
const struct steno_diarizer *steno_context_diarizer(const steno_context *context);

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

/* ---- who speaks ---- */

typedef enum steno_diarize_pipeline {
    STENO_DIARIZE_AUTO,     /* pyannote when its checkpoints are in the model folders, else the default */
    STENO_DIARIZE_DEFAULT,  /* Silero VAD and Whisper encoder states or cepstra: no model download */
    STENO_DIARIZE_PYANNOTE, /* pyannote 3.1's recipe on pyannote/speaker-diarization-3.1's checkpoints */
} steno_diarize_pipeline;

/* "auto", "default" or "pyannote" to *out; 0 on success, -1 for another name. */
int steno_diarize_pipeline_from_name(const char *name, steno_diarize_pipeline *out);

typedef struct steno_diarize_params {
    steno_diarize_pipeline pipeline;
    const char *vad_model; /* the default pipeline's Silero VAD: a file or a name (default "silero-vad") */
    int num_speakers;      /* exact count when known; 0: estimated */
    int min_speakers, max_speakers; /* bounds on the estimate; 0: none */
    int n_threads;         /* default 2 */
    /* The default pipeline's speaker features: the encoder states of this Whisper model (a file
     * or a name, e.g. "base.en"), else (NULL, the default) cepstra of the signal. */
    const char *whisper_model;
} steno_diarize_params;

steno_diarize_params steno_diarize_default_params(void);

/* A loaded diarization pipeline (one thread at a time). On failure steno_context_error(NULL)
 * says why. */
typedef struct steno_diarizer steno_diarizer;
steno_status steno_diarizer_open(const steno_diarize_params *params, steno_diarizer **out);
void steno_diarizer_free(steno_diarizer *diarizer);
/* The pipeline an opened diarizer runs (DEFAULT or PYANNOTE, also when AUTO was asked for) and
 * the files it read: the Silero VAD file, or pyannote's pipeline folder. */
steno_diarize_pipeline steno_diarizer_pipeline(const steno_diarizer *diarizer);
const char *steno_diarizer_source(const steno_diarizer *diarizer);
/* The default pipeline's speaker features, in words: "Whisper encoder states (MODEL)" or
 * "cepstra"; "" for pyannote's pipeline. */
const char *steno_diarizer_features(const steno_diarizer *diarizer);
/* When AUTO fell back to the default pipeline: why pyannote's was not taken (what the model
 * folders lack); else "". */
const char *steno_diarizer_why_not_pyannote(const steno_diarizer *diarizer);
/* The pipeline a diarizer opened with params would run (DEFAULT or PYANNOTE) into *chosen,
 * found in the model folders without loading anything; when its models are missing, an error
 * that steno_context_error(NULL) explains (for AUTO: what both pipelines lack). */
steno_status steno_diarize_locate(const steno_diarize_params *params, steno_diarize_pipeline *chosen);
const char *steno_diarizer_error(const steno_diarizer *diarizer);

/* Who spoke when in a file FFmpeg reads: a result without segments whose turns and speakers
 * the functions below give, rendered with STENO_FORMAT_RTTM. params may be NULL (the
 * diarizer's). */
steno_status steno_diarize_file(steno_diarizer *diarizer, const char *audio_path, const steno_diarize_params *params,
                                steno_result **out);

typedef struct steno_turn_info {
    double start, end; /* seconds */
    int speaker;       /* 0, 1, ... in order of first appearance */
} steno_turn_info;

/* A diarized result's speakers and turns (0 without diarization). */
int steno_result_n_speakers(const steno_result *result);
int steno_result_n_turns(const steno_result *result);
steno_turn_info steno_result_turn(const steno_result *result, int i);

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

/* How steno_result_render_with lays out subtitles: openai-whisper's --max_line_width,
 * --max_line_count, --max_words_per_line and --highlight_words (0: not given; they apply to srt
 * and vtt of a result with words), and the recording's name in RTTM (NULL: "audio"). */
typedef struct steno_render_params {
    int max_line_width, max_line_count, max_words_per_line;
    int highlight_words;
    const char *rttm_uri;
} steno_render_params;

/* steno_result_render with layout params (NULL: none). */
char *steno_result_render_with(const steno_result *result, steno_format format, const steno_render_params *params);

/* "txt", "vtt", "srt", "tsv", "json", "rttm" to *out; 0 on success, -1 for another name. */
int steno_format_from_name(const char *name, steno_format *out);

/* Makes an output folder ready before any work, as openai-whisper's os.makedirs: creates it and
 * its missing parents and checks that it can be written in. */
steno_status steno_output_prepare_dir(const char *output_dir);
/* Writes the result in one format where openai-whisper writes it: output_dir joined with
 * audio_path's base name less its extension, plus the format's extension ("dir/jfk.srt" for
 * "a/jfk.flac"), through a temporary file renamed into place. RTTM names the recording after
 * the file ("jfk") unless params->rttm_uri says otherwise. */
steno_status steno_result_save(const steno_result *result, steno_format format, const steno_render_params *params,
                               const char *output_dir, const char *audio_path);

/* A result made of given segments (their text, times and speakers; no words or tokens), for
 * rendering a transcript kept elsewhere (the server's stored jobs). NULL when memory runs out. */
steno_result *steno_result_from_segments(const steno_segment_info *segments, int n_segments);

void steno_result_free(steno_result *result);
void steno_free(void *memory);

/* ---- the model store (`steno models`) ---- */

/* The model folders in lookup order: params->model_dirs first, then $STENO_MODELS (default
 * ~/.cache/steno/models), openai-whisper's, the Hugging Face caches, $STENO_TEST_MODELS. */
typedef struct steno_store steno_store;
typedef struct steno_store_params {
    const char *const *model_dirs; /* looked in first; pull and rm use only these when given (at most 8) */
    int n_model_dirs;
    int offline; /* never touch the network (HF_HUB_OFFLINE=1 does the same) */
} steno_store_params;

steno_status steno_store_open(const steno_store_params *params, steno_store **out);
void steno_store_free(steno_store *store);

/* Whether name is a model steno knows ("base.en", "Systran/faster-whisper-small", ...). */
int steno_model_is_known(const char *name);
/* The Whisper models with a copy in the folders, each name once, in lookup order: up to max of
 * them into names (static strings). Returns how many. */
int steno_store_whisper_models(steno_store *store, const char **names, int max);

/* The reports below write to out (text, or JSON with STENO_REPORT_JSON) and their problems to
 * err, one line each; they return STENO_OK, or STENO_ERR_NOT_FOUND once something failed. */
enum {
    STENO_REPORT_JSON = 1,          /* machine-readable */
    STENO_REPORT_VERIFY = 2,        /* hash model files against the published checksums */
    STENO_REPORT_OTHER_ENGINES = 4, /* rm: also copies in other programs' caches */
};
/* The folders, every model found, and which file each well-known name would use and why; with
 * for_command ("transcribe -m medium --diarize"), what that command would use or download. */
steno_status steno_store_check(steno_store *store, const char *for_command, int flags, FILE *out, FILE *err);
/* What each file or folder is, judged by content, and what other engines would do with it. */
steno_status steno_store_check_paths(steno_store *store, const char *const *paths, int n_paths, int flags, FILE *out,
                                     FILE *err);
/* The models steno can name, their download size and formats, and where they are here. */
steno_status steno_store_list(steno_store *store, int flags, FILE *out, FILE *err);

typedef struct steno_store_callbacks {
    /* pull: asked before a download over 1 GB; 0 refuses it. NULL: no question. */
    int (*confirm_download)(void *user, const char *question);
    /* rm: asked before removing; 1 goes on, 0 refuses, -1 says nobody can be asked. NULL: go on. */
    int (*confirm_remove)(void *user, const char *question);
    /* pull: bytes of the file label done so far (done < 0: another process is downloading it);
     * label NULL once a model's download has ended. */
    void (*progress)(void *user, const char *label, long long done, long long total);
    void *user;
} steno_store_callbacks;

/* Whether a format name is one pull and rm take ("ggml", "pt", "ct2"). */
int steno_store_format_is_known(const char *name);
/* Downloads the model name (and what it needs) unless a usable copy is present in any format;
 * format NULL: the default, else "ggml", "pt" or "ct2". Resumes and checks checksums. */
steno_status steno_store_pull(steno_store *store, const char *name, const char *format,
                              const steno_store_callbacks *callbacks, FILE *out, FILE *err);
/* Removes exactly the files of name's copies (format NULL: every format), after listing them
 * and asking confirm_remove; other programs' caches only with STENO_REPORT_OTHER_ENGINES or
 * when named in the store's model_dirs. */
steno_status steno_store_remove(steno_store *store, const char *name, const char *format, int flags,
                                const steno_store_callbacks *callbacks, FILE *out, FILE *err);

/* "1.23 GB", "456.7 MB", "8.9 kB" ("?" for a negative count). */
void steno_human_size(long long bytes, char *out, size_t size);

/* ---- conversion ---- */

typedef struct steno_convert_report {
    const char *source_format; /* static string */
    unsigned long long bytes_written;
    double seconds;
} steno_convert_report;

/* Whether to ("pt", "ct2", "ggml", "hf") and quantize ("int8", "q8_0", "q5_1", "f16") are names
 * steno_model_convert takes. */
int steno_convert_format_is_known(const char *name);
int steno_convert_precision_is_known(const char *name);
/* Converts the model at source (any format steno reads) to destination, written to a temporary
 * name and renamed into place; an existing destination is replaced only with force, and only
 * when it is a regular file or a folder steno's writers made. quantize may be NULL (the
 * format's default). report may be NULL. On failure steno_context_error(NULL) says why
 * (STENO_ERR_INVALID_ARGUMENT: a refused destination or a combination the format lacks). */
steno_status steno_model_convert(const char *source, const char *destination, const char *to, const char *quantize,
                                 int force, steno_convert_report *report);

#ifdef __cplusplus
}
#endif
#endif /* STENO_H */
