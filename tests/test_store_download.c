/*
 * test_store_download.c — `steno models pull` against a real HTTP server: Debian's nginx on
 * 127.0.0.1 (started and stopped here), serving files with Range support at 1 MB/s, with the
 * Hub's X-Linked-Etag / X-Repo-Commit headers. Covers progress, resume after a killed transfer,
 * no second download of a present model, a corrupt file (SHA-1 mismatch), offline mode, two
 * concurrent pulls fetching once, a full disk and a read-only folder (small tmpfs mounts). After
 * every fault no partial model is visible. Expected digests come from coreutils' sha256sum.
 * A model already here in any usable format (the real CTranslate2 or .pt copy of base.en from
 * the reference fixtures) is never fetched again: no request reaches the server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/download.h"
#include "store/store.h"
#include "store_support.h"
#include "test_support.h"

extern char **environ;

#define PAYLOAD_BYTES (4 * 1024 * 1024)
#define COMMIT "fedcba9876543210fedcba9876543210fedcba98"
#define CT2_PATH "/Systran/faster-whisper-tiny/resolve/main/model.bin"

static char work[256];
static char endpoint[128];
static char payload_sha256[65];
static pid_t nginx_pid;
static char test_models[4096]; /* STENO_TEST_MODELS, saved before the environment is cleared */

/* A CTranslate2 model.bin (version 6, WhisperSpec) whose one int8 variable holds random bytes. */
static void write_ct2_payload(const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint32_t u32;
    uint16_t u16;
#define PUT(v) fwrite(&(v), sizeof(v), 1, f)
#define PUT_STRING(s) (u16 = (uint16_t)(strlen(s) + 1), PUT(u16), fwrite(s, 1, strlen(s) + 1, f))
    u32 = 6, PUT(u32);
    PUT_STRING("WhisperSpec");
    u32 = 3, PUT(u32);
    u32 = 2, PUT(u32);
    const char *conv = "encoder.conv1.weight";
    PUT_STRING(conv);
    uint8_t rank = 3, dtype = 4;
    PUT(rank);
    uint32_t dims[3] = {384, 80, 3};
    fwrite(dims, 4, 3, f);
    PUT(dtype);
    u32 = 0, PUT(u32);
    PUT_STRING("encoder.layer_0.ffn.linear_0.weight");
    rank = 1, dtype = 1;
    PUT(rank);
    u32 = PAYLOAD_BYTES, PUT(u32);
    PUT(dtype);
    PUT(u32);
    srand(7);
    for (int i = 0; i < PAYLOAD_BYTES; i++)
        fputc(rand() & 0xff, f);
    u32 = 0, PUT(u32);
    fclose(f);
#undef PUT
#undef PUT_STRING
}

static int port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&address, sizeof address) == 0;
    close(fd);
    return ok;
}

static void stop_nginx(void) {
    if (nginx_pid > 0) {
        kill(nginx_pid, SIGTERM);
        waitpid(nginx_pid, NULL, 0);
        nginx_pid = 0;
    }
}

static int start_nginx(void **state) {
    (void)state;
    if (access("/usr/sbin/nginx", X_OK) != 0) {
        fprintf(stderr, "SKIP: /usr/sbin/nginx is missing (scripts/install-deps installs nginx-light)\n");
        exit(ST_TEST_SKIP);
    }
    snprintf(work, sizeof work, "/tmp/steno-store-XXXXXX");
    if (!mkdtemp(work)) return -1;
    st_test_sh(
        "mkdir -p %s/www/Systran/faster-whisper-tiny/resolve/main %s/www/ggerganov/whisper.cpp/resolve/main %s/tmp",
        work, work, work);
    char path[512];
    snprintf(path, sizeof path, "%s/www%s", work, CT2_PATH);
    write_ct2_payload(path);
    st_test_sha256sum(path, payload_sha256);
    st_test_sh("cd %s/www/Systran/faster-whisper-tiny/resolve/main && echo '{\"lang_ids\": []}' > config.json && "
               "echo '{}' > tokenizer.json && printf 'a\\nb\\n' > vocabulary.txt",
               work);
    /* not the published ggml-tiny.bin: its SHA-1 cannot match whisper.cpp's */
    st_test_sh("head -c 300000 /dev/urandom > %s/www/ggerganov/whisper.cpp/resolve/main/ggml-tiny.bin", work);
    int port = 20000 + (int)(getpid() % 20000);
    snprintf(path, sizeof path, "%s/nginx.conf", work);
    FILE *conf = fopen(path, "w");
    assert_non_null(conf);
    fprintf(conf,
            "daemon off; master_process off; worker_processes 1; pid %s/nginx.pid; error_log %s/error.log;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "  log_format steno '$request $status \"$http_range\" $body_bytes_sent';\n"
            "  access_log %s/access.log steno;\n"
            "  client_body_temp_path %s/tmp; proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;\n"
            "  uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;\n"
            "  server {\n"
            "    listen 127.0.0.1:%d; root %s/www;\n"
            "    add_header X-Repo-Commit %s always;\n"
            "    location = %s { limit_rate 1m; add_header X-Repo-Commit %s always;\n"
            "                    add_header X-Linked-Etag '\"%s\"' always; }\n"
            "  }\n"
            "}\n",
            work, work, work, work, work, work, work, work, port, work, COMMIT, CT2_PATH, COMMIT, payload_sha256);
    fclose(conf);
    char *argv[] = {"/usr/sbin/nginx", "-p", work, "-c", path, "-e", "stderr", NULL};
    if (posix_spawn(&nginx_pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
    for (int i = 0; i < 100 && !port_open(port); i++)
        usleep(50000);
    if (!port_open(port)) {
        stop_nginx();
        return -1;
    }
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    setenv("STENO_HF_ENDPOINT", endpoint, 1);
    setenv("STENO_OPENAI_ENDPOINT", endpoint, 1);
    char home[300];
    snprintf(home, sizeof home, "%s/home", work);
    setenv("HOME", home, 1);
    snprintf(home, sizeof home, "%s/steno-models", work);
    setenv("STENO_MODELS", home, 1);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("WHISPER_CACHE_DIR");
    unsetenv("HF_HOME");
    unsetenv("HF_HUB_OFFLINE");
    snprintf(test_models, sizeof test_models, "%s", getenv("STENO_TEST_MODELS") ? getenv("STENO_TEST_MODELS") : "");
    unsetenv("STENO_TEST_MODELS");
    unsetenv("HF_TOKEN");
    return 0;
}

static int finish(void **state) {
    (void)state;
    stop_nginx();
    char command[512];
    snprintf(command, sizeof command, "rm -rf %s", work);
    return system(command) == 0 ? 0 : -1;
}

static void use_hub(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", work, name);
    setenv("HF_HUB_CACHE", path, 1);
}

/* Lines of the access log that contain `needle`. */
static int log_count(const char *needle) {
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/access.log", work);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static pid_t spawn_pull(const char *arguments, const char *log) {
    char command[4096];
    snprintf(command, sizeof command, "exec %s/steno %s > %s 2>&1", getenv("STENO_BINARY_DIR"), arguments, log);
    char *argv[] = {"/bin/sh", "-c", command, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
    return pid;
}

static int count_matches(const char *pattern) {
    glob_t g;
    int n = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    globfree(&g);
    return n;
}

/* The model as the store's users see it: a CTranslate2 copy of tiny in the HF cache. */
static int visible_ct2_copies(void) {
    st_store store;
    st_store_init(&store, NULL, 0);
    st_store_copies copies;
    st_error err;
    assert_int_equal(st_store_find(&store, st_catalogue_find("tiny"), &copies, &err), STENO_OK);
    int n = copies.count;
    st_store_copies_free(&copies);
    return n;
}

typedef struct progress_log {
    int calls;
    int64_t last_done, total;
    int monotonic;
} progress_log;

static void record(void *user, const char *label, int64_t done, int64_t total) {
    (void)label;
    progress_log *p = user;
    if (done < p->last_done) p->monotonic = 0;
    p->calls++;
    p->last_done = done;
    p->total = total;
}

static void progress_reaches_the_whole_file(void **state) {
    (void)state;
    char url[256], destination[512], partial[600], lock[600];
    snprintf(url, sizeof url, "%s%s", endpoint, CT2_PATH);
    snprintf(destination, sizeof destination, "%s/plain/model.bin", work);
    snprintf(partial, sizeof partial, "%s.incomplete", destination);
    snprintf(lock, sizeof lock, "%s.lock", destination);
    progress_log p = {.monotonic = 1};
    st_download_request request = {.url = url,
                                   .destination = destination,
                                   .partial = partial,
                                   .lock = lock,
                                   .sha256 = payload_sha256,
                                   .expected_size = -1,
                                   .label = "model.bin",
                                   .progress = record,
                                   .user = &p};
    st_download_result result;
    st_error err;
    assert_int_equal(st_download(&request, &result, &err), STENO_OK);
    struct stat st;
    assert_int_equal(stat(destination, &st), 0);
    assert_true(p.calls >= 3); /* 4 MB at 1 MB/s: several updates */
    assert_true(p.monotonic);
    assert_int_equal(p.last_done, st.st_size);
    assert_int_equal(p.total, st.st_size);
    assert_int_equal(result.transferred, st.st_size);
    assert_string_equal(result.digest.sha256, payload_sha256);
    assert_int_not_equal(access(partial, F_OK), 0);
}

static void killed_transfer_resumes_with_range(void **state) {
    (void)state;
    use_hub("hub");
    char log[512], pattern[512];
    snprintf(log, sizeof log, "%s/pull1.log", work);
    pid_t pid = spawn_pull("models pull tiny --format ct2", log);
    snprintf(pattern, sizeof pattern, "%s/hub/models--Systran--faster-whisper-tiny/blobs/steno-model.bin.incomplete",
             work);
    struct stat st = {0};
    for (int i = 0; i < 400 && !(stat(pattern, &st) == 0 && st.st_size > 1000000); i++)
        usleep(25000);
    assert_true(st.st_size > 1000000 && st.st_size < PAYLOAD_BYTES);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* killed mid-transfer: the partial is kept, no model is visible */
    snprintf(pattern, sizeof pattern, "%s/hub/models--Systran--faster-whisper-tiny/snapshots/*/model.bin", work);
    assert_int_equal(count_matches(pattern), 0);
    assert_int_equal(visible_ct2_copies(), 0);
    int ranged_before = log_count("model.bin HTTP/1.1 206");
    char partial[512];
    snprintf(partial, sizeof partial, "%s/hub/models--Systran--faster-whisper-tiny/blobs/steno-model.bin.incomplete",
             work);
    assert_int_equal(stat(partial, &st), 0);
    char *output, resumed[128];
    assert_int_equal(st_test_run_cli("models pull tiny --format ct2", &output), 0);
    /* the CLI says how much of the earlier partial it kept, and how much came now */
    char served[512];
    struct stat whole;
    snprintf(served, sizeof served, "%s/www%s", work, CT2_PATH);
    assert_int_equal(stat(served, &whole), 0);
    snprintf(resumed, sizeof resumed, "model.bin: resumed from %lld bytes, %lld fetched now", (long long)st.st_size,
             (long long)(whole.st_size - st.st_size));
    assert_non_null(strstr(output, resumed));
    free(output);
    assert_int_equal(log_count("model.bin HTTP/1.1 206"), ranged_before + 1);
    assert_int_equal(count_matches(pattern), 1);
    glob_t g;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    char digest[65];
    st_test_sha256sum(g.gl_pathv[0], digest);
    assert_string_equal(digest, payload_sha256);
    char target[512];
    ssize_t n = readlink(g.gl_pathv[0], target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    char expected[128];
    snprintf(expected, sizeof expected, "../../blobs/%s", payload_sha256);
    assert_string_equal(target, expected);
    assert_non_null(strstr(g.gl_pathv[0], "/snapshots/" COMMIT "/"));
    globfree(&g);
    assert_int_equal(visible_ct2_copies(), 1);

    /* present now in CTranslate2 format: a second pull fetches nothing */
    int requests = log_count("GET ");
    assert_int_equal(st_test_run_cli("models pull tiny --format ct2", &output), 0);
    assert_non_null(strstr(output, "already here"));
    free(output);
    assert_int_equal(log_count("GET "), requests);
}

/* Hard-links (or copies) a file of the test-model cache to destination; 0 when it is absent. */
static int place_model(const char *relative, const char *destination) {
    char source[4200];
    snprintf(source, sizeof source, "%s/%s", test_models, relative);
    if (!test_models[0] || access(source, R_OK) != 0) return 0;
    if (link(source, destination) != 0) st_test_sh("cp '%s' '%s'", source, destination);
    return 1;
}

static void any_usable_format_is_never_downloaded_again(void **state) {
    (void)state;
    use_hub("hub-present");
    char folder[512], path[700];
    snprintf(folder, sizeof folder, "%s/steno-models/faster-whisper-base.en", work);
    st_test_sh("mkdir -p %s %s/whisper-cache", folder, work);
    static const char *const ct2_files[] = {"model.bin", "config.json", "vocabulary.json", "preprocessor_config.json"};
    for (size_t i = 0; i < sizeof ct2_files / sizeof ct2_files[0]; i++) {
        char relative[256];
        snprintf(relative, sizeof relative, "derived/ct2-base.en-int8/%s", ct2_files[i]);
        snprintf(path, sizeof path, "%s/%s", folder, ct2_files[i]);
        if (!place_model(relative, path)) {
            print_message("%s is missing (the reference_ct2 fixture writes it)\n", relative);
            skip();
        }
    }
    /* CTranslate2 int8 in steno's folder: the default pull (ggml) is not needed */
    int requests = log_count("GET ");
    char *output;
    assert_int_equal(st_test_run_cli("models pull base.en", &output), 0);
    assert_non_null(strstr(output, "base.en is already here"));
    assert_non_null(strstr(output, "CTranslate2 in STENO_MODELS"));
    assert_non_null(strstr(output, "nothing downloaded"));
    free(output);
    assert_int_equal(log_count("GET "), requests);

    /* only openai's .pt in WHISPER_CACHE_DIR: the same */
    st_test_sh("rm -r %s", folder);
    snprintf(path, sizeof path, "%s/whisper-cache/base.en.pt", work);
    if (!place_model("derived/base.en.pt", path)) skip();
    snprintf(path, sizeof path, "%s/whisper-cache", work);
    setenv("WHISPER_CACHE_DIR", path, 1);
    assert_int_equal(st_test_run_cli("models pull base.en", &output), 0);
    assert_non_null(strstr(output, "base.en is already here"));
    assert_non_null(strstr(output, "torch .pt in WHISPER_CACHE_DIR"));
    free(output);
    assert_int_equal(log_count("GET "), requests);

    /* and with nothing usable left, the same command does reach the server */
    st_test_sh("rm -r %s/whisper-cache", work);
    assert_int_equal(st_test_run_cli("models pull base.en", &output), 1);
    free(output);
    unsetenv("WHISPER_CACHE_DIR");
    assert_true(log_count("GET /ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin") >= 1);
}

static void corrupt_download_is_not_installed(void **state) {
    (void)state;
    use_hub("hub-corrupt");
    char *output, pattern[512];
    assert_int_equal(st_test_run_cli("models pull tiny", &output), 1);
    assert_non_null(strstr(output, "corrupt"));
    assert_non_null(strstr(output, "SHA-1 mismatch"));
    free(output);
    snprintf(pattern, sizeof pattern, "%s/hub-corrupt/models--ggerganov--whisper.cpp/snapshots/*/*", work);
    assert_int_equal(count_matches(pattern), 0);
    snprintf(pattern, sizeof pattern, "%s/hub-corrupt/models--ggerganov--whisper.cpp/blobs/*", work);
    assert_int_equal(count_matches(pattern), 0);
}

static void offline_never_touches_the_network(void **state) {
    (void)state;
    use_hub("hub-offline");
    int requests = log_count("GET ");
    char *output;
    setenv("HF_HUB_OFFLINE", "1", 1);
    assert_int_equal(st_test_run_cli("models pull tiny --format ct2", &output), 1);
    assert_non_null(strstr(output, "offline"));
    assert_non_null(strstr(output, "model.bin"));
    free(output);
    unsetenv("HF_HUB_OFFLINE");
    assert_int_equal(st_test_run_cli("models pull base --offline", &output), 1);
    assert_non_null(strstr(output, "offline"));
    free(output);
    assert_int_equal(log_count("GET "), requests);
}

static void concurrent_pulls_download_once(void **state) {
    (void)state;
    use_hub("hub-concurrent");
    int before = log_count("GET " CT2_PATH);
    char log_a[512], log_b[512];
    snprintf(log_a, sizeof log_a, "%s/pull-a.log", work);
    snprintf(log_b, sizeof log_b, "%s/pull-b.log", work);
    pid_t a = spawn_pull("models pull tiny --format ct2", log_a);
    pid_t b = spawn_pull("models pull tiny --format ct2", log_b);
    int status_a, status_b;
    waitpid(a, &status_a, 0);
    waitpid(b, &status_b, 0);
    assert_true(WIFEXITED(status_a) && WEXITSTATUS(status_a) == 0);
    assert_true(WIFEXITED(status_b) && WEXITSTATUS(status_b) == 0);
    assert_int_equal(log_count("GET " CT2_PATH), before + 1);
    char *text_a = st_test_read_file(log_a, NULL), *text_b = st_test_read_file(log_b, NULL);
    assert_true(strstr(text_a, "waiting") || strstr(text_b, "waiting"));
    free(text_a);
    free(text_b);
    assert_int_equal(visible_ct2_copies(), 1);
}

/* A tmpfs of `size` at work/name, read-only when asked; 0 when mounting is impossible. */
static int mount_small(const char *name, const char *size, int read_only, char *path, size_t path_size) {
    snprintf(path, path_size, "%s/%s", work, name);
    mkdir(path, 0755);
    char options[64];
    snprintf(options, sizeof options, "size=%s", size);
    if (mount("tmpfs", path, "tmpfs", 0, options) != 0) return 0;
    if (read_only && mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY, options) != 0) {
        umount(path);
        return 0;
    }
    return 1;
}

static void full_disk_leaves_no_partial_model(void **state) {
    (void)state;
    char path[512];
    if (!mount_small("full", "2m", 0, path, sizeof path)) {
        print_message("cannot mount a tmpfs (%s): the disk-full case needs root\n", strerror(errno));
        skip();
    }
    char hub[600];
    snprintf(hub, sizeof hub, "%s/hub", path);
    setenv("HF_HUB_CACHE", hub, 1);
    char *output;
    int code = st_test_run_cli("models pull tiny --format ct2", &output);
    int full = strstr(output, "No space left on device") != NULL;
    free(output);
    int visible = visible_ct2_copies();
    char pattern[700];
    snprintf(pattern, sizeof pattern, "%s/models--*/snapshots/*/*", hub);
    int links = count_matches(pattern);
    umount(path);
    assert_int_equal(code, 1);
    assert_true(full);
    assert_int_equal(visible, 0);
    assert_int_equal(links, 0);
}

static void read_only_folder_is_a_clear_error(void **state) {
    (void)state;
    char path[512];
    if (!mount_small("readonly", "1m", 1, path, sizeof path)) {
        print_message("cannot mount a read-only tmpfs (%s)\n", strerror(errno));
        skip();
    }
    setenv("HF_HUB_CACHE", path, 1);
    char *output;
    /* the read-only cache is skipped for writing; --model-dir names it explicitly */
    char arguments[700];
    snprintf(arguments, sizeof arguments, "models pull tiny --format ct2 --model-dir %s", path);
    int code = st_test_run_cli(arguments, &output);
    int clear = strstr(output, "Read-only file system") != NULL;
    free(output);
    int visible = visible_ct2_copies();
    umount(path);
    assert_int_equal(code, 1);
    assert_true(clear);
    assert_int_equal(visible, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(progress_reaches_the_whole_file),
        cmocka_unit_test(killed_transfer_resumes_with_range),
        cmocka_unit_test(corrupt_download_is_not_installed),
        cmocka_unit_test(offline_never_touches_the_network),
        cmocka_unit_test(concurrent_pulls_download_once),
        cmocka_unit_test(full_disk_leaves_no_partial_model),
        cmocka_unit_test(read_only_folder_is_a_clear_error),
        cmocka_unit_test(any_usable_format_is_never_downloaded_again),
    };
    return cmocka_run_group_tests(tests, start_nginx, finish);
}
