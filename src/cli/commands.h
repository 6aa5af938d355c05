/* commands.h — the subcommands of the steno CLI, each in its own file under src/cli/. */
#ifndef ST_CLI_COMMANDS_H
#define ST_CLI_COMMANDS_H

enum { ST_EXIT_OK = 0, ST_EXIT_FAILURE = 1, ST_EXIT_USAGE = 2 };

/* Each takes the arguments after the command name (argv[0] is the command). */
int st_cli_transcribe(int argc, char **argv);
int st_cli_models(int argc, char **argv);
int st_cli_serve(int argc, char **argv);
int st_cli_diarize(int argc, char **argv);

/* Prints why and returns -1 when the speaker-count bounds contradict each other (diarize.c). */
int st_cli_check_speaker_options(const char *command, int min_speakers, int max_speakers);

/* Says on stderr ("steno COMMAND: diarizing with ...") which pipeline `--pipeline auto` took:
 * pyannote 3.1 (it costs far more than the default) and from where, or the default and why
 * pyannote was not taken. Says nothing when a pipeline was asked for by name (diarize.c). */
struct steno_diarizer;
void st_cli_announce_pipeline(const char *command, int asked_for, const struct steno_diarizer *diarizer);
/* On stderr, the default pipeline's speaker features (steno_diarizer_features). */
void st_cli_announce_features(const char *command, const struct steno_diarizer *diarizer);

#endif
