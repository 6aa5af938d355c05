/*
 * test_openai_diarized.c — the server's OpenAI shapes for diarized results (server/openai.h):
 * the speaker-count fields are validated alone and together, diarized_json turns diarize on,
 * and a stored verbose_json with speakers renders as OpenAI's diarized_json (speakers "A", "B",
 * ..., "AA" after "Z"), as the CLI's "[SPEAKER_00]: " text and srt, and is refused as
 * diarized_json when it has no speakers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "server/openai.h"

/* Sets each name=value pair; every one must be accepted. */
static void fields_with(st_request_fields *f, const char *const *pairs, int n) {
    char message[256];
    st_request_fields_init(f);
    for (int i = 0; i < n; i += 2)
        assert_int_equal(st_request_field(f, pairs[i], pairs[i + 1], message, sizeof message), 0);
}

static void test_speaker_fields_are_validated(void **state) {
    (void)state;
    st_request_fields f;
    char message[256];
    st_request_fields_init(&f);
    assert_int_equal(st_request_field(&f, "num_speakers", "0", message, sizeof message), 400);
    assert_non_null(strstr(message, "num_speakers"));
    assert_int_equal(st_request_field(&f, "min_speakers", "65", message, sizeof message), 400);
    assert_int_equal(st_request_field(&f, "max_speakers", "3x", message, sizeof message), 400);
    assert_int_equal(st_request_field(&f, "diarize", "maybe", message, sizeof message), 400);

    const char *param = NULL;
    const char *without_diarize[] = {"max_speakers", "2"};
    fields_with(&f, without_diarize, 2);
    assert_int_equal(st_request_check(&f, &param, message, sizeof message), 400);
    assert_string_equal(param, "max_speakers");

    const char *crossed[] = {"diarize", "true", "min_speakers", "3", "max_speakers", "2"};
    fields_with(&f, crossed, 6);
    assert_int_equal(st_request_check(&f, &param, message, sizeof message), 400);
    assert_string_equal(param, "min_speakers");

    const char *outside[] = {"diarize", "true", "num_speakers", "1", "min_speakers", "2"};
    fields_with(&f, outside, 6);
    assert_int_equal(st_request_check(&f, &param, message, sizeof message), 400);
    assert_string_equal(param, "num_speakers");

    /* diarized_json asks for speakers by itself; the count fields then need no diarize=true */
    const char *implied[] = {"response_format", "diarized_json", "num_speakers", "2"};
    fields_with(&f, implied, 4);
    param = NULL;
    int status = st_request_check(&f, &param, message, sizeof message);
    assert_int_equal(f.diarize, 1);
    /* passes, or is refused only for want of Silero VAD on this machine */
    if (status) assert_string_equal(param, "diarize");
    steno_transcribe_params p = st_request_params(&f);
    assert_int_equal(p.diarize, 1);
    assert_int_equal(p.num_speakers, 2);

    /* the fields survive a job's record */
    const char *bounds[] = {"diarize", "true", "min_speakers", "2", "max_speakers", "5"};
    fields_with(&f, bounds, 6);
    json_t *json = st_request_fields_to_json(&f);
    st_request_fields back;
    st_request_fields_from_json(json, &back);
    json_decref(json);
    assert_int_equal(back.diarize, 1);
    assert_int_equal(back.min_speakers, 2);
    assert_int_equal(back.max_speakers, 5);
}

/* A stored verbose_json of three segments, the last by the 27th speaker. */
static json_t *diarized_result(void) {
    json_t *v = json_loads("{\"task\":\"transcribe\",\"language\":\"english\",\"duration\":9.5,"
                           "\"text\":\"Hello there. Hi. Bye.\",\"segments\":["
                           "{\"id\":0,\"start\":0.0,\"end\":2.5,\"text\":\" Hello there.\",\"speaker\":\"SPEAKER_00\"},"
                           "{\"id\":1,\"start\":2.5,\"end\":4.0,\"text\":\" Hi.\",\"speaker\":\"SPEAKER_01\"},"
                           "{\"id\":2,\"start\":5.0,\"end\":9.5,\"text\":\" Bye.\",\"speaker\":\"SPEAKER_26\"}]}",
                           0, NULL);
    assert_non_null(v);
    return v;
}

static void test_diarized_json_shape(void **state) {
    (void)state;
    json_t *v = diarized_result();
    assert_true(st_openai_has_speakers(v));
    const char *mime = NULL;
    char *body = st_openai_render(v, ST_RESPONSE_DIARIZED_JSON, &mime);
    assert_non_null(body);
    assert_string_equal(mime, "application/json");
    json_t *r = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(r);
    assert_int_equal(json_object_size(r), 4);
    assert_string_equal(json_string_value(json_object_get(r, "task")), "transcribe");
    assert_true(json_number_value(json_object_get(r, "duration")) == 9.5);
    assert_string_equal(json_string_value(json_object_get(r, "text")), "Hello there. Hi. Bye.");
    json_t *segments = json_object_get(r, "segments");
    assert_int_equal(json_array_size(segments), 3);
    const char *ids[] = {"seg_0", "seg_1", "seg_2"}, *speakers[] = {"A", "B", "AA"},
               *texts[] = {"Hello there.", "Hi.", "Bye."};
    const double starts[] = {0.0, 2.5, 5.0}, ends[] = {2.5, 4.0, 9.5};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(segments, i);
        assert_int_equal(json_object_size(s), 6);
        assert_string_equal(json_string_value(json_object_get(s, "type")), "transcript.text.segment");
        assert_string_equal(json_string_value(json_object_get(s, "id")), ids[i]);
        assert_string_equal(json_string_value(json_object_get(s, "speaker")), speakers[i]);
        assert_string_equal(json_string_value(json_object_get(s, "text")), texts[i]);
        assert_true(json_number_value(json_object_get(s, "start")) == starts[i]);
        assert_true(json_number_value(json_object_get(s, "end")) == ends[i]);
    }
    json_decref(r);
    json_decref(v);
}

static void test_text_and_srt_carry_speakers(void **state) {
    (void)state;
    json_t *v = diarized_result();
    const char *mime = NULL;
    char *text = st_openai_render(v, ST_RESPONSE_TEXT, &mime);
    assert_non_null(text);
    assert_string_equal(text, "[SPEAKER_00]: Hello there.\n[SPEAKER_01]: Hi.\n[SPEAKER_26]: Bye.\n");
    free(text);
    char *srt = st_openai_render(v, ST_RESPONSE_SRT, &mime);
    assert_non_null(srt);
    assert_non_null(strstr(srt, "00:00:02,500 --> 00:00:04,000\n[SPEAKER_01]: Hi.\n"));
    free(srt);
    json_decref(v);
}

static void test_no_speakers_no_diarized_json(void **state) {
    (void)state;
    json_t *v = json_loads("{\"task\":\"transcribe\",\"duration\":1.0,\"text\":\"Hi.\",\"segments\":"
                           "[{\"id\":0,\"start\":0.0,\"end\":1.0,\"text\":\" Hi.\"}]}",
                           0, NULL);
    assert_non_null(v);
    assert_false(st_openai_has_speakers(v));
    const char *mime = NULL;
    assert_null(st_openai_render(v, ST_RESPONSE_DIARIZED_JSON, &mime));
    char *text = st_openai_render(v, ST_RESPONSE_TEXT, &mime); /* the plain text, as before */
    assert_string_equal(text, "Hi.\n");
    free(text);
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speaker_fields_are_validated),
        cmocka_unit_test(test_diarized_json_shape),
        cmocka_unit_test(test_text_and_srt_carry_speakers),
        cmocka_unit_test(test_no_speakers_no_diarized_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
