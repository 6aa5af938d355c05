/*
 * safetensors_write.c — writer of Hugging Face Whisper folders (transformers' save_pretrained).
 *
 * model.safetensors, in the published safetensors layout: a u64 little-endian header length N,
 * N bytes of JSON ({"__metadata__": {"format": "pt"}, NAME: {"dtype", "shape",
 * "data_offsets": [begin, end]}, …}, padded with spaces to a multiple of 8 as the safetensors
 * library does), then the tensors' bytes back to back in the header's order (sorted by name;
 * offsets relative to the end of the header). Names are transformers' (hf_names.h maps them
 * back); proj_out.weight, tied to the token embedding, is left out as save_pretrained leaves
 * it. Tensors are F32 like the Hub's files, or F16 with --quantize f16.
 *
 * Beside it: config.json (WhisperConfig from the dimensions), generation_config.json (token
 * ids and the alignment heads word timestamps need), vocab.json (GPT-2 spellings → ids, sorted
 * and spelt as the Hub's files are) and preprocessor_config.json. transformers' tokenizer also
 * wants merges.txt, which steno's tokenizer does not need and does not write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/writers.h"

enum { HF_NAME = 128, SAFETENSORS_ALIGNMENT = 8 };

/* openai's block names → transformers' (convert_openai_to_hf.py's table, in reverse). */
static const char *const block_names[][2] = {
    {"attn.query", "self_attn.q_proj"},
    {"attn.key", "self_attn.k_proj"},
    {"attn.value", "self_attn.v_proj"},
    {"attn.out", "self_attn.out_proj"},
    {"attn_ln", "self_attn_layer_norm"},
    {"cross_attn.query", "encoder_attn.q_proj"},
    {"cross_attn.key", "encoder_attn.k_proj"},
    {"cross_attn.value", "encoder_attn.v_proj"},
    {"cross_attn.out", "encoder_attn.out_proj"},
    {"cross_attn_ln", "encoder_attn_layer_norm"},
    {"mlp.0", "fc1"},
    {"mlp.2", "fc2"},
    {"mlp_ln", "final_layer_norm"},
};

static const char *const top_names[][2] = {
    {"encoder.positional_embedding", "model.encoder.embed_positions.weight"},
    {"encoder.ln_post.weight", "model.encoder.layer_norm.weight"},
    {"encoder.ln_post.bias", "model.encoder.layer_norm.bias"},
    {"decoder.token_embedding.weight", "model.decoder.embed_tokens.weight"},
    {"decoder.positional_embedding", "model.decoder.embed_positions.weight"},
    {"decoder.ln.weight", "model.decoder.layer_norm.weight"},
    {"decoder.ln.bias", "model.decoder.layer_norm.bias"},
};

/* transformers' name of a canonical tensor; 0 on success. */
static int hf_name(const char *name, char *out, size_t size) {
    for (size_t i = 0; i < sizeof top_names / sizeof top_names[0]; i++) {
        if (!strcmp(name, top_names[i][0])) return snprintf(out, size, "%s", top_names[i][1]) >= (int)size;
    }
    const char *side = !strncmp(name, "encoder.blocks.", 15)   ? "encoder"
                       : !strncmp(name, "decoder.blocks.", 15) ? "decoder"
                                                               : NULL;
    if (!side) return snprintf(out, size, "model.%s", name) >= (int)size; /* conv1, conv2 */
    char *end;
    long layer = strtol(name + 15, &end, 10);
    const char *module = end + 1, *kind = strrchr(name, '.');
    for (size_t i = 0; i < sizeof block_names / sizeof block_names[0]; i++) {
        size_t n = strlen(block_names[i][0]);
        if (!strncmp(module, block_names[i][0], n) && module + n == kind) {
            return snprintf(out, size, "model.%s.layers.%ld.%s%s", side, layer, block_names[i][1], kind) >= (int)size;
        }
    }
    return -1;
}

typedef struct hf_entry {
    char name[HF_NAME];
    const st_tensor *tensor;
} hf_entry;

static int compare_entries(const void *a, const void *b) {
    return strcmp(((const hf_entry *)a)->name, ((const hf_entry *)b)->name);
}

static steno_status write_safetensors(const st_write_source *src, int f16, const char *path, st_error *err) {
    hf_entry *entries = calloc(src->n_tensors ? src->n_tensors : 1, sizeof *entries);
    if (!entries) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < src->n_tensors; i++) {
        entries[i].tensor = src->tensors[i];
        if (hf_name(src->tensors[i]->name, entries[i].name, sizeof entries[i].name) != 0) {
            free(entries);
            return st_error_set(err, STENO_ERR_INTERNAL, "%s: no transformers name for '%s'", path,
                                src->tensors[i]->name);
        }
    }
    qsort(entries, src->n_tensors, sizeof *entries, compare_entries);

    /* the header is built in memory first: its length precedes it */
    size_t capacity = 256 + src->n_tensors * 256, length = 0;
    char *header = malloc(capacity);
    if (!header) {
        free(entries);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    length += (size_t)snprintf(header + length, capacity - length, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t offset = 0;
    for (size_t i = 0; i < src->n_tensors; i++) {
        const st_tensor *t = entries[i].tensor;
        uint64_t bytes = (uint64_t)st_tensor_n_elements(t) * (f16 ? 2 : 4);
        length += (size_t)snprintf(header + length, capacity - length, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                   entries[i].name, f16 ? "F16" : "F32");
        for (int k = 0; k < t->n_dims; k++) {
            length +=
                (size_t)snprintf(header + length, capacity - length, "%s%lld", k ? "," : "", (long long)t->shape[k]);
        }
        length += (size_t)snprintf(header + length, capacity - length, "],\"data_offsets\":[%llu,%llu]}",
                                   (unsigned long long)offset, (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    length += (size_t)snprintf(header + length, capacity - length, "}");
    while (length % SAFETENSORS_ALIGNMENT != 0)
        header[length++] = ' ';

    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status == STENO_OK) {
        st_atomic_u64(&out, length);
        st_atomic_write(&out, header, length);
        for (size_t i = 0; status == STENO_OK && i < src->n_tensors; i++) {
            status = f16 ? st_write_values_f16(src, entries[i].tensor, &out, err)
                         : st_write_values_f32(src, entries[i].tensor, &out, err);
        }
        if (status == STENO_OK)
            status = st_atomic_file_commit(&out, err);
        else
            st_atomic_file_abort(&out);
    }
    free(header);
    free(entries);
    return status;
}

static void json_ints(st_atomic_file *out, const int *values, size_t n, int indent) {
    st_atomic_printf(out, "[");
    for (size_t i = 0; i < n; i++)
        st_atomic_printf(out, "%s\n%*s%d", i ? "," : "", indent + 2, "", values[i]);
    st_atomic_printf(out, n ? "\n%*s]" : "]", indent, "");
}

static steno_status write_config(const st_write_source *src, int f16, const char *path, st_error *err) {
    const st_whisper_dims *d = &src->model->dims;
    const st_tokenizer *t = src->tokenizer;
    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status != STENO_OK) return status;
    int eot = st_tokenizer_eot(t);
    int begin[2] = {st_tokenizer_space(t), eot};
    st_atomic_printf(&out, "{\n  \"activation_dropout\": 0.0,\n  \"activation_function\": \"gelu\",\n"
                           "  \"architectures\": [\n    \"WhisperForConditionalGeneration\"\n  ],\n"
                           "  \"attention_dropout\": 0.0,\n  \"begin_suppress_tokens\": ");
    json_ints(&out, begin, 2, 2);
    st_atomic_printf(&out,
                     ",\n  \"bos_token_id\": %d,\n  \"d_model\": %d,\n  \"decoder_attention_heads\": %d,\n"
                     "  \"decoder_ffn_dim\": %d,\n  \"decoder_layerdrop\": 0.0,\n  \"decoder_layers\": %d,\n"
                     "  \"decoder_start_token_id\": %d,\n  \"dropout\": 0.0,\n  \"encoder_attention_heads\": %d,\n"
                     "  \"encoder_ffn_dim\": %d,\n  \"encoder_layerdrop\": 0.0,\n  \"encoder_layers\": %d,\n"
                     "  \"eos_token_id\": %d,\n  \"init_std\": 0.02,\n  \"is_encoder_decoder\": true,\n"
                     "  \"max_length\": %d,\n  \"max_source_positions\": %d,\n  \"max_target_positions\": %d,\n"
                     "  \"model_type\": \"whisper\",\n  \"num_hidden_layers\": %d,\n  \"num_mel_bins\": %d,\n"
                     "  \"pad_token_id\": %d,\n  \"scale_embedding\": false,\n  \"torch_dtype\": \"%s\",\n"
                     "  \"use_cache\": true,\n  \"vocab_size\": %d\n}\n",
                     eot, d->n_text_state, d->n_text_head, 4 * d->n_text_state, d->n_text_layer, st_tokenizer_sot(t),
                     d->n_audio_head, 4 * d->n_audio_state, d->n_audio_layer, eot, d->n_text_ctx, d->n_audio_ctx,
                     d->n_text_ctx, d->n_audio_layer, d->n_mels, eot, f16 ? "float16" : "float32", d->n_vocab);
    return st_atomic_file_commit(&out, err);
}

static steno_status write_generation_config(const st_write_source *src, const char *path, st_error *err) {
    const st_tokenizer *t = src->tokenizer;
    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status != STENO_OK) return status;
    int eot = st_tokenizer_eot(t);
    st_atomic_printf(&out, "{\n  \"alignment_heads\": [");
    for (int i = 0; i < src->n_alignment_heads; i++) {
        st_atomic_printf(&out, "%s\n    ", i ? "," : "");
        json_ints(&out, src->alignment_heads + 2 * i, 2, 4);
    }
    st_atomic_printf(&out, src->n_alignment_heads ? "\n  ],\n" : "],\n");
    int begin[2] = {st_tokenizer_space(t), eot};
    st_atomic_printf(&out, "  \"begin_suppress_tokens\": ");
    json_ints(&out, begin, 2, 2);
    int multilingual = st_tokenizer_is_multilingual(t);
    st_atomic_printf(&out,
                     ",\n  \"bos_token_id\": %d,\n  \"decoder_start_token_id\": %d,\n  \"eos_token_id\": %d,\n"
                     "  \"is_multilingual\": %s,\n",
                     eot, st_tokenizer_sot(t), eot, multilingual ? "true" : "false");
    if (multilingual) {
        st_atomic_printf(&out, "  \"lang_to_id\": {");
        int sot = st_tokenizer_sot(t), n_languages = st_tokenizer_n_languages(t);
        for (int i = 0; i < n_languages; i++) {
            st_atomic_printf(&out, "%s\n    \"<|%s|>\": %d", i ? "," : "", st_tokenizer_language_code(t, sot + 1 + i),
                             sot + 1 + i);
        }
        st_atomic_printf(&out, "\n  },\n");
    }
    st_atomic_printf(&out,
                     "  \"max_initial_timestamp_index\": 50,\n  \"max_length\": %d,\n"
                     "  \"no_timestamps_token_id\": %d,\n  \"pad_token_id\": %d,\n  \"prev_sot_token_id\": %d,\n"
                     "  \"return_timestamps\": false,\n  \"suppress_tokens\": ",
                     src->model->dims.n_text_ctx, st_tokenizer_no_timestamps(t), eot, st_tokenizer_sot_prev(t));
    size_t n_suppress = 0;
    const int32_t *suppress = st_tokenizer_non_speech_tokens(t, &n_suppress);
    st_atomic_printf(&out, "[");
    for (size_t i = 0; i < n_suppress; i++)
        st_atomic_printf(&out, "%s\n    %d", i ? "," : "", (int)suppress[i]);
    st_atomic_printf(&out, n_suppress ? "\n  ]" : "]");
    if (multilingual) {
        st_atomic_printf(&out, ",\n  \"task_to_id\": {\n    \"transcribe\": %d,\n    \"translate\": %d\n  }",
                         st_tokenizer_transcribe(t), st_tokenizer_translate(t));
    }
    st_atomic_printf(&out, "\n}\n");
    return st_atomic_file_commit(&out, err);
}

typedef struct vocab_item {
    uint8_t *spelling;
    size_t length;
    int id;
} vocab_item;

static int compare_items(const void *a, const void *b) {
    const vocab_item *x = a, *y = b;
    size_t n = x->length < y->length ? x->length : y->length;
    int c = memcmp(x->spelling, y->spelling, n); /* UTF-8 byte order is code point order */
    if (c) return c;
    return x->length < y->length ? -1 : x->length > y->length;
}

/* vocab.json: the text tokens and <|endoftext|>, keys sorted, non-ASCII kept (as the Hub's). */
static steno_status write_vocab(const st_write_source *src, const char *path, st_error *err) {
    const st_tokenizer *t = src->tokenizer;
    int eot = st_tokenizer_eot(t);
    vocab_item *items = calloc((size_t)eot + 1, sizeof *items);
    if (!items) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    steno_status status = STENO_OK;
    for (int id = 0; id <= eot && status == STENO_OK; id++) {
        size_t length = 0;
        const uint8_t *bytes = id < eot ? st_tokenizer_token_bytes(t, id, &length) : (const uint8_t *)"<|endoftext|>";
        if (id == eot) length = 13;
        items[id].id = id;
        if (!(items[id].spelling = malloc(2 * length + 1))) {
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
        } else if (id < eot) {
            items[id].length = st_write_gpt2_spelling(bytes, length, items[id].spelling);
        } else {
            memcpy(items[id].spelling, bytes, length + 1);
            items[id].length = length;
        }
    }
    st_atomic_file out;
    if (status == STENO_OK) status = st_atomic_file_open(&out, path, err);
    if (status == STENO_OK) {
        qsort(items, (size_t)eot + 1, sizeof *items, compare_items);
        st_atomic_printf(&out, "{");
        for (int i = 0; i <= eot; i++) {
            st_atomic_printf(&out, "%s\n  ", i ? "," : "");
            st_write_json_string(&out, items[i].spelling, items[i].length, 0);
            st_atomic_printf(&out, ": %d", items[i].id);
        }
        st_atomic_printf(&out, "\n}");
        status = st_atomic_file_commit(&out, err);
    }
    for (int i = 0; i <= eot; i++)
        free(items[i].spelling);
    free(items);
    return status;
}

steno_status st_hf_write(const st_write_source *src, st_convert_precision precision, const char *path, st_error *err) {
    int f16 = precision == ST_PRECISION_F16;
    st_atomic_dir dir;
    steno_status status = st_atomic_dir_open(&dir, path, err);
    static const char *const members[] = {"model.safetensors", "config.json", "generation_config.json", "vocab.json",
                                          "preprocessor_config.json"};
    for (int i = 0; status == STENO_OK && i < 5; i++) {
        char *member = st_atomic_dir_member(&dir, members[i]);
        if (!member)
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
        else if (i == 0)
            status = write_safetensors(src, f16, member, err);
        else if (i == 1)
            status = write_config(src, f16, member, err);
        else if (i == 2)
            status = write_generation_config(src, member, err);
        else if (i == 3)
            status = write_vocab(src, member, err);
        else
            status = st_write_preprocessor_config(src, member, err);
        free(member);
    }
    if (status == STENO_OK) return st_atomic_dir_commit(&dir, err);
    st_atomic_dir_abort(&dir);
    return status;
}
