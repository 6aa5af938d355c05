/*
 * test_decoding.c — one-window decoding against a scripted model.
 *
 * The "network" here is a table of next-token distributions keyed by the tokens sampled so
 * far, with per-sequence histories that prefill/step/reorder maintain the way a KV cache is
 * maintained. That makes greedy, beam search and the timestamp rules checkable by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "whisper/decoding.h"

enum { VOCAB = 16, EOT = 5, SOT = 6, PREV = 7, NOSPEECH = 8, NOTS = 9, TS = 10, A = 0, B = 1, C = 2, D = 3 };

static const st_special_tokens special = {
    .n_vocab = VOCAB, .eot = EOT, .sot = SOT, .sot_prev = PREV, .no_speech = NOSPEECH, .no_timestamps = NOTS,
    .timestamp_begin = TS, .blank = 4};

typedef struct scripted {
    int history[8][64]; /* tokens after the prompt, per sequence */
    int length[8];
    int prefills, steps;
} scripted;

/* Next-token probabilities as a function of the sampled history (prompt excluded). */
static void distribution(const int *history, int length, float *logits) {
    float p[VOCAB];
    for (int i = 0; i < VOCAB; i++) p[i] = 0.001f;
    if (length == 0) {
        p[A] = 0.5f; /* greedy takes A... */
        p[B] = 0.4f; /* ...but B then EOT is likelier overall */
        p[NOSPEECH] = 0.05f;
    } else if (history[0] == A && length == 1) {
        p[B] = 0.2f, p[C] = 0.2f, p[D] = 0.2f, p[A] = 0.19f, p[EOT] = 0.19f;
    } else if (history[0] == B && length == 1) {
        p[EOT] = 0.9f;
    } else {
        p[EOT] = 0.9f;
    }
    for (int i = 0; i < VOCAB; i++) logits[i] = logf(p[i]);
}

/* log-probability the scripted model gives `token` after `history` */
static double logp(const int *history, int length, int token) {
    float logits[VOCAB];
    distribution(history, length, logits);
    double total = 0;
    for (int i = 0; i < VOCAB; i++) total += exp(logits[i]);
    return logits[token] - log(total);
}

static steno_status prefill(void *context, const int *tokens, int n_tokens, int n_past, const int *positions,
                            int n_positions, float *logits, st_error *err) {
    (void)tokens, (void)n_tokens, (void)n_past, (void)err;
    scripted *s = context;
    s->prefills++;
    s->length[0] = 0;
    for (int i = 0; i < n_positions; i++) distribution(s->history[0], 0, logits + i * VOCAB);
    (void)positions;
    return STENO_OK;
}

static steno_status reorder(void *context, const int *sources, int n, st_error *err) {
    (void)err;
    scripted *s = context;
    int copy[8][64], lengths[8];
    memcpy(copy, s->history, sizeof copy);
    memcpy(lengths, s->length, sizeof lengths);
    for (int i = 0; i < n; i++) {
        memcpy(s->history[i], copy[sources[i]], sizeof copy[0]);
        s->length[i] = lengths[sources[i]];
    }
    return STENO_OK;
}

static steno_status step(void *context, const int *tokens, int n, int n_past, float *logits, st_error *err) {
    (void)n_past, (void)err;
    scripted *s = context;
    s->steps++;
    for (int i = 0; i < n; i++) {
        s->history[i][s->length[i]++] = tokens[i];
        distribution(s->history[i], s->length[i], logits + i * VOCAB);
    }
    return STENO_OK;
}

static st_decoder_ops ops_for(scripted *s) {
    memset(s, 0, sizeof *s);
    return (st_decoder_ops){.context = s, .prefill = prefill, .reorder = reorder, .step = step,
                            .max_sequences = 8, .n_text_ctx = 448};
}

static st_decode_options plain_options(void) {
    st_decode_options o = st_decode_default_options();
    o.without_timestamps = 1;
    o.suppress_blank = 0;
    return o;
}

static void greedy_takes_the_locally_best_token(void **state) {
    (void)state;
    scripted s;
    st_decoder_ops ops = ops_for(&s);
    st_decoder *d;
    st_error err;
    assert_int_equal(st_decoder_create(&special, 448, 8, &d, &err), STENO_OK);
    st_decode_options o = plain_options();
    int prompt[] = {SOT, NOTS};
    st_decode_result r;
    assert_int_equal(st_decoder_run(d, &ops, &o, prompt, 2, 0, &r, &err), STENO_OK);
    assert_int_equal(r.n_tokens, 2);
    assert_int_equal(r.tokens[0], A);
    assert_int_equal(r.tokens[1], B); /* first of the tied 0.2s */
    /* sum includes the EOT: log .5 + log .2 + log .9 */
    int h[] = {A, B};
    assert_true(fabs(r.sum_logprob - (logp(h, 0, A) + logp(h, 1, B) + logp(h, 2, EOT))) < 1e-5);
    assert_true(fabs(r.avg_logprob - r.sum_logprob / 3) < 1e-9);
    assert_true(fabs(r.no_speech_prob - exp(logp(h, 0, NOSPEECH))) < 1e-6);
    assert_int_equal(s.prefills, 1);
    st_decoder_free(d);
}

static void beam_search_finds_the_likelier_sequence(void **state) {
    (void)state;
    scripted s;
    st_decoder_ops ops = ops_for(&s);
    st_decoder *d;
    st_error err;
    assert_int_equal(st_decoder_create(&special, 448, 8, &d, &err), STENO_OK);
    st_decode_options o = plain_options();
    o.beam_size = 2;
    int prompt[] = {SOT, NOTS};
    st_decode_result r;
    assert_int_equal(st_decoder_run(d, &ops, &o, prompt, 2, 0, &r, &err), STENO_OK);
    /* [B, EOT]: (log .4 + log .9) / 1 beats [A, x, EOT]: about (log .5 + log .2 + log .9) / 2 */
    assert_int_equal(r.n_tokens, 1);
    assert_int_equal(r.tokens[0], B);
    int h[] = {B};
    assert_true(fabs(r.sum_logprob - (logp(h, 0, B) + logp(h, 1, EOT))) < 1e-5);
    st_decoder_free(d);
}

static void sample_len_bounds_the_output(void **state) {
    (void)state;
    scripted s;
    st_decoder_ops ops = ops_for(&s);
    st_decoder *d;
    st_error err;
    assert_int_equal(st_decoder_create(&special, 448, 8, &d, &err), STENO_OK);
    st_decode_options o = plain_options();
    o.sample_len = 1;
    int prompt[] = {SOT, NOTS};
    st_decode_result r;
    assert_int_equal(st_decoder_run(d, &ops, &o, prompt, 2, 0, &r, &err), STENO_OK);
    assert_int_equal(r.n_tokens, 1);
    assert_int_equal(s.steps, 0); /* no forward pass after the last allowed token */
    st_decoder_free(d);
}

static void sampling_is_seeded_and_best_of_ranks(void **state) {
    (void)state;
    scripted s;
    st_decoder_ops ops = ops_for(&s);
    st_decoder *d;
    st_error err;
    assert_int_equal(st_decoder_create(&special, 448, 8, &d, &err), STENO_OK);
    st_decode_options o = plain_options();
    o.temperature = 1.0f;
    o.best_of = 5;
    o.seed = 42;
    int prompt[] = {SOT, NOTS};
    st_decode_result r1, r2;
    assert_int_equal(st_decoder_run(d, &ops, &o, prompt, 2, 0, &r1, &err), STENO_OK);
    int first[8], n_first = r1.n_tokens;
    memcpy(first, r1.tokens, (size_t)n_first * sizeof *first);
    assert_int_equal(st_decoder_run(d, &ops, &o, prompt, 2, 0, &r2, &err), STENO_OK);
    assert_int_equal(r2.n_tokens, n_first);
    assert_memory_equal(r2.tokens, first, (size_t)n_first * sizeof *first);
    assert_true(r1.temperature == 1.0f);
    st_decoder_free(d);
}

/* ---- timestamp rules by hand ---- */

static void fill(float *logits, float v) {
    for (int i = 0; i < VOCAB; i++) logits[i] = v;
}

static void timestamp_rules(void **state) {
    (void)state;
    st_decode_options o = st_decode_default_options();
    o.suppress_blank = 0;
    o.max_initial_timestamp_index = 2;
    float logits[VOCAB];

    /* first token: only timestamps up to the initial limit; never <|notimestamps|> */
    fill(logits, 0);
    st_apply_logit_filters(&special, &o, NULL, 0, logits);
    for (int i = 0; i < TS; i++) assert_true(logits[i] == -INFINITY);
    assert_true(logits[TS] == 0 && logits[TS + 2] == 0);
    assert_true(logits[TS + 3] == -INFINITY);

    /* after <ts> text: anything but earlier timestamps */
    int after_text[] = {TS + 1, A};
    fill(logits, 0);
    logits[A] = 5; /* make text likelier than all timestamps together */
    st_apply_logit_filters(&special, &o, after_text, 2, logits);
    assert_true(logits[A] == 5 && logits[EOT] == 0);
    assert_true(logits[TS] == -INFINITY && logits[TS + 1] == -INFINITY && logits[TS + 2] == 0);
    assert_true(logits[NOTS] == -INFINITY);

    /* after text <ts>: a timestamp (not earlier) or EOT, no text */
    int open_pair[] = {TS, A, TS + 2};
    fill(logits, 0);
    logits[EOT] = 5; /* EOT counts as text for the "timestamps likelier" rule: keep it likelier */
    st_apply_logit_filters(&special, &o, open_pair, 3, logits);
    for (int i = 0; i < EOT; i++) assert_true(logits[i] == -INFINITY);
    assert_true(logits[EOT] == 5);
    assert_true(logits[TS + 1] == -INFINITY && logits[TS + 2] == 0 && logits[TS + 3] == 0);

    /* after <ts><ts>: text or EOT */
    int closed_pair[] = {TS, A, TS + 2, TS + 2};
    fill(logits, 0);
    logits[B] = 3;
    st_apply_logit_filters(&special, &o, closed_pair, 4, logits);
    for (int i = TS; i < VOCAB; i++) assert_true(logits[i] == -INFINITY);
    assert_true(logits[B] == 3);

    /* timestamps likelier in total than the best text token: text is masked */
    int text[] = {TS, A};
    fill(logits, -1);
    logits[B] = 0.5f; /* 6 timestamps at -1 sum to log(6) - 1 = 0.79 > 0.5 */
    st_apply_logit_filters(&special, &o, text, 2, logits);
    assert_true(logits[B] == -INFINITY);

    /* suppress blank at the start; suppress list always */
    st_decode_options p = st_decode_default_options();
    p.without_timestamps = 1;
    int suppressed[] = {C, 99 /* out of range: ignored */};
    p.suppress_tokens = suppressed;
    p.n_suppress_tokens = 2;
    fill(logits, 0);
    st_apply_logit_filters(&special, &p, NULL, 0, logits);
    assert_true(logits[4] == -INFINITY && logits[EOT] == -INFINITY && logits[C] == -INFINITY);
    assert_true(logits[A] == 0);
    fill(logits, 0);
    st_apply_logit_filters(&special, &p, suppressed, 1, logits);
    assert_true(logits[4] == 0 && logits[EOT] == 0 && logits[C] == -INFINITY);
}

static void compression_ratio_flags_repetition(void **state) {
    (void)state;
    const char *normal = "And so my fellow Americans, ask not what your country can do for you.";
    char repeated[2000] = "";
    for (int i = 0; i < 40; i++) strcat(repeated, "thank you. ");
    assert_true(st_compression_ratio(normal, strlen(normal)) < 2.4);
    assert_true(st_compression_ratio(repeated, strlen(repeated)) > 2.4);
    assert_true(st_compression_ratio("", 0) == 0.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greedy_takes_the_locally_best_token),
        cmocka_unit_test(beam_search_finds_the_likelier_sequence),
        cmocka_unit_test(sample_len_bounds_the_output),
        cmocka_unit_test(sampling_is_seeded_and_best_of_ranks),
        cmocka_unit_test(timestamp_rules),
        cmocka_unit_test(compression_ratio_flags_repetition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
