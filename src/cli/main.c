/*
 * main.c — the steno command: dispatches to one subcommand per job.
 *
 *   steno transcribe | diarize | models | serve | version
 *
 * Exit codes a script can rely on: 0 success, 1 the job failed (the message says why),
 * 2 wrong usage.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "steno.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static int run_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("steno %s\n", steno_version());
    return ST_EXIT_OK;
}

static const subcommand subcommands[] = {
    {"transcribe", st_cli_transcribe, "transcribe audio files with a Whisper model"},
    {"diarize", st_cli_diarize, "who spoke when: an RTTM file per audio file (steno diarize --help)"},
    {"models", st_cli_models, "check, list, pull and remove models (steno models --help)"},
    {"serve", st_cli_serve, "run the OpenAI-compatible HTTP API and web page (steno serve --help)"},
    {"version", run_version, "print the version"},
};

static void print_usage(FILE *out) {
    fprintf(out, "usage: steno <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        fprintf(out, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
    }
    fprintf(out, "\n'steno <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return ST_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return ST_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) return run_version(0, NULL);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "steno: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return ST_EXIT_USAGE;
}
