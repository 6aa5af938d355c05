/*
 * test_pyannote.c — pyannote 3.1's nets against the PyTorch reference (scripts/
 * reference_pyannote.py, run by the reference_pyannote fixture), on two 10 s chunks of the
 * pyannote sample: PyanNet's log-probabilities and their powerset decoding, Kaldi fbank, and
 * WeSpeaker ResNet34 embeddings, plain and pooled per local speaker over the frames where that
 * speaker alone is active. The checkpoints are read in place from the fixture's Hugging Face
 * cache tree. Also the refusals: a missing tensor, wrong shapes, the other net's checkpoint, a
 * bare state dict. Then the whole pipeline on the sample against the reference pipeline
 * (scripts/reference_pyannote_pipeline.py), with the number of speakers estimated and imposed:
 * the same turns to the millisecond and the same speaker names; and config.yaml's parser on
 * the real config and damaged ones. Last, the choice of pipeline (st_diarize_choose): pyannote
 * when the Hugging Face cache holds the pipeline and both nets, the default otherwise, and
 * `steno diarize` taking pyannote on its own, or the default with --pipeline default.
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
#include "diarize/diarize.h"
#include "diarize/fbank.h"
#include "diarize/pyannote_pipeline.h"
#include "diarize/pyannote_seg.h"
#include "diarize/rttm.h"
#include "diarize/wespeaker.h"
#include "nn/threads.h"
#include "store_support.h"
#include "test_support.h"

/* max |ours - reference| / max |reference| */
#define TOLERANCE 1e-4
#define SEG_FRAMES 589
#define FBANK_FRAMES 998

static const int starts[2] = {0, 15};
static st_audio audio;
static char hub[4096];

static void expect_close(const char *what, const float *ours, const float *reference, size_t n) {
    double relative = st_test_relative_error(ours, reference, n), absolute = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - reference[i]);
        absolute = d > absolute ? d : absolute;
    }
    printf("  %-36s max abs error %.3g, relative %.3g\n", what, absolute, relative);
    assert_true(relative <= TOLERANCE);
}

static const float *chunk(int start) {
    assert_true(audio.n_samples >= (size_t)(start + 10) * 16000);
    return audio.samples + (size_t)start * 16000;
}

static void repo(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/models--pyannote--%s", hub, name);
}

static int setup(void **unused) {
    (void)unused;
    st_nn_set_threads(2);
    char probe[4096];
    free(st_test_reference_array("pyannote/seg_logits_0.f32", SEG_FRAMES * 7 * 4, NULL)); /* skips if absent */
    st_test_path(hub, sizeof hub, "STENO_REFERENCE_DIR", "pyannote/hub");
    snprintf(probe, sizeof probe, "%s", st_test_data("diarization/pyannote_sample/sample.wav"));
    st_error err;
    if (st_audio_decode_file(probe, 16000, &audio, &err) != STENO_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **unused) {
    (void)unused;
    st_audio_free(&audio);
    return 0;
}

static void test_segmentation(void **unused) {
    (void)unused;
    char path[4096];
    repo(path, sizeof path, "segmentation-3.0");
    st_pyannote_seg *seg;
    st_error err;
    steno_status status = st_pyannote_seg_load(path, &seg, &err);
    if (status != STENO_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(status, STENO_OK);
    assert_int_equal(st_pyannote_seg_n_frames(ST_PYANNOTE_SEG_CHUNK_SAMPLES), SEG_FRAMES);
    float *log_probs = malloc(sizeof(float) * SEG_FRAMES * 7), *multilabel = malloc(sizeof(float) * SEG_FRAMES * 3);
    for (int i = 0; i < 2; i++) {
        char name[64], what[64];
        snprintf(name, sizeof name, "pyannote/seg_logits_%d.f32", starts[i]);
        float *reference = st_test_reference_array(name, SEG_FRAMES * 7 * 4, NULL);
        assert_int_equal(st_pyannote_seg_run(seg, chunk(starts[i]), ST_PYANNOTE_SEG_CHUNK_SAMPLES, log_probs, &err),
                         STENO_OK);
        snprintf(what, sizeof what, "log-probabilities, chunk at %d s", starts[i]);
        expect_close(what, log_probs, reference, SEG_FRAMES * 7);
        snprintf(name, sizeof name, "pyannote/seg_multilabel_%d.f32", starts[i]);
        float *expected = st_test_reference_array(name, SEG_FRAMES * 3 * 4, NULL);
        st_pyannote_powerset_to_multilabel(log_probs, SEG_FRAMES, multilabel);
        int differ = 0, active = 0;
        for (int k = 0; k < SEG_FRAMES * 3; k++) {
            differ += multilabel[k] != expected[k];
            active += expected[k] != 0;
        }
        printf("  powerset decoding, chunk at %d s: %d of %d speaker-frames differ (%d active)\n", starts[i], differ,
               SEG_FRAMES * 3, active);
        assert_int_equal(differ, 0);
        assert_true(active > 0); /* the fitted stand-in hears someone */
        free(reference);
        free(expected);
    }
    free(log_probs);
    free(multilabel);
    st_pyannote_seg_free(seg);
}

/* A checkpoint without ParamSincFB's buffers n_ and window_: steno rebuilds them as asteroid
 * does, and the net computes what it computes with them. */
static void test_segmentation_without_sinc_buffers(void **unused) {
    (void)unused;
    char path[4096];
    st_test_path(path, sizeof path, "STENO_REFERENCE_DIR", "pyannote/hostile/no_sinc_buffers.bin");
    st_pyannote_seg *seg;
    st_error err;
    steno_status status = st_pyannote_seg_load(path, &seg, &err);
    if (status != STENO_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(status, STENO_OK);
    float *log_probs = malloc(sizeof(float) * SEG_FRAMES * 7);
    float *reference = st_test_reference_array("pyannote/seg_logits_0.f32", SEG_FRAMES * 7 * 4, NULL);
    assert_int_equal(st_pyannote_seg_run(seg, chunk(0), ST_PYANNOTE_SEG_CHUNK_SAMPLES, log_probs, &err), STENO_OK);
    expect_close("rebuilt sinc buffers, chunk at 0 s", log_probs, reference, SEG_FRAMES * 7);
    free(log_probs);
    free(reference);
    st_pyannote_seg_free(seg);
}

static void test_fbank(void **unused) {
    (void)unused;
    st_error err;
    st_fbank *fbank = st_fbank_create(&err);
    assert_non_null(fbank);
    assert_int_equal(st_fbank_n_frames(ST_PYANNOTE_SEG_CHUNK_SAMPLES), FBANK_FRAMES);
    assert_int_equal(st_fbank_n_frames(399), 0);
    float *scaled = malloc(sizeof(float) * ST_PYANNOTE_SEG_CHUNK_SAMPLES);
    float *features = malloc(sizeof(float) * FBANK_FRAMES * ST_FBANK_N_MELS);
    for (int i = 0; i < 2; i++) {
        const float *x = chunk(starts[i]);
        for (int k = 0; k < ST_PYANNOTE_SEG_CHUNK_SAMPLES; k++)
            scaled[k] = x[k] * 32768.0f;
        st_fbank_compute(fbank, scaled, ST_PYANNOTE_SEG_CHUNK_SAMPLES, features);
        char name[64], what[64];
        snprintf(name, sizeof name, "pyannote/fbank_%d.f32", starts[i]);
        float *reference = st_test_reference_array(name, FBANK_FRAMES * ST_FBANK_N_MELS * 4, NULL);
        snprintf(what, sizeof what, "fbank, chunk at %d s", starts[i]);
        expect_close(what, features, reference, FBANK_FRAMES * ST_FBANK_N_MELS);
        free(reference);
    }
    free(scaled);
    free(features);
    st_fbank_free(fbank);
}

static void test_embeddings(void **unused) {
    (void)unused;
    char path[4096];
    repo(path, sizeof path, "wespeaker-voxceleb-resnet34-LM");
    st_wespeaker *w;
    st_error err;
    steno_status status = st_wespeaker_load(path, &w, &err);
    if (status != STENO_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(status, STENO_OK);
    float plain[ST_WESPEAKER_DIM], masked[3 * ST_WESPEAKER_DIM], masks[3 * SEG_FRAMES];
    for (int i = 0; i < 2; i++) {
        char name[64], what[64];
        assert_int_equal(
            st_wespeaker_embed(w, chunk(starts[i]), ST_PYANNOTE_SEG_CHUNK_SAMPLES, NULL, 0, 1, plain, &err), STENO_OK);
        snprintf(name, sizeof name, "pyannote/embedding_%d.f32", starts[i]);
        float *reference = st_test_reference_array(name, ST_WESPEAKER_DIM * 4, NULL);
        snprintf(what, sizeof what, "embedding, chunk at %d s", starts[i]);
        expect_close(what, plain, reference, ST_WESPEAKER_DIM);
        free(reference);

        /* one row per local speaker: 1 where that speaker alone is active */
        snprintf(name, sizeof name, "pyannote/seg_multilabel_%d.f32", starts[i]);
        float *multilabel = st_test_reference_array(name, SEG_FRAMES * 3 * 4, NULL);
        for (int t = 0; t < SEG_FRAMES; t++) {
            const float *m = multilabel + t * 3;
            int alone = m[0] + m[1] + m[2] < 2;
            for (int s = 0; s < 3; s++)
                masks[s * SEG_FRAMES + t] = alone ? m[s] : 0.0f;
        }
        free(multilabel);
        assert_int_equal(
            st_wespeaker_embed(w, chunk(starts[i]), ST_PYANNOTE_SEG_CHUNK_SAMPLES, masks, SEG_FRAMES, 3, masked, &err),
            STENO_OK);
        snprintf(name, sizeof name, "pyannote/embedding_masked_%d.f32", starts[i]);
        reference = st_test_reference_array(name, 3 * ST_WESPEAKER_DIM * 4, NULL);
        int compared = 0;
        for (int s = 0; s < 3; s++) {
            if (isnan(reference[s * ST_WESPEAKER_DIM])) { /* that speaker is never alone here */
                assert_true(isnan(masked[s * ST_WESPEAKER_DIM]));
                continue;
            }
            snprintf(what, sizeof what, "speaker %d's embedding, chunk at %d s", s, starts[i]);
            expect_close(what, masked + s * ST_WESPEAKER_DIM, reference + s * ST_WESPEAKER_DIM, ST_WESPEAKER_DIM);
            compared++;
        }
        assert_true(compared > 0);
        free(reference);
    }
    st_wespeaker_free(w);
}

static void expect_refusal(const char *file, int embedding, const char *needle) {
    char path[4096];
    st_test_path(path, sizeof path, "STENO_REFERENCE_DIR", file);
    st_error err;
    steno_status status;
    if (embedding) {
        st_wespeaker *w = NULL;
        status = st_wespeaker_load(path, &w, &err);
        assert_null(w);
    } else {
        st_pyannote_seg *seg = NULL;
        status = st_pyannote_seg_load(path, &seg, &err);
        assert_null(seg);
    }
    printf("  %s: %s\n", file, err.message);
    assert_int_not_equal(status, STENO_OK);
    assert_non_null(strstr(err.message, needle));
}

static void test_refusals(void **unused) {
    (void)unused;
    char path[4096];
    expect_refusal("pyannote/hostile/missing_tensor.bin", 0, "lstm.weight_hh_l2_reverse");
    expect_refusal("pyannote/hostile/wrong_shape.bin", 0, "classifier.weight");
    expect_refusal("pyannote/hostile/wrong_shape_embedding.bin", 1, "resnet.layer3.2.bn1.running_var");
    expect_refusal("pyannote/hostile/bare_state_dict.bin", 0, "not a pyannote.audio checkpoint");
    /* each net refuses the other's checkpoint */
    repo(path, sizeof path, "wespeaker-voxceleb-resnet34-LM");
    st_pyannote_seg *seg = NULL;
    st_error err;
    assert_int_equal(st_pyannote_seg_load(path, &seg, &err), STENO_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "WeSpeakerResNet34 checkpoint, not PyanNet"));
    repo(path, sizeof path, "speaker-diarization-3.1");
    assert_int_not_equal(st_pyannote_seg_load(path, &seg, &err), STENO_OK);
    printf("  the pipeline's repository: %s\n", err.message);
    assert_int_equal(st_pyannote_seg_load("/nonexistent/pytorch_model.bin", &seg, &err), STENO_ERR_NOT_FOUND);
}

static const char real_config[] = "version: 3.1.0\n\npipeline:\n  name: pyannote.audio.pipelines.SpeakerDiarization\n"
                                  "  params:\n    clustering: AgglomerativeClustering\n"
                                  "    embedding: pyannote/wespeaker-voxceleb-resnet34-LM\n"
                                  "    embedding_batch_size: 32\n    embedding_exclude_overlap: true\n"
                                  "    segmentation: pyannote/segmentation-3.0\n    segmentation_batch_size: 32\n\n"
                                  "params:\n  clustering:\n    method: centroid\n    min_cluster_size: 12\n"
                                  "    threshold: 0.7045654963945799\n  segmentation:\n    min_duration_off: 0.0\n";

static void test_config(void **unused) {
    (void)unused;
    st_pyannote_config config;
    st_error err;
    assert_int_equal(st_pyannote_config_parse(real_config, strlen(real_config), "config.yaml", &config, &err),
                     STENO_OK);
    assert_string_equal(config.segmentation, "pyannote/segmentation-3.0");
    assert_string_equal(config.embedding, "pyannote/wespeaker-voxceleb-resnet34-LM");
    assert_true(config.threshold == 0.7045654963945799);
    assert_int_equal(config.min_cluster_size, 12);
    assert_true(config.min_duration_off == 0.0);
    assert_int_equal(config.exclude_overlap, 1);
    static const struct {
        const char *from, *to, *needle;
    } damaged[] = {
        {"method: centroid", "method: average", "clustering method 'average'"},
        {"    threshold: 0.7045654963945799\n", "", "no params.clustering.threshold"},
        {"threshold: 0.7045654963945799", "threshold: 2.5", "not a number in [0, 2]"},
        {"min_cluster_size: 12", "min_cluster_size: twelve", "min_cluster_size is 'twelve'"},
        {"pyannote.audio.pipelines.SpeakerDiarization", "pyannote.audio.pipelines.VoiceActivityDetection",
         "not pyannote's SpeakerDiarization"},
        {"    segmentation: pyannote/segmentation-3.0\n", "", "no pipeline.params.segmentation"},
    };
    for (size_t i = 0; i < sizeof damaged / sizeof *damaged; i++) {
        char text[2048];
        const char *at = strstr(real_config, damaged[i].from);
        assert_non_null(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - real_config), real_config, damaged[i].to,
                 at + strlen(damaged[i].from));
        assert_int_not_equal(st_pyannote_config_parse(text, strlen(text), "config.yaml", &config, &err), STENO_OK);
        printf("  %s\n", err.message);
        assert_non_null(strstr(err.message, damaged[i].needle));
    }
}

/* Turns against the reference pipeline's RTTM: the same turns, starts and lengths to the RTTM's
 * millisecond (a length may round the other way), the same speaker names (names[speaker]). */
static void expect_reference_turns(const char *file, const st_turn *turns, int n_turns, int n_speakers,
                                   const char *const *names) {
    char path[4096];
    st_test_path(path, sizeof path, "STENO_REFERENCE_DIR", file);
    st_rttm expected;
    st_rttm_init(&expected);
    st_error err;
    assert_int_equal(st_rttm_read(path, &expected, &err), STENO_OK);
    const st_rttm_file *reference = st_rttm_find(&expected, "sample");
    assert_non_null(reference);
    printf("  %s: %d turns, %d speakers; reference: %d turns, %d speakers\n", file, n_turns, n_speakers,
           reference->n_turns, expected.n_speakers);
    assert_int_equal(n_turns, reference->n_turns);
    assert_int_equal(n_speakers, expected.n_speakers);
    for (int i = 0; i < n_turns; i++) {
        const st_turn *ours = &turns[i], *theirs = &reference->turns[i];
        assert_true(fabs(ours->start - theirs->start) < 0.00051);
        assert_true(fabs((ours->end - ours->start) - (theirs->end - theirs->start)) < 0.0015);
        assert_string_equal(names[ours->speaker], expected.speakers[theirs->speaker]);
    }
    st_rttm_free(&expected);
}

static const char *const speaker_names[] = {"SPEAKER_00", "SPEAKER_01", "SPEAKER_02"};

static void expect_reference_result(const char *file, const st_pyannote_result *result) {
    assert_true(result->n_speakers <= 3);
    expect_reference_turns(file, result->turns, result->n_turns, result->n_speakers, speaker_names);
}

static void test_pipeline(void **unused) {
    (void)unused;
    st_pyannote *pipeline;
    st_error err;
    steno_status status = st_pyannote_open(hub, &pipeline, &err); /* the hub: config and nets by repo id */
    if (status != STENO_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(status, STENO_OK);
    assert_true(st_pyannote_get_config(pipeline)->threshold == 0.7045654963945799);
    st_pyannote_result result;
    status = st_pyannote_diarize(pipeline, audio.samples, audio.n_samples, NULL, &result, &err);
    if (status != STENO_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(status, STENO_OK);
    expect_reference_result("pyannote/pipeline.rttm", &result);
    st_pyannote_result_free(&result);
    /* three speakers imposed: the dendrogram is searched for three large clusters */
    st_pyannote_options three = {.num_speakers = 3};
    assert_int_equal(st_pyannote_diarize(pipeline, audio.samples, audio.n_samples, &three, &result, &err), STENO_OK);
    expect_reference_result("pyannote/pipeline_speakers_3.rttm", &result);
    st_pyannote_result_free(&result);
    st_pyannote_options single = {.num_speakers = 1};
    assert_int_equal(st_pyannote_diarize(pipeline, audio.samples, audio.n_samples, &single, &result, &err), STENO_OK);
    assert_int_equal(result.n_speakers, 1); /* one speaker asked for: no clustering, one speaker */
    st_pyannote_result_free(&result);
    st_pyannote_options bad = {.min_speakers = 3, .max_speakers = 2};
    assert_int_equal(st_pyannote_diarize(pipeline, audio.samples, audio.n_samples, &bad, &result, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    st_pyannote_close(pipeline);
}

/* Runs `steno diarize ARGUMENTS -o a temporary folder` on the sample and reads the RTTM it
 * writes into *written; returns what steno printed (malloc'd). */
static char *diarize_sample(const char *arguments, st_rttm *written) {
    char out[4096], command[8192], rttm[4200];
    snprintf(out, sizeof out, "%s/pyannote-cli-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(out));
    snprintf(command, sizeof command, "diarize %s -o %s %s", arguments, out,
             st_test_data("diarization/pyannote_sample/sample.wav"));
    char *output = NULL;
    int status = st_test_run_cli(command, &output);
    printf("  steno %s: %s", command, output);
    assert_int_equal(status, 0);
    snprintf(rttm, sizeof rttm, "%s/sample.rttm", out);
    st_rttm_init(written);
    st_error err;
    assert_int_equal(st_rttm_read(rttm, written, &err), STENO_OK);
    unlink(rttm);
    rmdir(out);
    return output;
}

/* `steno diarize`, with the pipeline in the Hugging Face cache ($HF_HUB_CACHE): pyannote's on
 * its own (saying so) and with --pipeline pyannote, the RTTM equal to the reference's; the
 * default pipeline with --pipeline default. */
static void test_cli(void **unused) {
    (void)unused;
    setenv("HF_HUB_CACHE", hub, 1);
    const char *const chosen[] = {"", "--pipeline pyannote"};
    for (int i = 0; i < 2; i++) {
        st_rttm written;
        char *output = diarize_sample(chosen[i], &written);
        assert_true(!strstr(output, "diarizing with pyannote 3.1 from") == (i == 1));
        free(output);
        const st_rttm_file *file = st_rttm_find(&written, "sample");
        assert_non_null(file);
        expect_reference_turns("pyannote/pipeline.rttm", file->turns, file->n_turns, written.n_speakers,
                               (const char *const *)written.speakers);
        st_rttm_free(&written);
    }
    /* transcribe --diarize says so too, before it reads any audio */
    char command[8192], *said;
    snprintf(command, sizeof command, "transcribe --diarize -m '%s' /nonexistent/a.wav",
             st_test_model("ggml-base.en.bin"));
    assert_int_equal(st_test_run_cli(command, &said), 1);
    printf("  steno %s: %s", command, said);
    assert_non_null(strstr(said, "steno transcribe: diarizing with pyannote 3.1 from"));
    free(said);
    /* the default pipeline's answer differs from pyannote's (its turns end on a 10 ms grid) */
    st_rttm written;
    free(diarize_sample("--pipeline default", &written));
    const st_rttm_file *file = st_rttm_find(&written, "sample");
    assert_non_null(file);
    assert_int_equal(written.n_speakers, 2);
    for (int t = 0; t < file->n_turns; t++)
        assert_float_equal(file->turns[t].start * 100, round(file->turns[t].start * 100), 1e-6);
    st_rttm_free(&written);
    /* an unknown pipeline is a usage error */
    char *output;
    assert_int_equal(st_test_run_cli("diarize --pipeline nemo x.wav", &output), 2);
    assert_non_null(strstr(output, "'nemo' is not auto, default or pyannote"));
    free(output);
}

/* A new hub folder in dir holding copies of the fixture's repositories names[0..n) (copies: a
 * link would lead the cache's checks back to the fixture's hub). */
static void partial_hub(char *dir, size_t size, const char *const *names, int n) {
    snprintf(dir, size, "%s/pyannote-hub-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    for (int i = 0; i < n; i++) {
        char source[4200], command[8500];
        repo(source, sizeof source, names[i]);
        snprintf(command, sizeof command, "cp -a '%s' '%s/'", source, dir);
        assert_int_equal(system(command), 0);
    }
}

static void remove_hub(const char *dir) {
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
}

/* st_diarize_choose: the pipeline and its nets resolved in the cache, or the default with the
 * reason; a pipeline asked for by name and not there is an error naming what is missing. */
static void test_choice(void **unused) {
    (void)unused;
    const char *home = getenv("HOME");
    char saved_home[4096];
    snprintf(saved_home, sizeof saved_home, "%s", home ? home : "");
    unsetenv("HF_HOME");
    setenv("HOME", "/nonexistent", 1); /* no ~/.cache/huggingface/hub of the machine's */
    setenv("HF_HUB_CACHE", hub, 1);
    st_diarize_choice choice;
    st_error err;
    assert_int_equal(st_diarize_choose(ST_DIARIZE_PIPELINE_AUTO, NULL, &choice, &err), STENO_OK);
    assert_int_equal(choice.pipeline, ST_DIARIZE_PIPELINE_PYANNOTE);
    char expected[4200];
    repo(expected, sizeof expected, "speaker-diarization-3.1/snapshots/");
    assert_memory_equal(choice.pyannote, expected, strlen(expected));
    repo(expected, sizeof expected, "segmentation-3.0/snapshots/");
    assert_memory_equal(choice.segmentation, expected, strlen(expected));
    repo(expected, sizeof expected, "wespeaker-voxceleb-resnet34-LM/snapshots/");
    assert_memory_equal(choice.embedding, expected, strlen(expected));
    st_diarizer *diarizer;
    assert_int_equal(st_diarizer_open_choice(&choice, &diarizer, &err), STENO_OK);
    assert_int_equal(st_diarizer_pipeline(diarizer), ST_DIARIZE_PIPELINE_PYANNOTE);
    st_diarizer_free(diarizer);
    /* told to: the default, with Silero VAD from the model folders */
    assert_int_equal(st_diarize_choose(ST_DIARIZE_PIPELINE_DEFAULT, NULL, &choice, &err), STENO_OK);
    assert_int_equal(choice.pipeline, ST_DIARIZE_PIPELINE_DEFAULT);
    assert_non_null(strstr(choice.vad_model, "silero"));

    /* the pipeline and its segmentation net, but no embedding net: the default, and why */
    static const char *const partial[] = {"speaker-diarization-3.1", "segmentation-3.0"};
    char dir[4096];
    partial_hub(dir, sizeof dir, partial, 2);
    setenv("HF_HUB_CACHE", dir, 1);
    assert_int_equal(st_diarize_choose(ST_DIARIZE_PIPELINE_AUTO, NULL, &choice, &err), STENO_OK);
    assert_int_equal(choice.pipeline, ST_DIARIZE_PIPELINE_DEFAULT);
    printf("  without the embedding net: %s\n", choice.why_not_pyannote);
    assert_non_null(strstr(choice.why_not_pyannote, "wespeaker-voxceleb-resnet34-LM"));
    assert_int_equal(st_diarize_choose(ST_DIARIZE_PIPELINE_PYANNOTE, NULL, &choice, &err), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "wespeaker-voxceleb-resnet34-LM"));
    remove_hub(dir);
    /* an empty cache: the default; pyannote asked for names the pipeline's repository */
    partial_hub(dir, sizeof dir, partial, 0);
    setenv("HF_HUB_CACHE", dir, 1);
    assert_int_equal(st_diarize_choose(ST_DIARIZE_PIPELINE_AUTO, NULL, &choice, &err), STENO_OK);
    assert_int_equal(choice.pipeline, ST_DIARIZE_PIPELINE_DEFAULT);
    assert_int_equal(st_diarize_choose(ST_DIARIZE_PIPELINE_PYANNOTE, NULL, &choice, &err), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "pyannote/speaker-diarization-3.1"));
    remove_hub(dir);
    setenv("HOME", saved_home, 1);
    setenv("HF_HUB_CACHE", hub, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segmentation), cmocka_unit_test(test_segmentation_without_sinc_buffers),
        cmocka_unit_test(test_fbank),        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_refusals),     cmocka_unit_test(test_config),
        cmocka_unit_test(test_pipeline),     cmocka_unit_test(test_cli),
        cmocka_unit_test(test_choice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
