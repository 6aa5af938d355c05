/* test_vad_golden.c — steno's Silero VAD network in C against onnxruntime running the same
 * ONNX file (scripts/reference_vad.mjs, run first by the reference_vad CTest fixture): the
 * speech probability of every 32 ms frame of real speech (jfk, an AMI meeting excerpt), for
 * Silero v5 and v6, within 1e-4. The C side reads the samples the reference read, so only the
 * networks are compared. Also: the spans of jfk cover its speech. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_support.h"
#include "vad/vad.h"

/* Must name the same clips as scripts/make-vad-references. */
static const char *const clips[] = {"jfk", "ami"};

static void compare(const char *model) {
    char relative[128];
    snprintf(relative, sizeof relative, "silero/silero_vad_%s.onnx", model);
    st_vad *vad;
    st_error err;
    if (st_vad_open(st_test_model(relative), &vad, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    for (size_t c = 0; c < sizeof clips / sizeof clips[0]; c++) {
        size_t sample_bytes, prob_bytes;
        snprintf(relative, sizeof relative, "vad/%s-%s.samples.f32", model, clips[c]);
        float *samples = st_test_reference_array(relative, 0, &sample_bytes);
        size_t n_samples = sample_bytes / 4, n_frames = st_vad_n_frames(n_samples);
        snprintf(relative, sizeof relative, "vad/%s-%s.probs.f32", model, clips[c]);
        float *reference = st_test_reference_array(relative, n_frames * 4, &prob_bytes);
        float *probs = malloc(n_frames * sizeof *probs);
        assert_non_null(probs);
        assert_int_equal(st_vad_probabilities(vad, samples, n_samples, probs, &err), STENO_OK);
        double worst = 0.0;
        size_t speech = 0;
        for (size_t i = 0; i < n_frames; i++) {
            worst = fmax(worst, fabs((double)probs[i] - reference[i]));
            speech += reference[i] >= 0.5f;
        }
        printf("silero %s %s: %zu frames (%zu speech), max |C - onnxruntime| = %.3g\n", model, clips[c], n_frames,
               speech, worst);
        assert_true(speech > n_frames / 4); /* real speech: the comparison covers both classes */
        assert_true(worst <= 1e-4);
        free(probs);
        free(reference);
        free(samples);
    }
    st_vad_free(vad);
}

static void silero_v5_matches_onnxruntime(void **state) {
    (void)state;
    compare("v5");
}

static void silero_v6_matches_onnxruntime(void **state) {
    (void)state;
    compare("v6");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(silero_v5_matches_onnxruntime),
        cmocka_unit_test(silero_v6_matches_onnxruntime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
