/*
 * identify.c — recognising model files and folders from their headers.
 *
 * Layouts (REFERENCE.md §1): ggml's eleven int32 hyperparameters after the "lmgg" magic; a
 * CTranslate2 model.bin's variable index (u32 version, spec name, then name/rank/dims/dtype/
 * nbytes per variable, data skipped with a seek); a safetensors file's JSON header; a torch
 * zip's data.pkl, scanned shallowly for openai's `dims` entries, storage classes and pyannote's
 * class names; Hugging Face config.json; the HF cache's refs/main → snapshots/<commit>.
 */
#include "store/identify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/loader.h"

/* Reads exactly n bytes at offset; 0 when the file is shorter. */
static int read_at(int fd, void *out, size_t n, int64_t offset) {
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(fd, (char *)out + done, n - done, offset + (int64_t)done);
        if (got <= 0) return 0;
        done += (size_t)got;
    }
    return 1;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint64_t le64(const unsigned char *p) {
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void join(char *out, size_t size, const char *folder, const char *name) {
    snprintf(out, size, "%s/%s", folder, name);
}

/* Reads a small text/JSON file whole (config files); NULL when absent or over max bytes. */
static char *slurp(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = malloc(max + 1);
    size_t n = text ? fread(text, 1, max + 1, f) : 0;
    fclose(f);
    if (!text || n > max) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

static void name_model(st_identity *id) {
    if (id->shape.n_audio_layer == 0) return;
    id->model = st_catalogue_match_shape(&id->shape, &id->ambiguous);
}

/* ---- ggml ---------------------------------------------------------------------------------- */

static void identify_ggml(int fd, st_identity *id) {
    unsigned char h[48];
    id->format = ST_FORMAT_GGML;
    if (!read_at(fd, h, sizeof h, 0)) {
        snprintf(id->how, sizeof id->how, "ggml magic, but the file ends inside the hyperparameters");
        return;
    }
    int32_t v[11];
    for (int i = 0; i < 11; i++)
        v[i] = (int32_t)le32(h + 4 + 4 * i);
    /* order: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
     * n_text_state, n_text_head, n_text_layer, n_mels, ftype */
    id->is_model = 1;
    id->family = ST_FAMILY_WHISPER;
    snprintf(id->architecture, sizeof id->architecture, "Whisper");
    id->shape = (st_catalogue_shape){v[9], v[2], v[4], v[8], v[0]};
    static const char *const ftypes[] = {"float32", "float16", "q4_0", "q4_1", "q4_1_f16", NULL,   NULL,  "q8_0",
                                         "q5_0",    "q5_1",    "q2_k", "q3_k", "q4_k",     "q5_k", "q6_k"};
    int ftype = v[10] % 1000;
    snprintf(id->precision, sizeof id->precision, "%s",
             ftype >= 0 && ftype < 15 && ftypes[ftype] ? ftypes[ftype] : "unknown ftype");
    snprintf(id->how, sizeof id->how, "whisper.cpp ggml header (magic 'lmgg', ftype %d)", (int)v[10]);
    name_model(id);
}

/* ---- CTranslate2 model.bin ----------------------------------------------------------------- */

static const char *ct2_dtype_name(int dtype) {
    static const char *const names[] = {"float32", "int8", "int16", "int32", "float16", "bfloat16"};
    return dtype >= 0 && dtype < 6 ? names[dtype] : "unknown";
}

/* A layer index from "encoder.layer_12.ffn…" style names; -1 when the name has none. */
static int layer_index(const char *name, const char *prefix) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return -1;
    char *end;
    long v = strtol(name + n, &end, 10);
    return end != name + n && *end == '.' && v >= 0 && v < 10000 ? (int)v : -1;
}

static int identify_ct2_file(const char *path, st_identity *id) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    fstat(fd, &st);
    unsigned char b[8];
    int64_t at = 0, size = st.st_size;
    int ok = read_at(fd, b, 4, 0);
    uint32_t version = ok ? le32(b) : 0;
    char spec[128] = "";
    at = 4;
    if (!ok || version < 1 || version > 6) goto fail;
    if (version >= 2) {
        if (!read_at(fd, b, 2, at)) goto fail;
        uint16_t n = le16(b);
        if (n == 0 || n >= sizeof spec || !read_at(fd, spec, n, at + 2)) goto fail;
        spec[n - 1] = '\0'; /* the length counts the trailing NUL */
        at += 2 + n + 4;    /* the spec revision follows */
    }
    if (!read_at(fd, b, 4, at)) goto fail;
    uint32_t n_vars = le32(b);
    at += 4;
    if (n_vars == 0 || n_vars > 1000000) goto fail;
    int max_enc = -1, max_dec = -1, weight_dtype = -1, norm_dtype = -1;
    for (uint32_t i = 0; i < n_vars; i++) {
        char name[512];
        if (!read_at(fd, b, 2, at)) goto fail;
        uint16_t n = le16(b);
        if (n == 0 || n > sizeof name || !read_at(fd, name, n, at + 2)) goto fail;
        name[n - 1] = '\0';
        at += 2 + n;
        unsigned char rank;
        if (!read_at(fd, &rank, 1, at) || rank > 8) goto fail;
        at += 1;
        uint32_t dims[8] = {0};
        for (int r = 0; r < rank; r++) {
            if (!read_at(fd, b, 4, at)) goto fail;
            dims[r] = le32(b);
            at += 4;
        }
        unsigned char type;
        if (!read_at(fd, &type, 1, at) || !read_at(fd, b, 4, at + 1)) goto fail;
        uint32_t nbytes = le32(b);
        at += 5 + nbytes;
        if (at > size) goto fail;
        int e = layer_index(name, "encoder.layer_"), d = layer_index(name, "decoder.layer_");
        if (e > max_enc) max_enc = e;
        if (d > max_dec) max_dec = d;
        if (!strcmp(name, "encoder.conv1.weight") && rank == 3) {
            id->shape.n_audio_state = (int)dims[0];
            id->shape.n_mels = (int)dims[1];
        }
        if (!strcmp(name, "decoder.embeddings.weight") && rank == 2) id->shape.n_vocab = (int)dims[0];
        if (!strcmp(name, "encoder.layer_0.ffn.linear_0.weight")) weight_dtype = version >= 4 ? type : -1;
        if (!strcmp(name, "encoder.layer_norm.gamma")) norm_dtype = version >= 4 ? type : -1;
    }
    close(fd);
    id->format = ST_FORMAT_CT2;
    snprintf(id->weights, sizeof id->weights, "%s", path);
    if (!strcmp(spec, "WhisperSpec") || (max_enc >= 0 && id->shape.n_mels > 0)) {
        id->is_model = 1;
        id->family = ST_FAMILY_WHISPER;
        snprintf(id->architecture, sizeof id->architecture, "Whisper");
        id->shape.n_audio_layer = max_enc + 1;
        id->shape.n_text_layer = max_dec + 1;
        name_model(id);
    } else {
        snprintf(id->architecture, sizeof id->architecture, "%s", spec[0] ? spec : "unknown spec");
    }
    /* CTranslate2 names quantized types by the int8 weights plus what everything else is in */
    if (weight_dtype == 1 && norm_dtype >= 0 && norm_dtype != 0) {
        snprintf(id->precision, sizeof id->precision, "int8_%s", ct2_dtype_name(norm_dtype));
    } else if (weight_dtype >= 0) {
        snprintf(id->precision, sizeof id->precision, "%s", ct2_dtype_name(weight_dtype));
    }
    snprintf(id->how, sizeof id->how, "CTranslate2 model.bin (binary version %u, %s, %u variables)", version,
             spec[0] ? spec : "no spec name", n_vars);
    return 1;
fail:
    close(fd);
    return 0;
}

/* ---- safetensors / Hugging Face config ----------------------------------------------------- */

static void shape_from_hf_config(const char *config_path, st_identity *id) {
    json_t *root = json_load_file(config_path, 0, NULL);
    if (!root) return;
    json_t *model_type = json_object_get(root, "model_type");
    if (json_is_string(model_type) && !strcmp(json_string_value(model_type), "whisper")) {
        id->is_model = 1;
        id->family = ST_FAMILY_WHISPER;
        snprintf(id->architecture, sizeof id->architecture, "Whisper");
        id->shape.n_mels = (int)json_integer_value(json_object_get(root, "num_mel_bins"));
        id->shape.n_audio_state = (int)json_integer_value(json_object_get(root, "d_model"));
        id->shape.n_audio_layer = (int)json_integer_value(json_object_get(root, "encoder_layers"));
        id->shape.n_text_layer = (int)json_integer_value(json_object_get(root, "decoder_layers"));
        id->shape.n_vocab = (int)json_integer_value(json_object_get(root, "vocab_size"));
        json_t *dtype = json_object_get(root, "torch_dtype");
        if (!id->precision[0] && json_is_string(dtype)) {
            snprintf(id->precision, sizeof id->precision, "%s", json_string_value(dtype));
        }
        name_model(id);
    }
    json_decref(root);
}

static int identify_safetensors_file(const char *path, st_identity *id) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    unsigned char b[8];
    struct stat st;
    fstat(fd, &st);
    int ok = read_at(fd, b, 8, 0);
    uint64_t n = ok ? le64(b) : 0;
    if (!ok || n < 2 || n > 100u * 1024 * 1024 || (int64_t)(8 + n) > st.st_size) {
        close(fd);
        return 0;
    }
    char *text = malloc(n + 1);
    ok = text && read_at(fd, text, n, 8);
    close(fd);
    json_t *root = ok ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    id->format = ST_FORMAT_SAFETENSORS;
    snprintf(id->weights, sizeof id->weights, "%s", path);
    const char *key;
    json_t *value;
    int max_enc = -1, max_dec = -1;
    json_object_foreach(root, key, value) {
        int e = layer_index(key, "model.encoder.layers."), d = layer_index(key, "model.decoder.layers.");
        if (e > max_enc) max_enc = e;
        if (d > max_dec) max_dec = d;
        json_t *shape = json_object_get(value, "shape");
        if (!strcmp(key, "model.encoder.conv1.weight") && json_array_size(shape) == 3) {
            id->shape.n_audio_state = (int)json_integer_value(json_array_get(shape, 0));
            id->shape.n_mels = (int)json_integer_value(json_array_get(shape, 1));
        }
        if (!strcmp(key, "model.decoder.embed_tokens.weight") && json_array_size(shape) == 2) {
            id->shape.n_vocab = (int)json_integer_value(json_array_get(shape, 0));
        }
        if (!strcmp(key, "model.encoder.layers.0.fc1.weight")) {
            const char *dtype = json_string_value(json_object_get(value, "dtype"));
            if (dtype) snprintf(id->precision, sizeof id->precision, "%s", dtype);
        }
    }
    json_decref(root);
    if (max_enc >= 0) {
        id->is_model = 1;
        id->family = ST_FAMILY_WHISPER;
        snprintf(id->architecture, sizeof id->architecture, "Whisper");
        id->shape.n_audio_layer = max_enc + 1;
        id->shape.n_text_layer = max_dec + 1;
        name_model(id);
    }
    snprintf(id->how, sizeof id->how, "safetensors header (%llu bytes of JSON)", (unsigned long long)n);
    return 1;
}

/* ---- torch zip (.pt, pytorch_model.bin) ---------------------------------------------------- */

/* Finds the stored entry whose name ends in "data.pkl"; its payload offset and size. */
static int zip_find_pickle(int fd, int64_t file_size, int64_t *offset, int64_t *size) {
    /* The end-of-central-directory record sits in the last 22 + 65535 bytes. */
    int64_t tail = file_size < 65557 ? file_size : 65557;
    unsigned char *buffer = malloc((size_t)tail);
    if (!buffer || !read_at(fd, buffer, (size_t)tail, file_size - tail)) {
        free(buffer);
        return 0;
    }
    int64_t eocd = -1;
    for (int64_t i = tail - 22; i >= 0; i--) {
        if (le32(buffer + i) == 0x06054b50) {
            eocd = i;
            break;
        }
    }
    if (eocd < 0) {
        free(buffer);
        return 0;
    }
    uint64_t entries = le16(buffer + eocd + 10), cd_size = le32(buffer + eocd + 12),
             cd_offset = le32(buffer + eocd + 16);
    /* ZIP64: the locator just before the EOCD points at the 64-bit record (torch always
     * writes one, even for small files) */
    if (eocd >= 20 && le32(buffer + eocd - 20) == 0x07064b50) {
        unsigned char z[56];
        uint64_t at = le64(buffer + eocd - 20 + 8);
        if (read_at(fd, z, sizeof z, (int64_t)at) && le32(z) == 0x06064b50) {
            entries = le64(z + 32);
            cd_size = le64(z + 40);
            cd_offset = le64(z + 48);
        }
    }
    free(buffer);
    if (cd_size > 64u * 1024 * 1024 || (int64_t)(cd_offset + cd_size) > file_size) return 0;
    unsigned char *cd = malloc(cd_size ? cd_size : 1);
    if (!cd || !read_at(fd, cd, cd_size, (int64_t)cd_offset)) {
        free(cd);
        return 0;
    }
    int found = 0;
    uint64_t p = 0;
    for (uint64_t e = 0; e < entries && p + 46 <= cd_size && le32(cd + p) == 0x02014b50; e++) {
        uint16_t method = le16(cd + p + 10), name_len = le16(cd + p + 28), extra_len = le16(cd + p + 30),
                 comment_len = le16(cd + p + 32);
        uint64_t compressed = le32(cd + p + 20), local = le32(cd + p + 42);
        if (p + 46 + name_len + extra_len > cd_size) break;
        const char *name = (const char *)cd + p + 46;
        /* ZIP64 extra field (id 1): the 64-bit values for the fields that read 0xFFFFFFFF */
        const unsigned char *x = cd + p + 46 + name_len, *x_end = x + extra_len;
        while (x + 4 <= x_end) {
            uint16_t id = le16(x), len = le16(x + 2);
            if (x + 4 + len > x_end) break;
            if (id == 1) {
                const unsigned char *v = x + 4;
                if (le32(cd + p + 24) == 0xFFFFFFFFu && v + 8 <= x + 4 + len) v += 8;
                if (compressed == 0xFFFFFFFFu && v + 8 <= x + 4 + len) compressed = le64(v), v += 8;
                if (local == 0xFFFFFFFFu && v + 8 <= x + 4 + len) local = le64(v);
            }
            x += 4 + len;
        }
        if (name_len >= 8 && !memcmp(name + name_len - 8, "data.pkl", 8) && method == 0) {
            unsigned char lh[30];
            if (read_at(fd, lh, 30, (int64_t)local) && le32(lh) == 0x04034b50) {
                *offset = (int64_t)local + 30 + le16(lh + 26) + le16(lh + 28);
                *size = (int64_t)compressed;
                found = *offset + *size <= file_size;
            }
            break;
        }
        p += 46 + name_len + extra_len + comment_len;
    }
    free(cd);
    return found;
}

/* The small non-negative int the pickle stores right after the string `key` (openai's dims
 * dict: BINUNICODE key, an optional memo op, then BININT1/BININT2/BININT). -1 when absent. */
static int pickle_int_after(const unsigned char *pkl, size_t n, const char *key) {
    size_t k = strlen(key);
    for (size_t i = 0; i + 5 + k < n; i++) {
        if (pkl[i] != 'X' || le32(pkl + i + 1) != k || memcmp(pkl + i + 5, key, k) != 0) continue;
        size_t p = i + 5 + k;
        if (p < n && pkl[p] == 'q')
            p += 2; /* BINPUT */
        else if (p < n && pkl[p] == 'r')
            p += 5; /* LONG_BINPUT */
        else if (p < n && pkl[p] == 0x94)
            p += 1; /* MEMOIZE */
        if (p + 1 < n && pkl[p] == 'K') return pkl[p + 1];
        if (p + 2 < n && pkl[p] == 'M') return le16(pkl + p + 1);
        if (p + 4 < n && pkl[p] == 'J') return (int)le32(pkl + p + 1);
        return -1;
    }
    return -1;
}

static size_t count_occurrences(const unsigned char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle), count = 0;
    for (const unsigned char *p = hay; (p = memmem(p, n - (size_t)(p - hay), needle, k)) != NULL; p += k)
        count++;
    return count;
}

static int identify_torch_zip(int fd, int64_t file_size, const char *path, st_identity *id) {
    int64_t offset, size;
    if (!zip_find_pickle(fd, file_size, &offset, &size) || size > 256 * 1024 * 1024) return 0;
    unsigned char *pkl = malloc((size_t)size + 1);
    if (!pkl || !read_at(fd, pkl, (size_t)size, offset)) {
        free(pkl);
        return 0;
    }
    size_t n = (size_t)size;
    id->format = ST_FORMAT_PT;
    snprintf(id->weights, sizeof id->weights, "%s", path);
    /* precision: the storage class most tensors use */
    size_t half = count_occurrences(pkl, n, "HalfStorage"), single = count_occurrences(pkl, n, "FloatStorage"),
           brain = count_occurrences(pkl, n, "BFloat16Storage");
    if (half || single || brain) {
        snprintf(id->precision, sizeof id->precision, "%s",
                 half >= single && half >= brain ? "float16"
                 : single >= brain               ? "float32"
                                                 : "bfloat16");
    }
    if (memmem(pkl, n, "pyannote.audio", 14)) {
        id->is_model = 1;
        const char *net = memmem(pkl, n, "PyanNet", 7)              ? "PyanNet"
                          : memmem(pkl, n, "WeSpeakerResNet34", 17) ? "WeSpeakerResNet34"
                                                                    : NULL;
        id->family =
            net && !strcmp(net, "WeSpeakerResNet34") ? ST_FAMILY_PYANNOTE_EMBEDDING : ST_FAMILY_PYANNOTE_SEGMENTATION;
        snprintf(id->architecture, sizeof id->architecture, "%s", net ? net : "pyannote model (class not named)");
        id->model =
            st_catalogue_find(id->family == ST_FAMILY_PYANNOTE_EMBEDDING ? "pyannote/wespeaker-voxceleb-resnet34-LM"
                                                                         : "pyannote/segmentation-3.0");
        snprintf(id->how, sizeof id->how, "torch zip whose pickle names pyannote.audio and %s", id->architecture);
    } else if (memmem(pkl, n, "model_state_dict", 16) && pickle_int_after(pkl, n, "n_audio_layer") > 0) {
        id->is_model = 1;
        id->family = ST_FAMILY_WHISPER;
        snprintf(id->architecture, sizeof id->architecture, "Whisper");
        id->shape = (st_catalogue_shape){pickle_int_after(pkl, n, "n_mels"), pickle_int_after(pkl, n, "n_audio_state"),
                                         pickle_int_after(pkl, n, "n_audio_layer"),
                                         pickle_int_after(pkl, n, "n_text_layer"), pickle_int_after(pkl, n, "n_vocab")};
        name_model(id);
        snprintf(id->how, sizeof id->how, "torch zip with openai-whisper's dims and model_state_dict in data.pkl");
    } else if (memmem(pkl, n, "model.encoder.layers.", 21)) {
        id->is_model = 1;
        id->family = ST_FAMILY_WHISPER;
        snprintf(id->architecture, sizeof id->architecture, "Whisper");
        snprintf(id->how, sizeof id->how, "torch zip holding transformers Whisper tensors (pytorch_model.bin)");
    } else {
        snprintf(id->how, sizeof id->how, "torch zip (data.pkl), but neither a Whisper nor a pyannote checkpoint");
    }
    free(pkl);
    return 1;
}

/* ---- files and folders --------------------------------------------------------------------- */

static void identify_file(const char *path, st_identity *id) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    fstat(fd, &st);
    unsigned char head[8] = {0};
    int have = read_at(fd, head, 8, 0);
    snprintf(id->weights, sizeof id->weights, "%s", path);
    if (have && !memcmp(head, "lmgg", 4)) {
        identify_ggml(fd, id);
    } else if (have && !memcmp(head, "GGUF", 4)) {
        id->format = ST_FORMAT_GGUF;
        snprintf(id->how, sizeof id->how, "GGUF magic: a llama.cpp-style file, not a whisper.cpp model");
    } else if (have && head[0] == 'P' && head[1] == 'K' && identify_torch_zip(fd, st.st_size, path, id)) {
        /* recognised */
    } else {
        close(fd);
        fd = -1;
        if (!identify_ct2_file(path, id) && !identify_safetensors_file(path, id)) {
            snprintf(id->how, sizeof id->how, "no model format recognised in the first bytes (%02x %02x %02x %02x)",
                     head[0], head[1], head[2], head[3]);
        }
    }
    if (fd >= 0) close(fd);
}

static int64_t folder_size(const char *folder) {
    DIR *dir = opendir(folder);
    if (!dir) return 0;
    int64_t total = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        char path[4096];
        join(path, sizeof path, folder, entry->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
    }
    closedir(dir);
    return total;
}

int st_identify_hf_snapshot(const char *repo_folder, char *out, size_t size) {
    const char *base = strrchr(repo_folder, '/');
    base = base ? base + 1 : repo_folder;
    if (strncmp(base, "models--", 8) != 0) return 0;
    char ref_path[4096];
    join(ref_path, sizeof ref_path, repo_folder, "refs/main");
    char *commit = slurp(ref_path, 256);
    if (commit) {
        commit[strcspn(commit, "\r\n")] = '\0';
        snprintf(out, size, "%s/snapshots/%s", repo_folder, commit);
        free(commit);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    }
    /* no usable ref: the only snapshot, if there is exactly one */
    char snapshots[4096];
    join(snapshots, sizeof snapshots, repo_folder, "snapshots");
    DIR *dir = opendir(snapshots);
    if (!dir) return 0;
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        snprintf(out, size, "%s/%s", snapshots, entry->d_name);
        found++;
    }
    closedir(dir);
    return found == 1;
}

static void identify_folder(const char *folder, st_identity *id) {
    char path[4096];
    join(path, sizeof path, folder, "model.bin");
    if (is_file(path) && identify_ct2_file(path, id)) {
        id->size = folder_size(folder);
        return;
    }
    join(path, sizeof path, folder, "model.safetensors");
    if (is_file(path) && identify_safetensors_file(path, id)) {
        /* transformers builds the model from config.json: it is the authority on the shape */
        join(path, sizeof path, folder, "config.json");
        if (is_file(path)) shape_from_hf_config(path, id);
        id->size = folder_size(folder);
        return;
    }
    join(path, sizeof path, folder, "model.safetensors.index.json");
    if (is_file(path)) {
        id->format = ST_FORMAT_SAFETENSORS;
        snprintf(id->weights, sizeof id->weights, "%s", path);
        join(path, sizeof path, folder, "config.json");
        shape_from_hf_config(path, id);
        snprintf(id->how, sizeof id->how, "sharded safetensors (model.safetensors.index.json) and config.json");
        id->size = folder_size(folder);
        return;
    }
    join(path, sizeof path, folder, "pytorch_model.bin");
    if (is_file(path)) {
        identify_file(path, id);
        if (id->family == ST_FAMILY_WHISPER && id->shape.n_audio_layer == 0) {
            join(path, sizeof path, folder, "config.json");
            shape_from_hf_config(path, id);
        }
        id->size = folder_size(folder);
        return;
    }
    join(path, sizeof path, folder, "config.yaml");
    char *yaml = slurp(path, 1 << 20);
    if (yaml && strstr(yaml, "pyannote.audio.pipelines")) {
        id->is_model = 1;
        id->family = ST_FAMILY_PYANNOTE_PIPELINE;
        snprintf(id->architecture, sizeof id->architecture, "SpeakerDiarization pipeline");
        snprintf(id->weights, sizeof id->weights, "%s", path);
        id->model = st_catalogue_find("pyannote/speaker-diarization-3.1");
        snprintf(id->how, sizeof id->how, "pyannote pipeline config.yaml (%s)",
                 strstr(yaml, "segmentation-3.0") ? "segmentation-3.0 + wespeaker embeddings" : "nets named inside");
        id->size = folder_size(folder);
    } else {
        snprintf(id->how, sizeof id->how,
                 "a folder with no model.bin, model.safetensors, pytorch_model.bin or pyannote config.yaml");
    }
    free(yaml);
}

steno_status st_identify(const char *path, st_identity *out, st_error *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return st_error_set(err, STENO_ERR_NOT_FOUND, "%s: %s", path, strerror(errno));
    if (access(path, R_OK) != 0) return st_error_set(err, STENO_ERR_IO, "%s: %s", path, strerror(errno));
    snprintf(out->open_path, sizeof out->open_path, "%s", path);
    if (S_ISDIR(st.st_mode)) {
        char snapshot[4096];
        const char *folder = path;
        if (st_identify_hf_snapshot(path, snapshot, sizeof snapshot)) {
            folder = snapshot;
            snprintf(out->open_path, sizeof out->open_path, "%s", snapshot);
        }
        identify_folder(folder, out);
        if (folder != path) {
            char how[ST_IDENTITY_TEXT];
            snprintf(how, sizeof how, "HF cache repo → %s; %s", strrchr(snapshot, '/') + 1, out->how);
            memcpy(out->how, how, sizeof how);
        }
    } else {
        out->size = st.st_size;
        identify_file(path, out);
    }
    if (out->is_model && out->family == ST_FAMILY_WHISPER) {
        st_model model;
        st_error open_err;
        if (st_model_open(out->open_path, &model, &open_err) == STENO_OK) {
            out->usable = 1;
            st_model_free(&model);
        } else {
            /* the reader's message starts with the path, which the caller already shows */
            const char *message = st_error_message(&open_err);
            size_t n = strlen(out->open_path);
            if (!strncmp(message, out->open_path, n) && !strncmp(message + n, ": ", 2)) message += n + 2;
            snprintf(out->unusable, sizeof out->unusable, "%s", message);
        }
    } else if (out->is_model) {
        snprintf(out->unusable, sizeof out->unusable, "steno's diarization does not read pyannote files yet");
    } else if (out->format == ST_FORMAT_GGUF) {
        snprintf(out->unusable, sizeof out->unusable, "GGUF holds no Whisper model whisper.cpp or steno reads");
    } else {
        snprintf(out->unusable, sizeof out->unusable, "not a model");
    }
    return STENO_OK;
}

steno_status st_identify_verify(st_identity *id, st_error *err) {
    if (!id->weights[0] || !is_file(id->weights)) {
        snprintf(id->checksum_note, sizeof id->checksum_note, "no single weights file to hash");
        return STENO_OK;
    }
    steno_status status = st_digest_file(id->weights, &id->digest, err);
    if (status != STENO_OK) return status;
    const st_catalogue_download *download = NULL;
    const st_catalogue_model *known = st_catalogue_find_checksum(id->digest.sha256, id->digest.sha1, &download);
    char target[4096];
    ssize_t n = readlink(id->weights, target, sizeof target - 1);
    const char *blob = NULL;
    if (n > 0) {
        target[n] = '\0';
        blob = strstr(target, "blobs/") ? strstr(target, "blobs/") + 6 : NULL;
    }
    if (known) {
        id->verified = 1;
        if (!id->model || id->ambiguous) id->model = known, id->ambiguous = 0;
        snprintf(id->checksum_note, sizeof id->checksum_note, "matches the published %s of %s (%s)",
                 download->files[0].sha256 ? "SHA-256" : "SHA-1", known->name, download->files[0].path);
    } else if (blob && strlen(blob) == 64) {
        id->verified = strcmp(blob, id->digest.sha256) == 0 ? 1 : -1;
        snprintf(id->checksum_note, sizeof id->checksum_note, "%s its Hugging Face blob name (SHA-256)",
                 id->verified > 0 ? "matches" : "DIFFERS FROM");
    } else if (id->model) {
        const st_catalogue_download *d = st_catalogue_download_in(id->model, id->format);
        int published = d && (d->files[0].sha256 || d->files[0].sha1);
        id->verified = published ? -1 : 0;
        snprintf(id->checksum_note, sizeof id->checksum_note, "%s",
                 published ? "differs from every published checksum (converted, re-quantized or corrupt)"
                           : "no published checksum for this file");
    } else {
        snprintf(id->checksum_note, sizeof id->checksum_note, "no published checksum to compare with");
    }
    return STENO_OK;
}
