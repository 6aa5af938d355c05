/*
 * steno.c — the public API of include/steno.h, a thin layer over the modules: audio decoding,
 * the Whisper context and transcription loop, and the transcript writers.
 */
#include "steno.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diarize/assign.h"
#include "diarize/diarize.h"
#include "output/output.h"
#include "store/store.h"
#include "whisper/tokenizer.h"
#include "whisper/transcribe.h"

struct steno_context {
    st_whisper_context *whisper;
    steno_context_params params;
    st_error error;
};

struct steno_result {
    st_transcript transcript;
    st_diarization diarization; /* empty unless diarize */
    int diarized;
};

/* The message of the last steno_context_open that failed in this thread (no context yet). */
static _Thread_local st_error open_error;

steno_context_params steno_context_default_params(void) {
    return (steno_context_params){.n_threads = 2, .max_hypotheses = 5};
}

steno_status steno_context_open(const char *model_path, const steno_context_params *params, steno_context **out) {
    *out = NULL;
    st_error_clear(&open_error);
    if (!model_path) return st_error_set(&open_error, STENO_ERR_INVALID_ARGUMENT, "no model path given");
    steno_context *context = calloc(1, sizeof *context);
    if (!context) return st_error_set(&open_error, STENO_ERR_NO_MEMORY, "out of memory");
    context->params = params ? *params : steno_context_default_params();
    if (context->params.n_threads < 1) context->params.n_threads = 1;
    if (context->params.max_hypotheses < 1) context->params.max_hypotheses = 1;
    steno_status status = st_whisper_context_load(model_path, context->params.max_hypotheses, context->params.n_threads,
                                                  &context->whisper, &open_error);
    if (status != STENO_OK) {
        free(context);
        return status;
    }
    *out = context;
    return STENO_OK;
}

steno_status steno_context_share(steno_context *base, const steno_context_params *params, steno_context **out) {
    *out = NULL;
    st_error_clear(&open_error);
    if (!base) return st_error_set(&open_error, STENO_ERR_INVALID_ARGUMENT, "no context to share");
    steno_context *context = calloc(1, sizeof *context);
    if (!context) return st_error_set(&open_error, STENO_ERR_NO_MEMORY, "out of memory");
    context->params = params ? *params : base->params;
    if (context->params.n_threads < 1) context->params.n_threads = 1;
    if (context->params.max_hypotheses < 1) context->params.max_hypotheses = 1;
    steno_status status =
        st_whisper_context_share(base->whisper, context->params.max_hypotheses, &context->whisper, &open_error);
    if (status != STENO_OK) {
        free(context);
        return status;
    }
    *out = context;
    return STENO_OK;
}

steno_status steno_model_resolve(const char *name_or_path, char *path, size_t size) {
    st_error_clear(&open_error);
    if (!name_or_path || !path || size == 0) {
        return st_error_set(&open_error, STENO_ERR_INVALID_ARGUMENT, "no model name given");
    }
    st_store store;
    st_store_init(&store, NULL, 0);
    char why[1024] = "";
    steno_status status = st_store_resolve(&store, name_or_path, path, size, why, sizeof why, &open_error);
    if (status != STENO_OK && why[0]) st_error_set(&open_error, status, "%s", why);
    return status;
}

const char *steno_language_name(const char *code) {
    return st_language_name(code);
}

const char *steno_language_code(const char *code_or_name) {
    return st_language_code(code_or_name);
}

void steno_context_free(steno_context *context) {
    if (!context) return;
    st_whisper_context_free(context->whisper);
    free(context);
}

const char *steno_context_error(const steno_context *context) {
    return st_error_message(context ? &context->error : &open_error);
}

steno_transcribe_params steno_transcribe_default_params(void) {
    return (steno_transcribe_params){
        .beam_size = 5,
        .best_of = 5,
        .temperature = 0.0f,
        .temperature_increment = 0.2f,
        .condition_on_previous_text = 1,
    };
}

typedef struct callback_bridge {
    const steno_transcribe_params *params;
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

static int bridge_segment(void *user, const st_segment *segment) {
    const callback_bridge *bridge = user;
    steno_segment_info info = segment_info(segment);
    return bridge->params->on_segment(bridge->params->user, &info);
}

static void bridge_progress(void *user, double done, double total) {
    const callback_bridge *bridge = user;
    bridge->params->on_progress(bridge->params->user, done, total);
}

static int bridge_stop(void *user) {
    const callback_bridge *bridge = user;
    return bridge->params->should_stop(bridge->params->user);
}

/* openai-whisper's options from the public params. */
static st_transcribe_options options_from(const steno_context *context, const steno_transcribe_params *p,
                                          callback_bridge *bridge) {
    st_transcribe_options o = st_transcribe_default_options();
    o.language = p->language;
    o.translate = p->translate;
    o.beam_size = p->beam_size > 0 ? p->beam_size : 1;
    o.best_of = p->best_of > 0 ? p->best_of : 1;
    o.n_temperatures = 0;
    if (p->temperature_increment > 0) {
        for (double t = p->temperature; t <= 1.0 + 1e-6 && o.n_temperatures < ST_MAX_TEMPERATURES;
             t += p->temperature_increment) {
            o.temperatures[o.n_temperatures++] = (float)t;
        }
    }
    if (o.n_temperatures == 0) o.temperatures[o.n_temperatures++] = p->temperature;
    o.initial_prompt = p->initial_prompt;
    o.condition_on_previous_text = p->condition_on_previous_text;
    o.without_timestamps = p->without_timestamps;
    o.word_timestamps = p->word_timestamps || p->diarize; /* speakers are placed word by word */
    o.n_threads = p->n_threads > 0 ? p->n_threads : context->params.n_threads;
    if (p->vad_threshold > 0) o.vad_options.threshold = p->vad_threshold;
    if (p->vad_min_silence_ms > 0) o.vad_options.min_silence_duration_ms = p->vad_min_silence_ms;
    bridge->params = p;
    o.user = bridge;
    if (p->on_segment) o.on_segment = bridge_segment;
    if (p->on_progress) o.on_progress = bridge_progress;
    if (p->should_stop) o.should_stop = bridge_stop;
    return o;
}

/* The speakers of a transcribed job: diarizes the same audio, then places speakers on the
 * words and segments (keeping the words only when word_timestamps asked for them). */
static steno_status diarize(steno_context *context, const char *audio_path, const float *samples, size_t n_samples,
                            const steno_transcribe_params *p, int n_threads, steno_result *result) {
    st_diarize_options options = st_diarize_default_options();
    options.num_speakers = p->num_speakers, options.min_speakers = p->min_speakers;
    options.max_speakers = p->max_speakers, options.n_threads = n_threads;
    st_diarizer *diarizer;
    steno_status status =
        st_diarizer_open(p->vad_model ? p->vad_model : ST_DIARIZE_VAD_MODEL, &diarizer, &context->error);
    if (status != STENO_OK) return status;
    st_diarization *d = &result->diarization;
    status = audio_path ? st_diarize_file(diarizer, audio_path, &options, d, &context->error)
                        : st_diarize_pcm(diarizer, samples, n_samples, &options, d, &context->error);
    st_diarizer_free(diarizer);
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
    st_error_clear(&context->error);
    steno_transcribe_params defaults = steno_transcribe_default_params();
    const steno_transcribe_params *p = params ? params : &defaults;
    callback_bridge bridge;
    st_transcribe_options o = options_from(context, p, &bridge);
    st_vad *vad = NULL;
    if (p->vad_model) {
        st_store store;
        char path[4096], why[2048];
        st_store_init(&store, NULL, 0);
        steno_status status =
            st_store_resolve(&store, p->vad_model, path, sizeof path, why, sizeof why, &context->error);
        if (status == STENO_OK) status = st_vad_open(path, &vad, &context->error);
        if (status != STENO_OK) return status;
        o.vad = vad;
    }
    steno_result *result = calloc(1, sizeof *result);
    if (!result) {
        st_vad_free(vad);
        return st_error_set(&context->error, STENO_ERR_NO_MEMORY, "out of memory");
    }
    st_transcript_init(&result->transcript);
    steno_status status =
        audio_path ? st_transcribe_file(context->whisper, audio_path, &o, &result->transcript, &context->error)
                   : st_transcribe(context->whisper, samples, n_samples, &o, &result->transcript, &context->error);
    st_vad_free(vad);
    if (status == STENO_OK && p->diarize)
        status = diarize(context, audio_path, samples, n_samples, p, o.n_threads, result);
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

char *steno_result_render(const steno_result *result, steno_format format) {
    static const st_output_format formats[] = {ST_OUTPUT_TXT, ST_OUTPUT_VTT, ST_OUTPUT_SRT, ST_OUTPUT_TSV,
                                               ST_OUTPUT_JSON};
    st_strbuf buffer;
    st_strbuf_init(&buffer);
    if (format == STENO_FORMAT_RTTM) {
        if (!result->diarized || st_diarization_rttm(&result->diarization, "audio", &buffer, NULL) != STENO_OK) {
            st_strbuf_free(&buffer);
            return NULL;
        }
        return st_strbuf_detach(&buffer);
    }
    if ((unsigned)format >= sizeof formats / sizeof formats[0]) return NULL;
    if (st_output_render(formats[format], &result->transcript, NULL, &buffer, NULL) != STENO_OK) {
        st_strbuf_free(&buffer);
        return NULL;
    }
    return st_strbuf_detach(&buffer);
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
