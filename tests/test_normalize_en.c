/* test_normalize_en.c — the English WER normaliser, one hand-checked example (or more) per
 * rule of openai-whisper's EnglishTextNormalizer, worked out from the published rules; then
 * every English reference transcript in ../shared/data normalised, with checks of what any
 * correct output must satisfy; then the Unicode and spelling tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "text/normalize_en.h"
#include "text/spelling.h"
#include "text/unicode.h"

static char *normalize(const char *text) {
    st_strbuf out;
    st_strbuf_init(&out);
    assert_int_equal(st_normalize_english(text, strlen(text), &out, NULL), STENO_OK);
    return st_strbuf_detach(&out);
}

typedef struct example {
    const char *input, *expected;
} example;

static void check_examples(const example *examples, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *got = normalize(examples[i].input);
        if (strcmp(got, examples[i].expected) != 0)
            fail_msg("normalise(\"%s\") = \"%s\", expected \"%s\"", examples[i].input, got, examples[i].expected);
        free(got);
    }
}

#define CHECK(table) check_examples(table, sizeof table / sizeof table[0])

static void case_brackets_fillers_and_punctuation(void **state) {
    (void)state;
    static const example examples[] = {
        {"Hello, World!", "hello world"},                         /* lower-case; punctuation -> space */
        {"[MUSIC] Hello (laughs) there <unk>", "hello there"},    /* [..], <..>, (..) removed */
        {"a (b", "a b"},                                          /* an unclosed parenthesis is just punctuation */
        {"() x", "x"},                                            /* "()" is not removed, its symbols are spaced */
        {"Hmm, um, I think uh so", "i think so"},                 /* fillers removed as whole words */
        {"mm-hmm", ""},                                           /* both halves are fillers */
        {"uh-huh", "huh"},                                        /* "huh" is not a filler */
        {"umbrella hummus", "umbrella hummus"},                   /* fillers only as whole words */
        {"Hello.World", "hello world"},                           /* period not before a digit */
        {"a 3-year-old", "a 3 year old"},                         /* dashes are punctuation */
        {"", ""},
        {"  \t\n ", ""},
        {"Привет, мир!", "привет мир"},                           /* other scripts lower-cased, kept */
    };
    CHECK(examples);
}

static void case_contractions_and_titles(void **state) {
    (void)state;
    static const example examples[] = {
        {"I won't go, I can't.", "i will not go i can not"},
        {"He's been there, they're here, I'd like it", "he has been there they are here i would like it"},
        {"I'm gonna wanna", "i am going to want to"},
        {"y'all ain't seen it", "you all aint seen it"},
        {"Mr. Smith and Dr. Jones", "mister smith and doctor jones"},
        {"St. Louis", "saint louis"},
        {"Let's rock 'n' roll", "let us rock n roll"}, /* the space before an apostrophe goes first */
        {"she 's got it", "she has got it"},
        {"we'll see, you've won", "we will see you have won"},
    };
    CHECK(examples);
}

static void case_diacritics_and_compatibility(void **state) {
    (void)state;
    static const example examples[] = {
        {"café naïve", "cafe naive"},   /* NFKD, then nonspacing marks dropped */
        {"Ægir Øresund straße", "aegir oresund strasse"}, /* openai's extra letter spellings */
        {"\xEF\xAC\x81ve", "5"},        /* U+FB01 "fi" ligature decomposes to "five" */
        {"\xE2\x91\xA0 and \xEF\xBC\x92", "one and 2"}, /* circled one and fullwidth two */
        {"\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x9F\xCE\xA3", "\xCF\x83\xCE\xBF\xCF\x86\xCE\xBF\xCF\x82"}, /* ΣΟΦΟΣ -> σοφος, final ς */
        {"x\xE2\x80\x94y \xE2\x80\x9Cq\xE2\x80\x9D", "x y q"}, /* em dash, curly quotes */
        {"bad \xFF byte", "bad byte"}, /* malformed UTF-8 reads as U+FFFD, a symbol: a space */
    };
    CHECK(examples);
}

static void case_numbers(void **state) {
    (void)state;
    static const example examples[] = {
        {"twenty five", "25"},
        {"seventy-five", "75"},
        {"one hundred and five", "105"},          /* "and" after a multiplier joins */
        {"two thousand and twenty", "2020"},
        {"nineteen ninety nine", "1999"},         /* a year read in pairs */
        {"twenty twenty", "2020"},
        {"one two three", "123"},                 /* successive digits are nominal */
        {"one oh one", "101"},                    /* "oh" is a zero */
        {"Mr O'Neil", "mister 0 neil"},           /* and so is a lone "o" */
        {"double five", "55"},
        {"triple zero seven", "0007"},
        {"five hundred thousand", "500000"},
        {"one million two hundred thousand", "1200000"},
        {"one decillion", "1000000000000000000000000000000000"}, /* beyond 64 bits */
        {"A hundred", "a 100"},
        {"1,000,000", "1000000"},                 /* commas between digits dropped */
        {"007 and 2.0", "7 and 2"},               /* integers are read as numbers */
        {"I have 1 apple", "i have one apple"},   /* a lone 1 is written out */
        {"one", "one"},
        {"ones", "ones"},
        {"1.5", "one.5"},                         /* ... even before a decimal point, as openai does */
        {"version 2.0.1", "version 2.0 one"},
    };
    CHECK(examples);
}

static void case_ordinals_decimals_and_fractions(void **state) {
    (void)state;
    static const example examples[] = {
        {"the fifth of november", "the 5th of november"},
        {"first second third", "1st 2nd 3rd"},
        {"twenty first century", "21st century"},
        {"the nineteen sixties", "the 1960s"},
        {"the 1990s", "the 1990s"},                /* suffixes stay attached */
        {"1st place", "1st place"},
        {"two point five", "2.5"},
        {"two and a half", "2.5"},                 /* "and a half" after a number */
        {"an hour and a half", "an hour and a half"},
        {"half a million", "500000"},              /* "half a" before a multiplier is 0.5 */
        {"one point five million", "1500000"},
        {"it's 3.5%", "it is 3.5%"},
    };
    CHECK(examples);
}

static void case_currency_and_percent(void **state) {
    (void)state;
    static const example examples[] = {
        {"five dollars", "$5"},
        {"I paid 20 dollars", "i paid $20"},
        {"twenty dollars and fifty cents", "$20.50"}, /* dollars and cents combine */
        {"$20 million", "$20000000"},
        {"It costs $3.50", "it costs $3.50"},
        {"$0.05", "\xC2\xA2" "5"},                      /* a fraction of a dollar is cents */
        {"5 pounds", "\xC2\xA3" "5"},
        {"the pound sterling", "the pound sterling"}, /* no number, no symbol */
        {"ten per cent", "10%"},
        {"two point five percent", "2.5%"},
        {"50 per cent", "50%"},
        {"per cent", "per cent"},
        {"minus five", "-5"},
        {"costs $ 5 or $ x", "costs $5 or x"},    /* signs attach to numbers, stray ones go */
        {"100 %", "100%"},
        {"a % b", "a b"},
    };
    CHECK(examples);
}

static void case_spelling(void **state) {
    (void)state;
    static const example examples[] = {
        {"colour organisation", "color organization"},
        {"centre of the theatre", "center of the theater"},
        {"They travelled to analyse the manoeuvres", "they traveled to analyze the maneuvers"},
        {"defence of the honour", "defense of the honor"},
    };
    CHECK(examples);
}

/* Every English reference transcript in the shared data: the output is non-empty when the
 * input has letters, has no upper case, no punctuation but the kept signs, single spaces, no
 * leading or trailing space; and normalising is idempotent on it. */
static int check_transcripts(const char *relative) {
    const char *path = st_test_data(relative);
    char *data = st_test_read_file(path, NULL);
    assert_non_null(data);
    int lines = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        char *text = strchr(line, '\t');
        text = text ? text + 1 : line;
        char *got = normalize(text);
        size_t n = strlen(got);
        assert_true(n > 0);
        assert_true(got[0] != ' ' && got[n - 1] != ' ');
        assert_null(strstr(got, "  "));
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)got[i];
            if (c >= 0x80) continue;
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '.' || c == '%' || c == '$'))
                fail_msg("%s: \"%s\" -> \"%s\" keeps '%c'", relative, text, got, c);
        }
        char *again = normalize(got);
        if (strcmp(again, got) != 0) fail_msg("not idempotent: \"%s\" -> \"%s\" -> \"%s\"", text, got, again);
        free(again);
        free(got);
        lines++;
    }
    free(data);
    return lines;
}

static void real_references_normalise_cleanly(void **state) {
    (void)state;
    int lines = check_transcripts("asr/ljspeech/transcripts.tsv");
    lines += check_transcripts("asr/classics/transcripts.tsv");
    lines += check_transcripts("asr/lhotse/transcripts.tsv");
    lines += check_transcripts("asr/longform/part1_LJ001-0001_to_0016.txt");
    assert_true(lines >= 20);
    /* and what two of them must read as */
    char *jfk = normalize("And so my fellow Americans, ask not what your country can do for you, ask what you can "
                          "do for your country.");
    assert_string_equal(jfk, "and so my fellow americans ask not what your country can do for you ask what you can do "
                             "for your country");
    free(jfk);
    char *lj = normalize("the earliest book printed with movable types, the Gutenberg, or \"forty-two line Bible\" of "
                         "about 1455, has never been surpassed.");
    assert_string_equal(lj, "the earliest book printed with movable types the gutenberg or 42 line bible of about 1455 "
                            "has never been surpassed");
    free(lj);
}

static void unicode_ascii_fast_path_agrees_with_table(void **state) {
    (void)state;
    /* st_unicode_flags answers digits and letters without the table; compare with a lookup
     * of the neighbouring non-ASCII range answers and the documented ASCII classes */
    for (uint32_t c = 0; c < 0x80; c++) {
        uint32_t f = st_unicode_flags(c);
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        assert_int_equal((f & ST_UNICODE_WORD) != 0, alnum || c == '_');
        assert_int_equal((f & ST_UNICODE_SPACE) != 0, c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F));
    }
    assert_true(st_unicode_flags(0x0301) & ST_UNICODE_MARK_NONSPACING);
    assert_true(st_unicode_flags(0x3000) & ST_UNICODE_SPACE);
    assert_true(st_unicode_flags(0x0436) & ST_UNICODE_WORD); /* ж */
    uint32_t out[ST_UNICODE_MAX_DECOMPOSITION];
    assert_int_equal(st_unicode_nfkd(0xD55C, out), 3); /* 한 = ᄒ ᅡ ᆫ */
    assert_int_equal(out[0], 0x1112);
    assert_int_equal(out[1], 0x1161);
    assert_int_equal(out[2], 0x11AB);
    assert_int_equal(st_unicode_lower(0x130, out), 2); /* İ -> i + combining dot */
    size_t begin, end;
    st_utf8_strip("\xE3\x80\x80 x y\xC2\xA0", 9, &begin, &end);
    assert_int_equal(begin, 4);
    assert_int_equal(end, 7);
}

static void spelling_table_is_sorted_and_found(void **state) {
    (void)state;
    assert_true(st_spelling_count > 1000);
    for (size_t i = 1; i < st_spelling_count; i++)
        assert_true(strcmp(st_spelling_pairs[i - 1].british, st_spelling_pairs[i].british) < 0);
    assert_string_equal(st_spelling_american("colour", 6), "color");
    assert_null(st_spelling_american("color", 5));
    assert_null(st_spelling_american("colourx", 7));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(case_brackets_fillers_and_punctuation),
        cmocka_unit_test(case_contractions_and_titles),
        cmocka_unit_test(case_diacritics_and_compatibility),
        cmocka_unit_test(case_numbers),
        cmocka_unit_test(case_ordinals_decimals_and_fractions),
        cmocka_unit_test(case_currency_and_percent),
        cmocka_unit_test(case_spelling),
        cmocka_unit_test(real_references_normalise_cleanly),
        cmocka_unit_test(unicode_ascii_fast_path_agrees_with_table),
        cmocka_unit_test(spelling_table_is_sorted_and_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
