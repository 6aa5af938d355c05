/*
 * models.c — `steno models check | list | pull | rm`: the model store as users see it.
 *
 *   check [PATH...]   the configured folders, every model found, which file each name would
 *                     use and why; with PATH, what that file or folder is, judged by content;
 *                     --for "transcribe -m medium --diarize" lists what that command would
 *                     download, with sizes, before anything is downloaded
 *   list              the models steno can name, and which are here
 *   pull NAME         downloads NAME unless a usable copy exists in any format
 *   rm NAME           removes exactly the files of NAME's copies (store/remove.h), after
 *                     listing them and asking; other programs' caches only when named
 *
 * --json prints the same facts for scripts. Exit codes as in main.c.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "diarize/diarize.h"
#include "models/convert.h"
#include "store/remove.h"
#include "store/store.h"

#define LARGE_DOWNLOAD (1000LL * 1000 * 1000) /* ask before fetching more than this on a TTY */
#define MAX_DIRS 8

typedef struct options {
    const char *dirs[MAX_DIRS];
    int n_dirs;
    int json, verify, yes, offline;
    int other_engines; /* rm: also copies in openai-whisper's, faster-whisper's... caches */
    const char *for_command;
    st_model_format format; /* ST_FORMAT_UNKNOWN: the default */
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

static void human_size(int64_t bytes, char *out, size_t size) {
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
        human_size(st_catalogue_download_size(d), size, sizeof size);
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
        human_size(st_catalogue_download_size(pt), size, sizeof size);
        snprintf(views[n].text, sizeof views[n].text,
                 "reads %s when given its path; load_model(\"%s\") would download %s (%s) into ~/.cache/whisper",
                 pt_copy->path, model->name, pt->files[0].path, size);
    } else if (pt) {
        human_size(st_catalogue_download_size(pt), size, sizeof size);
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
        human_size(st_catalogue_download_size(ct2), size, sizeof size);
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
        human_size(st_catalogue_download_size(ggml), size, sizeof size);
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

static void print_identity(const char *path, const st_identity *id) {
    char size[32];
    human_size(id->size, size, sizeof size);
    if (!id->is_model) {
        printf("%s: %s (%s) — %s\n", path, id->format == ST_FORMAT_GGUF ? "GGUF file" : "not a model", size, id->how);
        if (id->warning[0]) printf("  WARNING: %s\n", id->warning);
        return;
    }
    const char *what = id->family == ST_FAMILY_WHISPER                 ? "Whisper"
                       : id->family == ST_FAMILY_PYANNOTE_SEGMENTATION ? "pyannote segmentation net"
                       : id->family == ST_FAMILY_PYANNOTE_EMBEDDING    ? "pyannote speaker-embedding net"
                                                                       : "pyannote diarization pipeline";
    printf("%s: %s%s%s %s (%s%s%s)", path, id->format == ST_FORMAT_UNKNOWN ? "" : format_label(id->format),
           id->format == ST_FORMAT_UNKNOWN ? "" : " ", what, model_name(id), id->precision,
           id->precision[0] ? ", " : "", size);
    if (id->family == ST_FAMILY_WHISPER && id->format == ST_FORMAT_CT2 && id->model) {
        const st_catalogue_download *d = st_catalogue_download_in(id->model, ST_FORMAT_CT2);
        if (d) printf(" — faster-whisper's %s model (%s), not a diarization model", id->model->name, d->repo);
    }
    printf("\n  recognised by: %s\n", id->how);
    if (id->shape.n_audio_layer) {
        printf("  shape: %d encoder layers, %d decoder layers, width %d, %d mels, vocabulary %d\n",
               id->shape.n_audio_layer, id->shape.n_text_layer, id->shape.n_audio_state, id->shape.n_mels,
               id->shape.n_vocab);
    } else if (id->family != ST_FAMILY_WHISPER) {
        printf("  architecture: %s\n", id->architecture);
    }
    if (id->usable)
        printf("  steno: uses it in place\n");
    else
        printf("  steno: cannot use it in place: %s\n", id->unusable);
    if (id->checksum_note[0]) printf("  checksum: %s\n", id->checksum_note);
    if (id->warning[0]) printf("  WARNING: %s\n", id->warning);
}

static int check_paths(const st_store *store, const options *o, int n, char **paths) {
    json_t *all = json_array();
    int exit_code = ST_EXIT_OK;
    for (int i = 0; i < n; i++) {
        st_identity id;
        st_error err;
        if (st_identify(paths[i], &id, &err) != STENO_OK || (o->verify && st_identify_verify(&id, &err) != STENO_OK)) {
            fprintf(stderr, "steno models check: %s\n", st_error_message(&err));
            exit_code = ST_EXIT_FAILURE;
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
            print_identity(paths[i], &id);
            if (!id.is_model && id.format != ST_FORMAT_GGUF) {
                char reason[512];
                st_store_why_not_model(paths[i], &id, reason, sizeof reason);
                printf("  reader: %s\n", reason);
            }
            for (int v = 1; v < n_views; v++)
                printf("  %s: %s\n", views[v].engine, views[v].text);
        }
    }
    if (o->json) {
        char *text = json_dumps(all, JSON_INDENT(2));
        puts(text);
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
static int models_for_command(const char *command, const st_catalogue_model **out, int max, int *diarize,
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
        if (previous && !strcmp(previous, "--pipeline")) {
            *pipeline = !strcmp(word, "pyannote")  ? ST_DIARIZE_PIPELINE_PYANNOTE
                        : !strcmp(word, "default") ? ST_DIARIZE_PIPELINE_DEFAULT
                                                   : ST_DIARIZE_PIPELINE_AUTO;
        }
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
    if (!m) fprintf(stderr, "steno models check: '%s' in --for is not a model name steno knows\n", model);
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
        printf("  diarization (steno diarize, transcribe --diarize)\n      pyannote 3.1: %s\n      segmentation: "
               "%s\n      embedding: %s\n",
               c->pyannote, c->segmentation, c->embedding);
    } else {
        printf("  diarization (steno diarize, transcribe --diarize)\n      %s: %s\n",
               ok ? "default (Silero VAD, no download)" : st_diarize_pipeline_name(pipeline),
               ok ? c->vad_model : st_error_message(&err));
        if (c->why_not_pyannote[0]) printf("      pyannote 3.1 not used: %s\n", c->why_not_pyannote);
    }
    free(c);
}

static int check_store(const st_store *store, const options *o) {
    st_error err;
    json_t *root_json = json_object(), *folders = json_array(), *found = json_array(), *names = json_object();
    if (!o->json) printf("Model folders, in lookup order:\n");
    for (int r = 0; r < store->n_roots; r++) {
        const st_store_root *root = &store->roots[r];
        if (o->json) {
            json_array_append_new(folders,
                                  json_pack("{s:s,s:s,s:s,s:b,s:b}", "path", root->path, "source", root->source,
                                            "layout", root->layout == ST_LAYOUT_HF ? "huggingface" : "flat", "exists",
                                            root->exists, "writable", root->writable));
        } else {
            printf("  %d. %-28s %s  [%s, %s%s]\n", r + 1, root->source, root->path, root->exists ? "exists" : "missing",
                   root->writable ? "writable" : "read-only",
                   root->layout == ST_LAYOUT_HF ? ", Hugging Face cache layout" : "");
        }
    }
    if (!o->json) {
        printf("Network: %s (downloads from %s)\n\n",
               store->offline ? "offline (HF_HUB_OFFLINE or --offline)" : "allowed", store->hf_endpoint);
    }
    st_store_copies all;
    if (st_store_scan(store, &all, &err) != STENO_OK) {
        fprintf(stderr, "steno models check: %s\n", st_error_message(&err));
        return ST_EXIT_FAILURE;
    }
    if (!o->json) printf("Models found:%s\n", all.count ? "" : " none");
    for (int i = 0; i < all.count; i++) {
        st_store_copy *c = &all.items[i];
        if (o->verify) st_identify_verify(&c->identity, &err);
        char size[32];
        human_size(c->identity.size, size, sizeof size);
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
            printf("  %s\n      BROKEN: steno cannot use it: %s\n", c->path, c->broken);
        } else {
            printf("  %s\n      %s, %s, %s, %s, %s; %s\n", c->path, format_label(c->format), model_name(&c->identity),
                   c->identity.precision[0] ? c->identity.precision : "precision unknown", size,
                   c->identity.usable ? "steno can use it" : "steno cannot use it", checksum);
            if (!c->identity.usable && c->identity.is_model) printf("      (%s)\n", c->identity.unusable);
        }
        if (!o->json && c->identity.warning[0]) printf("      WARNING: %s\n", c->identity.warning);
    }
    st_store_copies_free(&all);

    const st_catalogue_model *wanted[8];
    int n_wanted = 0, diarize = 0;
    st_diarize_pipeline pipeline = ST_DIARIZE_PIPELINE_AUTO;
    if (o->for_command) {
        n_wanted = models_for_command(o->for_command, wanted, 8, &diarize, &pipeline);
        if (n_wanted < 0) {
            json_decref(root_json);
            json_decref(folders);
            json_decref(found);
            json_decref(names);
            return ST_EXIT_FAILURE;
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
        printf("\n%s\n", o->for_command ? "What that command would use (nothing is downloaded now):"
                                        : "Well-known names (which file a run would use, and why):");
    }
    int64_t to_download = 0;
    for (int w = 0; w < n_wanted; w++) {
        const st_catalogue_model *model = wanted[w];
        char path[4096], why[2048];
        steno_status status = st_store_resolve(store, model->name, path, sizeof path, why, sizeof why, &err);
        st_store_copies copies;
        if (st_store_find(store, model, &copies, &err) != STENO_OK) memset(&copies, 0, sizeof copies);
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
            printf("  %s\n      %s: %s\n", model->name, status == STENO_OK ? path : "not here", why);
            if (status != STENO_OK && o->for_command) {
                for (int f = 0; f < d->n_files; f++) {
                    char size[32];
                    human_size(d->files[f].size, size, sizeof size);
                    printf("      would download %s/%s (%s%s)%s\n", d->repo ? d->repo : "openai", d->files[f].path,
                           d->files[f].size_exact ? "" : "about ", size,
                           d->gated && f == 0 ? " — gated: needs HF_TOKEN and accepted conditions" : "");
                }
            }
            for (int v = 1; v < n_views && copies.count > 0; v++)
                printf("      %s: %s\n", views[v].engine, views[v].text);
        }
        st_store_copies_free(&copies);
    }
    if (!o->for_command) { /* the VAD model `transcribe --vad` uses */
        char path[4096], why[2048];
        int here = st_store_resolve(store, ST_STORE_SILERO_VAD, path, sizeof path, why, sizeof why, &err) == STENO_OK;
        if (o->json) {
            json_object_set_new(names, ST_STORE_SILERO_VAD,
                                json_pack("{s:o,s:s}", "uses", here ? json_string(path) : json_null(), "why", why));
        } else {
            printf("  %s\n      %s: %s\n", ST_STORE_SILERO_VAD, here ? path : "not here", why);
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
        puts(text);
        free(text);
    } else {
        if (o->for_command) {
            char size[32];
            human_size(to_download, size, sizeof size);
            printf("\nTotal to download: %s\n", to_download ? size : "nothing");
        }
        json_decref(folders);
        json_decref(found);
        json_decref(names);
    }
    json_decref(root_json);
    return ST_EXIT_OK;
}

/* ---- list ---------------------------------------------------------------------------------- */

static int list_models(const st_store *store, const options *o) {
    int count;
    const st_catalogue_model *models = st_catalogue_models(&count);
    json_t *all = json_array();
    if (!o->json) printf("%-40s %-10s %-10s %s\n", "NAME", "DOWNLOAD", "FORMATS", "HERE");
    for (int i = 0; i < count; i++) {
        const st_catalogue_model *m = &models[i];
        char path[4096], why[2048], size[32], formats[64] = "";
        st_error err;
        int here = st_store_resolve(store, m->name, path, sizeof path, why, sizeof why, &err) == STENO_OK;
        const st_catalogue_download *d = st_store_default_download(m);
        human_size(st_catalogue_download_size(d), size, sizeof size);
        for (int k = 0; k < m->n_downloads; k++) {
            snprintf(formats + strlen(formats), sizeof formats - strlen(formats), "%s%s", k ? "," : "",
                     st_model_format_name(m->downloads[k].format));
        }
        if (o->json) {
            json_array_append_new(all, json_pack("{s:s,s:s?,s:I,s:s,s:s?}", "name", m->name, "alias", m->alias,
                                                 "download_bytes", (json_int_t)st_catalogue_download_size(d), "formats",
                                                 formats, "path", here ? path : NULL));
        } else {
            printf("%-40s %-10s %-10s %s\n", m->name, size, formats, here ? path : "-");
        }
    }
    if (o->json) {
        char *text = json_dumps(all, JSON_INDENT(2));
        puts(text);
        free(text);
    }
    json_decref(all);
    return ST_EXIT_OK;
}

/* ---- pull ---------------------------------------------------------------------------------- */

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

static void show_progress(void *user, const char *label, int64_t done, int64_t total) {
    progress_state *p = user;
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
    human_size(done, have, sizeof have);
    human_size(total, whole, sizeof whole);
    human_size((int64_t)speed, rate, sizeof rate);
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

/* A copy of model already here that makes a download pointless: usable by steno in any format
 * (or, with --format, any copy in that format); pyannote copies count even when steno cannot run
 * them, since downloading again would not help. */
static int present_copy(const st_store *store, const st_catalogue_model *model, st_model_format format, char *path,
                        size_t size, char *label, size_t label_size) {
    st_error err;
    st_store_copies copies;
    if (st_store_find(store, model, &copies, &err) != STENO_OK) return 0;
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
    const st_catalogue_model *model = st_catalogue_find(name);
    if (!model) {
        fprintf(stderr, "steno models pull: '%s' is not a model steno knows (steno models list)\n", name);
        return ST_EXIT_FAILURE;
    }
    const st_catalogue_download *download =
        o->format == ST_FORMAT_UNKNOWN ? st_store_default_download(model) : st_catalogue_download_in(model, o->format);
    if (!download) {
        fprintf(stderr, "steno models pull: %s is not published in %s format\n", model->name, format_label(o->format));
        return ST_EXIT_FAILURE;
    }
    st_error err;
    int status = ST_EXIT_OK;
    const st_catalogue_model *all[1 + ST_CATALOGUE_MAX_NEEDS] = {model};
    int n = 1;
    for (int i = 0; i < ST_CATALOGUE_MAX_NEEDS && model->needs[i]; i++)
        all[n++] = st_catalogue_find(model->needs[i]);
    for (int k = 0; k < n && status == ST_EXIT_OK; k++) {
        char here[4096], label[128];
        if (present_copy(store, all[k], k == 0 ? o->format : ST_FORMAT_UNKNOWN, here, sizeof here, label,
                         sizeof label)) {
            printf("%s is already here: %s (%s); nothing downloaded\n", all[k]->name, here, label);
            continue;
        }
        const st_catalogue_download *d = k == 0 ? download : st_store_default_download(all[k]);
        st_pull_plan plan;
        if (st_store_plan(store, all[k], d, o->n_dirs ? o->dirs[0] : NULL, &plan, &err) != STENO_OK) {
            fprintf(stderr, "steno models pull: %s\n", st_error_message(&err));
            return ST_EXIT_FAILURE;
        }
        char size[32];
        human_size(plan.bytes, size, sizeof size);
        if (!store->offline)
            printf("%s: %d file(s), about %s, into %s\n", all[k]->name, plan.n_items, size, plan.items[0].destination);
        if (!store->offline && plan.bytes > LARGE_DOWNLOAD && !o->yes && isatty(STDERR_FILENO)) {
            char question[256];
            snprintf(question, sizeof question, "Download %s for %s?", size, all[k]->name);
            if (!confirm(question)) {
                fprintf(stderr, "steno models pull: not downloaded\n");
                return ST_EXIT_FAILURE;
            }
        }
        progress_state p = {.tty = isatty(STDERR_FILENO)};
        st_download_result results[ST_CATALOGUE_MAX_FILES];
        steno_status s = st_store_pull(store, &plan, show_progress, &p, results, &err);
        if (p.tty) fprintf(stderr, "\r\033[K");
        if (s != STENO_OK) {
            fprintf(stderr, "steno models pull: %s\n", st_error_message(&err));
            status = ST_EXIT_FAILURE;
            continue;
        }
        for (int i = 0; i < plan.n_items; i++) {
            const st_download_result *r = &results[i];
            if (r->already_present) {
                printf("  %s: already in place (another pull finished it)\n", plan.items[i].file->path);
            } else if (r->resumed_from > 0) {
                printf("  %s: resumed from %lld bytes, %lld fetched now\n", plan.items[i].file->path,
                       (long long)r->resumed_from, (long long)r->transferred);
            }
        }
        printf("%s: done\n", all[k]->name);
    }
    return status;
}

/* ---- rm ------------------------------------------------------------------------------------ */

/* The plan, folder by folder: each folder's name, then what goes from it. */
static void print_removal(const st_removal *plan) {
    char folder[4096] = "";
    for (int i = 0; i < plan->count; i++) {
        const st_removal_entry *e = &plan->items[i];
        if (e->kind == ST_REMOVE_FOLDER) {
            printf("  %s/  (the folder itself, if nothing else is left in it)\n", e->path);
            folder[0] = '\0';
            continue;
        }
        const char *slash = strrchr(e->path, '/');
        int length = (int)(slash - e->path);
        if ((int)strlen(folder) != length || strncmp(folder, e->path, (size_t)length) != 0) {
            snprintf(folder, sizeof folder, "%.*s", length, e->path);
            printf("  %s/\n", folder);
        }
        char size[32];
        human_size(e->size, size, sizeof size);
        printf("      %s (%s)\n", slash + 1, e->kind == ST_REMOVE_LINK ? "link" : size);
    }
}

static int rm_model(const st_store *store, const options *o, const char *name) {
    const st_catalogue_model *model = st_catalogue_find(name);
    if (!model) {
        fprintf(stderr, "steno models rm: '%s' is not a model steno knows (steno models list); nothing removed\n",
                name);
        return ST_EXIT_FAILURE;
    }
    st_error err;
    st_store_copies copies;
    if (st_store_find(store, model, &copies, &err) != STENO_OK) {
        fprintf(stderr, "steno models rm: %s\n", st_error_message(&err));
        return ST_EXIT_FAILURE;
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
            printf("kept %s (%s is read-only)\n", c->path, store->roots[c->root].source);
        } else if (engine) {
            printf("kept %s (%s's cache; --other-engines or --model-dir %s removes it)\n", c->path, engine,
                   store->roots[c->root].path);
        } else if (st_store_plan_removal(store, c, &plan, &err) != STENO_OK) {
            fprintf(stderr, "steno models rm: refusing to remove %s: %s\n", c->path, st_error_message(&err));
            failed = 1;
        } else {
            planned++;
        }
    }
    st_store_copies_free(&copies);
    if (!matching) {
        fprintf(stderr,
                "steno models rm: no copy of %s%s%s is here (looked in %d model folders: steno models check "
                "lists them); nothing removed\n",
                model->name, o->format != ST_FORMAT_UNKNOWN ? " in " : "",
                o->format != ST_FORMAT_UNKNOWN ? format_label(o->format) : "", o->n_dirs ? o->n_dirs : store->n_roots);
        return ST_EXIT_FAILURE;
    }
    if (!planned) {
        fprintf(stderr, "steno models rm: nothing removed\n");
        st_removal_free(&plan);
        return ST_EXIT_FAILURE;
    }
    printf("steno models rm %s removes:\n", model->name);
    print_removal(&plan);
    if (plan.kept[0]) printf("and keeps what is not the model's: %s\n", plan.kept);
    if (!o->yes && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "steno models rm: not removing without confirmation: stdin is not a terminal (add --yes)\n");
        st_removal_free(&plan);
        return ST_EXIT_FAILURE;
    }
    if (!o->yes && !confirm("Remove these?")) {
        fprintf(stderr, "steno models rm: nothing removed\n");
        st_removal_free(&plan);
        return ST_EXIT_FAILURE;
    }
    int removed = 0, kept = 0;
    if (st_store_remove(&plan, &removed, &kept, &err) != STENO_OK) {
        fprintf(stderr, "steno models rm: %s\n", st_error_message(&err));
        failed = 1;
    }
    printf("removed %d of %d entries%s\n", removed, plan.count, kept ? " (folders holding other files were left)" : "");
    st_removal_free(&plan);
    return failed ? ST_EXIT_FAILURE : ST_EXIT_OK;
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
    st_convert_format format = ST_CONVERT_GGML;
    st_convert_precision precision = ST_PRECISION_DEFAULT;
    int have_format = 0, force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        if (c == OPT_TO && st_convert_parse_format(optarg, &format)) {
            have_format = 1;
        } else if (c == OPT_QUANTIZE && st_convert_parse_precision(optarg, &precision)) {
            continue;
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
    if (!have_format || argc - optind != 2) {
        fputs(usage_text, stderr);
        return ST_EXIT_USAGE;
    }
    st_error err = {0};
    st_convert_report report = {0};
    steno_status status = st_model_convert(argv[optind], argv[optind + 1], format, precision, force, &report, &err);
    if (status != STENO_OK) {
        fprintf(stderr, "steno models convert: %s\n", st_error_message(&err));
        return status == STENO_ERR_INVALID_ARGUMENT ? ST_EXIT_USAGE : ST_EXIT_FAILURE;
    }
    char size[32];
    human_size((int64_t)report.bytes_written, size, sizeof size);
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
    options o = {.format = ST_FORMAT_UNKNOWN};
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
            if (!strcmp(optarg, "ggml"))
                o.format = ST_FORMAT_GGML;
            else if (!strcmp(optarg, "pt"))
                o.format = ST_FORMAT_PT;
            else if (!strcmp(optarg, "ct2"))
                o.format = ST_FORMAT_CT2;
            else {
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
    st_store store;
    st_store_init(&store, o.dirs, o.n_dirs);
    if (o.offline) store.offline = 1;
    if (!strcmp(action, "check")) return n_args > 0 ? check_paths(&store, &o, n_args, args) : check_store(&store, &o);
    if (!strcmp(action, "list")) return list_models(&store, &o);
    if ((!strcmp(action, "pull") || !strcmp(action, "rm")) && n_args == 1) {
        return action[0] == 'p' ? pull(&store, &o, args[0]) : rm_model(&store, &o, args[0]);
    }
    usage(stderr);
    return ST_EXIT_USAGE;
}
