/*
 * diarize.c — `steno diarize FILE... [--num-speakers N] [--min-speakers N] [--max-speakers N]
 * [--pipeline auto|default|pyannote] [-o DIR]`: who spoke when, as one RTTM file per audio file
 * (<name>.rttm in DIR), with pyannote 3.1's recipe when the model folders hold the user's
 * pyannote/speaker-diarization-3.1 checkpoints (src/diarize/pyannote_pipeline.h, read in place),
 * else with the default pipeline (src/diarize/diarize.h), which needs no model download;
 * st_diarize_choose decides. And the helpers `transcribe --diarize` shares.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "diarize/assign.h"
#include "output/output.h"
#include "util/parse.h"

enum { OPT_NUM_SPEAKERS = 256, OPT_MIN_SPEAKERS, OPT_MAX_SPEAKERS, OPT_VAD_MODEL, OPT_PIPELINE };

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
                 "                            nets, else default; default: Silero VAD and cepstra, no\n"
                 "                            download; pyannote: pyannote 3.1's recipe, read in place\n"
                 "  -t, --threads N           CPU threads (default 2)\n");
}

int st_cli_check_speaker_options(const char *command, const st_diarize_options *options) {
    if (options->min_speakers && options->max_speakers && options->min_speakers > options->max_speakers) {
        fprintf(stderr, "steno %s: --min-speakers %d is above --max-speakers %d\n", command, options->min_speakers,
                options->max_speakers);
        return -1;
    }
    return 0;
}

/* The pipeline `pipeline` asks for, opened; NULL after printing why. A pyannote pipeline chosen
 * on its own is named on stderr: it costs far more than the default. */
static st_diarizer *open_diarizer(const char *command, st_diarize_pipeline pipeline, const char *vad_model) {
    st_error err;
    st_diarizer *diarizer = NULL;
    st_diarize_choice *choice = malloc(sizeof *choice);
    if (!choice) {
        fprintf(stderr, "steno %s: out of memory\n", command);
        return NULL;
    }
    if (st_diarize_choose(pipeline, vad_model, choice, &err) != STENO_OK ||
        st_diarizer_open_choice(choice, &diarizer, &err) != STENO_OK) {
        fprintf(stderr, "steno %s: %s\n", command, st_error_message(&err));
    } else if (pipeline == ST_DIARIZE_PIPELINE_AUTO && choice->pipeline == ST_DIARIZE_PIPELINE_PYANNOTE) {
        fprintf(stderr, "steno %s: diarizing with pyannote 3.1 from %s (--pipeline default for the built-in one)\n",
                command, choice->pyannote);
    }
    free(choice);
    return diarizer;
}

st_diarizer *st_cli_open_diarizer(const char *command, const char *vad_model) {
    return open_diarizer(command, ST_DIARIZE_PIPELINE_AUTO, vad_model);
}

/* Writes DIR/<name>.rttm, the recording named as the output file ("jfk" for a/jfk.wav). */
static steno_status save_rttm(const st_diarization *diarization, const char *output_dir, const char *output_name,
                              st_error *err) {
    st_strbuf name, text;
    st_strbuf_init(&name), st_strbuf_init(&text);
    steno_status status = st_output_path("", output_name, "rttm", &name, err);
    if (status == STENO_OK) {
        name.data[name.length - strlen(".rttm")] = '\0';
        status = st_diarization_rttm(diarization, name.data, &text, err);
    }
    if (status == STENO_OK) status = st_output_save_text(output_dir, output_name, "rttm", text.data, text.length, err);
    st_strbuf_free(&name), st_strbuf_free(&text);
    return status;
}

steno_status st_cli_diarize_transcript(st_diarizer *diarizer, const char *audio_path, const st_diarize_options *options,
                                       bool keep_words, const char *output_dir, const char *output_name,
                                       st_transcript *transcript, st_error *err) {
    st_diarization diarization;
    steno_status status = st_diarize_file(diarizer, audio_path, options, &diarization, err);
    if (status == STENO_OK) {
        status = st_diarize_assign(transcript, diarization.turns, diarization.n_turns, diarization.n_speakers,
                                   keep_words, err);
    }
    if (status == STENO_OK) status = save_rttm(&diarization, output_dir, output_name, err);
    st_diarization_free(&diarization);
    return status;
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    st_diarize_options options = st_diarize_default_options();
    options.n_threads = 2;
    const char *output_dir = ".", *vad_model = ST_DIARIZE_VAD_MODEL;
    int c;
    st_diarize_pipeline pipeline = ST_DIARIZE_PIPELINE_AUTO;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:t:h", long_options, NULL)) != -1) {
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
            vad_model = optarg;
            break;
        case OPT_PIPELINE:
            if (!strcmp(optarg, "default")) {
                pipeline = ST_DIARIZE_PIPELINE_DEFAULT;
            } else if (!strcmp(optarg, "pyannote")) {
                pipeline = ST_DIARIZE_PIPELINE_PYANNOTE;
            } else if (!strcmp(optarg, "auto")) {
                pipeline = ST_DIARIZE_PIPELINE_AUTO;
            } else {
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
    if (st_cli_check_speaker_options("diarize", &options) != 0) return ST_EXIT_USAGE;
    if (optind >= argc) {
        fprintf(stderr, "steno diarize: no audio file given\n\n");
        usage(stderr);
        return ST_EXIT_USAGE;
    }
    st_error err;
    if (st_output_prepare_dir(output_dir, &err) != STENO_OK) {
        fprintf(stderr, "steno diarize: %s\n", st_error_message(&err));
        return ST_EXIT_FAILURE;
    }
    st_diarizer *diarizer = open_diarizer("diarize", pipeline, vad_model);
    if (!diarizer) return ST_EXIT_FAILURE;
    int exit_code = ST_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        st_diarization diarization;
        steno_status status = st_diarize_file(diarizer, argv[i], &options, &diarization, &err);
        if (status == STENO_OK) status = save_rttm(&diarization, output_dir, argv[i], &err);
        if (status == STENO_OK) {
            printf("%s: %d speaker%s, %d turn%s\n", argv[i], diarization.n_speakers,
                   diarization.n_speakers == 1 ? "" : "s", diarization.n_turns, diarization.n_turns == 1 ? "" : "s");
        } else {
            /* audio errors already name the file */
            const char *message = st_error_message(&err);
            if (strstr(message, argv[i])) {
                fprintf(stderr, "steno diarize: %s\n", message);
            } else {
                fprintf(stderr, "steno diarize: %s: %s\n", argv[i], message);
            }
            exit_code = ST_EXIT_FAILURE;
        }
        st_diarization_free(&diarization);
    }
    st_diarizer_free(diarizer);
    return exit_code;
}
