/*
 * test_nn.c — the CPU kernels of nn/ against direct textbook loops written here: the
 * sgemm-backed linear layer, im2col convolution (stride 1 and 2), multi-head attention with
 * and without a causal offset, layer norm, softmax with masking, GELU, and the float32
 * conversion of stored tensors. Inputs are pseudo-random; the loops below share no code with
 * the kernels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/ops.h"
#include "nn/quant.h"
#include "nn/threads.h"

static uint32_t rng_state = 12345u;

static float random_float(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) / 16777216.0 * 2.0 - 1.0);
}

static float *random_array(size_t n) {
    float *a = malloc(n * sizeof(float));
    assert_non_null(a);
    for (size_t i = 0; i < n; i++)
        a[i] = random_float();
    return a;
}

static void assert_all_close(const float *a, const float *b, size_t n, double tolerance) {
    for (size_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > tolerance) fail_msg("index %zu: %.8g vs %.8g", i, a[i], b[i]);
    }
}

static void linear_matches_direct_sum(void **unused) {
    (void)unused;
    enum { ROWS = 5, IN = 37, OUT = 19 };
    float *x = random_array(ROWS * IN), *w = random_array(OUT * IN), *b = random_array(OUT);
    float y[ROWS * OUT], expected[ROWS * OUT];
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        st_nn_linear layer = {.weight = w, .bias = with_bias ? b : NULL, .n_in = IN, .n_out = OUT};
        st_nn_linear_forward(&layer, x, ROWS, y, NULL, 0);
        for (int r = 0; r < ROWS; r++) {
            for (int o = 0; o < OUT; o++) {
                double sum = with_bias ? b[o] : 0.0;
                for (int i = 0; i < IN; i++)
                    sum += (double)x[r * IN + i] * w[o * IN + i];
                expected[r * OUT + o] = (float)sum;
            }
        }
        assert_all_close(y, expected, ROWS * OUT, 1e-5);
    }
    free(x);
    free(w);
    free(b);
}

static void conv1d_matches_direct_convolution(void **unused) {
    (void)unused;
    enum { T = 11, IN = 4, OUT = 6 };
    float *x = random_array(T * IN), *w = random_array(OUT * IN * 3), *b = random_array(OUT);
    float cols[T * IN * 3], y[T * OUT], expected[T * OUT];
    for (int stride = 1; stride <= 2; stride++) {
        int n_out = st_nn_conv1d_k3_out_len(T, stride);
        assert_int_equal(n_out, stride == 1 ? 11 : 6); /* PyTorch: floor((11 + 2 - 3) / s) + 1 */
        st_nn_conv1d_k3(x, T, IN, w, b, OUT, stride, cols, y);
        for (int t = 0; t < n_out; t++) {
            for (int o = 0; o < OUT; o++) {
                double sum = b[o];
                for (int j = 0; j < 3; j++) {
                    int source = t * stride + j - 1; /* padding 1: taps outside the input read 0 */
                    if (source < 0 || source >= T) continue;
                    for (int c = 0; c < IN; c++)
                        sum += (double)w[(o * IN + c) * 3 + j] * x[source * IN + c];
                }
                expected[t * OUT + o] = (float)sum;
            }
        }
        assert_all_close(y, expected, (size_t)n_out * OUT, 1e-5);
    }
    free(x);
    free(w);
    free(b);
}

/* Direct attention of one query row against keys 0..n_visible-1, head by head, with q and k
 * each scaled by d_head^-0.25 as openai-whisper writes it. */
static void direct_attention(const float *q, const float *k, const float *v, int width, int n_head, int n_visible,
                             float *out) {
    int d_head = width / n_head;
    double scale = pow(d_head, -0.25);
    for (int h = 0; h < n_head; h++) {
        double weights[64], max = -INFINITY, total = 0.0;
        for (int j = 0; j < n_visible; j++) {
            double dot = 0.0;
            for (int i = 0; i < d_head; i++)
                dot += (q[h * d_head + i] * scale) * (k[j * width + h * d_head + i] * scale);
            weights[j] = dot;
            if (dot > max) max = dot;
        }
        for (int j = 0; j < n_visible; j++)
            total += weights[j] = exp(weights[j] - max);
        for (int i = 0; i < d_head; i++) {
            double sum = 0.0;
            for (int j = 0; j < n_visible; j++)
                sum += weights[j] / total * v[j * width + h * d_head + i];
            out[h * d_head + i] = (float)sum;
        }
    }
}

static void attention_matches_direct_computation(void **unused) {
    (void)unused;
    enum { N_KV = 9, N_Q = 4, HEADS = 3, D_HEAD = 8, WIDTH = HEADS * D_HEAD };
    float *q = random_array(N_Q * WIDTH), *k = random_array(N_KV * WIDTH), *v = random_array(N_KV * WIDTH);
    float scores[N_Q * N_KV], out[N_Q * WIDTH], expected[WIDTH];
    /* No mask, and a decoder's mask: the 4 queries sit at positions 5..8 after 5 cached. */
    const int offsets[] = {ST_NN_NO_MASK, N_KV - N_Q};
    for (int m = 0; m < 2; m++) {
        st_nn_attention(&(st_nn_attention_args){.q = q,
                                                .q_stride = WIDTH,
                                                .k = k,
                                                .v = v,
                                                .kv_stride = WIDTH,
                                                .n_q = N_Q,
                                                .n_kv = N_KV,
                                                .n_head = HEADS,
                                                .d_head = D_HEAD,
                                                .causal_offset = offsets[m],
                                                .scores = scores,
                                                .scores_floats = N_Q * N_KV,
                                                .out = out,
                                                .out_stride = WIDTH});
        for (int i = 0; i < N_Q; i++) {
            int visible = offsets[m] == ST_NN_NO_MASK ? N_KV : offsets[m] + i + 1;
            direct_attention(q + i * WIDTH, k, v, WIDTH, HEADS, visible, expected);
            assert_all_close(out + i * WIDTH, expected, WIDTH, 1e-5);
        }
    }
    free(q);
    free(k);
    free(v);
}

static void layer_norm_matches_definition(void **unused) {
    (void)unused;
    enum { ROWS = 3, DIM = 50 };
    float *x = random_array(ROWS * DIM), *gamma = random_array(DIM), *beta = random_array(DIM);
    for (int i = 0; i < DIM; i++)
        x[DIM + i] += 1000.0f; /* a large offset must not cost precision */
    float y[ROWS * DIM], expected[ROWS * DIM];
    st_nn_layer_norm(x, ROWS, DIM, gamma, beta, y);
    for (int r = 0; r < ROWS; r++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < DIM; i++)
            mean += x[r * DIM + i] / (double)DIM;
        for (int i = 0; i < DIM; i++)
            var += pow(x[r * DIM + i] - mean, 2) / DIM;
        for (int i = 0; i < DIM; i++)
            expected[r * DIM + i] = (float)((x[r * DIM + i] - mean) / sqrt(var + 1e-5) * gamma[i] + beta[i]);
    }
    assert_all_close(y, expected, ROWS * DIM, 5e-4);
    free(x);
    free(gamma);
    free(beta);
}

static void softmax_normalises_and_masks(void **unused) {
    (void)unused;
    float row[6] = {1.0f, 2.0f, 3.0f, 1000.0f, -5.0f, 7.0f};
    st_nn_softmax_row(row, 3, 6);
    double total = exp(1) + exp(2) + exp(3);
    const float expected[6] = {(float)(exp(1) / total), (float)(exp(2) / total), (float)(exp(3) / total), 0, 0, 0};
    assert_all_close(row, expected, 6, 1e-6);
    float large[2] = {1000.0f, 1000.0f}; /* would overflow expf without the max shift */
    st_nn_softmax_row(large, 2, 2);
    assert_all_close(large, (const float[]){0.5f, 0.5f}, 2, 1e-7);
}

static void gelu_is_the_exact_erf_form(void **unused) {
    (void)unused;
    /* x * Phi(x), Phi the standard normal CDF: Phi(1) = 0.8413447461, Phi(-1) = 0.1586552539,
     * Phi(2) = 0.9772498681. The tanh approximation is off by about 1e-4 at these points. */
    float x[5] = {0.0f, 1.0f, -1.0f, 2.0f, -2.0f};
    st_nn_gelu(x, 5);
    assert_all_close(x, (const float[]){0.0f, 0.8413447461f, -0.1586552539f, 2 * 0.9772498681f, -2 * 0.0227501319f}, 5,
                     1e-6);
}

static void tensor_conversion_reads_f16_and_refuses_integers(void **unused) {
    (void)unused;
    const uint16_t halves[4] = {0x3c00, 0xc000, 0x3800, 0x0000}; /* 1, -2, 0.5, 0 */
    st_tensor tensor = {.name = "t", .dtype = ST_DTYPE_F16, .n_dims = 2, .shape = {2, 2}, .data = halves, .n_bytes = 8};
    float *out;
    st_error err;
    assert_int_equal(st_nn_tensor_to_f32(&tensor, &out, &err), STENO_OK);
    assert_all_close(out, (const float[]){1.0f, -2.0f, 0.5f, 0.0f}, 4, 0.0);
    assert_int_equal((uintptr_t)out % 64, 0);
    st_nn_free(out);
    tensor.n_bytes = 6; /* fewer bytes than the shape needs */
    assert_int_equal(st_nn_tensor_to_f32(&tensor, &out, &err), STENO_ERR_FORMAT);
    assert_null(out);
    const int32_t integers[4] = {1, 2, 3, 4};
    st_tensor ints = {
        .name = "ints", .dtype = ST_DTYPE_I32, .n_dims = 1, .shape = {4}, .data = integers, .n_bytes = 16};
    assert_int_equal(st_nn_tensor_to_f32(&ints, &out, &err), STENO_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "'ints'"));
}

static void thread_count_is_settable(void **unused) {
    (void)unused;
    st_nn_set_threads(1);
    assert_int_equal(st_nn_get_threads(), 1);
    st_nn_set_threads(2);
    assert_int_equal(st_nn_get_threads(), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear_matches_direct_sum),
        cmocka_unit_test(conv1d_matches_direct_convolution),
        cmocka_unit_test(attention_matches_direct_computation),
        cmocka_unit_test(layer_norm_matches_definition),
        cmocka_unit_test(softmax_normalises_and_masks),
        cmocka_unit_test(gelu_is_the_exact_erf_form),
        cmocka_unit_test(tensor_conversion_reads_f16_and_refuses_integers),
        cmocka_unit_test(thread_count_is_settable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
