/*
 * test_words_golden.c — steno's word timing against the reference of openai-whisper's
 * timing.py (scripts/reference_words.py on the PyTorch reference network, run by the
 * reference_words fixture): base.en on the JFK clip, the same text tokens and log-mel on both
 * sides, one segment spanning the audio. Every word's text must match, its start and end
 * within one DTW step (20 ms) and its probability within 1e-3, and the segment bounds too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/linear.h"
#include "models/ggml.h"
#include "nn/threads.h"
#include "test_support.h"
#include "whisper/alignment_heads.h"
#include "whisper/model.h"
#include "whisper/timing.h"
#include "whisper/tokenizer.h"

#define TIME_TOLERANCE (0.02 + 1e-9)
#define PROBABILITY_TOLERANCE 1e-3

static char *read_reference(const char *name, size_t *size) {
    char path[4096];
    if (!st_test_path(path, sizeof path, "STENO_REFERENCE_DIR", name)) {
        fprintf(stderr, "SKIP: STENO_REFERENCE_DIR is not set (run through ctest)\n");
        exit(ST_TEST_SKIP);
    }
    char *data = st_test_read_file(path, size);
    if (!data) {
        fprintf(stderr, "SKIP: %s is missing (the reference_words fixture was skipped)\n", path);
        exit(ST_TEST_SKIP);
    }
    return data;
}

static void words_match_the_reference(void **unused) {
    (void)unused;
    const char *model_path = st_test_model("ggml-base.en.bin");
    size_t json_size, mel_size;
    char *json_text = read_reference("words.json", &json_size);
    float *mel = (float *)read_reference("words-mel.f32", &mel_size);
    json_error_t json_error;
    json_t *reference = json_loadb(json_text, json_size, 0, &json_error);
    assert_non_null(reference);

    st_nn_set_threads(2);
    st_error err;
    st_model source;
    st_whisper_model model;
    st_whisper_state state;
    st_tokenizer *tokenizer;
    assert_int_equal(st_ggml_load(model_path, &source, &err), STENO_OK);
    assert_int_equal(mel_size, (size_t)source.dims.n_mels * 2 * source.dims.n_audio_ctx * sizeof(float));
    assert_int_equal(st_whisper_model_init(&model, &source, &err), STENO_OK);
    assert_int_equal(st_whisper_state_init(&state, &model, 1, &err), STENO_OK);
    assert_int_equal(st_tokenizer_create(source.vocab, source.n_vocab_entries, source.dims.n_vocab, &tokenizer, &err),
                     STENO_OK);
    assert_int_equal(st_whisper_encode(&model, &state, mel, &err), STENO_OK);

    st_alignment_heads heads;
    assert_int_equal(st_alignment_heads_choose(&source.dims, NULL, 0, model_path, &heads, &err), STENO_OK);
    assert_string_equal(heads.origin, "base.en");
    st_word_aligner *aligner;
    assert_int_equal(st_word_aligner_create(heads.pairs, heads.n, &aligner, &err), STENO_OK);

    json_t *tokens_json = json_object_get(reference, "tokens");
    int n_tokens = (int)json_array_size(tokens_json);
    assert_true(n_tokens > 0);
    int32_t *tokens = malloc((size_t)n_tokens * sizeof *tokens);
    for (int i = 0; i < n_tokens; i++)
        tokens[i] = (int32_t)json_integer_value(json_array_get(tokens_json, i));
    int32_t sot = st_tokenizer_sot(tokenizer);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(reference, "sot_sequence"), 0)), sot);
    const int num_frames = (int)json_integer_value(json_object_get(reference, "num_frames"));

    st_segment segment = {
        .start = 0.0, .end = num_frames / 100.0, .text = "", .tokens = tokens, .n_tokens = n_tokens, .speaker = -1};
    const st_word_window window = {.sot_sequence = &sot,
                                   .n_sot = 1,
                                   .language = "en",
                                   .time_offset = 0.0,
                                   .num_frames = num_frames,
                                   .prepend_punctuations = ST_PREPEND_PUNCTUATIONS,
                                   .append_punctuations = ST_APPEND_PUNCTUATIONS};
    double last_speech = 0.0;
    assert_int_equal(st_word_aligner_add(aligner, &model, &state, tokenizer, &window, &segment, 1, &last_speech, &err),
                     STENO_OK);

    json_t *words = json_object_get(reference, "words");
    printf("  %-14s %15s %15s %21s\n", "word", "start ours/ref", "end ours/ref", "probability ours/ref");
    assert_int_equal(segment.n_words, (int)json_array_size(words));
    for (int i = 0; i < segment.n_words; i++) {
        json_t *w = json_array_get(words, i);
        const st_word *ours = &segment.words[i];
        double start = json_real_value(json_object_get(w, "start")), end = json_real_value(json_object_get(w, "end"));
        double probability = json_real_value(json_object_get(w, "probability"));
        printf("  %-14s %6.2f / %6.2f %6.2f / %6.2f %9.6f / %9.6f\n", ours->text, ours->start, start, ours->end, end,
               ours->probability, probability);
        assert_string_equal(ours->text, json_string_value(json_object_get(w, "word")));
        assert_true(fabs(ours->start - start) <= TIME_TOLERANCE);
        assert_true(fabs(ours->end - end) <= TIME_TOLERANCE);
        assert_true(fabs(ours->probability - probability) <= PROBABILITY_TOLERANCE);
    }
    json_t *reference_segment = json_object_get(reference, "segment");
    printf("  segment %.2f-%.2f, reference %.2f-%.2f\n", segment.start, segment.end,
           json_real_value(json_object_get(reference_segment, "start")),
           json_real_value(json_object_get(reference_segment, "end")));
    assert_true(fabs(segment.start - json_real_value(json_object_get(reference_segment, "start"))) <= TIME_TOLERANCE);
    assert_true(fabs(segment.end - json_real_value(json_object_get(reference_segment, "end"))) <= TIME_TOLERANCE);
    assert_true(last_speech == segment.end);

    for (int i = 0; i < segment.n_words; i++)
        free(segment.words[i].text);
    free(segment.words);
    free(tokens);
    st_word_aligner_free(aligner);
    st_alignment_heads_free(&heads);
    st_tokenizer_free(tokenizer);
    st_whisper_state_free(&state);
    st_whisper_model_free(&model);
    st_model_free(&source);
    json_decref(reference);
    free(json_text);
    free(mel);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_match_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
