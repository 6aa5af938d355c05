/*
 * pyannote.c — `pyannote [-t THREADS] [-n SPEAKERS] PIPELINE AUDIO...`: pyannote 3.1's
 * diarization (src/diarize/pyannote_pipeline.h) of each audio file as RTTM on stdout, and on
 * stderr the seconds it took against the audio's length. PIPELINE is a Hugging Face cache folder
 * holding pyannote/speaker-diarization-3.1 and its two nets (or that repository, or a folder
 * with its config.yaml). With the stand-in checkpoints of the tests (scripts/reference_pyannote.py)
 * the turns mean nothing; the timing does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/audio.h"
#include "diarize/diarize.h"
#include "diarize/pyannote_pipeline.h"
#include "nn/threads.h"
#include "util/strbuf.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int first = 1, threads = 2;
    st_pyannote_options options = {0};
    while (first + 1 < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "-t"))
            threads = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "-n"))
            options.num_speakers = atoi(argv[first + 1]);
        else
            break;
        first += 2;
    }
    if (argc - first < 2) {
        fprintf(stderr, "usage: pyannote [-t THREADS] [-n SPEAKERS] PIPELINE AUDIO...\n");
        return 2;
    }
    st_nn_set_threads(threads);
    st_error err;
    st_pyannote *pipeline;
    double t0 = now();
    if (st_pyannote_open(argv[first], &pipeline, &err) != STENO_OK) {
        fprintf(stderr, "pyannote: %s\n", st_error_message(&err));
        return 1;
    }
    fprintf(stderr, "loaded in %.2f s\n", now() - t0);
    int failed = 0;
    for (int i = first + 1; i < argc; i++) {
        st_audio audio;
        st_pyannote_result result;
        if (st_audio_decode_file(argv[i], 16000, &audio, &err) != STENO_OK) {
            fprintf(stderr, "pyannote: %s\n", st_error_message(&err));
            failed = 1;
            continue;
        }
        double start = now();
        if (st_pyannote_diarize(pipeline, audio.samples, audio.n_samples, &options, &result, &err) != STENO_OK) {
            fprintf(stderr, "pyannote: %s: %s\n", argv[i], st_error_message(&err));
            st_audio_free(&audio);
            failed = 1;
            continue;
        }
        double seconds = now() - start, length = (double)audio.n_samples / 16000;
        fprintf(stderr, "%s: %.1f s of audio diarized in %.2f s (%.3f x real time), %d speakers, %d turns\n", argv[i],
                length, seconds, seconds / length, result.n_speakers, result.n_turns);
        const char *slash = strrchr(argv[i], '/'), *name = slash ? slash + 1 : argv[i];
        const char *dot = strrchr(name, '.');
        char uri[256];
        snprintf(uri, sizeof uri, "%.*s", dot ? (int)(dot - name) : (int)strlen(name), name);
        st_diarization view = {.turns = result.turns, .n_turns = result.n_turns, .n_speakers = result.n_speakers};
        st_strbuf text;
        st_strbuf_init(&text);
        if (st_diarization_rttm(&view, uri, &text, &err) == STENO_OK && text.data) {
            fwrite(text.data, 1, text.length, stdout);
        }
        st_strbuf_free(&text);
        st_pyannote_result_free(&result);
        st_audio_free(&audio);
    }
    st_pyannote_close(pipeline);
    return failed;
}
