/*
 * steno.c — the public API of include/steno.h, a thin layer over the modules: audio decoding,
 * the Whisper context and transcription loop, diarization, and the transcript writers.
 *
 * A job with diarization decodes its audio once and gives the same samples to Whisper and to
 * the diarization; with the VAD filter too, both use one Silero network, which runs once
 * (st_vad_keep_last).
 */
#include "steno.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "audio/audio.h"
#include "diarize/speech.h"
#include "diarize/assign.h"
#include "nn/device.h"
#include "nn/linear.h"
#include "nn/threads.h"
#include "whisper/tokenizer.h"
#include "whisper/transcribe.h"

struct steno_context {
    st_whisper_context *whisper;
    char model_path[4096]; /* what whisper was loaded from, for messages */
    steno_context_params params;
    st_error error;
    /* what jobs loaded besides the model, kept for the next (steno_context_prepare) */
    steno_diarizer *diarizer;
    char diarizer_vad[4096];
    int diarizer_pipeline;
    st_vad *vad; /* the VAD filter's own network, when the diarizer's is not the one asked for */
    char vad_name[4096];
};

struct steno_diarizer {
    steno_diarize_params params;
    st_diarizer *diarizer;           /* the pipeline st_diarize_choose chose */
    steno_diarize_pipeline pipeline; /* which: DEFAULT or PYANNOTE */
    char source[4096];               /* its files: the Silero VAD, or pyannote's pipeline folder */
    char why_not_pyannote[1024];     /* AUTO that chose DEFAULT: why pyannote was not taken */
    char features[4200];             /* steno_diarizer_features */
    st_error error;
};

_Thread_local st_error st_api_error;

steno_context_params steno_context_default_params(void) {
    return (steno_context_params){.n_threads = 2, .max_hypotheses = 5};
}

int steno_compute_type_from_name(const char *name, steno_compute_type *out) {
    st_nn_compute compute;
    if (!name || st_nn_compute_from_name(name, &compute) != 0) return -1;
    *out = compute == ST_NN_COMPUTE_INT8   ? STENO_COMPUTE_INT8
           : compute == ST_NN_COMPUTE_FP32 ? STENO_COMPUTE_FP32
           : compute == ST_NN_COMPUTE_BF16 ? STENO_COMPUTE_BF16
                                           : STENO_COMPUTE_AUTO;
    return 0;
}

int steno_device_from_name(const char *name, int *device) {
    return name ? st_nn_device_from_name(name, device) : -1;
}

steno_status steno_set_device(int device) {
    st_error_clear(&st_api_error);
    return st_nn_set_device(device, &st_api_error);
}

int steno_get_device(void) {
    return st_nn_get_device();
}

steno_status steno_context_open(const char *model_path, const steno_context_params *params, steno_context **out) {
    *out = NULL;
    st_error_clear(&st_api_error);
    if (!model_path) return st_error_set(&st_api_error, STENO_ERR_INVALID_ARGUMENT, "no model path given");
    steno_context *context = calloc(1, sizeof *context);
    if (!context) return st_error_set(&st_api_error, STENO_ERR_NO_MEMORY, "out of memory");
    context->params = params ? *params : steno_context_default_params();
    if (context->params.n_threads < 1) context->params.n_threads = 1;
    if (context->params.max_hypotheses < 1) context->params.max_hypotheses = 1;
    if (context->params.compute_type == STENO_COMPUTE_FP32) st_nn_set_compute(ST_NN_COMPUTE_FP32);
    if (context->params.compute_type == STENO_COMPUTE_INT8) st_nn_set_compute(ST_NN_COMPUTE_INT8);
    if (context->params.compute_type == STENO_COMPUTE_BF16) st_nn_set_compute(ST_NN_COMPUTE_BF16);
    steno_status status = st_whisper_context_load(model_path, context->params.max_hypotheses, context->params.n_threads,
                                                  &context->whisper, &st_api_error);
    if (status != STENO_OK) {
        free(context);
        return status;
    }
    snprintf(context->model_path, sizeof context->model_path, "%s", model_path);
    *out = context;
    return STENO_OK;
}

steno_status steno_context_share(steno_context *base, const steno_context_params *params, steno_context **out) {
    *out = NULL;
    st_error_clear(&st_api_error);
    if (!base) return st_error_set(&st_api_error, STENO_ERR_INVALID_ARGUMENT, "no context to share");
    steno_context *context = calloc(1, sizeof *context);
    if (!context) return st_error_set(&st_api_error, STENO_ERR_NO_MEMORY, "out of memory");
    context->params = params ? *params : base->params;
    if (context->params.n_threads < 1) context->params.n_threads = 1;
    if (context->params.max_hypotheses < 1) context->params.max_hypotheses = 1;
    steno_status status =
        st_whisper_context_share(base->whisper, context->params.max_hypotheses, &context->whisper, &st_api_error);
    if (status != STENO_OK) {
        free(context);
        return status;
    }
    snprintf(context->model_path, sizeof context->model_path, "%s", base->model_path);
    *out = context;
    return STENO_OK;
}

steno_status steno_model_locate(const char *name_or_path, char *path, size_t size, char *why, size_t why_size) {
    st_error_clear(&st_api_error);
    if (!name_or_path || !path || size == 0 || !why || why_size == 0) {
        return st_error_set(&st_api_error, STENO_ERR_INVALID_ARGUMENT, "no model name given");
    }
    st_store store;
    st_store_init(&store, NULL, 0);
    return st_store_resolve(&store, name_or_path, path, size, why, why_size, &st_api_error);
}

steno_status steno_model_resolve(const char *name_or_path, char *path, size_t size) {
    char why[1024] = "";
    steno_status status = steno_model_locate(name_or_path, path, size, why, sizeof why);
    if (status != STENO_OK && why[0]) st_error_set(&st_api_error, status, "%s", why);
    return status;
}

int steno_context_is_multilingual(const steno_context *context) {
    return st_whisper_context_is_multilingual(context->whisper);
}

const char *steno_language_name(const char *code) {
    return st_language_name(code);
}

const char *steno_language_code(const char *code_or_name) {
    return st_language_code(code_or_name);
}

void steno_context_free(steno_context *context) {
    if (!context) return;
    steno_diarizer_free(context->diarizer);
    st_vad_free(context->vad);
    st_whisper_context_free(context->whisper);
    free(context);
}

const char *steno_context_error(const steno_context *context) {
    return st_error_message(context ? &context->error : &st_api_error);
}

steno_transcribe_params steno_transcribe_default_params(void) {
    st_transcribe_options o = st_transcribe_default_options();
    return (steno_transcribe_params){
        .beam_size = 5,
        .best_of = 5,
        .temperature = 0.0f,
        .temperature_increment = 0.2f,
        .patience = o.patience,
        .compression_ratio_threshold = o.compression_ratio_threshold,
        .logprob_threshold = o.logprob_threshold,
        .no_speech_threshold = o.no_speech_threshold,
        .condition_on_previous_text = 1,
        .hallucination_silence_threshold = -1,
        .vad_threshold = o.vad_options.threshold,
        .vad_min_silence_ms = o.vad_options.min_silence_duration_ms,
        .diarize_pipeline = STENO_DIARIZE_AUTO,
    };
}

typedef struct callback_bridge {
    const steno_transcribe_params *params;
    /* a diarized job's speakers, known before the transcription: on_segment gets each segment
     * split as st_diarize_assign splits it in the result, n_sent pieces so far */
    const st_diarization *speakers;
    int n_sent;
} callback_bridge;

static steno_segment_info segment_info(const st_segment *s) {
    return (steno_segment_info){.id = s->id,
                                .start = s->start,
                                .end = s->end,
                                .text = s->text,
                                .avg_logprob = s->avg_logprob,
                                .no_speech_prob = s->no_speech_prob,
                                .compression_ratio = s->compression_ratio,
                                .temperature = s->temperature,
                                .seek = s->seek,
                                .tokens = s->tokens,
                                .n_tokens = s->n_tokens,
                                .n_words = s->n_words,
                                .speaker = s->speaker};
}

/* The caller's on_segment; with the speakers known, once per piece of the segment as the result
 * will hold it (its speaker, its id there), or the segment whole if splitting it fails. */
static int bridge_segment(void *user, const st_segment *segment) {
    callback_bridge *bridge = user;
    const steno_transcribe_params *p = bridge->params;
    st_transcript pieces;
    st_transcript_init(&pieces);
    pieces.has_words = true;
    st_error err;
    const st_diarization *d = bridge->speakers;
    if (!d || st_transcript_append(&pieces, segment, &err) != STENO_OK ||
        st_diarize_assign(&pieces, d->turns, d->n_turns, d->n_speakers, p->word_timestamps, &err) != STENO_OK) {
        st_transcript_free(&pieces);
        steno_segment_info info = segment_info(segment);
        return p->on_segment(p->user, &info);
    }
    int stop = 0;
    for (int i = 0; i < pieces.n_segments && !stop; i++) {
        steno_segment_info info = segment_info(&pieces.segments[i]);
        info.id = bridge->n_sent++;
        stop = p->on_segment(p->user, &info);
    }
    st_transcript_free(&pieces);
    return stop;
}

static void bridge_progress(void *user, double done, double total) {
    const callback_bridge *bridge = user;
    bridge->params->on_progress(bridge->params->user, done, total);
}

static int bridge_stop(void *user) {
    const callback_bridge *bridge = user;
    return bridge->params->should_stop(bridge->params->user);
}

_Static_assert(STENO_MAX_BATCH_SIZE == ST_MAX_BATCH_SIZE, "steno.h's batch limit is the library's");

/* openai-whisper's options from the public params. */
static st_transcribe_options options_from(const steno_context *context, const steno_transcribe_params *p,
                                          callback_bridge *bridge) {
    st_transcribe_options o = st_transcribe_default_options();
    o.language = p->language;
    o.translate = p->translate;
    o.beam_size = p->beam_size > 0 ? p->beam_size : 1;
    o.best_of = p->best_of > 0 ? p->best_of : 1;
    /* the fallback schedule: temperature, temperature + increment, ... up to 1.0 */
    o.n_temperatures = 0;
    if (p->temperature_increment > 0) {
        double count = floor((1.0 + 1e-6 - p->temperature) / p->temperature_increment) + 1;
        for (int k = 0; k < count && k < ST_MAX_TEMPERATURES; k++)
            o.temperatures[o.n_temperatures++] = (float)(p->temperature + k * (double)p->temperature_increment);
    }
    if (o.n_temperatures == 0) o.temperatures[o.n_temperatures++] = p->temperature;
    o.language_per_window = p->language_per_window;
    o.patience = p->patience > 0 ? p->patience : 1.0f;
    o.compression_ratio_threshold = p->compression_ratio_threshold;
    o.logprob_threshold = p->logprob_threshold;
    o.no_speech_threshold = p->no_speech_threshold;
    if (p->prepend_punctuations) o.prepend_punctuations = p->prepend_punctuations;
    if (p->append_punctuations) o.append_punctuations = p->append_punctuations;
    if (p->hallucination_silence_threshold >= 0) {
        o.hallucination_silence_threshold = p->hallucination_silence_threshold;
        o.has_hallucination_silence_threshold = 1;
    }
    o.initial_prompt = p->initial_prompt;
    o.condition_on_previous_text = p->condition_on_previous_text;
    o.without_timestamps = p->without_timestamps;
    o.word_timestamps = p->word_timestamps || p->diarize; /* speakers are placed word by word */
    o.n_threads = p->n_threads > 0 ? p->n_threads : context->params.n_threads;
    o.batch_size = p->batch_size;
    if (p->vad_threshold >= 0) o.vad_options.threshold = p->vad_threshold;
    if (p->vad_min_silence_ms >= 0) o.vad_options.min_silence_duration_ms = p->vad_min_silence_ms;
    *bridge = (callback_bridge){.params = p};
    o.user = bridge;
    if (p->on_segment) o.on_segment = bridge_segment;
    if (p->on_progress) o.on_progress = bridge_progress;
    if (p->should_stop) o.should_stop = bridge_stop;
    return o;
}

static st_vad *st_api_shared_vad(const steno_context *context, const steno_transcribe_params *p);

/* The Silero VAD the job's diarization uses. */
static const char *diarize_vad_name(const steno_transcribe_params *p) {
    return p->vad_model ? p->vad_model : p->diarize_vad_model ? p->diarize_vad_model : ST_DIARIZE_VAD_MODEL;
}

steno_status steno_context_prepare(steno_context *context, const steno_transcribe_params *p) {
    st_error_clear(&context->error);
    if (!p) return STENO_OK;
    if (p->diarize && (!context->diarizer || context->diarizer_pipeline != p->diarize_pipeline ||
                       strcmp(context->diarizer_vad, diarize_vad_name(p)) != 0)) {
        steno_diarizer_free(context->diarizer);
        context->diarizer = NULL;
        steno_diarize_params dp = steno_diarize_default_params();
        dp.pipeline = (steno_diarize_pipeline)p->diarize_pipeline;
        dp.vad_model = diarize_vad_name(p);
        if (steno_diarizer_open(&dp, &context->diarizer) != STENO_OK) {
            return st_error_set(&context->error, st_api_error.code, "%s", st_error_message(&st_api_error));
        }
        snprintf(context->diarizer_vad, sizeof context->diarizer_vad, "%s", dp.vad_model);
        context->diarizer_pipeline = p->diarize_pipeline;
        if (context->diarizer->pipeline == STENO_DIARIZE_DEFAULT) { /* the transcription's model's features */
            snprintf(context->diarizer->features, sizeof context->diarizer->features, "Whisper encoder states (%s)",
                     context->model_path);
        }
    }
    if (p->vad_model && strcmp(context->vad_name, p->vad_model) != 0 && !st_api_shared_vad(context, p)) {
        st_vad_free(context->vad);
        context->vad = NULL;
        context->vad_name[0] = '\0';
        st_store store;
        char path[4096], why[2048];
        st_store_init(&store, NULL, 0);
        steno_status status =
            st_store_resolve(&store, p->vad_model, path, sizeof path, why, sizeof why, &context->error);
        if (status == STENO_OK) status = st_vad_open(path, &context->vad, &context->error);
        if (status != STENO_OK) return status;
        snprintf(context->vad_name, sizeof context->vad_name, "%s", p->vad_model);
    }
    return STENO_OK;
}

/* The diarizer's VAD when the filter asks for the same model: one network for both. */
static st_vad *st_api_shared_vad(const steno_context *context, const steno_transcribe_params *p) {
    if (!p->diarize || !context->diarizer || !st_diarizer_vad(context->diarizer->diarizer)) return NULL;
    return strcmp(context->diarizer_vad, p->vad_model) == 0 ? st_diarizer_vad(context->diarizer->diarizer) : NULL;
}

/* Diarizes samples with a loaded pipeline into *out; whisper (may be NULL): the default
 * pipeline's features from this context instead of the diarizer's own (st_diarize_options). */
static steno_status diarize_samples(steno_diarizer *d, const float *samples, size_t n_samples,
                                    const steno_diarize_params *p, st_whisper_context *whisper, st_diarization *out,
                                    st_error *err) {
    st_diarize_options options = st_diarize_default_options();
    options.num_speakers = p->num_speakers, options.min_speakers = p->min_speakers;
    options.max_speakers = p->max_speakers, options.n_threads = p->n_threads > 0 ? p->n_threads : 1;
    options.whisper = whisper;
    return st_diarize_pcm(d->diarizer, samples, n_samples, &options, out, err);
}

/* A job with diarization: the samples (decoded once from the file when given one) go to the
 * diarization, then to Whisper, whose segments on_segment sees with their speakers (bridge), then
 * speakers are placed on the words and segments of the result (keeping the words only when
 * word_timestamps asked for them). With the VAD filter on the diarizer's network, Silero runs
 * once for both. */
static steno_status transcribe_diarized(steno_context *context, const char *audio_path, const float *samples,
                                        size_t n_samples, const steno_transcribe_params *p,
                                        const st_transcribe_options *o, callback_bridge *bridge, steno_result *result) {
    st_audio audio = {0};
    steno_status status = STENO_OK;
    if (audio_path) {
        status = st_audio_decode_file(audio_path, ST_DIARIZE_SAMPLE_RATE, &audio, &context->error);
        if (status != STENO_OK) return status;
        samples = audio.samples, n_samples = audio.n_samples;
    }
    if (o->vad) st_vad_keep_last(o->vad, 1);
    steno_diarize_params dp = context->diarizer->params;
    dp.num_speakers = p->num_speakers, dp.min_speakers = p->min_speakers;
    dp.max_speakers = p->max_speakers, dp.n_threads = o->n_threads;
    st_diarization *d = &result->diarization;
    /* the features from the transcription's own context, whose first window then resumes */
    status = diarize_samples(context->diarizer, samples, n_samples, &dp, context->whisper, d, &context->error);
    bridge->speakers = d;
    if (status == STENO_OK) {
        status = st_transcribe(context->whisper, samples, n_samples, o, &result->transcript, &context->error);
    }
    if (o->vad) st_vad_keep_last(o->vad, 0);
    st_audio_free(&audio);
    if (status == STENO_OK) {
        status = st_diarize_assign(&result->transcript, d->turns, d->n_turns, d->n_speakers, p->word_timestamps,
                                   &context->error);
    }
    result->diarized = status == STENO_OK;
    return status;
}

/* Runs one job from either a file or samples into a new result. */
static steno_status run_job(steno_context *context, const char *audio_path, const float *samples, size_t n_samples,
                            const steno_transcribe_params *params, steno_result **out) {
    *out = NULL;
    steno_transcribe_params defaults = steno_transcribe_default_params();
    const steno_transcribe_params *p = params ? params : &defaults;
    steno_status status = steno_context_prepare(context, p);
    if (status != STENO_OK) return status;
    callback_bridge bridge;
    st_transcribe_options o = options_from(context, p, &bridge);
    if (p->vad_model) o.vad = st_api_shared_vad(context, p) ? st_api_shared_vad(context, p) : context->vad;
    steno_result *result = calloc(1, sizeof *result);
    if (!result) return st_error_set(&context->error, STENO_ERR_NO_MEMORY, "out of memory");
    st_transcript_init(&result->transcript);
    if (p->diarize) {
        status = transcribe_diarized(context, audio_path, samples, n_samples, p, &o, &bridge, result);
    } else {
        status = audio_path
                     ? st_transcribe_file(context->whisper, audio_path, &o, &result->transcript, &context->error)
                     : st_transcribe(context->whisper, samples, n_samples, &o, &result->transcript, &context->error);
    }
    if (status != STENO_OK) {
        steno_result_free(result);
        return status;
    }
    *out = result;
    return STENO_OK;
}

steno_status steno_transcribe_pcm(steno_context *context, const float *samples, size_t n_samples,
                                  const steno_transcribe_params *params, steno_result **out) {
    return run_job(context, NULL, samples, n_samples, params, out);
}

steno_status steno_transcribe_file(steno_context *context, const char *audio_path,
                                   const steno_transcribe_params *params, steno_result **out) {
    if (!audio_path) {
        *out = NULL;
        return st_error_set(&context->error, STENO_ERR_INVALID_ARGUMENT, "no audio path given");
    }
    return run_job(context, audio_path, NULL, 0, params, out);
}

const char *steno_result_text(const steno_result *result) {
    return result->transcript.text ? result->transcript.text : "";
}

const char *steno_result_language(const steno_result *result) {
    return result->transcript.language ? result->transcript.language : "";
}

double steno_result_duration(const steno_result *result) {
    return result->transcript.duration;
}

int steno_result_n_segments(const steno_result *result) {
    return result->transcript.n_segments;
}

steno_segment_info steno_result_segment(const steno_result *result, int i) {
    if (i < 0 || i >= result->transcript.n_segments) return (steno_segment_info){.id = -1, .text = ""};
    return segment_info(&result->transcript.segments[i]);
}

steno_word_info steno_result_word(const steno_result *result, int segment, int i) {
    const st_transcript *t = &result->transcript;
    if (segment < 0 || segment >= t->n_segments || i < 0 || i >= t->segments[segment].n_words) {
        return (steno_word_info){.text = ""};
    }
    const st_word *w = &t->segments[segment].words[i];
    return (steno_word_info){.text = w->text, .start = w->start, .end = w->end, .probability = w->probability};
}

int steno_result_n_speakers(const steno_result *result) {
    return result->diarized ? result->diarization.n_speakers : 0;
}

int steno_result_n_turns(const steno_result *result) {
    return result->diarized ? result->diarization.n_turns : 0;
}

steno_turn_info steno_result_turn(const steno_result *result, int i) {
    if (!result->diarized || i < 0 || i >= result->diarization.n_turns) return (steno_turn_info){.speaker = -1};
    const st_turn *t = &result->diarization.turns[i];
    return (steno_turn_info){.start = t->start, .end = t->end, .speaker = t->speaker};
}

static const st_output_format output_formats[] = {ST_OUTPUT_TXT, ST_OUTPUT_VTT, ST_OUTPUT_SRT, ST_OUTPUT_TSV,
                                                  ST_OUTPUT_JSON};
enum { N_TRANSCRIPT_FORMATS = sizeof output_formats / sizeof output_formats[0] };

int steno_format_from_name(const char *name, steno_format *out) {
    static const char *const names[] = {"txt", "vtt", "srt", "tsv", "json", "rttm"};
    for (int i = 0; name && i < (int)(sizeof names / sizeof names[0]); i++) {
        if (!strcmp(name, names[i])) return *out = (steno_format)i, 0;
    }
    return -1;
}

static st_output_options writer_options(const steno_render_params *params) {
    if (!params) return (st_output_options){0};
    return (st_output_options){.max_line_width = params->max_line_width,
                               .max_line_count = params->max_line_count,
                               .max_words_per_line = params->max_words_per_line,
                               .highlight_words = params->highlight_words != 0};
}

/* Appends the result in one format to out. */
static steno_status render(const steno_result *result, steno_format format, const steno_render_params *params,
                           const char *uri, st_strbuf *out, st_error *err) {
    if (format == STENO_FORMAT_RTTM) {
        if (!result->diarized) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "RTTM needs a result transcribed with diarize");
        }
        return st_diarization_rttm(&result->diarization, uri, out, err);
    }
    if ((unsigned)format >= N_TRANSCRIPT_FORMATS) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "unknown format %d", (int)format);
    }
    st_output_options options = writer_options(params);
    return st_output_render(output_formats[format], &result->transcript, &options, out, err);
}

char *steno_result_render_with(const steno_result *result, steno_format format, const steno_render_params *params) {
    st_strbuf buffer;
    st_strbuf_init(&buffer);
    if (render(result, format, params, params && params->rttm_uri ? params->rttm_uri : "audio", &buffer, NULL) !=
        STENO_OK) {
        st_strbuf_free(&buffer);
        return NULL;
    }
    if (!buffer.data) st_strbuf_append_str(&buffer, "");
    return st_strbuf_detach(&buffer);
}

char *steno_result_render(const steno_result *result, steno_format format) {
    return steno_result_render_with(result, format, NULL);
}

steno_status steno_output_prepare_dir(const char *output_dir) {
    st_error_clear(&st_api_error);
    return st_output_prepare_dir(output_dir, &st_api_error);
}

steno_status steno_result_save(const steno_result *result, steno_format format, const steno_render_params *params,
                               const char *output_dir, const char *audio_path) {
    st_error *err = &st_api_error;
    st_error_clear(err);
    if (format != STENO_FORMAT_RTTM) {
        if ((unsigned)format >= N_TRANSCRIPT_FORMATS) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "unknown format %d", (int)format);
        }
        st_output_options options = writer_options(params);
        return st_output_save(output_formats[format], &result->transcript, &options, output_dir, audio_path, err);
    }
    /* the recording is named as the output file: "jfk" for a/jfk.wav */
    st_strbuf name, text;
    st_strbuf_init(&name), st_strbuf_init(&text);
    steno_status status = STENO_OK;
    if (!params || !params->rttm_uri) {
        status = st_output_path("", audio_path, "rttm", &name, err);
        if (status == STENO_OK) name.data[name.length - strlen(".rttm")] = '\0';
    }
    if (status == STENO_OK) {
        status = render(result, format, params, params && params->rttm_uri ? params->rttm_uri : name.data, &text, err);
    }
    if (status == STENO_OK) status = st_output_save_text(output_dir, audio_path, "rttm", text.data, text.length, err);
    st_strbuf_free(&name), st_strbuf_free(&text);
    return status;
}

steno_result *steno_result_from_segments(const steno_segment_info *segments, int n_segments) {
    steno_result *result = calloc(1, sizeof *result);
    if (!result) return NULL;
    st_transcript_init(&result->transcript);
    for (int i = 0; i < n_segments; i++) {
        const steno_segment_info *g = &segments[i];
        st_segment s = {.id = g->id,
                        .start = g->start,
                        .end = g->end,
                        .text = (char *)(g->text ? g->text : ""),
                        .speaker = g->speaker};
        if (st_transcript_append(&result->transcript, &s, NULL) != STENO_OK) {
            steno_result_free(result);
            return NULL;
        }
    }
    return result;
}

/* ---- diarization on its own ---- */

/* steno_diarize_pipeline mirrors st_diarize_pipeline value for value: one parser of the names
 * (st_diarize_pipeline_from_name) and one choice (st_diarize_choose) serve both. */
_Static_assert((int)STENO_DIARIZE_AUTO == (int)ST_DIARIZE_PIPELINE_AUTO &&
                   (int)STENO_DIARIZE_DEFAULT == (int)ST_DIARIZE_PIPELINE_DEFAULT &&
                   (int)STENO_DIARIZE_PYANNOTE == (int)ST_DIARIZE_PIPELINE_PYANNOTE,
               "the public diarization pipelines are the internal ones");

int steno_diarize_pipeline_from_name(const char *name, steno_diarize_pipeline *out) {
    st_diarize_pipeline pipeline;
    if (st_diarize_pipeline_from_name(name, &pipeline) != 0) return -1;
    *out = (steno_diarize_pipeline)pipeline;
    return 0;
}

steno_diarize_params steno_diarize_default_params(void) {
    return (steno_diarize_params){.pipeline = STENO_DIARIZE_AUTO, .vad_model = ST_DIARIZE_VAD_MODEL, .n_threads = 2};
}

/* st_diarize_choose for the public params (their vad_model NULL: the default). */
static steno_status choose_pipeline(const steno_diarize_params *p, st_diarize_choice *choice, st_error *err) {
    if ((unsigned)p->pipeline > STENO_DIARIZE_PYANNOTE) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "unknown diarization pipeline %d", p->pipeline);
    }
    return st_diarize_choose((st_diarize_pipeline)p->pipeline, p->vad_model ? p->vad_model : ST_DIARIZE_VAD_MODEL,
                             choice, err);
}

steno_status steno_diarize_locate(const steno_diarize_params *params, steno_diarize_pipeline *chosen) {
    st_error *err = &st_api_error;
    st_error_clear(err);
    steno_diarize_params p = params ? *params : steno_diarize_default_params();
    st_diarize_choice *choice = malloc(sizeof *choice);
    if (!choice) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    steno_status status = choose_pipeline(&p, choice, err);
    if (status == STENO_OK) *chosen = (steno_diarize_pipeline)choice->pipeline;
    free(choice);
    return status;
}

/* The default pipeline's features from the Whisper model `model` (a path or a store name). */
static steno_status diarizer_load_whisper(steno_diarizer *d, const char *model, st_error *err) {
    st_store store;
    char path[4096], why[2048];
    st_store_init(&store, NULL, 0);
    why[0] = '\0';
    steno_status status = st_store_resolve(&store, model, path, sizeof path, why, sizeof why, err);
    if (status != STENO_OK) return why[0] ? st_error_set(err, status, "%s", why) : status;
    st_whisper_context *whisper;
    status = st_whisper_context_load(path, 1, d->params.n_threads > 0 ? d->params.n_threads : 1, &whisper, err);
    if (status != STENO_OK) return status;
    st_diarizer_use_whisper(d->diarizer, whisper);
    snprintf(d->features, sizeof d->features, "Whisper encoder states (%s)", path);
    return STENO_OK;
}

steno_status steno_diarizer_open(const steno_diarize_params *params, steno_diarizer **out) {
    *out = NULL;
    st_error *err = &st_api_error;
    st_error_clear(err);
    steno_diarizer *d = calloc(1, sizeof *d);
    st_diarize_choice *choice = malloc(sizeof *choice);
    if (!d || !choice) {
        free(d), free(choice);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    d->params = params ? *params : steno_diarize_default_params();
    if (!d->params.vad_model) d->params.vad_model = ST_DIARIZE_VAD_MODEL;
    st_nn_set_threads(d->params.n_threads > 0 ? d->params.n_threads : 1);
    steno_status status = choose_pipeline(&d->params, choice, err);
    if (status == STENO_OK) status = st_diarizer_open_choice(choice, &d->diarizer, err);
    if (status == STENO_OK) {
        int pyannote = choice->pipeline == ST_DIARIZE_PIPELINE_PYANNOTE;
        d->pipeline = (steno_diarize_pipeline)choice->pipeline;
        snprintf(d->source, sizeof d->source, "%s", pyannote ? choice->pyannote : choice->vad_model);
        snprintf(d->why_not_pyannote, sizeof d->why_not_pyannote, "%s", choice->why_not_pyannote);
        if (!pyannote) snprintf(d->features, sizeof d->features, "cepstra");
    }
    free(choice);
    if (status == STENO_OK && d->pipeline == STENO_DIARIZE_DEFAULT && d->params.whisper_model) {
        status = diarizer_load_whisper(d, d->params.whisper_model, err);
    }
    if (status != STENO_OK) {
        steno_diarizer_free(d);
        return status;
    }
    *out = d;
    return STENO_OK;
}

void steno_diarizer_free(steno_diarizer *diarizer) {
    if (!diarizer) return;
    st_diarizer_free(diarizer->diarizer);
    free(diarizer);
}

steno_diarize_pipeline steno_diarizer_pipeline(const steno_diarizer *diarizer) {
    return diarizer->pipeline;
}

const char *steno_diarizer_source(const steno_diarizer *diarizer) {
    return diarizer->source;
}

const char *steno_diarizer_features(const steno_diarizer *diarizer) {
    return diarizer->features;
}

const char *steno_diarizer_why_not_pyannote(const steno_diarizer *diarizer) {
    return diarizer->why_not_pyannote;
}

const steno_diarizer *steno_context_diarizer(const steno_context *context) {
    return context->diarizer;
}

const char *steno_diarizer_error(const steno_diarizer *diarizer) {
    return st_error_message(&diarizer->error);
}

steno_status steno_diarize_file(steno_diarizer *diarizer, const char *audio_path, const steno_diarize_params *params,
                                steno_result **out) {
    *out = NULL;
    st_error *err = &diarizer->error;
    st_error_clear(err);
    if (!audio_path) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "no audio path given");
    steno_diarize_params p = params ? *params : diarizer->params;
    steno_result *result = calloc(1, sizeof *result);
    if (!result) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    st_transcript_init(&result->transcript);
    st_audio audio;
    steno_status status = st_audio_decode_file(audio_path, ST_DIARIZE_SAMPLE_RATE, &audio, err);
    if (status == STENO_OK) {
        status = diarize_samples(diarizer, audio.samples, audio.n_samples, &p, NULL, &result->diarization, err);
        st_audio_free(&audio);
    }
    if (status != STENO_OK) {
        steno_result_free(result);
        return status;
    }
    result->diarized = 1;
    *out = result;
    return STENO_OK;
}

void steno_result_free(steno_result *result) {
    if (!result) return;
    st_transcript_free(&result->transcript);
    st_diarization_free(&result->diarization);
    free(result);
}

void steno_free(void *memory) {
    free(memory);
}
