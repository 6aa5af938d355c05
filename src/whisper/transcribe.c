/*
 * transcribe.c — the seek loop of openai-whisper's transcribe(), over steno's model, tokenizer
 * and window decoder.
 */
#include "whisper/transcribe.h"

#include <ctype.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "audio/mel.h"
#include "audio/mel_source.h"
#include "models/loader.h"
#include "nn/threads.h"
#include "whisper/alignment_heads.h"
#include "whisper/decoding.h"
#include "whisper/model.h"
#include "whisper/timing.h"
#include "whisper/vad_filter.h"
#include "whisper/tokenizer.h"
#include "whisper/vocabularies.h"

enum {
    SAMPLE_RATE = 16000,
    HOP_LENGTH = 160,
    N_FRAMES = 3000, /* one 30 s window of mel frames */
    FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH,
    MAX_PROMPT_TOKENS = 512,
    MAX_CHUNK_SEQUENCES = 64, /* st_decoder_create's limit */
};

/* What every context on one loaded model shares, read-only once built: the weights (and the
 * file they borrow from), the tokenizer, the mel filters and the token lists. Contexts made by
 * st_whisper_context_share count their references; the last one out frees it. */
typedef struct shared_model {
    atomic_int references;
    st_model file;
    st_whisper_model model;
    st_tokenizer *tokenizer;
    st_mel_filters *filters;
    st_special_tokens special;
    int32_t *suppress;
    size_t n_suppress;
    st_alignment_heads heads;
} shared_model;

/* One context: the shared model plus everything a run writes (network state, decoder, word
 * aligner, the mel window), so contexts on one model run at once on different threads. */
struct st_whisper_context {
    shared_model *shared;
    st_whisper_state state;
    st_decoder *decoder;
    int max_sequences;
    float *window; /* [n_mels][N_FRAMES] */
    st_word_aligner *aligner;
    /* The first window's states after its first kept_blocks encoder blocks, as
     * st_whisper_encoder_states left them: a transcription of the same samples that follows
     * (transcribe --diarize) resumes that window's encoding there instead of starting it anew.
     * kept_window is the window's input, compared whole before any resumption. */
    float *kept_window; /* [n_mels][N_FRAMES]; NULL: nothing kept */
    float *kept_states; /* [n_audio_ctx][n_audio_state] */
    int kept_blocks;
    int resumed_windows; /* encodings that resumed from it */
};

static void shared_model_release(shared_model *m) {
    if (!m || atomic_fetch_sub(&m->references, 1) != 1) return;
    st_mel_filters_free(m->filters);
    st_tokenizer_free(m->tokenizer);
    st_whisper_model_free(&m->model);
    st_model_free(&m->file);
    free(m->suppress);
    st_alignment_heads_free(&m->heads);
    free(m);
}

void st_whisper_context_free(st_whisper_context *c) {
    if (!c) return;
    st_decoder_free(c->decoder);
    st_whisper_state_free(&c->state);
    free(c->window);
    free(c->kept_window);
    free(c->kept_states);
    st_word_aligner_free(c->aligner);
    shared_model_release(c->shared);
    free(c);
}

int st_whisper_context_is_multilingual(const st_whisper_context *c) {
    return st_tokenizer_is_multilingual(c->shared->tokenizer);
}

int st_whisper_context_audio_width(const st_whisper_context *c) {
    return c->shared->model.dims.n_audio_state;
}

/* Keeps c->window and the states after n_blocks blocks that c->state holds for it (see
 * kept_window); nothing is kept when memory runs out (resumption is only a saving). */
static void keep_prefix(st_whisper_context *c, int n_blocks) {
    const st_whisper_dims *d = &c->shared->model.dims;
    const size_t window_floats = (size_t)d->n_mels * N_FRAMES, state_floats = (size_t)d->n_audio_ctx * d->n_audio_state;
    if (!c->kept_window) {
        c->kept_window = malloc(sizeof(float) * window_floats);
        c->kept_states = malloc(sizeof(float) * state_floats);
    }
    if (!c->kept_window || !c->kept_states) {
        free(c->kept_window), free(c->kept_states);
        c->kept_window = c->kept_states = NULL;
        return;
    }
    memcpy(c->kept_window, c->window, sizeof(float) * window_floats);
    memcpy(c->kept_states, c->state.audio, sizeof(float) * state_floats);
    c->kept_blocks = n_blocks;
}

/* st_whisper_encode of c->window into c->state, resumed from the kept prefix when that is this
 * very window (the same numbers as encoding it whole: the same operations on the same input). */
static steno_status encode_window(st_whisper_context *c, st_error *err) {
    const st_whisper_model *model = &c->shared->model;
    const st_whisper_dims *d = &model->dims;
    if (c->kept_window && !c->state.device &&
        memcmp(c->kept_window, c->window, sizeof(float) * d->n_mels * N_FRAMES) == 0) {
        memcpy(c->state.audio, c->kept_states, sizeof(float) * d->n_audio_ctx * d->n_audio_state);
        st_whisper_encode_resume(model, &c->state, c->kept_blocks);
        c->resumed_windows++;
        return STENO_OK;
    }
    return st_whisper_encode(model, &c->state, c->window, err);
}

int st_whisper_context_resumed_windows(const st_whisper_context *c) {
    return c->resumed_windows;
}

steno_status st_whisper_encoder_states(st_whisper_context *c, const float *samples, size_t n_samples, int n_blocks,
                                       int n_threads, st_whisper_states_fn take, void *user, st_error *err) {
    const st_whisper_model *model = &c->shared->model;
    const st_whisper_dims *d = &model->dims;
    if (n_blocks < 0 || n_blocks > d->n_audio_layer) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "encoder states: %d blocks of %d", n_blocks,
                            d->n_audio_layer);
    }
    st_mel_source *mel;
    steno_status status = st_mel_source_from_samples(c->shared->filters, samples, n_samples, n_threads, &mel, err);
    if (status != STENO_OK) return status;
    const int content_frames = st_mel_source_content_frames(mel);
    st_nn_set_threads(n_threads);
    /* the seek loop's windows when every one takes the full 30 s: the first is then the
     * transcription's first, which resumes from it (keep_prefix) */
    for (int seek = 0; seek < content_frames && status == STENO_OK; seek += N_FRAMES) {
        const int size = content_frames - seek < N_FRAMES ? content_frames - seek : N_FRAMES;
        if (size < 2) break; /* a last 10 ms frame makes no row: the caller's frames after rows */
        if ((status = st_mel_source_window(mel, seek, size, c->window, N_FRAMES, err)) != STENO_OK) break;
        st_whisper_encode_prefix(model, &c->state, c->window, n_blocks);
        if (seek == 0) keep_prefix(c, n_blocks);
        take(user, seek / 2, size / 2, c->state.audio, d->n_audio_state);
    }
    st_mel_source_free(mel);
    return status;
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* openai-whisper's suppress_tokens "-1": the non-speech symbols plus the task and control
 * tokens that must never be sampled as text. */
static steno_status build_suppress_list(shared_model *m, st_error *err) {
    size_t n_symbols;
    const int32_t *symbols = st_tokenizer_non_speech_tokens(m->tokenizer, &n_symbols);
    m->suppress = malloc((n_symbols + 6) * sizeof *m->suppress);
    if (!m->suppress) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    memcpy(m->suppress, symbols, n_symbols * sizeof *symbols);
    size_t n = n_symbols;
    const st_tokenizer *t = m->tokenizer;
    int controls[6] = {st_tokenizer_translate(t), st_tokenizer_transcribe(t), st_tokenizer_sot(t),
                       st_tokenizer_sot_prev(t),  st_tokenizer_sot_lm(t),     st_tokenizer_no_speech(t)};
    for (int i = 0; i < 6; i++) {
        if (controls[i] >= 0) m->suppress[n++] = controls[i];
    }
    qsort(m->suppress, n, sizeof *m->suppress, compare_ints);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++) {
        if (unique == 0 || m->suppress[unique - 1] != m->suppress[i]) m->suppress[unique++] = m->suppress[i];
    }
    m->n_suppress = unique;
    return STENO_OK;
}

steno_status st_whisper_context_load(const char *path, int max_sequences, int n_threads, st_whisper_context **out,
                                     st_error *err) {
    *out = NULL;
    st_model file;
    steno_status status = st_model_open(path, &file, err);
    if (status != STENO_OK) return status;
    return st_whisper_context_load_model(&file, max_sequences, n_threads, out, err);
}

/* Builds the shared parts from an opened model file (taking it over). */
static steno_status shared_model_build(shared_model *m, st_error *err) {
    const char *path = m->file.file.path ? m->file.file.path : "model";
    steno_status status = st_whisper_model_init(&m->model, &m->file, err);
    if (status == STENO_OK) {
        if (m->file.vocab) {
            status =
                st_tokenizer_create(m->file.vocab, m->file.n_vocab_entries, m->file.dims.n_vocab, &m->tokenizer, err);
        } else if (m->file.vocabulary_path) {
            status = st_tokenizer_load_file(m->file.vocabulary_path, m->file.dims.n_vocab, &m->tokenizer, err);
        } else { /* an openai .pt: the vocabulary openai-whisper ships, built into steno */
            status = st_tokenizer_create_builtin(m->file.dims.n_vocab, &m->tokenizer, err);
        }
    }
    if (status == STENO_OK) {
        m->filters = st_mel_filters_create(m->file.dims.n_mels, err);
        if (!m->filters) status = err ? err->code : STENO_ERR_INVALID_ARGUMENT;
    }
    if (status == STENO_OK) {
        const st_tokenizer *t = m->tokenizer;
        m->special = (st_special_tokens){.n_vocab = st_tokenizer_n_vocab(t),
                                         .eot = st_tokenizer_eot(t),
                                         .sot = st_tokenizer_sot(t),
                                         .sot_prev = st_tokenizer_sot_prev(t),
                                         .no_speech = st_tokenizer_no_speech(t),
                                         .no_timestamps = st_tokenizer_no_timestamps(t),
                                         .timestamp_begin = st_tokenizer_timestamp_begin(t),
                                         .blank = st_tokenizer_space(t)};
        status = build_suppress_list(m, err);
    }
    if (status == STENO_OK) {
        status = st_alignment_heads_choose(&m->file.dims, m->file.alignment_heads, m->file.n_alignment_heads, path,
                                           &m->heads, err);
    }
    if (status == STENO_OK && m->model.cross_i8) {
        /* an int8 or bf16 model has packed or converted copies of every weight: the file's
         * pages it read on load need not stay resident */
        st_mapped_file_release(&m->file.file);
        for (int i = 0; i < m->file.n_extra_files; i++)
            st_mapped_file_release(&m->file.extra_files[i]);
    }
    return status;
}

/* A new context on m (whose reference the caller hands over) with its own run state. */
static steno_status context_create(shared_model *m, int max_sequences, st_whisper_context **out, st_error *err) {
    *out = NULL;
    st_whisper_context *c = calloc(1, sizeof *c);
    if (!c) {
        shared_model_release(m);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    c->shared = m;
    c->max_sequences = max_sequences < 1 ? 1 : max_sequences;
    steno_status status = st_whisper_state_init(&c->state, &m->model, c->max_sequences, err);
    if (status == STENO_OK) {
        status = st_decoder_create(&m->special, m->file.dims.n_text_ctx, c->max_sequences, &c->decoder, err);
    }
    if (status == STENO_OK) status = st_word_aligner_create(m->heads.pairs, m->heads.n, &c->aligner, err);
    if (status == STENO_OK) {
        c->window = malloc((size_t)m->file.dims.n_mels * N_FRAMES * sizeof *c->window);
        if (!c->window) status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    if (status != STENO_OK) {
        st_whisper_context_free(c);
        return status;
    }
    *out = c;
    return STENO_OK;
}

steno_status st_whisper_context_load_model(st_model *file, int max_sequences, int n_threads, st_whisper_context **out,
                                           st_error *err) {
    *out = NULL;
    shared_model *m = calloc(1, sizeof *m);
    if (!m) {
        st_model_free(file);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    atomic_init(&m->references, 1);
    m->file = *file; /* the shared model owns the file from here */
    memset(file, 0, sizeof *file);
    st_nn_set_threads(n_threads > 0 ? n_threads : 1);
    steno_status status = shared_model_build(m, err);
    if (status != STENO_OK) {
        shared_model_release(m);
        return status;
    }
    return context_create(m, max_sequences, out, err);
}

steno_status st_whisper_context_share(const st_whisper_context *base, int max_sequences, st_whisper_context **out,
                                      st_error *err) {
    atomic_fetch_add(&base->shared->references, 1);
    return context_create(base->shared, max_sequences, out, err);
}

st_transcribe_options st_transcribe_default_options(void) {
    st_transcribe_options o = {0};
    for (int i = 0; i < 6; i++)
        o.temperatures[i] = 0.2f * (float)i;
    o.n_temperatures = 6;
    o.beam_size = 1;
    o.best_of = 5;
    o.patience = 1.0f;
    o.length_penalty = -1.0f;
    o.compression_ratio_threshold = 2.4;
    o.logprob_threshold = -1.0;
    o.has_logprob_threshold = 1;
    o.no_speech_threshold = 0.6;
    o.condition_on_previous_text = 1;
    o.suppress_blank = 1;
    o.suppress_non_speech = 1;
    o.n_threads = 1;
    o.vad_options = st_vad_default_options();
    return o;
}

/* ---- the network as the window decoder sees it ---- */

/* Where one window's decoding runs: a state, and in it the window's cache slots and encoded
 * window. The seek loop's is the context's state, slots from 0, its selected window (window
 * < 0); a batch's chunks each have their slots and window in the batch's state. */
typedef struct network_binding {
    const st_whisper_model *model;
    st_whisper_state *state;
    int first_slot;
    int window;   /* < 0: the state's selected window */
    int n_cached; /* positions in the self-attention cache (same for every sequence) */
} network_binding;

/* n_seq sequences from the binding's first slot, n_tokens tokens each. */
static steno_status binding_decode(network_binding *b, int n_seq, const int *tokens, int n_tokens, int n_past,
                                   float *logits, st_error *err) {
    if (b->window < 0) {
        return st_whisper_decode_batch(b->model, b->state, n_seq, tokens, n_tokens, n_past, ST_WHISPER_LOGITS_LAST,
                                       logits, err);
    }
    int slots[MAX_CHUNK_SEQUENCES], windows[MAX_CHUNK_SEQUENCES];
    for (int i = 0; i < n_seq; i++) {
        slots[i] = b->first_slot + i;
        windows[i] = b->window;
    }
    return st_whisper_decode_windows(b->model, b->state, n_seq, slots, windows, tokens, n_tokens, n_past,
                                     ST_WHISPER_LOGITS_LAST, logits, err);
}

static steno_status ops_prefill(void *context, const int *tokens, int n_tokens, int n_past, const int *positions,
                                int n_positions, float *logits, st_error *err) {
    network_binding *b = context;
    const int n_vocab = b->model->dims.n_vocab;
    int done = 0;
    for (int i = 0; i < n_positions; i++) {
        int upto = positions[i] + 1; /* run tokens [done, upto) and take the last one's logits */
        float *row = logits + (size_t)i * n_vocab;
        if (upto <= done) { /* same position as before: copy */
            memcpy(row, row - n_vocab, (size_t)n_vocab * sizeof *row);
            continue;
        }
        steno_status status = binding_decode(b, 1, tokens + done, upto - done, n_past + done, row, err);
        if (status != STENO_OK) return status;
        done = upto;
    }
    if (done != n_tokens) { /* the decoder always asks for the prompt's last position */
        return st_error_set(err, STENO_ERR_INTERNAL, "prefill: positions must end at the last token");
    }
    b->n_cached = n_past + n_tokens;
    return STENO_OK;
}

static steno_status ops_reorder(void *context, const int *sources, int n_sequences, st_error *err) {
    network_binding *b = context;
    return st_whisper_kv_reorder_at(b->state, b->first_slot, sources, n_sequences, b->n_cached, err);
}

static steno_status ops_step(void *context, const int *tokens, int n_sequences, int n_past, float *logits,
                             st_error *err) {
    network_binding *b = context;
    steno_status status = binding_decode(b, n_sequences, tokens, 1, n_past, logits, err);
    if (status == STENO_OK) b->n_cached = n_past + 1;
    return status;
}

static st_decoder_ops binding_ops(network_binding *b, int max_sequences) {
    return (st_decoder_ops){.context = b,
                            .prefill = ops_prefill,
                            .reorder = ops_reorder,
                            .step = ops_step,
                            .max_sequences = max_sequences,
                            .n_text_ctx = b->model->dims.n_text_ctx};
}

/* ---- helpers ---- */

/* Decodes text tokens (< eot) to a malloc'd string; NULL when memory runs out. */
static char *decode_text(const st_whisper_context *c, const int32_t *tokens, int n_tokens) {
    size_t length;
    if (st_tokenizer_decode(c->shared->tokenizer, tokens, (size_t)n_tokens, ST_DECODE_REPLACE_INCOMPLETE, NULL, 0,
                            &length, NULL) != STENO_OK) {
        return NULL;
    }
    char *text = malloc(length + 1);
    if (text && st_tokenizer_decode(c->shared->tokenizer, tokens, (size_t)n_tokens, ST_DECODE_REPLACE_INCOMPLETE, text,
                                    length + 1, &length, NULL) != STENO_OK) {
        free(text);
        text = NULL;
    }
    return text;
}

/* Python's str.strip() bounds (ASCII whitespace is what Whisper's text carries). */
static void strip_bounds(const char *text, size_t *begin, size_t *end) {
    size_t b = 0, e = strlen(text);
    while (b < e && isspace((unsigned char)text[b]))
        b++;
    while (e > b && isspace((unsigned char)text[e - 1]))
        e--;
    *begin = b;
    *end = e;
}

/* openai-whisper's detect_language: the logits of <|startoftranscript|> alone over the first
 * 30 s window, restricted to the language tokens. The window is the first N_FRAMES frames of
 * the mel of the 30 s-padded audio, as transcribe() passes pad_or_trim(mel, N_FRAMES): for a
 * clip shorter than 30 s it ends in the log-mel of the padding's digital silence, not in the
 * zeros that the seek loop's windows are padded with, and the two give different languages'
 * probabilities. probs (NULL or one entry per language) receives their softmax. */
static steno_status detect_encoded(st_whisper_context *c, float *probs, const char **code, st_error *err);

static steno_status detect_on_mel(st_whisper_context *c, st_mel_source *mel, float *probs, const char **code,
                                  st_error *err) {
    steno_status status = st_mel_source_window(mel, 0, N_FRAMES, c->window, N_FRAMES, err);
    if (status != STENO_OK) return status;
    if ((status = encode_window(c, err)) != STENO_OK) return status;
    return detect_encoded(c, probs, code, err);
}

/* The language of the window the encoder holds now: the logits of <|startoftranscript|> alone,
 * restricted to the language tokens. */
static steno_status detect_encoded(st_whisper_context *c, float *probs, const char **code, st_error *err) {
    int32_t sot = (int32_t)c->shared->special.sot;
    float *logits = malloc((size_t)c->shared->special.n_vocab * sizeof *logits);
    if (!logits) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    steno_status status = st_whisper_decode(&c->shared->model, &c->state, &sot, 1, 0, logits, err);
    if (status == STENO_OK) {
        const int first = c->shared->special.sot + 1, count = st_tokenizer_n_languages(c->shared->tokenizer);
        int best = first;
        for (int id = first; id < first + count; id++) {
            if (logits[id] > logits[best]) best = id;
        }
        *code = st_tokenizer_language_code(c->shared->tokenizer, best);
        if (probs) {
            double sum = 0.0;
            for (int i = 0; i < count; i++)
                sum += exp((double)logits[first + i] - logits[best]);
            for (int i = 0; i < count; i++)
                probs[i] = (float)(exp((double)logits[first + i] - logits[best]) / sum);
        }
    }
    free(logits);
    return status;
}

int st_whisper_context_n_languages(const st_whisper_context *c) {
    return st_tokenizer_is_multilingual(c->shared->tokenizer) ? st_tokenizer_n_languages(c->shared->tokenizer) : 0;
}

const char *st_whisper_context_language(const st_whisper_context *c, int index) {
    if (index < 0 || index >= st_whisper_context_n_languages(c)) return NULL;
    return st_tokenizer_language_code(c->shared->tokenizer, c->shared->special.sot + 1 + index);
}

steno_status st_whisper_detect_language(st_whisper_context *c, const float *samples, size_t n_samples, int n_threads,
                                        float *probs, const char **code, st_error *err) {
    *code = NULL;
    if (!st_tokenizer_is_multilingual(c->shared->tokenizer)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "this model is English-only: it has no language tokens");
    }
    if (n_threads < 1) n_threads = 1;
    st_nn_set_threads(n_threads);
    st_mel_source *mel;
    steno_status status = st_mel_source_from_samples(c->shared->filters, samples, n_samples, n_threads, &mel, err);
    if (status != STENO_OK) return status;
    status = detect_on_mel(c, mel, probs, code, err);
    st_mel_source_free(mel);
    return status;
}

typedef struct window_result {
    st_decode_result decode;
    double compression_ratio;
    char *text; /* decoded, for the compression ratio */
} window_result;

/* The decode options every temperature shares. */
static st_decode_options base_decode_options(const st_whisper_context *c, const st_transcribe_options *o) {
    st_decode_options d = st_decode_default_options();
    d.patience = o->patience;
    d.length_penalty = o->length_penalty;
    d.without_timestamps = o->without_timestamps;
    d.suppress_blank = o->suppress_blank;
    if (o->suppress_non_speech) {
        d.suppress_tokens = c->shared->suppress;
        d.n_suppress_tokens = (int)c->shared->n_suppress;
    }
    d.sample_len = c->shared->file.dims.n_text_ctx / 2;
    return d;
}

/* The options of the index-th temperature of the fallback schedule. */
static st_decode_options temperature_options(const st_decode_options *base, const st_transcribe_options *o, int index) {
    st_decode_options d = *base;
    d.temperature = o->temperatures[index];
    d.beam_size = d.temperature == 0.0f ? o->beam_size : 1;
    d.best_of = d.temperature > 0.0f ? o->best_of : 1;
    d.seed = o->seed + (uint64_t)index;
    return d;
}

/* Decodes out->decode's text and measures it; *needs_fallback says whether the result is too
 * repetitive or too improbable (and not judged silence) for this temperature to stand. */
static steno_status judge_window(const st_whisper_context *c, const st_transcribe_options *o, window_result *out,
                                 int *needs_fallback, st_error *err) {
    free(out->text);
    out->text = decode_text(c, out->decode.tokens, out->decode.n_tokens);
    if (!out->text) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    size_t begin, end;
    strip_bounds(out->text, &begin, &end);
    out->compression_ratio = st_compression_ratio(out->text + begin, end - begin);

    *needs_fallback = 0;
    if (o->compression_ratio_threshold > 0 && out->compression_ratio > o->compression_ratio_threshold) {
        *needs_fallback = 1; /* too repetitive */
    }
    if (o->has_logprob_threshold && out->decode.avg_logprob < o->logprob_threshold) *needs_fallback = 1;
    if (o->no_speech_threshold > 0 && out->decode.no_speech_prob > o->no_speech_threshold && o->has_logprob_threshold &&
        out->decode.avg_logprob < o->logprob_threshold) {
        *needs_fallback = 0; /* silence: no temperature will do better */
    }
    return STENO_OK;
}

/* decode_with_fallback: tries each temperature from the first-th on until the result is
 * neither too repetitive nor too improbable (or is judged silence). */
static steno_status decode_with_fallback(st_whisper_context *c, st_decoder *decoder, const st_decoder_ops *ops,
                                         const st_transcribe_options *o, int first, const int32_t *initial,
                                         int n_initial, int sot_index, window_result *out, st_error *err) {
    const st_decode_options base = base_decode_options(c, o);
    for (int i = first; i < o->n_temperatures; i++) {
        const st_decode_options d = temperature_options(&base, o, i);
        steno_status status = st_decoder_run(decoder, ops, &d, initial, n_initial, sot_index, &out->decode, err);
        if (status != STENO_OK) return status;
        int needs_fallback = 0;
        if ((status = judge_window(c, o, out, &needs_fallback, err)) != STENO_OK) return status;
        if (!needs_fallback) break;
    }
    return STENO_OK;
}

/* The segments of one window before they join the transcript: word timestamps and the
 * hallucination rules may still move or drop them. Texts and words are owned here; tokens
 * point into the window's decode result. */
typedef struct window_segments {
    st_segment *items;
    int n, capacity;
} window_segments;

static void window_segments_clear(window_segments *ws) {
    for (int s = 0; s < ws->n; s++) {
        st_segment *segment = &ws->items[s];
        free(segment->text);
        for (int i = 0; i < segment->n_words; i++)
            free(segment->words[i].text);
        free(segment->words);
    }
    ws->n = 0;
}

/* openai's new_segment: tokens[0..n) of the window's result, text from its text tokens. */
static steno_status new_segment(st_whisper_context *c, window_segments *ws, int seek, double start, double end,
                                const int32_t *tokens, int n, const window_result *w, st_error *err) {
    if (ws->n == ws->capacity) {
        int grown = ws->capacity ? ws->capacity * 2 : 8;
        st_segment *more = realloc(ws->items, (size_t)grown * sizeof *more);
        if (!more) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
        ws->items = more;
        ws->capacity = grown;
    }
    int n_text = 0;
    int32_t *text_tokens = malloc(((size_t)n + 1) * sizeof *text_tokens);
    if (!text_tokens) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        if (tokens[i] < c->shared->special.eot) text_tokens[n_text++] = tokens[i];
    }
    char *text = decode_text(c, text_tokens, n_text);
    free(text_tokens);
    if (!text) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    ws->items[ws->n++] = (st_segment){.seek = seek,
                                      .start = start,
                                      .end = end,
                                      .text = text,
                                      .tokens = (int *)tokens,
                                      .n_tokens = n,
                                      .temperature = w->decode.temperature,
                                      .avg_logprob = w->decode.avg_logprob,
                                      .compression_ratio = w->compression_ratio,
                                      .no_speech_prob = w->decode.no_speech_prob,
                                      .speaker = -1};
    return STENO_OK;
}

/* Appends segments[0..n) to the transcript; an instantaneous or empty segment is kept but
 * emptied (no text, tokens or words), as openai-whisper does. */
static steno_status commit_segments(st_transcript *out, const st_transcribe_options *o, const window_segments *ws,
                                    int n, int *stop, st_error *err) {
    for (int s = 0; s < n && !*stop; s++) {
        st_segment segment = ws->items[s];
        size_t begin, end;
        strip_bounds(segment.text, &begin, &end);
        if (segment.start == segment.end || begin == end) {
            segment.text = "";
            segment.tokens = NULL;
            segment.n_tokens = 0;
            segment.words = NULL;
            segment.n_words = 0;
        }
        segment.id = out->n_segments;
        steno_status status = st_transcript_append(out, &segment, err);
        if (status != STENO_OK) return status;
        if (o->on_segment && o->on_segment(o->user, &out->segments[out->n_segments - 1])) *stop = 1;
    }
    return STENO_OK;
}

/* utils.get_end: the end of the last word of segments[0..n), else of the last segment; 0 when
 * there is neither. */
static int get_end(const window_segments *ws, int n, double *end) {
    for (int s = n - 1; s >= 0; s--) {
        if (ws->items[s].n_words > 0) {
            *end = ws->items[s].words[ws->items[s].n_words - 1].end;
            return 1;
        }
    }
    if (n == 0) return 0;
    *end = ws->items[n - 1].end;
    return 1;
}

/* The first segment from index `from` on that has words, or NULL. */
static const st_segment *next_words_segment(const window_segments *ws, int from) {
    for (int s = from; s < ws->n; s++) {
        if (ws->items[s].n_words > 0) return &ws->items[s];
    }
    return NULL;
}

/* Python's round() to an integer: half to even. */
static int round_half_even(double x) {
    return (int)nearbyint(x);
}

typedef struct window_frame {
    int previous_seek, segment_size, content_frames;
    double time_offset, window_end_time, segment_duration, content_duration;
} window_frame;

/* transcribe.py's hallucination_silence_threshold rules, run after word timestamps: where a
 * window's words look like a hallucination (st_timing_is_segment_anomaly) surrounded by silence,
 * the window is cut before it and the next one starts at it. Returns through *n_keep how many
 * of the window's segments stay, through *skip_window whether none do (the leading-silence
 * case), and moves *seek. */
static void apply_hallucination_rules(const window_segments *ws, const window_frame *f, double threshold,
                                      int single_timestamp_ending, double last_speech_timestamp, int *seek, int *n_keep,
                                      int *skip_window) {
    *n_keep = ws->n;
    *skip_window = 0;
    double last_word_end;
    if (!single_timestamp_ending && get_end(ws, ws->n, &last_word_end) && last_word_end > f->time_offset) {
        double remaining_duration = f->window_end_time - last_word_end;
        *seek = remaining_duration > threshold ? round_half_even(last_word_end * FRAMES_PER_SECOND)
                                               : f->previous_seek + f->segment_size;
    }
    /* a suspicious first segment after a long silence: skip the silence, decode again from there */
    const st_segment *first = next_words_segment(ws, 0);
    if (first && st_timing_is_segment_anomaly(first)) {
        double gap = first->start - f->time_offset;
        if (gap > threshold) {
            *seek = f->previous_seek + round_half_even(gap * FRAMES_PER_SECOND);
            *n_keep = 0;
            *skip_window = 1;
            return;
        }
    }
    /* a suspicious segment with silence (or more suspicious text) on both sides: cut there */
    double hal_last_end = last_speech_timestamp;
    for (int s = 0; s < ws->n; s++) {
        const st_segment *segment = &ws->items[s];
        if (segment->n_words == 0) continue;
        if (st_timing_is_segment_anomaly(segment)) {
            const st_segment *next = next_words_segment(ws, s + 1);
            double hal_next_start = next ? next->words[0].start : f->time_offset + f->segment_duration;
            int silence_before = segment->start - hal_last_end > threshold || segment->start < threshold ||
                                 segment->start - f->time_offset < 2.0;
            int silence_after = hal_next_start - segment->end > threshold || st_timing_is_segment_anomaly(next) ||
                                f->window_end_time - segment->end < 2.0;
            if (silence_before && silence_after) {
                double from = f->time_offset + 1 > segment->start ? f->time_offset + 1 : segment->start;
                *seek = round_half_even(from * FRAMES_PER_SECOND);
                if (f->content_duration - segment->end < threshold) *seek = f->content_frames;
                *n_keep = s;
                return;
            }
        }
        hal_last_end = segment->end;
    }
}

/* Sound after a closing timestamp, judged from the window's log-mel when no VAD is at hand:
 * some 0.2 s (TAIL_RUN_FRAMES) from 0.3 s after the timestamp on (TAIL_MARGIN_FRAMES: the
 * closed speech fades out there) whose mean level over the mel bins comes within 20 dB
 * (TAIL_LEVEL_DROP; Whisper's scaled log-mel has 40 dB to the unit) of the loudest 0.2 s of the
 * text before it. Measured on real clips (bench/README.md, "Speech after a closing timestamp"):
 * a word after the timestamp comes within 6 dB (or louder); the fading end of the speech, room
 * noise and digital silence after it stay 26 dB or more below. */
#define TAIL_MARGIN_FRAMES 30
#define TAIL_RUN_FRAMES 20
#define TAIL_LEVEL_DROP 0.5

static int sound_after_timestamp(const float *window, int n_mels, int ended, int segment_size) {
    if (ended < TAIL_RUN_FRAMES || ended + TAIL_MARGIN_FRAMES + TAIL_RUN_FRAMES > segment_size) return 0;
    /* running sums of each frame's mean level: sums[f] covers frames [0, f) */
    double sums[N_FRAMES + 1];
    sums[0] = 0;
    for (int f = 0; f < segment_size; f++) {
        double level = 0;
        for (int m = 0; m < n_mels; m++)
            level += window[(size_t)m * N_FRAMES + f];
        sums[f + 1] = sums[f] + level / n_mels;
    }
    double speech = -INFINITY;
    for (int f = 0; f + TAIL_RUN_FRAMES <= ended; f++) {
        double run = (sums[f + TAIL_RUN_FRAMES] - sums[f]) / TAIL_RUN_FRAMES;
        if (run > speech) speech = run;
    }
    for (int f = ended + TAIL_MARGIN_FRAMES; f + TAIL_RUN_FRAMES <= segment_size; f++) {
        if ((sums[f + TAIL_RUN_FRAMES] - sums[f]) / TAIL_RUN_FRAMES >= speech - TAIL_LEVEL_DROP) return 1;
    }
    return 0;
}

/* How far to move on after the window at seek whose text ends at a timestamp `ended` frames
 * into it. openai-whisper takes the whole window as done, and so drops any speech after that
 * timestamp. steno resumes at the timestamp, as whisper.cpp does, when speech follows it:
 * has_speech says so when set (the VAD filter), else the window's own sound
 * (sound_after_timestamp). Resuming where nothing follows would only invite Whisper to repeat
 * itself (it said a short command twice that way). */
static int window_advance(const st_whisper_context *c, const st_transcribe_options *o, int seek, int ended,
                          int segment_size) {
    if (ended <= 0 || ended >= segment_size) return segment_size;
    if (!o->has_speech) {
        return sound_after_timestamp(c->window, c->shared->file.dims.n_mels, ended, segment_size) ? ended
                                                                                                  : segment_size;
    }
    double from = (double)(seek + ended) * HOP_LENGTH / SAMPLE_RATE;
    double to = (double)(seek + segment_size) * HOP_LENGTH / SAMPLE_RATE;
    return o->has_speech(o->speech_user, from, to) ? ended : segment_size;
}

/* Whether the first n_frames frames of a window hold one and the same log-mel value: digital
 * silence, or sound more than 80 dB below the recording's loudest part (the floor the log-mel
 * is clamped to). Such a window carries nothing to transcribe, yet Whisper reads text into it:
 * openai-whisper prints " You" for each 30 s of digital silence, with no_speech_prob 0.6–0.94 but
 * avg_logprob −0.07 to −0.45, so its no-speech rule (which also needs avg_logprob < −1) keeps
 * it (bench/README.md, "Silence"). steno skips such a window without decoding it. */
static int window_is_blank(const float *window, int n_mels, int n_frames) {
    const float first = window[0];
    for (int m = 0; m < n_mels; m++) {
        const float *row = window + (size_t)m * N_FRAMES;
        for (int f = 0; f < n_frames; f++) {
            if (row[f] != first) return 0;
        }
    }
    return 1;
}

/* The initial prompt's tokens, encoded with a leading space and stripped as openai-whisper
 * does, into *all (grown as needed; *n_all receives their count, 0 without a prompt). */
static steno_status encode_initial_prompt(const st_whisper_context *c, const st_transcribe_options *o, int32_t **all,
                                          int *capacity, int *n_all, st_error *err) {
    *n_all = 0;
    if (!o->initial_prompt || !*o->initial_prompt) return STENO_OK;
    const st_tokenizer *t = c->shared->tokenizer;
    size_t begin, end, n_ids;
    strip_bounds(o->initial_prompt, &begin, &end);
    size_t length = end - begin + 1;
    char *spaced = malloc(length + 1);
    if (!spaced) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    spaced[0] = ' ';
    memcpy(spaced + 1, o->initial_prompt + begin, end - begin);
    spaced[length] = '\0';
    steno_status status = st_tokenizer_encode(t, spaced, length, NULL, 0, &n_ids, err);
    if (status == STENO_OK && n_ids > (size_t)*capacity) {
        int32_t *grown = realloc(*all, n_ids * sizeof **all);
        if (grown)
            *all = grown, *capacity = (int)n_ids;
        else
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    if (status == STENO_OK) status = st_tokenizer_encode(t, spaced, length, *all, (size_t)*capacity, &n_ids, err);
    free(spaced);
    if (status == STENO_OK) *n_all = (int)n_ids;
    return status;
}

/* The language to transcribe: the options', "en" for an English-only model, else detected on
 * the first window; checked, and recorded in the transcript. */
static steno_status choose_language(st_whisper_context *c, st_mel_source *mel, const st_transcribe_options *o,
                                    st_transcript *out, const char **language, st_error *err) {
    const st_tokenizer *t = c->shared->tokenizer;
    const int multilingual = st_tokenizer_is_multilingual(t);
    *language = o->language;
    steno_status status = STENO_OK;
    if (!multilingual) {
        *language = "en";
    } else if (!*language) {
        if ((status = detect_on_mel(c, mel, NULL, language, err)) != STENO_OK) return status;
    }
    if (multilingual && st_tokenizer_language_token(t, *language) < 0) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "unknown language '%s'", *language);
    }
    if ((status = st_transcript_set_language(out, *language, err)) != STENO_OK) return status;
    out->has_words = o->word_timestamps != 0;
    return STENO_OK;
}

/* A window's prompt into initial (MAX_PROMPT_TOKENS): <|startofprev|> and the last of the
 * history (at most half the text context), then the SOT sequence. Returns its length;
 * *sot_index receives where <|startoftranscript|> is. */
static int build_prompt(const st_whisper_context *c, const st_transcribe_options *o, const char *language,
                        const int32_t *history, int n_history, int32_t *initial, int *sot_index) {
    const st_tokenizer *t = c->shared->tokenizer;
    int n_initial = 0;
    const int max_history = c->shared->file.dims.n_text_ctx / 2 - 1;
    if (n_history > 0) {
        if (n_history > max_history) n_history = max_history;
        initial[n_initial++] = c->shared->special.sot_prev;
        memcpy(initial + n_initial, history - n_history, (size_t)n_history * sizeof *initial);
        n_initial += n_history;
    }
    *sot_index = n_initial;
    initial[n_initial++] = c->shared->special.sot;
    if (st_tokenizer_is_multilingual(t)) {
        initial[n_initial++] = st_tokenizer_language_token(t, language);
        initial[n_initial++] = o->translate ? st_tokenizer_translate(t) : st_tokenizer_transcribe(t);
    }
    if (o->without_timestamps) initial[n_initial++] = c->shared->special.no_timestamps;
    return n_initial;
}

/* The seconds one timestamp step stands for (0.02 s: 2 mel frames per audio position). */
static double time_precision(const st_whisper_context *c) {
    return (double)(N_FRAMES / c->shared->file.dims.n_audio_ctx) * HOP_LENGTH / SAMPLE_RATE;
}

/* Whether a window's result is silence by the no-speech rule: it is then skipped whole. */
static int is_silence(const st_transcribe_options *o, const window_result *w) {
    if (o->no_speech_threshold <= 0) return 0;
    int skip = w->decode.no_speech_prob > o->no_speech_threshold;
    if (o->has_logprob_threshold && w->decode.avg_logprob > o->logprob_threshold) skip = 0;
    return skip;
}

/* openai's slicing of a window's tokens where two timestamps meet (and, with
 * single_timestamp_ending, at the end): a segment per slice. *last_slice receives where the
 * last one ended. */
static steno_status cut_at_timestamp_pairs(st_whisper_context *c, window_segments *ws, int seek, double time_offset,
                                           const int32_t *tokens, int n_tokens, int single_timestamp_ending,
                                           const window_result *w, int *last_slice, st_error *err) {
    const int begin_ts = c->shared->special.timestamp_begin;
    const double precision = time_precision(c);
    *last_slice = 0;
    for (int i = 1; i <= n_tokens; i++) {
        int is_cut = i < n_tokens ? (tokens[i - 1] >= begin_ts && tokens[i] >= begin_ts) : single_timestamp_ending;
        if (!is_cut) continue;
        const int32_t *slice = tokens + *last_slice;
        int n_slice = i - *last_slice;
        double start = time_offset + (slice[0] - begin_ts) * precision;
        double end = time_offset + (slice[n_slice - 1] - begin_ts) * precision;
        steno_status status = new_segment(c, ws, seek, start, end, slice, n_slice, w, err);
        if (status != STENO_OK) return status;
        *last_slice = i;
    }
    return STENO_OK;
}

/* A window without two timestamps in a row: one segment, up to its last timestamp (else the
 * whole window). */
static steno_status whole_window_segment(st_whisper_context *c, window_segments *ws, int seek, double time_offset,
                                         double segment_duration, const int32_t *tokens, int n_tokens,
                                         const window_result *w, st_error *err) {
    const int begin_ts = c->shared->special.timestamp_begin;
    double duration = segment_duration;
    for (int i = n_tokens - 1; i >= 0; i--) {
        if (tokens[i] < begin_ts) continue;
        if (tokens[i] != begin_ts) duration = (tokens[i] - begin_ts) * time_precision(c);
        break;
    }
    return new_segment(c, ws, seek, time_offset, time_offset + duration, tokens, n_tokens, w, err);
}

/* Word timestamps for a window's segments, from the window the state has selected. */
static steno_status align_words(st_whisper_context *c, st_whisper_state *state, const st_transcribe_options *o,
                                const int32_t *sot_sequence, const char *language, double time_offset, int num_frames,
                                window_segments *ws, double *last_speech_timestamp, st_error *err) {
    const st_word_window window = {
        .sot_sequence = sot_sequence,
        .n_sot = st_tokenizer_is_multilingual(c->shared->tokenizer) ? 3 : 1,
        .language = language,
        .time_offset = time_offset,
        .num_frames = num_frames,
        .prepend_punctuations = o->prepend_punctuations ? o->prepend_punctuations : ST_PREPEND_PUNCTUATIONS,
        .append_punctuations = o->append_punctuations ? o->append_punctuations : ST_APPEND_PUNCTUATIONS};
    return st_word_aligner_add(c->aligner, &c->shared->model, state, c->shared->tokenizer, &window, ws->items, ws->n,
                               last_speech_timestamp, err);
}

static steno_status transcribe_source(st_whisper_context *c, st_mel_source *mel, const st_transcribe_options *o,
                                      st_transcript *out, st_error *err) {
    steno_status status = STENO_OK;
    const int content_frames = st_mel_source_content_frames(mel);
    const double content_duration = (double)content_frames * HOP_LENGTH / SAMPLE_RATE;
    out->duration = (double)st_mel_source_n_samples(mel) / SAMPLE_RATE;
    const int input_stride = N_FRAMES / c->shared->file.dims.n_audio_ctx; /* 2 mel frames per audio position */
    const int multilingual = st_tokenizer_is_multilingual(c->shared->tokenizer);

    /* every token accepted so far, the initial prompt first: the history later windows see */
    int capacity = 1024, n_all = 0, prompt_reset_since = 0;
    int32_t *all = malloc((size_t)capacity * sizeof *all);
    int32_t *initial = malloc(MAX_PROMPT_TOKENS * sizeof *initial);
    window_result w = {0};
    window_segments ws = {0};
    if (!all || !initial) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    if ((status = encode_initial_prompt(c, o, &all, &capacity, &n_all, err)) != STENO_OK) goto done;
    const char *language;
    if ((status = choose_language(c, mel, o, out, &language, err)) != STENO_OK) goto done;
    const int detect_each_window = multilingual && !o->language && o->language_per_window;
    out->language_per_segment = detect_each_window;

    network_binding binding = {.model = &c->shared->model, .state = &c->state, .window = -1};
    const st_decoder_ops ops = binding_ops(&binding, c->max_sequences);
    int seek = 0, stop = 0;
    double last_speech_timestamp = 0.0;
    while (seek < content_frames && !stop) {
        if (o->should_stop && o->should_stop(o->user)) {
            stop = 1;
            break;
        }
        const double time_offset = (double)seek * HOP_LENGTH / SAMPLE_RATE;
        const int segment_size = content_frames - seek < N_FRAMES ? content_frames - seek : N_FRAMES;
        const double segment_duration = (double)segment_size * HOP_LENGTH / SAMPLE_RATE;
        if ((status = st_mel_source_window(mel, seek, segment_size, c->window, N_FRAMES, err)) != STENO_OK) goto done;
        if (window_is_blank(c->window, c->shared->file.dims.n_mels, segment_size)) {
            seek += segment_size;
            if (o->on_progress) o->on_progress(o->user, (double)seek * HOP_LENGTH / SAMPLE_RATE, content_duration);
            continue;
        }
        if ((status = encode_window(c, err)) != STENO_OK) goto done;
        if (detect_each_window && seek > 0) {
            const char *previous = language;
            if ((status = detect_encoded(c, NULL, &language, err)) != STENO_OK) goto done;
            /* text in another language would pull the decoder back into it: start afresh */
            if (strcmp(previous, language) != 0) prompt_reset_since = n_all;
        }

        /* <|startofprev|> + the latest history, then the SOT sequence */
        int sot_index;
        const int n_initial =
            build_prompt(c, o, language, all + n_all, n_all - prompt_reset_since, initial, &sot_index);
        status = decode_with_fallback(c, c->decoder, &ops, o, 0, initial, n_initial, sot_index, &w, err);
        if (status != STENO_OK) goto done;
        const int32_t *tokens = w.decode.tokens;
        const int n_tokens = w.decode.n_tokens;

        if (is_silence(o, &w)) { /* silence: move on a whole window */
            seek += segment_size;
            if (o->on_progress) o->on_progress(o->user, (double)seek * HOP_LENGTH / SAMPLE_RATE, content_duration);
            continue;
        }

        const int begin_ts = c->shared->special.timestamp_begin;
        const int previous_seek = seek;
        window_segments_clear(&ws);
        /* the window ends in text then one timestamp: everything in it was transcribed */
        const int single_timestamp_ending =
            n_tokens >= 2 && tokens[n_tokens - 2] < begin_ts && tokens[n_tokens - 1] >= begin_ts;
        int n_consecutive = 0, last_slice = 0;
        for (int i = 1; i < n_tokens; i++) {
            if (tokens[i - 1] >= begin_ts && tokens[i] >= begin_ts) n_consecutive++;
        }
        if (n_consecutive > 0) {
            /* segments end where two timestamps meet */
            status = cut_at_timestamp_pairs(c, &ws, seek, time_offset, tokens, n_tokens, single_timestamp_ending, &w,
                                            &last_slice, err);
            if (status != STENO_OK) goto done;
            if (single_timestamp_ending) {
                /* the window is done (for openai-whisper) */
                seek += window_advance(c, o, seek, (tokens[n_tokens - 1] - begin_ts) * input_stride, segment_size);
            } else {
                /* resume from the last timestamp: the text after it was cut off */
                seek += (tokens[last_slice - 1] - begin_ts) * input_stride;
            }
        } else {
            status = whole_window_segment(c, &ws, seek, time_offset, segment_duration, tokens, n_tokens, &w, err);
            if (status != STENO_OK) goto done;
            const int ends_in_timestamp = n_tokens > 0 && tokens[n_tokens - 1] >= begin_ts;
            seek += ends_in_timestamp
                        ? window_advance(c, o, seek, (tokens[n_tokens - 1] - begin_ts) * input_stride, segment_size)
                        : segment_size;
        }

        int n_keep = ws.n;
        if (o->word_timestamps) {
            status = align_words(c, &c->state, o, initial + sot_index, language, time_offset, segment_size, &ws,
                                 &last_speech_timestamp, err);
            if (status != STENO_OK) goto done;
            /* resume right after the last word unless the window ended cleanly */
            double last_word_end;
            if (!single_timestamp_ending && get_end(&ws, ws.n, &last_word_end) && last_word_end > time_offset) {
                seek = round_half_even(last_word_end * FRAMES_PER_SECOND);
            }
            if (o->has_hallucination_silence_threshold) {
                const window_frame frame = {.previous_seek = previous_seek,
                                            .segment_size = segment_size,
                                            .content_frames = content_frames,
                                            .time_offset = time_offset,
                                            .window_end_time =
                                                (double)(previous_seek + N_FRAMES) * HOP_LENGTH / SAMPLE_RATE,
                                            .segment_duration = segment_duration,
                                            .content_duration = content_duration};
                int skip_window;
                apply_hallucination_rules(&ws, &frame, o->hallucination_silence_threshold, single_timestamp_ending,
                                          last_speech_timestamp, &seek, &n_keep, &skip_window);
                if (skip_window) {
                    double done_seconds = (double)(seek < content_frames ? seek : content_frames) / FRAMES_PER_SECOND;
                    if (o->on_progress) o->on_progress(o->user, done_seconds, content_duration);
                    continue;
                }
            }
            if (get_end(&ws, n_keep, &last_word_end)) last_speech_timestamp = last_word_end;
        }

        for (int s = 0; s < n_keep; s++)
            snprintf(ws.items[s].language, sizeof ws.items[s].language, "%s", language);
        const int first_new_segment = out->n_segments;
        if ((status = commit_segments(out, o, &ws, n_keep, &stop, err)) != STENO_OK) goto done;

        /* the accepted tokens become the next window's prompt */
        for (int s = first_new_segment; s < out->n_segments; s++) {
            const st_segment *segment = &out->segments[s];
            if (n_all + segment->n_tokens > capacity) {
                int grown_capacity = (n_all + segment->n_tokens) * 2;
                int32_t *grown = realloc(all, (size_t)grown_capacity * sizeof *all);
                if (!grown) {
                    status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
                    goto done;
                }
                all = grown;
                capacity = grown_capacity;
            }
            for (int i = 0; i < segment->n_tokens; i++)
                all[n_all++] = segment->tokens[i];
        }
        if (!o->condition_on_previous_text || w.decode.temperature > 0.5f) prompt_reset_since = n_all;
        double done_seconds = (double)(seek < content_frames ? seek : content_frames) * HOP_LENGTH / SAMPLE_RATE;
        if (o->on_progress) o->on_progress(o->user, done_seconds, content_duration);
    }
    if (stop) status = st_error_set(err, STENO_ERR_CANCELLED, "transcription stopped by the caller");

done:
    window_segments_clear(&ws);
    free(ws.items);
    free(w.text);
    free(all);
    free(initial);
    return status;
}

/* ---- batched long-form: independent chunks decoded in lockstep ---- */

/* A chunk of the recording: mel frames [start, start + n_frames), at most one window. */
typedef struct chunk_span {
    int start, n_frames;
} chunk_span;

/* The chunks of content_frames: cut at options->chunk_ends (samples) when set, else every
 * window; none longer than a window. *out is malloc'd. */
static steno_status plan_chunks(const st_transcribe_options *o, int content_frames, chunk_span **out, int *n_out,
                                st_error *err) {
    const size_t n_ends = o->chunk_ends ? o->n_chunk_ends : 0;
    /* each end, plus the recording's, may split into windows */
    const size_t capacity = n_ends + 1 + (size_t)content_frames / N_FRAMES + 1;
    chunk_span *chunks = malloc(capacity * sizeof *chunks);
    if (!chunks) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    int n = 0, start = 0;
    for (size_t e = 0; e <= n_ends && start < content_frames; e++) {
        int end = content_frames;
        if (e < n_ends && o->chunk_ends[e] / HOP_LENGTH < (size_t)content_frames) {
            end = (int)(o->chunk_ends[e] / HOP_LENGTH);
        }
        for (; start < end; n++) {
            chunks[n].start = start;
            chunks[n].n_frames = end - start < N_FRAMES ? end - start : N_FRAMES;
            start += chunks[n].n_frames;
        }
    }
    *out = chunks;
    *n_out = n;
    return STENO_OK;
}

/* What a batch needs besides the context: a state with a window and cache slots per chunk, a
 * decoder per chunk, and the lockstep step's gathered rows. */
typedef struct batch_run {
    st_whisper_state state;
    int size, per_chunk; /* chunks, and sequences each chunk may need */
    st_decoder **decoders;
    network_binding *bindings;
    st_decoder_ops *ops;
    st_decoder_step *steps;
    window_result *results;
    int *live;                     /* chunks still decoding, and chunks decoded: 1; blank ones 0 */
    int *tokens, *slots, *windows; /* [size * per_chunk] */
    float *logits;                 /* [size * per_chunk][n_vocab] */
    float *mels;                   /* [size][n_mels][N_FRAMES]: each chunk's log-mel window (a file's mel
                                      source only reads forward) */
} batch_run;

static void batch_run_free(batch_run *r) {
    st_whisper_state_free(&r->state);
    for (int k = 0; r->decoders && k < r->size; k++)
        st_decoder_free(r->decoders[k]);
    for (int k = 0; r->results && k < r->size; k++)
        free(r->results[k].text);
    free(r->decoders);
    free(r->bindings);
    free(r->ops);
    free(r->steps);
    free(r->results);
    free(r->live);
    free(r->tokens);
    free(r->slots);
    free(r->windows);
    st_nn_free(r->logits);
    st_nn_free(r->mels);
}

static steno_status batch_run_init(batch_run *r, st_whisper_context *c, const st_transcribe_options *o, int size,
                                   st_error *err) {
    memset(r, 0, sizeof *r);
    const shared_model *m = c->shared;
    r->size = size;
    r->per_chunk = o->beam_size;
    if (o->n_temperatures > 1 && o->best_of > r->per_chunk) r->per_chunk = o->best_of;
    const size_t rows = (size_t)size * (size_t)r->per_chunk;
    steno_status status = st_whisper_state_init_windows(&r->state, &m->model, (int)rows, size, err);
    if (status != STENO_OK) return status;
    r->decoders = calloc((size_t)size, sizeof *r->decoders);
    r->bindings = calloc((size_t)size, sizeof *r->bindings);
    r->ops = calloc((size_t)size, sizeof *r->ops);
    r->steps = calloc((size_t)size, sizeof *r->steps);
    r->results = calloc((size_t)size, sizeof *r->results);
    r->live = calloc((size_t)size, sizeof *r->live);
    r->tokens = malloc(rows * sizeof *r->tokens);
    r->slots = malloc(rows * sizeof *r->slots);
    r->windows = malloc(rows * sizeof *r->windows);
    r->logits = st_nn_alloc(rows * (size_t)m->file.dims.n_vocab);
    r->mels = st_nn_alloc((size_t)size * (size_t)m->file.dims.n_mels * N_FRAMES);
    if (!r->decoders || !r->bindings || !r->ops || !r->steps || !r->results || !r->live || !r->tokens || !r->slots ||
        !r->windows || !r->logits || !r->mels) {
        batch_run_free(r);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for a batch of %d chunks", size);
    }
    for (int k = 0; k < size && status == STENO_OK; k++) {
        status = st_decoder_create(&m->special, m->file.dims.n_text_ctx, r->per_chunk, &r->decoders[k], err);
        r->bindings[k] =
            (network_binding){.model = &m->model, .state = &r->state, .first_slot = k * r->per_chunk, .window = k};
        r->ops[k] = binding_ops(&r->bindings[k], r->per_chunk);
    }
    if (status != STENO_OK) batch_run_free(r);
    return status;
}

/* Decodes the live chunks of the batch at the first temperature in lockstep: each step, every
 * live chunk's decoder chooses its tokens, and one pass of the network computes the next
 * logits of all of them. */
static steno_status decode_in_lockstep(st_whisper_context *c, batch_run *r, const st_transcribe_options *o,
                                       const int32_t *initial, int n_initial, int sot_index, st_error *err) {
    const st_decode_options base = base_decode_options(c, o);
    const st_decode_options first = temperature_options(&base, o, 0);
    const int n_vocab = c->shared->file.dims.n_vocab;
    steno_status status = STENO_OK;
    for (int k = 0; k < r->size && status == STENO_OK; k++) {
        if (r->live[k])
            status = st_decoder_start(r->decoders[k], &r->ops[k], &first, initial, n_initial, sot_index, err);
    }
    int decoding[ST_MAX_BATCH_SIZE];
    for (int k = 0; k < r->size; k++)
        decoding[k] = r->live[k];
    while (status == STENO_OK) {
        int rows = 0, n_past = -1;
        for (int k = 0; k < r->size && status == STENO_OK; k++) {
            if (!decoding[k]) continue;
            st_decoder_step *step = &r->steps[k];
            if ((status = st_decoder_next(r->decoders[k], step, err)) != STENO_OK) break;
            if (step->n_sequences == 0) {
                decoding[k] = 0;
                continue;
            }
            if (n_past >= 0 && step->n_past != n_past) { /* every chunk started from the same prompt */
                status = st_error_set(err, STENO_ERR_INTERNAL, "batch: chunks out of step");
                break;
            }
            n_past = step->n_past;
            for (int j = 0; j < step->n_sequences; j++, rows++) {
                r->tokens[rows] = step->tokens[j];
                r->slots[rows] = r->bindings[k].first_slot + j;
                r->windows[rows] = k;
            }
        }
        if (status != STENO_OK || rows == 0) break;
        status = st_whisper_decode_windows(&c->shared->model, &r->state, rows, r->slots, r->windows, r->tokens, 1,
                                           n_past, ST_WHISPER_LOGITS_LAST, r->logits, err);
        rows = 0;
        for (int k = 0; k < r->size && status == STENO_OK; k++) {
            if (!decoding[k]) continue;
            const st_decoder_step *step = &r->steps[k];
            memcpy(step->logits, r->logits + (size_t)rows * n_vocab,
                   (size_t)step->n_sequences * n_vocab * sizeof *step->logits);
            rows += step->n_sequences;
            r->bindings[k].n_cached = n_past + 1;
        }
    }
    for (int k = 0; k < r->size && status == STENO_OK; k++) {
        if (!r->live[k]) continue;
        st_decoder_finish(r->decoders[k], &r->results[k].decode);
        int needs_fallback = 0;
        status = judge_window(c, o, &r->results[k], &needs_fallback, err);
        if (status == STENO_OK && needs_fallback && o->n_temperatures > 1) {
            status = decode_with_fallback(c, r->decoders[k], &r->ops[k], o, 1, initial, n_initial, sot_index,
                                          &r->results[k], err);
        }
    }
    return status;
}

/* A decoded chunk's segments: cut at timestamp pairs, then any text after the last pair up to
 * the chunk's end (no later window will decode it again). */
static steno_status chunk_segments(st_whisper_context *c, window_segments *ws, const chunk_span *chunk,
                                   const window_result *w, st_error *err) {
    const int32_t *tokens = w->decode.tokens;
    const int n_tokens = w->decode.n_tokens, begin_ts = c->shared->special.timestamp_begin;
    const double time_offset = (double)chunk->start / FRAMES_PER_SECOND;
    const double duration = (double)chunk->n_frames / FRAMES_PER_SECOND;
    int has_pair = 0;
    for (int i = 1; i < n_tokens && !has_pair; i++)
        has_pair = tokens[i - 1] >= begin_ts && tokens[i] >= begin_ts;
    if (!has_pair) return whole_window_segment(c, ws, chunk->start, time_offset, duration, tokens, n_tokens, w, err);
    const int single_timestamp_ending =
        n_tokens >= 2 && tokens[n_tokens - 2] < begin_ts && tokens[n_tokens - 1] >= begin_ts;
    int last_slice;
    steno_status status = cut_at_timestamp_pairs(c, ws, chunk->start, time_offset, tokens, n_tokens,
                                                 single_timestamp_ending, w, &last_slice, err);
    int has_text = 0; /* after the last pair: an opening timestamp, then text up to the end */
    for (int i = last_slice; i < n_tokens && !has_text; i++)
        has_text = tokens[i] < c->shared->special.eot;
    if (status != STENO_OK || !has_text) return status;
    const double start = time_offset + (tokens[last_slice] - begin_ts) * time_precision(c);
    return new_segment(c, ws, chunk->start, start, time_offset + duration, tokens + last_slice, n_tokens - last_slice,
                       w, err);
}

/* When a chunk's text ends with a timestamp (single, or closing a pair) before the chunk does
 * and speech follows it (window_advance's rule: the VAD's, else the log-mel's), the frames from
 * the chunk's start to that timestamp into *rest: the rest of the chunk is decoded next, alone,
 * as the seek loop would go on from there. 0 otherwise. */
static void chunk_rest(st_whisper_context *c, const float *window, const st_transcribe_options *o,
                       const chunk_span *chunk, const window_result *w, int *rest) {
    const int32_t *tokens = w->decode.tokens;
    const int n_tokens = w->decode.n_tokens, begin_ts = c->shared->special.timestamp_begin;
    *rest = 0;
    if (n_tokens < 2 || tokens[n_tokens - 1] < begin_ts) return;
    const int ended = (tokens[n_tokens - 1] - begin_ts) * (N_FRAMES / c->shared->file.dims.n_audio_ctx);
    if (ended <= 0 || ended >= chunk->n_frames) return;
    /* the log-mel rule reads the chunk's window there */
    memcpy(c->window, window, (size_t)c->shared->file.dims.n_mels * N_FRAMES * sizeof *window);
    if (window_advance(c, o, chunk->start, ended, chunk->n_frames) == ended) *rest = ended;
}

static steno_status transcribe_batched(st_whisper_context *c, st_mel_source *mel, const st_transcribe_options *o,
                                       st_transcript *out, st_error *err) {
    const int content_frames = st_mel_source_content_frames(mel);
    const double content_duration = (double)content_frames / FRAMES_PER_SECOND;
    out->duration = (double)st_mel_source_n_samples(mel) / SAMPLE_RATE;
    const int n_mels = c->shared->file.dims.n_mels;
    int capacity = MAX_PROMPT_TOKENS, n_prompt = 0, n_chunks = 0, stop = 0;
    int32_t *prompt = malloc((size_t)capacity * sizeof *prompt);
    int32_t *initial = malloc(MAX_PROMPT_TOKENS * sizeof *initial);
    chunk_span *chunks = NULL;
    window_segments ws = {0};
    batch_run r = {0};
    steno_status status = STENO_OK;
    if (!prompt || !initial) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    if ((status = encode_initial_prompt(c, o, &prompt, &capacity, &n_prompt, err)) != STENO_OK) goto done;
    const char *language;
    if ((status = choose_language(c, mel, o, out, &language, err)) != STENO_OK) goto done;
    int sot_index;
    const int n_initial = build_prompt(c, o, language, prompt + n_prompt, n_prompt, initial, &sot_index);
    if ((status = plan_chunks(o, content_frames, &chunks, &n_chunks, err)) != STENO_OK) goto done;
    const int size = n_chunks < o->batch_size ? (n_chunks > 0 ? n_chunks : 1) : o->batch_size;
    if ((status = batch_run_init(&r, c, o, size, err)) != STENO_OK) goto done;

    double last_speech_timestamp = 0.0;
    for (int first = 0; first < n_chunks && !stop; first += size) {
        if (o->should_stop && o->should_stop(o->user)) {
            stop = 1;
            break;
        }
        const int n = n_chunks - first < size ? n_chunks - first : size;
        for (int k = 0; k < size; k++) {
            r.live[k] = 0;
            if (k >= n) continue;
            const chunk_span *chunk = &chunks[first + k];
            float *window = r.mels + (size_t)k * n_mels * N_FRAMES;
            status = st_mel_source_window(mel, chunk->start, chunk->n_frames, window, N_FRAMES, err);
            if (status != STENO_OK) goto done;
            if (window_is_blank(window, n_mels, chunk->n_frames)) continue;
            r.live[k] = 1;
            st_whisper_select_window(&r.state, k);
            if ((status = st_whisper_encode(&c->shared->model, &r.state, window, err)) != STENO_OK) goto done;
        }
        if ((status = decode_in_lockstep(c, &r, o, initial, n_initial, sot_index, err)) != STENO_OK) goto done;
        for (int k = 0; k < n && !stop; k++) {
            /* the chunk, then what is left of it when its text closed early with speech after */
            for (chunk_span piece = chunks[first + k]; r.live[k] && !stop;) {
                window_segments_clear(&ws);
                const window_result *w = &r.results[k];
                if (is_silence(o, w)) break;
                if ((status = chunk_segments(c, &ws, &piece, w, err)) != STENO_OK) goto done;
                if (o->word_timestamps && ws.n > 0) {
                    st_whisper_select_window(&r.state, k);
                    status = align_words(c, &r.state, o, initial + sot_index, language,
                                         (double)piece.start / FRAMES_PER_SECOND, piece.n_frames, &ws,
                                         &last_speech_timestamp, err);
                    if (status != STENO_OK) goto done;
                    double last_word_end;
                    if (get_end(&ws, ws.n, &last_word_end)) last_speech_timestamp = last_word_end;
                }
                for (int s = 0; s < ws.n; s++)
                    snprintf(ws.items[s].language, sizeof ws.items[s].language, "%s", language);
                if ((status = commit_segments(out, o, &ws, ws.n, &stop, err)) != STENO_OK) goto done;
                float *window = r.mels + (size_t)k * n_mels * N_FRAMES;
                int rest;
                chunk_rest(c, window, o, &piece, w, &rest);
                if (rest == 0) break;
                /* the rest's window: the piece's frames from rest on, then zeros, as the seek
                 * loop's window from there */
                piece.start += rest, piece.n_frames -= rest;
                for (int band = 0; band < n_mels; band++) {
                    float *row = window + (size_t)band * N_FRAMES;
                    memmove(row, row + rest, (size_t)piece.n_frames * sizeof *row);
                    memset(row + piece.n_frames, 0, (size_t)(N_FRAMES - piece.n_frames) * sizeof *row);
                }
                st_whisper_select_window(&r.state, k);
                if ((status = st_whisper_encode(&c->shared->model, &r.state, window, err)) != STENO_OK) goto done;
                status = decode_with_fallback(c, r.decoders[k], &r.ops[k], o, 0, initial, n_initial, sot_index,
                                              &r.results[k], err);
                if (status != STENO_OK) goto done;
            }
            const chunk_span *chunk = &chunks[first + k];
            if (o->on_progress) {
                o->on_progress(o->user, (double)(chunk->start + chunk->n_frames) / FRAMES_PER_SECOND, content_duration);
            }
        }
    }
    if (stop) status = st_error_set(err, STENO_ERR_CANCELLED, "transcription stopped by the caller");

done:
    window_segments_clear(&ws);
    free(ws.items);
    batch_run_free(&r);
    free(chunks);
    free(prompt);
    free(initial);
    return status;
}

/* The seek loop or, with a batch size, the batched chunks. */
static steno_status transcribe_mel(st_whisper_context *c, st_mel_source *mel, const st_transcribe_options *o,
                                   st_transcript *out, st_error *err) {
    return o->batch_size > 1 ? transcribe_batched(c, mel, o, out, err) : transcribe_source(c, mel, o, out, err);
}

/* Validates what the loaded context can do before any work starts. */
static steno_status check_options(const st_whisper_context *c, const st_transcribe_options *o, st_error *err) {
    if (o->n_temperatures < 1 || o->n_temperatures > ST_MAX_TEMPERATURES || o->beam_size < 1 ||
        o->beam_size > c->max_sequences || o->best_of < 1 || (o->best_of > c->max_sequences && o->n_temperatures > 1)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "beam size %d / best of %d: this model was loaded for at most %d hypotheses", o->beam_size,
                            o->best_of, c->max_sequences);
    }
    if (o->batch_size < 0 || o->batch_size > ST_MAX_BATCH_SIZE) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "batch size %d: expected 0 .. %d (0 or 1: sequential)",
                            o->batch_size, ST_MAX_BATCH_SIZE);
    }
    if (o->batch_size > 1) {
        const char *conflict = c->shared->model.device                  ? "a model on the GPU"
                               : o->language_per_window                 ? "language detection per window"
                               : o->has_hallucination_silence_threshold ? "a hallucination silence threshold"
                                                                        : NULL;
        if (conflict) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                "batch size %d: batched decoding does not work with %s (use batch size 1)",
                                o->batch_size, conflict);
        }
    }
    return STENO_OK;
}

steno_status st_transcribe(st_whisper_context *c, const float *samples, size_t n_samples,
                           const st_transcribe_options *o, st_transcript *out, st_error *err) {
    const int n_threads = o->n_threads > 0 ? o->n_threads : 1;
    st_nn_set_threads(n_threads);
    steno_status status = check_options(c, o, err);
    if (status != STENO_OK) return status;
    if (o->vad) return st_transcribe_speech(c, samples, n_samples, o, out, err);
    st_mel_source *mel;
    if ((status = st_mel_source_from_samples(c->shared->filters, samples, n_samples, n_threads, &mel, err)) !=
        STENO_OK) {
        return status;
    }
    status = transcribe_mel(c, mel, o, out, err);
    st_mel_source_free(mel);
    return status;
}

steno_status st_transcribe_file(st_whisper_context *c, const char *path, const st_transcribe_options *o,
                                st_transcript *out, st_error *err) {
    const int n_threads = o->n_threads > 0 ? o->n_threads : 1;
    st_nn_set_threads(n_threads);
    steno_status status = check_options(c, o, err);
    if (status != STENO_OK) return status;
    if (o->vad) {
        st_audio audio;
        if ((status = st_audio_decode_file(path, SAMPLE_RATE, &audio, err)) != STENO_OK) return status;
        status = st_transcribe_speech(c, audio.samples, audio.n_samples, o, out, err);
        st_audio_free(&audio);
        return status;
    }
    st_mel_source *mel;
    if ((status = st_mel_source_from_file(c->shared->filters, path, n_threads, &mel, err)) != STENO_OK) return status;
    status = transcribe_mel(c, mel, o, out, err);
    st_mel_source_free(mel);
    return status;
}
