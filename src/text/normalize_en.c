/*
 * normalize_en.c — the English WER normaliser (see normalize_en.h).
 *
 * openai-whisper states its rules as a sequence of Python regular-expression substitutions over
 * a str, plus a word-by-word state machine for numbers. We keep that shape: the text is decoded
 * once into code points and each rule is one pass from one code point buffer into another,
 * scanning left to right and consuming what it matched, as re.sub does. Word boundaries (\b),
 * whitespace (\s) and digits use Python's Unicode meanings from unicode.h. Each pass is named
 * after the rule it reproduces.
 */
#include "text/normalize_en.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/spelling.h"
#include "text/unicode.h"

/* ---- code point buffers ----------------------------------------------------------------- */

typedef struct cpbuf {
    uint32_t *v;
    size_t n, cap;
    bool failed;
} cpbuf;

static void cp_push(cpbuf *b, uint32_t cp) {
    if (b->failed) return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) {
            b->failed = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = cp;
}

static void cp_push_range(cpbuf *b, const uint32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) cp_push(b, v[i]);
}

static void cp_push_ascii(cpbuf *b, const char *s) {
    for (; *s; s++) cp_push(b, (unsigned char)*s);
}

static void cp_free(cpbuf *b) {
    free(b->v);
    *b = (cpbuf){0};
}

static bool is_word(uint32_t cp) { return st_unicode_is_word(cp); }
static bool is_space(uint32_t cp) { return st_unicode_is_space(cp); }
static bool is_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }
static bool is_lower_ascii(uint32_t cp) { return cp >= 'a' && cp <= 'z'; }

/* \b at position p of s: a word character on exactly one side. */
static bool boundary(const cpbuf *s, size_t p) {
    bool before = p > 0 && is_word(s->v[p - 1]);
    bool after = p < s->n && is_word(s->v[p]);
    return before != after;
}

/* Whether the ASCII literal occurs in s at i. */
static bool at(const cpbuf *s, size_t i, const char *literal) {
    for (; *literal; literal++, i++)
        if (i >= s->n || s->v[i] != (unsigned char)*literal) return false;
    return true;
}

/* Index after a run of whitespace starting at i (i itself when there is none). */
static size_t skip_space(const cpbuf *s, size_t i) {
    while (i < s->n && is_space(s->v[i])) i++;
    return i;
}

#define POUND 0xA3u
#define CENT 0xA2u
#define EURO 0x20ACu

/* ---- the basic passes ------------------------------------------------------------------- */

static bool is_cased_letter(uint32_t cp) { return is_word(cp) && !(st_unicode_flags(cp) & ST_UNICODE_DECIMAL); }

/* str.lower(), with the final-sigma rule approximated by the neighbouring letters. */
static void pass_lower(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n; i++) {
        uint32_t cp = in->v[i];
        if (cp == 0x3A3) {
            bool final = i > 0 && is_cased_letter(in->v[i - 1]) && !(i + 1 < in->n && is_cased_letter(in->v[i + 1]));
            cp_push(out, final ? 0x3C2 : 0x3C3);
            continue;
        }
        uint32_t lower[ST_UNICODE_MAX_LOWER];
        size_t n = st_unicode_lower(cp, lower);
        cp_push_range(out, lower, n);
    }
}

/* `[<\[][^>\]]*[>\]]` -> "" then `\(([^)]+?)\)` -> "": bracketed and parenthesised text. */
static void pass_brackets(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n; i++) {
        if (in->v[i] == '<' || in->v[i] == '[') {
            size_t j = i + 1;
            while (j < in->n && in->v[j] != '>' && in->v[j] != ']') j++;
            if (j < in->n) {
                i = j;
                continue;
            }
        }
        cp_push(out, in->v[i]);
    }
}

static void pass_parentheses(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n; i++) {
        if (in->v[i] == '(') {
            size_t j = i + 1;
            while (j < in->n && in->v[j] != ')') j++;
            if (j < in->n && j > i + 1) { /* at least one character inside */
                i = j;
                continue;
            }
        }
        cp_push(out, in->v[i]);
    }
}

/* `\b(hmm|mm|mhm|mmm|uh|um)\b` -> "": a whole word that is one of the fillers. */
static void pass_fillers(const cpbuf *in, cpbuf *out) {
    static const char *const fillers[] = {"hmm", "mm", "mhm", "mmm", "uh", "um"};
    size_t i = 0;
    while (i < in->n) {
        if (!is_word(in->v[i])) {
            cp_push(out, in->v[i++]);
            continue;
        }
        size_t end = i;
        while (end < in->n && is_word(in->v[end])) end++;
        bool filler = false;
        for (size_t f = 0; f < sizeof fillers / sizeof fillers[0] && !filler; f++)
            filler = strlen(fillers[f]) == end - i && at(in, i, fillers[f]);
        if (!filler) cp_push_range(out, in->v + i, end - i);
        i = end;
    }
}

/* `\s+'` -> "'": no space before an apostrophe. */
static void pass_space_before_apostrophe(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        size_t j = skip_space(in, i);
        if (j > i && j < in->n && in->v[j] == '\'') {
            i = j;
            continue;
        }
        cp_push(out, in->v[i++]);
    }
}

/* One literal replacement rule: `\bFROM\b` when leading_boundary, else `FROM\b`. */
typedef struct replacer {
    const char *from;
    bool leading_boundary;
    const char *to;
} replacer;

/* openai's replacers, in their order: contractions, titles, perfect tenses, then the
 * general contractions (which would otherwise eat the specific ones). */
static const replacer replacers[] = {
    {"won't", true, "will not"}, {"can't", true, "can not"}, {"let's", true, "let us"},
    {"ain't", true, "aint"}, {"y'all", true, "you all"}, {"wanna", true, "want to"},
    {"gotta", true, "got to"}, {"gonna", true, "going to"}, {"i'ma", true, "i am going to"},
    {"imma", true, "i am going to"}, {"woulda", true, "would have"}, {"coulda", true, "could have"},
    {"shoulda", true, "should have"}, {"ma'am", true, "madam"},
    {"mr", true, "mister "}, {"mrs", true, "missus "}, {"st", true, "saint "}, {"dr", true, "doctor "},
    {"prof", true, "professor "}, {"capt", true, "captain "}, {"gov", true, "governor "},
    {"ald", true, "alderman "}, {"gen", true, "general "}, {"sen", true, "senator "},
    {"rep", true, "representative "}, {"pres", true, "president "}, {"rev", true, "reverend "},
    {"hon", true, "honorable "}, {"asst", true, "assistant "}, {"assoc", true, "associate "},
    {"lt", true, "lieutenant "}, {"col", true, "colonel "}, {"jr", true, "junior "},
    {"sr", true, "senior "}, {"esq", true, "esquire "},
    {"'d been", false, " had been"}, {"'s been", false, " has been"}, {"'d gone", false, " had gone"},
    {"'s gone", false, " has gone"}, {"'d done", false, " had done"}, {"'s got", false, " has got"},
    {"n't", false, " not"}, {"'re", false, " are"}, {"'s", false, " is"}, {"'d", false, " would"},
    {"'ll", false, " will"}, {"'t", false, " not"}, {"'ve", false, " have"}, {"'m", false, " am"},
};

static void pass_replace(const replacer *r, const cpbuf *in, cpbuf *out) {
    size_t length = strlen(r->from);
    for (size_t i = 0; i < in->n;) {
        if (at(in, i, r->from) && (!r->leading_boundary || boundary(in, i)) && boundary(in, i + length)) {
            cp_push_ascii(out, r->to);
            i += length;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

/* `(\d),(\d)` -> `\1\2`: thousands separators (consuming both digits, as re.sub does). */
static void pass_digit_commas(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        if (i + 2 < in->n && (st_unicode_flags(in->v[i]) & ST_UNICODE_DECIMAL) && in->v[i + 1] == ',' &&
            (st_unicode_flags(in->v[i + 2]) & ST_UNICODE_DECIMAL)) {
            cp_push(out, in->v[i]);
            cp_push(out, in->v[i + 2]);
            i += 3;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

/* `\.([^0-9]|$)` -> ` \1`: a period not followed by a digit becomes a space. */
static void pass_periods(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        if (in->v[i] == '.' && (i + 1 == in->n || !is_digit(in->v[i + 1]))) {
            cp_push(out, ' ');
            if (i + 1 < in->n) cp_push(out, in->v[i + 1]);
            i += 2;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

/* remove_symbols_and_diacritics(keep=".%$¢€£"): NFKD; letters NFKD leaves whole get openai's
 * manual spellings; nonspacing marks go; other marks, symbols and punctuation become spaces. */
static void pass_symbols_and_diacritics(const cpbuf *in, cpbuf *out) {
    static const struct {
        uint32_t cp;
        const char *ascii;
    } extra[] = {
        {0x153, "oe"}, {0x152, "OE"}, {0xF8, "o"},  {0xD8, "O"},  {0xE6, "ae"}, {0xC6, "AE"},
        {0xDF, "ss"},  {0x1E9E, "SS"}, {0x111, "d"}, {0x110, "D"}, {0xF0, "d"},  {0xD0, "D"},
        {0xFE, "th"},  {0xDE, "th"},  {0x142, "l"}, {0x141, "L"},
    };
    for (size_t i = 0; i < in->n; i++) {
        uint32_t parts[ST_UNICODE_MAX_DECOMPOSITION];
        size_t n = st_unicode_nfkd(in->v[i], parts);
        for (size_t k = 0; k < n; k++) {
            uint32_t cp = parts[k];
            if (cp == '.' || cp == '%' || cp == '$' || cp == CENT || cp == EURO || cp == POUND) {
                cp_push(out, cp);
                continue;
            }
            const char *replacement = NULL;
            for (size_t e = 0; e < sizeof extra / sizeof extra[0] && !replacement; e++)
                if (extra[e].cp == cp) replacement = extra[e].ascii;
            uint32_t flags = st_unicode_flags(cp);
            if (replacement) cp_push_ascii(out, replacement);
            else if (flags & ST_UNICODE_MARK_NONSPACING) continue;
            else if (flags & (ST_UNICODE_MARK_OTHER | ST_UNICODE_SYMBOL | ST_UNICODE_PUNCTUATION)) cp_push(out, ' ');
            else cp_push(out, cp);
        }
    }
}

/* ---- number words ----------------------------------------------------------------------- */

typedef enum word_kind {
    W_OTHER,
    W_ZERO,
    W_ONES,           /* one .. nineteen */
    W_ONES_SUFFIXED,  /* ones, sixes, first, fifth, nineteenth ... */
    W_TENS,           /* twenty .. ninety */
    W_TENS_SUFFIXED,  /* twenties, twentieth ... */
    W_MULTIPLIER,     /* hundred .. decillion */
    W_MULTIPLIER_SUFFIXED,
    W_PRECEDING,      /* minus, negative, plus, positive: a sign before a number */
    W_FOLLOWING,      /* pound(s), euro(s), dollar(s), cent(s): a currency after a number */
    W_SUFFIXER,       /* per (cent), percent */
    W_SPECIAL,        /* and, double, triple, point */
} word_kind;

typedef struct word_info {
    word_kind kind;
    int value;          /* ones/tens value, or the multiplier's power of ten */
    const char *suffix; /* "s", "st", "nd", "rd", "th" for the suffixed kinds */
    uint32_t symbol;    /* the sign or currency symbol */
} word_info;

static const char *const ones_names[] = {"one",     "two",      "three",    "four",      "five",
                                         "six",     "seven",    "eight",    "nine",      "ten",
                                         "eleven",  "twelve",   "thirteen", "fourteen",  "fifteen",
                                         "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const tens_names[] = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
static const struct {
    const char *name;
    int power;
} multipliers[] = {{"hundred", 2},       {"thousand", 3},    {"million", 6},     {"billion", 9},
                   {"trillion", 12},     {"quadrillion", 15}, {"quintillion", 18}, {"sextillion", 21},
                   {"septillion", 24},   {"octillion", 27},  {"nonillion", 30},  {"decillion", 33}};

/* Whether word == stem + ending, for an ASCII word. */
static bool is_stem_plus(const char *word, const char *stem, const char *ending) {
    size_t n = strlen(stem);
    return strncmp(word, stem, n) == 0 && strcmp(word + n, ending) == 0;
}

/* Whether word is a tens name with its "y" replaced by ending (twenties, twentieth). */
static bool is_tens_form(const char *word, const char *tens, const char *ending) {
    size_t n = strlen(tens) - 1;
    return strncmp(word, tens, n) == 0 && strcmp(word + n, ending) == 0;
}

static word_info classify_ascii(const char *w) {
    static const struct {
        const char *name;
        int value;
        const char *suffix;
    } irregular_ordinals[] = {{"zeroth", 0, "th"}, {"first", 1, "st"}, {"second", 2, "nd"},
                              {"third", 3, "rd"},  {"fifth", 5, "th"}, {"twelfth", 12, "th"}};
    if (!strcmp(w, "o") || !strcmp(w, "oh") || !strcmp(w, "zero")) return (word_info){W_ZERO, 0, NULL, 0};
    for (int i = 0; i < 19; i++) {
        const char *name = ones_names[i];
        int value = i + 1;
        if (!strcmp(w, name)) return (word_info){W_ONES, value, NULL, 0};
        if (value == 6 ? !strcmp(w, "sixes") : is_stem_plus(w, name, "s"))
            return (word_info){W_ONES_SUFFIXED, value, "s", 0};
        /* regular ordinals add "th", or just "h" after a final t: "eighth", but also "nineth" */
        if (value > 3 && value != 5 && value != 12 &&
            is_stem_plus(w, name, name[strlen(name) - 1] == 't' ? "h" : "th"))
            return (word_info){W_ONES_SUFFIXED, value, "th", 0};
    }
    for (size_t i = 0; i < sizeof irregular_ordinals / sizeof irregular_ordinals[0]; i++)
        if (!strcmp(w, irregular_ordinals[i].name))
            return (word_info){W_ONES_SUFFIXED, irregular_ordinals[i].value, irregular_ordinals[i].suffix, 0};
    for (int i = 0; i < 8; i++) {
        int value = 20 + 10 * i;
        if (!strcmp(w, tens_names[i])) return (word_info){W_TENS, value, NULL, 0};
        if (is_tens_form(w, tens_names[i], "ies")) return (word_info){W_TENS_SUFFIXED, value, "s", 0};
        if (is_tens_form(w, tens_names[i], "ieth")) return (word_info){W_TENS_SUFFIXED, value, "th", 0};
    }
    for (size_t i = 0; i < sizeof multipliers / sizeof multipliers[0]; i++) {
        if (!strcmp(w, multipliers[i].name)) return (word_info){W_MULTIPLIER, multipliers[i].power, NULL, 0};
        if (is_stem_plus(w, multipliers[i].name, "s"))
            return (word_info){W_MULTIPLIER_SUFFIXED, multipliers[i].power, "s", 0};
        if (is_stem_plus(w, multipliers[i].name, "th"))
            return (word_info){W_MULTIPLIER_SUFFIXED, multipliers[i].power, "th", 0};
    }
    if (!strcmp(w, "minus") || !strcmp(w, "negative")) return (word_info){W_PRECEDING, 0, NULL, '-'};
    if (!strcmp(w, "plus") || !strcmp(w, "positive")) return (word_info){W_PRECEDING, 0, NULL, '+'};
    if (!strcmp(w, "pound") || !strcmp(w, "pounds")) return (word_info){W_FOLLOWING, 0, NULL, POUND};
    if (!strcmp(w, "euro") || !strcmp(w, "euros")) return (word_info){W_FOLLOWING, 0, NULL, EURO};
    if (!strcmp(w, "dollar") || !strcmp(w, "dollars")) return (word_info){W_FOLLOWING, 0, NULL, '$'};
    if (!strcmp(w, "cent") || !strcmp(w, "cents")) return (word_info){W_FOLLOWING, 0, NULL, CENT};
    if (!strcmp(w, "per") || !strcmp(w, "percent")) return (word_info){W_SUFFIXER, 0, NULL, 0};
    if (!strcmp(w, "and") || !strcmp(w, "double") || !strcmp(w, "triple") || !strcmp(w, "point"))
        return (word_info){W_SPECIAL, 0, NULL, 0};
    return (word_info){W_OTHER, 0, NULL, 0};
}

/* A whitespace-separated word of the text being normalised. */
typedef struct word {
    const uint32_t *v;
    size_t n;
    char ascii[16]; /* the word when it is short ASCII (every number word is), else "" */
    word_info info;
} word;

static void word_init(word *w, const uint32_t *v, size_t n) {
    w->v = v;
    w->n = n;
    w->ascii[0] = '\0';
    if (n < sizeof w->ascii) {
        size_t i = 0;
        while (i < n && v[i] < 0x80) {
            w->ascii[i] = (char)v[i];
            i++;
        }
        w->ascii[i == n ? n : 0] = '\0';
    }
    w->info = w->ascii[0] ? classify_ascii(w->ascii) : (word_info){W_OTHER, 0, NULL, 0};
}

static bool word_is(const word *w, const char *ascii) { return w && strcmp(w->ascii, ascii) == 0; }
static bool word_kind_is(const word *w, word_kind kind) { return w && w->info.kind == kind; }

/* `^\d+(\.\d+)?$` over v[0..n). */
static bool is_arabic_number(const uint32_t *v, size_t n) {
    size_t i = 0;
    while (i < n && is_digit(v[i])) i++;
    if (i == 0) return false;
    if (i == n) return true;
    if (v[i] != '.') return false;
    size_t j = ++i;
    while (j < n && is_digit(v[j])) j++;
    return j > i && j == n;
}

/* openai's `decimals`: the words that may follow "point". */
static bool is_decimal_word(const word *w) {
    return w && (w->info.kind == W_ONES || w->info.kind == W_TENS || w->info.kind == W_ZERO);
}

/* ---- arbitrary-size decimal integers as ASCII digit strings ------------------------------
 * Python's ints have no size limit and "one decillion" is 10^33, so numbers are kept as
 * canonical digit strings (no leading zeros; "0" for zero). */

typedef struct digits {
    char *d;
    size_t n, cap;
    bool failed;
} digits;

static void digits_reserve(digits *x, size_t n) {
    if (x->failed || n + 1 <= x->cap) return;
    size_t cap = x->cap ? x->cap : 32;
    while (cap < n + 1) cap *= 2;
    char *d = realloc(x->d, cap);
    if (!d) {
        x->failed = true;
        return;
    }
    x->d = d;
    x->cap = cap;
}

static void digits_set(digits *x, const char *s, size_t n) {
    while (n > 1 && s[0] == '0') s++, n--; /* canonical: no leading zeros */
    if (n == 0) s = "0", n = 1;
    digits_reserve(x, n);
    if (x->failed) return;
    memmove(x->d, s, n);
    x->n = n;
    x->d[n] = '\0';
}

static void digits_set_int(digits *x, long value) {
    char text[24];
    int n = snprintf(text, sizeof text, "%ld", value);
    digits_set(x, text, (size_t)n);
}

/* x = a + b (digit strings); x may alias neither. */
static void digits_add(digits *x, const char *a, size_t na, const char *b, size_t nb) {
    size_t n = (na > nb ? na : nb) + 1;
    char *sum = malloc(n);
    if (!sum) {
        x->failed = true;
        return;
    }
    int carry = 0;
    for (size_t k = 0; k < n; k++) {
        int da = k < na ? a[na - 1 - k] - '0' : 0;
        int db = k < nb ? b[nb - 1 - k] - '0' : 0;
        int s = da + db + carry;
        sum[n - 1 - k] = (char)('0' + s % 10);
        carry = s / 10;
    }
    digits_set(x, sum, n);
    free(sum);
}

static void digits_add_small(digits *x, int value) {
    char small[8];
    int n = snprintf(small, sizeof small, "%d", value);
    digits copy = {0};
    digits_set(&copy, x->d, x->n);
    if (copy.failed) x->failed = true;
    else digits_add(x, copy.d, copy.n, small, (size_t)n);
    free(copy.d);
}

static bool digits_zero(const digits *x) { return x->n == 1 && x->d[0] == '0'; }
static bool digits_mod10_zero(const digits *x) { return x->d[x->n - 1] == '0'; }
static bool digits_mod100_zero(const digits *x) {
    return digits_zero(x) || (x->n >= 2 && x->d[x->n - 1] == '0' && x->d[x->n - 2] == '0');
}

/* x = x // 1000 * 1000 + (x % 1000) * 10^power: how a multiplier scales the last group. */
static void digits_scale_last_group(digits *x, int power) {
    size_t group = x->n < 3 ? x->n : 3;
    size_t before_n = x->n - group;
    char *before = malloc(x->n + 1), *scaled = malloc(group + (size_t)power + 1);
    if (!before || !scaled) {
        free(before);
        free(scaled);
        x->failed = true;
        return;
    }
    memcpy(before, x->d, before_n);
    memset(before + before_n, '0', group);
    memcpy(scaled, x->d + before_n, group);
    memset(scaled + group, '0', (size_t)power);
    digits_add(x, before_n ? before : "0", before_n ? x->n : 1, scaled, group + (size_t)power);
    free(before);
    free(scaled);
}

/* Python's Fraction(text) * 10^power when that is an integer: text is digits with at most one
 * '.', a digit first or right after the '.' ("5.", ".5" are fine; ".", "1.2.3", "$5" are not).
 * Returns false when text is no number or the product is no integer. */
static bool fraction_times_power(const uint32_t *text, size_t n, int power, digits *out) {
    size_t point = n;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '.' && point == n) point = i;
        else if (!is_digit(text[i])) return false;
    }
    bool digit_first = n > 0 && is_digit(text[0]);
    bool point_digit = n > 1 && text[0] == '.' && is_digit(text[1]);
    if (!digit_first && !point_digit) return false;
    size_t fraction_digits = point < n ? n - point - 1 : 0;
    char *all = malloc(n + (size_t)power + 1);
    if (!all) {
        out->failed = true;
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] != '.') all[k++] = (char)text[i];
    if ((size_t)power >= fraction_digits) {
        memset(all + k, '0', (size_t)power - fraction_digits);
        k += (size_t)power - fraction_digits;
    } else {
        size_t drop = fraction_digits - (size_t)power; /* these trailing digits must be zeros */
        for (size_t i = 0; i < drop; i++) {
            if (all[k - 1 - i] != '0') {
                free(all);
                return false;
            }
        }
        k -= drop;
    }
    digits_set(out, all, k);
    free(all);
    return true;
}

/* ---- the number state machine (EnglishNumberNormalizer.process_words) -------------------- */

typedef enum value_kind { VALUE_NONE, VALUE_INT, VALUE_STR } value_kind;

typedef struct numbers {
    value_kind kind;
    digits integer; /* when VALUE_INT */
    cpbuf text;     /* when VALUE_STR */
    uint32_t prefix; /* 0 for none */
    cpbuf *out;
    bool any; /* something was emitted, so the next needs a separating space */
} numbers;

static void emit_start(numbers *m) {
    if (m->any) cp_push(m->out, ' ');
    m->any = true;
    if (m->prefix) cp_push(m->out, m->prefix);
}

static void emit_done(numbers *m) {
    m->kind = VALUE_NONE;
    m->prefix = 0;
}

/* output(value) */
static void emit_value(numbers *m) {
    emit_start(m);
    if (m->kind == VALUE_INT) {
        for (size_t i = 0; i < m->integer.n; i++) cp_push(m->out, (unsigned char)m->integer.d[i]);
    } else {
        cp_push_range(m->out, m->text.v, m->text.n);
    }
    emit_done(m);
}

static void emit_word(numbers *m, const word *w) {
    emit_start(m);
    cp_push_range(m->out, w->v, w->n);
    emit_done(m);
}

/* output(str(value) + str(number) + suffix); number < 0 leaves it out */
static void emit_value_joined(numbers *m, int number, const char *suffix) {
    emit_start(m);
    if (m->kind == VALUE_INT) {
        for (size_t i = 0; i < m->integer.n; i++) cp_push(m->out, (unsigned char)m->integer.d[i]);
    } else {
        cp_push_range(m->out, m->text.v, m->text.n);
    }
    if (number >= 0) {
        char text[16];
        snprintf(text, sizeof text, "%d", number);
        cp_push_ascii(m->out, text);
    }
    if (suffix) cp_push_ascii(m->out, suffix);
    emit_done(m);
}

static void emit_ascii(numbers *m, const char *text, const char *suffix) {
    emit_start(m);
    cp_push_ascii(m->out, text);
    if (suffix) cp_push_ascii(m->out, suffix);
    emit_done(m);
}

static void emit_digits(numbers *m, const digits *x, const char *suffix) {
    emit_start(m);
    for (size_t i = 0; i < x->n; i++) cp_push(m->out, (unsigned char)x->d[i]);
    if (suffix) cp_push_ascii(m->out, suffix);
    emit_done(m);
}

/* value becomes the string str(value) (for appending to it) */
static void value_to_text(numbers *m) {
    if (m->kind == VALUE_INT) {
        m->text.n = 0;
        for (size_t i = 0; i < m->integer.n; i++) cp_push(&m->text, (unsigned char)m->integer.d[i]);
    } else if (m->kind == VALUE_NONE) {
        m->text.n = 0;
    }
    m->kind = VALUE_STR;
}

static void value_append_int(numbers *m, int number) {
    value_to_text(m);
    char text[16];
    snprintf(text, sizeof text, "%d", number);
    cp_push_ascii(&m->text, text);
}

/* `str(value or "")`: None and the integer 0 are both falsy in Python. */
static void value_to_text_or_empty(numbers *m) {
    if (m->kind == VALUE_NONE || (m->kind == VALUE_INT && digits_zero(&m->integer))) m->text.n = 0;
    else value_to_text(m);
    m->kind = VALUE_STR;
}

static void set_int(numbers *m, int number) {
    digits_set_int(&m->integer, number);
    m->kind = VALUE_INT;
}

/* The value string with its last character ('0' of a tens word) replaced by digit. */
static void text_replace_last(cpbuf *text, int digit) {
    if (text->n > 0 && text->v[text->n - 1] == '0') text->n--;
    cp_push(text, (uint32_t)('0' + digit));
}

static void process_words(const word *words, size_t n_words, cpbuf *out) {
    numbers m = {.out = out};
    digits product = {0};
    bool skip = false;
    for (size_t i = 0; i < n_words; i++) {
        if (skip) {
            skip = false;
            continue;
        }
        const word *prev = i > 0 ? &words[i - 1] : NULL;
        const word *cur = &words[i];
        const word *next = i + 1 < n_words ? &words[i + 1] : NULL;
        bool next_is_numeric = next && is_arabic_number(next->v, next->n);
        uint32_t first = cur->v[0];
        bool has_prefix = first == '-' || first == '+' || first == '$' || first == POUND || first == EURO || first == CENT;
        const uint32_t *bare = cur->v + (has_prefix ? 1 : 0);
        size_t bare_n = cur->n - (has_prefix ? 1 : 0);
        const word_info *info = &cur->info;

        if (is_arabic_number(bare, bare_n)) {
            if (m.kind != VALUE_NONE) {
                if (m.kind == VALUE_STR && m.text.n > 0 && m.text.v[m.text.n - 1] == '.') {
                    /* "point" before it: decimals or the parts of an address */
                    cp_push_range(&m.text, cur->v, cur->n);
                    continue;
                }
                emit_value(&m);
            }
            if (has_prefix) m.prefix = first;
            if (fraction_times_power(bare, bare_n, 0, &m.integer)) {
                m.kind = VALUE_INT;
            } else {
                m.text.n = 0;
                cp_push_range(&m.text, bare, bare_n);
                m.kind = VALUE_STR;
            }
        } else if (info->kind == W_OTHER) {
            if (m.kind != VALUE_NONE) emit_value(&m);
            emit_word(&m, cur);
        } else if (info->kind == W_ZERO) {
            value_to_text_or_empty(&m);
            cp_push(&m.text, '0');
        } else if (info->kind == W_ONES) {
            int ones = info->value;
            if (m.kind == VALUE_NONE) {
                set_int(&m, ones);
            } else if (m.kind == VALUE_STR || word_kind_is(prev, W_ONES)) {
                value_to_text(&m);
                if (word_kind_is(prev, W_TENS) && ones < 10) text_replace_last(&m.text, ones);
                else value_append_int(&m, ones);
            } else if (ones < 10 ? digits_mod10_zero(&m.integer) : digits_mod100_zero(&m.integer)) {
                digits_add_small(&m.integer, ones);
            } else {
                value_append_int(&m, ones);
            }
        } else if (info->kind == W_ONES_SUFFIXED) {
            int ones = info->value;
            if (m.kind == VALUE_NONE) {
                char text[8];
                snprintf(text, sizeof text, "%d", ones);
                emit_ascii(&m, text, info->suffix);
            } else if (m.kind == VALUE_STR || word_kind_is(prev, W_ONES)) {
                value_to_text(&m);
                if (word_kind_is(prev, W_TENS) && ones < 10) {
                    text_replace_last(&m.text, ones);
                    emit_value_joined(&m, -1, info->suffix);
                } else {
                    emit_value_joined(&m, ones, info->suffix);
                }
            } else if (ones < 10 ? digits_mod10_zero(&m.integer) : digits_mod100_zero(&m.integer)) {
                digits_add_small(&m.integer, ones);
                emit_value_joined(&m, -1, info->suffix);
            } else {
                emit_value_joined(&m, ones, info->suffix);
            }
            m.kind = VALUE_NONE;
        } else if (info->kind == W_TENS) {
            int tens = info->value;
            if (m.kind == VALUE_NONE) set_int(&m, tens);
            else if (m.kind == VALUE_STR) value_append_int(&m, tens);
            else if (digits_mod100_zero(&m.integer)) digits_add_small(&m.integer, tens);
            else value_append_int(&m, tens);
        } else if (info->kind == W_TENS_SUFFIXED) {
            int tens = info->value;
            if (m.kind == VALUE_NONE) {
                char text[8];
                snprintf(text, sizeof text, "%d", tens);
                emit_ascii(&m, text, info->suffix);
            } else if (m.kind == VALUE_STR || !digits_mod100_zero(&m.integer)) {
                emit_value_joined(&m, tens, info->suffix);
            } else {
                digits_add_small(&m.integer, tens);
                emit_value_joined(&m, -1, info->suffix);
            }
        } else if (info->kind == W_MULTIPLIER) {
            int power = info->value;
            if (m.kind == VALUE_INT && digits_zero(&m.integer)) {
                /* 0 times the multiplier stays 0 */
            } else if (m.kind == VALUE_STR && fraction_times_power(m.text.v, m.text.n, power, &product)) {
                digits_set(&m.integer, product.d, product.n); /* "1.5 million", "12 hundred" */
                m.kind = VALUE_INT;
            } else if (m.kind == VALUE_INT) {
                digits_scale_last_group(&m.integer, power);
            } else {
                if (m.kind == VALUE_STR) emit_value(&m); /* not a number: "1.2.3 million" */
                digits_set(&m.integer, "1", 1);
                digits_scale_last_group(&m.integer, power);
                m.kind = VALUE_INT;
            }
        } else if (info->kind == W_MULTIPLIER_SUFFIXED) {
            int power = info->value;
            digits one = {0};
            digits_set(&one, "1", 1);
            digits_scale_last_group(&one, power);
            if (m.kind == VALUE_NONE) {
                emit_digits(&m, &one, info->suffix);
            } else if (m.kind == VALUE_STR) {
                if (fraction_times_power(m.text.v, m.text.n, power, &product)) {
                    emit_digits(&m, &product, info->suffix);
                } else {
                    emit_value(&m);
                    emit_digits(&m, &one, info->suffix);
                }
            } else {
                digits_scale_last_group(&m.integer, power);
                emit_digits(&m, &m.integer, info->suffix);
            }
            if (one.failed) out->failed = true;
            free(one.d);
            m.kind = VALUE_NONE;
        } else if (info->kind == W_PRECEDING) {
            if (m.kind != VALUE_NONE) emit_value(&m);
            if ((next && next->info.kind != W_OTHER) || next_is_numeric) m.prefix = info->symbol;
            else emit_word(&m, cur);
        } else if (info->kind == W_FOLLOWING) {
            if (m.kind != VALUE_NONE) {
                m.prefix = info->symbol;
                emit_value(&m);
            } else {
                emit_word(&m, cur);
            }
        } else if (info->kind == W_SUFFIXER) {
            if (m.kind == VALUE_NONE) {
                emit_word(&m, cur);
            } else if (word_is(cur, "percent")) {
                emit_value_joined(&m, -1, "%");
            } else if (word_is(next, "cent")) {
                emit_value_joined(&m, -1, "%");
                skip = true;
            } else {
                emit_value(&m);
                emit_word(&m, cur);
            }
        } else { /* W_SPECIAL */
            bool next_numeric_word = (next && next->info.kind != W_OTHER) || next_is_numeric;
            if (!next_numeric_word) {
                if (m.kind != VALUE_NONE) emit_value(&m);
                emit_word(&m, cur);
            } else if (word_is(cur, "and")) {
                /* "and" after hundred, thousand ... joins the number; elsewhere it is a word */
                if (!word_kind_is(prev, W_MULTIPLIER)) {
                    if (m.kind != VALUE_NONE) emit_value(&m);
                    emit_word(&m, cur);
                }
            } else if (word_is(cur, "double") || word_is(cur, "triple")) {
                if (word_kind_is(next, W_ONES) || word_kind_is(next, W_ZERO)) {
                    int repeats = word_is(cur, "double") ? 2 : 3;
                    int digit = word_kind_is(next, W_ONES) ? next->info.value : 0;
                    value_to_text_or_empty(&m);
                    for (int r = 0; r < repeats; r++) value_append_int(&m, digit);
                    skip = true;
                } else {
                    if (m.kind != VALUE_NONE) emit_value(&m);
                    emit_word(&m, cur);
                }
            } else if (is_decimal_word(next) || next_is_numeric) { /* "point" */
                value_to_text_or_empty(&m);
                cp_push(&m.text, '.');
            }
        }
    }
    if (m.kind != VALUE_NONE) emit_value(&m);
    if (m.integer.failed || product.failed || m.text.failed) out->failed = true;
    free(m.integer.d);
    free(product.d);
    cp_free(&m.text);
}

/* ---- number normaliser: before and after the state machine ------------------------------ */

/* Splits s into whitespace-separated words (str.split()). */
static bool split_words(const cpbuf *s, word **words, size_t *n_words) {
    size_t count = 0;
    for (size_t i = 0; i < s->n;) {
        i = skip_space(s, i);
        if (i == s->n) break;
        while (i < s->n && !is_space(s->v[i])) i++;
        count++;
    }
    *words = calloc(count ? count : 1, sizeof(word));
    if (!*words) return false;
    size_t k = 0;
    for (size_t i = 0; i < s->n;) {
        i = skip_space(s, i);
        if (i == s->n) break;
        size_t start = i;
        while (i < s->n && !is_space(s->v[i])) i++;
        word_init(&(*words)[k++], s->v + start, i - start);
    }
    *n_words = count;
    return true;
}

/* The end of `\band\s+a\s+half\b` matched at i, or 0. */
static size_t match_and_a_half(const cpbuf *s, size_t i) {
    if (!boundary(s, i) || !at(s, i, "and")) return 0;
    size_t j = skip_space(s, i + 3);
    if (j == i + 3 || !at(s, j, "a")) return 0;
    size_t k = skip_space(s, j + 1);
    if (k == j + 1 || !at(s, k, "half") || !boundary(s, k + 4)) return 0;
    return k + 4;
}

/* `<number> and a half` -> `<number> point five`: the text is split at every "and a half";
 * each piece but the last is followed by "point five" when its last word is a number word,
 * else by "and a half" again, and the pieces are joined with spaces. A piece that is only
 * whitespace is dropped together with its "and a half", as openai does. */
static void pass_and_a_half(const cpbuf *in, cpbuf *out) {
    size_t piece = 0;
    bool first = true;
    for (size_t i = 0; i <= in->n; i++) {
        size_t end = i < in->n ? match_and_a_half(in, i) : 0;
        if (i < in->n && end == 0) continue;
        bool last = i == in->n;
        size_t a = skip_space(in, piece);
        if (a < i) { /* not blank */
            if (!first) cp_push(out, ' ');
            first = false;
            cp_push_range(out, in->v + piece, i - piece);
            if (!last) {
                size_t w_end = i;
                while (w_end > piece && is_space(in->v[w_end - 1])) w_end--;
                size_t w_start = w_end;
                while (w_start > piece && !is_space(in->v[w_start - 1])) w_start--;
                word w;
                word_init(&w, in->v + w_start, w_end - w_start);
                bool numeric = is_decimal_word(&w) || w.info.kind == W_MULTIPLIER;
                cp_push(out, ' ');
                cp_push_ascii(out, numeric ? "point five" : "and a half");
            }
        }
        if (last) break;
        piece = end;
        i = end - 1;
    }
}

/* The end of a multiplier name at i followed by \b, or 0. */
static size_t match_multiplier(const cpbuf *s, size_t i) {
    for (size_t m = 0; m < sizeof multipliers / sizeof multipliers[0]; m++) {
        size_t n = strlen(multipliers[m].name);
        if (at(s, i, multipliers[m].name) && boundary(s, i + n)) return i + n;
    }
    return 0;
}

/* `\b(?:a\s+half\s+|half\s+(?:a\s+)?)(<multiplier>)\b` -> `0.5 \1` */
static void pass_half_multiplier(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        size_t mult = 0;
        if (boundary(in, i)) {
            if (at(in, i, "a") && skip_space(in, i + 1) > i + 1) {
                size_t j = skip_space(in, i + 1);
                if (at(in, j, "half") && skip_space(in, j + 4) > j + 4) mult = skip_space(in, j + 4);
            }
            if (mult == 0 && at(in, i, "half") && skip_space(in, i + 4) > i + 4) {
                mult = skip_space(in, i + 4);
                if (at(in, mult, "a") && skip_space(in, mult + 1) > mult + 1 && match_multiplier(in, skip_space(in, mult + 1)))
                    mult = skip_space(in, mult + 1);
            }
        }
        size_t end = mult ? match_multiplier(in, mult) : 0;
        if (end) {
            cp_push_ascii(out, "0.5 ");
            cp_push_range(out, in->v + mult, end - mult);
            i = end;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

/* `([a-z])([0-9])` -> `\1 \2` and `([0-9])([a-z])` -> `\1 \2`, then
 * `([0-9])\s+(st|nd|rd|th|s)\b` -> `\1\2`: separate letters from digits, except the suffixes. */
static void pass_letter_digit_spaces(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n; i++) {
        cp_push(out, in->v[i]);
        if (i + 1 < in->n && ((is_lower_ascii(in->v[i]) && is_digit(in->v[i + 1])) ||
                              (is_digit(in->v[i]) && is_lower_ascii(in->v[i + 1]))))
            cp_push(out, ' ');
    }
}

static void pass_number_suffixes(const cpbuf *in, cpbuf *out) {
    static const char *const suffixes[] = {"st", "nd", "rd", "th", "s"};
    for (size_t i = 0; i < in->n;) {
        cp_push(out, in->v[i]);
        if (is_digit(in->v[i])) {
            size_t j = skip_space(in, i + 1);
            if (j > i + 1) {
                for (size_t k = 0; k < 5; k++) {
                    size_t n = strlen(suffixes[k]);
                    if (at(in, j, suffixes[k]) && boundary(in, j + n)) {
                        cp_push_ascii(out, suffixes[k]);
                        i = j + n;
                        goto next;
                    }
                }
            }
        }
        i++;
    next:;
    }
}

static bool is_currency(uint32_t cp) { return cp == '$' || cp == POUND || cp == EURO; }

/* Number of ASCII digits at i when there are one or two of them followed by \b, else 0:
 * `[0-9]{1,2}\b`. */
static size_t cents_digits(const cpbuf *s, size_t i) {
    size_t k = 0;
    while (i + k < s->n && is_digit(s->v[i + k])) k++;
    return (k == 1 || k == 2) && boundary(s, i + k) ? k : 0;
}

/* `([€£$])([0-9]+) (?:and )?¢([0-9]{1,2})\b` -> `\1\2.\3` with two cent digits, then
 * `[€£$]0.([0-9]{1,2})\b` -> `¢\1` (the "." there is any character but a line break). */
static void pass_combine_cents(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        if (is_currency(in->v[i])) {
            size_t j = i + 1;
            while (j < in->n && is_digit(in->v[j])) j++;
            if (j > i + 1 && j < in->n && in->v[j] == ' ') {
                size_t c = j + 1;
                if (at(in, c, "and ")) c += 4;
                size_t k = c < in->n && in->v[c] == CENT ? cents_digits(in, c + 1) : 0;
                if (k) {
                    cp_push_range(out, in->v + i, j - i);
                    cp_push(out, '.');
                    if (k == 1) cp_push(out, '0');
                    cp_push_range(out, in->v + c + 1, k);
                    i = c + 1 + k;
                    continue;
                }
            }
        }
        cp_push(out, in->v[i++]);
    }
}

static void pass_extract_cents(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        size_t k = 0;
        if (is_currency(in->v[i]) && i + 3 < in->n && in->v[i + 1] == '0' && in->v[i + 2] != '\n')
            k = cents_digits(in, i + 3);
        if (k) {
            cp_push(out, CENT);
            if (k == 2 && in->v[i + 3] == '0') cp_push(out, in->v[i + 4]); /* int("05") */
            else cp_push_range(out, in->v + i + 3, k);
            i += 3 + k;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

/* `\b1(s?)\b` -> `one\1`: a lone 1 reads better as a word. */
static void pass_one(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        if (in->v[i] == '1' && boundary(in, i)) {
            if (i + 1 < in->n && in->v[i + 1] == 's' && boundary(in, i + 2)) {
                cp_push_ascii(out, "ones");
                i += 2;
                continue;
            }
            if (boundary(in, i + 1)) {
                cp_push_ascii(out, "one");
                i += 1;
                continue;
            }
        }
        cp_push(out, in->v[i++]);
    }
}

/* ---- after the numbers -------------------------------------------------------------------- */

/* Each word through the British-to-American table, joined by single spaces. */
static bool pass_spelling(const cpbuf *in, cpbuf *out) {
    word *words;
    size_t n;
    if (!split_words(in, &words, &n)) return false;
    for (size_t i = 0; i < n; i++) {
        if (i) cp_push(out, ' ');
        const char *american = NULL;
        if (words[i].ascii[0]) american = st_spelling_american(words[i].ascii, strlen(words[i].ascii));
        else if (words[i].n >= sizeof words[i].ascii) {
            /* longer words: look up when ASCII */
            char longer[64];
            size_t k = 0;
            while (k < words[i].n && k < sizeof longer && words[i].v[k] < 0x80) longer[k] = (char)words[i].v[k], k++;
            if (k == words[i].n) american = st_spelling_american(longer, k);
        }
        if (american) cp_push_ascii(out, american);
        else cp_push_range(out, words[i].v, words[i].n);
    }
    free(words);
    return true;
}

static bool is_money_symbol(uint32_t cp) { return cp == '$' || cp == CENT || cp == EURO || cp == POUND; }

/* `([$¢€£])\s+([0-9])` -> `\1\2` and `([0-9])\s+%` -> `\1%`: attach signs to their numbers. */
static void pass_attach_symbols(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        size_t j = skip_space(in, i + 1);
        if (i + 1 < in->n && j > i + 1 && j < in->n && is_money_symbol(in->v[i]) && is_digit(in->v[j])) {
            cp_push(out, in->v[i]);
            cp_push(out, in->v[j]);
            i = j + 1;
            continue;
        }
        cp_push(out, in->v[i++]);
    }
}

static void pass_attach_percent(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        size_t j = skip_space(in, i + 1);
        if (is_digit(in->v[i]) && j > i + 1 && j < in->n && in->v[j] == '%') {
            cp_push(out, in->v[i]);
            cp_push(out, '%');
            i = j + 1;
            continue;
        }
        cp_push(out, in->v[i++]);
    }
}

/* `[.$¢€£]([^0-9])` -> ` \1` and `([^0-9])%` -> `\1 `: signs left without a number go. */
static void pass_stray_prefixes(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        if ((in->v[i] == '.' || is_money_symbol(in->v[i])) && i + 1 < in->n && !is_digit(in->v[i + 1])) {
            cp_push(out, ' ');
            cp_push(out, in->v[i + 1]);
            i += 2;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

static void pass_stray_percent(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        if (!is_digit(in->v[i]) && i + 1 < in->n && in->v[i + 1] == '%') {
            cp_push(out, in->v[i]);
            cp_push(out, ' ');
            i += 2;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

/* `\s+` -> " " */
static void pass_collapse_space(const cpbuf *in, cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        size_t j = skip_space(in, i);
        if (j > i) {
            cp_push(out, ' ');
            i = j;
        } else {
            cp_push(out, in->v[i++]);
        }
    }
}

/* ---- the whole normaliser ----------------------------------------------------------------- */

typedef void (*pass_fn)(const cpbuf *in, cpbuf *out);

/* Runs one pass from *a into *b and swaps them, so *a always holds the current text. */
static void run_pass(pass_fn pass, cpbuf *a, cpbuf *b) {
    b->n = 0;
    if (a->failed) return;
    pass(a, b);
    cpbuf t = *a;
    *a = *b;
    *b = t;
}

static bool run_number_words(cpbuf *a, cpbuf *b) {
    word *words;
    size_t n;
    if (!split_words(a, &words, &n)) return false;
    b->n = 0;
    process_words(words, n, b);
    free(words);
    cpbuf t = *a;
    *a = *b;
    *b = t;
    return true;
}

steno_status st_normalize_english(const char *text, size_t length, st_strbuf *out, st_error *err) {
    cpbuf a = {0}, b = {0};
    for (size_t i = 0; i < length;) {
        uint32_t cp;
        i += st_utf8_decode(text + i, length - i, &cp);
        cp_push(&a, cp);
    }
    run_pass(pass_lower, &a, &b);
    run_pass(pass_brackets, &a, &b);
    run_pass(pass_parentheses, &a, &b);
    run_pass(pass_fillers, &a, &b);
    run_pass(pass_space_before_apostrophe, &a, &b);
    for (size_t r = 0; r < sizeof replacers / sizeof replacers[0] && !a.failed; r++) {
        b.n = 0;
        pass_replace(&replacers[r], &a, &b);
        cpbuf t = a;
        a = b;
        b = t;
    }
    run_pass(pass_digit_commas, &a, &b);
    run_pass(pass_periods, &a, &b);
    run_pass(pass_symbols_and_diacritics, &a, &b);
    /* EnglishNumberNormalizer: preprocess, the word state machine, postprocess */
    run_pass(pass_and_a_half, &a, &b);
    run_pass(pass_half_multiplier, &a, &b);
    run_pass(pass_letter_digit_spaces, &a, &b);
    run_pass(pass_number_suffixes, &a, &b);
    bool ok = a.failed || run_number_words(&a, &b);
    run_pass(pass_combine_cents, &a, &b);
    run_pass(pass_extract_cents, &a, &b);
    run_pass(pass_one, &a, &b);
    if (ok && !a.failed) {
        b.n = 0;
        ok = pass_spelling(&a, &b);
        cpbuf t = a;
        a = b;
        b = t;
    }
    run_pass(pass_attach_symbols, &a, &b);
    run_pass(pass_attach_percent, &a, &b);
    run_pass(pass_stray_prefixes, &a, &b);
    run_pass(pass_stray_percent, &a, &b);
    run_pass(pass_collapse_space, &a, &b);
    steno_status status = STENO_OK;
    if (!ok || a.failed || b.failed) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "normaliser: out of memory");
    } else {
        for (size_t i = 0; i < a.n; i++) st_strbuf_append_utf8(out, a.v[i]);
        if (out->failed) status = st_error_set(err, STENO_ERR_NO_MEMORY, "normaliser: out of memory");
    }
    cp_free(&a);
    cp_free(&b);
    return status;
}
