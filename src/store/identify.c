/*
 * identify.c — naming model files and folders by content, through the formats' own readers.
 *
 * A weights file is mapped and handed to st_model_detect_memory; Whisper formats are then
 * opened with st_model_open (from the path, so the files beside it count too) and described
 * from the st_model the reader built: dimensions, the dtype of the linear weights, whether it
 * is usable. A file the reader refuses is still named as far as its format's entry points go
 * (ggml's magic, CTranslate2's specification name, a torch checkpoint's pickled `dims`) and
 * carries the reader's reason. pyannote checkpoints go through st_torch_open: the pickled
 * object tree says which class pyannote.audio saved and the state dict's shapes say which net.
 * Folders: a CTranslate2 directory, a Hugging Face snapshot (refs/main → snapshots/<commit>)
 * with model.safetensors or pytorch_model.bin and config.json, a pyannote pipeline's
 * config.yaml. The safetensors JSON header is read here until the Hugging Face reader lands.
 */
#include "store/identify.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diarize/pyannote_pipeline.h"
#include "diarize/pyannote_seg.h"
#include "diarize/wespeaker.h"
#include "models/ct2.h"
#include "models/hf_cache.h"
#include "models/loader.h"
#include "models/pt.h"
#include "models/pyannote.h"
#include "util/mapped_file.h"

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

static void set_whisper(st_identity *id) {
    id->is_model = 1;
    id->family = ST_FAMILY_WHISPER;
    snprintf(id->architecture, sizeof id->architecture, "Whisper");
}

/* A reader's message without the path it starts with, which the caller already shows. */
static void keep_reason(st_identity *id, const st_error *err, const char *path) {
    const char *message = st_error_message(err);
    size_t n = strlen(path);
    if (!strncmp(message, path, n) && !strncmp(message + n, ": ", 2)) message += n + 2;
    snprintf(id->unusable, sizeof id->unusable, "%s", message);
}

/* ---- a Whisper model the reader built ------------------------------------------------------ */

static const char *precision_word(st_dtype dtype) {
    switch (dtype) {
    case ST_DTYPE_F32:
        return "float32";
    case ST_DTYPE_F16:
        return "float16";
    case ST_DTYPE_BF16:
        return "bfloat16";
    case ST_DTYPE_I8:
        return "int8";
    case ST_DTYPE_I16:
        return "int16";
    default:
        return st_dtype_name(dtype); /* ggml's block types: q4_0, q5_1, q8_0… */
    }
}

/* The precision of a Whisper model: the dtype of its linear weights. CTranslate2 names a
 * quantized model after what the rest is stored in as well (int8_float16), and int8 alone
 * means the rest is float32. */
static void model_precision(const st_model *model, char *out, size_t size) {
    const st_tensor *weight = st_model_find(model, "encoder.blocks.0.mlp.0.weight");
    const st_tensor *norm = st_model_find(model, "encoder.ln_post.weight");
    if (!weight) return;
    int quantized = weight->dtype == ST_DTYPE_I8 || weight->dtype == ST_DTYPE_I16;
    if (quantized && norm && norm->dtype != ST_DTYPE_F32) {
        snprintf(out, size, "%s_%s", precision_word(weight->dtype), precision_word(norm->dtype));
    } else {
        snprintf(out, size, "%s", precision_word(weight->dtype));
    }
}

static void describe_model(const st_model *model, st_model_format format, const uint8_t *head, size_t n,
                           st_identity *id) {
    set_whisper(id);
    id->format = format;
    id->shape = (st_catalogue_shape){model->dims.n_mels, model->dims.n_audio_state, model->dims.n_audio_layer,
                                     model->dims.n_text_layer, model->dims.n_vocab};
    name_model(id);
    model_precision(model, id->precision, sizeof id->precision);
    char spec[64];
    switch (format) {
    case ST_FORMAT_GGML:
        snprintf(id->how, sizeof id->how, "whisper.cpp ggml file (magic 'lmgg', ftype %d), %zu tensors",
                 model->file_type, model->n_tensors);
        break;
    case ST_FORMAT_CT2:
        st_ct2_spec_name(head, n, spec, sizeof spec);
        snprintf(id->how, sizeof id->how, "CTranslate2 model.bin (binary version %u, %s), %zu tensors",
                 n >= 4 ? (unsigned)head[0] : 0u, spec[0] ? spec : "no spec name", model->n_tensors);
        break;
    case ST_FORMAT_PT:
        snprintf(id->how, sizeof id->how, "torch.save archive holding a Whisper state dict, %zu tensors",
                 model->n_tensors);
        break;
    default:
        snprintf(id->how, sizeof id->how, "%s Whisper model, %zu tensors", st_model_format_name(format),
                 model->n_tensors);
        break;
    }
}

/* ---- torch checkpoints the Whisper reader refuses: pyannote, or a Whisper one it cannot use -- */

static const char *pickle_text(const st_pickle_object *object) {
    return object && st_pickle_is_text(object) ? object->as.string.bytes : NULL;
}

static int pickle_small_int(const st_pickle_object *object) {
    return object && object->kind == ST_PICKLE_INT && object->as.integer > 0 && object->as.integer < 1 << 20
               ? (int)object->as.integer
               : 0;
}

/* The tensors of a state dict: how many, their most common precision, and the first dimension
 * of one of them (-1 when absent). */
typedef struct state_summary {
    size_t n_tensors;
    char precision[32];
    int64_t rows;
} state_summary;

static void summarise_state(const st_torch_file *torch, const st_pickle_object *state, const char *rows_of,
                            state_summary *out) {
    memset(out, 0, sizeof *out);
    out->rows = -1;
    if (!state || state->kind != ST_PICKLE_DICT) return;
    size_t count[ST_DTYPE_COUNT] = {0};
    for (size_t i = 0; i + 1 < state->as.sequence.count; i += 2) {
        const char *name = pickle_text(state->as.sequence.items[i]);
        st_torch_tensor_view view;
        st_error ignored;
        if (!name || st_torch_tensor(torch, state->as.sequence.items[i + 1], name, &view, &ignored) != STENO_OK) {
            continue;
        }
        out->n_tensors++;
        count[view.dtype]++;
        if (!strcmp(name, rows_of) && view.n_dims >= 1) out->rows = view.shape[0];
    }
    int best = -1;
    for (int d = 0; d < ST_DTYPE_COUNT; d++) {
        if (count[d] && (best < 0 || count[d] > count[best])) best = d;
    }
    if (best >= 0) snprintf(out->precision, sizeof out->precision, "%s", precision_word((st_dtype)best));
}

/* pyannote.audio saves {"pyannote.audio": {"versions", "architecture": {"module", "class"},
 * "specifications"}, "state_dict", "hyper_parameters", …} (2.0 said "model" for
 * "architecture"). */
static void identify_pyannote(const st_torch_file *torch, const st_pickle_object *meta, st_identity *id) {
    const st_pickle_object *root = torch->pickle.root;
    const st_pickle_object *architecture = st_pickle_dict_get(meta, "architecture");
    if (!architecture) architecture = st_pickle_dict_get(meta, "model");
    const char *module = pickle_text(st_pickle_dict_get(architecture, "module"));
    const char *class_name = pickle_text(st_pickle_dict_get(architecture, "class"));
    const char *version = pickle_text(st_pickle_dict_get(st_pickle_dict_get(meta, "versions"), "pyannote.audio"));
    int embedding = (class_name && !strcmp(class_name, "WeSpeakerResNet34")) ||
                    (module && strstr(module, "pyannote.audio.models.embedding"));
    state_summary state;
    /* segmentation: the classifier's outputs; WeSpeaker: the embedding layer's width */
    summarise_state(torch, st_pickle_dict_get(root, "state_dict"),
                    embedding ? "resnet.seg_1.weight" : "classifier.weight", &state);
    id->format = ST_FORMAT_PT;
    id->is_model = 1;
    id->family = embedding ? ST_FAMILY_PYANNOTE_EMBEDDING : ST_FAMILY_PYANNOTE_SEGMENTATION;
    snprintf(id->architecture, sizeof id->architecture, "%.63s", class_name ? class_name : "pyannote model");
    snprintf(id->precision, sizeof id->precision, "%s", state.precision);
    char detail[96] = "";
    if (class_name && !strcmp(class_name, "PyanNet") && state.rows == 7) {
        /* segmentation-3.0's powerset output: no speaker, 3 alone, 3 pairs */
        id->model = st_catalogue_find("pyannote/segmentation-3.0");
        snprintf(detail, sizeof detail, "; classifier of 7 powerset classes (3 speakers, 2 at once)");
    } else if (class_name && !strcmp(class_name, "WeSpeakerResNet34") && state.rows > 0) {
        id->model = st_catalogue_find("pyannote/wespeaker-voxceleb-resnet34-LM");
        snprintf(detail, sizeof detail, "; %lld-dimensional speaker embeddings", (long long)state.rows);
    } else if (state.rows > 0) {
        snprintf(detail, sizeof detail, "; output layer of %lld rows", (long long)state.rows);
    }
    snprintf(id->how, sizeof id->how,
             "torch.save archive: pyannote.audio %.16s checkpoint of %.80s.%.40s, %zu tensors%s",
             version ? version : "(version not saved)", module ? module : "?", class_name ? class_name : "?",
             state.n_tensors, detail);
}

/* A pyannote net is usable when steno builds it from the checkpoint: the reader and every
 * tensor the net asks for, by name and shape. */
static void check_pyannote_net(const uint8_t *data, size_t size, const char *name, st_identity *id) {
    int segmentation = !strcmp(id->architecture, "PyanNet");
    if (!segmentation && strcmp(id->architecture, "WeSpeakerResNet34") != 0) {
        snprintf(id->unusable, sizeof id->unusable, "steno runs pyannote's PyanNet and WeSpeakerResNet34, not %s",
                 id->architecture);
        return;
    }
    st_model model;
    st_error err;
    steno_status status = st_pyannote_load_memory(data, size, name, id->architecture, &model, &err);
    if (status == STENO_OK && segmentation) {
        st_pyannote_seg *net;
        status = st_pyannote_seg_from_model(&model, &net, &err);
        st_pyannote_seg_free(status == STENO_OK ? net : NULL);
    } else if (status == STENO_OK) {
        st_wespeaker *net;
        status = st_wespeaker_from_model(&model, &net, &err);
        st_wespeaker_free(status == STENO_OK ? net : NULL);
    }
    if (status == STENO_OK)
        id->usable = 1;
    else
        keep_reason(id, &err, name);
}

static void identify_torch(const uint8_t *data, size_t size, const char *name, st_identity *id) {
    st_torch_file torch;
    st_error err;
    if (st_torch_open(data, size, name, &torch, &err) != STENO_OK) {
        snprintf(id->how, sizeof id->how, "a ZIP archive, but not a torch checkpoint steno can read");
        keep_reason(id, &err, name);
        return;
    }
    id->format = ST_FORMAT_PT;
    if (torch.pickle.code_global[0]) {
        snprintf(id->warning, sizeof id->warning,
                 "its pickle names %s, which runs code when Python loads it (torch.load without weights_only, "
                 "pickle.load); steno never runs it, but do not open this file with Python tools",
                 torch.pickle.code_global);
    }
    const st_pickle_object *root = torch.pickle.root;
    const st_pickle_object *pyannote = st_pickle_dict_get(root, "pyannote.audio");
    const st_pickle_object *dims = st_pickle_dict_get(root, "dims");
    if (pyannote) {
        identify_pyannote(&torch, pyannote, id);
        id->unusable[0] = '\0';
        check_pyannote_net(data, size, name, id);
    } else if (dims && st_pickle_dict_get(root, "model_state_dict")) {
        /* openai-whisper's checkpoint whose tensors the reader refused: its dims still name it */
        set_whisper(id);
        id->shape = (st_catalogue_shape){pickle_small_int(st_pickle_dict_get(dims, "n_mels")),
                                         pickle_small_int(st_pickle_dict_get(dims, "n_audio_state")),
                                         pickle_small_int(st_pickle_dict_get(dims, "n_audio_layer")),
                                         pickle_small_int(st_pickle_dict_get(dims, "n_text_layer")),
                                         pickle_small_int(st_pickle_dict_get(dims, "n_vocab"))};
        name_model(id);
        state_summary state;
        summarise_state(&torch, st_pickle_dict_get(root, "model_state_dict"), "", &state);
        snprintf(id->precision, sizeof id->precision, "%s", state.precision);
        snprintf(id->how, sizeof id->how, "torch.save archive with openai-whisper's dims and model_state_dict");
    } else {
        snprintf(id->how, sizeof id->how, "torch.save archive, but neither a Whisper nor a pyannote checkpoint");
    }
    st_torch_close(&torch);
}

/* ---- safetensors (until the Hugging Face reader lands) ------------------------------------- */

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A layer index from "model.encoder.layers.12.fc1…" style names; -1 when the name has none. */
static int layer_index(const char *name, const char *prefix) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return -1;
    char *end;
    long v = strtol(name + n, &end, 10);
    return end != name + n && *end == '.' && v >= 0 && v < 10000 ? (int)v : -1;
}

static int identify_safetensors(const uint8_t *data, size_t size, st_identity *id) {
    uint64_t n = size >= 8 ? le64(data) : 0;
    if (n < 2 || n > size - 8 || n > 100u * 1024 * 1024 || data[8] != '{') return 0;
    json_t *root = json_loadb((const char *)data + 8, (size_t)n, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    id->format = ST_FORMAT_SAFETENSORS;
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
        const char *dtype = json_string_value(json_object_get(value, "dtype"));
        if (!strcmp(key, "model.encoder.layers.0.fc1.weight") && dtype) {
            static const char *const names[][2] = {{"F32", "float32"}, {"F16", "float16"}, {"BF16", "bfloat16"}};
            snprintf(id->precision, sizeof id->precision, "%s", dtype);
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                if (!strcmp(dtype, names[i][0])) snprintf(id->precision, sizeof id->precision, "%s", names[i][1]);
            }
        }
    }
    json_decref(root);
    if (max_enc >= 0) {
        set_whisper(id);
        id->shape.n_audio_layer = max_enc + 1;
        id->shape.n_text_layer = max_dec + 1;
        name_model(id);
    }
    snprintf(id->how, sizeof id->how, "safetensors header (%llu bytes of JSON)", (unsigned long long)n);
    snprintf(id->unusable, sizeof id->unusable, "steno does not read safetensors yet");
    return 1;
}

/* transformers builds the model from config.json: it is the authority on the shape. */
static void shape_from_hf_config(const char *config_path, st_identity *id) {
    json_t *root = json_load_file(config_path, 0, NULL);
    if (!root) return;
    json_t *model_type = json_object_get(root, "model_type");
    if (json_is_string(model_type) && !strcmp(json_string_value(model_type), "whisper")) {
        set_whisper(id);
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

/* ---- one weights file ---------------------------------------------------------------------- */

/* Identifies a file's bytes. open_path, when given, is what st_model_open reads from disk
 * (the file, or its model folder); without it the bytes alone are judged. */
static void identify_bytes(const uint8_t *data, size_t size, const char *name, const char *open_path,
                           int in_model_directory, st_identity *id) {
    st_model_format format = st_model_detect_memory(data, size, size, in_model_directory);
    if (format == ST_FORMAT_GGUF) {
        id->format = ST_FORMAT_GGUF;
        snprintf(id->how, sizeof id->how, "GGUF magic: a llama.cpp-style file, not a whisper.cpp model");
        return;
    }
    if (format == ST_FORMAT_UNKNOWN) {
        if (!identify_safetensors(data, size, id)) {
            unsigned char head[4] = {0};
            memcpy(head, data, size < 4 ? size : 4);
            snprintf(id->how, sizeof id->how, "no model format recognised in the first bytes (%02x %02x %02x %02x)",
                     head[0], head[1], head[2], head[3]);
        }
        return;
    }
    st_model model;
    st_error err;
    steno_status status =
        open_path ? st_model_open(open_path, &model, &err) : st_model_open_memory(data, size, name, &model, &err);
    if (status == STENO_OK) {
        describe_model(&model, format, data, size, id);
        id->usable = 1;
        st_model_free(&model);
        return;
    }
    keep_reason(id, &err, open_path ? open_path : name);
    /* the file may read well on its own while its folder lacks something (a vocabulary) */
    if (open_path && st_model_open_memory(data, size, name, &model, &err) == STENO_OK) {
        describe_model(&model, format, data, size, id);
        st_model_free(&model);
        return;
    }
    char spec[64];
    id->format = format;
    switch (format) {
    case ST_FORMAT_GGML:
        set_whisper(id);
        snprintf(id->how, sizeof id->how, "whisper.cpp ggml magic 'lmgg', but the rest does not read");
        break;
    case ST_FORMAT_CT2:
        st_ct2_spec_name(data, size, spec, sizeof spec);
        if (!strcmp(spec, "WhisperSpec")) set_whisper(id);
        snprintf(id->architecture, sizeof id->architecture, "%s", spec[0] ? spec : "unknown spec");
        snprintf(id->how, sizeof id->how, "CTranslate2 model.bin (%s), but the rest does not read",
                 spec[0] ? spec : "binary version 1, no spec name");
        break;
    default:
        identify_torch(data, size, name, id);
        break;
    }
}

static void identify_file(const char *path, const char *open_path, int in_model_directory, st_identity *id) {
    snprintf(id->weights, sizeof id->weights, "%s", path);
    snprintf(id->open_path, sizeof id->open_path, "%s", open_path);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(id->how, sizeof id->how, "not a regular file");
        return;
    }
    st_mapped_file file;
    st_error err;
    if (st_mapped_file_open(&file, path, &err) != STENO_OK) {
        snprintf(id->how, sizeof id->how, "cannot be read: %s", st_error_message(&err));
        return;
    }
    identify_bytes(file.data, file.size, path, open_path, in_model_directory, id);
    st_mapped_file_close(&file);
}

/* ---- folders ------------------------------------------------------------------------------- */

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
    /* the one check of refs/main (hf_cache.c): a commit or plain name inside snapshots/ */
    st_error ignored;
    return st_hf_cache_snapshot(repo_folder, out, size, &ignored) == STENO_OK;
}

/* What steno would open in a model folder: the first usable candidate, else the first one
 * recognised as a model. */
static void identify_folder(const char *folder, st_identity *id) {
    char path[4096], config[4096];
    join(config, sizeof config, folder, "config.json");
    st_identity candidate;
    int found = 0;
    for (int step = 0; step < 4 && !(found && id->usable); step++) {
        memset(&candidate, 0, sizeof candidate);
        if (step == 0) {
            /* a folder the readers take as a whole (CTranslate2 today) */
            if (st_model_detect(folder) == ST_FORMAT_UNKNOWN) continue;
            join(path, sizeof path, folder, "model.bin");
            if (!is_file(path)) join(path, sizeof path, folder, "model.safetensors");
            identify_file(path, folder, 1, &candidate);
        } else if (step == 1) {
            join(path, sizeof path, folder, "model.safetensors");
            if (!is_file(path)) continue;
            identify_file(path, path, 1, &candidate);
            if (candidate.format == ST_FORMAT_SAFETENSORS && is_file(config)) shape_from_hf_config(config, &candidate);
        } else if (step == 2) {
            join(path, sizeof path, folder, "model.safetensors.index.json");
            if (!is_file(path)) continue;
            candidate.format = ST_FORMAT_SAFETENSORS;
            snprintf(candidate.weights, sizeof candidate.weights, "%s", path);
            snprintf(candidate.open_path, sizeof candidate.open_path, "%s", folder);
            shape_from_hf_config(config, &candidate);
            snprintf(candidate.how, sizeof candidate.how,
                     "sharded safetensors (model.safetensors.index.json) and config.json");
            snprintf(candidate.unusable, sizeof candidate.unusable, "steno does not read safetensors yet");
        } else {
            join(path, sizeof path, folder, "pytorch_model.bin");
            if (!is_file(path)) continue;
            identify_file(path, path, 1, &candidate);
            if (candidate.family == ST_FAMILY_WHISPER && candidate.is_model && candidate.shape.n_audio_layer == 0) {
                shape_from_hf_config(config, &candidate);
            }
        }
        if (candidate.is_model && (!found || candidate.usable)) {
            *id = candidate;
            found = 1;
        }
    }
    if (found) {
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
        /* usable when its config reads and both nets it names load, from this cache */
        st_pyannote *pipeline;
        st_error err;
        if (st_pyannote_open(folder, &pipeline, &err) == STENO_OK) {
            id->usable = 1;
            st_pyannote_close(pipeline);
        } else {
            keep_reason(id, &err, folder);
        }
    } else {
        snprintf(id->how, sizeof id->how,
                 "a folder with no model.bin, model.safetensors, pytorch_model.bin or pyannote config.yaml");
    }
    free(yaml);
}

/* Says why a recognised file is not usable when no reader has said so. */
static void explain_unusable(st_identity *id) {
    if (id->usable || id->unusable[0]) return;
    if (id->is_model && id->family != ST_FAMILY_WHISPER) {
        snprintf(id->unusable, sizeof id->unusable, "not a pyannote net or pipeline steno runs");
    } else if (id->format == ST_FORMAT_GGUF) {
        snprintf(id->unusable, sizeof id->unusable, "GGUF holds no Whisper model whisper.cpp or steno reads");
    } else {
        snprintf(id->unusable, sizeof id->unusable, "not a model");
    }
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
        if (st_identify_hf_snapshot(path, snapshot, sizeof snapshot)) folder = snapshot;
        identify_folder(folder, out);
        if (!out->open_path[0] || !strcmp(out->open_path, path)) {
            snprintf(out->open_path, sizeof out->open_path, "%s", folder);
        }
        if (folder != path) {
            char how[ST_IDENTITY_TEXT];
            snprintf(how, sizeof how, "HF cache repo → %s; %s", strrchr(snapshot, '/') + 1, out->how);
            memcpy(out->how, how, sizeof how);
        }
    } else {
        identify_file(path, path, 0, out);
        out->size = st.st_size;
    }
    explain_unusable(out);
    return STENO_OK;
}

steno_status st_identify_memory(const uint8_t *data, size_t size, const char *name, st_identity *out, st_error *err) {
    (void)err;
    memset(out, 0, sizeof *out);
    snprintf(out->weights, sizeof out->weights, "%s", name);
    identify_bytes(data, size, name, NULL, 0, out);
    out->size = (int64_t)size;
    explain_unusable(out);
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
