/*
 * hf_cache.h — the Hugging Face hub cache layout (huggingface_hub's `models--org--name`).
 *
 * A repository folder `models--{org}--{name}` holds refs/main (a text file: the 40-hex commit
 * the main branch points at), snapshots/<commit>/<files> and blobs/<hash>. In a snapshot every
 * file is a relative symlink into ../../blobs (or, where symlinks cannot be made, a real copy).
 * The same layout holds transformers Whisper models, faster-whisper (CTranslate2) folders and
 * pyannote models, so st_model_open resolves a repository or snapshot folder here first and
 * then reads the snapshot like any model folder.
 *
 * Snapshots come from the network, so they are checked before use: refs/main must be a bare
 * commit hash or a plain name (no path can be smuggled through it) whose folder resolves,
 * following symlinks, directly inside the repository's snapshots/, and every file of the snapshot must
 * resolve, following symlinks, to a regular file inside the repository folder; a symlink loop
 * or a missing blob is refused with a message saying which file and why.
 */
#ifndef ST_MODELS_HF_CACHE_H
#define ST_MODELS_HF_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Whether dir is a repository folder of the cache: it holds a snapshots/ folder and refs/ or
 * blobs/ beside it (the content, not the name, decides). */
int st_hf_cache_is_repo(const char *dir);

/* Whether dir is a snapshot: a folder inside snapshots/ of a repository folder. If so, the
 * repository folder is written to repo (repo_size bytes). */
int st_hf_cache_snapshot_repo(const char *dir, char *repo, size_t repo_size);

/* The snapshot folder refs/main names, written to snapshot (size bytes). When refs/main is
 * absent, the repository's only snapshot; STENO_ERR_NOT_FOUND when there is none (or several
 * and no ref to choose), STENO_ERR_FORMAT when refs/main is not a commit hash or plain name
 * or its snapshot resolves outside snapshots/. */
steno_status st_hf_cache_snapshot(const char *repo_dir, char *snapshot, size_t size, st_error *err);

/* The snapshot name refs/main's bytes give: a 40-hex commit or a plain name (letters, digits,
 * '.', '_', '-', not starting with '.'), surrounding whitespace allowed, written NUL-terminated
 * to name. 0 for anything else: a path, an empty ref, NUL bytes, a name that does not fit. */
int st_hf_cache_parse_ref(const uint8_t *data, size_t size, char *name, size_t name_size);

/* Checks that every file of snapshot_dir (and of its subfolders) resolves to a regular file
 * inside repo_dir. */
steno_status st_hf_cache_check_snapshot(const char *repo_dir, const char *snapshot_dir, st_error *err);

/* The checked snapshot of repository repo_id ("openai/whisper-base.en") in the cache folder
 * cache_root (a hub folder: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub), written to
 * snapshot_path. STENO_ERR_NOT_FOUND when the cache does not hold it, STENO_ERR_INVALID_ARGUMENT
 * for a repo_id that is not "org/name". */
steno_status st_hf_cache_find(const char *cache_root, const char *repo_id, char *snapshot_path, size_t size,
                              st_error *err);

#endif
