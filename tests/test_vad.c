/* test_vad.c — the parts of voice activity detection that need no weights: speech spans cut
 * from synthetic probabilities (faster-whisper's get_speech_timestamps rules, positions worked
 * out by hand below), the mapping of times on the joined speech back to the recording, and
 * the ONNX reader on protobuf bytes built here field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vad/onnx.h"
#include "vad/vad.h"
#include "whisper/vad_filter.h"

enum { FRAME = ST_VAD_FRAME, PAD = 6400 /* 400 ms */ };

/* Probabilities for n_samples: p_speech on the frames [from, to) of each run, 0.05 elsewhere. */
static float *probabilities(size_t n_samples, const size_t (*runs)[2], int n_runs, float p_speech) {
    size_t n = st_vad_n_frames(n_samples);
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = 0.05f;
    for (int r = 0; r < n_runs; r++) {
        for (size_t i = runs[r][0]; i < runs[r][1]; i++)
            p[i] = p_speech;
    }
    return p;
}

static size_t spans_of(const float *p, size_t n_samples, const st_vad_options *o, st_vad_span **spans) {
    size_t n;
    st_error err;
    assert_int_equal(st_vad_spans_from_probabilities(p, st_vad_n_frames(n_samples), n_samples, o, spans, &n, &err),
                     STENO_OK);
    return n;
}

static void frame_count_follows_faster_whisper(void **state) {
    (void)state;
    assert_int_equal(st_vad_n_frames(0), 1);
    assert_int_equal(st_vad_n_frames(511), 1);
    assert_int_equal(st_vad_n_frames(512), 2); /* a whole signal still gets a padding frame */
    assert_int_equal(st_vad_n_frames(1000), 2);
}

static void silence_has_no_spans(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    float *p = probabilities(160000, NULL, 0, 0.0f);
    st_vad_span *spans;
    assert_int_equal(spans_of(p, 160000, &o, &spans), 0);
    assert_null(spans);
    free(p);
}

static void one_run_is_padded_by_400_ms(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    const size_t runs[][2] = {{100, 200}};
    size_t n = 400 * FRAME;
    float *p = probabilities(n, runs, 1, 0.9f);
    st_vad_span *spans;
    assert_int_equal(spans_of(p, n, &o, &spans), 1);
    /* starts at the first loud frame, ends at the first quiet one, then 400 ms each side */
    assert_int_equal(spans[0].start, 100 * FRAME - PAD);
    assert_int_equal(spans[0].end, 200 * FRAME + PAD);
    free(spans);
    free(p);
}

static void padding_is_clamped_to_the_signal(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    const size_t runs[][2] = {{2, 50}};
    size_t n = 50 * FRAME + 100; /* speech runs into the end */
    float *p = probabilities(n, runs, 1, 0.9f);
    st_vad_span *spans;
    assert_int_equal(spans_of(p, n, &o, &spans), 1);
    assert_int_equal(spans[0].start, 0);
    assert_int_equal(spans[0].end, n);
    free(spans);
    free(p);
}

static void short_silence_does_not_split(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    /* 60 quiet frames = 1.92 s < 2 s of min_silence */
    const size_t runs[][2] = {{100, 200}, {260, 300}};
    size_t n = 600 * FRAME;
    float *p = probabilities(n, runs, 2, 0.9f);
    st_vad_span *spans;
    assert_int_equal(spans_of(p, n, &o, &spans), 1);
    assert_int_equal(spans[0].start, 100 * FRAME - PAD);
    assert_int_equal(spans[0].end, 300 * FRAME + PAD);
    free(spans);
    free(p);
}

static void long_silence_splits(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    /* 64 quiet frames = 2.048 s: the first span ends at frame 200 once frame 263 is reached */
    const size_t runs[][2] = {{100, 200}, {264, 300}};
    size_t n = 600 * FRAME;
    float *p = probabilities(n, runs, 2, 0.9f);
    st_vad_span *spans;
    assert_int_equal(spans_of(p, n, &o, &spans), 2);
    assert_int_equal(spans[0].start, 100 * FRAME - PAD);
    assert_int_equal(spans[0].end, 200 * FRAME + PAD);
    assert_int_equal(spans[1].start, 264 * FRAME - PAD);
    assert_int_equal(spans[1].end, 300 * FRAME + PAD);
    free(spans);
    free(p);
}

static void close_spans_share_the_gap(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    o.min_silence_duration_ms = 100; /* 3.125 frames */
    /* a gap of 10 frames = 5120 samples < 2 × 6400: each side takes half */
    const size_t runs[][2] = {{100, 200}, {210, 300}};
    size_t n = 600 * FRAME;
    float *p = probabilities(n, runs, 2, 0.9f);
    st_vad_span *spans;
    assert_int_equal(spans_of(p, n, &o, &spans), 2);
    assert_int_equal(spans[0].end, 200 * FRAME + 5 * FRAME);
    assert_int_equal(spans[1].start, 210 * FRAME - 5 * FRAME);
    assert_int_equal(spans[1].end, 300 * FRAME + PAD);
    free(spans);
    free(p);
}

static void hysteresis_keeps_speech_between_thresholds(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    o.min_silence_duration_ms = 100;
    /* 0.4 is below threshold 0.5 but above neg_threshold 0.35: speech goes on */
    const size_t runs[][2] = {{100, 200}};
    size_t n = 600 * FRAME;
    float *p = probabilities(n, runs, 1, 0.9f);
    for (int i = 200; i < 300; i++)
        p[i] = 0.4f;
    st_vad_span *spans;
    assert_int_equal(spans_of(p, n, &o, &spans), 1);
    assert_int_equal(spans[0].end, 300 * FRAME + PAD);
    free(spans);
    /* ... but 0.4 alone never starts it */
    for (int i = 100; i < 200; i++)
        p[i] = 0.4f;
    assert_int_equal(spans_of(p, n, &o, &spans), 0);
    free(p);
}

static void short_bursts_are_dropped_with_min_speech(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    o.min_speech_duration_ms = 250; /* 4000 samples: 7 frames = 3584 are too short, 8 = 4096 are not */
    const size_t runs[][2] = {{100, 107}, {300, 308}};
    size_t n = 600 * FRAME;
    float *p = probabilities(n, runs, 2, 0.9f);
    st_vad_span *spans;
    assert_int_equal(spans_of(p, n, &o, &spans), 1);
    assert_int_equal(spans[0].start, 300 * FRAME - PAD);
    free(spans);
    free(p);
}

static void long_speech_is_split_at_max_speech(void **state) {
    (void)state;
    st_vad_options o = st_vad_default_options();
    o.max_speech_duration_s = 10.0; /* 160000 − 512 − 12800 = 146688 samples = 286.5 frames */
    o.speech_pad_ms = 400;
    const size_t runs[][2] = {{0, 1000}};
    size_t n = 1000 * FRAME;
    float *p = probabilities(n, runs, 1, 0.9f);
    st_vad_span *spans;
    /* No silence inside: cut at the first frame past the limit (287); the next span starts at
     * the frame after (288), and so on: [0, 287) [288, 575) [576, 863) [864, 1000), the
     * one-frame gaps shared between neighbours. */
    size_t count = spans_of(p, n, &o, &spans);
    assert_int_equal(count, 4);
    assert_int_equal(spans[0].start, 0);
    assert_int_equal(spans[0].end, 287 * FRAME + FRAME / 2);
    assert_int_equal(spans[1].start, 288 * FRAME - FRAME / 2);
    assert_int_equal(spans[1].end, 575 * FRAME + FRAME / 2);
    assert_int_equal(spans[3].start, 864 * FRAME - FRAME / 2);
    assert_int_equal(spans[3].end, n);
    free(spans);
    /* a 200 ms silence (7 frames, > 98 ms) inside: the cut goes there instead */
    for (int i = 200; i < 207; i++)
        p[i] = 0.1f;
    count = spans_of(p, n, &o, &spans);
    assert_true(count >= 2);
    assert_int_equal(spans[0].end, 200 * FRAME + 7 * FRAME / 2);
    assert_int_equal(spans[1].start, 207 * FRAME - 7 * FRAME / 2);
    free(spans);
    free(p);
}

static void invalid_options_are_refused(void **state) {
    (void)state;
    float p[2] = {0.9f, 0.9f};
    st_vad_span *spans;
    size_t n;
    st_error err;
    st_vad_options o = st_vad_default_options();
    o.threshold = NAN;
    assert_int_equal(st_vad_spans_from_probabilities(p, 2, 600, &o, &spans, &n, &err), STENO_ERR_INVALID_ARGUMENT);
    o = st_vad_default_options();
    o.speech_pad_ms = -1;
    assert_int_equal(st_vad_spans_from_probabilities(p, 2, 600, &o, &spans, &n, &err), STENO_ERR_INVALID_ARGUMENT);
}

/* Speech at [1 s, 2 s) and [5 s, 6 s) of the recording: on the joined speech, [0, 1) and [1, 2). */
static const st_vad_span two_spans[] = {{16000, 32000}, {80000, 96000}};

static void times_map_back_to_the_recording(void **state) {
    (void)state;
    assert_int_equal(st_vad_chunk_of(two_spans, 2, 0.5), 0);
    assert_int_equal(st_vad_chunk_of(two_spans, 2, 1.0), 1); /* a junction belongs to the later span */
    assert_int_equal(st_vad_chunk_of(two_spans, 2, 9.0), 1); /* past the end: the last */
    assert_float_equal(st_vad_original_time(two_spans, 2, 0.5, -1), 1.5, 1e-9);
    assert_float_equal(st_vad_original_time(two_spans, 2, 1.0, -1), 5.0, 1e-9);
    assert_float_equal(st_vad_original_time(two_spans, 2, 1.5, -1), 5.5, 1e-9);
    assert_float_equal(st_vad_original_time(two_spans, 2, 1.0, 0), 2.0, 1e-9); /* forced into the first */
    assert_float_equal(st_vad_original_time(NULL, 0, 3.25, -1), 3.25, 1e-9);
}

static void words_stay_within_one_span(void **state) {
    (void)state;
    st_word words[] = {{.text = " ask", .start = 0.2, .end = 0.6}, {.text = " not", .start = 0.9, .end = 1.2}};
    st_segment segment = {.start = 0.0, .end = 1.4, .words = words, .n_words = 2};
    const st_vad_speech speech = {.spans = two_spans, .n_spans = 2};
    st_vad_filter_map_segment(&segment, &speech);
    assert_float_equal(words[0].start, 1.2, 1e-9);
    assert_float_equal(words[0].end, 1.6, 1e-9);
    /* middle 1.05 lies in the second span: both ends are taken there */
    assert_float_equal(words[1].start, 4.9, 1e-9);
    assert_float_equal(words[1].end, 5.2, 1e-9);
    assert_float_equal(segment.start, 1.2, 1e-9);
    assert_float_equal(segment.end, 5.2, 1e-9);

    st_segment plain = {.start = 0.4, .end = 1.4};
    st_vad_filter_map_segment(&plain, &speech);
    assert_float_equal(plain.start, 1.4, 1e-9);
    assert_float_equal(plain.end, 5.4, 1e-9);
}

/* A segment without words that runs over a junction starts (ends) in the span where the VAD
 * heard speech: here at 1.0–1.6 s and 5.2–6.0 s of the recording. */
static void segments_without_words_start_where_speech_is(void **state) {
    (void)state;
    float probs[220];
    for (int i = 0; i < 220; i++) {
        double t = (double)i * FRAME / 16000;
        probs[i] = (t >= 1.0 && t < 1.6) || (t >= 5.2 && t < 6.0) ? 0.9f : 0.1f;
    }
    const st_vad_speech speech = {.spans = two_spans, .n_spans = 2, .probs = probs, .n_frames = 220, .threshold = 0.5f};
    /* joined 0.8 is 1.8 s, after the first span's speech: the text begins in the second span */
    st_segment late = {.start = 0.8, .end = 1.9};
    st_vad_filter_map_segment(&late, &speech);
    assert_float_equal(late.start, 5.0, 1e-9);
    assert_float_equal(late.end, 5.9, 1e-9);
    /* joined 0.2 is 1.2 s, in speech: kept; joined 1.3 is 5.3 s, after speech resumed: kept */
    st_segment both = {.start = 0.2, .end = 1.3};
    st_vad_filter_map_segment(&both, &speech);
    assert_float_equal(both.start, 1.2, 1e-9);
    assert_float_equal(both.end, 5.3, 1e-9);
    /* joined 1.1 is 5.1 s, before the second span's speech: the text ended in the first span */
    st_segment early = {.start = 0.2, .end = 1.1};
    st_vad_filter_map_segment(&early, &speech);
    assert_float_equal(early.start, 1.2, 1e-9);
    assert_float_equal(early.end, 2.0, 1e-9);
    assert_true(st_vad_speech_between(&speech, 0.0, 0.5));
    assert_false(st_vad_speech_between(&speech, 0.65, 1.0));
}

/* ---- a protobuf writer just big enough for ONNX test files ---- */

typedef struct buffer {
    uint8_t bytes[4096];
    size_t n;
} buffer;

static void put_varint(buffer *b, uint64_t v) {
    do {
        assert_true(b->n < sizeof b->bytes);
        b->bytes[b->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void put_key(buffer *b, int field, int wire) {
    put_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

static void put_bytes(buffer *b, int field, const void *data, size_t n) {
    put_key(b, field, 2);
    put_varint(b, n);
    assert_true(b->n + n <= sizeof b->bytes);
    memcpy(b->bytes + b->n, data, n);
    b->n += n;
}

static void put_message(buffer *b, int field, const buffer *message) {
    put_bytes(b, field, message->bytes, message->n);
}

static void put_string(buffer *b, int field, const char *text) {
    put_bytes(b, field, text, strlen(text));
}

/* TensorProto [2, 3] float named name: raw_data, packed float_data or unpacked float_data. */
static buffer float_tensor(const char *name, int encoding, int n_values) {
    buffer t = {0};
    put_key(&t, 1, 0), put_varint(&t, 2);
    put_key(&t, 1, 0), put_varint(&t, 3);
    put_key(&t, 2, 0), put_varint(&t, ST_ONNX_FLOAT);
    if (name) put_string(&t, 8, name);
    float values[8];
    for (int i = 0; i < n_values; i++)
        values[i] = 0.5f * (float)i - 1.0f;
    if (encoding == 0) put_bytes(&t, 9, values, (size_t)n_values * 4);
    if (encoding == 1) put_bytes(&t, 4, values, (size_t)n_values * 4);
    for (int i = 0; encoding == 2 && i < n_values; i++) {
        put_key(&t, 4, 5);
        memcpy(t.bytes + t.n, &values[i], 4);
        t.n += 4;
    }
    return t;
}

/* ModelProto: graph { initializer raw "w"; node If { then_branch { node Constant -> "c" } } } */
static buffer model_bytes(int encoding, int n_values) {
    buffer constant_value = float_tensor(NULL, encoding, n_values), attribute = {0}, constant = {0}, branch = {0},
           branch_attribute = {0}, if_node = {0}, initializer = float_tensor("w", 0, 6), graph = {0}, model = {0};
    put_string(&attribute, 1, "value");
    put_key(&attribute, 20, 0), put_varint(&attribute, 4); /* AttributeProto.TENSOR */
    put_message(&attribute, 5, &constant_value);
    put_string(&constant, 2, "c");
    put_string(&constant, 4, "Constant");
    put_message(&constant, 5, &attribute);
    put_message(&branch, 1, &constant);
    put_string(&branch_attribute, 1, "then_branch");
    put_message(&branch_attribute, 6, &branch);
    put_string(&if_node, 1, "cond");
    put_string(&if_node, 4, "If");
    put_message(&if_node, 5, &branch_attribute);
    put_message(&graph, 5, &initializer);
    put_message(&graph, 1, &if_node);
    put_key(&model, 1, 0), put_varint(&model, 8); /* ir_version */
    put_message(&model, 7, &graph);
    return model;
}

static void onnx_reads_initializers_and_constants_in_subgraphs(void **state) {
    (void)state;
    for (int encoding = 0; encoding < 3; encoding++) {
        buffer b = model_bytes(encoding, 6);
        st_onnx_model model;
        st_error err;
        assert_int_equal(st_onnx_parse(b.bytes, b.n, "test", &model, &err), STENO_OK);
        assert_int_equal(model.n_tensors, 2);
        assert_int_equal(model.n_graphs, 2);
        const int64_t dims[] = {2, 3};
        const st_onnx_tensor *w = st_onnx_find(&model, 0, "w", dims, 2);
        const st_onnx_tensor *c = st_onnx_find(&model, 1, "c", dims, 2);
        assert_non_null(w);
        assert_non_null(c);
        assert_null(st_onnx_find(&model, 0, "c", dims, 2)); /* c lives in the subgraph */
        float values[6];
        assert_int_equal(st_onnx_tensor_floats(c, values, "test", &err), STENO_OK);
        for (int i = 0; i < 6; i++)
            assert_float_equal(values[i], 0.5f * (float)i - 1.0f, 0.0f);
        st_onnx_model_free(&model);
    }
}

static void onnx_refuses_damaged_bytes(void **state) {
    (void)state;
    st_onnx_model model;
    st_error err;
    for (int encoding = 0; encoding < 3; encoding++) {
        buffer b = model_bytes(encoding, 5); /* 5 numbers for a [2, 3] shape */
        assert_int_equal(st_onnx_parse(b.bytes, b.n, "test", &model, &err), STENO_ERR_FORMAT);
        assert_non_null(strstr(st_error_message(&err), "does not match its shape"));
    }
    buffer b = model_bytes(0, 6);
    for (size_t cut = 0; cut < b.n; cut++) { /* every truncation is refused, never read past */
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.bytes, cut);
        assert_int_not_equal(st_onnx_parse(copy, cut, "test", &model, &err), STENO_OK);
        free(copy);
    }
    const uint8_t text[] = "not a model at all";
    assert_int_equal(st_onnx_parse(text, sizeof text - 1, "test", &model, &err), STENO_ERR_FORMAT);
}

static void onnx_limits_nesting(void **state) {
    (void)state;
    buffer graph = {0};
    for (int depth = 0; depth < ST_ONNX_MAX_DEPTH + 2; depth++) {
        buffer attribute = {0}, node = {0}, outer = {0};
        put_string(&attribute, 1, "body");
        put_message(&attribute, 6, &graph);
        put_string(&node, 4, "Loop");
        put_message(&node, 5, &attribute);
        put_message(&outer, 1, &node);
        graph = outer;
    }
    buffer model = {0};
    put_message(&model, 7, &graph);
    st_onnx_model parsed;
    st_error err;
    assert_int_equal(st_onnx_parse(model.bytes, model.n, "test", &parsed, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "nested too deeply"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_count_follows_faster_whisper),
        cmocka_unit_test(silence_has_no_spans),
        cmocka_unit_test(one_run_is_padded_by_400_ms),
        cmocka_unit_test(padding_is_clamped_to_the_signal),
        cmocka_unit_test(short_silence_does_not_split),
        cmocka_unit_test(long_silence_splits),
        cmocka_unit_test(close_spans_share_the_gap),
        cmocka_unit_test(hysteresis_keeps_speech_between_thresholds),
        cmocka_unit_test(short_bursts_are_dropped_with_min_speech),
        cmocka_unit_test(long_speech_is_split_at_max_speech),
        cmocka_unit_test(invalid_options_are_refused),
        cmocka_unit_test(times_map_back_to_the_recording),
        cmocka_unit_test(words_stay_within_one_span),
        cmocka_unit_test(segments_without_words_start_where_speech_is),
        cmocka_unit_test(onnx_reads_initializers_and_constants_in_subgraphs),
        cmocka_unit_test(onnx_refuses_damaged_bytes),
        cmocka_unit_test(onnx_limits_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
