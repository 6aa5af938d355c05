/*
 * diarize.c — `steno diarize FILE... [--num-speakers N] [--min-speakers N] [--max-speakers N]
 * [-o DIR]`: who spoke when, as one RTTM file per audio file (<name>.rttm in DIR), with the
 * default pipeline (src/diarize/diarize.h), which needs no model download.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "diarize/assign.h"
#include "diarize/diarize.h"
#include "output/output.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: steno diarize FILE... [options]\n"
            "\n"
            "Writes <name>.rttm (one SPEAKER line per turn, speakers SPEAKER_00, SPEAKER_01, ...).\n"
            "\n"
            "  -o, --output-dir DIR      where the RTTM files go (default .)\n"
            "%s"
            "%s"
            "  -t, --threads N           CPU threads (default 2)\n",
            ST_CLI_SPEAKER_OPTIONS_HELP, ST_CLI_VAD_MODEL_HELP);
}

int st_cli_parse_speaker_option(int option, const char *value, st_diarize_options *options) {
    char *end;
    errno = 0;
    long n = strtol(value, &end, 10);
    if (errno || end == value || *end || n < 1 || n > 1000) return -1;
    switch (option) {
    case ST_CLI_OPT_NUM_SPEAKERS:
        options->num_speakers = (int)n;
        return 0;
    case ST_CLI_OPT_MIN_SPEAKERS:
        options->min_speakers = (int)n;
        return 0;
    case ST_CLI_OPT_MAX_SPEAKERS:
        options->max_speakers = (int)n;
        return 0;
    default:
        return -1;
    }
}

int st_cli_check_speaker_options(const char *command, const st_diarize_options *options) {
    if (options->min_speakers && options->max_speakers && options->min_speakers > options->max_speakers) {
        fprintf(stderr, "steno %s: --min-speakers %d is above --max-speakers %d\n", command, options->min_speakers,
                options->max_speakers);
        return -1;
    }
    return 0;
}

st_diarizer *st_cli_open_diarizer(const char *command, const char *vad_model) {
    st_error err;
    st_diarizer *diarizer = NULL;
    if (st_diarizer_open(vad_model, &diarizer, &err) != STENO_OK) {
        fprintf(stderr, "steno %s: %s\n", command, st_error_message(&err));
    }
    return diarizer;
}

steno_status st_cli_diarize_transcript(st_diarizer *diarizer, const char *audio_path, const st_diarize_options *options,
                                       bool keep_words, const char *output_dir, st_transcript *transcript,
                                       st_error *err) {
    st_diarization diarization;
    steno_status status = st_diarize_file(diarizer, audio_path, options, &diarization, err);
    if (status == STENO_OK) {
        status = st_diarize_assign(transcript, diarization.turns, diarization.n_turns, diarization.n_speakers,
                                   keep_words, err);
    }
    if (status == STENO_OK) status = st_cli_save_rttm(&diarization, output_dir, audio_path, err);
    st_diarization_free(&diarization);
    return status;
}

steno_status st_cli_save_rttm(const st_diarization *diarization, const char *output_dir, const char *audio_path,
                              st_error *err) {
    /* the recording's name in the RTTM is the output file's base name, "jfk" for a/jfk.wav */
    st_strbuf name, text;
    st_strbuf_init(&name), st_strbuf_init(&text);
    steno_status status = st_output_path("", audio_path, "rttm", &name, err);
    if (status == STENO_OK) {
        name.data[name.length - strlen(".rttm")] = '\0';
        status = st_diarization_rttm(diarization, name.data, &text, err);
    }
    if (status == STENO_OK) {
        status = st_output_save_text(output_dir, audio_path, "rttm", text.data ? text.data : "", text.length, err);
    }
    st_strbuf_free(&name), st_strbuf_free(&text);
    return status;
}

int st_cli_diarize(int argc, char **argv) {
    static const struct option long_options[] = {
        {"output-dir", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"num-speakers", required_argument, NULL, ST_CLI_OPT_NUM_SPEAKERS},
        {"min-speakers", required_argument, NULL, ST_CLI_OPT_MIN_SPEAKERS},
        {"max-speakers", required_argument, NULL, ST_CLI_OPT_MAX_SPEAKERS},
        {"vad-model", required_argument, NULL, ST_CLI_OPT_VAD_MODEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    st_diarize_options options = st_diarize_default_options();
    options.n_threads = 2;
    const char *output_dir = ".", *vad_model = ST_CLI_VAD_MODEL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:t:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'o':
            output_dir = optarg;
            break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (end == optarg || *end || n < 1 || n > 256) {
                fprintf(stderr, "steno diarize: invalid value '%s' for --threads\n", optarg);
                return ST_EXIT_USAGE;
            }
            options.n_threads = (int)n;
            break;
        }
        case ST_CLI_OPT_NUM_SPEAKERS:
        case ST_CLI_OPT_MIN_SPEAKERS:
        case ST_CLI_OPT_MAX_SPEAKERS:
            if (st_cli_parse_speaker_option(c, optarg, &options) != 0) {
                fprintf(stderr, "steno diarize: invalid value '%s' for %s (a count from 1)\n", optarg,
                        argv[optind - 1]);
                return ST_EXIT_USAGE;
            }
            break;
        case ST_CLI_OPT_VAD_MODEL:
            vad_model = optarg;
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
    struct stat st;
    if (stat(output_dir, &st) != 0 && mkdir(output_dir, 0777) != 0) {
        fprintf(stderr, "steno diarize: cannot create output directory %s: %s\n", output_dir, strerror(errno));
        return ST_EXIT_FAILURE;
    }
    st_diarizer *diarizer = st_cli_open_diarizer("diarize", vad_model);
    if (!diarizer) return ST_EXIT_FAILURE;
    int exit_code = ST_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        st_diarization diarization;
        st_error err;
        steno_status status = st_diarize_file(diarizer, argv[i], &options, &diarization, &err);
        if (status == STENO_OK) status = st_cli_save_rttm(&diarization, output_dir, argv[i], &err);
        if (status == STENO_OK) {
            printf("%s: %d speaker%s, %d turn%s\n", argv[i], diarization.n_speakers,
                   diarization.n_speakers == 1 ? "" : "s", diarization.n_turns, diarization.n_turns == 1 ? "" : "s");
        } else {
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
