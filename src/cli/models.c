/*
 * models.c — `steno models check | list | pull | rm | convert`: the model store as users see it,
 * through steno.h's store and conversion calls (src/api/store.c writes the reports).
 *
 *   check [PATH...]   the configured folders, every model found, which file each name would
 *                     use and why; with PATH, what that file or folder is, judged by content;
 *                     --for "transcribe -m medium --diarize" lists what that command would
 *                     download, with sizes, before anything is downloaded
 *   list              the models steno can name, and which are here
 *   pull NAME         downloads NAME unless a usable copy exists in any format
 *   rm NAME           removes exactly the files of NAME's copies, after listing them and
 *                     asking; other programs' caches only when named
 *
 * --json prints the same facts for scripts. Exit codes as in main.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "steno.h"

#define MAX_DIRS 8

typedef struct options {
    const char *dirs[MAX_DIRS];
    int n_dirs;
    int json, verify, yes, offline;
    int other_engines; /* rm: also copies in openai-whisper's, faster-whisper's... caches */
    const char *for_command;
    const char *format; /* NULL: the default */
} options;

static void usage(FILE *out) {
    fprintf(out, "usage: steno models check [PATH...] [--for \"COMMAND\"] [--verify] [--json]\n"
                 "       steno models list [--json]\n"
                 "       steno models pull NAME [--format ggml|pt|ct2] [--yes] [--offline]\n"
                 "       steno models rm NAME [--format F] [--other-engines] [--yes]\n"
                 "\n"
                 "  --model-dir DIR   look here first (repeatable); pull/rm: use this folder only\n"
                 "  --offline         never touch the network (also HF_HUB_OFFLINE=1)\n"
                 "  --verify          hash model files and compare with the published checksums\n"
                 "  --json            machine-readable output\n"
                 "  --yes             do not ask before large downloads or removals (rm refuses to\n"
                 "                    remove anything without it when stdin is not a terminal)\n"
                 "  --other-engines   rm: also remove copies in other programs' caches (openai-whisper's\n"
                 "                    ~/.cache/whisper or $WHISPER_CACHE_DIR; faster-whisper's, transformers'\n"
                 "                    and pyannote's Hugging Face repositories), which rm keeps by default\n"
                 "\n"
                 "Lookup order: --model-dir, $STENO_MODELS (default ~/.cache/steno/models),\n"
                 "$WHISPER_CACHE_DIR, $XDG_CACHE_HOME/whisper or ~/.cache/whisper, $HF_HUB_CACHE,\n"
                 "$HF_HOME/hub, ~/.cache/huggingface/hub, $STENO_TEST_MODELS. Downloads come from\n"
                 "$STENO_HF_ENDPOINT (or $HF_ENDPOINT, default https://huggingface.co) and\n"
                 "$STENO_OPENAI_ENDPOINT; gated repositories need $HF_TOKEN.\n");
}

/* ---- pull's progress and the questions ---- */

typedef struct progress_state {
    int tty;
    double started;
    double last_draw;
    char label[512];
} progress_state;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void show_progress(void *user, const char *label, long long done, long long total) {
    progress_state *p = user;
    if (!label) { /* the download ended: clear the bar */
        if (p->tty) fprintf(stderr, "\r\033[K");
        return;
    }
    double t = now_seconds();
    if (strcmp(p->label, label) != 0) {
        snprintf(p->label, sizeof p->label, "%s", label);
        p->started = t;
        p->last_draw = 0;
    }
    if (done < 0) {
        fprintf(stderr, "%s: another process is downloading it; waiting for it to finish\n", label);
        return;
    }
    if (!p->tty || (t - p->last_draw < 0.1 && done != total)) return;
    p->last_draw = t;
    double speed = t > p->started ? (double)done / (t - p->started) : 0;
    char have[32], whole[32], rate[32];
    steno_human_size(done, have, sizeof have);
    steno_human_size(total, whole, sizeof whole);
    steno_human_size((long long)speed, rate, sizeof rate);
    int width = 24, filled = total > 0 ? (int)(width * (double)done / (double)total) : 0;
    if (filled > width) filled = width;
    double eta = speed > 0 && total > done ? (double)(total - done) / speed : 0;
    fprintf(stderr, "\r\033[K%s [%.*s%*s] %s / %s  %s/s  ETA %d:%02d", label, filled, "########################",
            width - filled, "", have, whole, rate, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

/* Asks on the terminal; without one the answer is no (scripts say --yes). */
static int confirm(const char *question) {
    if (!isatty(STDIN_FILENO)) return 0;
    fprintf(stderr, "%s [y/N] ", question);
    char answer[16];
    return fgets(answer, sizeof answer, stdin) && (answer[0] == 'y' || answer[0] == 'Y');
}

/* confirm_download: asked on a terminal only (a script downloads without a question). */
static int confirm_download(void *user, const char *question) {
    (void)user;
    return !isatty(STDERR_FILENO) || confirm(question);
}

/* confirm_remove: without a terminal nobody can be asked. */
static int confirm_remove(void *user, const char *question) {
    (void)user;
    return isatty(STDIN_FILENO) ? confirm(question) : -1;
}

/* ---- convert --------------------------------------------------------------------------- */

/* `steno models convert SRC DST --to pt|ct2|ggml|hf [--quantize int8|q8_0|q5_1|f16] [--force]`:
 * its own options, so it is dispatched before the store's are parsed. */
static int convert(int argc, char **argv) {
    static const char usage_text[] =
        "usage: steno models convert SRC DST --to pt|ct2|ggml|hf [--quantize int8|q8_0|q5_1|f16] [--force]\n"
        "  SRC is any model steno reads (judged by content); DST is written atomically and an\n"
        "  existing DST is kept unless --force, which replaces only a regular file or a model folder\n"
        "  steno wrote (never a symlink, device, FIFO or a folder with other files).\n"
        "  int8: ct2 only; q8_0, q5_1: ggml only.\n";
    enum { OPT_TO = 256, OPT_QUANTIZE, OPT_FORCE };
    static const struct option long_options[] = {
        {"to", required_argument, NULL, OPT_TO},
        {"quantize", required_argument, NULL, OPT_QUANTIZE},
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *to = NULL, *quantize = NULL;
    int force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        if (c == OPT_TO && steno_convert_format_is_known(optarg)) {
            to = optarg;
        } else if (c == OPT_QUANTIZE && steno_convert_precision_is_known(optarg)) {
            quantize = optarg;
        } else if (c == OPT_FORCE) {
            force = 1;
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return ST_EXIT_OK;
        } else {
            if (c == OPT_TO || c == OPT_QUANTIZE) fprintf(stderr, "steno models convert: unknown value '%s'\n", optarg);
            fputs(usage_text, stderr);
            return ST_EXIT_USAGE;
        }
    }
    if (!to || argc - optind != 2) {
        fputs(usage_text, stderr);
        return ST_EXIT_USAGE;
    }
    steno_convert_report report = {0};
    steno_status status = steno_model_convert(argv[optind], argv[optind + 1], to, quantize, force, &report);
    if (status != STENO_OK) {
        fprintf(stderr, "steno models convert: %s\n", steno_context_error(NULL));
        return status == STENO_ERR_INVALID_ARGUMENT ? ST_EXIT_USAGE : ST_EXIT_FAILURE;
    }
    char size[32];
    steno_human_size((long long)report.bytes_written, size, sizeof size);
    printf("%s (%s) -> %s: %s in %.1f s\n", argv[optind], report.source_format, argv[optind + 1], size, report.seconds);
    return ST_EXIT_OK;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

int st_cli_models(int argc, char **argv) {
    enum { OPT_DIR = 256, OPT_OFFLINE, OPT_JSON, OPT_VERIFY, OPT_YES, OPT_FOR, OPT_FORMAT, OPT_OTHER_ENGINES };
    static const struct option long_options[] = {
        {"model-dir", required_argument, NULL, OPT_DIR},
        {"offline", no_argument, NULL, OPT_OFFLINE},
        {"json", no_argument, NULL, OPT_JSON},
        {"verify", no_argument, NULL, OPT_VERIFY},
        {"yes", no_argument, NULL, OPT_YES},
        {"for", required_argument, NULL, OPT_FOR},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"other-engines", no_argument, NULL, OPT_OTHER_ENGINES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2) {
        usage(stderr);
        return ST_EXIT_USAGE;
    }
    const char *action = argv[1];
    if (!strcmp(action, "convert")) return convert(argc - 1, argv + 1);
    options o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "hy", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_DIR:
            if (o.n_dirs == MAX_DIRS) {
                fprintf(stderr, "steno models: at most %d --model-dir\n", MAX_DIRS);
                return ST_EXIT_USAGE;
            }
            o.dirs[o.n_dirs++] = optarg;
            break;
        case OPT_OFFLINE:
            o.offline = 1;
            break;
        case OPT_JSON:
            o.json = 1;
            break;
        case OPT_VERIFY:
            o.verify = 1;
            break;
        case 'y':
        case OPT_YES:
            o.yes = 1;
            break;
        case OPT_FOR:
            o.for_command = optarg;
            break;
        case OPT_OTHER_ENGINES:
            o.other_engines = 1;
            break;
        case OPT_FORMAT:
            o.format = optarg;
            if (!steno_store_format_is_known(optarg)) {
                fprintf(stderr, "steno models: unknown format '%s' (ggml, pt, ct2)\n", optarg);
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
    int n_args = argc - 1 - optind;
    char **args = argv + 1 + optind;
    steno_store_params params = {.model_dirs = o.dirs, .n_model_dirs = o.n_dirs, .offline = o.offline};
    steno_store *store;
    if (steno_store_open(&params, &store) != STENO_OK) {
        fprintf(stderr, "steno models: %s\n", steno_context_error(NULL));
        return ST_EXIT_FAILURE;
    }
    int flags = (o.json ? STENO_REPORT_JSON : 0) | (o.verify ? STENO_REPORT_VERIFY : 0) |
                (o.other_engines ? STENO_REPORT_OTHER_ENGINES : 0);
    progress_state progress = {.tty = isatty(STDERR_FILENO)};
    steno_store_callbacks callbacks = {.confirm_download = o.yes ? NULL : confirm_download,
                                       .confirm_remove = o.yes ? NULL : confirm_remove,
                                       .progress = show_progress,
                                       .user = &progress};
    steno_status status = STENO_ERR_INVALID_ARGUMENT;
    if (!strcmp(action, "check")) {
        status = n_args > 0 ? steno_store_check_paths(store, (const char *const *)args, n_args, flags, stdout, stderr)
                            : steno_store_check(store, o.for_command, flags, stdout, stderr);
    } else if (!strcmp(action, "list")) {
        status = steno_store_list(store, flags, stdout, stderr);
    } else if (!strcmp(action, "pull") && n_args == 1) {
        status = steno_store_pull(store, args[0], o.format, &callbacks, stdout, stderr);
    } else if (!strcmp(action, "rm") && n_args == 1) {
        status = steno_store_remove(store, args[0], o.format, flags, &callbacks, stdout, stderr);
    } else {
        usage(stderr);
        steno_store_free(store);
        return ST_EXIT_USAGE;
    }
    steno_store_free(store);
    return status == STENO_OK ? ST_EXIT_OK : ST_EXIT_FAILURE;
}
