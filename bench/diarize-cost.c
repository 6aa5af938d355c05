/*
 * diarize-cost.c — what diarization adds to a transcription, timed inside one process (so that
 * process start and model loading, which a diarized transcription pays once, stay out of it).
 * Each round, on the audio given:
 *   1. transcribes it on a context of its own (beam 5, the command line's default);
 *   2. the same with word timestamps, which `transcribe --diarize` turns on (speakers are
 *      placed word by word);
 *   3. diarizes it with the default pipeline on a second context of the same model, the
 *      encoder states borrowed from it (st_diarize_options.whisper, as `transcribe --diarize`);
 *   4. transcribes it there with word timestamps: its first window resumes after the blocks
 *      the diarization ran.
 * Wall and process CPU time of each part, per round and the medians, and two shares of the
 * wall time: diarization's, (3 + 4 - 2) / 2, and all that `--diarize` adds, (3 + 4 - 1) / 1.
 *
 *   speed-steno-diarize MODEL VAD_MODEL AUDIO [THREADS] [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "audio/audio.h"
#include "diarize/diarize.h"
#include "diarize/speech.h"
#include "whisper/transcribe.h"

#include "clocks.h"

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n) {
    qsort(values, (size_t)n, sizeof *values, compare_doubles);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

enum { MAX_ROUNDS = 64, PARTS = 4 };

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: speed-steno-diarize MODEL VAD_MODEL AUDIO [THREADS] [ROUNDS]\n");
        return 2;
    }
    const int threads = argc > 4 ? atoi(argv[4]) : 2, rounds = argc > 5 ? atoi(argv[5]) : 5;
    if (threads < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "speed-steno-diarize: THREADS >= 1, ROUNDS 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    st_error err;
    st_audio audio = {0};
    st_whisper_context *plain = NULL, *diarized = NULL;
    st_diarizer *diarizer = NULL;
    st_diarize_choice choice;
    if (st_audio_decode_file(argv[3], ST_DIARIZE_SAMPLE_RATE, &audio, &err) != STENO_OK ||
        st_whisper_context_load(argv[1], 5, threads, &plain, &err) != STENO_OK ||
        st_whisper_context_share(plain, 5, &diarized, &err) != STENO_OK ||
        st_diarize_choose(ST_DIARIZE_PIPELINE_DEFAULT, argv[2], &choice, &err) != STENO_OK ||
        st_diarizer_open_choice(&choice, &diarizer, &err) != STENO_OK) {
        fprintf(stderr, "speed-steno-diarize: %s\n", st_error_message(&err));
        return 1;
    }
    st_transcribe_options options[2] = {st_transcribe_default_options(), st_transcribe_default_options()};
    options[0].n_threads = options[1].n_threads = threads;
    options[1].word_timestamps = 1;
    st_diarize_options diarize = st_diarize_default_options();
    diarize.n_threads = threads, diarize.whisper = diarized;
    static const char *names[PARTS] = {"1 transcription", "2 with word timestamps", "3 diarization",
                                       "4 transcription after it, with word timestamps"};
    double wall[PARTS][MAX_ROUNDS], cpu[PARTS][MAX_ROUNDS], diarization[MAX_ROUNDS], added[MAX_ROUNDS];
    printf("%s, %.1f s, %d threads, %d rounds; parts 1-4 as wall / CPU seconds\n", argv[3],
           (double)audio.n_samples / ST_DIARIZE_SAMPLE_RATE, threads, rounds);
    int failed = 0;
    for (int r = 0; r < rounds && !failed; r++) {
        st_transcript transcripts[3];
        st_diarization d = {0};
        clocks t[PARTS];
        for (int p = 0; p < PARTS && !failed; p++) {
            clocks start = now();
            if (p == 2) {
                failed = st_diarize_pcm(diarizer, audio.samples, audio.n_samples, &diarize, &d, &err) != STENO_OK;
            } else {
                st_transcript *out = &transcripts[p < 2 ? p : 2];
                st_transcript_init(out);
                failed = st_transcribe(p < 2 ? plain : diarized, audio.samples, audio.n_samples,
                                       &options[p < 1 ? 0 : 1], out, &err) != STENO_OK;
            }
            t[p] = since(start);
        }
        if (failed) break;
        diarization[r] = (t[2].wall + t[3].wall - t[1].wall) / t[1].wall;
        added[r] = (t[2].wall + t[3].wall - t[0].wall) / t[0].wall;
        printf("round %d:", r + 1);
        for (int p = 0; p < PARTS; p++) {
            wall[p][r] = t[p].wall, cpu[p][r] = t[p].cpu;
            printf("  %.3f / %.3f", t[p].wall, t[p].cpu);
        }
        printf("  diarization %+.1f %%, --diarize %+.1f %% (%d speakers)\n", 100 * diarization[r], 100 * added[r],
               d.n_speakers);
        st_diarization_free(&d);
        for (int i = 0; i < 3; i++)
            st_transcript_free(&transcripts[i]);
    }
    if (failed) {
        fprintf(stderr, "speed-steno-diarize: %s\n", st_error_message(&err));
    } else {
        for (int p = 0; p < PARTS; p++)
            printf("median %s: %.3f s wall, %.3f s CPU\n", names[p], median(wall[p], rounds), median(cpu[p], rounds));
        printf("median share: diarization %+.1f %% of the transcription with word timestamps; all that --diarize "
               "adds %+.1f %% of the plain transcription\n",
               100 * median(diarization, rounds), 100 * median(added, rounds));
    }
    st_diarizer_free(diarizer);
    st_whisper_context_free(diarized);
    st_whisper_context_free(plain);
    st_audio_free(&audio);
    return failed;
}
