/*
 * tokenizer.c — Whisper's byte-level BPE: vocabulary construction, encoding, decoding and the
 * special-token layout.
 *
 * It behaves as openai-whisper's tiktoken encoding does: text is split by the GPT-2
 * pre-tokenisation pattern (written out by hand below, with character classes from the
 * generated unicode_tables.c), and each piece is merged byte pair by byte pair, always merging
 * the adjacent pair whose concatenation has the lowest rank, where a token's rank is its id.
 * For the multilingual vocabulary we checked that this order is the one merges.txt lists
 * (merge i produces token 256 + i for all 50000 merges), so tiktoken-style ranks and Hugging
 * Face's merge list agree.
 *
 * Owns: the token bytes, a hash map from bytes to id, the non-speech suppress list.
 */
#include "whisper/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mapped_file.h"
#include "whisper/unicode_tables.h"

#define ST_N_TIMESTAMPS 1501
/* The smallest layout: GPT-2's 50256 text tokens, eot, sot, 99 languages, 6 task/control
 * tokens and the timestamps. */
#define ST_ENGLISH_N_VOCAB 51864
/* Far beyond any Whisper model; keeps id arithmetic comfortably inside int. */
#define ST_MAX_N_VOCAB (1 << 24)
#define ST_INVALID_CODE_POINT 0xFFFFFFFFu

/* openai-whisper's LANGUAGES, in the order their tokens follow sot. */
static const char *const language_codes[] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt",  "tr", "pl", "ca", "nl", "ar", "sv",  "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro",  "da", "hu", "ta", "no", "th", "ur",  "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv",  "bn", "sr", "az", "sl", "kn", "et",  "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",  "gl", "mr", "pa", "si", "km", "sn",  "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi",  "lo", "uz", "fo", "ht", "ps", "tk",  "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};
#define ST_N_KNOWN_LANGUAGES ((int)(sizeof language_codes / sizeof language_codes[0]))
/* Their English names, in the same order, as openai-whisper's --language accepts them. */
static const char *const language_names[] = {
    "english",    "chinese",    "german",        "spanish",        "russian",   "korean",     "french",
    "japanese",   "portuguese", "turkish",       "polish",         "catalan",   "dutch",      "arabic",
    "swedish",    "italian",    "indonesian",    "hindi",          "finnish",   "vietnamese", "hebrew",
    "ukrainian",  "greek",      "malay",         "czech",          "romanian",  "danish",     "hungarian",
    "tamil",      "norwegian",  "thai",          "urdu",           "croatian",  "bulgarian",  "lithuanian",
    "latin",      "maori",      "malayalam",     "welsh",          "slovak",    "telugu",     "persian",
    "latvian",    "bengali",    "serbian",       "azerbaijani",    "slovenian", "kannada",    "estonian",
    "macedonian", "breton",     "basque",        "icelandic",      "armenian",  "nepali",     "mongolian",
    "bosnian",    "kazakh",     "albanian",      "swahili",        "galician",  "marathi",    "punjabi",
    "sinhala",    "khmer",      "shona",         "yoruba",         "somali",    "afrikaans",  "occitan",
    "georgian",   "belarusian", "tajik",         "sindhi",         "gujarati",  "amharic",    "yiddish",
    "lao",        "uzbek",      "faroese",       "haitian creole", "pashto",    "turkmen",    "nynorsk",
    "maltese",    "sanskrit",   "luxembourgish", "myanmar",        "tibetan",   "tagalog",    "malagasy",
    "assamese",   "tatar",      "hawaiian",      "lingala",        "hausa",     "bashkir",    "javanese",
    "sundanese",  "cantonese",
};
_Static_assert(sizeof language_names / sizeof language_names[0] == sizeof language_codes / sizeof language_codes[0],
               "one name per language code");

struct st_tokenizer {
    int n_vocab;
    int n_text; /* text tokens are ids [0, n_text); n_text is also eot */
    int n_languages;
    bool multilingual;
    uint32_t *offsets; /* token id's bytes are bytes[offsets[id], offsets[id + 1]) */
    uint8_t *bytes;
    int32_t *slots; /* open-addressing hash map from bytes to id; −1 marks an empty slot */
    size_t slot_mask;
    int32_t *non_speech;
    size_t n_non_speech;
    int space;
};

/* ---- layout ---------------------------------------------------------------------------- */

int st_tokenizer_n_vocab(const st_tokenizer *t) {
    return t->n_vocab;
}
bool st_tokenizer_is_multilingual(const st_tokenizer *t) {
    return t->multilingual;
}
int st_tokenizer_n_languages(const st_tokenizer *t) {
    return t->n_languages;
}
int st_tokenizer_eot(const st_tokenizer *t) {
    return t->n_text;
}
int st_tokenizer_sot(const st_tokenizer *t) {
    return t->n_text + 1;
}
int st_tokenizer_translate(const st_tokenizer *t) {
    return t->n_text + 2 + t->n_languages;
}
int st_tokenizer_transcribe(const st_tokenizer *t) {
    return st_tokenizer_translate(t) + 1;
}
int st_tokenizer_sot_lm(const st_tokenizer *t) {
    return st_tokenizer_translate(t) + 2;
}
int st_tokenizer_sot_prev(const st_tokenizer *t) {
    return st_tokenizer_translate(t) + 3;
}
int st_tokenizer_no_speech(const st_tokenizer *t) {
    return st_tokenizer_translate(t) + 4;
}
int st_tokenizer_no_timestamps(const st_tokenizer *t) {
    return st_tokenizer_translate(t) + 5;
}
int st_tokenizer_timestamp_begin(const st_tokenizer *t) {
    return st_tokenizer_translate(t) + 6;
}
int st_tokenizer_space(const st_tokenizer *t) {
    return t->space;
}

int st_tokenizer_language_token(const st_tokenizer *t, const char *code) {
    if (code == NULL) return -1;
    for (int i = 0; i < t->n_languages && i < ST_N_KNOWN_LANGUAGES; i++) {
        if (strcmp(language_codes[i], code) == 0) return t->n_text + 2 + i;
    }
    return -1;
}

const char *st_language_code(const char *code_or_name) {
    /* the other names openai-whisper takes for some of them */
    static const char *const aliases[][2] = {
        {"burmese", "my"},       {"valencian", "ca"}, {"flemish", "nl"},   {"haitian", "ht"},
        {"letzeburgesch", "lb"}, {"pushto", "ps"},    {"panjabi", "pa"},   {"moldavian", "ro"},
        {"moldovan", "ro"},      {"sinhalese", "si"}, {"castilian", "es"}, {"mandarin", "zh"},
    };
    if (!code_or_name) return NULL;
    for (int i = 0; i < ST_N_KNOWN_LANGUAGES; i++) {
        if (!strcmp(code_or_name, language_codes[i]) || !strcasecmp(code_or_name, language_names[i])) {
            return language_codes[i];
        }
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (!strcasecmp(code_or_name, aliases[i][0])) return aliases[i][1];
    }
    return NULL;
}

const char *st_tokenizer_language_code(const st_tokenizer *t, int id) {
    int first = t->n_text + 2;
    if (id < first || id - first >= t->n_languages || id - first >= ST_N_KNOWN_LANGUAGES) return NULL;
    return language_codes[id - first];
}

const char *st_language_name(const char *code) {
    for (int i = 0; code && i < ST_N_KNOWN_LANGUAGES; i++) {
        if (strcmp(language_codes[i], code) == 0) return language_names[i];
    }
    return NULL;
}

const int32_t *st_tokenizer_non_speech_tokens(const st_tokenizer *t, size_t *n) {
    *n = t->n_non_speech;
    return t->non_speech;
}

const uint8_t *st_tokenizer_token_bytes(const st_tokenizer *t, int id, size_t *length) {
    if (id < 0 || id >= t->n_text) return NULL;
    *length = t->offsets[id + 1] - t->offsets[id];
    return t->bytes + t->offsets[id];
}

int st_tokenizer_special_name(const st_tokenizer *t, int id, char *name, size_t capacity) {
    if (id < t->n_text || id >= t->n_vocab) return -1;
    int timestamp_begin = st_tokenizer_timestamp_begin(t);
    if (id >= timestamp_begin) {
        /* openai-whisper names them f"<|{i * 0.02:.2f}|>"; in centiseconds that is exact. */
        int centiseconds = (id - timestamp_begin) * 2;
        return snprintf(name, capacity, "<|%d.%02d|>", centiseconds / 100, centiseconds % 100);
    }
    const char *code = st_tokenizer_language_code(t, id);
    if (code != NULL) return snprintf(name, capacity, "<|%s|>", code);
    static const char *const control[] = {"<|translate|>",   "<|transcribe|>", "<|startoflm|>",
                                          "<|startofprev|>", "<|nospeech|>",   "<|notimestamps|>"};
    const char *fixed = NULL;
    if (id == t->n_text) {
        fixed = "<|endoftext|>";
    } else if (id == t->n_text + 1) {
        fixed = "<|startoftranscript|>";
    } else if (id >= st_tokenizer_translate(t)) {
        fixed = control[id - st_tokenizer_translate(t)];
    } else {
        /* a language beyond openai-whisper's list: a model newer than this table */
        return snprintf(name, capacity, "<|language%d|>", id - (t->n_text + 2));
    }
    return snprintf(name, capacity, "%s", fixed);
}

/* Derives the special-token layout from n_vocab (see tokenizer.h). */
static steno_status layout_from_n_vocab(st_tokenizer *t, int n_vocab, st_error *err) {
    if (n_vocab < ST_ENGLISH_N_VOCAB || n_vocab > ST_MAX_N_VOCAB) {
        return st_error_set(err, STENO_ERR_UNSUPPORTED,
                            "tokenizer: n_vocab %d is not a Whisper vocabulary (expected at least %d)", n_vocab,
                            ST_ENGLISH_N_VOCAB);
    }
    t->n_vocab = n_vocab;
    t->multilingual = n_vocab > ST_ENGLISH_N_VOCAB;
    /* eot, sot, six task/control tokens and the timestamps follow the text tokens; what is left
     * is languages. GPT-2 has 50256 text tokens, the multilingual vocabulary one more. */
    t->n_languages = n_vocab - (ST_ENGLISH_N_VOCAB - 99) - (t->multilingual ? 1 : 0);
    t->n_text = n_vocab - ST_N_TIMESTAMPS - 8 - t->n_languages;
    return STENO_OK;
}

/* ---- bytes → id ------------------------------------------------------------------------ */

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* The id (= rank) of the token with exactly these bytes, or −1. */
static int32_t token_lookup(const st_tokenizer *t, const uint8_t *p, size_t n) {
    size_t slot = (size_t)hash_bytes(p, n) & t->slot_mask;
    for (;;) {
        int32_t id = t->slots[slot];
        if (id < 0) return -1;
        uint32_t begin = t->offsets[id];
        if (t->offsets[id + 1] - begin == n && memcmp(t->bytes + begin, p, n) == 0) return id;
        slot = (slot + 1) & t->slot_mask;
    }
}

static void token_insert(st_tokenizer *t, int32_t id) {
    const uint8_t *p = t->bytes + t->offsets[id];
    size_t n = t->offsets[id + 1] - t->offsets[id];
    /* A byte string listed twice keeps its first (lowest) id, the rank BPE must use. */
    if (n == 0 || token_lookup(t, p, n) >= 0) return;
    size_t slot = (size_t)hash_bytes(p, n) & t->slot_mask;
    while (t->slots[slot] >= 0)
        slot = (slot + 1) & t->slot_mask;
    t->slots[slot] = id;
}

/* ---- UTF-8 and character classes ------------------------------------------------------- */

/* Allowed range of the second byte after a lead byte, and the sequence length, following
 * Unicode's table of well-formed UTF-8 (so overlongs and surrogates are rejected). Returns 0
 * for a byte that cannot start a sequence. */
static int utf8_lead(uint8_t b, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) *lo = 0xA0;
        if (b == 0xED) *hi = 0x9F;
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) *lo = 0x90;
        if (b == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Reads one character at s (n > 0 bytes available). Returns its length; *cp is
 * ST_INVALID_CODE_POINT (and the length 1) when the bytes are not well-formed UTF-8. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t lo, hi;
    int length = utf8_lead(s[0], &lo, &hi);
    *cp = ST_INVALID_CODE_POINT;
    if (length == 0 || (size_t)length > n) return 1;
    if (length == 1) {
        *cp = s[0];
        return 1;
    }
    uint32_t value = s[0] & (0x7F >> length);
    for (int i = 1; i < length; i++) {
        uint8_t b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 1;
        value = (value << 6) | (b & 0x3F);
    }
    *cp = value;
    return (size_t)length;
}

static st_unicode_class char_class(uint32_t cp) {
    size_t lo = 0, hi = st_unicode_n_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < st_unicode_ranges[mid].first) {
            hi = mid;
        } else if (cp > st_unicode_ranges[mid].last) {
            lo = mid + 1;
        } else {
            return (st_unicode_class)st_unicode_ranges[mid].cls;
        }
    }
    return ST_UNICODE_OTHER; /* also for ST_INVALID_CODE_POINT, beyond every range */
}

/* Class of the character at s[pos] (pos < n); *length receives its byte length. */
static st_unicode_class class_at(const uint8_t *s, size_t n, size_t pos, size_t *length) {
    uint32_t cp;
    *length = utf8_next(s + pos, n - pos, &cp);
    return char_class(cp);
}

/* End of the run of characters of class cls starting at pos. */
static size_t run_end(const uint8_t *s, size_t n, size_t pos, st_unicode_class cls) {
    while (pos < n) {
        size_t length;
        if (class_at(s, n, pos, &length) != cls) break;
        pos += length;
    }
    return pos;
}

/* End of the piece starting at pos (< n) under GPT-2's pattern, whose alternatives are tried in
 * order and the first that matches wins:
 *   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+ */
static size_t next_piece(const uint8_t *s, size_t n, size_t pos) {
    if (s[pos] == '\'' && pos + 1 < n) {
        uint8_t c = s[pos + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return pos + 2;
        if (pos + 2 < n) {
            uint8_t d = s[pos + 2];
            if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l')) return pos + 3;
        }
    }
    size_t length;
    st_unicode_class cls = class_at(s, n, pos, &length);
    /* The optional leading space of the three run alternatives is U+0020 only; a letter,
     * number or "other" run after it joins it. */
    if (s[pos] == ' ' && pos + 1 < n) {
        size_t next_length;
        st_unicode_class next = class_at(s, n, pos + 1, &next_length);
        if (next != ST_UNICODE_SPACE) return run_end(s, n, pos + 1 + next_length, next);
    }
    if (cls != ST_UNICODE_SPACE) return run_end(s, n, pos + length, cls);

    /* White space: \s+(?!\S) takes the whole run at the end of the text, and otherwise all of
     * it but its last character, which then starts the next piece (so " word" keeps its
     * space). A single space before a non-space falls to the last alternative, \s+. */
    size_t last_start = pos, end = pos;
    while (end < n) {
        size_t char_length;
        if (class_at(s, n, end, &char_length) != ST_UNICODE_SPACE) break;
        last_start = end;
        end += char_length;
    }
    if (end == n || last_start == pos) return end;
    return last_start;
}

/* ---- byte-pair merging ----------------------------------------------------------------- */

typedef struct merge_candidate {
    int32_t rank; /* id of the merged bytes */
    int32_t pos;  /* byte offset of the left part: equal ranks merge leftmost first */
} merge_candidate;

/* Scratch for one encode call, grown to the longest piece that needs merging. */
typedef struct encode_state {
    const st_tokenizer *tokenizer;
    int32_t *ids;
    size_t capacity, count;
    size_t scratch_size; /* pieces up to this many bytes fit */
    int32_t *end;        /* a part starting at byte i covers [i, end[i]) */
    int32_t *prev;       /* start of the previous part, −1 for the first */
    int32_t *pair_rank;  /* rank of merging the part at i with the next one, −1 if none */
    merge_candidate *heap;
    size_t heap_size;
} encode_state;

static void emit(encode_state *st, int32_t id) {
    if (st->count < st->capacity) st->ids[st->count] = id;
    st->count++;
}

static bool candidate_less(merge_candidate a, merge_candidate b) {
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(encode_state *st, merge_candidate c) {
    size_t i = st->heap_size++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!candidate_less(c, st->heap[parent])) break;
        st->heap[i] = st->heap[parent];
        i = parent;
    }
    st->heap[i] = c;
}

static merge_candidate heap_pop(encode_state *st) {
    merge_candidate top = st->heap[0];
    merge_candidate last = st->heap[--st->heap_size];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= st->heap_size) break;
        if (child + 1 < st->heap_size && candidate_less(st->heap[child + 1], st->heap[child])) child++;
        if (!candidate_less(st->heap[child], last)) break;
        st->heap[i] = st->heap[child];
        i = child;
    }
    if (st->heap_size > 0) st->heap[i] = last;
    return top;
}

static steno_status ensure_scratch(encode_state *st, size_t n, st_error *err) {
    if (n <= st->scratch_size) return STENO_OK;
    size_t size = st->scratch_size ? st->scratch_size : 64;
    while (size < n)
        size *= 2;
    int32_t *end = realloc(st->end, size * sizeof *end);
    if (end) st->end = end;
    int32_t *prev = realloc(st->prev, size * sizeof *prev);
    if (prev) st->prev = prev;
    int32_t *pair_rank = realloc(st->pair_rank, size * sizeof *pair_rank);
    if (pair_rank) st->pair_rank = pair_rank;
    /* Each merge pushes at most two candidates onto the n − 1 initial ones. */
    merge_candidate *heap = realloc(st->heap, 3 * size * sizeof *heap);
    if (heap) st->heap = heap;
    if (!end || !prev || !pair_rank || !heap) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "tokenizer: no memory to encode a %zu-byte piece", n);
    }
    st->scratch_size = size;
    return STENO_OK;
}

/* Rank of the part at i merged with the part after it, or −1 when there is none. */
static int32_t rank_with_next(const encode_state *st, const uint8_t *p, int32_t n, int32_t i) {
    int32_t next = st->end[i];
    if (next >= n) return -1;
    return token_lookup(st->tokenizer, p + i, (size_t)(st->end[next] - i));
}

/* tiktoken's merge: repeatedly merge the adjacent pair whose concatenation has the lowest rank
 * (the leftmost on ties) until no adjacent pair is a token. A heap keeps this O(n log n), so a
 * hostile 100 kB run of letters costs milliseconds rather than minutes. */
static steno_status encode_piece(encode_state *st, const uint8_t *p, size_t length, st_error *err) {
    int32_t whole = token_lookup(st->tokenizer, p, length);
    if (whole >= 0) {
        emit(st, whole);
        return STENO_OK;
    }
    steno_status status = ensure_scratch(st, length, err);
    if (status != STENO_OK) return status;
    int32_t n = (int32_t)length;
    for (int32_t i = 0; i < n; i++) {
        st->end[i] = i + 1;
        st->prev[i] = i - 1;
    }
    st->heap_size = 0;
    for (int32_t i = 0; i < n; i++) {
        st->pair_rank[i] = rank_with_next(st, p, n, i);
        if (st->pair_rank[i] >= 0) heap_push(st, (merge_candidate){st->pair_rank[i], i});
    }
    while (st->heap_size > 0) {
        merge_candidate c = heap_pop(st);
        /* Candidates go stale when a neighbour merges; the part's current pair rank tells. */
        if (st->end[c.pos] < 0 || st->pair_rank[c.pos] != c.rank) continue;
        int32_t i = c.pos, absorbed = st->end[i];
        st->end[i] = st->end[absorbed];
        st->end[absorbed] = -1; /* no longer the start of a part */
        if (st->end[i] < n) st->prev[st->end[i]] = i;
        st->pair_rank[i] = rank_with_next(st, p, n, i);
        if (st->pair_rank[i] >= 0) heap_push(st, (merge_candidate){st->pair_rank[i], i});
        int32_t before = st->prev[i];
        if (before >= 0) {
            st->pair_rank[before] = rank_with_next(st, p, n, before);
            if (st->pair_rank[before] >= 0) heap_push(st, (merge_candidate){st->pair_rank[before], before});
        }
    }
    for (int32_t i = 0; i < n; i = st->end[i]) {
        /* Every part is a token: single bytes all are (checked at construction), and merges
         * only form tokens. */
        emit(st, token_lookup(st->tokenizer, p + i, (size_t)(st->end[i] - i)));
    }
    return STENO_OK;
}

steno_status st_tokenizer_encode(const st_tokenizer *t, const char *text, size_t length, int32_t *ids, size_t capacity,
                                 size_t *n_ids, st_error *err) {
    *n_ids = 0;
    if (length > INT32_MAX / 4) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "tokenizer: %zu bytes of text is too long to encode",
                            length);
    }
    const uint8_t *s = (const uint8_t *)text;
    encode_state st = {.tokenizer = t, .ids = ids, .capacity = ids ? capacity : 0};
    steno_status status = STENO_OK;
    for (size_t pos = 0; pos < length && status == STENO_OK;) {
        size_t end = next_piece(s, length, pos);
        status = encode_piece(&st, s + pos, end - pos, err);
        pos = end;
    }
    free(st.end);
    free(st.prev);
    free(st.pair_rank);
    free(st.heap);
    if (status == STENO_OK) *n_ids = st.count;
    return status;
}

/* ---- decoding -------------------------------------------------------------------------- */

/* Output with snprintf semantics: counts every byte, stores what fits before the NUL. */
typedef struct text_writer {
    char *buffer;
    size_t capacity, length;
} text_writer;

static void write_bytes(text_writer *w, const void *bytes, size_t n) {
    if (w->capacity > 0 && w->length < w->capacity - 1) {
        size_t room = w->capacity - 1 - w->length;
        memcpy(w->buffer + w->length, bytes, n < room ? n : room);
    }
    w->length += n;
}

/* Repairs UTF-8 as bytes stream through: a character split across tokens is held until it
 * completes; a sequence that cannot complete becomes one U+FFFD per maximal invalid subpart. */
typedef struct utf8_repair {
    text_writer *out;
    uint8_t pending[4];
    int n_pending, need;
    uint8_t lo, hi; /* allowed range of the next continuation byte */
} utf8_repair;

static const uint8_t replacement_character[3] = {0xEF, 0xBF, 0xBD};

static void repair_start(utf8_repair *r, uint8_t b) {
    int length = utf8_lead(b, &r->lo, &r->hi);
    if (length == 1) {
        write_bytes(r->out, &b, 1);
    } else if (length == 0) {
        write_bytes(r->out, replacement_character, 3);
    } else {
        r->pending[0] = b;
        r->n_pending = 1;
        r->need = length;
    }
}

static void repair_feed(utf8_repair *r, const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t b = bytes[i];
        if (r->n_pending == 0) {
            repair_start(r, b);
        } else if (b >= r->lo && b <= r->hi) {
            r->pending[r->n_pending++] = b;
            r->lo = 0x80;
            r->hi = 0xBF;
            if (r->n_pending == r->need) {
                write_bytes(r->out, r->pending, (size_t)r->n_pending);
                r->n_pending = 0;
            }
        } else {
            write_bytes(r->out, replacement_character, 3);
            r->n_pending = 0;
            repair_start(r, b);
        }
    }
}

steno_status st_tokenizer_decode(const st_tokenizer *t, const int32_t *ids, size_t n_ids, unsigned flags, char *text,
                                 size_t capacity, size_t *length, st_error *err) {
    text_writer out = {.buffer = text, .capacity = text ? capacity : 0};
    utf8_repair repair = {.out = &out};
    int timestamp_begin = st_tokenizer_timestamp_begin(t);
    steno_status status = STENO_OK;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) {
            status = st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                                  "tokenizer: token %zu of %zu is %d, outside the vocabulary [0, %d)", i, n_ids,
                                  (int)id, t->n_vocab);
            break;
        }
        if (id < t->n_text) {
            repair_feed(&repair, t->bytes + t->offsets[id], t->offsets[id + 1] - t->offsets[id]);
            continue;
        }
        unsigned wanted = id >= timestamp_begin ? ST_DECODE_TIMESTAMPS : ST_DECODE_SPECIALS;
        if (!(flags & wanted)) continue;
        char name[64];
        int name_length = st_tokenizer_special_name(t, id, name, sizeof name);
        repair_feed(&repair, (const uint8_t *)name, (size_t)name_length);
    }
    if (repair.n_pending > 0) {
        if (flags & ST_DECODE_REPLACE_INCOMPLETE) {
            write_bytes(&out, replacement_character, 3);
        } else {
            write_bytes(&out, repair.pending, (size_t)repair.n_pending);
        }
    }
    if (out.capacity > 0) out.buffer[out.length < out.capacity ? out.length : out.capacity - 1] = '\0';
    *length = status == STENO_OK ? out.length : 0;
    return status;
}

/* ---- construction ---------------------------------------------------------------------- */

void st_tokenizer_free(st_tokenizer *t) {
    if (t == NULL) return;
    free(t->offsets);
    free(t->bytes);
    free(t->slots);
    free(t->non_speech);
    free(t);
}

static int compare_ids(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* openai-whisper's Tokenizer.non_speech_tokens, computed the same way from the same symbols:
 * a symbol's token is suppressed when the symbol, alone or after a space, encodes to a single
 * token; for the musical signs U+2640–U+267F the first token suffices even when they take
 * several, since their UTF-8 forms share the first two bytes. " -" and " '" are suppressed
 * only at the start of a word, so hyphens and apostrophes inside words stay possible. */
static steno_status compute_non_speech(st_tokenizer *t, st_error *err) {
    static const char *const symbols[] = {
        "\"",  "#",  "(",  ")",  "*",   "+",  "/",  ":",   ";",   "<",  "=",  ">",  "@",  "[",   "\\",  "]",
        "^",   "_",  "`",  "{",  "|",   "}",  "~",  "「",  "」",  "『", "』", "<<", ">>", "<<<", ">>>", "--",
        "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[", "]]", "{{", "}}", "♪♪",  "♪♪♪",
    };
    static const char *const musical[] = {"♩", "♪", "♫", "♬", "♭", "♮", "♯"};
    const size_t n_symbols = sizeof symbols / sizeof symbols[0], n_musical = sizeof musical / sizeof musical[0];
    size_t max = 2 + 2 * (n_symbols + n_musical), n = 0;
    int32_t *result = malloc(max * sizeof *result);
    if (result == NULL) return st_error_set(err, STENO_ERR_NO_MEMORY, "tokenizer: no memory for the suppress list");

    steno_status status = STENO_OK;
    int32_t ids[16];
    size_t n_ids;
    const char *starts[] = {" -", " '"};
    for (size_t i = 0; i < 2 && status == STENO_OK; i++) {
        status = st_tokenizer_encode(t, starts[i], strlen(starts[i]), ids, 16, &n_ids, err);
        if (status == STENO_OK && n_ids > 0) result[n++] = ids[0];
    }
    for (size_t i = 0; i < n_symbols + n_musical && status == STENO_OK; i++) {
        bool is_musical = i >= n_symbols;
        const char *symbol = is_musical ? musical[i - n_symbols] : symbols[i];
        char spaced[16];
        snprintf(spaced, sizeof spaced, " %s", symbol);
        const char *variants[] = {symbol, spaced};
        for (size_t v = 0; v < 2 && status == STENO_OK; v++) {
            status = st_tokenizer_encode(t, variants[v], strlen(variants[v]), ids, 16, &n_ids, err);
            if (status == STENO_OK && (n_ids == 1 || (is_musical && n_ids > 0))) result[n++] = ids[0];
        }
    }
    if (status != STENO_OK) {
        free(result);
        return status;
    }
    qsort(result, n, sizeof *result, compare_ids);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++) {
        if (unique == 0 || result[unique - 1] != result[i]) result[unique++] = result[i];
    }
    t->non_speech = result;
    t->n_non_speech = unique;
    return STENO_OK;
}

steno_status st_tokenizer_create(const st_vocab_entry *entries, size_t n_entries, int n_vocab, st_tokenizer **out,
                                 st_error *err) {
    *out = NULL;
    st_tokenizer *t = calloc(1, sizeof *t);
    if (t == NULL) return st_error_set(err, STENO_ERR_NO_MEMORY, "tokenizer: out of memory");
    steno_status status = layout_from_n_vocab(t, n_vocab, err);
    if (status != STENO_OK) goto fail;
    if (n_entries < (size_t)t->n_text) {
        status = st_error_set(err, STENO_ERR_FORMAT,
                              "tokenizer: the vocabulary has %zu tokens, but n_vocab %d needs %d text tokens",
                              n_entries, n_vocab, t->n_text);
        goto fail;
    }
    size_t total = 0;
    for (int id = 0; id < t->n_text; id++) {
        if (entries[id].length > 0 && entries[id].bytes == NULL) {
            status = st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "tokenizer: token %d has no bytes", id);
            goto fail;
        }
        total += entries[id].length;
        if (total >= UINT32_MAX) {
            status = st_error_set(err, STENO_ERR_FORMAT, "tokenizer: the text tokens exceed 4 GiB at token %d", id);
            goto fail;
        }
    }
    size_t n_slots = 1;
    while (n_slots < 2 * (size_t)t->n_text)
        n_slots *= 2; /* load factor at most 1/2 */
    t->offsets = malloc(((size_t)t->n_text + 1) * sizeof *t->offsets);
    t->bytes = malloc(total ? total : 1);
    t->slots = malloc(n_slots * sizeof *t->slots);
    if (!t->offsets || !t->bytes || !t->slots) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "tokenizer: no memory for %d tokens", t->n_text);
        goto fail;
    }
    t->slot_mask = n_slots - 1;
    memset(t->slots, 0xFF, n_slots * sizeof *t->slots);
    uint32_t offset = 0;
    for (int id = 0; id < t->n_text; id++) {
        t->offsets[id] = offset;
        if (entries[id].length > 0) memcpy(t->bytes + offset, entries[id].bytes, entries[id].length);
        offset += entries[id].length;
    }
    t->offsets[t->n_text] = offset;
    for (int id = 0; id < t->n_text; id++)
        token_insert(t, id);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        if (token_lookup(t, &byte, 1) < 0) {
            status = st_error_set(err, STENO_ERR_FORMAT,
                                  "tokenizer: the vocabulary has no token for byte 0x%02X, so some text could not be "
                                  "encoded",
                                  b);
            goto fail;
        }
    }
    t->space = token_lookup(t, (const uint8_t *)" ", 1);
    status = compute_non_speech(t, err);
    if (status != STENO_OK) goto fail;
    *out = t;
    return STENO_OK;
fail:
    st_tokenizer_free(t);
    return status;
}

/* ---- JSON vocabularies ----------------------------------------------------------------- */

/* GPT-2 spells each byte as one printable character: '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for
 * themselves; the other 68 bytes, in increasing order, become U+0100, U+0101, … */
static bool gpt2_printable(uint32_t c) {
    return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
}

typedef struct gpt2_alphabet {
    uint8_t shifted[68]; /* byte spelt as U+0100 + i */
} gpt2_alphabet;

static void gpt2_alphabet_init(gpt2_alphabet *a) {
    int n = 0;
    for (uint32_t b = 0; b < 256; b++) {
        if (!gpt2_printable(b)) a->shifted[n++] = (uint8_t)b;
    }
}

/* Converts a token string to its bytes (at most strlen bytes, written to out). */
static steno_status gpt2_string_to_bytes(const gpt2_alphabet *a, const char *s, const char *name, long id, uint8_t *out,
                                         uint32_t *length, st_error *err) {
    size_t n = strlen(s), pos = 0;
    uint32_t written = 0;
    while (pos < n) {
        uint32_t cp;
        pos += utf8_next((const uint8_t *)s + pos, n - pos, &cp);
        if (gpt2_printable(cp)) {
            out[written++] = (uint8_t)cp;
        } else if (cp >= 0x100 && cp < 0x100 + sizeof a->shifted) {
            out[written++] = a->shifted[cp - 0x100];
        } else {
            return st_error_set(err, STENO_ERR_FORMAT,
                                "%s: token %ld (\"%.40s\") has a character outside GPT-2's byte alphabet at byte %zu",
                                name, id, s, pos);
        }
    }
    *length = written;
    return STENO_OK;
}

/* Fills entries[0, n_text) from a {"token": id} object or a ["token", …] array; ids at or past
 * n_text (specials) are skipped. Token bytes go into one arena, *arena, owned by the caller. */
static steno_status entries_from_json(const json_t *vocab, const char *name, int n_text, st_vocab_entry *entries,
                                      uint8_t **arena, st_error *err) {
    size_t arena_size = 1;
    const char *key;
    json_t *value;
    size_t index;
    if (json_is_object(vocab)) {
        json_object_foreach((json_t *)vocab, key, value) arena_size += strlen(key);
    } else {
        json_array_foreach(vocab, index, value) {
            if (json_is_string(value)) arena_size += json_string_length(value);
        }
    }
    uint8_t *bytes = malloc(arena_size);
    if (bytes == NULL) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: no memory for the vocabulary", name);
    *arena = bytes;
    gpt2_alphabet alphabet;
    gpt2_alphabet_init(&alphabet);
    bool *seen = calloc((size_t)n_text, sizeof *seen);
    if (seen == NULL) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: no memory for the vocabulary", name);

    steno_status status = STENO_OK;
    size_t used = 0;
    if (json_is_object(vocab)) {
        json_object_foreach((json_t *)vocab, key, value) {
            if (!json_is_integer(value) || json_integer_value(value) < 0) {
                status = st_error_set(err, STENO_ERR_FORMAT, "%s: token \"%.40s\" has no non-negative integer id", name,
                                      key);
                break;
            }
            json_int_t id = json_integer_value(value);
            if (id >= n_text) continue;
            if (seen[id]) {
                status = st_error_set(err, STENO_ERR_FORMAT, "%s: id %ld is given to two tokens", name, (long)id);
                break;
            }
            seen[id] = true;
            entries[id].bytes = bytes + used;
            status = gpt2_string_to_bytes(&alphabet, key, name, (long)id, bytes + used, &entries[id].length, err);
            if (status != STENO_OK) break;
            used += entries[id].length;
        }
    } else {
        json_array_foreach(vocab, index, value) {
            if (index >= (size_t)n_text) break;
            if (!json_is_string(value)) {
                status = st_error_set(err, STENO_ERR_FORMAT, "%s: vocabulary entry %zu is not a string", name, index);
                break;
            }
            seen[index] = true;
            entries[index].bytes = bytes + used;
            status = gpt2_string_to_bytes(&alphabet, json_string_value(value), name, (long)index, bytes + used,
                                          &entries[index].length, err);
            if (status != STENO_OK) break;
            used += entries[index].length;
        }
    }
    for (int id = 0; id < n_text && status == STENO_OK; id++) {
        if (!seen[id]) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: no token has id %d (expected ids 0 to %d)", name, id,
                                  n_text - 1);
        }
    }
    free(seen);
    return status;
}

static steno_status create_from_json_value(const json_t *root, const char *name, int n_vocab, st_tokenizer **out,
                                           st_error *err) {
    st_tokenizer layout = {0};
    steno_status status = layout_from_n_vocab(&layout, n_vocab, err);
    if (status != STENO_OK) return status;
    const json_t *vocab = root;
    /* A tokenizer.json's "model" is an object; in an English vocab.json "model" is a token
     * (GPT-2's id 19849), so only an object marks a tokenizer.json. */
    const json_t *model = json_is_object(root) ? json_object_get(root, "model") : NULL;
    if (json_is_object(model)) vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab) && !json_is_array(vocab)) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s: expected a vocabulary: a {\"token\": id} object, a tokenizer.json with "
                            "model.vocab, or an array of token strings",
                            name);
    }
    st_vocab_entry *entries = calloc((size_t)layout.n_text, sizeof *entries);
    if (entries == NULL) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: no memory for the vocabulary", name);
    uint8_t *arena = NULL;
    status = entries_from_json(vocab, name, layout.n_text, entries, &arena, err);
    if (status == STENO_OK) status = st_tokenizer_create(entries, (size_t)layout.n_text, n_vocab, out, err);
    free(arena);
    free(entries);
    return status;
}

steno_status st_tokenizer_create_from_json(const char *json, size_t length, const char *name, int n_vocab,
                                           st_tokenizer **out, st_error *err) {
    *out = NULL;
    json_error_t json_error;
    json_t *root = json_loadb(json, length, 0, &json_error);
    if (root == NULL) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: invalid JSON at line %d, column %d (byte %d): %s", name,
                            json_error.line, json_error.column, json_error.position, json_error.text);
    }
    steno_status status = create_from_json_value(root, name, n_vocab, out, err);
    json_decref(root);
    return status;
}

steno_status st_tokenizer_load_json(const char *path, int n_vocab, st_tokenizer **out, st_error *err) {
    *out = NULL;
    st_mapped_file file;
    steno_status status = st_mapped_file_open(&file, path, err);
    if (status != STENO_OK) return status;
    status = st_tokenizer_create_from_json((const char *)file.data, file.size, path, n_vocab, out, err);
    st_mapped_file_close(&file);
    return status;
}

/* ---- line vocabularies ------------------------------------------------------------------ */

steno_status st_tokenizer_create_from_lines(const char *text, size_t length, const char *name, int n_vocab,
                                            st_tokenizer **out, st_error *err) {
    *out = NULL;
    st_tokenizer layout = {0};
    steno_status status = layout_from_n_vocab(&layout, n_vocab, err);
    if (status != STENO_OK) return status;
    char *copy = malloc(length + 1); /* lines become NUL-terminated strings in place */
    uint8_t *arena = malloc(length + 1);
    st_vocab_entry *entries = calloc((size_t)layout.n_text, sizeof *entries);
    if (copy == NULL || arena == NULL || entries == NULL) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: no memory for the vocabulary", name);
        goto done;
    }
    memcpy(copy, text, length);
    copy[length] = '\0';
    gpt2_alphabet alphabet;
    gpt2_alphabet_init(&alphabet);
    size_t pos = 0, used = 0;
    int id = 0;
    /* Lines past the text tokens (specials, timestamps) are not needed: n_vocab fixes them. */
    while (id < layout.n_text && pos < length) {
        char *line = copy + pos;
        char *end = memchr(line, '\n', length - pos);
        size_t line_length = end ? (size_t)(end - line) : length - pos;
        pos += line_length + (end ? 1 : 0);
        line[line_length] = '\0';
        /* CRLF files: '\r' is not in GPT-2's alphabet, so it can only be a line ending */
        if (line_length > 0 && line[line_length - 1] == '\r') line[--line_length] = '\0';
        if (line_length == 0 || memchr(line, '\0', line_length) != NULL) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s: line %d (token %d) is empty or holds a NUL byte", name,
                                  id + 1, id);
            goto done;
        }
        entries[id].bytes = arena + used;
        status = gpt2_string_to_bytes(&alphabet, line, name, id, arena + used, &entries[id].length, err);
        if (status != STENO_OK) goto done;
        used += entries[id].length;
        id++;
    }
    if (id < layout.n_text) {
        status = st_error_set(err, STENO_ERR_FORMAT, "%s: %d token lines, expected at least the %d text tokens", name,
                              id, layout.n_text);
        goto done;
    }
    status = st_tokenizer_create(entries, (size_t)layout.n_text, n_vocab, out, err);
done:
    free(entries);
    free(arena);
    free(copy);
    return status;
}

steno_status st_tokenizer_load_file(const char *path, int n_vocab, st_tokenizer **out, st_error *err) {
    *out = NULL;
    st_mapped_file file;
    steno_status status = st_mapped_file_open(&file, path, err);
    if (status != STENO_OK) return status;
    const char *text = (const char *)file.data;
    size_t start = 0;
    while (start < file.size &&
           (text[start] == ' ' || text[start] == '\t' || text[start] == '\n' || text[start] == '\r')) {
        start++;
    }
    /* GPT-2's first token is "!", so a line vocabulary never opens like JSON */
    if (start == file.size || text[start] == '[' || text[start] == '{') {
        status = st_tokenizer_create_from_json(text, file.size, path, n_vocab, out, err);
    } else {
        status = st_tokenizer_create_from_lines(text, file.size, path, n_vocab, out, err);
    }
    st_mapped_file_close(&file);
    return status;
}
