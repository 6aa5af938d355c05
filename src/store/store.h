/*
 * store.h — where models live on this machine and which copy a model name means.
 *
 * Lookup order (first usable copy wins; `steno models check` prints it):
 *   1. folders given on the command line (--model-dir), in the order given
 *   2. $STENO_MODELS, or $XDG_CACHE_HOME/steno/models, or ~/.cache/steno/models
 *   3. $WHISPER_CACHE_DIR                      (steno's and many wrappers' variable)
 *   4. $XDG_CACHE_HOME/whisper or ~/.cache/whisper   (openai-whisper's download root)
 *   5. $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub  (each one that is set; the
 *      Hugging Face cache layout, shared with faster-whisper, transformers and pyannote)
 *   6. $STENO_TEST_MODELS when set (scripts/fetch-models' cache)
 * Within one folder the formats are tried in the order ggml, pt, CTranslate2, safetensors;
 * a copy is usable when st_model_open reads it.
 *
 * Downloads (`steno models pull`) go into the Hugging Face cache for files hosted there, in its
 * layout, so Python tools reuse them, and into openai-whisper's folder for openai's .pt files;
 * --model-dir sends them to a plain folder instead.
 */
#ifndef ST_STORE_STORE_H
#define ST_STORE_STORE_H

#include "store/catalogue.h"
#include "store/download.h"
#include "store/identify.h"

typedef enum st_root_layout {
    ST_LAYOUT_FLAT, /* files and folders by name: ggml-base.bin, base.pt, faster-whisper-base/ */
    ST_LAYOUT_HF,   /* models--org--name/snapshots/<commit>/… */
} st_root_layout;

#define ST_STORE_MAX_ROOTS 16

typedef struct st_store_root {
    char path[4096];
    char source[64]; /* "STENO_MODELS", "HF_HOME/hub", "--model-dir", "default" … */
    st_root_layout layout;
    int exists, writable;
} st_store_root;

typedef struct st_store {
    st_store_root roots[ST_STORE_MAX_ROOTS];
    int n_roots;
    int offline;                /* HF_HUB_OFFLINE=1 or --offline: never touch the network */
    char hf_endpoint[1024];     /* STENO_HF_ENDPOINT, HF_ENDPOINT or https://huggingface.co */
    char openai_endpoint[1024]; /* STENO_OPENAI_ENDPOINT or openai's model URL prefix */
    const char *token;          /* HF_TOKEN, for gated repositories; NULL when unset */
} st_store;

/* Reads the environment; extra_dirs (may be NULL) are the command line's folders. */
void st_store_init(st_store *store, const char *const *extra_dirs, int n_extra);

/* One copy of a model on disk. */
typedef struct st_store_copy {
    const st_catalogue_model *model;
    st_model_format format;
    int root;        /* index into store->roots */
    char path[4096]; /* file (ggml, pt) or folder (ct2, safetensors, pyannote) */
    st_identity identity;
    char broken[512]; /* st_store_scan: why an entry that looks like a model is none; else empty */
} st_store_copy;

typedef struct st_store_copies {
    st_store_copy *items;
    int count, capacity;
} st_store_copies;

void st_store_copies_free(st_store_copies *copies);

/* Every copy of `model` in every root, in lookup order (each identified by content). */
steno_status st_store_find(const st_store *store, const st_catalogue_model *model, st_store_copies *out, st_error *err);

/* Every model file or folder anywhere in the roots, named by the catalogue when it can be;
 * also what looks like a model but no reader takes (an interrupted .pt, an empty model.bin, a
 * repository whose ref names a missing snapshot: `broken` says why) and files that carry a
 * warning (identity.warning). */
steno_status st_store_scan(const st_store *store, st_store_copies *out, st_error *err);

/* Why path, identified as id, is no model steno can read: the Hugging Face cache's ref check's
 * reason for a repository folder, else the reader's (st_model_open's) message. */
void st_store_why_not_model(const char *path, const st_identity *id, char *out, size_t size);
/* The name of the Silero VAD model (an ONNX file, found by file name in the plain folders). */
#define ST_STORE_SILERO_VAD "silero-vad"

/* What a `-m` argument means: an existing path is used as is; a name resolves to the first
 * usable copy (ST_STORE_SILERO_VAD: the first Silero ONNX file). On STENO_ERR_NOT_FOUND `why` says what was looked for and what
 * `steno models pull NAME` would download. */
steno_status st_store_resolve(const st_store *store, const char *name_or_path, char *path, size_t size, char *why,
                              size_t why_size, st_error *err);

/* The format `steno models pull` fetches by default: what steno reads today (ggml for Whisper). */
const st_catalogue_download *st_store_default_download(const st_catalogue_model *model);

/* One file a pull would fetch, and where it would land. */
typedef struct st_pull_item {
    const st_catalogue_download *download;
    const st_catalogue_file *file;
    char url[2048];
    char destination[4096]; /* the final path (an HF snapshot path when writing the HF cache) */
    int root;               /* where it goes */
} st_pull_item;

typedef struct st_pull_plan {
    const st_catalogue_model *model;
    st_pull_item items[ST_CATALOGUE_MAX_FILES];
    int n_items;
    int64_t bytes;
} st_pull_plan;

/* Plans the download of `download` (a form of `model`) into the store: which URLs, which
 * destinations. dir (may be NULL) is a plain folder that overrides the default places. */
steno_status st_store_plan(const st_store *store, const st_catalogue_model *model,
                           const st_catalogue_download *download, const char *dir, st_pull_plan *plan, st_error *err);

/* Runs a plan: each file through st_download (resume, checksum, lock, atomic rename), then
 * the HF cache's refs/ and snapshot links. Never touches the network when store->offline.
 * results (NULL, or plan->n_items of them) receive what each transfer did: bytes of an earlier
 * partial resumed, bytes fetched, whether another process had already put the file in place. */
steno_status st_store_pull(const st_store *store, const st_pull_plan *plan, st_download_progress progress, void *user,
                           st_download_result *results, st_error *err);

#endif
