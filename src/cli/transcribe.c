/*
 * transcribe.c — `steno transcribe FILE... [options]`: openai-whisper's command line.
 *
 * Prints each segment as it is decoded ("[00:00.000 --> 00:11.000]  text" like
 * `whisper --verbose True`), shows a progress bar on a terminal, and writes the output files
 * named after each audio file into the output directory.
 *
 * Every option is one row of `option_table`: its names, its kind, the range a number must lie
 * in, and its help line. Parsing, validation (finite, in range, the option's name and range in
 * the message, exit 2), the --help text and openai-whisper's spellings (`--beam_size` for
 * `--beam-size`: every name with '_' for '-') all come from the table; a new option is a new
 * row and a field of `settings`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "steno.h"
#include "util/parse.h"

/* ---- the options --------------------------------------------------------------------------- */

/* What the command line sets, before it becomes steno_transcribe_params and steno_render_params. */
typedef struct settings {
    const char *model, *language, *task, *formats, *output_dir, *initial_prompt, *prepend, *append;
    int threads, beam_size, best_of, batch_size, condition_on_previous_text, without_timestamps, word_timestamps;
    int highlight_words, max_line_width, max_line_count, max_words_per_line, quiet, fp16, language_per_window;
    double patience, temperature, increment, no_speech_threshold, logprob_threshold, compression_ratio_threshold;
    double hallucination_silence_threshold; /* < 0: not given */
    const char *vad_model, *compute_type, *device, *pipeline;
    int vad, vad_min_silence_ms;
    double vad_threshold;
    int diarize, num_speakers, min_speakers, max_speakers;
} settings;

typedef enum option_kind {
    KIND_TEXT,          /* const char * */
    KIND_INT,           /* int in [low, high] */
    KIND_NUMBER,        /* double in [low, high], finite */
    KIND_BOOL,          /* int: true/false, True/False, 1/0 */
    KIND_OPTIONAL_BOOL, /* the same, the value optional (openai's "--word_timestamps True" too) */
    KIND_FLAG,          /* int set to 1, no value */
} option_kind;

typedef struct option_spec {
    const char *name; /* long name; the '_' spelling is accepted as well */
    char short_name;  /* 0: none */
    option_kind kind;
    size_t offset; /* of the field in settings */
    double low, high;
    const char *value, *help; /* metavariable and help line for --help */
} option_spec;

#define FIELD(name) offsetof(settings, name)
/* Beam size and best-of size the decoder's caches; 16 hypotheses of large-v3 take ~2 GB. */
#define MAX_HYPOTHESES 16

static const option_spec option_table[] = {
    {"model", 'm', KIND_TEXT, FIELD(model), 0, 0, "NAME|PATH",
     "model name (tiny, base.en, ...) or a model file or folder (default base.en)"},
    {"language", 'l', KIND_TEXT, FIELD(language), 0, 0, "LANG",
     "spoken language, a code or a name (en, Russian); default: detect (English for .en models)"},
    {"language-per-window", 0, KIND_FLAG, FIELD(language_per_window), 0, 0, NULL,
     "detect the language on every 30 s window, not only the first (json: each segment's language)"},
    {"task", 0, KIND_TEXT, FIELD(task), 0, 0, "TASK", "transcribe or translate (to English)"},
    {"output-format", 'f', KIND_TEXT, FIELD(formats), 0, 0, "F",
     "txt, vtt, srt, tsv, json or all; a comma list (default all)"},
    {"output-dir", 'o', KIND_TEXT, FIELD(output_dir), 0, 0, "DIR",
     "where output files go, created with its parents (default .)"},
    {"compute-type", 0, KIND_TEXT, FIELD(compute_type), 0, 0, "TYPE",
     "auto|fp32|int8|bf16: auto is the fastest that keeps the WER (float models quantized to int8 on AVX-512 VNNI or "
     "AVX2 CPUs, int8 files in integers, float32 otherwise); fp32 is openai-whisper's numerics; int8 quantizes every "
     "layer; bf16 rounds every layer's weights to bfloat16, summed in float32 (AVX512_BF16; CPUs without it run it "
     "more slowly, in AVX2 or C) (default auto)"},
    {"device", 0, KIND_TEXT, FIELD(device), 0, 0, "DEV",
     "cpu, cuda or cuda:N: run the network on that GPU (fp16), or on the CPU with a message when it cannot be used "
     "(default cpu)"},
    {"threads", 't', KIND_INT, FIELD(threads), 1, 256, "N", "CPU threads (default 2)"},
    {"beam-size", 0, KIND_INT, FIELD(beam_size), 1, MAX_HYPOTHESES, "N", "beam width at temperature 0 (default 5)"},
    {"best-of", 0, KIND_INT, FIELD(best_of), 1, MAX_HYPOTHESES, "N", "samples at temperature > 0 (default 5)"},
    {"batch-size", 0, KIND_INT, FIELD(batch_size), 0, STENO_MAX_BATCH_SIZE, "N",
     "decode N independent chunks of at most 30 s together (cut at pauses with --vad), like faster-whisper's "
     "batched pipeline: faster on long audio, no text carried between chunks (default 0: sequential)"},
    {"patience", 0, KIND_NUMBER, FIELD(patience), 0.01, 10, "X", "beam search patience (default 1.0)"},
    {"temperature", 0, KIND_NUMBER, FIELD(temperature), 0, 10, "T", "initial temperature (default 0)"},
    {"temperature-increment-on-fallback", 0, KIND_NUMBER, FIELD(increment), 0, 10, "X",
     "added on each fallback up to 1.0 (default 0.2; 0 disables fallback)"},
    {"initial-prompt", 0, KIND_TEXT, FIELD(initial_prompt), 0, 0, "TEXT", "text to condition the first window on"},
    {"condition-on-previous-text", 0, KIND_BOOL, FIELD(condition_on_previous_text), 0, 0, "BOOL",
     "feed each window's text to the next (default true)"},
    {"no-speech-threshold", 0, KIND_NUMBER, FIELD(no_speech_threshold), 0, 1, "X",
     "silence when no-speech probability is above this... (default 0.6)"},
    {"logprob-threshold", 0, KIND_NUMBER, FIELD(logprob_threshold), -1000, 0, "X",
     "...and the average log probability below this (default -1.0)"},
    {"compression-ratio-threshold", 0, KIND_NUMBER, FIELD(compression_ratio_threshold), 0, 1000, "X",
     "fall back when gzip compresses the text more than this (default 2.4)"},
    {"without-timestamps", 0, KIND_FLAG, FIELD(without_timestamps), 0, 0, NULL, "decode text only"},
    {"word-timestamps", 0, KIND_OPTIONAL_BOOL, FIELD(word_timestamps), 0, 0, "[BOOL]",
     "word-level timestamps (default false)"},
    {"prepend-punctuations", 0, KIND_TEXT, FIELD(prepend), 0, 0, "S", "merged into the next word"},
    {"append-punctuations", 0, KIND_TEXT, FIELD(append), 0, 0, "S", "merged into the previous word"},
    {"highlight-words", 0, KIND_BOOL, FIELD(highlight_words), 0, 0, "BOOL",
     "underline each word as spoken in srt and vtt"},
    {"max-line-width", 0, KIND_INT, FIELD(max_line_width), 1, 100000, "N",
     "characters per subtitle line (needs word timestamps)"},
    {"max-line-count", 0, KIND_INT, FIELD(max_line_count), 1, 100000, "N",
     "lines per subtitle (needs --max-line-width)"},
    {"max-words-per-line", 0, KIND_INT, FIELD(max_words_per_line), 1, 100000, "N",
     "words per subtitle (without --max-line-width)"},
    {"hallucination-silence-threshold", 0, KIND_NUMBER, FIELD(hallucination_silence_threshold), 0, 86400, "X",
     "skip silences longer than X s around suspected hallucinations (needs word timestamps)"},
    {"vad", 0, KIND_OPTIONAL_BOOL, FIELD(vad), 0, 0, "[BOOL]",
     "transcribe only the speech Silero VAD finds, like faster-whisper's vad_filter (default false)"},
    {"vad-model", 0, KIND_TEXT, FIELD(vad_model), 0, 0, "PATH",
     "Silero VAD ONNX file for --vad and --diarize (default: silero-vad in the model folders)"},
    {"vad-threshold", 0, KIND_NUMBER, FIELD(vad_threshold), 0, 1, "X", "speech probability threshold (default 0.5)"},
    {"vad-min-silence-ms", 0, KIND_INT, FIELD(vad_min_silence_ms), 0, 3600000, "N",
     "silence that ends a speech span (default 2000)"},
    {"fp16", 0, KIND_BOOL, FIELD(fp16), 0, 0, "BOOL", "accepted for openai-whisper's command line; ignored on the CPU"},
    {"diarize", 0, KIND_FLAG, FIELD(diarize), 0, 0, NULL,
     "who speaks: speakers on segments (and words), [SPEAKER_00]: prefixes, an .rttm file"},
    {"pipeline", 0, KIND_TEXT, FIELD(pipeline), 0, 0, "NAME",
     "with --diarize: auto (pyannote 3.1 if its checkpoints are found, else default; said on stderr), "
     "default or pyannote"},
    {"num-speakers", 0, KIND_INT, FIELD(num_speakers), 1, 1000, "N", "with --diarize: the number of speakers"},
    {"min-speakers", 0, KIND_INT, FIELD(min_speakers), 1, 1000, "N", "with --diarize: at least N speakers"},
    {"max-speakers", 0, KIND_INT, FIELD(max_speakers), 1, 1000, "N", "with --diarize: at most N speakers"},
    {"quiet", 'q', KIND_FLAG, FIELD(quiet), 0, 0, NULL, "print no segments"},
};
enum { N_OPTIONS = sizeof option_table / sizeof option_table[0], OPTION_HELP = N_OPTIONS };

static void usage(FILE *out) {
    fprintf(out, "usage: steno transcribe FILE... [options]\n\n"
                 "FILE may be '-' (standard input), /dev/stdin or a pipe: read once, into a temporary file.\n\n");
    for (int i = 0; i < N_OPTIONS; i++) {
        const option_spec *o = &option_table[i];
        char left[64];
        snprintf(left, sizeof left, "%c%c%s --%s %s", o->short_name ? '-' : ' ', o->short_name ? o->short_name : ' ',
                 o->short_name ? "," : " ", o->name, o->value ? o->value : "");
        if (strlen(left) > 28) {
            fprintf(out, "  %s\n  %-28s %s", left, "", o->help);
        } else {
            fprintf(out, "  %-28s %s", left, o->help);
        }
        if (o->kind == KIND_INT || o->kind == KIND_NUMBER) fprintf(out, " [%g..%g]", o->low, o->high);
        fputc('\n', out);
    }
    fprintf(out, "  -h, --help\n\n"
                 "openai-whisper's spellings work too (--output_dir, --beam_size, --word_timestamps True).\n"
                 "A model name resolves to its first usable copy, in any format, in the model folders\n"
                 "`steno models check` lists (in lookup order); `steno models pull NAME` downloads one.\n");
}

/* One option's value into its field; on a bad value, the message names the option and what it
 * takes. Returns 0 on a bad value. */
static int set_option(const option_spec *o, const char *value, settings *s) {
    void *field = (char *)s + o->offset;
    char *end;
    double v;
    switch (o->kind) {
    case KIND_TEXT:
        *(const char **)field = value;
        return 1;
    case KIND_FLAG:
        *(int *)field = 1;
        return 1;
    case KIND_OPTIONAL_BOOL:
        if (!value) return *(int *)field = 1, 1;
        /* fall through */
    case KIND_BOOL:
        if (st_parse_bool(value, (int *)field)) return 1;
        fprintf(stderr, "steno transcribe: --%s: '%s' is not true or false\n", o->name, value);
        return 0;
    case KIND_INT:
    case KIND_NUMBER:
        errno = 0;
        v = strtod(value, &end);
        if (end == value || *end || errno == ERANGE || !isfinite(v)) {
            fprintf(stderr, "steno transcribe: --%s: '%s' is not a finite number (%s from %g to %g)\n", o->name, value,
                    o->kind == KIND_INT ? "an integer" : "a number", o->low, o->high);
            return 0;
        }
        if (v < o->low || v > o->high || (o->kind == KIND_INT && v != floor(v))) {
            fprintf(stderr, "steno transcribe: --%s: %s is out of range: %s from %g to %g\n", o->name, value,
                    o->kind == KIND_INT ? "an integer" : "a number", o->low, o->high);
            return 0;
        }
        if (o->kind == KIND_INT)
            *(int *)field = (int)v;
        else
            *(double *)field = v;
        return 1;
    }
    return 0;
}

/* Parses argv into s from the table. Returns -1 to go on, else the exit code (help, bad usage);
 * *first_file receives the index of the first operand. */
static int parse_options(int argc, char **argv, settings *s, int *first_file) {
    struct option long_options[2 * N_OPTIONS + 2];
    char names[N_OPTIONS][64], short_options[2 * N_OPTIONS + 4] = "";
    int n = 0;
    for (int i = 0; i < N_OPTIONS; i++) {
        const option_spec *o = &option_table[i];
        int has_arg = o->kind == KIND_FLAG            ? no_argument
                      : o->kind == KIND_OPTIONAL_BOOL ? optional_argument
                                                      : required_argument;
        long_options[n++] = (struct option){o->name, has_arg, NULL, i};
        snprintf(names[i], sizeof names[i], "%s", o->name);
        for (char *p = names[i]; *p; p++)
            if (*p == '-') *p = '_';
        if (strcmp(names[i], o->name) != 0) long_options[n++] = (struct option){names[i], has_arg, NULL, i};
        if (o->short_name) {
            size_t length = strlen(short_options);
            short_options[length] = o->short_name;
            short_options[length + 1] = has_arg == required_argument ? ':' : '\0';
            short_options[length + 2] = '\0';
        }
    }
    long_options[n++] = (struct option){"help", no_argument, NULL, OPTION_HELP};
    long_options[n] = (struct option){NULL, 0, NULL, 0};
    strcat(short_options, "h");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
        int index = c >= 0 && c < N_OPTIONS ? c : -1;
        for (int i = 0; i < N_OPTIONS && index < 0; i++) {
            if (option_table[i].short_name && option_table[i].short_name == c) index = i;
        }
        if (c == 'h' || c == OPTION_HELP) {
            usage(stdout);
            return ST_EXIT_OK;
        }
        if (index < 0) {
            usage(stderr);
            return ST_EXIT_USAGE;
        }
        const char *value = optarg;
        /* openai's "--word_timestamps True": the value as the next word, when it is a boolean */
        int ignored;
        if (option_table[index].kind == KIND_OPTIONAL_BOOL && !value && optind < argc &&
            st_parse_bool(argv[optind], &ignored)) {
            value = argv[optind++];
        }
        if (!set_option(&option_table[index], value, s)) return ST_EXIT_USAGE;
    }
    *first_file = optind;
    return -1;
}

/* ---- printing ------------------------------------------------------------------------------ */

static void format_time(double seconds, char *out, size_t size) {
    long ms = (long)(seconds * 1000.0 + 0.5);
    long minutes = ms / 60000;
    snprintf(out, size, "%02ld:%02ld.%03ld", minutes, (ms / 1000) % 60, ms % 1000);
}

typedef struct run {
    int quiet, tty;
    int stdout_closed; /* the reader of stdout went away (`| head -1`): keep working, print no more */
} run;

static int print_segment(void *user, const steno_segment_info *segment) {
    run *r = user;
    if (r->quiet || r->stdout_closed) return 0;
    char start[32], end[32];
    format_time(segment->start, start, sizeof start);
    format_time(segment->end, end, sizeof end);
    if (r->tty) fprintf(stderr, "\r\033[K"); /* clear the progress bar line */
    /* with --diarize the speaker, as in the txt file */
    if (segment->speaker >= 0) {
        printf("[%s --> %s] [SPEAKER_%02d]: %s\n", start, end, segment->speaker,
               segment->text + strspn(segment->text, " "));
    } else {
        printf("[%s --> %s] %s\n", start, end, segment->text);
    }
    if (fflush(stdout) != 0 && errno == EPIPE) {
        r->stdout_closed = 1;
        fprintf(stderr, "steno transcribe: standard output was closed; still transcribing and writing the files\n");
    }
    return 0;
}

static void show_progress(void *user, double done, double total) {
    run *r = user;
    if (!r->tty || total <= 0) return;
    int width = 30, filled = (int)(width * (done / total));
    if (filled > width) filled = width;
    fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %.0f/%.0f s", filled, "##############################", width - filled, "",
            100.0 * done / total, done, total);
    fflush(stderr);
}

/* ---- input that cannot be read twice ------------------------------------------------------- */

/* The audio is decoded in two passes (audio/mel_source.h); a pipe, a FIFO, a terminal or
 * standard input ("-") can be read only once, so it is first copied whole into a temporary
 * file (in $TMPDIR, default /tmp), whose path goes to `spilled`. 0 when path is a regular file
 * (nothing to do), 1 when spilled, -1 on failure (message printed). */
static int spill_if_unseekable(const char *path, char *spilled, size_t size) {
    struct stat st;
    int from_stdin = !strcmp(path, "-");
    if (!from_stdin && (stat(path, &st) != 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(spilled, size, "%s/steno-audio-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int out = mkstemp(spilled);
    if (out < 0) {
        fprintf(stderr, "steno transcribe: %s: cannot make a temporary file %s: %s\n", path, spilled, strerror(errno));
        return -1;
    }
    int in = from_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    long long total = 0;
    int failed = in < 0;
    static char buffer[1 << 16];
    while (!failed) {
        ssize_t n = read(in, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            failed = n < 0;
            break;
        }
        for (ssize_t done = 0; !failed && done < n;) {
            ssize_t w = write(out, buffer + done, (size_t)(n - done));
            if (w < 0 && errno != EINTR) failed = 1;
            if (w > 0) done += w;
        }
        total += n;
    }
    int e = errno;
    if (in >= 0 && !from_stdin) close(in);
    if (close(out) != 0 && !failed) failed = 1, e = errno;
    if (failed) {
        fprintf(stderr, "steno transcribe: %s: cannot read it into %s: %s\n", path, spilled, strerror(e));
        unlink(spilled);
        return -1;
    }
    fprintf(stderr, "steno transcribe: %s cannot be read twice (a pipe or standard input): read once (%lld bytes)\n",
            from_stdin ? "standard input" : path, total);
    return 1;
}

/* ---- the command --------------------------------------------------------------------------- */

int st_cli_transcribe(int argc, char **argv) {
    steno_transcribe_params p = steno_transcribe_default_params();
    settings s = {
        .model = "base.en",
        .formats = "all",
        .output_dir = ".",
        .threads = 2,
        .beam_size = 5, /* the whisper command line's default, as steno_transcribe_default_params */
        .best_of = 5,
        .patience = 1.0,
        .temperature = 0.0,
        .increment = 0.2,
        .hallucination_silence_threshold = -1,
        .condition_on_previous_text = p.condition_on_previous_text,
        .no_speech_threshold = p.no_speech_threshold,
        .logprob_threshold = p.logprob_threshold,
        .compression_ratio_threshold = p.compression_ratio_threshold,
        .vad_model = "silero-vad",
        .vad_threshold = p.vad_threshold,
        .vad_min_silence_ms = p.vad_min_silence_ms,
    };
    int first_file;
    int exit_code = parse_options(argc, argv, &s, &first_file);
    if (exit_code >= 0) return exit_code;
    steno_context_params context_params = steno_context_default_params();
    if (s.compute_type && steno_compute_type_from_name(s.compute_type, &context_params.compute_type) != 0) {
        fprintf(stderr, "steno transcribe: --compute-type: '%s' is not auto, fp32, int8 or bf16\n", s.compute_type);
        return ST_EXIT_USAGE;
    }
    if (s.device) {
        int device;
        if (steno_device_from_name(s.device, &device) != 0) {
            fprintf(stderr, "steno transcribe: --device: '%s' is not cpu, cuda or cuda:N\n", s.device);
            return ST_EXIT_USAGE;
        }
        if (steno_set_device(device) != STENO_OK) {
            fprintf(stderr, "steno transcribe: --device %s: %s; running on the CPU\n", s.device, steno_context_error(NULL));
        }
    }
    if (s.task && strcmp(s.task, "transcribe") != 0 && strcmp(s.task, "translate") != 0) {
        fprintf(stderr, "steno transcribe: --task: '%s' is neither transcribe nor translate\n", s.task);
        return ST_EXIT_USAGE;
    }
    /* openai's checks of the subtitle options, which only make sense with words */
    if (!s.word_timestamps) {
        const char *needs_words = s.highlight_words      ? "--highlight-words"
                                  : s.max_line_count     ? "--max-line-count"
                                  : s.max_line_width     ? "--max-line-width"
                                  : s.max_words_per_line ? "--max-words-per-line"
                                                         : NULL;
        if (needs_words) {
            fprintf(stderr, "steno transcribe: %s requires --word-timestamps true\n", needs_words);
            return ST_EXIT_USAGE;
        }
    }
    if (s.max_line_count && !s.max_line_width) {
        fprintf(stderr, "steno transcribe: warning: --max-line-count has no effect without --max-line-width\n");
    }
    if (s.max_words_per_line && s.max_line_width) {
        fprintf(stderr, "steno transcribe: warning: --max-words-per-line has no effect with --max-line-width\n");
    }
    if (s.language && !steno_language_code(s.language)) {
        fprintf(stderr,
                "steno transcribe: --language: '%s' is not a language Whisper knows (a code such as ru or a name such "
                "as Russian)\n",
                s.language);
        return ST_EXIT_USAGE;
    }
    if (s.language_per_window && s.language) {
        fprintf(stderr, "steno transcribe: --language-per-window detects the language: it cannot go with --language\n");
        return ST_EXIT_USAGE;
    }
    if (st_cli_check_speaker_options("transcribe", s.min_speakers, s.max_speakers) != 0) return ST_EXIT_USAGE;
    if (s.fp16 && steno_get_device() == STENO_DEVICE_CPU) {
        fprintf(stderr, "steno transcribe: note: --fp16 has no effect on the CPU; computing in fp32\n");
    }
    if (first_file >= argc) {
        fprintf(stderr, "steno transcribe: no audio file given\n\n");
        usage(stderr);
        return ST_EXIT_USAGE;
    }
    /* the fallback schedule: temperature, temperature + increment, ... up to 1.0 */
    if (s.increment > 0) {
        int count = (int)floor((1.0 + 1e-6 - s.temperature) / s.increment) + 1;
        if (count > STENO_MAX_TEMPERATURES) {
            fprintf(stderr,
                    "steno transcribe: --temperature-increment-on-fallback: %g from %g gives %d temperatures; at "
                    "most %d are tried (an increment of at least %.4g)\n",
                    s.increment, s.temperature, count, STENO_MAX_TEMPERATURES,
                    (1.0 - s.temperature) / (STENO_MAX_TEMPERATURES - 1));
            return ST_EXIT_USAGE;
        }
    }
    p.temperature = (float)s.temperature;
    p.temperature_increment = (float)s.increment;
    p.language = steno_language_code(s.language);
    p.language_per_window = s.language_per_window;
    p.translate = s.task && !strcmp(s.task, "translate");
    p.n_threads = s.threads;
    p.beam_size = s.beam_size;
    p.best_of = s.best_of;
    p.batch_size = s.batch_size;
    p.patience = (float)s.patience;
    p.initial_prompt = s.initial_prompt;
    p.condition_on_previous_text = s.condition_on_previous_text;
    p.no_speech_threshold = s.no_speech_threshold;
    p.logprob_threshold = s.logprob_threshold;
    p.compression_ratio_threshold = s.compression_ratio_threshold;
    p.without_timestamps = s.without_timestamps;
    p.word_timestamps = s.word_timestamps; /* diarization adds the words it needs itself */
    p.prepend_punctuations = s.prepend;
    p.append_punctuations = s.append;
    p.hallucination_silence_threshold = s.hallucination_silence_threshold;
    p.vad_model = s.vad ? s.vad_model : NULL;
    p.diarize_vad_model = s.vad_model;
    p.vad_threshold = (float)s.vad_threshold;
    p.vad_min_silence_ms = s.vad_min_silence_ms;
    p.diarize = s.diarize;
    steno_diarize_pipeline pipeline = STENO_DIARIZE_AUTO;
    if (s.pipeline && steno_diarize_pipeline_from_name(s.pipeline, &pipeline) != 0) {
        fprintf(stderr, "steno transcribe: --pipeline: '%s' is not auto, default or pyannote\n", s.pipeline);
        return ST_EXIT_USAGE;
    }
    p.diarize_pipeline = pipeline;
    p.num_speakers = s.num_speakers, p.min_speakers = s.min_speakers, p.max_speakers = s.max_speakers;
    steno_render_params writer = {.max_line_width = s.max_line_width,
                                  .max_line_count = s.max_line_count,
                                  .max_words_per_line = s.max_words_per_line,
                                  .highlight_words = s.highlight_words};

    /* validate the formats before spending minutes on the audio */
    steno_format chosen[STENO_FORMAT_RTTM];
    int n_formats = 0;
    char *format_list = strdup(s.formats);
    if (!format_list) return ST_EXIT_FAILURE;
    for (char *name = strtok(format_list, ","); name; name = strtok(NULL, ",")) {
        steno_format format;
        if (!strcmp(name, "all")) {
            for (int f = STENO_FORMAT_TXT; f < STENO_FORMAT_RTTM && n_formats < STENO_FORMAT_RTTM; f++)
                chosen[n_formats++] = (steno_format)f;
        } else if (steno_format_from_name(name, &format) == 0 && format != STENO_FORMAT_RTTM) {
            if (n_formats < STENO_FORMAT_RTTM) chosen[n_formats++] = format;
        } else {
            fprintf(stderr, "steno transcribe: --output-format: unknown format '%s' (txt, vtt, srt, tsv, json, all)\n",
                    name);
            free(format_list);
            return ST_EXIT_USAGE;
        }
    }
    free(format_list);
    if (steno_output_prepare_dir(s.output_dir) != STENO_OK) {
        fprintf(stderr, "steno transcribe: %s\n", steno_context_error(NULL));
        return ST_EXIT_FAILURE;
    }

    char model_path[4096], why[2048];
    if (steno_model_locate(s.model, model_path, sizeof model_path, why, sizeof why) != STENO_OK) {
        fprintf(stderr, "steno transcribe: %s\n", steno_context_error(NULL));
        return ST_EXIT_FAILURE;
    }
    steno_context *context;
    context_params.n_threads = s.threads;
    context_params.max_hypotheses = s.beam_size > s.best_of ? s.beam_size : s.best_of;
    if (steno_context_open(model_path, &context_params, &context) != STENO_OK) {
        fprintf(stderr, "steno transcribe: %s\n", steno_context_error(NULL));
        return ST_EXIT_FAILURE;
    }
    /* openai-whisper falls back to English with a warning; a wrong language or task on an
     * English-only model is a usage error here, said before any audio is read */
    if (!steno_context_is_multilingual(context) &&
        ((p.language && strcmp(p.language, "en") != 0) || p.translate || p.language_per_window)) {
        fprintf(stderr, "steno transcribe: %s is an English-only model: it cannot %s\n", s.model,
                p.translate             ? "translate (--task translate needs a multilingual model)"
                : p.language_per_window ? "detect languages (--language-per-window needs a multilingual model)"
                                        : "transcribe another language than English (-l needs a multilingual "
                                          "model)");
        steno_context_free(context);
        return ST_EXIT_USAGE;
    }
    /* `steno transcribe f | head -1`: a closed stdout must not kill the run before the files
     * are written; the failed write is noticed in print_segment instead */
    signal(SIGPIPE, SIG_IGN);
    run r = {.quiet = s.quiet, .tty = isatty(STDERR_FILENO)};
    /* the VAD and diarization networks, loaded before any audio is read */
    if (steno_context_prepare(context, &p) != STENO_OK) {
        fprintf(stderr, "steno transcribe: %s\n", steno_context_error(context));
        steno_context_free(context);
        return ST_EXIT_FAILURE;
    }
    if (p.diarize) {
        st_cli_announce_pipeline("transcribe", p.diarize_pipeline, steno_context_diarizer(context));
        st_cli_announce_features("transcribe", steno_context_diarizer(context));
    }
    p.on_segment = print_segment;
    p.on_progress = show_progress;
    p.user = &r;

    exit_code = ST_EXIT_OK;
    for (int i = first_file; i < argc; i++) {
        const char *audio_path = argv[i];
        /* outputs are named after what the user gave: "-" is standard input */
        const char *output_name = !strcmp(audio_path, "-") ? "stdin" : audio_path;
        char spilled[4096];
        int spill = spill_if_unseekable(audio_path, spilled, sizeof spilled);
        if (spill < 0) {
            exit_code = ST_EXIT_FAILURE;
            continue;
        }
        steno_result *result;
        steno_status status = steno_transcribe_file(context, spill ? spilled : audio_path, &p, &result);
        const char *message = status == STENO_OK ? NULL : steno_context_error(context);
        if (spill) unlink(spilled);
        if (r.tty) fprintf(stderr, "\r\033[K");
        if (status == STENO_OK && p.diarize) {
            status = steno_result_save(result, STENO_FORMAT_RTTM, NULL, s.output_dir, output_name);
        }
        for (int f = 0; status == STENO_OK && f < n_formats; f++) {
            status = steno_result_save(result, chosen[f], &writer, s.output_dir, output_name);
        }
        if (status != STENO_OK) {
            /* audio errors already name the file */
            if (!message) message = steno_context_error(NULL);
            if (strstr(message, audio_path)) {
                fprintf(stderr, "steno transcribe: %s\n", message);
            } else {
                fprintf(stderr, "steno transcribe: %s: %s\n", audio_path, message);
            }
            exit_code = ST_EXIT_FAILURE;
        }
        steno_result_free(result);
    }
    steno_context_free(context);
    return exit_code;
}
