/*
 * remove.c — removal plans for `steno models rm`: exactly a model's own files, checked
 * against the store's folders with real paths (see remove.h).
 */
#include "store/remove.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/hf_cache.h"

enum { MAX_DEPTH = 16 }; /* subfolders of a snapshot, as hf_cache.c allows */

void st_removal_free(st_removal *plan) {
    free(plan->items);
    memset(plan, 0, sizeof *plan);
}

static steno_status add(st_removal *plan, const char *path, st_removal_kind kind, st_error *err) {
    if (plan->count == plan->capacity) {
        int capacity = plan->capacity ? 2 * plan->capacity : 16;
        st_removal_entry *items = realloc(plan->items, (size_t)capacity * sizeof *items);
        if (!items) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory planning the removal");
        plan->items = items;
        plan->capacity = capacity;
    }
    st_removal_entry *e = &plan->items[plan->count];
    if (snprintf(e->path, sizeof e->path, "%s", path) >= (int)sizeof e->path) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%.200s...: path too long", path);
    }
    struct stat st;
    e->kind = kind;
    e->size = kind == ST_REMOVE_FILE && lstat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    plan->count++;
    return STENO_OK;
}

static int planned(const st_removal *plan, const char *path) {
    for (int i = 0; i < plan->count; i++) {
        if (!strcmp(plan->items[i].path, path)) return 1;
    }
    return 0;
}

/* Whether the real path of the folder holding `path` is `folder_real`. */
static int parent_is(const char *path, const char *folder_real) {
    char copy[4096], real[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    return realpath(dirname(copy), real) && !strcmp(real, folder_real);
}

/* The files a model folder outside any cache holds, by name: CTranslate2's and transformers'.
 * Anything else in the folder (notes, a README, other models) is the user's and stays. */
static int model_file_name(const char *name) {
    static const char *const names[] = {
        "model.bin",
        "config.json",
        "vocabulary.json",
        "vocabulary.txt",
        "tokenizer.json",
        "preprocessor_config.json",
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "generation_config.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
        "normalizer.json",
        "added_tokens.json",
        "special_tokens_map.json",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(name, names[i])) return 1;
    }
    /* shards of a sharded safetensors model: model-00001-of-00002.safetensors */
    size_t n = strlen(name);
    return !strncmp(name, "model-", 6) && n > 12 && !strcmp(name + n - 12, ".safetensors") && strstr(name, "-of-");
}

static void note_kept(st_removal *plan, const char *name) {
    size_t used = strlen(plan->kept);
    if (used + strlen(name) + 3 < sizeof plan->kept) {
        snprintf(plan->kept + used, sizeof plan->kept - used, "%s%s", used ? ", " : "", name);
    }
}

/* A model folder in a plain folder: its model files by name, then the folder if left empty. */
static steno_status plan_folder(const char *folder, st_removal *plan, st_error *err) {
    DIR *d = opendir(folder);
    if (!d) return st_error_set(err, STENO_ERR_IO, "%s: cannot open: %s", folder, strerror(errno));
    steno_status status = STENO_OK;
    struct dirent *entry;
    while (status == STENO_OK && (entry = readdir(d)) != NULL) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        if (lstat(path, &st) != 0) continue;
        if (model_file_name(entry->d_name) && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
            status = add(plan, path, S_ISLNK(st.st_mode) ? ST_REMOVE_LINK : ST_REMOVE_FILE, err);
        } else {
            note_kept(plan, entry->d_name);
        }
    }
    closedir(d);
    return status == STENO_OK ? add(plan, folder, ST_REMOVE_FOLDER, err) : status;
}

/* Whether a symlink under `dir` (snapshot folders, recursively), other than `exclude` and
 * what lies inside it, resolves to `blob_real`. */
static int linked_elsewhere(const char *dir, const char *blob_real, const char *exclude, int depth) {
    if (depth > MAX_DEPTH) return 1; /* cannot tell: keep the blob */
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *entry;
    size_t exclude_length = strlen(exclude);
    while (!found && (entry = readdir(d)) != NULL) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        char path[4096], real[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        if (!strncmp(path, exclude, exclude_length) && (path[exclude_length] == '\0' || path[exclude_length] == '/')) {
            continue;
        }
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            found = linked_elsewhere(path, blob_real, exclude, depth + 1);
        } else if (S_ISLNK(st.st_mode) && realpath(path, real)) {
            found = !strcmp(real, blob_real);
        }
    }
    closedir(d);
    return found;
}

/* A snapshot entry: the link, and its blob when the blob lies in the repository's blobs/ and
 * no link outside `exclude` needs it. A regular file (a cache made without symlinks) goes as is. */
static steno_status plan_snapshot_entry(const char *path, const char *repo_real, const char *exclude, st_removal *plan,
                                        st_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return st_error_set(err, STENO_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) return add(plan, path, ST_REMOVE_FILE, err);
    if (!S_ISLNK(st.st_mode)) return st_error_set(err, STENO_ERR_FORMAT, "%s: neither a file nor a link", path);
    steno_status status = add(plan, path, ST_REMOVE_LINK, err);
    char blobs[4096], real[PATH_MAX], snapshots[4096];
    snprintf(blobs, sizeof blobs, "%s/blobs", repo_real);
    snprintf(snapshots, sizeof snapshots, "%s/snapshots", repo_real);
    if (status == STENO_OK && realpath(path, real) && parent_is(real, blobs) && stat(real, &st) == 0 &&
        S_ISREG(st.st_mode) && !planned(plan, real) && !linked_elsewhere(snapshots, real, exclude, 0)) {
        status = add(plan, real, ST_REMOVE_FILE, err);
    }
    return status;
}

static steno_status plan_snapshot_folder(const char *folder, const char *repo_real, const char *exclude, int depth,
                                         st_removal *plan, st_error *err) {
    if (depth > MAX_DEPTH) return st_error_set(err, STENO_ERR_FORMAT, "%s: folders nested too deep", folder);
    DIR *d = opendir(folder);
    if (!d) return st_error_set(err, STENO_ERR_IO, "%s: cannot open: %s", folder, strerror(errno));
    steno_status status = STENO_OK;
    struct dirent *entry;
    while (status == STENO_OK && (entry = readdir(d)) != NULL) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            status = plan_snapshot_folder(path, repo_real, exclude, depth + 1, plan, err);
        } else {
            status = plan_snapshot_entry(path, repo_real, exclude, plan, err);
        }
    }
    closedir(d);
    return status == STENO_OK ? add(plan, folder, ST_REMOVE_FOLDER, err) : status;
}

/* How many snapshots the repository holds besides `name`. */
static int other_snapshots(const char *repo_real, const char *name) {
    char snapshots[4096];
    snprintf(snapshots, sizeof snapshots, "%s/snapshots", repo_real);
    DIR *d = opendir(snapshots);
    if (!d) return 0;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        n += strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..") && strcmp(entry->d_name, name);
    }
    closedir(d);
    return n;
}

/* The real path of a snapshot folder, which must lie directly in the repository's own
 * snapshots/ folder (not through a symlinked snapshots/). */
static int real_snapshot(const char *snapshot, const char *repo_real, char *out, st_error *err) {
    char snapshots[4096];
    snprintf(snapshots, sizeof snapshots, "%s/snapshots", repo_real);
    if (realpath(snapshot, out) && parent_is(out, snapshots)) return 1;
    st_error_set(err, STENO_ERR_FORMAT, "%s: not a snapshot folder directly in %s", snapshot, snapshots);
    return 0;
}

/* A whole repository `models--org--name` (directly in the cache folder root_real). */
static steno_status plan_repository(const char *repo, const char *root_real, st_removal *plan, st_error *err) {
    struct stat st;
    char repo_real[PATH_MAX], snapshot[4096], snapshot_real[PATH_MAX], path[4096];
    if (lstat(repo, &st) != 0 || !S_ISDIR(st.st_mode) || !realpath(repo, repo_real) ||
        !parent_is(repo_real, root_real)) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: not a repository folder directly in %s", repo, root_real);
    }
    steno_status status = st_hf_cache_snapshot(repo_real, snapshot, sizeof snapshot, err);
    if (status != STENO_OK) return status;
    if (!real_snapshot(snapshot, repo_real, snapshot_real, err)) return err->code;
    status = plan_snapshot_folder(snapshot_real, repo_real, snapshot_real, 0, plan, err);
    const char *name = strrchr(snapshot_real, '/') + 1;
    if (status != STENO_OK || other_snapshots(repo_real, name) > 0) return status;
    /* the last snapshot: the repository's bookkeeping goes too, folders only when empty */
    snprintf(path, sizeof path, "%s/refs/main", repo_real);
    if (status == STENO_OK && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        status = add(plan, path, ST_REMOVE_FILE, err);
    static const char *const folders[] = {"snapshots", "refs", "blobs"};
    for (size_t i = 0; status == STENO_OK && i < sizeof folders / sizeof folders[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", repo_real, folders[i]);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) status = add(plan, path, ST_REMOVE_FOLDER, err);
    }
    return status == STENO_OK ? add(plan, repo_real, ST_REMOVE_FOLDER, err) : status;
}

/* One file of a snapshot (whisper.cpp's repository): its link and its blob. */
static steno_status plan_snapshot_file(const char *path, const char *root_real, st_removal *plan, st_error *err) {
    char folder[4096], repo_real[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", path);
    char *snapshot = dirname(folder);
    if (!st_hf_cache_snapshot_repo(snapshot, repo_real, sizeof repo_real) || !parent_is(repo_real, root_real)) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: not in a snapshot of a repository directly in %s", path,
                            root_real);
    }
    char snapshot_real[PATH_MAX], link_path[4096];
    if (!real_snapshot(snapshot, repo_real, snapshot_real, err)) return err->code;
    snprintf(link_path, sizeof link_path, "%s/%s", snapshot_real, strrchr(path, '/') + 1);
    return plan_snapshot_entry(link_path, repo_real, link_path, plan, err);
}

steno_status st_store_plan_removal(const st_store *store, const st_store_copy *copy, st_removal *plan, st_error *err) {
    const st_store_root *root = &store->roots[copy->root];
    char root_real[PATH_MAX];
    if (!realpath(root->path, root_real)) {
        return st_error_set(err, STENO_ERR_IO, "%s: cannot resolve: %s", root->path, strerror(errno));
    }
    struct stat st;
    if (lstat(copy->path, &st) != 0) return st_error_set(err, STENO_ERR_IO, "%s: %s", copy->path, strerror(errno));
    st_removal attempt = {0};
    steno_status status;
    if (root->layout == ST_LAYOUT_HF && S_ISDIR(st.st_mode)) {
        status = plan_repository(copy->path, root_real, &attempt, err);
    } else if (root->layout == ST_LAYOUT_HF) {
        status = plan_snapshot_file(copy->path, root_real, &attempt, err);
    } else if (!parent_is(copy->path, root_real)) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: not directly in the model folder %s", copy->path, root_real);
    } else if (S_ISDIR(st.st_mode)) {
        status = plan_folder(copy->path, &attempt, err);
    } else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
        status = add(&attempt, copy->path, S_ISLNK(st.st_mode) ? ST_REMOVE_LINK : ST_REMOVE_FILE, err);
    } else {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: neither a file, a link nor a folder", copy->path);
    }
    for (int i = 0; status == STENO_OK && i < attempt.count; i++) {
        if (!planned(plan, attempt.items[i].path))
            status = add(plan, attempt.items[i].path, attempt.items[i].kind, err);
    }
    if (status == STENO_OK && attempt.kept[0]) {
        char name[1200];
        snprintf(name, sizeof name, "%s (in %s)", attempt.kept, copy->path);
        note_kept(plan, name);
    }
    st_removal_free(&attempt);
    return status;
}

steno_status st_store_remove(const st_removal *plan, int *removed, int *kept_folders, st_error *err) {
    int n_removed = 0, n_kept = 0;
    steno_status status = STENO_OK;
    for (int i = 0; i < plan->count && status == STENO_OK; i++) {
        const st_removal_entry *e = &plan->items[i];
        if (e->kind == ST_REMOVE_FOLDER) {
            if (rmdir(e->path) == 0 || errno == ENOENT) {
                n_removed++;
            } else if (errno == ENOTEMPTY || errno == EEXIST) {
                n_kept++;
            } else {
                status = st_error_set(err, STENO_ERR_IO, "%s: cannot remove: %s", e->path, strerror(errno));
            }
        } else if (unlink(e->path) == 0 || errno == ENOENT) {
            n_removed++;
        } else {
            status = st_error_set(err, STENO_ERR_IO, "%s: cannot remove: %s", e->path, strerror(errno));
        }
    }
    if (removed) *removed = n_removed;
    if (kept_folders) *kept_folders = n_kept;
    return status;
}

const char *st_store_copy_engine(const st_store *store, const st_store_copy *copy) {
    const st_store_root *root = &store->roots[copy->root];
    if (!strcmp(root->source, "WHISPER_CACHE_DIR") || !strcmp(root->source, "~/.cache/whisper") ||
        !strcmp(root->source, "XDG_CACHE_HOME/whisper")) {
        return "openai-whisper";
    }
    if (root->layout != ST_LAYOUT_HF || copy->format == ST_FORMAT_GGML) return NULL;
    if (copy->format == ST_FORMAT_CT2) return "faster-whisper";
    return copy->model && copy->model->family != ST_FAMILY_WHISPER ? "pyannote.audio" : "transformers";
}
