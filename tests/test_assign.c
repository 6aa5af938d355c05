/*
 * test_assign.c — speakers on words and segments (src/diarize/assign.h): the overlap and
 * nearest-turn rules, the split of a segment at a speaker change (text, times, tokens, words),
 * and what the writers show for a diarized transcript.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diarize/assign.h"
#include "output/output.h"

/* A [0, 2], B [2, 4], A [6, 7] */
static const st_turn turns[] = {{0, 2, 0}, {2, 4, 1}, {6, 7, 0}};

static void test_speaker_at(void **state) {
    (void)state;
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 0.5, 1.0), 0);
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 2.5, 3.0), 1);
    /* straddling: 0.5 s of A against 0.2 s of B */
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 1.5, 2.2), 0);
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 1.9, 2.6), 1);
    /* no overlap: the nearest turn, 4.5..4.8 is 0.5 from B and 1.2 from the second A */
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 4.5, 4.8), 1);
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 5.5, 5.8), 0);
    /* a word of no length inside a turn, and one after everything */
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 3.0, 3.0), 1);
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 9.0, 9.5), 0);
    /* equally far from B's end (4) and A's start (6): the earlier turn */
    assert_int_equal(st_diarize_speaker_at(turns, 3, 2, 5.0, 5.0), 1);
    assert_int_equal(st_diarize_speaker_at(NULL, 0, 0, 1, 2), -1);
}

/* One segment " one two three four." with tokens [<|0.00|>, one, two, three, four, ., <|3.00|>]
 * (the period merged into "four."), a segment without words over B, and one with all words A. */
static void build(st_transcript *t, bool with_words) {
    st_transcript_init(t);
    t->has_words = with_words;
    st_word words[4] = {{" one", 0.1, 0.5, 0.9, 1},
                        {" two", 0.6, 1.0, 0.9, 1},
                        {" three", 2.1, 2.5, 0.9, 1},
                        {" four.", 2.6, 3.0, 0.9, 2}};
    int tokens[7] = {50364, 1, 2, 3, 4, 13, 50514};
    st_segment a = {.id = 0,
                    .seek = 0,
                    .start = 0.0,
                    .end = 3.0,
                    .text = " one two three four.",
                    .tokens = tokens,
                    .n_tokens = 7,
                    .temperature = 0.2,
                    .avg_logprob = -0.3,
                    .words = words,
                    .n_words = 4,
                    .speaker = -1};
    assert_int_equal(st_transcript_append(t, &a, NULL), STENO_OK);
    int tokens_b[2] = {50514, 50564};
    st_segment b = {.id = 1, .start = 3.0, .end = 3.9, .text = "", .tokens = tokens_b, .n_tokens = 2, .speaker = -1};
    assert_int_equal(st_transcript_append(t, &b, NULL), STENO_OK);
    st_word words_c[1] = {{" five", 6.2, 6.6, 0.8, 1}};
    int tokens_c[3] = {50664, 5, 50714};
    st_segment c = {.id = 2,
                    .start = 6.0,
                    .end = 7.0,
                    .text = " five",
                    .tokens = tokens_c,
                    .n_tokens = 3,
                    .words = words_c,
                    .n_words = 1,
                    .speaker = -1};
    assert_int_equal(st_transcript_append(t, &c, NULL), STENO_OK);
}

static void test_split_at_speaker_change(void **state) {
    (void)state;
    st_transcript t;
    build(&t, true);
    st_error err;
    assert_int_equal(st_diarize_assign(&t, turns, 3, 2, true, &err), STENO_OK);
    assert_int_equal(t.n_segments, 4);
    const st_segment *s = t.segments;
    assert_string_equal(s[0].text, " one two");
    assert_string_equal(s[1].text, " three four.");
    assert_int_equal(s[0].speaker, 0), assert_int_equal(s[1].speaker, 1);
    assert_int_equal(s[2].speaker, 1); /* no words: its span 3.0..3.9 lies in B */
    assert_int_equal(s[3].speaker, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(s[i].id, i);
    /* the first piece keeps the segment's start, the last its end; the cut is at the words */
    assert_true(s[0].start == 0.0 && s[0].end == 1.0);
    assert_true(s[1].start == 2.1 && s[1].end == 3.0);
    /* tokens follow their words; the timestamps stay at the ends */
    assert_int_equal(s[0].n_tokens, 3);
    assert_int_equal(s[0].tokens[0], 50364), assert_int_equal(s[0].tokens[2], 2);
    assert_int_equal(s[1].n_tokens, 4);
    assert_int_equal(s[1].tokens[0], 3), assert_int_equal(s[1].tokens[3], 50514);
    assert_int_equal(s[0].n_words, 2), assert_int_equal(s[1].n_words, 2);
    assert_string_equal(s[1].words[1].text, " four.");
    /* statistics are the parent's; the whole text is unchanged */
    assert_true(s[1].temperature == 0.2 && s[1].avg_logprob == -0.3);
    assert_string_equal(t.text, " one two three four. five");
    assert_true(t.has_words);

    st_strbuf out;
    st_strbuf_init(&out);
    assert_int_equal(st_output_render(ST_OUTPUT_TXT, &t, NULL, &out, &err), STENO_OK);
    assert_string_equal(out.data, "[SPEAKER_00]: one two\n[SPEAKER_01]: three four.\n[SPEAKER_01]: \n"
                                  "[SPEAKER_00]: five\n");
    st_strbuf_clear(&out);
    assert_int_equal(st_output_render(ST_OUTPUT_JSON, &t, NULL, &out, &err), STENO_OK);
    assert_non_null(strstr(out.data, "\"probability\": 0.9, \"speaker\": \"SPEAKER_01\"}"));
    assert_non_null(strstr(out.data, "\"no_speech_prob\": 0.0, \"words\": [{\"word\": \" one\""));
    assert_non_null(strstr(out.data, "\"speaker\": \"SPEAKER_00\"}], \"speaker\": \"SPEAKER_00\"}, {\"id\": 1"));
    st_strbuf_clear(&out);
    assert_int_equal(st_output_render(ST_OUTPUT_SRT, &t, NULL, &out, &err), STENO_OK);
    assert_non_null(strstr(out.data, "1\n00:00:00,100 --> 00:00:01,000\n[SPEAKER_00]: one two\n"));
    st_strbuf_free(&out);
    st_transcript_free(&t);
}

/* Without word timestamps asked for, the words go once they have placed the speakers, and the
 * subtitles are cut by segment with the speaker in front. */
static void test_words_dropped(void **state) {
    (void)state;
    st_transcript t;
    build(&t, true);
    st_error err;
    assert_int_equal(st_diarize_assign(&t, turns, 3, 2, false, &err), STENO_OK);
    assert_false(t.has_words);
    assert_int_equal(t.n_segments, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t.segments[i].n_words, 0);
    st_strbuf out;
    st_strbuf_init(&out);
    assert_int_equal(st_output_render(ST_OUTPUT_VTT, &t, NULL, &out, &err), STENO_OK);
    assert_string_equal(out.data, "WEBVTT\n\n00:00.000 --> 00:01.000\n[SPEAKER_00]: one two\n\n"
                                  "00:02.100 --> 00:03.000\n[SPEAKER_01]: three four.\n\n"
                                  "00:03.000 --> 00:03.900\n[SPEAKER_01]: \n\n"
                                  "00:06.000 --> 00:07.000\n[SPEAKER_00]: five\n\n");
    st_strbuf_free(&out);
    st_transcript_free(&t);
}

/* No turns at all (silence): no speakers, nothing split, no prefixes. */
static void test_no_turns(void **state) {
    (void)state;
    st_transcript t;
    build(&t, true);
    st_error err;
    assert_int_equal(st_diarize_assign(&t, NULL, 0, 0, true, &err), STENO_OK);
    assert_int_equal(t.n_segments, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(t.segments[i].speaker, -1);
    st_strbuf out;
    st_strbuf_init(&out);
    assert_int_equal(st_output_render(ST_OUTPUT_TXT, &t, NULL, &out, &err), STENO_OK);
    assert_string_equal(out.data, "one two three four.\n\nfive\n");
    st_strbuf_free(&out);
    st_transcript_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speaker_at),
        cmocka_unit_test(test_split_at_speaker_change),
        cmocka_unit_test(test_words_dropped),
        cmocka_unit_test(test_no_turns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
