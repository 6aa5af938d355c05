/*
 * use_api.c — a program a library user would write, built against only the installed steno.h
 * and libsteno (install_check.sh): transcribes samples/jfk.wav with word times, lists the models,
 * renders srt, and cancels a longer job after its first window.
 * Usage: use_api JFK_WAV. Exit 77 when the base.en model is not in the model folders.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <steno.h>

#define CHECK(condition)                                                                                               \
    do {                                                                                                               \
        if (!(condition)) {                                                                                            \
            fprintf(stderr, "use_api: line %d: %s failed\n", __LINE__, #condition);                                   \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The 16-bit samples of a canonical 44-byte-header mono 16 kHz WAV file, as floats. */
static float *read_wav(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    CHECK(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    CHECK(size > 44);
    fseek(f, 44, SEEK_SET);
    *n = (size_t)(size - 44) / 2;
    int16_t *raw = malloc(*n * sizeof *raw);
    float *samples = malloc(*n * sizeof *samples);
    CHECK(raw && samples && fread(raw, sizeof *raw, *n, f) == *n);
    for (size_t i = 0; i < *n; i++)
        samples[i] = raw[i] / 32768.0f;
    free(raw);
    fclose(f);
    return samples;
}

typedef struct job {
    int windows_asked, segments, stop_after;
    double last_done, total;
} job;

static int on_segment(void *user, const steno_segment_info *segment) {
    (void)segment;
    ((job *)user)->segments++;
    return 0;
}

static void on_progress(void *user, double done, double total) {
    job *j = user;
    CHECK(done >= j->last_done && done <= total + 1e-6);
    j->last_done = done, j->total = total;
}

static int should_stop(void *user) {
    job *j = user;
    return ++j->windows_asked > j->stop_after;
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    char model[4096];
    if (steno_model_resolve("base.en", model, sizeof model) != STENO_OK) {
        fprintf(stderr, "use_api: skipped: %s\n", steno_context_error(NULL));
        return 77;
    }
    steno_context *context;
    CHECK(steno_context_open(model, NULL, &context) == STENO_OK);
    CHECK(!steno_context_is_multilingual(context));

    /* the transcript, word by word with times */
    steno_transcribe_params p = steno_transcribe_default_params();
    p.word_timestamps = 1;
    job j = {.stop_after = 1000};
    p.on_segment = on_segment, p.on_progress = on_progress, p.should_stop = should_stop, p.user = &j;
    steno_result *result;
    CHECK(steno_transcribe_file(context, argv[1], &p, &result) == STENO_OK);
    printf("text:%s\n", steno_result_text(result));
    CHECK(strstr(steno_result_text(result), "ask not what your country can do for you"));
    CHECK(strcmp(steno_result_language(result), "en") == 0);
    CHECK(steno_result_duration(result) > 10.9 && steno_result_duration(result) < 11.1);
    CHECK(j.segments == steno_result_n_segments(result) && j.segments >= 1 && j.total > 10.9);
    int n_words = 0, saw_americans = 0;
    double previous = 0;
    for (int s = 0; s < steno_result_n_segments(result); s++) {
        steno_segment_info segment = steno_result_segment(result, s);
        for (int w = 0; w < segment.n_words; w++, n_words++) {
            steno_word_info word = steno_result_word(result, s, w);
            CHECK(word.start >= previous - 1e-9 && word.end >= word.start && word.end <= 11.1);
            previous = word.start;
            if (strstr(word.text, "Americans")) {
                saw_americans = 1;
                printf("word:%s %.2f-%.2f\n", word.text, word.start, word.end);
                CHECK(word.start > 1.0 && word.end < 2.5); /* "And so my fellow Americans" fills the first 2 s */
            }
        }
    }
    CHECK(n_words >= 20 && saw_americans);

    /* srt */
    char *srt = steno_result_render(result, STENO_FORMAT_SRT);
    CHECK(srt && strncmp(srt, "1\n00:00:00,000 --> 00:00:", 25) == 0 && strstr(srt, "fellow Americans"));
    steno_free(srt);
    steno_format format;
    CHECK(steno_format_from_name("vtt", &format) == 0 && format == STENO_FORMAT_VTT);
    CHECK(steno_result_render(result, STENO_FORMAT_RTTM) == NULL); /* no speakers asked for */
    steno_result_free(result);

    /* the models here */
    steno_store *store;
    CHECK(steno_store_open(NULL, &store) == STENO_OK);
    const char *names[64];
    int n = steno_store_whisper_models(store, names, 64), has_base_en = 0;
    for (int i = 0; i < n; i++)
        has_base_en |= !strcmp(names[i], "base.en");
    CHECK(has_base_en && steno_model_is_known("base.en") && !steno_model_is_known("no-such-model"));
    FILE *listing = tmpfile();
    CHECK(listing && steno_store_list(store, STENO_REPORT_JSON, listing, stderr) == STENO_OK);
    char text[1 << 16];
    rewind(listing);
    size_t length = fread(text, 1, sizeof text - 1, listing);
    text[length] = '\0';
    CHECK(strstr(text, "\"name\": \"base.en\""));
    fclose(listing);
    steno_store_free(store);

    /* cancellation: 44 s of audio is two windows; stopping after the first leaves the second
     * undecoded */
    size_t n_samples;
    float *once = read_wav(argv[1], &n_samples);
    float *four = malloc(4 * n_samples * sizeof *four);
    CHECK(four);
    for (int k = 0; k < 4; k++)
        memcpy(four + k * n_samples, once, n_samples * sizeof *once);
    j = (job){.stop_after = 1};
    p.word_timestamps = 0, p.beam_size = 1;
    CHECK(steno_transcribe_pcm(context, four, 4 * n_samples, &p, &result) == STENO_ERR_CANCELLED && !result);
    CHECK(j.windows_asked == 2 && j.segments >= 1 && j.last_done < j.total);
    printf("cancelled after %.1f of %.1f s, %d segments\n", j.last_done, j.total, j.segments);
    free(once), free(four);
    steno_context_free(context);
    puts("use_api: ok");
    return 0;
}
