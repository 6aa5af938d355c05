/*
 * decoding.c — one window of Whisper decoding, following openai-whisper's DecodingTask:
 * logit filters, greedy / beam search / sampling, and ranking of the candidates.
 */
#include "whisper/decoding.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nn/kernels.h"
#include "nn/threads.h"

st_decode_options st_decode_default_options(void) {
    return (st_decode_options){
        .temperature = 0.0f,
        .beam_size = 1,
        .best_of = 1,
        .patience = 1.0f,
        .length_penalty = -1.0f,
        .without_timestamps = 0,
        .max_initial_timestamp_index = 50, /* 1.0 s */
        .suppress_blank = 1,
        .suppress_tokens = NULL,
        .n_suppress_tokens = 0,
        .sample_len = 224,
        .seed = 0,
    };
}

/* One hypothesis: the tokens sampled so far, their log-probabilities and their sum. */
typedef struct hypothesis {
    int *tokens;
    float *logprobs;
    int length;
    double sum_logprob;
    int finished;
} hypothesis;

struct st_decoder {
    st_special_tokens special;
    int n_text_ctx, max_sequences, max_length;
    float *logits;        /* [max_sequences][n_vocab] */
    float *log_probs;     /* [max_sequences][n_vocab] scratch */
    float *prompt_logits; /* [2][n_vocab]: at <|startoftranscript|> and at the prompt's end */
    hypothesis *current;  /* [max_sequences] */
    hypothesis *next;     /* [max_sequences] */
    hypothesis *finished; /* [max_finished] */
    int max_finished;
    int *step_tokens, *sources; /* [max_sequences] */
    uint64_t rng;
    /* the run in progress (st_decoder_start .. st_decoder_finish) */
    const st_decoder_ops *ops;
    st_decode_options options;
    int beam, n_sequences, n_finished;
    int finish_after; /* finished candidates that complete a beam search */
    int length;    /* prompt plus tokens chosen */
    int n_sampled; /* token choices made */
    float no_speech_prob;
};

static steno_status hypotheses_alloc(hypothesis *h, int count, int max_length) {
    for (int i = 0; i < count; i++) {
        h[i].tokens = malloc((size_t)max_length * sizeof *h[i].tokens);
        h[i].logprobs = malloc((size_t)max_length * sizeof *h[i].logprobs);
        if (!h[i].tokens || !h[i].logprobs) return STENO_ERR_NO_MEMORY;
    }
    return STENO_OK;
}

static void hypotheses_free(hypothesis *h, int count) {
    if (!h) return;
    for (int i = 0; i < count; i++) {
        free(h[i].tokens);
        free(h[i].logprobs);
    }
    free(h);
}

void st_decoder_free(st_decoder *d) {
    if (!d) return;
    free(d->logits);
    free(d->log_probs);
    free(d->prompt_logits);
    hypotheses_free(d->current, d->max_sequences);
    hypotheses_free(d->next, d->max_sequences);
    hypotheses_free(d->finished, d->max_finished);
    free(d->step_tokens);
    free(d->sources);
    free(d);
}

steno_status st_decoder_create(const st_special_tokens *special, int n_text_ctx, int max_sequences, st_decoder **out,
                               st_error *err) {
    *out = NULL;
    if (special->n_vocab <= special->timestamp_begin || n_text_ctx < 8 || max_sequences < 1 || max_sequences > 64) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "decoder: bad vocabulary size, context or sequence count");
    }
    st_decoder *d = calloc(1, sizeof *d);
    if (!d) return st_error_set(err, STENO_ERR_NO_MEMORY, "decoder: out of memory");
    d->special = *special;
    d->n_text_ctx = n_text_ctx;
    d->max_sequences = max_sequences;
    d->max_length = n_text_ctx + 1;
    d->max_finished = 2 * max_sequences; /* patience up to 2 */
    d->logits = malloc((size_t)max_sequences * (size_t)special->n_vocab * sizeof *d->logits);
    d->log_probs = malloc((size_t)max_sequences * (size_t)special->n_vocab * sizeof *d->log_probs);
    d->prompt_logits = malloc(2 * (size_t)special->n_vocab * sizeof *d->prompt_logits);
    d->current = calloc((size_t)max_sequences, sizeof *d->current);
    d->next = calloc((size_t)max_sequences, sizeof *d->next);
    d->finished = calloc((size_t)d->max_finished, sizeof *d->finished);
    d->step_tokens = malloc((size_t)max_sequences * sizeof *d->step_tokens);
    d->sources = malloc((size_t)max_sequences * sizeof *d->sources);
    if (!d->logits || !d->log_probs || !d->prompt_logits || !d->current || !d->next || !d->finished || !d->step_tokens || !d->sources ||
        hypotheses_alloc(d->current, max_sequences, d->max_length) != STENO_OK ||
        hypotheses_alloc(d->next, max_sequences, d->max_length) != STENO_OK ||
        hypotheses_alloc(d->finished, d->max_finished, d->max_length) != STENO_OK) {
        st_decoder_free(d);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "decoder: out of memory");
    }
    *out = d;
    return STENO_OK;
}

/* ---- numerics ---- */

static void mask_range(float *logits, int begin, int end) {
    for (int i = begin; i < end; i++) logits[i] = -INFINITY;
}

/* max + log(sum of exp((double)value - max)), the terms added in index order: the kernels give
 * that loop's bits (the C library's exp), vectorised. */
static double log_sum_exp(const float *values, int n) {
    const st_nn_kernels *kernels = st_nn_kernels_best();
    float max = kernels->max(values, n);
    if (max == -INFINITY) return -INFINITY;
    return max + log(kernels->exp_sum(values, n, max));
}

/* log_softmax of n logits into out, given the log of their normaliser (log_sum_exp). */
static void log_softmax(const float *logits, int n, double log_norm, float *out) {
    for (int i = 0; i < n; i++) out[i] = (float)(logits[i] - log_norm);
}

/* The log of the normaliser of logits (n_vocab of them) after the filters, when the filters
 * computed it on the way (the timestamp rule), else log_sum_exp of them. The rule's two sums
 * give the same bits as a fresh pass: when it masks all text, the masked entries add exp(-inf)
 * = +0 to a sum that starts at +0, and the maximum is the timestamps' maximum. */
static double filtered_log_norm(double known, const float *logits, int n_vocab) {
    return isnan(known) ? log_sum_exp(logits, n_vocab) : known;
}

/* st_apply_logit_filters, returning the log of the filtered logits' normaliser when the
 * timestamp rule computed it (NAN otherwise). */
static double filter_logits(const st_special_tokens *s, const st_decode_options *o, const int *sampled, int n_sampled,
                            float *logits) {
    if (o->suppress_blank && n_sampled == 0) {
        logits[s->blank] = -INFINITY;
        logits[s->eot] = -INFINITY;
    }
    for (int i = 0; i < o->n_suppress_tokens; i++) {
        int t = o->suppress_tokens[i];
        if (t >= 0 && t < s->n_vocab) logits[t] = -INFINITY;
    }
    if (o->without_timestamps) return NAN;

    const int begin = s->timestamp_begin;
    logits[s->no_timestamps] = -INFINITY;
    /* timestamps come in pairs, except directly before <|endoftext|> */
    int last_was_timestamp = n_sampled >= 1 && sampled[n_sampled - 1] >= begin;
    int penultimate_was_timestamp = n_sampled < 2 || sampled[n_sampled - 2] >= begin;
    if (last_was_timestamp) {
        if (penultimate_was_timestamp) {
            mask_range(logits, begin, s->n_vocab); /* a pair just closed: text or EOT next */
        } else {
            mask_range(logits, 0, s->eot); /* an open pair: a timestamp or EOT next */
        }
    }
    /* timestamps never decrease, and a segment must have non-zero length */
    for (int i = n_sampled - 1; i >= 0; i--) {
        if (sampled[i] < begin) continue;
        int limit = (last_was_timestamp && !penultimate_was_timestamp) ? sampled[i] : sampled[i] + 1;
        mask_range(logits, begin, limit < s->n_vocab ? limit : s->n_vocab);
        break;
    }
    if (n_sampled == 0) {
        mask_range(logits, 0, begin); /* the first sampled token is a timestamp */
        if (o->max_initial_timestamp_index >= 0) {
            int last_allowed = begin + o->max_initial_timestamp_index;
            if (last_allowed + 1 < s->n_vocab) mask_range(logits, last_allowed + 1, s->n_vocab);
        }
    }
    /* if the timestamps together are likelier than any single text token, take a timestamp */
    if (st_nn_kernels_best()->max(logits, s->n_vocab) == -INFINITY) return NAN;
    double log_norm = log_sum_exp(logits, s->n_vocab), timestamps_norm = log_sum_exp(logits + begin, s->n_vocab - begin);
    double timestamp_logprob = timestamps_norm - log_norm;
    float max_text = st_nn_kernels_best()->max(logits, begin);
    if (timestamp_logprob > (double)max_text - log_norm) {
        mask_range(logits, 0, begin);
        return timestamps_norm;
    }
    return log_norm;
}

void st_apply_logit_filters(const st_special_tokens *s, const st_decode_options *o, const int *sampled, int n_sampled,
                            float *logits) {
    (void)filter_logits(s, o, sampled, n_sampled, logits);
}

double st_compression_ratio(const char *text, size_t length) {
    if (length == 0) return 0.0;
    uLongf bound = compressBound((uLong)length);
    Bytef *compressed = malloc(bound);
    if (!compressed) return 0.0;
    /* Python's zlib.compress default level (Z_DEFAULT_COMPRESSION), as openai-whisper uses */
    double ratio = 0.0;
    if (compress2(compressed, &bound, (const Bytef *)text, (uLong)length, Z_DEFAULT_COMPRESSION) == Z_OK) {
        ratio = (double)length / (double)bound;
    }
    free(compressed);
    return ratio;
}

/* ---- token choice ---- */

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (v[i] > v[best]) best = i;
    }
    return best;
}

static double next_uniform(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* Draws from softmax(logits / temperature). */
static int sample(const float *logits, int n, float temperature, float *scratch, uint64_t *rng) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double total = 0;
    for (int i = 0; i < n; i++) {
        scratch[i] = (float)exp(((double)logits[i] - max) / temperature);
        total += scratch[i];
    }
    double u = next_uniform(rng) * total, cumulative = 0;
    int last_possible = 0;
    for (int i = 0; i < n; i++) {
        if (scratch[i] <= 0) continue;
        last_possible = i;
        cumulative += scratch[i];
        if (u < cumulative) return i;
    }
    return last_possible;
}

static void copy_hypothesis(hypothesis *to, const hypothesis *from) {
    memcpy(to->tokens, from->tokens, (size_t)from->length * sizeof *to->tokens);
    memcpy(to->logprobs, from->logprobs, (size_t)from->length * sizeof *to->logprobs);
    to->length = from->length;
    to->sum_logprob = from->sum_logprob;
    to->finished = from->finished;
}

/* Beam-search candidates: (source beam, token, cumulative logprob, token logprob). */
typedef struct candidate {
    int source, token;
    double score;
    float logprob;
} candidate;

/* Partial top-k of one row of log-probabilities, best first (k is small). */
static int top_k(const float *log_probs, int n, int k, int *tokens) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (log_probs[i] == -INFINITY) continue;
        if (count < k) {
            count++;
        } else if (log_probs[i] <= log_probs[tokens[count - 1]]) {
            continue;
        }
        int j = count - 1;
        while (j > 0 && log_probs[tokens[j - 1]] < log_probs[i]) {
            tokens[j] = tokens[j - 1];
            j--;
        }
        tokens[j] = i;
    }
    return count;
}

static int same_tokens(const hypothesis *a, const hypothesis *b) {
    return a->length == b->length && memcmp(a->tokens, b->tokens, (size_t)a->length * sizeof *a->tokens) == 0;
}

enum { MAX_PROPOSALS = 65 };

/* The proposals of the beams of one beam-search step, each beam a task of the thread pool
 * (they touch only their own rows). */
typedef struct beam_proposals {
    st_decoder *d;
    const st_decode_options *o;
    int beam_size;
    int proposes[64];               /* 0 for a beam identical to an earlier one */
    int count[64];                  /* its proposals */
    int tokens[64][MAX_PROPOSALS];  /* best first */
} beam_proposals;

/* Beam j's logits filtered, as log-probabilities (its row of d->log_probs), and its
 * beam_size + 1 best tokens. */
static void propose_task(void *context, int j) {
    beam_proposals *p = context;
    if (!p->proposes[j]) return;
    st_decoder *d = p->d;
    const int n_vocab = d->special.n_vocab;
    float *logits = d->logits + (size_t)j * n_vocab, *log_probs = d->log_probs + (size_t)j * n_vocab;
    double known = filter_logits(&d->special, p->o, d->current[j].tokens, d->current[j].length, logits);
    log_softmax(logits, n_vocab, filtered_log_norm(known, logits, n_vocab), log_probs);
    p->count[j] = top_k(log_probs, n_vocab, p->beam_size + 1, p->tokens[j]);
}

/* One beam-search update, as openai-whisper's BeamSearchDecoder.update (after the logit
 * filters, which it applies): every live beam proposes its beam_size + 1 best continuations;
 * the best beam_size that do not end in EOT become the new beams, and the ones ending in EOT
 * that ranked above them join the finished candidates (up to max_finished). Returns how many
 * candidates are finished. */
static int beam_update(st_decoder *d, const st_decode_options *o, int beam_size, int max_finished, int *n_finished) {
    enum { MAX_CANDIDATES = 64 * MAX_PROPOSALS };
    candidate candidates[MAX_CANDIDATES];
    beam_proposals proposals;
    proposals.d = d;
    proposals.o = o;
    proposals.beam_size = beam_size;
    int n_candidates = 0;
    const int n_vocab = d->special.n_vocab;
    for (int j = 0; j < beam_size; j++) {
        int duplicate = 0; /* beams that are still identical (the first step) propose once */
        for (int k = 0; k < j && !duplicate; k++) duplicate = same_tokens(&d->current[j], &d->current[k]);
        proposals.proposes[j] = !duplicate;
        proposals.count[j] = 0;
    }
    st_nn_parallel_for(beam_size, propose_task, &proposals);
    for (int j = 0; j < beam_size; j++) {
        const float *log_probs = d->log_probs + (size_t)j * n_vocab;
        for (int c = 0; c < proposals.count[j]; c++) {
            const int token = proposals.tokens[j][c];
            candidates[n_candidates++] = (candidate){.source = j, .token = token,
                                                     .score = d->current[j].sum_logprob + log_probs[token],
                                                     .logprob = log_probs[token]};
        }
    }
    /* stable sort by score, best first (ties keep proposal order, as Python's sorted does) */
    for (int i = 1; i < n_candidates; i++) {
        candidate c = candidates[i];
        int j = i;
        while (j > 0 && candidates[j - 1].score < c.score) {
            candidates[j] = candidates[j - 1];
            j--;
        }
        candidates[j] = c;
    }
    int saved = 0;
    for (int i = 0; i < n_candidates && saved < beam_size; i++) {
        const candidate *c = &candidates[i];
        hypothesis *target;
        if (c->token == d->special.eot) {
            if (*n_finished >= max_finished) continue;
            target = &d->finished[(*n_finished)++];
        } else {
            target = &d->next[saved];
            d->sources[saved] = c->source;
            saved++;
        }
        copy_hypothesis(target, &d->current[c->source]);
        target->tokens[target->length] = c->token;
        target->logprobs[target->length] = c->logprob;
        target->length++;
        target->sum_logprob = c->score;
        target->finished = c->token == d->special.eot;
    }
    for (int i = 0; i < saved; i++) {
        hypothesis swap = d->current[i];
        d->current[i] = d->next[i];
        d->next[i] = swap;
        d->step_tokens[i] = d->current[i].tokens[d->current[i].length - 1];
    }
    return saved;
}

static double rank_score(const hypothesis *h, float length_penalty) {
    int length = h->length - (h->length > 0 && h->finished); /* the EOT does not count */
    double penalty = length_penalty < 0 ? (double)length : pow((5.0 + length) / 6.0, length_penalty);
    return penalty > 0 ? h->sum_logprob / penalty : h->sum_logprob;
}

steno_status st_decoder_start(st_decoder *d, const st_decoder_ops *ops, const st_decode_options *o,
                              const int *initial_tokens, int n_initial, int sot_index, st_error *err) {
    const st_special_tokens *s = &d->special;
    const int n_vocab = s->n_vocab;
    int beam = o->temperature == 0.0f && o->beam_size > 1;
    int n_sequences = beam ? o->beam_size : (o->temperature > 0.0f && o->best_of > 1 ? o->best_of : 1);
    int max_finished = beam ? (int)lround(o->beam_size * (o->patience > 0 ? o->patience : 1.0f)) : 0;
    if (n_sequences > d->max_sequences || n_sequences > ops->max_sequences || max_finished > d->max_finished) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "decoder: %d sequences asked, at most %d", n_sequences,
                            d->max_sequences < ops->max_sequences ? d->max_sequences : ops->max_sequences);
    }
    if (n_initial < 1 || n_initial >= d->n_text_ctx || sot_index < 0 || sot_index >= n_initial) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "decoder: prompt of %d tokens does not fit", n_initial);
    }
    d->ops = ops;
    d->options = *o;
    d->beam = beam;
    d->n_sequences = n_sequences;
    d->finish_after = max_finished;
    d->n_finished = 0;
    d->length = n_initial;
    d->n_sampled = 0;
    d->rng = o->seed ^ 0x5eed5eed5eedull;

    /* the prompt, once: logits at <|startoftranscript|> give the no-speech probability */
    int positions[2] = {sot_index, n_initial - 1};
    steno_status status = ops->prefill(ops->context, initial_tokens, n_initial, 0, positions, 2, d->prompt_logits, err);
    if (status != STENO_OK) return status;
    d->no_speech_prob = (float)exp((float)(d->prompt_logits[s->no_speech] - log_sum_exp(d->prompt_logits, n_vocab)));

    /* every sequence starts from the prompt */
    for (int i = 0; i < n_sequences; i++) {
        d->sources[i] = 0;
        d->current[i].length = 0;
        d->current[i].sum_logprob = 0;
        d->current[i].finished = 0;
        memcpy(d->logits + (size_t)i * n_vocab, d->prompt_logits + n_vocab, (size_t)n_vocab * sizeof *d->logits);
    }
    if (n_sequences > 1 && (status = ops->reorder(ops->context, d->sources, n_sequences, err)) != STENO_OK) {
        return status;
    }
    return STENO_OK;
}

steno_status st_decoder_next(st_decoder *d, st_decoder_step *step, st_error *err) {
    const st_special_tokens *s = &d->special;
    const st_decode_options *o = &d->options;
    const int n_vocab = s->n_vocab;
    step->n_sequences = 0;
    if (d->n_sampled >= o->sample_len) return STENO_OK;
    int completed;
    if (d->beam) {
        beam_update(d, o, d->n_sequences, d->finish_after, &d->n_finished);
        completed = d->n_finished >= d->finish_after;
        if (!completed) {
            steno_status status = d->ops->reorder(d->ops->context, d->sources, d->n_sequences, err);
            if (status != STENO_OK) return status;
        }
    } else {
        completed = 1;
        for (int j = 0; j < d->n_sequences; j++) {
            hypothesis *h = &d->current[j];
            float *logits = d->logits + (size_t)j * n_vocab;
            int token = s->eot;
            if (!h->finished) {
                double known = filter_logits(s, o, h->tokens, h->length, logits);
                token = o->temperature == 0.0f ? argmax(logits, n_vocab)
                                               : sample(logits, n_vocab, o->temperature, d->log_probs, &d->rng);
                /* log_softmax's value at the token alone */
                const float logprob = (float)(logits[token] - filtered_log_norm(known, logits, n_vocab));
                h->tokens[h->length] = token;
                h->logprobs[h->length] = logprob;
                h->length++;
                h->sum_logprob += logprob;
                h->finished = token == s->eot;
            }
            d->step_tokens[j] = token;
            completed &= h->finished;
        }
    }
    d->length++;
    d->n_sampled++;
    if (completed || d->length > d->n_text_ctx || d->n_sampled == o->sample_len) return STENO_OK;
    *step = (st_decoder_step){
        .tokens = d->step_tokens, .n_sequences = d->n_sequences, .n_past = d->length - 1, .logits = d->logits};
    return STENO_OK;
}

void st_decoder_finish(st_decoder *d, st_decode_result *result) {
    const st_special_tokens *s = &d->special;
    const int n_sequences = d->n_sequences;
    /* candidates: beam search's finished list, topped up with live beams; or every sample */
    hypothesis *pool;
    int n_pool;
    if (d->beam) {
        /* live beams by score, as openai-whisper's finalize, until beam_size candidates */
        for (int k = 0; d->n_finished < n_sequences && k < n_sequences; k++) {
            int best = -1;
            for (int j = 0; j < n_sequences; j++) {
                if (d->current[j].finished) continue;
                if (best < 0 || d->current[j].sum_logprob > d->current[best].sum_logprob) best = j;
            }
            if (best < 0) break;
            d->current[best].finished = 1; /* taken; its EOT is implied, not scored */
            copy_hypothesis(&d->finished[d->n_finished], &d->current[best]);
            d->finished[d->n_finished].finished = 0;
            d->n_finished++;
        }
        pool = d->finished;
        n_pool = d->n_finished;
    } else {
        pool = d->current;
        n_pool = n_sequences;
    }
    int best = 0;
    for (int i = 1; i < n_pool; i++) {
        if (rank_score(&pool[i], d->options.length_penalty) > rank_score(&pool[best], d->options.length_penalty)) {
            best = i;
        }
    }
    hypothesis *h = &pool[best];
    int n_tokens = h->length;
    if (n_tokens > 0 && h->tokens[n_tokens - 1] == s->eot) n_tokens--;
    result->tokens = h->tokens;
    result->token_logprobs = h->logprobs;
    result->n_tokens = n_tokens;
    result->sum_logprob = h->sum_logprob;
    result->avg_logprob = h->sum_logprob / (n_tokens + 1);
    result->no_speech_prob = d->no_speech_prob;
    result->temperature = d->options.temperature;
}

steno_status st_decoder_run(st_decoder *d, const st_decoder_ops *ops, const st_decode_options *o,
                            const int *initial_tokens, int n_initial, int sot_index, st_decode_result *result,
                            st_error *err) {
    steno_status status = st_decoder_start(d, ops, o, initial_tokens, n_initial, sot_index, err);
    st_decoder_step step;
    while (status == STENO_OK && (status = st_decoder_next(d, &step, err)) == STENO_OK && step.n_sequences > 0)
        status = ops->step(ops->context, step.tokens, step.n_sequences, step.n_past, step.logits, err);
    if (status != STENO_OK) return status;
    st_decoder_finish(d, result);
    return STENO_OK;
}
