/* commands.h — the subcommands of the steno CLI, each in its own file under src/cli/. */
#ifndef ST_CLI_COMMANDS_H
#define ST_CLI_COMMANDS_H

enum { ST_EXIT_OK = 0, ST_EXIT_FAILURE = 1, ST_EXIT_USAGE = 2 };

/* Each takes the arguments after the command name (argv[0] is the command). */
int st_cli_transcribe(int argc, char **argv);
int st_cli_models(int argc, char **argv);
int st_cli_serve(int argc, char **argv);
int st_cli_diarize(int argc, char **argv);

/* Diarization for `diarize` and `transcribe --diarize` (diarize.c). */
#include "diarize/diarize.h"
#include "output/transcript.h"
/* Prints why and returns -1 when the speaker-count bounds contradict each other. */
int st_cli_check_speaker_options(const char *command, const st_diarize_options *options);
/* Opens the diarization st_diarize_choose picks (pyannote when its checkpoints are in the model
 * folders, else the default with a Silero VAD file or model name); NULL after printing why. */
st_diarizer *st_cli_open_diarizer(const char *command, const char *vad_model);
/* `transcribe --diarize`: diarizes audio_path, puts speakers on the transcript's words and
 * segments (splitting segments at speaker changes; keep_words false drops the words the
 * assignment needed) and writes DIR/<output_name less extension>.rttm. */
steno_status st_cli_diarize_transcript(st_diarizer *diarizer, const char *audio_path, const st_diarize_options *options,
                                       bool keep_words, const char *output_dir, const char *output_name,
                                       st_transcript *transcript, st_error *err);

#endif
