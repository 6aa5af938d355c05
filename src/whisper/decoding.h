/*
 * decoding.h — decoding one 30-second window as openai-whisper's DecodingTask does.
 *
 * Given the audio features already in the decoder (the model's cross-attention cache), this
 * turns logits into tokens: the initial prompt and SOT sequence, the logit filters (suppress
 * blank, suppress tokens, timestamp rules), and greedy, beam-search (with patience) or
 * temperature sampling (best of N), ranked by length-normalised log-probability. It talks to
 * the network only through st_decoder_ops, so it can be tested with a scripted model.
 */
#ifndef ST_WHISPER_DECODING_H
#define ST_WHISPER_DECODING_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* The token ids decoding needs, from the tokenizer. */
typedef struct st_special_tokens {
    int n_vocab;
    int eot, sot, sot_prev, no_speech, no_timestamps, timestamp_begin;
    int blank; /* the single-space token (" "), suppressed at the first sampled position */
} st_special_tokens;

/* The network, as decoding sees it. Sequences are numbered 0..n_sequences-1; each has its own
 * self-attention cache. */
typedef struct st_decoder_ops {
    void *context;
    /* Appends n_tokens tokens to sequence 0's cache (which holds n_past positions) and writes
     * the logits of the positions listed in `positions` (indices into the new tokens) to
     * logits[i * n_vocab]. Used once per window for the prompt and SOT sequence. */
    steno_status (*prefill)(void *context, const int *tokens, int n_tokens, int n_past, const int *positions,
                            int n_positions, float *logits, st_error *err);
    /* Makes sequence i's cache a copy of sequence sources[i]'s, for i in 0..n_sequences-1. */
    steno_status (*reorder)(void *context, const int *sources, int n_sequences, st_error *err);
    /* Appends one token to each of n_sequences sequences (each holding n_past positions) and
     * writes each one's next-token logits to logits[i * n_vocab]. */
    steno_status (*step)(void *context, const int *tokens, int n_sequences, int n_past, float *logits,
                         st_error *err);
    int max_sequences; /* how many sequences the caches hold */
    int n_text_ctx;    /* 448 for every Whisper model */
} st_decoder_ops;

typedef struct st_decode_options {
    float temperature;      /* 0: greedy or beam search; > 0: sampling */
    int beam_size;          /* at temperature 0: > 1 selects beam search */
    int best_of;            /* at temperature > 0: number of independent samples */
    float patience;         /* beam search keeps round(beam_size * patience) finished candidates */
    float length_penalty;   /* < 0: rank by logprob / length; else by logprob / ((5 + length) / 6)^alpha */
    int without_timestamps; /* add <|notimestamps|> and skip the timestamp rules */
    int max_initial_timestamp_index; /* first timestamp at most this many 20 ms steps; < 0: no limit */
    int suppress_blank;
    const int *suppress_tokens; /* suppressed at every step */
    int n_suppress_tokens;
    int sample_len;         /* at most this many sampled tokens (openai: n_text_ctx / 2) */
    uint64_t seed;          /* for sampling */
} st_decode_options;

/* openai-whisper's DecodingOptions defaults (greedy, timestamps, suppress "-1" to be filled). */
st_decode_options st_decode_default_options(void);

typedef struct st_decode_result {
    int *tokens; /* sampled tokens, without the SOT sequence and the final <|endoftext|> */
    int n_tokens;
    float *token_logprobs; /* log-probability of each sampled token, parallel to tokens */
    double sum_logprob;
    double avg_logprob; /* sum_logprob / (n_tokens + 1), as openai-whisper reports it */
    float no_speech_prob;
    float temperature;
} st_decode_result;

/* Scratch memory for decoding, sized once for a model (n_vocab, n_text_ctx, max sequences). */
typedef struct st_decoder st_decoder;

steno_status st_decoder_create(const st_special_tokens *special, int n_text_ctx, int max_sequences,
                               st_decoder **out, st_error *err);
void st_decoder_free(st_decoder *decoder);

/* Decodes one window. initial_tokens is the full prompt the network sees first: optional
 * <|startofprev|> + previous text, then the SOT sequence (and <|notimestamps|> if
 * options->without_timestamps); sot_index is the position of <|startoftranscript|> in it. The
 * result's arrays are owned by the decoder and valid until the next call. */
steno_status st_decoder_run(st_decoder *decoder, const st_decoder_ops *ops, const st_decode_options *options,
                            const int *initial_tokens, int n_initial, int sot_index, st_decode_result *result,
                            st_error *err);

/* st_decoder_run in its steps, for decoding several windows in lockstep (each with its own
 * decoder) where one network pass serves all of them: st_decoder_start runs the prompt through
 * ops->prefill; then each st_decoder_next chooses the next tokens from the last logits and,
 * unless decoding is complete (step->n_sequences 0), asks for a step: the caller runs
 * step->tokens (one per sequence) at step->n_past and writes their logits to step->logits,
 * as ops->step would. st_decoder_finish then ranks the candidates into *result (arrays owned
 * by the decoder, as st_decoder_run's). ops must stay valid until then. */
typedef struct st_decoder_step {
    const int *tokens;
    int n_sequences; /* 0: complete */
    int n_past;
    float *logits; /* [n_sequences][n_vocab] */
} st_decoder_step;

steno_status st_decoder_start(st_decoder *decoder, const st_decoder_ops *ops, const st_decode_options *options,
                              const int *initial_tokens, int n_initial, int sot_index, st_error *err);
steno_status st_decoder_next(st_decoder *decoder, st_decoder_step *step, st_error *err);
void st_decoder_finish(st_decoder *decoder, st_decode_result *result);

/* The logit filters, exposed for tests. `sampled` are the tokens sampled so far in this
 * window. Masks entries of logits (n_vocab of them) by setting them to -INFINITY. */
void st_apply_logit_filters(const st_special_tokens *special, const st_decode_options *options, const int *sampled,
                            int n_sampled, float *logits);

/* UTF-8 length of text divided by its zlib-compressed length (openai-whisper's repetition
 * measure; > 2.4 triggers temperature fallback). */
double st_compression_ratio(const char *text, size_t length);

#endif
