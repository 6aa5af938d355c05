/* commands.h — the subcommands of the steno CLI, each in its own file under src/cli/. */
#ifndef ST_CLI_COMMANDS_H
#define ST_CLI_COMMANDS_H

enum { ST_EXIT_OK = 0, ST_EXIT_FAILURE = 1, ST_EXIT_USAGE = 2 };

/* Each takes the arguments after the command name (argv[0] is the command). */
int st_cli_transcribe(int argc, char **argv);
int st_cli_models(int argc, char **argv);
int st_cli_diarize(int argc, char **argv);

/* The speaker-count options `diarize` and `transcribe --diarize` share (diarize.c). */
#include "diarize/diarize.h"
enum { ST_CLI_OPT_NUM_SPEAKERS = 1000, ST_CLI_OPT_MIN_SPEAKERS, ST_CLI_OPT_MAX_SPEAKERS, ST_CLI_OPT_VAD_MODEL };
/* The Silero VAD model the default diarization reads: a path, or a name the model folders
 * resolve. */
#define ST_CLI_VAD_MODEL ST_DIARIZE_VAD_MODEL
#define ST_CLI_VAD_MODEL_HELP                                                                                          \
    "      --vad-model PATH      Silero VAD ONNX file (default: silero-vad in the model folders)\n"
#define ST_CLI_SPEAKER_OPTIONS_HELP                                                                                    \
    "      --num-speakers N      the number of speakers, when known\n"                                                 \
    "      --min-speakers N      at least N speakers\n"                                                                \
    "      --max-speakers N      at most N speakers\n"
/* Sets options from one of the three; -1 when value is not a count from 1. */
int st_cli_parse_speaker_option(int option, const char *value, st_diarize_options *options);
/* Prints why and returns -1 when the bounds contradict each other. */
int st_cli_check_speaker_options(const char *command, const st_diarize_options *options);
/* Resolves vad_model and opens the default diarization; NULL after printing why. */
st_diarizer *st_cli_open_diarizer(const char *command, const char *vad_model);
/* `transcribe --diarize`: diarizes audio_path, puts speakers on the transcript's words and
 * segments (splitting segments at speaker changes; keep_words false drops the words the
 * assignment needed) and writes DIR/<name>.rttm. */
#include "output/transcript.h"
steno_status st_cli_diarize_transcript(st_diarizer *diarizer, const char *audio_path, const st_diarize_options *options,
                                       bool keep_words, const char *output_dir, st_transcript *transcript,
                                       st_error *err);
/* Writes DIR/<name>.rttm for audio_path. */
steno_status st_cli_save_rttm(const st_diarization *diarization, const char *output_dir, const char *audio_path,
                              st_error *err);

#endif
