/*
 * transcribe.c — `steno transcribe FILE... [options]`: openai-whisper's command line.
 *
 * Prints each segment as it is decoded ("[00:00.000 --> 00:11.000]  text" like
 * `whisper --verbose True`), shows a progress bar on a terminal, and writes the output files
 * named after each audio file into the output directory.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "output/output.h"
#include "store/store.h"
#include "whisper/transcribe.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: steno transcribe FILE... [options]\n"
            "\n"
            "  -m, --model NAME|PATH     model name (tiny, base.en, ...) or a model file (default base.en)\n"
            "  -l, --language CODE       spoken language (default: detect; English for .en models)\n"
            "      --task transcribe|translate\n"
            "  -f, --output-format F     txt, vtt, srt, tsv, json or all; a comma list (default all)\n"
            "  -o, --output-dir DIR      where output files go (default .)\n"
            "  -t, --threads N           CPU threads (default 2)\n"
            "      --beam-size N         beam search width at temperature 0 (default 5)\n"
            "      --best-of N           samples at temperature > 0 (default 5)\n"
            "      --patience X          beam search patience (default 1.0)\n"
            "      --temperature T       initial temperature (default 0)\n"
            "      --temperature-increment-on-fallback X  (default 0.2; 0 disables fallback)\n"
            "      --initial-prompt TEXT text to condition the first window on\n"
            "      --condition-on-previous-text true|false (default true)\n"
            "      --no-speech-threshold X (default 0.6)\n"
            "      --logprob-threshold X (default -1.0)\n"
            "      --compression-ratio-threshold X (default 2.4)\n"
            "      --without-timestamps  decode text only\n"
            "      --word-timestamps [true|false]  word-level timestamps (default false)\n"
            "      --prepend-punctuations S  merged into the next word (default \"'\u201c\u00bf([{-)\n"
            "      --append-punctuations S   merged into the previous word (default \"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001)\n"
            "      --highlight-words true|false  underline each word as spoken in srt and vtt\n"
            "      --max-line-width N    characters per subtitle line (needs word timestamps)\n"
            "      --max-line-count N    lines per subtitle (needs --max-line-width)\n"
            "      --max-words-per-line N  words per subtitle (without --max-line-width)\n"
            "      --hallucination-silence-threshold X  skip silences longer than X s around\n"
            "                            suspected hallucinations (needs word timestamps)\n"
            "      --vad [true|false]    transcribe only the speech Silero VAD finds, like faster-whisper's\n"
            "                            vad_filter; times stay those of the recording (default false)\n"
            "      --vad-model PATH      Silero VAD ONNX file (default: silero-vad in the model folders)\n"
            "      --vad-threshold X     speech probability threshold (default 0.5)\n"
            "      --vad-min-silence-ms N  silence that ends a speech span (default 2000)\n"
            "  -q, --quiet               print no segments\n"
            "\n"
            "A model name resolves to its first usable copy, in any format, in the model folders\n"
            "`steno models check` lists (in lookup order); `steno models pull NAME` downloads one.\n");
}

static void format_time(double seconds, char *out, size_t size) {
    long ms = (long)(seconds * 1000.0 + 0.5);
    long minutes = ms / 60000;
    snprintf(out, size, "%02ld:%02ld.%03ld", minutes, (ms / 1000) % 60, ms % 1000);
}

typedef struct run {
    int quiet, tty;
} run;

static int print_segment(void *user, const st_segment *segment) {
    run *r = user;
    if (r->quiet) return 0;
    char start[32], end[32];
    format_time(segment->start, start, sizeof start);
    format_time(segment->end, end, sizeof end);
    if (r->tty) fprintf(stderr, "\r\033[K"); /* clear the progress bar line */
    printf("[%s --> %s] %s\n", start, end, segment->text);
    fflush(stdout);
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

static int parse_bool(const char *text, int *out) {
    if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "1")) return *out = 1, 1;
    if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "0")) return *out = 0, 1;
    return 0;
}

static int parse_number(const char *text, double low, double high, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || v < low || v > high) return 0;
    *out = v;
    return 1;
}

int st_cli_transcribe(int argc, char **argv) {
    enum { OPT_TASK = 256, OPT_BEAM, OPT_BEST_OF, OPT_PATIENCE, OPT_TEMPERATURE, OPT_INCREMENT, OPT_PROMPT,
           OPT_CONDITION, OPT_NO_SPEECH, OPT_LOGPROB, OPT_COMPRESSION, OPT_WITHOUT_TIMESTAMPS, OPT_WORDS,
           OPT_PREPEND, OPT_APPEND, OPT_HIGHLIGHT, OPT_LINE_WIDTH, OPT_LINE_COUNT, OPT_WORDS_PER_LINE,
           OPT_HALLUCINATION, OPT_VAD, OPT_VAD_MODEL, OPT_VAD_THRESHOLD, OPT_VAD_MIN_SILENCE };
    static const struct option long_options[] = {
        {"model", required_argument, NULL, 'm'},
        {"language", required_argument, NULL, 'l'},
        {"task", required_argument, NULL, OPT_TASK},
        {"output-format", required_argument, NULL, 'f'},
        {"output-dir", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"beam-size", required_argument, NULL, OPT_BEAM},
        {"best-of", required_argument, NULL, OPT_BEST_OF},
        {"patience", required_argument, NULL, OPT_PATIENCE},
        {"temperature", required_argument, NULL, OPT_TEMPERATURE},
        {"temperature-increment-on-fallback", required_argument, NULL, OPT_INCREMENT},
        {"initial-prompt", required_argument, NULL, OPT_PROMPT},
        {"condition-on-previous-text", required_argument, NULL, OPT_CONDITION},
        {"no-speech-threshold", required_argument, NULL, OPT_NO_SPEECH},
        {"logprob-threshold", required_argument, NULL, OPT_LOGPROB},
        {"compression-ratio-threshold", required_argument, NULL, OPT_COMPRESSION},
        {"without-timestamps", no_argument, NULL, OPT_WITHOUT_TIMESTAMPS},
        {"word-timestamps", optional_argument, NULL, OPT_WORDS},
        {"prepend-punctuations", required_argument, NULL, OPT_PREPEND},
        {"append-punctuations", required_argument, NULL, OPT_APPEND},
        {"highlight-words", required_argument, NULL, OPT_HIGHLIGHT},
        {"max-line-width", required_argument, NULL, OPT_LINE_WIDTH},
        {"max-line-count", required_argument, NULL, OPT_LINE_COUNT},
        {"max-words-per-line", required_argument, NULL, OPT_WORDS_PER_LINE},
        {"hallucination-silence-threshold", required_argument, NULL, OPT_HALLUCINATION},
        {"vad", optional_argument, NULL, OPT_VAD},
        {"vad-model", required_argument, NULL, OPT_VAD_MODEL},
        {"vad-threshold", required_argument, NULL, OPT_VAD_THRESHOLD},
        {"vad-min-silence-ms", required_argument, NULL, OPT_VAD_MIN_SILENCE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    st_transcribe_options options = st_transcribe_default_options();
    options.beam_size = 5; /* the whisper command line's default, not transcribe()'s */
    options.n_threads = 2;
    const char *model_name = "base.en", *formats = "all", *output_dir = ".", *vad_model = ST_STORE_SILERO_VAD;
    int use_vad = 0;
    double temperature = 0.0, increment = 0.2, value = 0;
    run r = {.quiet = 0, .tty = isatty(STDERR_FILENO)};
    st_output_options writer = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:l:f:o:t:qh", long_options, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'l': options.language = optarg; break;
        case OPT_TASK:
            ok = !strcmp(optarg, "transcribe") || !strcmp(optarg, "translate");
            options.translate = !strcmp(optarg, "translate");
            break;
        case 'f': formats = optarg; break;
        case 'o': output_dir = optarg; break;
        case 't': ok = parse_number(optarg, 1, 256, &value), options.n_threads = (int)value; break;
        case OPT_BEAM: ok = parse_number(optarg, 1, 16, &value), options.beam_size = (int)value; break;
        case OPT_BEST_OF: ok = parse_number(optarg, 1, 16, &value), options.best_of = (int)value; break;
        case OPT_PATIENCE: ok = parse_number(optarg, 0.01, 2, &value), options.patience = (float)value; break;
        case OPT_TEMPERATURE: ok = parse_number(optarg, 0, 10, &temperature); break;
        case OPT_INCREMENT: ok = parse_number(optarg, 0, 10, &increment); break;
        case OPT_PROMPT: options.initial_prompt = optarg; break;
        case OPT_CONDITION: ok = parse_bool(optarg, &options.condition_on_previous_text); break;
        case OPT_NO_SPEECH: ok = parse_number(optarg, 0, 1, &options.no_speech_threshold); break;
        case OPT_LOGPROB: ok = parse_number(optarg, -1e9, 0, &options.logprob_threshold); break;
        case OPT_COMPRESSION: ok = parse_number(optarg, 0, 1e9, &options.compression_ratio_threshold); break;
        case OPT_WITHOUT_TIMESTAMPS: options.without_timestamps = 1; break;
        case OPT_WORDS:
            /* "--word-timestamps", "--word-timestamps=false" or openai's "--word-timestamps True" */
            options.word_timestamps = 1;
            if (optarg) {
                ok = parse_bool(optarg, &options.word_timestamps);
            } else if (optind < argc && parse_bool(argv[optind], &options.word_timestamps)) {
                optind++;
            }
            break;
        case OPT_PREPEND: options.prepend_punctuations = optarg; break;
        case OPT_APPEND: options.append_punctuations = optarg; break;
        case OPT_HIGHLIGHT: {
            int highlight = 0;
            ok = parse_bool(optarg, &highlight);
            writer.highlight_words = highlight;
            break;
        }
        case OPT_LINE_WIDTH: ok = parse_number(optarg, 1, 1e6, &value), writer.max_line_width = (int)value; break;
        case OPT_LINE_COUNT: ok = parse_number(optarg, 1, 1e6, &value), writer.max_line_count = (int)value; break;
        case OPT_WORDS_PER_LINE:
            ok = parse_number(optarg, 1, 1e6, &value), writer.max_words_per_line = (int)value;
            break;
        case OPT_HALLUCINATION:
            ok = parse_number(optarg, 0, 1e9, &options.hallucination_silence_threshold);
            options.has_hallucination_silence_threshold = 1;
            break;
        case OPT_VAD:
            use_vad = 1;
            if (optarg) {
                ok = parse_bool(optarg, &use_vad);
            } else if (optind < argc && parse_bool(argv[optind], &use_vad)) {
                optind++;
            }
            break;
        case OPT_VAD_MODEL: vad_model = optarg; break;
        case OPT_VAD_THRESHOLD:
            ok = parse_number(optarg, 0, 1, &value), options.vad_options.threshold = (float)value;
            break;
        case OPT_VAD_MIN_SILENCE:
            ok = parse_number(optarg, 0, 3.6e6, &value), options.vad_options.min_silence_duration_ms = (int)value;
            break;
        case 'q': r.quiet = 1; break;
        case 'h': usage(stdout); return ST_EXIT_OK;
        default: usage(stderr); return ST_EXIT_USAGE;
        }
        if (!ok) {
            fprintf(stderr, "steno transcribe: invalid value '%s' for %s\n", optarg, argv[optind - 1]);
            return ST_EXIT_USAGE;
        }
    }
    /* openai's checks of the subtitle options, which only make sense with words */
    if (!options.word_timestamps) {
        const char *needs_words = writer.highlight_words      ? "--highlight-words"
                                  : writer.max_line_count     ? "--max-line-count"
                                  : writer.max_line_width     ? "--max-line-width"
                                  : writer.max_words_per_line ? "--max-words-per-line"
                                                              : NULL;
        if (needs_words) {
            fprintf(stderr, "steno transcribe: %s requires --word-timestamps true\n", needs_words);
            return ST_EXIT_USAGE;
        }
    }
    if (writer.max_line_count && !writer.max_line_width) {
        fprintf(stderr, "steno transcribe: warning: --max-line-count has no effect without --max-line-width\n");
    }
    if (writer.max_words_per_line && writer.max_line_width) {
        fprintf(stderr, "steno transcribe: warning: --max-words-per-line has no effect with --max-line-width\n");
    }
    if (optind >= argc) {
        fprintf(stderr, "steno transcribe: no audio file given\n\n");
        usage(stderr);
        return ST_EXIT_USAGE;
    }
    /* the fallback schedule: temperature, temperature + increment, ... up to 1.0 */
    options.n_temperatures = 0;
    if (increment > 0) {
        for (double t = temperature; t <= 1.0 + 1e-6 && options.n_temperatures < ST_MAX_TEMPERATURES; t += increment) {
            options.temperatures[options.n_temperatures++] = (float)t;
        }
    }
    if (options.n_temperatures == 0) options.temperatures[options.n_temperatures++] = (float)temperature;

    /* validate the formats before spending minutes on the audio */
    st_output_format chosen[ST_OUTPUT_FORMAT_COUNT + 1];
    int n_formats = 0;
    char *format_list = strdup(formats);
    if (!format_list) return ST_EXIT_FAILURE;
    for (char *name = strtok(format_list, ","); name; name = strtok(NULL, ",")) {
        st_error err;
        if (!strcmp(name, "all")) {
            chosen[n_formats++] = ST_OUTPUT_ALL;
        } else if (st_output_format_from_name(name, &chosen[n_formats], &err) == STENO_OK) {
            n_formats++;
        } else {
            fprintf(stderr, "steno transcribe: unknown output format '%s' (txt, vtt, srt, tsv, json, all)\n", name);
            free(format_list);
            return ST_EXIT_USAGE;
        }
        if (n_formats > ST_OUTPUT_FORMAT_COUNT) break;
    }
    free(format_list);
    struct stat st;
    if (stat(output_dir, &st) != 0 && mkdir(output_dir, 0777) != 0) {
        fprintf(stderr, "steno transcribe: cannot create output directory %s: %s\n", output_dir, strerror(errno));
        return ST_EXIT_FAILURE;
    }

    char model_path[4096], why[2048];
    st_error err;
    st_store store;
    st_store_init(&store, NULL, 0);
    if (st_store_resolve(&store, model_name, model_path, sizeof model_path, why, sizeof why, &err) != STENO_OK) {
        fprintf(stderr, "steno transcribe: %s\n", st_error_message(&err));
        return ST_EXIT_FAILURE;
    }
    st_whisper_context *context;
    int max_sequences = options.beam_size > options.best_of ? options.beam_size : options.best_of;
    if (st_whisper_context_load(model_path, max_sequences, options.n_threads, &context, &err) != STENO_OK) {
        fprintf(stderr, "steno transcribe: %s\n", st_error_message(&err));
        return ST_EXIT_FAILURE;
    }
    st_vad *vad = NULL;
    if (use_vad) {
        if (st_store_resolve(&store, vad_model, model_path, sizeof model_path, why, sizeof why, &err) != STENO_OK ||
            st_vad_open(model_path, &vad, &err) != STENO_OK) {
            fprintf(stderr, "steno transcribe: %s\n", st_error_message(&err));
            st_whisper_context_free(context);
            return ST_EXIT_FAILURE;
        }
        options.vad = vad;
    }
    options.on_segment = print_segment;
    options.on_progress = show_progress;
    options.user = &r;

    int exit_code = ST_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        const char *audio_path = argv[i];
        st_transcript transcript;
        st_transcript_init(&transcript);
        steno_status status = st_transcribe_file(context, audio_path, &options, &transcript, &err);
        if (r.tty) fprintf(stderr, "\r\033[K");
        for (int f = 0; status == STENO_OK && f < n_formats; f++) {
            status = st_output_save(chosen[f], &transcript, &writer, output_dir, audio_path, &err);
        }
        if (status != STENO_OK) {
            /* audio errors already name the file */
            const char *message = st_error_message(&err);
            if (strstr(message, audio_path)) {
                fprintf(stderr, "steno transcribe: %s\n", message);
            } else {
                fprintf(stderr, "steno transcribe: %s: %s\n", audio_path, message);
            }
            exit_code = ST_EXIT_FAILURE;
        }
        st_transcript_free(&transcript);
    }
    st_vad_free(vad);
    st_whisper_context_free(context);
    return exit_code;
}
