/* hf_cache.c — resolving and checking Hugging Face cache repositories and snapshots (see hf_cache.h). */
#include "models/hf_cache.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    CACHE_PATH_SIZE = 4096,
    MAX_SNAPSHOT_DEPTH = 16, /* subfolders of a snapshot; deeper is refused */
};

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int join(char *out, size_t size, const char *dir, const char *name) {
    int written = snprintf(out, size, "%s/%s", dir, name);
    return written >= 0 && (size_t)written < size;
}

int st_hf_cache_is_repo(const char *dir) {
    char path[CACHE_PATH_SIZE];
    if (!join(path, sizeof path, dir, "snapshots") || !is_dir(path)) return 0;
    return (join(path, sizeof path, dir, "refs") && is_dir(path)) ||
           (join(path, sizeof path, dir, "blobs") && is_dir(path));
}

int st_hf_cache_snapshot_repo(const char *dir, char *repo, size_t repo_size) {
    char real[PATH_MAX];
    if (!realpath(dir, real) || !is_dir(real)) return 0;
    char *slash = strrchr(real, '/');
    if (!slash || slash == real) return 0;
    *slash = '\0'; /* real is now …/snapshots */
    char *parent = strrchr(real, '/');
    if (!parent || strcmp(parent + 1, "snapshots") != 0 || parent == real) return 0;
    *parent = '\0'; /* the repository folder */
    if (!st_hf_cache_is_repo(real)) return 0;
    int written = snprintf(repo, repo_size, "%s", real);
    return written >= 0 && (size_t)written < repo_size;
}

/* A name refs/ may hold: huggingface_hub writes the 40-hex commit; a plain folder name
 * (letters, digits, '.', '_', '-', not starting with '.') is accepted too. Never a path. */
static int valid_ref(const char *name, size_t length) {
    if (length == 0 || length > 255 || name[0] == '.') return 0;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* repo/snapshots/name into snapshot, checked: a folder whose real path lies directly inside
 * the repository's real snapshots/ folder (a symlinked snapshot pointing elsewhere is refused). */
static steno_status snapshot_inside(const char *repo_dir, const char *name, char *snapshot, size_t size,
                                    st_error *err) {
    char snapshots[CACHE_PATH_SIZE], real_snapshots[PATH_MAX], real[PATH_MAX];
    if (!join(snapshots, sizeof snapshots, repo_dir, "snapshots") || !join(snapshot, size, snapshots, name)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", repo_dir);
    }
    if (!realpath(snapshots, real_snapshots)) {
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: cannot resolve: %s", snapshots, strerror(errno));
    }
    if (!realpath(snapshot, real) || !is_dir(real)) {
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: refs/main names %s, but snapshots/%s is missing", repo_dir,
                            name, name);
    }
    char *slash = strrchr(real, '/');
    if (!slash || (size_t)(slash - real) != strlen(real_snapshots) ||
        strncmp(real, real_snapshots, (size_t)(slash - real)) != 0) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: snapshot %s resolves to %s, outside %s", repo_dir, name, real,
                            real_snapshots);
    }
    return STENO_OK;
}

/* The only entry of repo/snapshots, for a repository without refs/main. */
static steno_status only_snapshot(const char *repo_dir, char *snapshot, size_t size, st_error *err) {
    char snapshots[CACHE_PATH_SIZE], name[256] = "";
    if (!join(snapshots, sizeof snapshots, repo_dir, "snapshots")) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", repo_dir);
    }
    DIR *d = opendir(snapshots);
    if (!d) return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: cannot open: %s", snapshots, strerror(errno));
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        if (++found == 1) snprintf(name, sizeof name, "%s", entry->d_name);
    }
    closedir(d);
    if (found != 1) {
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: no refs/main and %d snapshots: cannot tell which to use",
                            repo_dir, found);
    }
    return snapshot_inside(repo_dir, name, snapshot, size, err);
}

int st_hf_cache_parse_ref(const uint8_t *data, size_t size, char *name, size_t name_size) {
    /* huggingface_hub writes the bare commit; allow surrounding whitespace, nothing else */
    size_t start = 0, end = size;
    while (start < end && (data[start] == ' ' || data[start] == '\t' || data[start] == '\r' || data[start] == '\n'))
        start++;
    while (end > start &&
           (data[end - 1] == ' ' || data[end - 1] == '\t' || data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    if (end - start >= name_size || !valid_ref((const char *)data + start, end - start)) return 0;
    memcpy(name, data + start, end - start);
    name[end - start] = '\0';
    return 1;
}

steno_status st_hf_cache_snapshot(const char *repo_dir, char *snapshot, size_t size, st_error *err) {
    char ref_path[CACHE_PATH_SIZE];
    if (!join(ref_path, sizeof ref_path, repo_dir, "refs/main")) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", repo_dir);
    }
    struct stat st;
    if (lstat(ref_path, &st) != 0 && errno == ENOENT) return only_snapshot(repo_dir, snapshot, size, err);
    /* a FIFO or a device would block or stream forever: only a regular file is read */
    if (stat(ref_path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: not a regular file", ref_path);
    }
    FILE *f = fopen(ref_path, "rb");
    if (!f) return st_error_set(err, STENO_ERR_IO, "%s: cannot open: %s", ref_path, strerror(errno));
    char text[300], name[256];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    if (n == sizeof text || !st_hf_cache_parse_ref((const uint8_t *)text, n, name, sizeof name)) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: expected a 40-digit hexadecimal commit hash (or a plain snapshot name), not a path",
                            ref_path);
    }
    return snapshot_inside(repo_dir, name, snapshot, size, err);
}

/* Checks one snapshot folder's entries, descending into real subfolders. */
static steno_status check_folder(const char *root, size_t root_length, const char *dir, int depth, st_error *err) {
    if (depth > MAX_SNAPSHOT_DEPTH) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: snapshot folders nested more than %d deep", dir,
                            MAX_SNAPSHOT_DEPTH);
    }
    DIR *d = opendir(dir);
    if (!d) return st_error_set(err, STENO_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    steno_status status = STENO_OK;
    struct dirent *entry;
    while (status == STENO_OK && (entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        char path[CACHE_PATH_SIZE], real[PATH_MAX];
        if (!join(path, sizeof path, dir, entry->d_name)) {
            status = st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", dir);
            break;
        }
        struct stat st;
        if (lstat(path, &st) != 0) {
            status = st_error_set(err, STENO_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            status = check_folder(root, root_length, path, depth + 1, err);
        } else if (!realpath(path, real)) {
            int e = errno;
            char target[256] = "";
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n > 0) target[n] = '\0';
            if (e == ELOOP) {
                status = st_error_set(err, STENO_ERR_FORMAT, "%s: symlink loop (-> %s)", path, target);
            } else if (e == ENOENT) {
                status = st_error_set(err, STENO_ERR_NOT_FOUND,
                                      "%s: points at %s, which is missing (an incomplete "
                                      "download?)",
                                      path, target);
            } else {
                status = st_error_set(err, STENO_ERR_IO, "%s: cannot resolve: %s", path, strerror(e));
            }
        } else if (strncmp(real, root, root_length) != 0 || real[root_length] != '/') {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: resolves to %s, outside the repository folder %s", path,
                                  real, root);
        } else if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: resolves to %s, which is not a regular file", path, real);
        }
    }
    closedir(d);
    return status;
}

steno_status st_hf_cache_check_snapshot(const char *repo_dir, const char *snapshot_dir, st_error *err) {
    char root[PATH_MAX];
    if (!realpath(repo_dir, root)) {
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: cannot resolve: %s", repo_dir, strerror(errno));
    }
    return check_folder(root, strlen(root), snapshot_dir, 0, err);
}

/* "org/name" with the characters the Hub allows in repository names. */
static int valid_repo_id(const char *id) {
    const char *slash = strchr(id, '/');
    if (!slash || slash == id || !slash[1] || strchr(slash + 1, '/')) return 0;
    if (strstr(id, "..") || strstr(id, "--") || id[0] == '.' || slash[1] == '.') return 0;
    for (const char *p = id; *p; p++) {
        if (p == slash) continue;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.')) {
            return 0;
        }
    }
    return strlen(id) < 200;
}

steno_status st_hf_cache_find(const char *cache_root, const char *repo_id, char *snapshot_path, size_t size,
                              st_error *err) {
    if (!valid_repo_id(repo_id)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "'%.200s' is not a repository id of the form org/name",
                            repo_id);
    }
    char repo[CACHE_PATH_SIZE];
    const char *slash = strchr(repo_id, '/');
    int written =
        snprintf(repo, sizeof repo, "%s/models--%.*s--%s", cache_root, (int)(slash - repo_id), repo_id, slash + 1);
    if (written < 0 || (size_t)written >= sizeof repo) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", cache_root);
    }
    if (!st_hf_cache_is_repo(repo)) {
        return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: %s is not in this cache", repo, repo_id);
    }
    steno_status status = st_hf_cache_snapshot(repo, snapshot_path, size, err);
    if (status == STENO_OK) status = st_hf_cache_check_snapshot(repo, snapshot_path, err);
    return status;
}
