/* hf_names.c — renaming Hugging Face Whisper tensors to openai-whisper's names (see hf_names.h). */
#include "models/hf_names.h"

#include <stdio.h>
#include <string.h>

typedef struct rename {
    const char *hf, *openai;
} name_rename;

/* Whole-name renames outside the layers. */
static const name_rename top_level[] = {
    {"encoder.embed_positions.weight", "encoder.positional_embedding"},
    {"encoder.layer_norm.weight", "encoder.ln_post.weight"},
    {"encoder.layer_norm.bias", "encoder.ln_post.bias"},
    {"decoder.embed_tokens.weight", "decoder.token_embedding.weight"},
    {"decoder.embed_positions.weight", "decoder.positional_embedding"},
    {"decoder.layer_norm.weight", "decoder.ln.weight"},
    {"decoder.layer_norm.bias", "decoder.ln.bias"},
    {"encoder.conv1.weight", "encoder.conv1.weight"},
    {"encoder.conv1.bias", "encoder.conv1.bias"},
    {"encoder.conv2.weight", "encoder.conv2.weight"},
    {"encoder.conv2.bias", "encoder.conv2.bias"},
};

/* Module renames inside one layer; the ".weight"/".bias" suffix is kept. */
static const name_rename in_layer[] = {
    {"self_attn.q_proj", "attn.query"},
    {"self_attn.k_proj", "attn.key"},
    {"self_attn.v_proj", "attn.value"},
    {"self_attn.out_proj", "attn.out"},
    {"self_attn_layer_norm", "attn_ln"},
    {"encoder_attn.q_proj", "cross_attn.query"},
    {"encoder_attn.k_proj", "cross_attn.key"},
    {"encoder_attn.v_proj", "cross_attn.value"},
    {"encoder_attn.out_proj", "cross_attn.out"},
    {"encoder_attn_layer_norm", "cross_attn_ln"},
    {"fc1", "mlp.0"},
    {"fc2", "mlp.2"},
    {"final_layer_norm", "mlp_ln"},
};

static int fits(int written, size_t out_size) {
    return written >= 0 && (size_t)written < out_size;
}

int st_hf_canonical_name(const char *hf_name, char *out, size_t out_size) {
    const char *name = strncmp(hf_name, "model.", 6) == 0 ? hf_name + 6 : hf_name;
    if (strcmp(name, "proj_out.weight") == 0) return 0;
    for (size_t i = 0; i < sizeof top_level / sizeof top_level[0]; i++) {
        if (strcmp(name, top_level[i].hf) == 0)
            return fits(snprintf(out, out_size, "%s", top_level[i].openai), out_size) ? 1 : -1;
    }
    const char *side = strncmp(name, "encoder.layers.", 15) == 0   ? "encoder"
                       : strncmp(name, "decoder.layers.", 15) == 0 ? "decoder"
                                                                   : NULL;
    if (!side) return -1;
    const char *p = name + 15;
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 4 || p[digits] != '.') return -1;
    const char *module = p + digits + 1;
    for (size_t i = 0; i < sizeof in_layer / sizeof in_layer[0]; i++) {
        size_t n = strlen(in_layer[i].hf);
        if (strncmp(module, in_layer[i].hf, n) != 0) continue;
        const char *suffix = module + n;
        if (strcmp(suffix, ".weight") != 0 && strcmp(suffix, ".bias") != 0) continue;
        int written = snprintf(out, out_size, "%s.blocks.%.*s.%s%s", side, (int)digits, p, in_layer[i].openai, suffix);
        return fits(written, out_size) ? 1 : -1;
    }
    return -1;
}
