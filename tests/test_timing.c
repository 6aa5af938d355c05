/*
 * test_timing.c — the pure steps of word-level timestamps (whisper/timing.h) on small inputs
 * worked out by hand from openai-whisper's timing.py: DTW paths and its tie rules, the median
 * filter with reflect padding, punctuation merging, the duration clamps, rounding, the
 * anomaly score of hallucination_silence_threshold, and the choice of alignment heads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "whisper/alignment_heads.h"
#include "whisper/timing.h"

static void expect_path(const double *x, int n, int m, const int *text, const int *time, int length) {
    int got_text[16], got_time[16], got_length = -1;
    assert_int_equal(st_timing_dtw(x, n, m, got_text, got_time, &got_length, NULL), STENO_OK);
    assert_int_equal(got_length, length);
    for (int i = 0; i < length; i++) {
        assert_int_equal(got_text[i], text[i]);
        assert_int_equal(got_time[i], time[i]);
    }
}

static void dtw_follows_the_cheap_diagonal(void **unused) {
    (void)unused;
    const double x[] = {0, 5, 5, 5, 0, 5, 5, 5, 0};
    expect_path(x, 3, 3, (int[]){0, 1, 2}, (int[]){0, 1, 2}, 3);
}

static void dtw_stays_on_a_cheap_row(void **unused) {
    (void)unused;
    /* row 0 is cheap up to frame 2, row 1 from frame 3: the path waits on row 0 */
    const double x[] = {0, 0, 0, 9, 9, 9, 9, 9, 9, 0};
    expect_path(x, 2, 5, (int[]){0, 0, 0, 1, 1}, (int[]){0, 1, 2, 3, 4}, 5);
}

static void dtw_ties_go_left(void **unused) {
    (void)unused;
    /* all costs equal: every cell ties, and openai's rule (diagonal only if strictly smaller,
     * then up only if strictly smaller, else left) walks (0,0) (1,0) (1,1) (1,2) */
    const double x[] = {0, 0, 0, 0, 0, 0};
    expect_path(x, 2, 3, (int[]){0, 1, 1, 1}, (int[]){0, 0, 1, 2}, 4);
}

static void dtw_refuses_an_empty_matrix(void **unused) {
    (void)unused;
    int a[2], b[2], length;
    st_error err;
    assert_int_equal(st_timing_dtw(NULL, 0, 3, a, b, &length, &err), STENO_ERR_INVALID_ARGUMENT);
}

static void median_filter_reflects_at_the_edges(void **unused) {
    (void)unused;
    float scratch[64];
    /* width 3: padded 5 | 1 5 2 8 3 | 8 */
    float x[] = {1, 5, 2, 8, 3};
    st_timing_median_filter(x, 1, 5, 3, scratch);
    const float width3[] = {5, 2, 5, 3, 8};
    assert_memory_equal(x, width3, sizeof x);
    /* width 7: padded 8 2 5 | 1 5 2 8 3 | 8 2 5 */
    float y[] = {1, 5, 2, 8, 3};
    st_timing_median_filter(y, 1, 5, 7, scratch);
    const float width7[] = {5, 3, 5, 3, 5};
    assert_memory_equal(y, width7, sizeof y);
    /* a row no longer than half the width is left alone; rows are filtered independently */
    float z[] = {3, 1, 2, 9, 7, 8};
    st_timing_median_filter(z, 2, 3, 7, scratch);
    const float unchanged[] = {3, 1, 2, 9, 7, 8};
    assert_memory_equal(z, unchanged, sizeof z);
    float rows[] = {1, 5, 2, 8, 3, 1, 5, 2, 8, 3};
    st_timing_median_filter(rows, 2, 5, 3, scratch);
    assert_memory_equal(rows, width3, sizeof width3);
    assert_memory_equal(rows + 5, width3, sizeof width3);
}

static st_word_timing *make_words(const char *const *texts, int n) {
    st_word_timing *w = calloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++) {
        w[i].word = strdup(texts[i]);
        w[i].n_tokens = 1;
    }
    return w;
}

static void punctuation_merges_into_neighbours(void **unused) {
    (void)unused;
    const char *texts[] = {" (", "yes", ")", " said", " he", "."};
    st_word_timing *w = make_words(texts, 6);
    assert_int_equal(st_timing_merge_punctuations(w, 6, ST_PREPEND_PUNCTUATIONS, ST_APPEND_PUNCTUATIONS, NULL),
                     STENO_OK);
    const char *merged[] = {"", " (yes)", "", " said", " he.", ""};
    const int tokens[] = {0, 3, 0, 1, 2, 0};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(w[i].word, merged[i]);
        assert_int_equal(w[i].n_tokens, tokens[i]);
    }
    st_word_timings_free(w, 6);
}

static void punctuation_rules_keep_spaces_and_wide_marks(void **unused) {
    (void)unused;
    /* " -" prepends (it is " " + "-"), but "-" without its space does not; a word ending in a
     * space takes nothing; the full-width comma and ideographic full stop append */
    const char *texts[] = {" -", " well", "-", "known ", ",", "\xe5\xa5\xbd", "\xef\xbc\x8c", "\xe3\x80\x82"};
    st_word_timing *w = make_words(texts, 8);
    assert_int_equal(st_timing_merge_punctuations(w, 8, ST_PREPEND_PUNCTUATIONS, ST_APPEND_PUNCTUATIONS, NULL),
                     STENO_OK);
    const char *merged[] = {"", " - well", "-", "known ", ",", "\xe5\xa5\xbd\xef\xbc\x8c\xe3\x80\x82", "", ""};
    for (int i = 0; i < 8; i++)
        assert_string_equal(w[i].word, merged[i]);
    st_word_timings_free(w, 8);
}

static void median_duration_ignores_zero_and_caps(void **unused) {
    (void)unused;
    st_word_timing w[4] = {
        {.start = 0, .end = 0.2}, {.start = 1, .end = 1}, {.start = 1, .end = 1.4}, {.start = 2, .end = 2.6}};
    assert_float_equal(st_timing_median_duration(w, 4), 0.4, 1e-12);
    assert_float_equal(st_timing_median_duration(w, 3), 0.3, 1e-12); /* even count: mean of the middle two */
    st_word_timing slow[2] = {{.start = 0, .end = 1}, {.start = 1, .end = 3}};
    assert_float_equal(st_timing_median_duration(slow, 2), 0.7, 1e-12);
    assert_float_equal(st_timing_median_duration(w + 1, 1), 0.0, 0.0);
}

static void long_words_at_sentence_ends_are_clamped(void **unused) {
    (void)unused;
    const char *texts[] = {" Hi", ".", " Next", " word", " long"};
    st_word_timing *w = make_words(texts, 5);
    const double times[][2] = {{0, 0.2}, {0.2, 2.0}, {2.0, 4.0}, {4.0, 4.3}, {4.3, 6.0}};
    for (int i = 0; i < 5; i++)
        w[i].start = times[i][0], w[i].end = times[i][1];
    st_timing_clamp_sentence_words(w, 5, 0.4);
    assert_float_equal(w[1].end, 0.6, 1e-12);   /* "." itself: cut after max_duration */
    assert_float_equal(w[2].start, 3.6, 1e-12); /* after ".": starts max_duration before its end */
    assert_float_equal(w[4].start, 4.3, 0.0);   /* long, but not at a sentence boundary */
    assert_float_equal(w[4].end, 6.0, 0.0);
    st_word_timings_free(w, 5);
}

static void round2_matches_python(void **unused) {
    (void)unused;
    /* Python: round(0.125, 2) == 0.12, round(0.375, 2) == 0.38, round(2.675, 2) == 2.67,
     * round(1.005, 2) == 1.0 (the binary values of the last two lie below the tie) */
    assert_true(st_timing_round2(0.125) == 0.12);
    assert_true(st_timing_round2(0.375) == 0.38);
    assert_true(st_timing_round2(2.675) == 2.67);
    assert_true(st_timing_round2(1.005) == 1.0);
    assert_true(st_timing_round2(0.1 + 0.2) == 0.3);
}

static void anomalous_segments_are_recognised(void **unused) {
    (void)unused;
    st_word good[3] = {{" one", 0.0, 0.4, 0.9, 1}, {" two", 0.4, 0.8, 0.95, 1}, {".", 0.8, 0.8, 0.01, 1}};
    st_segment segment = {.words = good, .n_words = 3};
    assert_false(st_timing_is_segment_anomaly(&segment)); /* "." is punctuation and does not count */
    st_word bad[2] = {{" uh", 0.0, 0.05, 0.1, 1}, {" hm", 0.05, 0.1, 0.9, 1}};
    /* scores: 1 + 15 * 0.083 = 2.245, and 15 * 0.083 = 1.245: 3.49 >= 3 */
    segment = (st_segment){.words = bad, .n_words = 2};
    assert_true(st_timing_is_segment_anomaly(&segment));
    st_word one[1] = {{" long", 0.0, 3.5, 0.9, 1}}; /* 1.5 points for one word */
    segment = (st_segment){.words = one, .n_words = 1};
    assert_true(st_timing_is_segment_anomaly(&segment));
    assert_false(st_timing_is_segment_anomaly(NULL));
}

static void heads_for(const st_whisper_dims *d, const int *config, int n_config, const char *hint,
                      st_alignment_heads *out) {
    st_error err;
    assert_int_equal(st_alignment_heads_choose(d, config, n_config, hint, out, &err), STENO_OK);
}

static void alignment_heads_are_chosen_by_shape_config_and_name(void **unused) {
    (void)unused;
    st_alignment_heads h;
    st_whisper_dims base_en = {.n_mels = 80, .n_vocab = 51864, .n_text_head = 8, .n_text_layer = 6};
    heads_for(&base_en, NULL, 0, "/models/ggml-base.en.bin", &h);
    assert_string_equal(h.origin, "base.en");
    const int base_en_pairs[] = {3, 3, 4, 7, 5, 1, 5, 5, 5, 7}; /* whisper.cpp's g_aheads_base_en */
    assert_int_equal(h.n, 5);
    assert_memory_equal(h.pairs, base_en_pairs, sizeof base_en_pairs);
    st_alignment_heads_free(&h);

    st_whisper_dims large = {.n_mels = 80, .n_vocab = 51865, .n_text_head = 20, .n_text_layer = 32};
    heads_for(&large, NULL, 0, NULL, &h);
    assert_string_equal(h.origin, "large-v2");
    assert_int_equal(h.n, 23);
    st_alignment_heads_free(&h);
    heads_for(&large, NULL, 0, "models/ggml-large-v1.bin", &h);
    assert_string_equal(h.origin, "large-v1");
    assert_int_equal(h.n, 9);
    st_alignment_heads_free(&h);

    /* the file's own config wins */
    const int config[] = {31, 0, 30, 19};
    heads_for(&large, config, 2, "ggml-large-v1.bin", &h);
    assert_string_equal(h.origin, "config");
    assert_memory_equal(h.pairs, config, sizeof config);
    st_alignment_heads_free(&h);
    const int outside[] = {32, 0};
    st_error err;
    assert_int_equal(st_alignment_heads_choose(&large, outside, 1, NULL, &h, &err), STENO_ERR_INVALID_ARGUMENT);

    /* an unknown shape (distil-large-v3: two decoder layers): every head of layer 1 */
    st_whisper_dims distil = {.n_mels = 128, .n_vocab = 51866, .n_text_head = 20, .n_text_layer = 2};
    heads_for(&distil, NULL, 0, NULL, &h);
    assert_string_equal(h.origin, "fallback");
    assert_int_equal(h.n, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(h.pairs[2 * i], 1);
        assert_int_equal(h.pairs[2 * i + 1], i);
    }
    st_alignment_heads_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dtw_follows_the_cheap_diagonal),
        cmocka_unit_test(dtw_stays_on_a_cheap_row),
        cmocka_unit_test(dtw_ties_go_left),
        cmocka_unit_test(dtw_refuses_an_empty_matrix),
        cmocka_unit_test(median_filter_reflects_at_the_edges),
        cmocka_unit_test(punctuation_merges_into_neighbours),
        cmocka_unit_test(punctuation_rules_keep_spaces_and_wide_marks),
        cmocka_unit_test(median_duration_ignores_zero_and_caps),
        cmocka_unit_test(long_words_at_sentence_ends_are_clamped),
        cmocka_unit_test(round2_matches_python),
        cmocka_unit_test(anomalous_segments_are_recognised),
        cmocka_unit_test(alignment_heads_are_chosen_by_shape_config_and_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
