/*
 * alignment_heads.c — the official models' word-timestamp alignment heads and the rule that
 * picks a model's heads; see alignment_heads.h.
 */
#include "whisper/alignment_heads.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_TABLE_HEADS = 23 };

typedef struct official_heads {
    const char *name;
    int n_text_layer, n_text_head, n_vocab, n_mels;
    int n; /* pairs */
    int pairs[2 * MAX_TABLE_HEADS];
} official_heads;

/* Derived, not typed in: scripts/alignment_heads.py decodes openai-whisper's _ALIGNMENT_HEADS
 * blobs (base85 of gzip of a bool[n_text_layer][n_text_head] mask, whisper/__init__.py) and
 * prints these lines; the alignment_heads_are_current test re-runs it against this file. The
 * lists for tiny.en … small agree with whisper.cpp's g_aheads_* tables, and base with the
 * alignment_heads of Hugging Face's openai/whisper-base generation_config.json. */
static const official_heads table[] = {
    /* clang-format off */
{"tiny.en", 4, 6, 51864, 80, 8, {1, 0, 2, 0, 2, 5, 3, 0, 3, 1, 3, 2, 3, 3, 3, 4}},
{"tiny", 4, 6, 51865, 80, 6, {2, 2, 3, 0, 3, 2, 3, 3, 3, 4, 3, 5}},
{"base.en", 6, 8, 51864, 80, 5, {3, 3, 4, 7, 5, 1, 5, 5, 5, 7}},
{"base", 6, 8, 51865, 80, 8, {3, 1, 4, 2, 4, 3, 4, 7, 5, 1, 5, 2, 5, 4, 5, 6}},
{"small.en", 12, 12, 51864, 80, 19, {6, 6, 7, 0, 7, 3, 7, 8, 8, 2, 8, 5, 8, 7, 9, 0, 9, 4, 9, 8, 9, 10, 10, 0, 10, 1, 10, 2, 10, 3, 10, 6, 10, 11, 11, 2, 11, 4}},
{"small", 12, 12, 51865, 80, 10, {5, 3, 5, 9, 8, 0, 8, 4, 8, 7, 8, 8, 9, 0, 9, 7, 9, 9, 10, 5}},
{"medium.en", 24, 16, 51864, 80, 18, {11, 4, 14, 1, 14, 12, 14, 14, 15, 4, 16, 0, 16, 4, 16, 9, 17, 12, 17, 14, 18, 7, 18, 10, 18, 15, 20, 0, 20, 3, 20, 9, 20, 14, 21, 12}},
{"medium", 24, 16, 51865, 80, 6, {13, 15, 15, 4, 15, 15, 16, 1, 20, 0, 23, 4}},
{"large-v1", 32, 20, 51865, 80, 9, {9, 19, 11, 2, 11, 4, 11, 17, 22, 7, 22, 11, 22, 17, 23, 2, 23, 15}},
{"large-v2", 32, 20, 51865, 80, 23, {10, 12, 13, 17, 16, 11, 16, 12, 16, 13, 17, 15, 17, 16, 18, 4, 18, 11, 18, 19, 19, 11, 21, 2, 21, 3, 22, 3, 22, 9, 22, 12, 23, 5, 23, 7, 23, 13, 25, 5, 26, 1, 26, 12, 27, 15}},
{"large-v3", 32, 20, 51866, 128, 10, {7, 0, 10, 17, 12, 18, 13, 12, 16, 1, 17, 14, 19, 11, 21, 4, 24, 1, 25, 6}},
{"large-v3-turbo", 4, 20, 51866, 128, 6, {2, 4, 2, 11, 3, 3, 3, 6, 3, 11, 3, 14}},
    /* clang-format on */
};

static int matches(const official_heads *entry, const st_whisper_dims *d) {
    return entry->n_text_layer == d->n_text_layer && entry->n_text_head == d->n_text_head &&
           entry->n_vocab == d->n_vocab && entry->n_mels == d->n_mels;
}

static steno_status set_pairs(st_alignment_heads *out, const int *pairs, int n, const char *origin, st_error *err) {
    out->pairs = malloc((size_t)(n > 0 ? n : 1) * 2 * sizeof *out->pairs);
    if (!out->pairs) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    if (pairs) memcpy(out->pairs, pairs, (size_t)n * 2 * sizeof *pairs);
    out->n = n;
    out->origin = origin;
    return STENO_OK;
}

steno_status st_alignment_heads_choose(const st_whisper_dims *dims, const int *config_heads, int n_config_heads,
                                       const char *name_hint, st_alignment_heads *out, st_error *err) {
    *out = (st_alignment_heads){0};
    if (config_heads && n_config_heads > 0) {
        for (int i = 0; i < n_config_heads; i++) {
            int layer = config_heads[2 * i], head = config_heads[2 * i + 1];
            if (layer < 0 || layer >= dims->n_text_layer || head < 0 || head >= dims->n_text_head) {
                return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                    "alignment head %d of the model's config, (%d, %d), is outside its %d layers of "
                                    "%d heads",
                                    i, layer, head, dims->n_text_layer, dims->n_text_head);
            }
        }
        return set_pairs(out, config_heads, n_config_heads, "config", err);
    }
    const official_heads *found = NULL;
    const char *base = name_hint ? strrchr(name_hint, '/') : NULL;
    base = base ? base + 1 : name_hint;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!matches(&table[i], dims)) continue;
        /* only large-v1 (listed first) and large-v2 share a shape: v2 wins unless the name says v1 */
        int named_v1 = base && strstr(base, "large-v1");
        if (!found || (!strcmp(table[i].name, "large-v2") && !named_v1)) found = &table[i];
    }
    if (found) return set_pairs(out, found->pairs, found->n, found->name, err);

    /* openai-whisper's default mask: all heads of layers n_text_layer / 2 and up */
    int first = dims->n_text_layer / 2, n = (dims->n_text_layer - first) * dims->n_text_head;
    steno_status status = set_pairs(out, NULL, n, "fallback", err);
    if (status != STENO_OK) return status;
    for (int layer = first, i = 0; layer < dims->n_text_layer; layer++) {
        for (int head = 0; head < dims->n_text_head; head++, i++) {
            out->pairs[2 * i] = layer;
            out->pairs[2 * i + 1] = head;
        }
    }
    return STENO_OK;
}

void st_alignment_heads_free(st_alignment_heads *heads) {
    if (!heads) return;
    free(heads->pairs);
    *heads = (st_alignment_heads){0};
}
