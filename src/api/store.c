/*
 * store.c — the model store as `steno models` shows it (steno.h, "the model store"): check
 * (the folders, every model found, which file each name would use and why; a path judged by
 * content; what a command line would download), list, pull and rm, writing their reports, in
 * text or JSON, to the caller's streams; and conversion between formats.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "diarize/diarize.h"
#include "models/convert.h"
#include "store/remove.h"

enum { REPORT_OK = 0, REPORT_FAILED = 1 };
#define MAX_DIRS 8

typedef struct options {
    const char *dirs[MAX_DIRS];
    int n_dirs;
    int json, verify;
    int other_engines; /* rm: also copies in openai-whisper's, faster-whisper's... caches */
    const char *for_command;
    st_model_format format; /* ST_FORMAT_UNKNOWN: the default */
    steno_store_callbacks callbacks;
    FILE *out, *err;
} options;

struct steno_store {
    st_store store;
    options o;
};

#define LARGE_DOWNLOAD (1000LL * 1000 * 1000) /* ask before fetching more than this */

void steno_human_size(long long bytes, char *out, size_t size) {
    if (bytes < 0)
        snprintf(out, size, "?");
    else if (bytes >= 1000LL * 1000 * 1000)
        snprintf(out, size, "%.2f GB", (double)bytes / 1e9);
    else if (bytes >= 1000 * 1000)
        snprintf(out, size, "%.1f MB", (double)bytes / 1e6);
    else
        snprintf(out, size, "%.1f kB", (double)bytes / 1e3);
}

static const char *format_label(st_model_format format) {
    switch (format) {
    case ST_FORMAT_GGML:
        return "ggml";
    case ST_FORMAT_PT:
        return "torch .pt";
    case ST_FORMAT_CT2:
        return "CTranslate2";
    case ST_FORMAT_SAFETENSORS:
        return "safetensors";
    case ST_FORMAT_GGUF:
        return "GGUF";
    default:
        return "unknown";
    }
}

static const char *model_name(const st_identity *id) {
    if (id->model && !id->ambiguous) return id->model->name;
    if (id->model) return "large-v1 or large-v2 (same shape; --verify tells them apart)";
    return id->is_model ? "a model of unknown size" : "-";
}

/* ---- what each engine users know would do with a model ------------------------------------ */

typedef struct engine_view {
    const char *engine;
    char text[512];
} engine_view;

/* steno, openai-whisper, faster-whisper and whisper.cpp on `model`, given the copies here. */
static int engine_views(const st_store *store, const st_catalogue_model *model, const st_store_copies *copies,
                        engine_view views[4]) {
    char size[32];
    const st_store_copy *by_format[6] = {NULL};
    const st_store_copy *steno_copy = NULL;
    for (int i = 0; i < copies->count; i++) {
        const st_store_copy *c = &copies->items[i];
        if (!c->identity.is_model) continue;
        if ((unsigned)c->format < 6 && !by_format[c->format]) by_format[c->format] = c;
        if (!steno_copy && c->identity.usable) steno_copy = c;
    }
    char present[128] = "";
    for (int f = 0; f < 6; f++) {
        if (!by_format[f]) continue;
        snprintf(present + strlen(present), sizeof present - strlen(present), "%s%s", present[0] ? ", " : "",
                 format_label((st_model_format)f));
    }
    if (!present[0]) snprintf(present, sizeof present, "nothing");
    int n = 0;
    views[n].engine = "steno";
    if (steno_copy) {
        snprintf(views[n].text, sizeof views[n].text, "uses %s in place (%s in %s)", steno_copy->identity.open_path,
                 format_label(steno_copy->format), store->roots[steno_copy->root].source);
    } else {
        const st_catalogue_download *d = st_store_default_download(model);
        steno_human_size(st_catalogue_download_size(d), size, sizeof size);
        snprintf(views[n].text, sizeof views[n].text, "would download %s (%s)%s%s", d->files[0].path, size,
                 copies->count ? " because it cannot read what is here: " : "",
                 copies->count ? copies->items[0].identity.unusable : "");
    }
    n++;
    if (model->family != ST_FAMILY_WHISPER) return n;
    const st_catalogue_download *pt = st_catalogue_download_in(model, ST_FORMAT_PT);
    views[n].engine = "openai-whisper";
    const st_store_copy *pt_copy = by_format[ST_FORMAT_PT];
    if (pt_copy && strstr(store->roots[pt_copy->root].source, "whisper")) {
        snprintf(views[n].text, sizeof views[n].text, "uses %s", pt_copy->path);
    } else if (pt_copy && pt) {
        /* load_model(name) looks only in its download root; a path elsewhere must be given */
        steno_human_size(st_catalogue_download_size(pt), size, sizeof size);
        snprintf(views[n].text, sizeof views[n].text,
                 "reads %s when given its path; load_model(\"%s\") would download %s (%s) into ~/.cache/whisper",
                 pt_copy->path, model->name, pt->files[0].path, size);
    } else if (pt) {
        steno_human_size(st_catalogue_download_size(pt), size, sizeof size);
        snprintf(views[n].text, sizeof views[n].text,
                 "would download %s (%s) into ~/.cache/whisper because it reads only its own .pt files there "
                 "(here: %s)",
                 pt->files[0].path, size, present);
    } else {
        snprintf(views[n].text, sizeof views[n].text, "has no %s model", model->name);
    }
    n++;
    const st_catalogue_download *ct2 = st_catalogue_download_in(model, ST_FORMAT_CT2);
    views[n].engine = "faster-whisper";
    const st_store_copy *ct2_copy = by_format[ST_FORMAT_CT2];
    if (ct2_copy) {
        /* faster-whisper is given the folder, never the model.bin inside it */
        const char *folder = ct2_copy->identity.open_path;
        size_t length = strlen(folder);
        if (length > 10 && !strcmp(folder + length - 10, "/model.bin")) length -= 10;
        snprintf(views[n].text, sizeof views[n].text, "uses %.*s (CTranslate2 folder)", (int)length, folder);
    } else if (ct2) {
        steno_human_size(st_catalogue_download_size(ct2), size, sizeof size);
        snprintf(views[n].text, sizeof views[n].text,
                 "would download %s (%s) because it reads only CTranslate2 folders (here: %s)", ct2->repo, size,
                 present);
    }
    n++;
    const st_catalogue_download *ggml = st_catalogue_download_in(model, ST_FORMAT_GGML);
    views[n].engine = "whisper.cpp";
    if (by_format[ST_FORMAT_GGML]) {
        snprintf(views[n].text, sizeof views[n].text, "reads %s (pass it with -m)", by_format[ST_FORMAT_GGML]->path);
    } else if (ggml) {
        steno_human_size(st_catalogue_download_size(ggml), size, sizeof size);
        snprintf(views[n].text, sizeof views[n].text, "needs %s (%s): it reads only ggml files (here: %s)",
                 ggml->files[0].path, size, present);
    } else {
        snprintf(views[n].text, sizeof views[n].text, "has no ggml file of %s", model->name);
    }
    return n + 1;
}

/* ---- check PATH ---------------------------------------------------------------------------- */

static json_t *identity_json(const st_identity *id) {
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string(st_model_format_name(id->format)));
    json_object_set_new(o, "is_model", json_boolean(id->is_model));
    json_object_set_new(o, "architecture", json_string(id->architecture));
    json_object_set_new(o, "model", id->model && !id->ambiguous ? json_string(id->model->name) : json_null());
    if (id->shape.n_audio_layer) {
        json_object_set_new(o, "dims",
                            json_pack("{s:i,s:i,s:i,s:i,s:i}", "n_mels", id->shape.n_mels, "n_audio_state",
                                      id->shape.n_audio_state, "n_audio_layer", id->shape.n_audio_layer, "n_text_layer",
                                      id->shape.n_text_layer, "n_vocab", id->shape.n_vocab));
    }
    json_object_set_new(o, "precision", json_string(id->precision));
    json_object_set_new(o, "size", json_integer(id->size));
    json_object_set_new(o, "recognised_by", json_string(id->how));
    json_object_set_new(o, "usable_by_steno", json_boolean(id->usable));
    if (!id->usable) json_object_set_new(o, "why_not_usable", json_string(id->unusable));
    json_object_set_new(o, "checksum",
                        json_string(id->verified > 0   ? "verified"
                                    : id->verified < 0 ? "mismatch"
                                                       : "unchecked"));
    if (id->checksum_note[0]) json_object_set_new(o, "checksum_note", json_string(id->checksum_note));
    if (id->warning[0]) json_object_set_new(o, "warning", json_string(id->warning));
    return o;
}

static void print_identity(FILE *out, const char *path, const st_identity *id) {
    char size[32];
    steno_human_size(id->size, size, sizeof size);
    if (!id->is_model) {
        fprintf(out, "%s: %s (%s) — %s\n", path, id->format == ST_FORMAT_GGUF ? "GGUF file" : "not a model", size, id->how);
        if (id->warning[0]) fprintf(out, "  WARNING: %s\n", id->warning);
        return;
    }
    const char *what = id->family == ST_FAMILY_WHISPER                 ? "Whisper"
                       : id->family == ST_FAMILY_PYANNOTE_SEGMENTATION ? "pyannote segmentation net"
                       : id->family == ST_FAMILY_PYANNOTE_EMBEDDING    ? "pyannote speaker-embedding net"
                                                                       : "pyannote diarization pipeline";
    fprintf(out, "%s: %s%s%s %s (%s%s%s)", path, id->format == ST_FORMAT_UNKNOWN ? "" : format_label(id->format),
           id->format == ST_FORMAT_UNKNOWN ? "" : " ", what, model_name(id), id->precision,
           id->precision[0] ? ", " : "", size);
    if (id->family == ST_FAMILY_WHISPER && id->format == ST_FORMAT_CT2 && id->model) {
        const st_catalogue_download *d = st_catalogue_download_in(id->model, ST_FORMAT_CT2);
        if (d) fprintf(out, " — faster-whisper's %s model (%s), not a diarization model", id->model->name, d->repo);
    }
    fprintf(out, "\n  recognised by: %s\n", id->how);
    if (id->shape.n_audio_layer) {
        fprintf(out, "  shape: %d encoder layers, %d decoder layers, width %d, %d mels, vocabulary %d\n",
               id->shape.n_audio_layer, id->shape.n_text_layer, id->shape.n_audio_state, id->shape.n_mels,
               id->shape.n_vocab);
    } else if (id->family != ST_FAMILY_WHISPER) {
        fprintf(out, "  architecture: %s\n", id->architecture);
    }
    if (id->usable)
        fprintf(out, "  steno: uses it in place\n");
    else
        fprintf(out, "  steno: cannot use it in place: %s\n", id->unusable);
    if (id->checksum_note[0]) fprintf(out, "  checksum: %s\n", id->checksum_note);
    if (id->warning[0]) fprintf(out, "  WARNING: %s\n", id->warning);
}

static int check_paths(const st_store *store, const options *o, int n, const char *const *paths) {
    FILE *out = o->out, *err = o->err;
    json_t *all = json_array();
    int exit_code = REPORT_OK;
    for (int i = 0; i < n; i++) {
        st_identity id;
        st_error error;
        if (st_identify(paths[i], &id, &error) != STENO_OK || (o->verify && st_identify_verify(&id, &error) != STENO_OK)) {
            fprintf(err, "steno models check: %s\n", st_error_message(&error));
            exit_code = REPORT_FAILED;
            continue;
        }
        engine_view views[4];
        int n_views = 0;
        if (id.model) {
            /* the engines' view of this one file, as if it were the only copy */
            st_store_copies one = {0};
            st_store_copy copy = {.model = id.model, .format = id.format, .root = -1, .identity = id};
            snprintf(copy.path, sizeof copy.path, "%s", paths[i]);
            one.items = &copy;
            one.count = 1;
            st_store alone = *store;
            alone.n_roots = 1;
            snprintf(alone.roots[0].source, sizeof alone.roots[0].source, "the path given");
            copy.root = 0;
            n_views = engine_views(&alone, id.model, &one, views);
        }
        if (o->json) {
            json_t *entry = identity_json(&id);
            json_object_set_new(entry, "path", json_string(paths[i]));
            json_t *engines = json_object();
            for (int v = 0; v < n_views; v++)
                json_object_set_new(engines, views[v].engine, json_string(views[v].text));
            json_object_set_new(entry, "engines", engines);
            json_array_append_new(all, entry);
        } else {
            print_identity(out, paths[i], &id);
            if (!id.is_model && id.format != ST_FORMAT_GGUF) {
                char reason[512];
                st_store_why_not_model(paths[i], &id, reason, sizeof reason);
                fprintf(out, "  reader: %s\n", reason);
            }
            for (int v = 1; v < n_views; v++)
                fprintf(out, "  %s: %s\n", views[v].engine, views[v].text);
        }
    }
    if (o->json) {
        char *text = json_dumps(all, JSON_INDENT(2));
        fprintf(out, "%s\n", text);
        free(text);
    }
    json_decref(all);
    return exit_code;
}

/* ---- check (the whole store) --------------------------------------------------------------- */

/* Whether pyannote's pipeline diarizes for a command asking for `pipeline` (auto: when
 * st_diarize_choose finds it). */
static int uses_pyannote(st_diarize_pipeline pipeline) {
    if (pipeline != ST_DIARIZE_PIPELINE_AUTO) return pipeline == ST_DIARIZE_PIPELINE_PYANNOTE;
    st_diarize_choice *choice = malloc(sizeof *choice);
    st_error err;
    int pyannote = choice && st_diarize_choose(pipeline, ST_DIARIZE_VAD_MODEL, choice, &err) == STENO_OK &&
                   choice->pipeline == ST_DIARIZE_PIPELINE_PYANNOTE;
    free(choice);
    return pyannote;
}

/* The models a command line would load: its -m (default base.en) and, when it diarizes
 * (`transcribe --diarize`, `diarize`) with pyannote's pipeline (--pipeline, else
 * st_diarize_choose's choice), that pipeline and the nets it names. *diarize says whether it
 * diarizes, *pipeline with which --pipeline (auto when none). */
static int models_for_command(FILE *err, const char *command, const st_catalogue_model **out, int max, int *diarize,
                              st_diarize_pipeline *pipeline) {
    char *copy = strdup(command);
    if (!copy) return 0;
    const char *model = "base.en";
    int n = 0;
    *pipeline = ST_DIARIZE_PIPELINE_AUTO;
    *diarize = 0;
    for (char *word = strtok(copy, " \t"), *previous = NULL; word; previous = word, word = strtok(NULL, " \t")) {
        if (previous && (!strcmp(previous, "-m") || !strcmp(previous, "--model"))) model = word;
        if (!strncmp(word, "--model=", 8)) model = word + 8;
        if (!strcmp(word, "--diarize") || (!previous && !strcmp(word, "diarize"))) *diarize = 1;
        if (previous && !strcmp(previous, "--pipeline")) st_diarize_pipeline_from_name(word, pipeline);
    }
    const st_catalogue_model *m = st_catalogue_find(model);
    if (m) out[n++] = m;
    if (*diarize && uses_pyannote(*pipeline)) {
        const st_catalogue_model *repo = st_catalogue_find("pyannote/speaker-diarization-3.1");
        out[n++] = repo;
        for (int i = 0; i < ST_CATALOGUE_MAX_NEEDS && repo->needs[i] && n < max; i++) {
            out[n++] = st_catalogue_find(repo->needs[i]);
        }
    }
    if (!m) fprintf(err, "steno models check: '%s' in --for is not a model name steno knows\n", model);
    free(copy);
    return m ? n : -1;
}

/* The pipeline `steno diarize` and `transcribe --diarize` would use when asked for `pipeline`
 * (st_diarize_choose). */
static void show_diarization(const options *o, json_t *names, st_diarize_pipeline pipeline) {
    st_diarize_choice *c = malloc(sizeof *c);
    if (!c) return;
    st_error err;
    int ok = st_diarize_choose(pipeline, ST_DIARIZE_VAD_MODEL, c, &err) == STENO_OK;
    int pyannote = ok && c->pipeline == ST_DIARIZE_PIPELINE_PYANNOTE;
    if (o->json) {
        json_t *entry = json_pack("{s:s}", "pipeline", ok ? st_diarize_pipeline_name(c->pipeline) : "none");
        if (pyannote) {
            json_object_set_new(entry, "config", json_string(c->pyannote));
            json_object_set_new(entry, "segmentation", json_string(c->segmentation));
            json_object_set_new(entry, "embedding", json_string(c->embedding));
        } else {
            if (ok) json_object_set_new(entry, "vad", json_string(c->vad_model));
            json_object_set_new(entry, "why_not_pyannote", json_string(c->why_not_pyannote));
        }
        if (!ok) json_object_set_new(entry, "why", json_string(st_error_message(&err)));
        json_object_set_new(names, "diarization", entry);
    } else if (pyannote) {
        fprintf(o->out,
                "  diarization (steno diarize, transcribe --diarize)\n      pyannote 3.1: %s\n      segmentation: "
                "%s\n      embedding: %s\n",
                c->pyannote, c->segmentation, c->embedding);
    } else {
        fprintf(o->out, "  diarization (steno diarize, transcribe --diarize)\n      %s: %s\n",
                ok ? "default (Silero VAD, no download)" : st_diarize_pipeline_name(pipeline),
                ok ? c->vad_model : st_error_message(&err));
        if (c->why_not_pyannote[0]) fprintf(o->out, "      pyannote 3.1 not used: %s\n", c->why_not_pyannote);
    }
    free(c);
}

static int check_store(const st_store *store, const options *o) {
    FILE *out = o->out, *err = o->err;
    st_error error;
    json_t *root_json = json_object(), *folders = json_array(), *found = json_array(), *names = json_object();
    if (!o->json) fprintf(out, "Model folders, in lookup order:\n");
    for (int r = 0; r < store->n_roots; r++) {
        const st_store_root *root = &store->roots[r];
        if (o->json) {
            json_array_append_new(folders,
                                  json_pack("{s:s,s:s,s:s,s:b,s:b}", "path", root->path, "source", root->source,
                                            "layout", root->layout == ST_LAYOUT_HF ? "huggingface" : "flat", "exists",
                                            root->exists, "writable", root->writable));
        } else {
            fprintf(out, "  %d. %-28s %s  [%s, %s%s]\n", r + 1, root->source, root->path, root->exists ? "exists" : "missing",
                   root->writable ? "writable" : "read-only",
                   root->layout == ST_LAYOUT_HF ? ", Hugging Face cache layout" : "");
        }
    }
    if (!o->json) {
        fprintf(out, "Network: %s (downloads from %s)\n\n",
               store->offline ? "offline (HF_HUB_OFFLINE or --offline)" : "allowed", store->hf_endpoint);
    }
    st_store_copies all;
    if (st_store_scan(store, &all, &error) != STENO_OK) {
        fprintf(err, "steno models check: %s\n", st_error_message(&error));
        return REPORT_FAILED;
    }
    if (!o->json) fprintf(out, "Models found:%s\n", all.count ? "" : " none");
    for (int i = 0; i < all.count; i++) {
        st_store_copy *c = &all.items[i];
        if (o->verify) st_identify_verify(&c->identity, &error);
        char size[32];
        steno_human_size(c->identity.size, size, sizeof size);
        const char *checksum = c->identity.verified > 0   ? "checksum verified"
                               : c->identity.verified < 0 ? "CHECKSUM MISMATCH"
                               : o->verify                ? "no published checksum"
                                                          : "checksum not checked (--verify)";
        if (o->json) {
            json_t *entry = identity_json(&c->identity);
            json_object_set_new(entry, "path", json_string(c->path));
            json_object_set_new(entry, "folder", json_string(store->roots[c->root].source));
            if (c->broken[0]) json_object_set_new(entry, "broken", json_string(c->broken));
            json_array_append_new(found, entry);
        } else if (c->broken[0]) {
            fprintf(out, "  %s\n      BROKEN: steno cannot use it: %s\n", c->path, c->broken);
        } else {
            fprintf(out, "  %s\n      %s, %s, %s, %s, %s; %s\n", c->path, format_label(c->format), model_name(&c->identity),
                   c->identity.precision[0] ? c->identity.precision : "precision unknown", size,
                   c->identity.usable ? "steno can use it" : "steno cannot use it", checksum);
            if (!c->identity.usable && c->identity.is_model) fprintf(out, "      (%s)\n", c->identity.unusable);
        }
        if (!o->json && c->identity.warning[0]) fprintf(out, "      WARNING: %s\n", c->identity.warning);
    }
    st_store_copies_free(&all);

    const st_catalogue_model *wanted[8];
    int n_wanted = 0, diarize = 0;
    st_diarize_pipeline pipeline = ST_DIARIZE_PIPELINE_AUTO;
    if (o->for_command) {
        n_wanted = models_for_command(o->err, o->for_command, wanted, 8, &diarize, &pipeline);
        if (n_wanted < 0) {
            json_decref(root_json);
            json_decref(folders);
            json_decref(found);
            json_decref(names);
            return REPORT_FAILED;
        }
    } else {
        int count;
        const st_catalogue_model *models = st_catalogue_models(&count);
        for (int i = 0; i < count && n_wanted < 8; i++) {
            static const char *const well_known[] = {"tiny",   "base.en",  "base",  "small",
                                                     "medium", "large-v3", "turbo", "distil-large-v3"};
            for (int k = 0; k < 8; k++) {
                if (!strcmp(models[i].name, well_known[k])) wanted[n_wanted++] = &models[i];
            }
        }
    }
    if (!o->json) {
        fprintf(out, "\n%s\n", o->for_command ? "What that command would use (nothing is downloaded now):"
                                        : "Well-known names (which file a run would use, and why):");
    }
    int64_t to_download = 0;
    for (int w = 0; w < n_wanted; w++) {
        const st_catalogue_model *model = wanted[w];
        char path[4096], why[2048];
        steno_status status = st_store_resolve(store, model->name, path, sizeof path, why, sizeof why, &error);
        st_store_copies copies;
        if (st_store_find(store, model, &copies, &error) != STENO_OK) memset(&copies, 0, sizeof copies);
        engine_view views[4];
        int n_views = engine_views(store, model, &copies, views);
        const st_catalogue_download *d = st_store_default_download(model);
        /* a pyannote copy steno cannot run (a damaged or other net) is still here: downloading again
         * would not help */
        if (status != STENO_OK && model->family != ST_FAMILY_WHISPER && copies.count > 0) {
            status = STENO_OK;
            snprintf(path, sizeof path, "%s", copies.items[0].path);
            snprintf(why, sizeof why, "present (%s); not downloaded again", copies.items[0].identity.unusable);
        }
        int64_t bytes = status == STENO_OK ? 0 : st_catalogue_download_size(d);
        to_download += bytes;
        if (o->json) {
            json_t *entry = json_object();
            json_object_set_new(entry, "uses", status == STENO_OK ? json_string(path) : json_null());
            json_object_set_new(entry, "why", json_string(why));
            json_object_set_new(entry, "copies", json_integer(copies.count));
            json_t *download = json_array();
            for (int f = 0; status != STENO_OK && f < d->n_files; f++) {
                json_array_append_new(download, json_pack("{s:s,s:s,s:I}", "repo", d->repo ? d->repo : "openai", "file",
                                                          d->files[f].path, "size", (json_int_t)d->files[f].size));
            }
            json_object_set_new(entry, "would_download", download);
            json_t *engines = json_object();
            for (int v = 0; v < n_views; v++)
                json_object_set_new(engines, views[v].engine, json_string(views[v].text));
            json_object_set_new(entry, "engines", engines);
            json_object_set_new(names, model->name, entry);
        } else {
            fprintf(out, "  %s\n      %s: %s\n", model->name, status == STENO_OK ? path : "not here", why);
            if (status != STENO_OK && o->for_command) {
                for (int f = 0; f < d->n_files; f++) {
                    char size[32];
                    steno_human_size(d->files[f].size, size, sizeof size);
                    fprintf(out, "      would download %s/%s (%s%s)%s\n", d->repo ? d->repo : "openai", d->files[f].path,
                           d->files[f].size_exact ? "" : "about ", size,
                           d->gated && f == 0 ? " — gated: needs HF_TOKEN and accepted conditions" : "");
                }
            }
            for (int v = 1; v < n_views && copies.count > 0; v++)
                fprintf(out, "      %s: %s\n", views[v].engine, views[v].text);
        }
        st_store_copies_free(&copies);
    }
    if (!o->for_command) { /* the VAD model `transcribe --vad` uses */
        char path[4096], why[2048];
        int here = st_store_resolve(store, ST_STORE_SILERO_VAD, path, sizeof path, why, sizeof why, &error) == STENO_OK;
        if (o->json) {
            json_object_set_new(names, ST_STORE_SILERO_VAD,
                                json_pack("{s:o,s:s}", "uses", here ? json_string(path) : json_null(), "why", why));
        } else {
            fprintf(out, "  %s\n      %s: %s\n", ST_STORE_SILERO_VAD, here ? path : "not here", why);
        }
    }
    if (!o->for_command || diarize) show_diarization(o, names, pipeline);
    if (o->json) {
        json_object_set_new(root_json, "folders", folders);
        json_object_set_new(root_json, "offline", json_boolean(store->offline));
        json_object_set_new(root_json, "models", found);
        json_object_set_new(root_json, o->for_command ? "for_command" : "names", names);
        if (o->for_command) json_object_set_new(root_json, "download_bytes", json_integer(to_download));
        char *text = json_dumps(root_json, JSON_INDENT(2));
        fprintf(out, "%s\n", text);
        free(text);
    } else {
        if (o->for_command) {
            char size[32];
            steno_human_size(to_download, size, sizeof size);
            fprintf(out, "\nTotal to download: %s\n", to_download ? size : "nothing");
        }
        json_decref(folders);
        json_decref(found);
        json_decref(names);
    }
    json_decref(root_json);
    return REPORT_OK;
}

/* ---- list ---------------------------------------------------------------------------------- */

static int list_models(const st_store *store, const options *o) {
    FILE *out = o->out;
    int count;
    const st_catalogue_model *models = st_catalogue_models(&count);
    json_t *all = json_array();
    if (!o->json) fprintf(out, "%-40s %-10s %-10s %s\n", "NAME", "DOWNLOAD", "FORMATS", "HERE");
    for (int i = 0; i < count; i++) {
        const st_catalogue_model *m = &models[i];
        char path[4096], why[2048], size[32], formats[64] = "";
        st_error error;
        int here = st_store_resolve(store, m->name, path, sizeof path, why, sizeof why, &error) == STENO_OK;
        const st_catalogue_download *d = st_store_default_download(m);
        steno_human_size(st_catalogue_download_size(d), size, sizeof size);
        for (int k = 0; k < m->n_downloads; k++) {
            snprintf(formats + strlen(formats), sizeof formats - strlen(formats), "%s%s", k ? "," : "",
                     st_model_format_name(m->downloads[k].format));
        }
        if (o->json) {
            json_array_append_new(all, json_pack("{s:s,s:s?,s:I,s:s,s:s?}", "name", m->name, "alias", m->alias,
                                                 "download_bytes", (json_int_t)st_catalogue_download_size(d), "formats",
                                                 formats, "path", here ? path : NULL));
        } else {
            fprintf(out, "%-40s %-10s %-10s %s\n", m->name, size, formats, here ? path : "-");
        }
    }
    if (o->json) {
        char *text = json_dumps(all, JSON_INDENT(2));
        fprintf(out, "%s\n", text);
        free(text);
    }
    json_decref(all);
    return REPORT_OK;
}

/* ---- pull ---------------------------------------------------------------------------------- */

/* The download's progress to the caller's callback. */
static void forward_progress(void *user, const char *label, int64_t done, int64_t total) {
    const steno_store_callbacks *c = user;
    if (c->progress) c->progress(c->user, label, (long long)done, (long long)total);
}

/* A copy of model already here that makes a download pointless: usable by steno in any format
 * (or, with --format, any copy in that format); pyannote copies count even when steno cannot run
 * them, since downloading again would not help. */
static int present_copy(const st_store *store, const st_catalogue_model *model, st_model_format format, char *path,
                        size_t size, char *label, size_t label_size) {
    st_error error;
    st_store_copies copies;
    if (st_store_find(store, model, &copies, &error) != STENO_OK) return 0;
    int found = 0;
    for (int i = 0; i < copies.count && !found; i++) {
        const st_store_copy *c = &copies.items[i];
        found = format == ST_FORMAT_UNKNOWN ? c->identity.usable || model->family != ST_FAMILY_WHISPER
                                            : c->format == format && c->identity.is_model;
        if (found) {
            snprintf(path, size, "%s", c->identity.open_path);
            snprintf(label, label_size, "%s in %s", format_label(c->format), store->roots[c->root].source);
        }
    }
    st_store_copies_free(&copies);
    return found;
}

static int pull(st_store *store, const options *o, const char *name) {
    FILE *out = o->out, *err = o->err;
    const st_catalogue_model *model = st_catalogue_find(name);
    if (!model) {
        fprintf(err, "steno models pull: '%s' is not a model steno knows (steno models list)\n", name);
        return REPORT_FAILED;
    }
    const st_catalogue_download *download =
        o->format == ST_FORMAT_UNKNOWN ? st_store_default_download(model) : st_catalogue_download_in(model, o->format);
    if (!download) {
        fprintf(err, "steno models pull: %s is not published in %s format\n", model->name, format_label(o->format));
        return REPORT_FAILED;
    }
    st_error error;
    int status = REPORT_OK;
    const st_catalogue_model *all[1 + ST_CATALOGUE_MAX_NEEDS] = {model};
    int n = 1;
    for (int i = 0; i < ST_CATALOGUE_MAX_NEEDS && model->needs[i]; i++)
        all[n++] = st_catalogue_find(model->needs[i]);
    for (int k = 0; k < n && status == REPORT_OK; k++) {
        char here[4096], label[128];
        if (present_copy(store, all[k], k == 0 ? o->format : ST_FORMAT_UNKNOWN, here, sizeof here, label,
                         sizeof label)) {
            fprintf(out, "%s is already here: %s (%s); nothing downloaded\n", all[k]->name, here, label);
            continue;
        }
        const st_catalogue_download *d = k == 0 ? download : st_store_default_download(all[k]);
        st_pull_plan plan;
        if (st_store_plan(store, all[k], d, o->n_dirs ? o->dirs[0] : NULL, &plan, &error) != STENO_OK) {
            fprintf(err, "steno models pull: %s\n", st_error_message(&error));
            return REPORT_FAILED;
        }
        char size[32];
        steno_human_size(plan.bytes, size, sizeof size);
        if (!store->offline)
            fprintf(out, "%s: %d file(s), about %s, into %s\n", all[k]->name, plan.n_items, size, plan.items[0].destination);
        if (!store->offline && plan.bytes > LARGE_DOWNLOAD && o->callbacks.confirm_download) {
            char question[256];
            snprintf(question, sizeof question, "Download %s for %s?", size, all[k]->name);
            if (!o->callbacks.confirm_download(o->callbacks.user, question)) {
                fprintf(err, "steno models pull: not downloaded\n");
                return REPORT_FAILED;
            }
        }
        st_download_result results[ST_CATALOGUE_MAX_FILES];
        steno_status s = st_store_pull(store, &plan, forward_progress, (void *)&o->callbacks, results, &error);
        if (o->callbacks.progress) o->callbacks.progress(o->callbacks.user, NULL, 0, 0);
        if (s != STENO_OK) {
            fprintf(err, "steno models pull: %s\n", st_error_message(&error));
            status = REPORT_FAILED;
            continue;
        }
        for (int i = 0; i < plan.n_items; i++) {
            const st_download_result *r = &results[i];
            if (r->already_present) {
                fprintf(out, "  %s: already in place (another pull finished it)\n", plan.items[i].file->path);
            } else if (r->resumed_from > 0) {
                fprintf(out, "  %s: resumed from %lld bytes, %lld fetched now\n", plan.items[i].file->path,
                       (long long)r->resumed_from, (long long)r->transferred);
            }
        }
        fprintf(out, "%s: done\n", all[k]->name);
    }
    return status;
}

/* ---- rm ------------------------------------------------------------------------------------ */

/* The plan, folder by folder: each folder's name, then what goes from it. */
static void print_removal(FILE *out, const st_removal *plan) {
    char folder[4096] = "";
    for (int i = 0; i < plan->count; i++) {
        const st_removal_entry *e = &plan->items[i];
        if (e->kind == ST_REMOVE_FOLDER) {
            fprintf(out, "  %s/  (the folder itself, if nothing else is left in it)\n", e->path);
            folder[0] = '\0';
            continue;
        }
        const char *slash = strrchr(e->path, '/');
        int length = (int)(slash - e->path);
        if ((int)strlen(folder) != length || strncmp(folder, e->path, (size_t)length) != 0) {
            snprintf(folder, sizeof folder, "%.*s", length, e->path);
            fprintf(out, "  %s/\n", folder);
        }
        char size[32];
        steno_human_size(e->size, size, sizeof size);
        fprintf(out, "      %s (%s)\n", slash + 1, e->kind == ST_REMOVE_LINK ? "link" : size);
    }
}

static int rm_model(const st_store *store, const options *o, const char *name) {
    FILE *out = o->out, *err = o->err;
    const st_catalogue_model *model = st_catalogue_find(name);
    if (!model) {
        fprintf(err, "steno models rm: '%s' is not a model steno knows (steno models list); nothing removed\n",
                name);
        return REPORT_FAILED;
    }
    st_error error;
    st_store_copies copies;
    if (st_store_find(store, model, &copies, &error) != STENO_OK) {
        fprintf(err, "steno models rm: %s\n", st_error_message(&error));
        return REPORT_FAILED;
    }
    st_removal plan = {0};
    int failed = 0, matching = 0, planned = 0;
    for (int i = 0; i < copies.count; i++) {
        const st_store_copy *c = &copies.items[i];
        if (o->format != ST_FORMAT_UNKNOWN && c->format != o->format) continue;
        /* with --model-dir, only the folders named there */
        if (o->n_dirs && strcmp(store->roots[c->root].source, "--model-dir") != 0) continue;
        matching++;
        const char *engine = o->n_dirs || o->other_engines ? NULL : st_store_copy_engine(store, c);
        if (!store->roots[c->root].writable) {
            fprintf(out, "kept %s (%s is read-only)\n", c->path, store->roots[c->root].source);
        } else if (engine) {
            fprintf(out, "kept %s (%s's cache; --other-engines or --model-dir %s removes it)\n", c->path, engine,
                   store->roots[c->root].path);
        } else if (st_store_plan_removal(store, c, &plan, &error) != STENO_OK) {
            fprintf(err, "steno models rm: refusing to remove %s: %s\n", c->path, st_error_message(&error));
            failed = 1;
        } else {
            planned++;
        }
    }
    st_store_copies_free(&copies);
    if (!matching) {
        fprintf(err,
                "steno models rm: no copy of %s%s%s is here (looked in %d model folders: steno models check "
                "lists them); nothing removed\n",
                model->name, o->format != ST_FORMAT_UNKNOWN ? " in " : "",
                o->format != ST_FORMAT_UNKNOWN ? format_label(o->format) : "", o->n_dirs ? o->n_dirs : store->n_roots);
        return REPORT_FAILED;
    }
    if (!planned) {
        fprintf(err, "steno models rm: nothing removed\n");
        st_removal_free(&plan);
        return REPORT_FAILED;
    }
    fprintf(out, "steno models rm %s removes:\n", model->name);
    print_removal(out, &plan);
    if (plan.kept[0]) fprintf(out, "and keeps what is not the model's: %s\n", plan.kept);
    int answer = o->callbacks.confirm_remove ? o->callbacks.confirm_remove(o->callbacks.user, "Remove these?") : 1;
    if (answer < 0) {
        fprintf(err, "steno models rm: not removing without confirmation: stdin is not a terminal (add --yes)\n");
        st_removal_free(&plan);
        return REPORT_FAILED;
    }
    if (!answer) {
        fprintf(err, "steno models rm: nothing removed\n");
        st_removal_free(&plan);
        return REPORT_FAILED;
    }
    int removed = 0, kept = 0;
    if (st_store_remove(&plan, &removed, &kept, &error) != STENO_OK) {
        fprintf(err, "steno models rm: %s\n", st_error_message(&error));
        failed = 1;
    }
    fprintf(out, "removed %d of %d entries%s\n", removed, plan.count, kept ? " (folders holding other files were left)" : "");
    st_removal_free(&plan);
    return failed ? REPORT_FAILED : REPORT_OK;
}


/* ---- the public calls ---------------------------------------------------------------------- */

steno_status steno_store_open(const steno_store_params *params, steno_store **out) {
    *out = NULL;
    st_error_clear(&st_api_error);
    int n_dirs = params ? params->n_model_dirs : 0;
    if (n_dirs < 0 || n_dirs > MAX_DIRS) {
        return st_error_set(&st_api_error, STENO_ERR_INVALID_ARGUMENT, "at most %d model folders", MAX_DIRS);
    }
    steno_store *s = calloc(1, sizeof *s);
    if (!s) return st_error_set(&st_api_error, STENO_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < n_dirs; i++)
        s->o.dirs[i] = params->model_dirs[i];
    s->o.n_dirs = n_dirs;
    s->o.format = ST_FORMAT_UNKNOWN;
    st_store_init(&s->store, s->o.dirs, n_dirs);
    if (params && params->offline) s->store.offline = 1;
    *out = s;
    return STENO_OK;
}

void steno_store_free(steno_store *store) {
    free(store);
}

int steno_model_is_known(const char *name) {
    return name && st_catalogue_find(name) != NULL;
}

int steno_store_whisper_models(steno_store *store, const char **names, int max) {
    st_store_copies copies = {0};
    st_error error;
    st_error_clear(&error);
    int n = 0;
    if (st_store_scan(&store->store, &copies, &error) == STENO_OK) {
        for (int i = 0; i < copies.count && n < max; i++) {
            const st_catalogue_model *m = copies.items[i].model;
            if (!m || m->family != ST_FAMILY_WHISPER) continue;
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = !strcmp(names[k], m->name);
            if (!seen) names[n++] = m->name;
        }
    }
    st_store_copies_free(&copies);
    return n;
}

/* The options of one report: the store's folders, the flags, the streams. */
static options *report_options(steno_store *store, int flags, FILE *out, FILE *err) {
    options *o = &store->o;
    o->json = (flags & STENO_REPORT_JSON) != 0;
    o->verify = (flags & STENO_REPORT_VERIFY) != 0;
    o->other_engines = (flags & STENO_REPORT_OTHER_ENGINES) != 0;
    o->for_command = NULL;
    o->format = ST_FORMAT_UNKNOWN;
    o->callbacks = (steno_store_callbacks){0};
    o->out = out, o->err = err;
    return o;
}

static steno_status report_status(int code) {
    return code == REPORT_OK ? STENO_OK : STENO_ERR_NOT_FOUND;
}

/* "ggml", "pt", "ct2" (NULL: the default) to the format; -1 for another name. */
static int format_from_name(const char *name, st_model_format *out) {
    if (!name) return *out = ST_FORMAT_UNKNOWN, 0;
    if (!strcmp(name, "ggml")) return *out = ST_FORMAT_GGML, 0;
    if (!strcmp(name, "pt")) return *out = ST_FORMAT_PT, 0;
    if (!strcmp(name, "ct2")) return *out = ST_FORMAT_CT2, 0;
    return -1;
}

int steno_store_format_is_known(const char *name) {
    st_model_format format;
    return format_from_name(name, &format) == 0;
}

steno_status steno_store_check(steno_store *store, const char *for_command, int flags, FILE *out, FILE *err) {
    options *o = report_options(store, flags, out, err);
    o->for_command = for_command;
    return report_status(check_store(&store->store, o));
}

steno_status steno_store_check_paths(steno_store *store, const char *const *paths, int n_paths, int flags, FILE *out,
                                     FILE *err) {
    return report_status(check_paths(&store->store, report_options(store, flags, out, err), n_paths, paths));
}

steno_status steno_store_list(steno_store *store, int flags, FILE *out, FILE *err) {
    return report_status(list_models(&store->store, report_options(store, flags, out, err)));
}

steno_status steno_store_pull(steno_store *store, const char *name, const char *format,
                              const steno_store_callbacks *callbacks, FILE *out, FILE *err) {
    options *o = report_options(store, 0, out, err);
    if (format_from_name(format, &o->format) != 0) {
        fprintf(err, "steno models: unknown format '%s' (ggml, pt, ct2)\n", format);
        return STENO_ERR_INVALID_ARGUMENT;
    }
    if (callbacks) o->callbacks = *callbacks;
    return report_status(pull(&store->store, o, name));
}

steno_status steno_store_remove(steno_store *store, const char *name, const char *format, int flags,
                                const steno_store_callbacks *callbacks, FILE *out, FILE *err) {
    options *o = report_options(store, flags, out, err);
    if (format_from_name(format, &o->format) != 0) {
        fprintf(err, "steno models: unknown format '%s' (ggml, pt, ct2)\n", format);
        return STENO_ERR_INVALID_ARGUMENT;
    }
    if (callbacks) o->callbacks = *callbacks;
    return report_status(rm_model(&store->store, o, name));
}

/* ---- conversion ---------------------------------------------------------------------------- */

int steno_convert_format_is_known(const char *name) {
    st_convert_format format;
    return name && st_convert_parse_format(name, &format);
}

int steno_convert_precision_is_known(const char *name) {
    st_convert_precision precision;
    return name && st_convert_parse_precision(name, &precision);
}

steno_status steno_model_convert(const char *source, const char *destination, const char *to, const char *quantize,
                                 int force, steno_convert_report *report) {
    st_error_clear(&st_api_error);
    st_convert_format format;
    st_convert_precision precision = ST_PRECISION_DEFAULT;
    if (!to || !st_convert_parse_format(to, &format)) {
        return st_error_set(&st_api_error, STENO_ERR_INVALID_ARGUMENT, "unknown target format '%s'", to ? to : "");
    }
    if (quantize && !st_convert_parse_precision(quantize, &precision)) {
        return st_error_set(&st_api_error, STENO_ERR_INVALID_ARGUMENT, "unknown precision '%s'", quantize);
    }
    st_convert_report r = {0};
    steno_status status = st_model_convert(source, destination, format, precision, force, &r, &st_api_error);
    if (status == STENO_OK && report) {
        *report = (steno_convert_report){
            .source_format = r.source_format, .bytes_written = r.bytes_written, .seconds = r.seconds};
    }
    return status;
}
