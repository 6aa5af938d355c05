/*
 * test_cuda.c — the CUDA backend against the CPU path on the JFK clip: the encoder output, the
 * decoder's logits (a prompt, greedy steps, three sequences after a cache reorder, the captured
 * cross-attention scores) within what halves allow, and the same transcript greedy and with
 * beam search. Device names and the CPU fallback are checked everywhere; the rest is skipped
 * (77) when no GPU is visible or steno was built without the backend, with a message saying why.
 *
 * STENO_CUDA_TEST_MODEL names another model file (scripts/device-check-cuda carries a smaller
 * one to the GPU machine); the default is the fetched official base.en. Audio is read from
 * 16-bit PCM WAV files here, without FFmpeg, so that the build the GPU machine gets needs none.
 *
 * With --bench MODEL FILE.wav... it times transcription on the GPU instead (see bench_main).
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
#include <time.h>
#include <unistd.h>

#include "audio/mel.h"
#include "models/loader.h"
#include "nn/device.h"
#include "test_support.h"
#include "nn/cuda/backend.h"
#include "whisper/model.h"
#include "whisper/transcribe.h"

/* fp16 weights and products against float32: the largest difference relative to the largest
 * value, and the root-mean-square difference relative to the reference's. */
#define MAX_RELATIVE 0.05
#define RMS_RELATIVE 0.02

static const char *model_path(void) {
    const char *path = getenv("STENO_CUDA_TEST_MODEL");
    return path && path[0] ? path : st_test_model("ggml-base.en.bin");
}

/* Mono 16 kHz 16-bit PCM WAV samples as floats (x / 32768); NULL with a message otherwise. */
static float *read_wav(const char *path, size_t *n_samples) {
    size_t size;
    unsigned char *bytes = (unsigned char *)st_test_read_file(path, &size);
    float *samples = NULL;
    int format_ok = 0;
    if (!bytes || size < 12 || memcmp(bytes, "RIFF", 4) != 0 || memcmp(bytes + 8, "WAVE", 4) != 0) goto done;
    for (size_t at = 12; at + 8 <= size;) {
        const size_t length = (size_t)bytes[at + 4] | (size_t)bytes[at + 5] << 8 | (size_t)bytes[at + 6] << 16 |
                              (size_t)bytes[at + 7] << 24;
        const unsigned char *body = bytes + at + 8;
        if (length > size - at - 8) break;
        if (memcmp(bytes + at, "fmt ", 4) == 0 && length >= 16) {
            /* PCM (1), one channel, 16000 Hz, 16 bits a sample */
            format_ok = body[0] == 1 && body[1] == 0 && body[2] == 1 && body[3] == 0 && body[4] == 0x80 &&
                        body[5] == 0x3e && body[6] == 0 && body[7] == 0 && body[14] == 16 && body[15] == 0;
        } else if (memcmp(bytes + at, "data", 4) == 0 && format_ok) {
            *n_samples = length / 2;
            samples = malloc(sizeof(float) * (*n_samples ? *n_samples : 1));
            for (size_t i = 0; samples && i < *n_samples; i++)
                samples[i] = (float)(int16_t)(body[2 * i] | body[2 * i + 1] << 8) / 32768.0f;
            break;
        }
        at += 8 + length + (length & 1);
    }
done:
    if (!samples) fprintf(stderr, "%s: not a mono 16 kHz 16-bit PCM WAV file\n", path);
    free(bytes);
    return samples;
}

static const char *jfk_path(void) {
    static char buffer[4096];
    const char *path = st_test_path(buffer, sizeof buffer, "STENO_SOURCE_DIR", "samples/jfk.wav");
    if (!path) fail_msg("STENO_SOURCE_DIR is not set");
    return path;
}

static void compare(const char *what, const float *gpu_values, const float *cpu_values, size_t n) {
    double largest = 0, diff_squares = 0, ref_squares = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = (double)gpu_values[i] - cpu_values[i];
        if (!(fabs(diff) <= largest)) largest = isnan(diff) ? INFINITY : fabs(diff);
        diff_squares += diff * diff;
        ref_squares += (double)cpu_values[i] * cpu_values[i];
    }
    double max_ref = 0;
    for (size_t i = 0; i < n; i++)
        max_ref = fmax(max_ref, fabs((double)cpu_values[i]));
    double max_relative = largest / max_ref, rms_relative = sqrt(diff_squares / ref_squares);
    printf("%s: max |gpu - cpu| / max |cpu| = %.2e, rms relative = %.2e (%zu values)\n", what, max_relative,
           rms_relative, n);
    assert_true(max_relative < MAX_RELATIVE);
    assert_true(rms_relative < RMS_RELATIVE);
}

static int argmax(const float *values, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (values[i] > values[best]) best = i;
    return best;
}

/* The GPU's best token is the CPU's, or one the CPU scores within 0.1 of its best (a near tie
 * that halves may flip). */
static void assert_same_choice(const float *gpu_logits, const float *cpu_logits, int n_vocab) {
    int ours = argmax(gpu_logits, n_vocab), theirs = argmax(cpu_logits, n_vocab);
    if (ours != theirs) printf("argmax differs: gpu %d, cpu %d\n", ours, theirs);
    assert_true(cpu_logits[theirs] - cpu_logits[ours] < 0.1f);
}

/* One model twice, on the CPU and on the GPU, each with a state for three sequences. */
typedef struct pair {
    st_model file;
    st_whisper_model cpu, gpu;
    st_whisper_state cpu_state, gpu_state;
    int n_vocab;
} pair;

static void pair_load(pair *p) {
    st_error err;
    if (st_model_open(model_path(), &p->file, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_int_equal(st_nn_set_device(ST_NN_DEVICE_CPU, &err), STENO_OK);
    if (st_whisper_model_init(&p->cpu, &p->file, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_null(p->cpu.device);
    assert_int_equal(st_nn_set_device(0, &err), STENO_OK);
    if (st_whisper_model_init(&p->gpu, &p->file, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_non_null(p->gpu.device);
    assert_int_equal(st_nn_set_device(ST_NN_DEVICE_CPU, &err), STENO_OK);
    if (st_whisper_state_init(&p->cpu_state, &p->cpu, 3, &err) != STENO_OK) fail_msg("%s", err.message);
    if (st_whisper_state_init(&p->gpu_state, &p->gpu, 3, &err) != STENO_OK) fail_msg("%s", err.message);
    assert_non_null(p->gpu_state.device);
    p->n_vocab = p->cpu.dims.n_vocab;
}

static void pair_free(pair *p) {
    st_whisper_state_free(&p->gpu_state);
    st_whisper_state_free(&p->cpu_state);
    st_whisper_model_free(&p->gpu);
    st_whisper_model_free(&p->cpu);
    st_model_free(&p->file);
}

/* The first 30 s window of the JFK clip's log-mel, [n_mels][3000], encoded on both. */
static void pair_encode(pair *p) {
    st_error err;
    size_t n_samples;
    float *samples = read_wav(jfk_path(), &n_samples);
    assert_non_null(samples);
    st_mel_filters *filters = st_mel_filters_create(p->cpu.dims.n_mels, &err);
    assert_non_null(filters);
    st_mel mel;
    assert_int_equal(st_mel_compute(filters, samples, n_samples, ST_MEL_PADDING_30S, 2, &mel, &err), STENO_OK);
    const int frames = 2 * p->cpu.dims.n_audio_ctx;
    assert_true(mel.n_frames >= frames);
    float *window = malloc(sizeof(float) * (size_t)mel.n_mels * frames);
    assert_non_null(window);
    for (int m = 0; m < mel.n_mels; m++)
        memcpy(window + (size_t)m * frames, mel.data + (size_t)m * mel.n_frames, sizeof(float) * frames);
    assert_int_equal(st_whisper_encode(&p->cpu, &p->cpu_state, window, &err), STENO_OK);
    if (st_whisper_encode(&p->gpu, &p->gpu_state, window, &err) != STENO_OK) fail_msg("%s", err.message);
    free(window);
    st_mel_free(&mel);
    st_mel_filters_free(filters);
    free(samples);
}

static void encoder_matches_cpu(void **state) {
    (void)state;
    pair p = {0};
    pair_load(&p);
    pair_encode(&p);
    compare("encoder output", p.gpu_state.audio, p.cpu_state.audio,
            (size_t)p.cpu.dims.n_audio_ctx * p.cpu.dims.n_audio_state);
    pair_free(&p);
}

/* Runs the same decode on both and compares their logits; the CPU's go to cpu_logits (room
 * for every row the call returns). */
static void decode_both(pair *p, int n_seq, const int *tokens, int n_tokens, int n_past, st_whisper_logits which,
                        const char *what, float *cpu_logits) {
    st_error err;
    const int rows = which == ST_WHISPER_LOGITS_ALL ? n_seq * n_tokens : n_seq;
    float *gpu_logits = malloc(sizeof(float) * rows * p->n_vocab);
    assert_non_null(gpu_logits);
    assert_int_equal(st_whisper_decode_batch(&p->cpu, &p->cpu_state, n_seq, tokens, n_tokens, n_past, which, cpu_logits,
                                             &err),
                     STENO_OK);
    if (st_whisper_decode_batch(&p->gpu, &p->gpu_state, n_seq, tokens, n_tokens, n_past, which, gpu_logits, &err) !=
        STENO_OK) {
        fail_msg("%s", err.message);
    }
    compare(what, gpu_logits, cpu_logits, (size_t)rows * p->n_vocab);
    for (int r = 0; r < rows; r++)
        assert_same_choice(gpu_logits + (size_t)r * p->n_vocab, cpu_logits + (size_t)r * p->n_vocab, p->n_vocab);
    free(gpu_logits);
}

static void decoder_matches_cpu(void **state) {
    (void)state;
    pair p = {0};
    pair_load(&p);
    pair_encode(&p);
    /* English-only models start <|startoftranscript|> (50257) <|notimestamps|> (50362); a
     * multilingual one <|startoftranscript|> (50258) <|en|> <|transcribe|> <|notimestamps|>. */
    const int english_only[] = {50257, 50362}, multilingual[] = {50258, 50259, 50359, 50363};
    const int english = p.n_vocab == 51864;
    const int *prompt = english ? english_only : multilingual, n_prompt = english ? 2 : 4;
    float *logits = malloc(sizeof(float) * 4 * p.n_vocab);
    assert_non_null(logits);
    decode_both(&p, 1, prompt, n_prompt, 0, ST_WHISPER_LOGITS_ALL, "prompt, every row", logits);

    /* greedy steps, each on the CPU's choice */
    int n_past = n_prompt, token = argmax(logits + (size_t)(n_prompt - 1) * p.n_vocab, p.n_vocab);
    for (int step = 0; step < 8; step++) {
        decode_both(&p, 1, &token, 1, n_past++, ST_WHISPER_LOGITS_LAST, "greedy step", logits);
        token = argmax(logits, p.n_vocab);
    }
    st_error err;
    /* three sequences from the one decoded so far, each fed a different token */
    const int fan_out[] = {0, 0, 0};
    assert_int_equal(st_whisper_kv_reorder(&p.cpu_state, fan_out, 3, n_past, &err), STENO_OK);
    assert_int_equal(st_whisper_kv_reorder(&p.gpu_state, fan_out, 3, n_past, &err), STENO_OK);
    const int three[] = {token, 13, 11}; /* the greedy token, ".", "," */
    decode_both(&p, 3, three, 1, n_past++, ST_WHISPER_LOGITS_LAST, "three sequences", logits);
    /* a beam-search shuffle, then one more step with the cross-attention scores captured */
    const int shuffle[] = {2, 0, 0};
    assert_int_equal(st_whisper_kv_reorder(&p.cpu_state, shuffle, 3, n_past, &err), STENO_OK);
    assert_int_equal(st_whisper_kv_reorder(&p.gpu_state, shuffle, 3, n_past, &err), STENO_OK);
    const int last_layer = p.cpu.dims.n_text_layer - 1;
    const int heads[] = {0, 0, last_layer, 1, last_layer, 1};
    const size_t capture_floats = 3 * 3 * (size_t)p.cpu.dims.n_audio_ctx;
    st_whisper_capture cpu_capture = {heads, 3, calloc(capture_floats, sizeof(float)), 3, 0};
    st_whisper_capture gpu_capture = {heads, 3, calloc(capture_floats, sizeof(float)), 3, 0};
    assert_non_null(cpu_capture.scores);
    assert_non_null(gpu_capture.scores);
    p.cpu_state.capture = &cpu_capture;
    p.gpu_state.capture = &gpu_capture;
    const int next[] = {220, 262, 290};
    decode_both(&p, 3, next, 1, n_past, ST_WHISPER_LOGITS_LAST, "after reorder", logits);
    assert_int_equal(gpu_capture.n_rows, 3);
    compare("captured scores", gpu_capture.scores, cpu_capture.scores, capture_floats);
    p.cpu_state.capture = p.gpu_state.capture = NULL;
    free(cpu_capture.scores);
    free(gpu_capture.scores);
    free(logits);
    pair_free(&p);
}

/* The text of samples transcribed on device (greedy or beam search), and the seconds taken
 * after loading; NULL when anything fails (err says why). With free_bytes, the GPU's free
 * memory just before the context is freed goes there. */
static char *transcribe_on(int device, const char *model, const float *samples, size_t n_samples, int beam_size,
                           int n_threads, double *seconds, size_t *free_bytes, st_error *err) {
    if (st_nn_set_device(device, err) != STENO_OK) return NULL;
    st_whisper_context *context;
    steno_status status = st_whisper_context_load(model, 5, n_threads, &context, err);
    st_nn_set_device(ST_NN_DEVICE_CPU, NULL);
    if (status != STENO_OK) return NULL;
    st_transcribe_options options = st_transcribe_default_options();
    options.beam_size = beam_size;
    options.n_threads = n_threads;
    st_transcript transcript;
    st_transcript_init(&transcript);
    struct timespec begin, end;
    clock_gettime(CLOCK_MONOTONIC, &begin);
    status = st_transcribe(context, samples, n_samples, &options, &transcript, err);
    clock_gettime(CLOCK_MONOTONIC, &end);
    *seconds = (double)(end.tv_sec - begin.tv_sec) + (double)(end.tv_nsec - begin.tv_nsec) * 1e-9;
    char *text = status == STENO_OK ? strdup(transcript.text) : NULL;
    char name[256], message[256];
    size_t total;
    if (free_bytes && st_nn_cuda()->device_info(device, name, sizeof name, free_bytes, &total, message,
                                                sizeof message) != ST_CUDA_OK) {
        *free_bytes = 0;
    }
    st_transcript_free(&transcript);
    st_whisper_context_free(context);
    return text;
}

/* The whole pipeline on both devices gives the same text. */
static void transcripts_match_cpu(void **state) {
    (void)state;
    size_t n_samples;
    float *samples = read_wav(jfk_path(), &n_samples);
    assert_non_null(samples);
    for (int beam_size = 1; beam_size <= 5; beam_size += 4) {
        st_error err;
        double seconds;
        char *cpu_text = transcribe_on(ST_NN_DEVICE_CPU, model_path(), samples, n_samples, beam_size, 2, &seconds, NULL, &err);
        if (!cpu_text) fail_msg("%s", err.message);
        char *gpu_text = transcribe_on(0, model_path(), samples, n_samples, beam_size, 2, &seconds, NULL, &err);
        if (!gpu_text) fail_msg("%s", err.message);
        printf("beam %d: cpu:%s\n        gpu:%s\n", beam_size, cpu_text ? cpu_text : "", gpu_text ? gpu_text : "");
        assert_string_equal(gpu_text, cpu_text);
        free(cpu_text);
        free(gpu_text);
    }
    free(samples);
}

/* Device names, and what choosing a GPU that cannot be used does: a message, and the CPU. */
static void device_names_and_fallback(void **state) {
    (void)state;
    int device = -5;
    assert_int_equal(st_nn_device_from_name("cpu", &device), 0);
    assert_int_equal(device, ST_NN_DEVICE_CPU);
    assert_int_equal(st_nn_device_from_name("cuda", &device), 0);
    assert_int_equal(device, 0);
    assert_int_equal(st_nn_device_from_name("cuda:12", &device), 0);
    assert_int_equal(device, 12);
    const char *bad[] = {"gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1024", "CUDA", "cuda0", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(st_nn_device_from_name(bad[i], &device), -1);
    assert_int_equal(st_nn_device_from_name(NULL, &device), -1);
    st_error err;
    st_error_clear(&err);
    assert_int_equal(st_nn_set_device(1023, &err), STENO_ERR_UNSUPPORTED); /* no machine has 1024 GPUs */
    assert_true(strlen(err.message) > 0);
    printf("cuda:1023: %s\n", err.message);
    assert_int_equal(st_nn_get_device(), ST_NN_DEVICE_CPU);
    if (st_nn_set_device(0, &err) == STENO_OK) { /* a GPU given up for one that cannot be had: the CPU */
        assert_int_equal(st_nn_get_device(), 0);
        assert_int_equal(st_nn_set_device(1023, &err), STENO_ERR_UNSUPPORTED);
        assert_int_equal(st_nn_get_device(), ST_NN_DEVICE_CPU);
    }
}

/* The WAV reader on the JFK clip: 11 s of speech at 16 kHz; and a file that is no WAV. */
static void wav_reader(void **state) {
    (void)state;
    size_t n_samples = 0;
    float *samples = read_wav(jfk_path(), &n_samples);
    assert_non_null(samples);
    assert_int_equal(n_samples, 176000);
    double squares = 0, largest = 0;
    for (size_t i = 0; i < n_samples; i++) {
        squares += (double)samples[i] * samples[i];
        largest = fmax(largest, fabs((double)samples[i]));
    }
    assert_true(largest > 0.3 && largest <= 1.0);
    assert_true(sqrt(squares / (double)n_samples) > 0.01);
    free(samples);
    char path[4096];
    assert_non_null(st_test_path(path, sizeof path, "STENO_SOURCE_DIR", "README.md"));
    assert_null(read_wav(path, &n_samples));
}

/* --bench MODEL FILE.wav... [--repeat N]: per file (the last one also repeated N times end to
 * end, for a long recording), greedy and beam-5 wall time after loading, real-time factor, GPU
 * memory in use (the device's free memory before loading less that at the end), and whether the
 * text is the CPU's (on all of the machine's cores; not for the repeated recording, which the
 * CPU would take minutes over). */
static int bench_main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_cuda --bench MODEL FILE.wav... [--repeat N]\n");
        return 2;
    }
    int repeat = 0, n_files = argc - 3;
    if (argc >= 6 && strcmp(argv[argc - 2], "--repeat") == 0) repeat = atoi(argv[argc - 1]), n_files -= 2;
    const st_cuda_api *api;
    st_error err;
    if (st_nn_set_device(0, &err) != STENO_OK || !(api = st_nn_cuda())) {
        printf("SKIP: no GPU to bench: %s\n", err.message);
        return ST_TEST_SKIP;
    }
    st_nn_set_device(ST_NN_DEVICE_CPU, NULL);
    char name[256], message[256];
    size_t free_before, total;
    if (api->device_info(0, name, sizeof name, &free_before, &total, message, sizeof message) != ST_CUDA_OK) {
        printf("device_info: %s\n", message);
        return 1;
    }
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int threads = cores > 0 ? (int)cores : 1;
    printf("GPU: %s, %.0f MiB free of %.0f MiB; CPU comparison on %d threads\n\n", name, free_before / 1048576.0,
           total / 1048576.0, threads);
    printf("| audio | seconds | decoding | GPU wall s | RTF | GPU MiB in use | CPU wall s | same "
           "text as CPU |\n|---|---|---|---|---|---|---|---|\n");
    int failures = 0;
    for (int f = 0; f < n_files + (repeat > 1); f++) {
        const char *path = argv[3 + (f < n_files ? f : n_files - 1)];
        size_t n_samples;
        float *samples = read_wav(path, &n_samples);
        if (!samples) return 1;
        if (f == n_files) { /* the last file, repeat times over */
            float *longer = malloc(sizeof(float) * n_samples * (size_t)repeat);
            if (!longer) return 1;
            for (int i = 0; i < repeat; i++)
                memcpy(longer + (size_t)i * n_samples, samples, sizeof(float) * n_samples);
            free(samples);
            samples = longer;
            n_samples *= (size_t)repeat;
        }
        const double duration = (double)n_samples / ST_MEL_SAMPLE_RATE;
        for (int beam_size = 1; beam_size <= 5; beam_size += 4) {
            double gpu_seconds = 0, cpu_seconds = 0;
            size_t free_after = 0;
            char *gpu_text =
                transcribe_on(0, argv[2], samples, n_samples, beam_size, 2, &gpu_seconds, &free_after, &err);
            if (!gpu_text) {
                printf("%s: GPU: %s\n", path, err.message);
                return 1;
            }
            const int compare_cpu = f < n_files;
            char *cpu_text = compare_cpu ? transcribe_on(ST_NN_DEVICE_CPU, argv[2], samples, n_samples, beam_size,
                                                         threads, &cpu_seconds, NULL, &err)
                                         : NULL;
            const int same = cpu_text && strcmp(cpu_text, gpu_text) == 0;
            failures += compare_cpu && !same;
            const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
            printf("| %s%s | %.1f | %s | %.3f | %.4f | %.0f | %.2f | %s |\n", base, compare_cpu ? "" : " (repeated)",
                   duration, beam_size == 1 ? "greedy" : "beam 5", gpu_seconds, gpu_seconds / duration,
                   (double)(free_before - free_after) / 1048576.0, cpu_seconds,
                   !compare_cpu ? "not compared" : same ? "yes" : "NO");
            if (compare_cpu && !same) printf("GPU:%s\nCPU:%s\n", gpu_text, cpu_text ? cpu_text : err.message);
            free(gpu_text);
            free(cpu_text);
        }
        free(samples);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line reaches a log file even when a time limit kills us */
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) return bench_main(argc, argv);
    const char *filter = getenv("STENO_CUDA_TEST_FILTER"); /* one test by name (device-check-cuda) */
    if (filter && filter[0]) cmocka_set_test_filter(filter);
    const struct CMUnitTest everywhere[] = {cmocka_unit_test(device_names_and_fallback),
                                            cmocka_unit_test(wav_reader)};
    int failed = cmocka_run_group_tests(everywhere, NULL, NULL);
    if (failed) return failed;
    st_error err;
    if (st_nn_set_device(0, &err) != STENO_OK) {
        printf("SKIP: no GPU to test: %s\n", err.message);
        return ST_TEST_SKIP;
    }
    st_nn_set_device(ST_NN_DEVICE_CPU, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encoder_matches_cpu),
        cmocka_unit_test(decoder_matches_cpu),
        cmocka_unit_test(transcripts_match_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
