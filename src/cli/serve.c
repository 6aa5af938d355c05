/*
 * serve.c — `steno serve`: runs the HTTP server (src/server/) until SIGINT or SIGTERM.
 *
 * On start it prints one line, "steno serve: listening on http://HOST:PORT", which scripts
 * and tests read to learn the port when --port 0 asks for any free one.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "server/server.h"
#include "util/parse.h"

static void usage(FILE *out) {
    fprintf(out, "usage: steno serve [options]\n"
                 "\n"
                 "An OpenAI-compatible speech-to-text API (POST /v1/audio/transcriptions, /v1/audio/translations),\n"
                 "long jobs (/v1/jobs) kept in SQLite, and a web page at /.\n"
                 "\n"
                 "  --host ADDRESS       address to listen on (default 127.0.0.1: this machine only)\n"
                 "  --port N             port (default 8080; 0: any free port, printed on start)\n"
                 "  --api-key KEY        require 'Authorization: Bearer KEY' on /v1/ (default: $STENO_API_KEY)\n"
                 "  --max-upload-mb N    largest audio upload in MB (default 25, OpenAI's limit)\n"
                 "  --workers N          jobs transcribed at once (default 2)\n"
                 "  --threads N          CPU threads per job (default: cores / workers)\n"
                 "  --queue N            jobs waiting beyond those (default 64; more get 503)\n"
                 "  --db PATH            job database (default $XDG_DATA_HOME/steno/server.db);\n"
                 "                       uploads wait in PATH.uploads/\n"
                 "  -m, --model NAME     the model for requests naming none or 'whisper-1' (default base.en)\n"
                 "  --timeout SECONDS    close connections idle this long (default 120)\n"
                 "  --model-idle SECONDS unload a model unused this long (default 300)\n"
                 "  --job-retention HOURS delete ended /v1/jobs jobs (result and any upload) this long\n"
                 "                       after they end (default 168: a week; 0: keep forever)\n");
}

/* $XDG_DATA_HOME/steno/server.db, creating the folder. */
static int default_db_path(char *path, size_t size) {
    const char *data = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char folder[4096];
    if (data && *data)
        snprintf(folder, sizeof folder, "%s/steno", data);
    else if (home && *home)
        snprintf(folder, sizeof folder, "%s/.local/share/steno", home);
    else
        return 0;
    char partial[4096];
    for (size_t i = 1; folder[i]; i++) { /* mkdir -p */
        if (folder[i] != '/') continue;
        snprintf(partial, sizeof partial, "%.*s", (int)i, folder);
        mkdir(partial, 0700);
    }
    mkdir(folder, 0700);
    snprintf(path, size, "%s/server.db", folder);
    return 1;
}

int st_cli_serve(int argc, char **argv) {
    st_server_config config = st_server_default_config();
    config.api_key = getenv("STENO_API_KEY");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads_given = 0;
    char db_path[4096] = "";
    static const struct option long_options[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"api-key", required_argument, NULL, 'k'},
        {"max-upload-mb", required_argument, NULL, 'u'},
        {"workers", required_argument, NULL, 'w'},
        {"threads", required_argument, NULL, 't'},
        {"queue", required_argument, NULL, 'q'},
        {"db", required_argument, NULL, 'd'},
        {"model", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 'T'},
        {"model-idle", required_argument, NULL, 'I'},
        {"job-retention", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "m:h", long_options, NULL)) != -1) {
        long value = 0;
        int ok = 1;
        switch (c) {
        case 'H':
            config.host = optarg;
            break;
        case 'p':
            ok = st_parse_long(optarg, 0, 65535, &value), config.port = (int)value;
            break;
        case 'k':
            config.api_key = optarg;
            break;
        case 'u':
            ok = st_parse_long(optarg, 1, 1L << 20, &value), config.max_upload_bytes = (size_t)value << 20;
            break;
        case 'w':
            ok = st_parse_long(optarg, 1, 256, &value), config.workers = (int)value;
            break;
        case 't':
            ok = st_parse_long(optarg, 1, 256, &value), config.threads_per_job = (int)value, threads_given = 1;
            break;
        case 'q':
            ok = st_parse_long(optarg, 1, 1L << 20, &value), config.queue_limit = (int)value;
            break;
        case 'd':
            snprintf(db_path, sizeof db_path, "%s", optarg);
            break;
        case 'm':
            config.default_model = optarg;
            break;
        case 'T':
            ok = st_parse_long(optarg, 1, 86400, &value), config.timeout_seconds = (unsigned)value;
            break;
        case 'I':
            ok = st_parse_long(optarg, 0, 1L << 30, &value), config.model_idle_seconds = (double)value;
            break;
        case 'R': { /* hours, fractions allowed; 0 keeps jobs forever; at most 100 years */
            char *end;
            double hours = strtod(optarg, &end);
            ok = end != optarg && !*end && isfinite(hours) && hours >= 0 && hours <= 876000;
            config.job_retention_seconds = hours * 3600;
            break;
        }
        case 'h':
            usage(stdout);
            return ST_EXIT_OK;
        default:
            usage(stderr);
            return ST_EXIT_USAGE;
        }
        if (!ok) {
            const struct option *o = long_options;
            while (o->name && o->val != c)
                o++;
            fprintf(stderr, "steno serve: bad value '%s' for --%s\n", optarg, o->name ? o->name : "?");
            return ST_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "steno serve: unexpected argument '%s'\n", argv[optind]);
        return ST_EXIT_USAGE;
    }
    if (!threads_given) config.threads_per_job = cores > config.workers ? (int)(cores / config.workers) : 1;
    if (!db_path[0] && !default_db_path(db_path, sizeof db_path)) {
        fprintf(stderr, "steno serve: no HOME or XDG_DATA_HOME: give --db PATH\n");
        return ST_EXIT_USAGE;
    }
    config.db_path = db_path;

    /* the signals are taken by sigwait below, in this thread, not delivered to any other */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    st_server *server;
    st_error err;
    st_error_clear(&err);
    if (st_server_start(&config, &server, &err) != STENO_OK) {
        fprintf(stderr, "steno serve: %s\n", st_error_message(&err));
        return ST_EXIT_FAILURE;
    }
    printf("steno serve: listening on http://%s%s%s:%d (%d workers x %d threads, jobs in %s)\n",
           strchr(config.host, ':') ? "[" : "", config.host, strchr(config.host, ':') ? "]" : "",
           st_server_port(server), config.workers, config.threads_per_job, config.db_path);
    if (config.api_key && *config.api_key) printf("steno serve: API key required\n");
    fflush(stdout);
    int received;
    sigwait(&signals, &received);
    fprintf(stderr, "steno serve: stopping\n");
    st_server_stop(server);
    return ST_EXIT_OK;
}
