/*
 * diarize.c — `steno diarize FILE... [--num-speakers N] [--min-speakers N] [--max-speakers N]
 * [--pipeline auto|default|pyannote] [-m MODEL | --cepstra] [-o DIR]`: who spoke when, as one
 * RTTM file per audio file (<name>.rttm in DIR), with pyannote 3.1's recipe when the model
 * folders hold the user's pyannote/speaker-diarization-3.1 checkpoints (read in place), else
 * with the default pipeline, which needs no gated download (its speaker features: a Whisper
 * model's encoder states, base.en when the folders hold it, else cepstra); --pipeline insists on
 * one. Through steno.h's diarizer.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "steno.h"
#include "util/parse.h"

enum { OPT_NUM_SPEAKERS = 256, OPT_MIN_SPEAKERS, OPT_MAX_SPEAKERS, OPT_VAD_MODEL, OPT_PIPELINE, OPT_CEPSTRA };

/* The Whisper model whose encoder states are the default pipeline's speaker features when -m
 * is not given and the model folders hold it. */
#define DEFAULT_FEATURE_MODEL "base.en"

static void usage(FILE *out) {
    fprintf(out, "usage: steno diarize FILE... [options]\n"
                 "\n"
                 "Writes <name>.rttm (one SPEAKER line per turn, speakers SPEAKER_00, SPEAKER_01, ...).\n"
                 "\n"
                 "  -o, --output-dir DIR      where the RTTM files go, created with its parents (default .)\n"
                 "      --num-speakers N      the number of speakers, when known\n"
                 "      --min-speakers N      at least N speakers\n"
                 "      --max-speakers N      at most N speakers\n"
                 "      --vad-model PATH      Silero VAD ONNX file (default: silero-vad in the model folders)\n"
                 "      --pipeline NAME       auto (default): pyannote when the model folders (the Hugging\n"
                 "                            Face cache) hold pyannote/speaker-diarization-3.1 and its two\n"
                 "                            nets, else default; default: Silero VAD and speaker features\n"
                 "                            (below), no gated download; pyannote: pyannote 3.1's\n"
                 "                            recipe, read in place\n"
                 "  -m, --model NAME|PATH     the default pipeline's speaker features: this Whisper model's\n"
                 "                            encoder states (default " DEFAULT_FEATURE_MODEL " when the model folders\n"
                 "                            hold it, else cepstra of the signal)\n"
                 "      --cepstra             speaker features from the signal, no Whisper model\n"
                 "  -t, --threads N           CPU threads (default 2)\n");
}

int st_cli_check_speaker_options(const char *command, int min_speakers, int max_speakers) {
    if (min_speakers && max_speakers && min_speakers > max_speakers) {
        fprintf(stderr, "steno %s: --min-speakers %d is above --max-speakers %d\n", command, min_speakers,
                max_speakers);
        return -1;
    }
    return 0;
}

void st_cli_announce_pipeline(const char *command, int asked_for, const steno_diarizer *diarizer) {
    if (asked_for != STENO_DIARIZE_AUTO) return;
    if (steno_diarizer_pipeline(diarizer) == STENO_DIARIZE_PYANNOTE) {
        fprintf(stderr, "steno %s: diarizing with pyannote 3.1 from %s (--pipeline default for the built-in one)\n",
                command, steno_diarizer_source(diarizer));
    } else {
        fprintf(stderr, "steno %s: diarizing with the default pipeline (pyannote 3.1 not used: %s)\n", command,
                steno_diarizer_why_not_pyannote(diarizer));
    }
}

void st_cli_announce_features(const char *command, const steno_diarizer *diarizer) {
    if (steno_diarizer_pipeline(diarizer) == STENO_DIARIZE_DEFAULT) {
        fprintf(stderr, "steno %s: speaker features: %s\n", command, steno_diarizer_features(diarizer));
    }
}

int st_cli_diarize(int argc, char **argv) {
    static const struct option long_options[] = {
        {"output-dir", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"num-speakers", required_argument, NULL, OPT_NUM_SPEAKERS},
        {"min-speakers", required_argument, NULL, OPT_MIN_SPEAKERS},
        {"max-speakers", required_argument, NULL, OPT_MAX_SPEAKERS},
        {"vad-model", required_argument, NULL, OPT_VAD_MODEL},
        {"pipeline", required_argument, NULL, OPT_PIPELINE},
        {"model", required_argument, NULL, 'm'},
        {"cepstra", no_argument, NULL, OPT_CEPSTRA},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    steno_diarize_params options = steno_diarize_default_params();
    const char *output_dir = ".", *model = NULL;
    int cepstra = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:t:m:h", long_options, NULL)) != -1) {
        int *count = c == 't'                ? &options.n_threads
                     : c == OPT_NUM_SPEAKERS ? &options.num_speakers
                     : c == OPT_MIN_SPEAKERS ? &options.min_speakers
                     : c == OPT_MAX_SPEAKERS ? &options.max_speakers
                                             : NULL;
        if (count) {
            long value;
            if (!st_parse_long(optarg, 1, c == 't' ? 256 : 1000, &value)) {
                fprintf(stderr, "steno diarize: %s: '%s' is not a count from 1\n", argv[optind - 1], optarg);
                return ST_EXIT_USAGE;
            }
            *count = (int)value;
            continue;
        }
        switch (c) {
        case 'o':
            output_dir = optarg;
            break;
        case OPT_VAD_MODEL:
            options.vad_model = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case OPT_CEPSTRA:
            cepstra = 1;
            break;
        case OPT_PIPELINE:
            if (steno_diarize_pipeline_from_name(optarg, &options.pipeline) != 0) {
                fprintf(stderr, "steno diarize: --pipeline: '%s' is not auto, default or pyannote\n", optarg);
                return ST_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return ST_EXIT_OK;
        default:
            usage(stderr);
            return ST_EXIT_USAGE;
        }
    }
    if (st_cli_check_speaker_options("diarize", options.min_speakers, options.max_speakers) != 0) return ST_EXIT_USAGE;
    if (optind >= argc) {
        fprintf(stderr, "steno diarize: no audio file given\n\n");
        usage(stderr);
        return ST_EXIT_USAGE;
    }
    if (steno_output_prepare_dir(output_dir) != STENO_OK) {
        fprintf(stderr, "steno diarize: %s\n", steno_context_error(NULL));
        return ST_EXIT_FAILURE;
    }
    if (model && cepstra) {
        fprintf(stderr, "steno diarize: -m and --cepstra exclude each other\n");
        return ST_EXIT_USAGE;
    }
    char model_path[4096], why[2048];
    if (model) {
        options.whisper_model = model;
    } else if (!cepstra && steno_model_locate(DEFAULT_FEATURE_MODEL, model_path, sizeof model_path, why,
                                              sizeof why) == STENO_OK) {
        options.whisper_model = model_path;
    }
    steno_diarizer *diarizer;
    if (steno_diarizer_open(&options, &diarizer) != STENO_OK) {
        fprintf(stderr, "steno diarize: %s\n", steno_context_error(NULL));
        return ST_EXIT_FAILURE;
    }
    st_cli_announce_pipeline("diarize", options.pipeline, diarizer);
    st_cli_announce_features("diarize", diarizer);
    int exit_code = ST_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        steno_result *result;
        steno_status status = steno_diarize_file(diarizer, argv[i], &options, &result);
        const char *message = status == STENO_OK ? NULL : steno_diarizer_error(diarizer);
        if (status == STENO_OK) status = steno_result_save(result, STENO_FORMAT_RTTM, NULL, output_dir, argv[i]);
        if (status == STENO_OK) {
            int n_speakers = steno_result_n_speakers(result), n_turns = steno_result_n_turns(result);
            printf("%s: %d speaker%s, %d turn%s\n", argv[i], n_speakers, n_speakers == 1 ? "" : "s", n_turns,
                   n_turns == 1 ? "" : "s");
        } else {
            /* audio errors already name the file */
            if (!message) message = steno_context_error(NULL);
            if (strstr(message, argv[i])) {
                fprintf(stderr, "steno diarize: %s\n", message);
            } else {
                fprintf(stderr, "steno diarize: %s: %s\n", argv[i], message);
            }
            exit_code = ST_EXIT_FAILURE;
        }
        steno_result_free(result);
    }
    steno_diarizer_free(diarizer);
    return exit_code;
}
