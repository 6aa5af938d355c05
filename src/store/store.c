/*
 * store.c — the model folders of this machine: which exist, what they hold, which copy a name
 * resolves to, and where a download goes (see store.h for the lookup order).
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/hf_cache.h"
#include "models/loader.h"

#define OPENAI_MODELS_URL "https://openaipublic.azureedge.net/main/whisper/models"

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A folder that does not exist yet is writable when its nearest existing parent is. */
static int can_write(const char *path) {
    char buffer[4096];
    snprintf(buffer, sizeof buffer, "%s", path);
    for (;;) {
        struct stat st;
        if (stat(buffer, &st) == 0) return S_ISDIR(st.st_mode) && access(buffer, W_OK) == 0;
        char *slash = strrchr(buffer, '/');
        if (!slash) return 0;
        if (slash == buffer)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
}

static void add_root(st_store *store, const char *path, const char *source, st_root_layout layout) {
    if (!path || store->n_roots >= ST_STORE_MAX_ROOTS) return;
    for (int i = 0; i < store->n_roots; i++) {
        if (!strcmp(store->roots[i].path, path)) return; /* the same folder named twice */
    }
    st_store_root *root = &store->roots[store->n_roots++];
    snprintf(root->path, sizeof root->path, "%s", path);
    size_t n = strlen(root->path);
    while (n > 1 && root->path[n - 1] == '/')
        root->path[--n] = '\0';
    snprintf(root->source, sizeof root->source, "%s", source);
    root->layout = layout;
    struct stat st;
    root->exists = stat(root->path, &st) == 0 && S_ISDIR(st.st_mode);
    root->writable = can_write(root->path);
}

void st_store_init(st_store *store, const char *const *extra_dirs, int n_extra) {
    memset(store, 0, sizeof *store);
    const char *home = env("HOME"), *xdg = env("XDG_CACHE_HOME");
    char cache[4096] = "", path[4096];
    if (xdg)
        snprintf(cache, sizeof cache, "%s", xdg);
    else if (home)
        snprintf(cache, sizeof cache, "%s/.cache", home);

    for (int i = 0; i < n_extra; i++)
        add_root(store, extra_dirs[i], "--model-dir", ST_LAYOUT_FLAT);
    if (env("STENO_MODELS")) {
        add_root(store, env("STENO_MODELS"), "STENO_MODELS", ST_LAYOUT_FLAT);
    } else if (cache[0]) {
        snprintf(path, sizeof path, "%s/steno/models", cache);
        add_root(store, path, xdg ? "XDG_CACHE_HOME/steno/models" : "~/.cache/steno/models", ST_LAYOUT_FLAT);
    }
    add_root(store, env("WHISPER_CACHE_DIR"), "WHISPER_CACHE_DIR", ST_LAYOUT_FLAT);
    if (cache[0]) {
        snprintf(path, sizeof path, "%s/whisper", cache);
        add_root(store, path, xdg ? "XDG_CACHE_HOME/whisper" : "~/.cache/whisper", ST_LAYOUT_FLAT);
    }
    /* huggingface_hub's own precedence: HF_HUB_CACHE, then HF_HOME/hub, then the default */
    add_root(store, env("HF_HUB_CACHE"), "HF_HUB_CACHE", ST_LAYOUT_HF);
    if (env("HF_HOME")) {
        snprintf(path, sizeof path, "%s/hub", env("HF_HOME"));
        add_root(store, path, "HF_HOME/hub", ST_LAYOUT_HF);
    }
    if (home) {
        snprintf(path, sizeof path, "%s/.cache/huggingface/hub", home);
        add_root(store, path, "~/.cache/huggingface/hub", ST_LAYOUT_HF);
    }
    add_root(store, env("STENO_TEST_MODELS"), "STENO_TEST_MODELS", ST_LAYOUT_FLAT);

    const char *offline = env("HF_HUB_OFFLINE");
    store->offline = offline && strcmp(offline, "0") != 0 && strcasecmp(offline, "false") != 0;
    snprintf(store->hf_endpoint, sizeof store->hf_endpoint, "%s",
             env("STENO_HF_ENDPOINT") ? env("STENO_HF_ENDPOINT")
             : env("HF_ENDPOINT")     ? env("HF_ENDPOINT")
                                      : "https://huggingface.co");
    snprintf(store->openai_endpoint, sizeof store->openai_endpoint, "%s",
             env("STENO_OPENAI_ENDPOINT") ? env("STENO_OPENAI_ENDPOINT") : OPENAI_MODELS_URL);
    store->token = env("HF_TOKEN") ? env("HF_TOKEN") : env("HUGGING_FACE_HUB_TOKEN");
}

/* ---- copies -------------------------------------------------------------------------------- */

void st_store_copies_free(st_store_copies *copies) {
    free(copies->items);
    memset(copies, 0, sizeof *copies);
}

static st_store_copy *add_copy(st_store_copies *copies, st_error *err) {
    if (copies->count == copies->capacity) {
        int capacity = copies->capacity ? 2 * copies->capacity : 8;
        st_store_copy *items = realloc(copies->items, (size_t)capacity * sizeof *items);
        if (!items) {
            st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory listing models");
            return NULL;
        }
        copies->items = items;
        copies->capacity = capacity;
    }
    st_store_copy *copy = &copies->items[copies->count++];
    memset(copy, 0, sizeof *copy);
    return copy;
}

/* "models--Systran--faster-whisper-base" for "Systran/faster-whisper-base". */
static void hf_folder_name(const char *repo, char *out, size_t size) {
    snprintf(out, size, "models--%s", repo);
    for (char *p = out + 8; *p; p++) {
        if (*p == '/') {
            memmove(p + 2, p + 1, strlen(p + 1) + 1);
            p[0] = p[1] = '-';
            p++;
        }
    }
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Does the content identify as `model`? A file named after base that holds tiny is not base. */
static int content_matches(const st_identity *id, const st_catalogue_model *model) {
    if (!id->is_model || id->family != model->family) return 0;
    if (model->family != ST_FAMILY_WHISPER || id->shape.n_audio_layer == 0) return 1;
    return !memcmp(&id->shape, &model->shape, sizeof id->shape);
}

static steno_status consider(const st_store *store, int root, const st_catalogue_model *model, st_model_format format,
                             const char *path, st_store_copies *out, st_error *err) {
    (void)store;
    struct stat st;
    if (stat(path, &st) != 0) return STENO_OK;
    st_identity id;
    st_error ignored;
    /* a folder named like a model that holds none (ONNX exports, an empty download) is no copy */
    if (st_identify(path, &id, &ignored) != STENO_OK || !id.is_model) return STENO_OK;
    st_store_copy *copy = add_copy(out, err);
    if (!copy) return STENO_ERR_NO_MEMORY;
    copy->model = model;
    copy->format = format;
    copy->root = root;
    snprintf(copy->path, sizeof copy->path, "%s", path);
    copy->identity = id;
    if (copy->identity.format != ST_FORMAT_UNKNOWN) copy->format = copy->identity.format;
    if (copy->identity.usable && !content_matches(&copy->identity, model)) {
        copy->identity.usable = 0;
        snprintf(copy->identity.unusable, sizeof copy->identity.unusable, "its content is %s, not %s",
                 copy->identity.model ? copy->identity.model->name : "another model", model->name);
    }
    return STENO_OK;
}

steno_status st_store_find(const st_store *store, const st_catalogue_model *model, st_store_copies *out,
                           st_error *err) {
    memset(out, 0, sizeof *out);
    static const st_model_format order[] = {ST_FORMAT_GGML, ST_FORMAT_PT, ST_FORMAT_CT2, ST_FORMAT_SAFETENSORS,
                                            ST_FORMAT_UNKNOWN};
    char path[4096], folder[256], snapshot[4096];
    steno_status status = STENO_OK;
    for (int r = 0; r < store->n_roots && status == STENO_OK; r++) {
        const st_store_root *root = &store->roots[r];
        if (!root->exists) continue;
        for (int f = 0; f < 5 && status == STENO_OK; f++) {
            const st_catalogue_download *d = st_catalogue_download_in(model, order[f]);
            const char *repo = d ? d->repo : order[f] == ST_FORMAT_SAFETENSORS ? model->hf_repo : NULL;
            if (!d && !repo) continue;
            if (root->layout == ST_LAYOUT_FLAT) {
                if (order[f] == ST_FORMAT_GGML || (order[f] == ST_FORMAT_PT && d->host == ST_HOST_OPENAI)) {
                    snprintf(path, sizeof path, "%s/%s", root->path, d->files[0].path);
                    status = consider(store, r, model, order[f], path, out, err);
                    if (order[f] == ST_FORMAT_PT && strcmp(model->name, "large-v3") == 0 && status == STENO_OK) {
                        /* openai-whisper saved `large` as large.pt before large-v2 existed */
                        snprintf(path, sizeof path, "%s/%s.pt", root->path, model->alias);
                        status = consider(store, r, model, order[f], path, out, err);
                    }
                } else {
                    snprintf(path, sizeof path, "%s/%s", root->path, base_name(repo));
                    status = consider(store, r, model, order[f], path, out, err);
                }
            } else if (repo) {
                hf_folder_name(repo, folder, sizeof folder);
                snprintf(path, sizeof path, "%s/%s", root->path, folder);
                if (!st_identify_hf_snapshot(path, snapshot, sizeof snapshot)) continue;
                if (order[f] == ST_FORMAT_GGML) {
                    snprintf(path, sizeof path, "%s/%s", snapshot, d->files[0].path);
                    status = consider(store, r, model, order[f], path, out, err);
                } else {
                    status = consider(store, r, model, order[f], path, out, err);
                }
            }
        }
    }
    if (status != STENO_OK) st_store_copies_free(out);
    return status;
}

static int skip_entry(const char *name) {
    size_t n = strlen(name);
    return name[0] == '.' || (n > 11 && !strcmp(name + n - 11, ".incomplete")) ||
           (n > 5 && !strcmp(name + n - 5, ".lock"));
}

/* Whether an entry that no reader took still looks like a model by its name or content: a
 * model file's extension, a folder holding a model's files, a Hugging Face repository. */
static int looks_like_model(const char *path, const char *name, st_root_layout layout) {
    static const char *const extensions[] = {".pt", ".bin", ".safetensors", ".gguf", ".ckpt"};
    static const char *const members[] = {"model.bin", "model.safetensors", "pytorch_model.bin", "config.json"};
    if (layout == ST_LAYOUT_HF) return !strncmp(name, "models--", 8);
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
        size_t e = strlen(extensions[i]);
        if (n > e && !strcmp(name + n - e, extensions[i])) return 1;
    }
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        char member[4200];
        struct stat st;
        snprintf(member, sizeof member, "%s/%s", path, members[i]);
        if (lstat(member, &st) == 0) return 1;
    }
    return 0;
}

void st_store_why_not_model(const char *path, const st_identity *id, char *out, size_t size) {
    st_error err = {0};
    char snapshot[4096];
    if (st_hf_cache_is_repo(path) && st_hf_cache_snapshot(path, snapshot, sizeof snapshot, &err) != STENO_OK) {
        snprintf(out, size, "%s", st_error_message(&err));
        return;
    }
    /* an empty weights file: the readers see no model at all, people see a failed download */
    static const char *const weights[] = {"model.bin", "model.safetensors", "pytorch_model.bin"};
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        char member[4200];
        struct stat st;
        snprintf(member, sizeof member, "%s/%s", path, weights[i]);
        if (stat(member, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
            snprintf(out, size, "%s is empty (0 bytes): an interrupted download or copy?", member);
            return;
        }
    }
    st_model model;
    if (st_model_open(path, &model, &err) == STENO_OK) {
        st_model_free(&model);
        snprintf(out, size, "%s", id->how);
        return;
    }
    snprintf(out, size, "%s", st_error_message(&err));
}

static steno_status scan_one(const st_store *store, int root, const char *path, const char *name, st_store_copies *out,
                             st_error *err) {
    st_identity id;
    st_error ignored;
    if (st_identify(path, &id, &ignored) != STENO_OK) return STENO_OK;
    st_root_layout layout = store->roots[root].layout;
    int broken = !id.is_model && id.format != ST_FORMAT_GGUF && looks_like_model(path, name, layout);
    if (!id.is_model && id.format != ST_FORMAT_GGUF && !broken && !id.warning[0]) return STENO_OK;
    st_store_copy *copy = add_copy(out, err);
    if (!copy) return STENO_ERR_NO_MEMORY;
    copy->model = id.model;
    copy->format = id.format;
    copy->root = root;
    snprintf(copy->path, sizeof copy->path, "%s", path);
    copy->identity = id;
    if (broken) st_store_why_not_model(path, &id, copy->broken, sizeof copy->broken);
    return STENO_OK;
}

steno_status st_store_scan(const st_store *store, st_store_copies *out, st_error *err) {
    memset(out, 0, sizeof *out);
    steno_status status = STENO_OK;
    for (int r = 0; r < store->n_roots && status == STENO_OK; r++) {
        const st_store_root *root = &store->roots[r];
        DIR *dir = root->exists ? opendir(root->path) : NULL;
        if (!dir) continue;
        struct dirent *entry;
        while (status == STENO_OK && (entry = readdir(dir)) != NULL) {
            if (skip_entry(entry->d_name)) continue;
            char path[4096], snapshot[4096];
            snprintf(path, sizeof path, "%s/%s", root->path, entry->d_name);
            if (root->layout == ST_LAYOUT_HF && !strcmp(entry->d_name, "models--ggerganov--whisper.cpp")) {
                /* one repository, many models: each file of the snapshot on its own */
                if (!st_identify_hf_snapshot(path, snapshot, sizeof snapshot)) continue;
                DIR *files = opendir(snapshot);
                struct dirent *file;
                while (files && status == STENO_OK && (file = readdir(files)) != NULL) {
                    if (skip_entry(file->d_name)) continue;
                    snprintf(path, sizeof path, "%s/%s", snapshot, file->d_name);
                    status = scan_one(store, r, path, file->d_name, out, err);
                }
                if (files) closedir(files);
            } else if (root->layout == ST_LAYOUT_FLAT || !strncmp(entry->d_name, "models--", 8)) {
                status = scan_one(store, r, path, entry->d_name, out, err);
            }
        }
        closedir(dir);
    }
    if (status != STENO_OK) st_store_copies_free(out);
    return status;
}

/* ---- resolution ---------------------------------------------------------------------------- */

const st_catalogue_download *st_store_default_download(const st_catalogue_model *model) {
    const st_catalogue_download *d = st_catalogue_download_in(model, ST_FORMAT_GGML);
    return d ? d : &model->downloads[0];
}

static void format_size(int64_t bytes, char *out, size_t size) {
    if (bytes >= 1000LL * 1000 * 1000)
        snprintf(out, size, "%.1f GB", (double)bytes / 1e9);
    else if (bytes >= 1000 * 1000)
        snprintf(out, size, "%.0f MB", (double)bytes / 1e6);
    else
        snprintf(out, size, "%.0f kB", (double)bytes / 1e3);
}

/* ST_STORE_SILERO_VAD: the ONNX files silero-vad ships (the npm packaging of vad-web and
 * faster-whisper's assets use the same names), newest first, in each plain folder or its
 * silero/ subfolder (where scripts/fetch-models puts them). */
static steno_status resolve_silero(const st_store *store, char *path, size_t size, char *why, size_t why_size,
                                   st_error *err) {
    static const char *const files[] = {"silero_vad_v6.onnx", "silero/silero_vad_v6.onnx", "silero_vad_v5.onnx",
                                        "silero/silero_vad_v5.onnx", "silero_vad.onnx"};
    struct stat st;
    for (int r = 0; r < store->n_roots; r++) {
        if (store->roots[r].layout != ST_LAYOUT_FLAT) continue;
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
            snprintf(path, size, "%s/%s", store->roots[r].path, files[f]);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "%s in %s", files[f], store->roots[r].source);
                return STENO_OK;
            }
        }
    }
    snprintf(why, why_size,
             "no silero_vad_v6.onnx or silero_vad_v5.onnx in the model folders (`steno models check` "
             "lists them; scripts/fetch-models silero fetches both)");
    return st_error_set(err, STENO_ERR_NOT_FOUND, "model '%s' not found: %s", ST_STORE_SILERO_VAD, why);
}

steno_status st_store_resolve(const st_store *store, const char *name, char *path, size_t size, char *why,
                              size_t why_size, st_error *err) {
    struct stat st;
    why[0] = '\0';
    if (stat(name, &st) == 0) {
        snprintf(path, size, "%s", name);
        snprintf(why, why_size, "a path given on the command line");
        return STENO_OK;
    }
    if (!strcmp(name, ST_STORE_SILERO_VAD)) return resolve_silero(store, path, size, why, why_size, err);
    const st_catalogue_model *model = st_catalogue_find(name);
    if (!model) {
        /* names outside the catalogue (quantized variants, fine-tunes) as whisper.cpp files */
        for (int r = 0; r < store->n_roots; r++) {
            if (store->roots[r].layout != ST_LAYOUT_FLAT) continue;
            snprintf(path, size, "%s/ggml-%s.bin", store->roots[r].path, name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "ggml-%s.bin in %s", name, store->roots[r].source);
                return STENO_OK;
            }
        }
        snprintf(why, why_size, "'%s' is neither a file nor a model name steno knows (steno models list shows them)",
                 name);
        return st_error_set(err, STENO_ERR_NOT_FOUND, "model '%s' not found: %s", name, why);
    }
    st_store_copies copies;
    steno_status status = st_store_find(store, model, &copies, err);
    if (status != STENO_OK) return status;
    int skipped = 0;
    size_t used = 0;
    char skipped_text[1024] = "";
    for (int i = 0; i < copies.count; i++) {
        const st_store_copy *c = &copies.items[i];
        if (c->identity.usable) {
            snprintf(path, size, "%s", c->identity.open_path);
            snprintf(why, why_size, "first usable copy of %s in lookup order: %s in %s (%s)", model->name,
                     st_model_format_name(c->format), store->roots[c->root].source, store->roots[c->root].path);
            st_store_copies_free(&copies);
            return STENO_OK;
        }
        skipped++;
        if (used < sizeof skipped_text - 1) {
            used += (size_t)snprintf(skipped_text + used, sizeof skipped_text - used, "%s%s (%s: %s)",
                                     skipped > 1 ? "; " : "", c->path, st_model_format_name(c->format),
                                     c->identity.unusable);
        }
    }
    st_store_copies_free(&copies);
    const st_catalogue_download *d = st_store_default_download(model);
    char bytes[32];
    format_size(st_catalogue_download_size(d), bytes, sizeof bytes);
    snprintf(why, why_size,
             "no usable copy of %s in the model folders (%s%s); `steno models pull %s` would download %s (%s) from %s",
             model->name, skipped ? "unusable: " : "none found", skipped ? skipped_text : "", name, d->files[0].path,
             bytes, d->repo ? d->repo : "openai");
    return st_error_set(err, STENO_ERR_NOT_FOUND, "model '%s' not found: %s", name, why);
}

/* ---- downloads ----------------------------------------------------------------------------- */

static int first_root(const st_store *store, st_root_layout layout, const char *prefer) {
    for (int r = 0; r < store->n_roots; r++) {
        if (store->roots[r].layout != layout || !store->roots[r].writable) continue;
        if (prefer && !strstr(store->roots[r].source, prefer)) continue;
        return r;
    }
    return prefer ? first_root(store, layout, NULL) : -1;
}

steno_status st_store_plan(const st_store *store, const st_catalogue_model *model,
                           const st_catalogue_download *download, const char *dir, st_pull_plan *plan, st_error *err) {
    memset(plan, 0, sizeof *plan);
    plan->model = model;
    int root = -1;
    if (!dir) {
        if (download->host == ST_HOST_HUGGINGFACE) {
            root = first_root(store, ST_LAYOUT_HF, NULL);
        } else {
            root = first_root(store, ST_LAYOUT_FLAT, "whisper"); /* openai-whisper's own folder */
        }
        if (root < 0) {
            return st_error_set(err, STENO_ERR_IO,
                                "no writable model folder for %s: set STENO_MODELS or pass --model-dir", model->name);
        }
    }
    for (int i = 0; i < download->n_files; i++) {
        st_pull_item *item = &plan->items[plan->n_items++];
        const st_catalogue_file *file = &download->files[i];
        item->download = download;
        item->file = file;
        item->root = root;
        if (download->host == ST_HOST_OPENAI) {
            snprintf(item->url, sizeof item->url, "%s/%s/%s", store->openai_endpoint, file->sha256, file->path);
        } else {
            snprintf(item->url, sizeof item->url, "%s/%s/resolve/main/%s", store->hf_endpoint, download->repo,
                     file->path);
        }
        const char *base = dir ? dir : store->roots[root].path;
        if (dir || download->host == ST_HOST_OPENAI) {
            if (download->n_files == 1) {
                snprintf(item->destination, sizeof item->destination, "%s/%s", base, file->path);
            } else {
                snprintf(item->destination, sizeof item->destination, "%s/%s/%s", base, base_name(download->repo),
                         file->path);
            }
        } else {
            char folder[256];
            hf_folder_name(download->repo, folder, sizeof folder);
            /* the snapshot's commit is known only once the Hub answers */
            snprintf(item->destination, sizeof item->destination, "%s/%s/snapshots/<commit>/%s", base, folder,
                     file->path);
        }
        plan->bytes += file->size;
    }
    return STENO_OK;
}

typedef struct hf_target {
    char repo_folder[4096]; /* …/models--org--name */
    const char *file;       /* path inside the repository */
} hf_target;

static int read_ref(const char *repo_folder, char *commit, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/refs/main", repo_folder);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fgets(commit, (int)size, f) != NULL;
    fclose(f);
    if (ok) commit[strcspn(commit, "\r\n")] = '\0';
    return ok && commit[0];
}

static int hf_present(void *user, char *path, size_t size) {
    hf_target *t = user;
    char commit[128];
    if (!read_ref(t->repo_folder, commit, sizeof commit)) return 0;
    snprintf(path, size, "%s/snapshots/%s/%s", t->repo_folder, commit, t->file);
    return access(path, R_OK) == 0;
}

static int flat_present(void *user, char *path, size_t size) {
    const char *destination = user;
    snprintf(path, size, "%s", destination);
    return access(path, R_OK) == 0;
}

/* Replaces `path` by `content` atomically: a temporary sibling renamed over it. */
static steno_status write_atomically(const char *path, const char *content, int symbolic, st_error *err) {
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.steno-%ld", path, (long)getpid());
    unlink(temporary);
    int failed = st_download_make_parent(path) != 0;
    if (!failed && symbolic) {
        failed = symlink(content, temporary) != 0;
    } else if (!failed) {
        FILE *f = fopen(temporary, "w");
        failed = !f || fputs(content, f) < 0;
        if (f && fclose(f) != 0) failed = 1;
    }
    if (failed || rename(temporary, path) != 0) {
        int saved = errno;
        unlink(temporary);
        return st_error_set(err, STENO_ERR_IO, "cannot write %s: %s", path, strerror(saved));
    }
    return STENO_OK;
}

/* Under the download lock: refs/main and snapshots/<commit>/<file> → ../../blobs/<sha256>,
 * huggingface_hub's layout, so its offline mode finds the file too. */
static steno_status hf_finish(void *user, const st_download_result *result, st_error *err) {
    hf_target *t = user;
    char commit[128], link[4096], target[256];
    if (result->commit[0]) {
        snprintf(commit, sizeof commit, "%s", result->commit);
    } else if (!read_ref(t->repo_folder, commit, sizeof commit)) {
        snprintf(commit, sizeof commit, "main"); /* a server that names no commit (not the Hub) */
    }
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", t->repo_folder, commit, t->file);
    int depth = 2;
    for (const char *p = t->file; *p; p++)
        depth += *p == '/';
    target[0] = '\0';
    for (int i = 0; i < depth; i++)
        strcat(target, "../");
    snprintf(target + strlen(target), sizeof target - strlen(target), "blobs/%s", result->digest.sha256);
    steno_status status = write_atomically(link, target, 1, err);
    char ref[4096];
    snprintf(ref, sizeof ref, "%s/refs/main", t->repo_folder);
    if (status == STENO_OK) status = write_atomically(ref, commit, 0, err);
    return status;
}

steno_status st_store_pull(const st_store *store, const st_pull_plan *plan, st_download_progress progress, void *user,
                           st_download_result *results, st_error *err) {
    if (store->offline) {
        char missing[1024] = "";
        size_t used = 0;
        for (int i = 0; i < plan->n_items && used < sizeof missing - 1; i++) {
            used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s", i ? ", " : "", plan->items[i].url);
        }
        return st_error_set(err, STENO_ERR_NOT_FOUND,
                            "offline (HF_HUB_OFFLINE or --offline): %s is missing and nothing was downloaded; "
                            "missing: %s",
                            plan->model->name, missing);
    }
    for (int i = 0; i < plan->n_items; i++) {
        const st_pull_item *item = &plan->items[i];
        const st_catalogue_file *file = item->file;
        char label[512], partial[4096], lock[4096], blobs[4096];
        snprintf(label, sizeof label, "%s", item->download->repo ? item->download->repo : "openai");
        snprintf(label + strlen(label), sizeof label - strlen(label), "/%s", file->path);
        st_download_request request = {
            .url = item->url,
            .sha256 = file->sha256,
            .sha1 = file->sha1,
            .trust_server_sha256 = 1,
            .expected_size = file->size_exact ? file->size : -1,
            .token = item->download->host == ST_HOST_HUGGINGFACE ? store->token : NULL,
            .label = label,
            .progress = progress,
            .user = user,
        };
        hf_target target;
        char *snapshots = strstr(item->destination, "/snapshots/<commit>/");
        if (snapshots) {
            size_t n = (size_t)(snapshots - item->destination);
            snprintf(target.repo_folder, sizeof target.repo_folder, "%.*s", (int)n, item->destination);
            target.file = file->path;
            char safe[512];
            snprintf(safe, sizeof safe, "%s", file->path);
            for (char *p = safe; *p; p++)
                *p = *p == '/' ? '_' : *p;
            snprintf(blobs, sizeof blobs, "%s/blobs", target.repo_folder);
            snprintf(partial, sizeof partial, "%s/steno-%s.incomplete", blobs, safe);
            snprintf(lock, sizeof lock, "%s/.locks/%s/%s.lock", store->roots[item->root].path,
                     base_name(target.repo_folder), safe);
            request.destination = blobs;
            request.by_sha256 = 1;
            request.present = hf_present;
            request.finish = hf_finish;
            request.context = &target;
        } else {
            char folder[4096];
            snprintf(folder, sizeof folder, "%s", item->destination);
            *strrchr(folder, '/') = '\0';
            snprintf(partial, sizeof partial, "%s.incomplete", item->destination);
            snprintf(lock, sizeof lock, "%s/.locks/%s.lock", folder, base_name(item->destination));
            request.destination = item->destination;
            request.present = flat_present;
            request.context = (void *)item->destination;
        }
        request.partial = partial;
        request.lock = lock;
        st_download_result result;
        steno_status status = st_download(&request, &result, err);
        if (status != STENO_OK) return status;
        if (results) results[i] = result;
    }
    return STENO_OK;
}
