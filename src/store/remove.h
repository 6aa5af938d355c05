/*
 * remove.h — what `steno models rm` deletes for one copy of a model, decided before anything
 * is touched.
 *
 * A removal plan lists exactly the model's own files and nothing above them:
 *   - a model file in a plain folder: that file (a symlink: only the link);
 *   - a model folder in a plain folder (CTranslate2, transformers): the model files inside it
 *     by name (model.bin, config.json, ...), then the folder itself only if that leaves it empty;
 *   - a Hugging Face cache repository: the snapshot refs/main names (links and the blobs they
 *     point at that no other snapshot links), then snapshots/, refs/, blobs/ and the repository
 *     folder, each only if it is left empty;
 *   - one file of a snapshot (whisper.cpp's repository holds many models): its link and its blob
 *     when no other link in the repository points at it.
 * Every path is checked with realpath against the store's folder the copy was found in: the
 * copy must sit directly in that folder (or in a repository directly in it), and a blob must
 * resolve inside its repository's blobs/. Folders are only ever rmdir'ed, never deleted with
 * what is in them, so a file the plan does not name survives whatever happens.
 */
#ifndef ST_STORE_REMOVE_H
#define ST_STORE_REMOVE_H

#include <stdint.h>

#include "store/store.h"

typedef enum st_removal_kind {
    ST_REMOVE_FILE,   /* a regular file: unlink */
    ST_REMOVE_LINK,   /* a symbolic link (its target is listed separately when it goes too) */
    ST_REMOVE_FOLDER, /* rmdir, which leaves a folder that still holds anything */
} st_removal_kind;

typedef struct st_removal_entry {
    char path[4096];
    st_removal_kind kind;
    int64_t size; /* bytes of a regular file, 0 otherwise */
} st_removal_entry;

typedef struct st_removal {
    st_removal_entry *items; /* in the order they are removed: files before their folders */
    int count, capacity;
    char kept[1024]; /* files of the copy's folder left in place because they are not the model's */
} st_removal;

/* Adds to plan what removing copy (found by st_store_find in store) deletes. Refuses, with a
 * message saying why and adding nothing, a copy whose paths do not check out. */
steno_status st_store_plan_removal(const st_store *store, const st_store_copy *copy, st_removal *plan, st_error *err);

/* Removes the plan's entries in order. A folder that is not empty is left (counted in
 * *kept_folders, may be NULL); any other failure stops and is reported. removed (may be NULL)
 * receives how many entries went. */
steno_status st_store_remove(const st_removal *plan, int *removed, int *kept_folders, st_error *err);

void st_removal_free(st_removal *plan);

/* Whose cache holds copy when it is not steno's own: "openai-whisper" for its download folders
 * ($WHISPER_CACHE_DIR, ~/.cache/whisper), "faster-whisper", "transformers" or "pyannote.audio"
 * for their repositories in a Hugging Face cache; NULL for steno's folders, --model-dir and the
 * whisper.cpp files steno pulls into the Hugging Face cache. */
const char *st_store_copy_engine(const st_store *store, const st_store_copy *copy);

#endif
