/* test_wer.c — word error rate: hand-computed alignments, corpus aggregation, normalised
 * comparison, and the bench/wer tool on small files and on a real reference set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"
#include "text/wer.h"

typedef struct wer_case {
    const char *reference, *hypothesis;
    long s, d, i, n;
} wer_case;

static void hand_computed_alignments(void **state) {
    (void)state;
    static const wer_case cases[] = {
        {"a b c", "a b c", 0, 0, 0, 3},
        {"a b c", "a x c", 1, 0, 0, 3},                        /* one substitution */
        {"a b c", "a c", 0, 1, 0, 3},                          /* one deletion */
        {"a b c", "a b x c", 0, 0, 1, 3},                      /* one insertion */
        {"", "a b", 0, 0, 2, 0},                               /* nothing to match */
        {"a b", "", 0, 2, 0, 2},
        {"", "", 0, 0, 0, 0},
        {"the cat sat on the mat", "the cat sat on mat", 0, 1, 0, 6},
        {"a b c d", "b c d e", 0, 1, 1, 4},                    /* shift: 2 edits, not 4 substitutions */
        {"a b", "b a", 2, 0, 0, 2},                            /* tie: substitutions preferred */
        {"x y z", "p q", 2, 1, 0, 3},                          /* cost 3 = 2 S + 1 D */
        {"one  two\tthree", " one two three ", 0, 0, 0, 3},   /* whitespace only separates */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        st_wer_counts c;
        assert_int_equal(st_wer_texts(cases[k].reference, cases[k].hypothesis, false, &c, NULL), STENO_OK);
        if (c.substitutions != cases[k].s || c.deletions != cases[k].d || c.insertions != cases[k].i ||
            c.reference_words != cases[k].n)
            fail_msg("\"%s\" vs \"%s\": S=%ld D=%ld I=%ld N=%ld, expected %ld %ld %ld %ld", cases[k].reference,
                     cases[k].hypothesis, c.substitutions, c.deletions, c.insertions, c.reference_words, cases[k].s,
                     cases[k].d, cases[k].i, cases[k].n);
        assert_int_equal(c.hits, c.reference_words - c.substitutions - c.deletions);
    }
}

static void rates_and_corpus_totals(void **state) {
    (void)state;
    st_wer_counts a, b, total = {0};
    assert_int_equal(st_wer_texts("a b c", "a x c", false, &a, NULL), STENO_OK); /* 1/3 */
    assert_int_equal(st_wer_texts("d", "e f", false, &b, NULL), STENO_OK);       /* S1 I1: 2/1 */
    assert_float_equal(st_wer_rate(&a), 1.0 / 3.0, 1e-12);
    assert_float_equal(st_wer_rate(&b), 2.0, 1e-12);
    st_wer_add(&total, &a);
    st_wer_add(&total, &b);
    /* 3 errors over 4 reference words, not the mean of the two rates */
    assert_float_equal(st_wer_rate(&total), 0.75, 1e-12);
    st_wer_counts empty = {0};
    assert_float_equal(st_wer_rate(&empty), 0.0, 0.0);
}

static void normalised_comparison(void **state) {
    (void)state;
    st_wer_counts c;
    assert_int_equal(st_wer_texts("Twenty-five dollars, Mr. Smith!", "$25 mister smith", true, &c, NULL), STENO_OK);
    assert_int_equal(c.substitutions + c.deletions + c.insertions, 0);
    assert_int_equal(c.reference_words, 3);
    assert_int_equal(st_wer_texts("Twenty-five dollars, Mr. Smith!", "$25 mister smith", false, &c, NULL), STENO_OK);
    assert_int_equal(c.reference_words, 4);
    assert_int_equal(c.substitutions + c.deletions + c.insertions, 4);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs bench/wer and returns its standard output (malloc'd) and exit status. */
static char *run_tool(const char *arguments, int *status) {
    const char *bin = getenv("STENO_BINARY_DIR");
    assert_non_null(bin);
    char command[8192];
    snprintf(command, sizeof command, "%s/bench/wer %s 2>/dev/null", bin, arguments);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    *status = pclose(p);
    return out;
}

static void tool_reports_per_file_and_total(void **state) {
    (void)state;
    char dir[] = "/tmp/steno-wer-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ref[256], hyp[256], args[600];
    snprintf(ref, sizeof ref, "%s/ref.tsv", dir);
    snprintf(hyp, sizeof hyp, "%s/hyp.tsv", dir);
    write_file(ref, "a\tThe cat sat on the mat.\nb\tTwenty-five dollars, Mr. Smith!\nc\tgone\n");
    write_file(hyp, "b\t$25 mister smith\na\tthe cat sat on mat\nz\textra words\n");
    snprintf(args, sizeof args, "%s %s", ref, hyp);
    int status;
    char *out = run_tool(args, &status);
    assert_int_equal(status, 0);
    /* a: one deletion of 6; b: exact after normalising; c: missing, all deleted; total 2/10 */
    assert_string_equal(out, "id\tN\tS\tD\tI\tWER%\n"
                             "a\t6\t0\t1\t0\t16.67\n"
                             "b\t3\t0\t0\t0\t0.00\n"
                             "c\t1\t0\t1\t0\t100.00\n"
                             "TOTAL\t10\t0\t2\t0\t20.00\n");
    free(out);
    out = run_tool("/nonexistent.tsv /nonexistent.tsv", &status);
    assert_int_not_equal(status, 0);
    free(out);
    unlink(ref);
    unlink(hyp);
    rmdir(dir);
}

static void tool_on_real_references_against_themselves(void **state) {
    (void)state;
    const char *ref = st_test_data("asr/ljspeech/transcripts.tsv");
    char args[8300];
    snprintf(args, sizeof args, "%s %s", ref, ref);
    int status;
    char *out = run_tool(args, &status);
    assert_int_equal(status, 0);
    const char *total = strstr(out, "TOTAL\t");
    assert_non_null(total);
    long n, s, d, i;
    assert_int_equal(sscanf(total, "TOTAL\t%ld\t%ld\t%ld\t%ld", &n, &s, &d, &i), 4);
    assert_true(n > 200);
    assert_int_equal(s + d + i, 0);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_computed_alignments),
        cmocka_unit_test(rates_and_corpus_totals),
        cmocka_unit_test(normalised_comparison),
        cmocka_unit_test(tool_reports_per_file_and_total),
        cmocka_unit_test(tool_on_real_references_against_themselves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
