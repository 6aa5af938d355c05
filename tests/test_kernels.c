/*
 * test_kernels.c — every instruction-set kernel this CPU runs (nn/kernels.h) against direct
 * loops in double written here (half, q8_0, int8 and bf16 weights, also at odd addresses), the
 * stored-weight linear layer on both of its paths (matrix-vector kernels, and sgemm on widened
 * blocks with whole, partial or no scratch), the attention's ways of splitting work and of
 * storing keys, and the thread pool (each task exactly once, many calls in a row, two callers
 * at once), and the compute types' names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention.h"
#include "nn/kernels.h"
#include "nn/linear.h"
#include "nn/quant.h"
#include "nn/threads.h"
#include "steno.h"

static uint32_t rng_state = 777u;

static float random_float(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) / 16777216.0 * 2.0 - 1.0);
}

/* The kernel sets to test: portable always, the others where the CPU has them. */
static int kernel_sets(const st_nn_kernels *sets[3]) {
    int n = 0;
    sets[n++] = st_nn_kernels_portable();
    if (st_nn_kernels_avx2()) sets[n++] = st_nn_kernels_avx2();
    if (st_nn_kernels_avx512()) sets[n++] = st_nn_kernels_avx512();
    return n;
}

/* Half weights [n_out][n_in] and their exact float values. */
static void random_halves(uint16_t *halves, float *values, size_t n) {
    for (size_t i = 0; i < n; i++) {
        halves[i] = st_fp32_to_fp16(random_float());
        values[i] = st_fp16_to_fp32(halves[i]);
    }
}

/* A random int8 key or value and a random per-key scale, for the attention kernels on int8. */
static int8_t random_byte(void) {
    return (int8_t)(random_float() * 127.0f);
}

static float random_scale(void) {
    return (0.25f + fabsf(random_float())) / 127.0f;
}

static double reference_dot(const float *x, const float *w, int n) {
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i] * w[i];
    return sum;
}

static void f16_to_f32_is_exact_for_every_half(void **unused) {
    (void)unused;
    enum { N = 65536 };
    uint16_t *halves = malloc(N * sizeof *halves);
    float *out = malloc((N + 16) * sizeof *out);
    assert_non_null(halves);
    assert_non_null(out);
    for (int i = 0; i < N; i++)
        halves[i] = (uint16_t)i;
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        /* an odd length exercises the tail; the sentinel after it must stay */
        out[N - 1] = 12345.0f;
        sets[k]->f16_to_f32(halves, out, N - 1);
        assert_true(out[N - 1] == 12345.0f);
        for (int i = 0; i < N - 1; i++) {
            float expected = st_fp16_to_fp32(halves[i]);
            if (memcmp(&out[i], &expected, sizeof expected) != 0 && !(isnan(out[i]) && isnan(expected)))
                fail_msg("%s: half 0x%04x gives %g, expected %g", sets[k]->name, i, out[i], expected);
        }
    }
    free(halves);
    free(out);
}

/* Random ggml q8_0 rows [n_out][n_in] at w (n_in a multiple of 32): per block a half scale d
 * and 32 int8 q; values[] gets each weight's exact value q * d, computed here. */
static void random_q8_0(unsigned char *w, float *values, int n_out, int n_in) {
    for (int o = 0; o < n_out; o++) {
        for (int b = 0; b < n_in / 32; b++) {
            unsigned char *block = w + ((size_t)o * (n_in / 32) + b) * 34;
            uint16_t d = st_fp32_to_fp16(0.001f + 0.02f * fabsf(random_float()));
            block[0] = (unsigned char)(d & 0xff);
            block[1] = (unsigned char)(d >> 8);
            for (int j = 0; j < 32; j++) {
                int8_t q = (int8_t)(random_float() * 127.0f);
                memcpy(block + 2 + j, &q, 1);
                values[(size_t)o * n_in + b * 32 + j] = (float)q * st_fp16_to_fp32(d);
            }
        }
    }
}

/* Random CTranslate2 int8 rows [n_out][n_in] at w with n_out float32 scales at scales (both
 * possibly unaligned); values[] gets q / scale. */
static void random_i8(unsigned char *w, unsigned char *scales, float *values, int n_out, int n_in) {
    for (int o = 0; o < n_out; o++) {
        float scale = 60.0f + 100.0f * fabsf(random_float());
        memcpy(scales + (size_t)o * sizeof scale, &scale, sizeof scale);
        for (int i = 0; i < n_in; i++) {
            int8_t q = (int8_t)(random_float() * 127.0f);
            memcpy(w + (size_t)o * n_in + i, &q, 1);
            values[(size_t)o * n_in + i] = (float)q / scale;
        }
    }
}

/* Runs every kernel set's matrix-vector product for dtype (F16 or Q8_0) on w against
 * double sums over the exact weight values wf, for 1 .. 9 rows, with and without bias, on
 * outputs 2 .. n_out-1 (the first two must be left alone). */
static void check_gemv(st_dtype dtype, const void *w, const float *wf, int n_in, int n_out) {
    const int max_rows = 9, stride = n_out + 3;
    float *x = malloc((size_t)max_rows * n_in * sizeof *x), *bias = malloc(n_out * sizeof *bias);
    float *y = malloc((size_t)max_rows * stride * sizeof *y);
    assert_true(x && bias && y);
    for (int i = 0; i < max_rows * n_in; i++)
        x[i] = random_float();
    for (int o = 0; o < n_out; o++)
        bias[o] = random_float();
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        for (int rows = 1; rows <= max_rows; rows++) {
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                for (int i = 0; i < max_rows * stride; i++)
                    y[i] = -999.0f;
                const float *b = with_bias ? bias : NULL;
                if (dtype == ST_DTYPE_F16)
                    sets[k]->gemv_f16(w, b, n_in, x, rows, y, stride, 2, n_out);
                else
                    sets[k]->gemv_q8_0(w, b, n_in, x, rows, y, stride, 2, n_out);
                for (int r = 0; r < rows; r++) {
                    for (int o = 0; o < n_out; o++) {
                        float got = y[r * stride + o];
                        if (o < 2) {
                            assert_true(got == -999.0f);
                            continue;
                        }
                        double expected = reference_dot(x + r * n_in, wf + (size_t)o * n_in, n_in);
                        if (with_bias) expected += bias[o];
                        if (fabs(got - expected) > 1e-5 * (1.0 + fabs(expected)))
                            fail_msg("%s %s n_in %d rows %d: y[%d][%d] = %.8g, expected %.8g", sets[k]->name,
                                     st_dtype_name(dtype), n_in, rows, r, o, got, expected);
                    }
                }
            }
        }
    }
    free(x);
    free(bias);
    free(y);
}

static void gemv_f16_matches_double_sums(void **unused) {
    (void)unused;
    /* n_in values that are and are not multiples of the vector widths */
    const int widths[] = {512, 37, 8, 16, 100};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int n_in = widths[wi], n_out = 23;
        size_t n = (size_t)n_out * n_in;
        uint16_t *w = malloc(n * sizeof *w);
        unsigned char *odd = malloc(n * sizeof *w + 1);
        float *wf = malloc(n * sizeof *wf);
        assert_true(w && odd && wf);
        random_halves(w, wf, n);
        check_gemv(ST_DTYPE_F16, w, wf, n_in, n_out);
        /* the same halves one byte in, as ggml packs tensors at odd offsets */
        memcpy(odd + 1, w, n * sizeof *w);
        check_gemv(ST_DTYPE_F16, odd + 1, wf, n_in, n_out);
        free(w);
        free(odd);
        free(wf);
    }
}

static void gemv_q8_0_matches_double_sums(void **unused) {
    (void)unused;
    const int widths[] = {32, 64, 512, 96};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int n_in = widths[wi], n_out = 23;
        /* one byte in, as ggml packs tensors at odd offsets */
        unsigned char *buffer = malloc((size_t)n_out * n_in / 32 * 34 + 1);
        float *wf = malloc((size_t)n_out * n_in * sizeof *wf), *converted = malloc((size_t)n_out * n_in * sizeof *wf);
        assert_true(buffer && wf && converted);
        random_q8_0(buffer + 1, wf, n_out, n_in);
        /* the layout written here is the one the loaders' conversion reads */
        assert_int_equal(st_convert_to_f32(ST_DTYPE_Q8_0, buffer + 1, converted, (size_t)n_out * n_in), STENO_OK);
        assert_memory_equal(converted, wf, (size_t)n_out * n_in * sizeof *wf);
        check_gemv(ST_DTYPE_Q8_0, buffer + 1, wf, n_in, n_out);
        free(buffer);
        free(wf);
        free(converted);
    }
}

/* The regions the packed (int8 and bf16) kernels are asked for, out of PACKED_ROWS rows of x:
 * rows 1 to 1 + packed_row_counts[c] (all of them for the last count), and the blocks of 16
 * outputs from 1 when there are two or more. y is set to -999 before each call, and a kernel
 * must leave it so outside its region. */
enum { PACKED_ROWS = 37 };
static const int packed_row_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, PACKED_ROWS};
#define N_PACKED_CASES (sizeof packed_row_counts / sizeof packed_row_counts[0])

typedef struct packed_region {
    int row_begin, row_end, block_begin;
} packed_region;

/* Case c's region, with y (PACKED_ROWS rows of y_stride) set to -999. */
static packed_region packed_region_for(size_t c, int n_blocks, float *y, int y_stride) {
    for (int i = 0; i < PACKED_ROWS * y_stride; i++)
        y[i] = -999.0f;
    const int count = packed_row_counts[c];
    return (packed_region){1, count < PACKED_ROWS ? 1 + count : PACKED_ROWS, n_blocks > 1 ? 1 : 0};
}

/* Whether y[r][o] lies in the region (and below n_out); fails when `set` wrote outside it. */
static int in_packed_region(const packed_region *region, const float *y, int y_stride, int n_out, int r, int o,
                            const char *set) {
    if (r >= region->row_begin && r < region->row_end && o >= 16 * region->block_begin && o < n_out) return 1;
    if (y[(size_t)r * y_stride + o] != -999.0f) fail_msg("%s wrote y[%d][%d]", set, r, o);
    return 0;
}

/* The int8 kernels: quantized activations byte for byte the same in every set and within half
 * a step of x * scale; the products bit for bit the same in every set and equal to integer sums
 * over the unpacked weights (layers built through st_nn_linear_init from CTranslate2 int8 at
 * odd addresses), for row and output counts on both sides of the tiles, and nothing written
 * outside the rows and blocks asked for. */
static void int8_kernels_match_integer_sums(void **unused) {
    (void)unused;
    const int widths[] = {512, 37, 8, 16, 100, 3};
    const int outputs[] = {23, 64, 5, 100};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        for (size_t oi = 0; oi < sizeof outputs / sizeof outputs[0]; oi++) {
            const int n_in = widths[wi], n_out = outputs[oi], k_pad = (n_in + 3) / 4 * 4, stride = n_out + 5;
            const int n_blocks = (n_out + 15) / 16;
            unsigned char *w = malloc((size_t)n_out * n_in + 1), *scales = malloc(n_out * sizeof(float) + 3);
            float *wf = malloc((size_t)n_out * n_in * sizeof *wf), *x = malloc((size_t)PACKED_ROWS * n_in * sizeof *x);
            uint8_t *xq = malloc((size_t)PACKED_ROWS * k_pad), *xq_portable = malloc((size_t)PACKED_ROWS * k_pad);
            float x_inv[PACKED_ROWS], x_inv_portable[PACKED_ROWS];
            float *y = malloc((size_t)PACKED_ROWS * stride * sizeof *y), *bias = malloc(n_out * sizeof *bias);
            assert_true(w && scales && wf && x && xq && xq_portable && y && bias);
            random_i8(w + 1, scales + 3, wf, n_out, n_in);
            for (int i = 0; i < PACKED_ROWS * n_in; i++)
                x[i] = 3.0f * random_float();
            /* the extremes: weights -128 (a file may hold it) against x at -127 after
             * quantization, the largest pair of products AVX2's 16-bit sums must hold */
            for (int i = 0; i < n_in && i < 4; i++) {
                w[1 + i] = 0x80;
                for (int r = 0; r < PACKED_ROWS; r++)
                    x[(size_t)r * n_in + i] = -4.0f;
            }
            for (int i = 0; i < n_in; i++) /* a zero row */
                x[(size_t)4 * n_in + i] = 0.0f;
            for (int o = 0; o < n_out; o++)
                bias[o] = random_float();
            st_tensor tensor = {.name = "w",
                                .dtype = ST_DTYPE_I8,
                                .n_dims = 2,
                                .shape = {n_out, n_in},
                                .data = w + 1,
                                .n_bytes = (size_t)n_out * n_in,
                                .row_scales = scales + 3};
            st_nn_linear layer;
            st_error err = {0};
            assert_int_equal(st_nn_linear_init(&layer, &tensor, NULL, &err), STENO_OK);
            assert_int_equal(layer.dtype, ST_DTYPE_I8);
            st_nn_i8_weights weights = layer.i8;
            st_nn_portable_quantize_rows(x, PACKED_ROWS, n_in, k_pad, xq_portable, x_inv_portable);
            for (int r = 0; r < PACKED_ROWS; r++) {
                float max = 0.0f;
                for (int i = 0; i < n_in; i++)
                    max = fabsf(x[(size_t)r * n_in + i]) > max ? fabsf(x[(size_t)r * n_in + i]) : max;
                float scale = max > 0.0f ? 127.0f / max : 1.0f;
                assert_true(x_inv_portable[r] == 1.0f / scale);
                for (int i = 0; i < k_pad; i++) {
                    int q = xq_portable[(size_t)r * k_pad + i] - 128;
                    double exact = i < n_in ? (double)x[(size_t)r * n_in + i] * scale : 0.0;
                    if (fabs(q - exact) > 0.5 + 1e-4 || q < -127 || q > 127)
                        fail_msg("quantized x[%d][%d] = %d for %.6f", r, i, q, exact);
                }
            }
            const st_nn_kernels *sets[3];
            int n_sets = kernel_sets(sets);
            for (int k = 0; k < n_sets; k++) {
                sets[k]->quantize_rows(x, PACKED_ROWS, n_in, k_pad, xq, x_inv);
                assert_memory_equal(xq, xq_portable, (size_t)PACKED_ROWS * k_pad);
                assert_memory_equal(x_inv, x_inv_portable, sizeof x_inv);
                for (size_t c = 0; c < N_PACKED_CASES; c++) {
                    for (int with_bias = 0; with_bias < 2; with_bias++) {
                        const packed_region region = packed_region_for(c, n_blocks, y, stride);
                        weights.bias = with_bias ? bias : NULL;
                        sets[k]->gemm_i8(&weights, xq, x_inv, region.row_begin, region.row_end, region.block_begin,
                                         n_blocks, y, stride);
                        for (int r = 0; r < PACKED_ROWS; r++) {
                            for (int o = 0; o < stride; o++) {
                                if (!in_packed_region(&region, y, stride, n_out, r, o, sets[k]->name)) continue;
                                float got = y[(size_t)r * stride + o];
                                int32_t sum = 0;
                                for (int i = 0; i < n_in; i++)
                                    sum += ((int32_t)xq[(size_t)r * k_pad + i] - 128) *
                                           (int8_t)w[1 + (size_t)o * n_in + i];
                                float scale;
                                memcpy(&scale, scales + 3 + (size_t)o * sizeof scale, sizeof scale);
                                float m = x_inv[r] * (1.0f / scale);
                                float expected = (with_bias ? bias[o] : 0.0f) + (float)sum * m;
                                if (memcmp(&got, &expected, sizeof got) != 0)
                                    fail_msg("%s n_in %d n_out %d rows %d: y[%d][%d] = %.9g, expected %.9g",
                                             sets[k]->name, n_in, n_out, packed_row_counts[c], r, o, got, expected);
                            }
                        }
                    }
                }
            }
            st_nn_linear_free(&layer);
            free(w);
            free(scales);
            free(wf);
            free(x);
            free(xq);
            free(xq_portable);
            free(y);
            free(bias);
        }
    }
}

static void softmax_matches_the_library_exp(void **unused) {
    (void)unused;
    enum { COLS = 75 };
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        for (int n_valid = 1; n_valid <= COLS; n_valid += 7) {
            float row[COLS], input[COLS];
            double expected[COLS], max = -INFINITY, total = 0.0;
            for (int i = 0; i < COLS; i++)
                input[i] = row[i] = 30.0f * random_float(); /* exponents down to -60 below the max */
            for (int i = 0; i < n_valid; i++)
                max = row[i] > max ? row[i] : max;
            for (int i = 0; i < n_valid; i++)
                total += expected[i] = exp(row[i] - max);
            sets[k]->softmax(row, n_valid, COLS);
            for (int i = 0; i < COLS; i++) {
                double want = i < n_valid ? expected[i] / total : 0.0;
                /* a few ulps, plus the rounding of x - max itself (an ulp of up to 60) */
                double tolerance = want * (4e-7 + 1.2e-7 * fabs(i < n_valid ? input[i] - max : 0.0));
                if (fabs(row[i] - want) > tolerance)
                    fail_msg("%s n_valid %d: p[%d] = %.9g, expected %.9g", sets[k]->name, n_valid, i, row[i], want);
            }
        }
    }
}

static uint64_t random_bits(void) {
    static uint64_t state = 0x9e3779b97f4a7c15u;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* Each input's exp from the set against the C library's, bit for bit; on glibc the vector sets
 * must match (they repeat its algorithm), elsewhere only where their run-time check says so. */
static void check_exp_f64(const st_nn_kernels *set, const double *x, size_t n) {
    double *y = malloc(n * sizeof *y);
    assert_non_null(y);
    set->exp_f64(x, y, n);
    for (size_t i = 0; i < n; i++) {
        double want = exp(x[i]);
        if (memcmp(&y[i], &want, sizeof want) != 0)
            fail_msg("%s: exp(%a) = %a, the library gives %a", set->name, x[i], y[i], want);
    }
    free(y);
}

static void exp_f64_is_the_library_exp(void **unused) {
    (void)unused;
    enum { N_DENSE = 1 << 22, N_SLOTS = 2 * 128 * 746, N_RANDOM = 1 << 20 };
    const size_t n = (size_t)N_DENSE + 5 * N_SLOTS + 3 * 1100 + 2 * N_RANDOM;
    double *x = malloc(n * sizeof *x);
    assert_non_null(x);
    size_t m = 0;
    for (int i = 0; i < N_DENSE; i++) /* [-746, 0], 4.2e6 points 1.8e-4 apart */
        x[m++] = -746.0 * i / (N_DENSE - 1);
    /* where k = round(x * 128 / ln2) changes (x at a half-integer multiple of ln2 / 128) and the
     * few doubles around it */
    for (int j = 0; j < N_SLOTS; j++) {
        double edge = -(j + 0.5) * 0x1.62e42fefa39efp-8;
        x[m++] = edge;
        x[m++] = nextafter(edge, 0.0);
        x[m++] = nextafter(edge, -INFINITY);
        x[m++] = nextafter(nextafter(edge, 0.0), 0.0);
        x[m++] = nextafter(nextafter(edge, -INFINITY), -INFINITY);
    }
    for (int e = 0; e < 1100; e++) { /* tiny magnitudes, both signs, and the subnormal results */
        x[m++] = -ldexp(1.0, -e);
        x[m++] = ldexp(1.0, -e);
        x[m++] = -708.0 - 38.0 * e / 1100.0;
    }
    for (int i = 0; i < N_RANDOM; i++) {
        uint64_t bits = random_bits();
        memcpy(&x[m++], &bits, sizeof bits); /* any double: NaNs, infinities, overflow too */
        x[m++] = -800.0 * (double)(bits >> 11) / 0x1p53 + 10.0;
    }
    assert_int_equal(m, n);
    static const double edges[] = {-INFINITY, INFINITY, -0.0, 0.0, -0x1p-1074, -0x1p-54, -0x1.fffffffffffffp-55,
                                   -512.0, -511.99999999999994, -745.1332191019411, -745.1332191019412,
                                   -708.3964185322641, -1024.0, -1023.9999999999999, NAN};
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
#if !defined(__GLIBC__)
        if (!st_nn_exp_matches_libc(sets[k]->exp_f64)) continue;
#endif
        assert_true(st_nn_exp_matches_libc(sets[k]->exp_f64));
        check_exp_f64(sets[k], x, n);
        check_exp_f64(sets[k], edges, sizeof edges / sizeof edges[0]);
        check_exp_f64(sets[k], x + 3, 5); /* the scalar tail after a part vector */
    }
    free(x);
}

/* A row of logits as the decoder sees them: spread like a model's, some masked to -inf. */
static void random_logits(float *row, int n) {
    for (int i = 0; i < n; i++)
        row[i] = 20.0f * random_float() - 5.0f;
    int begin = (int)(fabsf(random_float()) * (float)n),
        end = begin + (int)(fabsf(random_float()) * (float)(n - begin));
    for (int i = begin; i < end; i++)
        row[i] = -INFINITY;
}

static double loop_exp_sum(const float *values, int n, float shift) {
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += exp((double)values[i] - shift);
    return sum;
}

static float loop_max(const float *values, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        max = values[i] > max ? values[i] : max;
    return max;
}

static void exp_sum_and_max_are_the_loops(void **unused) {
    (void)unused;
    enum { N_VOCAB = 51864 };
    float *row = malloc(N_VOCAB * sizeof *row);
    assert_non_null(row);
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int trial = 0; trial < 40; trial++) {
        int n = trial < 30 ? trial + 1 : N_VOCAB - trial; /* every tail length, and whole rows */
        random_logits(row, n);
        if (trial % 4 == 1) row[n / 2] = -0.0f, row[n - 1] = 0.0f; /* the first zero's sign decides */
        if (trial % 4 == 2) row[0] = NAN;
        if (trial % 8 == 3)
            for (int i = 0; i < n; i++)
                row[i] = -INFINITY; /* all masked */
        float max = loop_max(row, n);
        double sum = loop_exp_sum(row, n, max);
        for (int k = 0; k < n_sets; k++) {
            float got_max = sets[k]->max(row, n);
            if (memcmp(&got_max, &max, sizeof max) != 0)
                fail_msg("%s n %d: max %a, the loop gives %a", sets[k]->name, n, got_max, max);
            double got_sum = sets[k]->exp_sum(row, n, max);
            if (memcmp(&got_sum, &sum, sizeof sum) != 0)
                fail_msg("%s n %d: exp_sum %a, the loop gives %a", sets[k]->name, n, got_sum, sum);
        }
    }
    for (int k = 0; k < n_sets; k++)
        assert_true(isinf(sets[k]->max(row, 0)) && sets[k]->exp_sum(row, 0, 0.0f) == 0.0);
    free(row);
}

static void gelu_matches_the_erf_definition(void **unused) {
    (void)unused;
    enum { N = 4001 };
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        static float x[N];
        for (int i = 0; i < N; i++)
            x[i] = -10.0f + 20.0f * (float)i / (N - 1); /* also the tails, where erf saturates */
        sets[k]->gelu(x, N);
        for (int i = 0; i < N; i++) {
            double in = (double)(-10.0f + 20.0f * (float)i / (N - 1));
            double expected = 0.5 * in * (1.0 + erf(in / sqrt(2.0)));
            /* 2e-7 of erf, times |x|/2, plus float rounding of the result */
            if (fabs(x[i] - expected) > 1e-7 * fabs(in) + 2e-7 * fabs(expected) + 1e-12)
                fail_msg("%s: gelu(%.6g) = %.9g, expected %.9g", sets[k]->name, in, x[i], expected);
        }
    }
}

static void attention_kernels_match_double_sums(void **unused) {
    (void)unused;
    enum { N_KV = 37, D_HEAD = 64, Q_STRIDE = 70, OUT_STRIDE = 66, V_STRIDE = 80 };
    static float q[ST_NN_FEW_QUERIES * Q_STRIDE], kt[D_HEAD * N_KV], v[N_KV * V_STRIDE], p[ST_NN_FEW_QUERIES * N_KV];
    static float scores[ST_NN_FEW_QUERIES * N_KV], out[ST_NN_FEW_QUERIES * OUT_STRIDE];
    /* int8 keys in blocks of 16 (kernels.h), the 11 slots past N_KV = 37 zero, and values; each
     * key's and value's scale; kt and v hold their products, the values the int8 kernels owe
     * up to float rounding */
    enum { N_BLOCKS = (N_KV + ST_NN_KEY_BLOCK - 1) / ST_NN_KEY_BLOCK };
    static int8_t kt_blocked[N_BLOCKS * D_HEAD * ST_NN_KEY_BLOCK], v_bytes[N_KV * V_STRIDE];
    static float k_scales[N_BLOCKS * ST_NN_KEY_BLOCK], v_scales[N_KV];
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        q[i] = random_float();
    for (int j = 0; j < N_KV; j++) {
        k_scales[j] = random_scale();
        v_scales[j] = random_scale();
        for (int c = 0; c < D_HEAD; c++) {
            int8_t key = random_byte();
            kt_blocked[((j / ST_NN_KEY_BLOCK) * D_HEAD + c) * ST_NN_KEY_BLOCK + j % ST_NN_KEY_BLOCK] = key;
            kt[c * N_KV + j] = key * k_scales[j];
        }
        for (int c = 0; c < V_STRIDE; c++) {
            v_bytes[j * V_STRIDE + c] = random_byte();
            v[j * V_STRIDE + c] = v_bytes[j * V_STRIDE + c] * v_scales[j];
        }
    }
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        p[i] = random_float();
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        for (int n_q = 1; n_q <= 2 * ST_NN_FEW_QUERIES; n_q++) {
            /* 1 .. 8 queries on float32 keys and values, then 1 .. 8 on int8 */
            int bytes = n_q > ST_NN_FEW_QUERIES;
            if (bytes) n_q -= ST_NN_FEW_QUERIES;
            if (bytes) {
                sets[k]->scores_i8(q, n_q, Q_STRIDE, kt_blocked, k_scales, D_HEAD, N_KV, 0.125f, scores);
                sets[k]->weighted_sum_i8(p, n_q, N_KV, v_bytes, v_scales, V_STRIDE, D_HEAD, out, OUT_STRIDE);
            } else {
                sets[k]->scores(q, n_q, Q_STRIDE, kt, D_HEAD, N_KV, 0.125f, scores);
                sets[k]->weighted_sum(p, n_q, N_KV, v, V_STRIDE, D_HEAD, out, OUT_STRIDE);
            }
            for (int i = 0; i < n_q; i++) {
                for (int j = 0; j < N_KV; j++) {
                    double expected = 0.0;
                    for (int c = 0; c < D_HEAD; c++)
                        expected += (double)q[i * Q_STRIDE + c] * kt[c * N_KV + j];
                    expected *= 0.125;
                    if (fabs(scores[i * N_KV + j] - expected) > 1e-5)
                        fail_msg("%s n_q %d: score[%d][%d] %g, expected %g", sets[k]->name, n_q, i, j,
                                 scores[i * N_KV + j], expected);
                }
                for (int c = 0; c < D_HEAD; c++) {
                    double expected = 0.0;
                    for (int j = 0; j < N_KV; j++)
                        expected += (double)p[i * N_KV + j] * v[j * V_STRIDE + c];
                    if (fabs(out[i * OUT_STRIDE + c] - expected) > 1e-5)
                        fail_msg("%s n_q %d: out[%d][%d] %g, expected %g", sets[k]->name, n_q, i, c,
                                 out[i * OUT_STRIDE + c], expected);
                }
            }
            if (bytes) n_q += ST_NN_FEW_QUERIES;
        }
    }
}

/* The AVX2 attention kernels take the portable ones' operations in the same order (vectorised
 * across keys or columns), so they must give the same bits: the transcripts of AVX2 machines
 * do not change with them. Float, int8 and bf16 keys and values, query counts 1 to 9 (the
 * 4-row and 2-row tiles and their tails), key counts that are not multiples of 16 or 2. */
static void avx2_attention_is_the_portable_bits(void **unused) {
    (void)unused;
    const st_nn_kernels *avx2 = st_nn_kernels_avx2(), *portable = st_nn_kernels_portable();
    if (!avx2) skip();
    assert_ptr_not_equal(avx2->attend_bf16, portable->attend_bf16); /* its own, not the portable C */
    assert_ptr_not_equal(avx2->scores_i8, portable->scores_i8);
    assert_ptr_not_equal(avx2->weighted_sum_i8, portable->weighted_sum_i8);
    assert_ptr_not_equal(avx2->weighted_sum, portable->weighted_sum);
#ifdef __GLIBC__
    assert_true(st_nn_avx2_exp_is_libc()); /* its softmax: expf's bits 8 at a time */
#endif
    assert_ptr_not_equal(avx2->quantize_rows, portable->quantize_rows); /* its bytes: int8_kernels_match_integer_sums */
    enum { D = ST_NN_BF16_HEAD, MAX_Q = 9, MAX_KV = 1500, Q_STRIDE = 3 * D, OUT_STRIDE = 2 * D + 8 };
    const int key_counts[] = {1500, 37, 16, 1};
    float *q = malloc(sizeof(float) * MAX_Q * Q_STRIDE), *p = malloc(sizeof(float) * MAX_Q * MAX_KV);
    /* scores, then the weighted sums' rows (the columns between them stay 0) */
    const size_t n_out = (size_t)MAX_Q * (MAX_KV + OUT_STRIDE), n_halves = (size_t)(MAX_KV + 16) * (D + 8);
    float *want = calloc(n_out, sizeof(float)), *got = calloc(n_out, sizeof(float));
    uint16_t *keys = malloc(sizeof(uint16_t) * n_halves), *values = malloc(sizeof(uint16_t) * n_halves);
    int8_t *key_bytes = malloc(n_halves), *value_bytes = malloc(n_halves);
    float *values_f32 = malloc(sizeof(float) * n_halves), *scales = malloc(sizeof(float) * 2 * (MAX_KV + 16));
    assert_true(q && p && want && got && keys && values && key_bytes && value_bytes && values_f32 && scales);
    for (size_t i = 0; i < n_halves; i++)
        values_f32[i] = random_float();
    for (int i = 0; i < MAX_Q * Q_STRIDE; i++)
        q[i] = 3.0f * random_float();
    for (int i = 0; i < MAX_Q * MAX_KV; i++)
        p[i] = random_float() * random_float();
    for (size_t kc = 0; kc < sizeof key_counts / sizeof key_counts[0]; kc++) {
        const int n_kv = key_counts[kc];
        /* int8: blocked keys and plain values, the scales of keys then of values; bf16:
         * kernels.h's layouts, zero past n_kv */
        for (size_t i = 0; i < n_halves; i++) {
            key_bytes[i] = random_byte();
            value_bytes[i] = random_byte();
        }
        for (int i = 0; i < 2 * (MAX_KV + 16); i++)
            scales[i] = random_scale();
        for (int n_q = 1; n_q <= MAX_Q; n_q++) {
            for (int set = 0; set < 2; set++) {
                const st_nn_kernels *k = set ? avx2 : portable;
                float *out = set ? got : want;
                k->scores_i8(q, n_q, Q_STRIDE, key_bytes, scales, D, n_kv, 0.125f, out);
                k->weighted_sum_i8(p, n_q, n_kv, value_bytes, scales + MAX_KV + 16, D + 3, D, out + (size_t)n_q * n_kv,
                                   OUT_STRIDE);
                k->weighted_sum(p, n_q, n_kv, values_f32, D + 5, D, out + (size_t)n_q * n_kv + D, OUT_STRIDE);
            }
            assert_memory_equal(want, got,
                                sizeof(float) * ((size_t)n_q * n_kv + (size_t)(n_q - 1) * OUT_STRIDE + 2 * D));
        }
        for (size_t i = 0; i < n_halves; i++) {
            size_t key = i / (16 * D) * 16 + i % 32 / 2, value = i / (2 * D) * 2 + i % 2;
            keys[i] = key < (size_t)n_kv ? st_nn_to_bf16(2.0f * random_float()) : 0;
            values[i] = value < (size_t)n_kv ? st_nn_to_bf16(random_float()) : 0;
        }
        for (int n_q = 1; n_q <= MAX_Q; n_q++) {
            for (int set = 0; set < 2; set++)
                (set ? avx2 : portable)
                    ->attend_bf16(q + 1, Q_STRIDE, n_q, keys, values, n_kv, 0.125f, set ? got : want, OUT_STRIDE);
            for (int i = 0; i < n_q; i++)
                assert_memory_equal(want + (size_t)i * OUT_STRIDE, got + (size_t)i * OUT_STRIDE, sizeof(float) * D);
        }
    }
    free(q);
    free(p);
    free(want);
    free(got);
    free(keys);
    free(values);
    free(key_bytes);
    free(value_bytes);
    free(values_f32);
    free(scales);
}

/* The AVX-512 int8 attention kernels fuse each multiply-add where the portable ones round the
 * product first, so they agree with the portable results to float rounding: queries 1 to 8
 * (the 4-block and 2-block tiles), key counts that are not multiples of 16 (masked tails). */
static void avx512_int8_attention_is_near_the_portable(void **unused) {
    (void)unused;
    const st_nn_kernels *avx512 = st_nn_kernels_avx512(), *portable = st_nn_kernels_portable();
    if (!avx512) skip();
    enum { D = 64, MAX_KV = 1500, SLOTS = 1504, Q_STRIDE = 3 * D };
    const int key_counts[] = {1500, 37, 16, 1};
    const size_t n_out = (size_t)ST_NN_FEW_QUERIES * (MAX_KV + D);
    float *q = malloc(sizeof(float) * ST_NN_FEW_QUERIES * Q_STRIDE);
    float *p = malloc(sizeof(float) * ST_NN_FEW_QUERIES * MAX_KV), *scales = malloc(sizeof(float) * 2 * SLOTS);
    float *want = malloc(sizeof(float) * n_out), *got = malloc(sizeof(float) * n_out);
    int8_t *keys = malloc((size_t)SLOTS * D), *values = malloc((size_t)MAX_KV * D);
    assert_true(q && p && scales && want && got && keys && values);
    for (int i = 0; i < ST_NN_FEW_QUERIES * Q_STRIDE; i++)
        q[i] = 3.0f * random_float();
    for (int i = 0; i < SLOTS * D; i++)
        keys[i] = random_byte();
    for (int i = 0; i < MAX_KV * D; i++)
        values[i] = random_byte();
    for (int i = 0; i < 2 * SLOTS; i++)
        scales[i] = random_scale();
    for (size_t kc = 0; kc < sizeof key_counts / sizeof key_counts[0]; kc++) {
        const int n_kv = key_counts[kc];
        for (int i = 0; i < ST_NN_FEW_QUERIES * n_kv; i++) /* probabilities' size: rows sum to about 1 */
            p[i] = 2.0f * fabsf(random_float()) / (float)n_kv;
        for (int n_q = 1; n_q <= ST_NN_FEW_QUERIES; n_q++) {
            for (int set = 0; set < 2; set++) {
                const st_nn_kernels *k = set ? avx512 : portable;
                float *out = set ? got : want;
                k->scores_i8(q, n_q, Q_STRIDE, keys, scales, D, n_kv, 0.125f, out);
                k->weighted_sum_i8(p, n_q, n_kv, values, scales + SLOTS, D, D, out + (size_t)n_q * n_kv, D);
            }
            for (size_t i = 0; i < (size_t)n_q * (n_kv + D); i++)
                if (fabsf(got[i] - want[i]) > 1e-5f * (1.0f + fabsf(want[i])))
                    fail_msg("n_kv %d n_q %d: [%zu] %.9g, portable %.9g", n_kv, n_q, i, got[i], want[i]);
        }
    }
    free(q);
    free(p);
    free(scales);
    free(want);
    free(got);
    free(keys);
    free(values);
}

/* float32 to half in every set: the bits st_fp32_to_fp16 gives (nearest-even, overflow to
 * infinity, subnormals), with a tail and nothing written past n. */
static void f32_to_f16_matches_the_converter(void **unused) {
    (void)unused;
    enum { N = 1003 };
    static float in[N];
    static uint16_t out[N + 1];
    for (int i = 0; i < N; i++)
        in[i] = random_float() * (i % 3 == 0 ? 70000.0f : i % 3 == 1 ? 1e-5f : 3.0f);
    in[0] = 65519.0f; /* rounds down to the largest half */
    in[1] = 65520.0f; /* rounds up to infinity */
    const st_nn_kernels *sets[3];
    int n_sets = kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        out[N] = 0x1234;
        sets[k]->f32_to_f16(in, out, N);
        assert_int_equal(out[N], 0x1234);
        for (int i = 0; i < N; i++)
            if (out[i] != st_fp32_to_fp16(in[i]))
                fail_msg("%s: %.9g to %04x, expected %04x", sets[k]->name, in[i], out[i], st_fp32_to_fp16(in[i]));
    }
}

/* A layer [n_out][n_in] of stored type dtype (F16, Q8_0 or I8) from a tensor one byte into a
 * buffer (ggml packs tensors at odd offsets), through st_nn_linear_init, with half biases;
 * values and bias_values get the exact weights. The layer borrows the buffer, which the caller
 * frees after the layer. */
static unsigned char *stored_layer(st_dtype dtype, st_nn_linear *layer, int n_out, int n_in, float *values,
                                   float *bias_values) {
    size_t n = (size_t)n_out * n_in, n_bytes = st_dtype_bytes(dtype, (int64_t)n);
    unsigned char *buffer = malloc(n_bytes + 1 + n_out * sizeof(float));
    uint16_t *bias = malloc(n_out * sizeof *bias);
    assert_true(buffer && bias);
    unsigned char *data = buffer + 1, *scales = NULL;
    if (dtype == ST_DTYPE_F16) {
        uint16_t *halves = malloc(n * sizeof *halves);
        assert_non_null(halves);
        random_halves(halves, values, n);
        memcpy(data, halves, n * sizeof *halves);
        free(halves);
    } else if (dtype == ST_DTYPE_Q8_0) {
        random_q8_0(data, values, n_out, n_in);
    } else {
        scales = data + n_bytes;
        random_i8(data, scales, values, n_out, n_in);
    }
    random_halves(bias, bias_values, (size_t)n_out);
    st_tensor weight = {.name = "w",
                        .dtype = dtype,
                        .n_dims = 2,
                        .shape = {n_out, n_in},
                        .data = data,
                        .n_bytes = n_bytes,
                        .row_scales = scales};
    st_tensor bias_tensor = {
        .name = "b", .dtype = ST_DTYPE_F16, .n_dims = 1, .shape = {n_out}, .data = bias, .n_bytes = (size_t)n_out * 2};
    st_error err = {0};
    assert_int_equal(st_nn_linear_init(layer, &weight, &bias_tensor, &err), STENO_OK);
    /* int8 and bf16 layers are packed (quantized or rounded on load from other types); otherwise
     * the stored weights are borrowed, not copied, except int8 ones, which fp32 dequantizes */
    const st_nn_compute compute = st_nn_layer_compute(&weight);
    assert_int_equal(layer->dtype, compute == ST_NN_COMPUTE_INT8   ? ST_DTYPE_I8
                                   : compute == ST_NN_COMPUTE_BF16 ? ST_DTYPE_BF16
                                   : dtype == ST_DTYPE_I8          ? ST_DTYPE_F32
                                                                   : dtype);
    if (layer->dtype == dtype && dtype != ST_DTYPE_I8) assert_ptr_equal(layer->weight, data);
    free(bias); /* the bias is converted to float32 */
    return buffer;
}

/* How far an int8 product may be from the exact one: x is rounded to steps of max |x| / 127
 * (half a step each), and with quantize_weights the weights to steps of max |w| / 127 too. */
static double int8_bound(const float *x, const float *w, int n_in, int quantize_weights) {
    double x_max = 0.0, w_max = 0.0, x_sum = 0.0, w_sum = 0.0;
    for (int i = 0; i < n_in; i++) {
        x_max = fabs(x[i]) > x_max ? fabs(x[i]) : x_max;
        w_max = fabs(w[i]) > w_max ? fabs(w[i]) : w_max;
        x_sum += fabs(x[i]);
        w_sum += fabs(w[i]);
    }
    double bound = w_sum * x_max / 254.0;
    if (quantize_weights) bound += (x_sum + n_in * x_max / 254.0) * w_max / 254.0;
    return 1.001 * bound + 1e-5;
}

/* How far a bf16 product may be from the exact one: x and w each rounded by at most 2^-8 of
 * their value (8 significant bits), so each term by 2^-7 (and a little), plus float32 sums. */
static double bf16_bound(const float *x, const float *w, int n_in, float expected) {
    double magnitude = 0.0;
    for (int i = 0; i < n_in; i++)
        magnitude += fabs((double)x[i] * w[i]);
    return 1.01 * magnitude / 128.0 + 1e-5 * (1.0 + fabsf(expected));
}

/* Each stored type through st_nn_linear_forward against double sums (int8 and bf16: within the
 * rounding of their operands), for every path, with each compute type: fp32 (the stored
 * types' float kernels, int8 dequantized), auto (float types quantized on load where the CPU
 * has vector int8 kernels), int8 (every type quantized on load) and bf16 (every type rounded
 * on load). */
static void stored_linear_agrees_on_every_path(void **unused) {
    (void)unused;
    enum { OUT = 300, IN = 96, ROWS = 40 };
    st_nn_set_threads(2);
    static float w[OUT * IN], b[OUT], x[ROWS * IN], y[ROWS * OUT], expected[ROWS * OUT];
    const st_dtype dtypes[] = {ST_DTYPE_F16, ST_DTYPE_Q8_0, ST_DTYPE_I8};
    const st_nn_compute computes[] = {ST_NN_COMPUTE_FP32, ST_NN_COMPUTE_AUTO, ST_NN_COMPUTE_INT8, ST_NN_COMPUTE_BF16};
    static const char *const compute_names[] = {"fp32", "auto", "int8", "bf16"};
    for (int m = 0; m < 4; m++) {
        for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
            st_nn_linear layer;
            st_nn_set_compute(computes[m]);
            unsigned char *stored = stored_layer(dtypes[d], &layer, OUT, IN, w, b);
            st_nn_set_compute(ST_NN_COMPUTE_AUTO);
            const int int8 = layer.dtype == ST_DTYPE_I8, weights_quantized = int8 && dtypes[d] != ST_DTYPE_I8;
            const int bf16 = layer.dtype == ST_DTYPE_BF16;
            for (int i = 0; i < ROWS * IN; i++)
                x[i] = random_float();
            for (int r = 0; r < ROWS; r++)
                for (int o = 0; o < OUT; o++)
                    expected[r * OUT + o] = (float)(b[o] + reference_dot(x + r * IN, w + (size_t)o * IN, IN));
            float *scratch = st_nn_alloc(st_nn_linear_scratch_floats(&layer));
            assert_non_null(scratch);
            /* row counts on both sides of the matrix-vector limit; scratch whole, for 7 rows
             * of the weight at a time (several blocks, the last one short), and none */
            const int row_counts[] = {1, 5, ST_NN_LINEAR_GEMV_MAX_ROWS, ST_NN_LINEAR_GEMV_MAX_ROWS + 1, ROWS};
            const size_t scratch_sizes[] = {st_nn_linear_scratch_floats(&layer), 7 * IN, 0};
            for (size_t c = 0; c < sizeof row_counts / sizeof row_counts[0]; c++) {
                for (size_t s = 0; s < sizeof scratch_sizes / sizeof scratch_sizes[0]; s++) {
                    memset(y, 0, sizeof y);
                    st_nn_linear_forward(&layer, x, row_counts[c], y, scratch_sizes[s] ? scratch : NULL,
                                         scratch_sizes[s]);
                    for (int i = 0; i < row_counts[c] * OUT; i++) {
                        int r = i / OUT, o = i % OUT;
                        double bound = int8   ? int8_bound(x + r * IN, w + (size_t)o * IN, IN, weights_quantized)
                                       : bf16 ? bf16_bound(x + r * IN, w + (size_t)o * IN, IN, expected[i])
                                              : 1e-5 * (1.0 + fabsf(expected[i]));
                        if (fabsf(y[i] - expected[i]) > bound)
                            fail_msg("%s (%s) rows %d scratch %zu: y[%d] = %.8g, expected %.8g (bound %.3g)",
                                     st_dtype_name(dtypes[d]), compute_names[m], row_counts[c],
                                     scratch_sizes[s], i, y[i], expected[i], bound);
                    }
                }
            }
            /* the embedding lookup on the same matrix: the stored values (int8: q times the
             * inverse scale, within a rounding of q / scale; quantized on load, within half a
             * step; bf16: within its rounding, 2^-8 of the value) */
            float row[IN], row_max = 0.0f;
            st_nn_linear_weight_row(&layer, 17, row);
            for (int i = 0; i < IN; i++)
                row_max = fabsf(w[17 * IN + i]) > row_max ? fabsf(w[17 * IN + i]) : row_max;
            for (int i = 0; i < IN; i++) {
                float want = w[17 * IN + i];
                double bound = weights_quantized          ? row_max / 254.0 * 1.001
                               : bf16                     ? fabsf(want) / 256.0
                               : dtypes[d] == ST_DTYPE_I8 ? 1e-6 * fabsf(want)
                                                          : 0.0;
                if (fabsf(row[i] - want) > bound) fail_msg("row 17 [%d] = %.9g, expected %.9g", i, row[i], want);
            }
            st_nn_free(scratch);
            st_nn_linear_free(&layer);
            free(stored);
        }
    }
}

/* bf16 attention: every kernel set against a direct computation in double on the same
 * bf16-rounded queries, keys and values, whose probabilities are rounded to bf16 too; a
 * probability's rounding moves an output by at most 2^-8 of its term, so the bound is 2^-8 of
 * the sum of |p v| plus float rounding. Then through st_nn_attention on rows (several heads,
 * key counts that are not multiples of 16 or 2), within bf16 rounding of the float32 path. */
static double bf16_round(float value) {
    uint32_t bits = (uint32_t)st_nn_to_bf16(value) << 16;
    float rounded;
    memcpy(&rounded, &bits, sizeof rounded);
    return rounded;
}

static void bf16_attention_matches_double_sums(void **unused) {
    (void)unused;
    enum { HEADS = 3, D = ST_NN_BF16_HEAD, WIDTH = HEADS * D, MAX_Q = 37 };
    const int key_counts[] = {1500, 37, 16, 1};
    st_nn_set_threads(2);
    for (size_t kc = 0; kc < sizeof key_counts / sizeof key_counts[0]; kc++) {
        const int n_kv = key_counts[kc];
        float *q = malloc(sizeof(float) * MAX_Q * WIDTH), *k = malloc(sizeof(float) * n_kv * WIDTH);
        float *v = malloc(sizeof(float) * n_kv * WIDTH), *out = malloc(sizeof(float) * MAX_Q * WIDTH);
        float *exact = malloc(sizeof(float) * MAX_Q * WIDTH);
        size_t scratch_floats = st_nn_attention_bf16_floats(HEADS, n_kv);
        float *scratch = st_nn_alloc(scratch_floats > (size_t)MAX_Q * n_kv ? scratch_floats : (size_t)MAX_Q * n_kv);
        double *p = malloc(sizeof(double) * n_kv);
        assert_true(q && k && v && out && exact && scratch && p);
        for (int i = 0; i < MAX_Q * WIDTH; i++)
            q[i] = 2.0f * random_float();
        for (int i = 0; i < n_kv * WIDTH; i++) {
            k[i] = 2.0f * random_float();
            v[i] = random_float();
        }
        /* through st_nn_attention: bf16 (packs and runs the best kernel set), then float32 */
        st_nn_attention_args args = {.q = q,
                                     .q_stride = WIDTH,
                                     .k = k,
                                     .v = v,
                                     .kv_stride = WIDTH,
                                     .n_q = MAX_Q,
                                     .n_kv = n_kv,
                                     .n_head = HEADS,
                                     .d_head = D,
                                     .causal_offset = ST_NN_NO_MASK,
                                     .scores = scratch,
                                     .scores_floats = scratch_floats,
                                     .out = out,
                                     .out_stride = WIDTH,
                                     .bf16 = 1};
        st_nn_attention(&args);
        args.bf16 = 0;
        args.out = exact;
        args.scores_floats = (size_t)MAX_Q * n_kv;
        st_nn_attention(&args);
        for (int i = 0; i < MAX_Q * WIDTH; i++)
            if (fabsf(out[i] - exact[i]) > 0.03f)
                fail_msg("n_kv %d: out[%d] %g, float32 %g", n_kv, i, out[i], exact[i]);
        /* each kernel set on head 1's keys and values, packed by the run above (still in scratch) */
        args.scores_floats = scratch_floats;
        args.bf16 = 1;
        args.out = out;
        st_nn_attention(&args);
        size_t key_values = (size_t)(n_kv + 15) / 16 * 16 * D, value_values = (size_t)(n_kv + 1) / 2 * 2 * D;
        const uint16_t *keys = (const uint16_t *)scratch + key_values + value_values, *values = keys + key_values;
        const st_nn_kernels *sets[3];
        int n_sets = kernel_sets(sets);
        const float scale = 1.0f / sqrtf((float)D);
        for (int s = 0; s < n_sets; s++) {
            for (int n_q = 1; n_q <= MAX_Q; n_q += 6) {
                for (int i = 0; i < MAX_Q * WIDTH; i++)
                    out[i] = -999.0f;
                sets[s]->attend_bf16(q + D, WIDTH, n_q, keys, values, n_kv, scale, out + D, WIDTH);
                for (int i = 0; i < MAX_Q; i++) {
                    double max = -INFINITY, total = 0.0;
                    for (int j = 0; j < n_kv; j++) {
                        double dot = 0.0;
                        for (int c = 0; c < D; c++)
                            dot += bf16_round(q[i * WIDTH + D + c]) * bf16_round(k[j * WIDTH + D + c]);
                        p[j] = dot * scale;
                        max = p[j] > max ? p[j] : max;
                    }
                    for (int j = 0; j < n_kv; j++)
                        total += p[j] = exp(p[j] - max);
                    for (int c = 0; c < WIDTH; c++) {
                        float got = out[i * WIDTH + c];
                        if (i >= n_q || c < D || c >= 2 * D) {
                            if (got != -999.0f) fail_msg("%s wrote out[%d][%d]", sets[s]->name, i, c);
                            continue;
                        }
                        double expected = 0.0, magnitude = 0.0;
                        for (int j = 0; j < n_kv; j++) {
                            double term = bf16_round((float)(p[j] / total)) * bf16_round(v[j * WIDTH + c]);
                            expected += term;
                            magnitude += fabs(term);
                        }
                        if (fabs(got - expected) > magnitude / 256.0 + 1e-5)
                            fail_msg("%s n_kv %d n_q %d: out[%d][%d] %.7g, expected %.7g", sets[s]->name, n_kv, n_q, i,
                                     c - D, got, expected);
                    }
                }
            }
        }
        free(q);
        free(k);
        free(v);
        free(out);
        free(exact);
        free(p);
        st_nn_free(scratch);
    }
}

/* The bf16 product: weights rounded on load to st_nn_to_bf16's values (read back through
 * st_nn_linear_weight_row) and rows of x to its bits by every set, then the portable kernel within
 * float32 summation error (n_in + 1 roundings of 2^-24) of double sums over those bf16
 * operands; the AVX2 kernel bit for bit the portable one, and vdpbf16ps (which pairs the
 * products its own way) within twice that bound of it; rows 1 to 9 and 37, widths odd and not
 * multiples of 32, outputs not multiples of the 64-output tile, and nothing written outside the
 * rows and blocks asked for. */
static void bf16_kernels_match_double_sums(void **unused) {
    (void)unused;
    const int widths[] = {512, 37, 1, 2, 100, 3, 65};
    const int outputs[] = {23, 64, 5, 100, 1};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        for (size_t oi = 0; oi < sizeof outputs / sizeof outputs[0]; oi++) {
            const int n_in = widths[wi], n_out = outputs[oi], k_pad = (n_in + 1) / 2 * 2, stride = n_out + 5;
            const int n_blocks = (n_out + 15) / 16;
            float *w = malloc((size_t)n_out * n_in * sizeof *w), *wr = malloc((size_t)n_out * n_in * sizeof *wr);
            float *x = malloc((size_t)PACKED_ROWS * n_in * sizeof *x), *bias = malloc(n_out * sizeof *bias);
            float *y = malloc((size_t)PACKED_ROWS * stride * sizeof *y);
            float *y_portable = malloc((size_t)PACKED_ROWS * stride * sizeof *y_portable);
            uint16_t *xb = malloc((size_t)PACKED_ROWS * k_pad * sizeof *xb);
            assert_true(w && wr && x && bias && y && y_portable && xb);
            /* magnitudes over a few binades, so that rounding and summation both matter */
            for (int i = 0; i < n_out * n_in; i++)
                w[i] = random_float() * (i % 7 == 0 ? 40.0f : 1.0f);
            for (int i = 0; i < PACKED_ROWS * n_in; i++) {
                x[i] = random_float() * (i % 5 == 0 ? 0.01f : 3.0f);
                if (i % 11 == 0) { /* halfway between two bf16: rounds to the even one */
                    uint32_t bits;
                    memcpy(&bits, &x[i], sizeof bits);
                    bits = (bits & 0xffff0000u) | 0x8000u;
                    memcpy(&x[i], &bits, sizeof bits);
                }
            }
            x[n_in - 1] = 1e-39f; /* a subnormal */
            for (int o = 0; o < n_out; o++)
                bias[o] = random_float();
            st_tensor tensor = {.name = "w",
                                .dtype = ST_DTYPE_F32,
                                .n_dims = 2,
                                .shape = {n_out, n_in},
                                .data = w,
                                .n_bytes = (size_t)n_out * n_in * sizeof *w};
            st_nn_linear layer;
            st_error err = {0};
            st_nn_set_compute(ST_NN_COMPUTE_BF16);
            assert_int_equal(st_nn_linear_init(&layer, &tensor, NULL, &err), STENO_OK);
            st_nn_set_compute(ST_NN_COMPUTE_AUTO);
            assert_int_equal(layer.dtype, ST_DTYPE_BF16);
            for (int o = 0; o < n_out; o++) {
                st_nn_linear_weight_row(&layer, o, wr + (size_t)o * n_in);
                for (int i = 0; i < n_in; i++)
                    if (wr[(size_t)o * n_in + i] != bf16_round(w[(size_t)o * n_in + i]))
                        fail_msg("weight [%d][%d] = %.9g, expected %.9g", o, i, wr[(size_t)o * n_in + i],
                                 bf16_round(w[(size_t)o * n_in + i]));
            }
            const st_nn_kernels *sets[3];
            int n_sets = kernel_sets(sets);
            for (int k = n_sets - 1; k >= 0; k--) { /* the portable kernel's xb last, for the products */
                for (int i = 0; i < PACKED_ROWS * k_pad; i++)
                    xb[i] = 0xdead;
                sets[k]->rows_to_bf16(x, PACKED_ROWS, n_in, k_pad, xb);
                for (int r = 0; r < PACKED_ROWS; r++)
                    for (int i = 0; i < k_pad; i++)
                        if (xb[(size_t)r * k_pad + i] != (i < n_in ? st_nn_to_bf16(x[(size_t)r * n_in + i]) : 0))
                            fail_msg("%s: x[%d][%d] = %.9g to %04x", sets[k]->name, r, i, x[(size_t)r * n_in + i],
                                     xb[(size_t)r * k_pad + i]);
            }
            st_nn_bf16_weights weights = layer.bf16;
            for (size_t c = 0; c < N_PACKED_CASES; c++) {
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    const packed_region region = packed_region_for(c, n_blocks, y_portable, stride);
                    weights.bias = with_bias ? bias : NULL;
                    st_nn_portable_gemm_bf16(&weights, xb, region.row_begin, region.row_end, region.block_begin,
                                             n_blocks, y_portable, stride);
                    for (int k = 0; k < n_sets; k++) {
                        const int same_bits = sets[k]->gemm_bf16 == st_nn_portable_gemm_bf16 ||
                                              sets[k]->gemm_bf16 == st_nn_avx2_gemm_bf16;
                        packed_region_for(c, n_blocks, y, stride);
                        sets[k]->gemm_bf16(&weights, xb, region.row_begin, region.row_end, region.block_begin, n_blocks,
                                           y, stride);
                        for (int r = 0; r < PACKED_ROWS; r++) {
                            for (int o = 0; o < stride; o++) {
                                if (!in_packed_region(&region, y, stride, n_out, r, o, sets[k]->name)) continue;
                                const size_t at = (size_t)r * stride + o;
                                double exact = with_bias ? bias[o] : 0.0, magnitude = fabs(exact);
                                for (int i = 0; i < n_in; i++) {
                                    double term =
                                        bf16_round(x[(size_t)r * n_in + i]) * (double)wr[(size_t)o * n_in + i];
                                    exact += term;
                                    magnitude += fabs(term);
                                }
                                const double bound = (n_in + 1) * magnitude / 16777216.0;
                                if (fabs(y_portable[at] - exact) > bound)
                                    fail_msg("portable n_in %d n_out %d: y[%d][%d] = %.9g, expected %.9g (bound %.3g)",
                                             n_in, n_out, r, o, y_portable[at], exact, bound);
                                if (same_bits ? memcmp(&y[at], &y_portable[at], sizeof y[at]) != 0
                                              : fabs(y[at] - y_portable[at]) > 2.0 * bound)
                                    fail_msg("%s n_in %d n_out %d rows %d: y[%d][%d] = %.9g, portable %.9g",
                                             sets[k]->name, n_in, n_out, packed_row_counts[c], r, o, y[at],
                                             y_portable[at]);
                            }
                        }
                    }
                }
            }
            st_nn_linear_free(&layer);
            free(w);
            free(wr);
            free(x);
            free(bias);
            free(y);
            free(y_portable);
            free(xb);
        }
    }
}

/* Attention with scratch for all heads (heads in parallel), for one head's rows (row blocks
 * in parallel) and with a scores hook (heads in turn), with keys and values as rows, or
 * transposed and head by head in float32 or int8, for many queries (sgemm; int8: the few-query
 * kernels in turns) and a few (the few-query kernels): the same output every way, and that
 * output against a direct computation. */
static void record_scores(void *user, int head, const float *scores, int n_q, int n_kv) {
    (void)scores;
    (void)n_q;
    (void)n_kv;
    atomic_fetch_add((atomic_int *)user + head, 1);
}

static void attention_ways_agree(void **unused) {
    (void)unused;
    enum { N_Q = 150, N_KV = 160, HEADS = 4, D_HEAD = 64, WIDTH = HEADS * D_HEAD };
    st_nn_set_threads(2);
    static float q[N_Q * WIDTH], k[N_KV * WIDTH], kt[WIDTH * N_KV], v[N_KV * WIDTH], vh[N_KV * WIDTH];
    static float scores[HEADS * N_Q * N_KV];
    static float out[N_Q * WIDTH], first[N_Q * WIDTH];
    /* int8 keys: each head's in blocks of ST_NN_KEY_BLOCK frames (kernels.h), rounded up; the
     * scales of each frame and head */
    enum { SLOTS = (N_KV + ST_NN_KEY_BLOCK - 1) / ST_NN_KEY_BLOCK * ST_NN_KEY_BLOCK };
    static int8_t kt_bytes[WIDTH * SLOTS], vh_bytes[N_KV * WIDTH];
    static float k_scales[HEADS * SLOTS], v_scales[HEADS * SLOTS];
    for (int i = 0; i < N_Q * WIDTH; i++)
        q[i] = random_float();
    for (int i = 0; i < HEADS * SLOTS; i++) {
        k_scales[i] = random_scale();
        v_scales[i] = random_scale();
    }
    /* keys and values the products of int8 and their scales, so the ways on int8 owe the same
     * results up to float rounding */
    for (int j = 0; j < N_KV; j++) {
        for (int c = 0; c < WIDTH; c++) {
            const int h = c / D_HEAD;
            int8_t key = random_byte(), value = random_byte();
            k[j * WIDTH + c] = key * k_scales[h * SLOTS + j];
            v[j * WIDTH + c] = value * v_scales[h * SLOTS + j];
            kt[c * N_KV + j] = k[j * WIDTH + c];
            kt_bytes[(size_t)h * D_HEAD * SLOTS +
                     ((size_t)(j / ST_NN_KEY_BLOCK) * D_HEAD + c % D_HEAD) * ST_NN_KEY_BLOCK + j % ST_NN_KEY_BLOCK] =
                key;
            vh[(h * N_KV + j) * D_HEAD + c % D_HEAD] = v[j * WIDTH + c];
            vh_bytes[(h * N_KV + j) * D_HEAD + c % D_HEAD] = value;
        }
    }
    const int query_counts[] = {N_Q, 5};
    for (int qc = 0; qc < 2; qc++) {
        const int n_q = query_counts[qc];
        for (int way = 0; way < 9; way++) {
            atomic_int hook_calls[HEADS] = {0};
            int transposed = way >= 3, bytes = way >= 6, split = way % 3;
            const size_t capacity = split == 0 ? (size_t)HEADS * n_q * N_KV : (size_t)n_q * N_KV;
            st_nn_attention(&(st_nn_attention_args){.q = q,
                                                    .q_stride = WIDTH,
                                                    .k = bytes        ? (const float *)kt_bytes
                                                         : transposed ? kt
                                                                      : k,
                                                    .keys_transposed = transposed,
                                                    .v = bytes        ? (const float *)vh_bytes
                                                         : transposed ? vh
                                                                      : v,
                                                    .values_by_head = transposed,
                                                    .kv_i8 = bytes,
                                                    .k_scales = k_scales,
                                                    .v_scales = v_scales,
                                                    .kv_stride = WIDTH,
                                                    .n_q = n_q,
                                                    .n_kv = N_KV,
                                                    .n_head = HEADS,
                                                    .d_head = D_HEAD,
                                                    .causal_offset = 10,
                                                    .scores = scores,
                                                    .scores_floats = capacity,
                                                    .out = out,
                                                    .out_stride = WIDTH,
                                                    .on_scores = split == 2 ? record_scores : NULL,
                                                    .user = hook_calls});
            if (split == 2)
                for (int h = 0; h < HEADS; h++)
                    assert_int_equal(atomic_load(&hook_calls[h]), 1);
            if (way == 0) {
                memcpy(first, out, sizeof out);
                continue;
            }
            for (int i = 0; i < n_q * WIDTH; i++)
                if (fabsf(out[i] - first[i]) > 1e-5f)
                    fail_msg("n_q %d way %d: out[%d] %g vs %g", n_q, way, i, out[i], first[i]);
        }
        const float scale = 1.0f / sqrtf(D_HEAD);
        for (int i = 0; i < n_q; i += 37) {
            for (int h = 0; h < HEADS; h++) {
                int visible = 10 + i + 1;
                double p[N_KV], max = -INFINITY, total = 0.0;
                for (int j = 0; j < visible; j++) {
                    p[j] = scale * reference_dot(q + i * WIDTH + h * D_HEAD, k + j * WIDTH + h * D_HEAD, D_HEAD);
                    max = p[j] > max ? p[j] : max;
                }
                for (int j = 0; j < visible; j++)
                    total += p[j] = exp(p[j] - max);
                for (int c = 0; c < D_HEAD; c++) {
                    double sum = 0.0;
                    for (int j = 0; j < visible; j++)
                        sum += p[j] / total * v[j * WIDTH + h * D_HEAD + c];
                    assert_true(fabs(first[i * WIDTH + h * D_HEAD + c] - sum) < 1e-5);
                }
            }
        }
    }
}

typedef struct count_job {
    atomic_int *hits;
    int n;
} count_job;

static void count_task(void *context, int task) {
    const count_job *job = context;
    assert_true(task >= 0 && task < job->n);
    atomic_fetch_add(&job->hits[task], 1);
}

/* Many calls of varying size, each task run exactly once. */
static void *many_calls(void *argument) {
    (void)argument;
    enum { MAX = 97 };
    atomic_int hits[MAX];
    for (int call = 0; call < 3000; call++) {
        int n = 1 + call % MAX;
        for (int i = 0; i < n; i++)
            atomic_init(&hits[i], 0);
        count_job job = {hits, n};
        st_nn_parallel_for(n, count_task, &job);
        for (int i = 0; i < n; i++)
            if (atomic_load(&hits[i]) != 1) fail_msg("call %d: task %d ran %d times", call, i, atomic_load(&hits[i]));
    }
    return NULL;
}

static void pool_runs_each_task_once(void **unused) {
    (void)unused;
    st_nn_set_threads(2);
    many_calls(NULL);
    st_nn_set_threads(1);
    many_calls(NULL);
    st_nn_set_threads(3);
    /* two callers at once: one owns the workers, the other runs its tasks itself */
    pthread_t other;
    assert_int_equal(pthread_create(&other, NULL, many_calls, NULL), 0);
    many_calls(NULL);
    assert_int_equal(pthread_join(other, NULL), 0);
    st_nn_set_threads(2);
}

/* The compute types' names, in the library and in the public API, and names that are none. */
static void compute_type_names_parse(void **unused) {
    (void)unused;
    static const char *const names[] = {"auto", "fp32", "int8", "bf16"};
    const st_nn_compute internal[] = {ST_NN_COMPUTE_AUTO, ST_NN_COMPUTE_FP32, ST_NN_COMPUTE_INT8, ST_NN_COMPUTE_BF16};
    const steno_compute_type public[] = {STENO_COMPUTE_AUTO, STENO_COMPUTE_FP32, STENO_COMPUTE_INT8,
                                         STENO_COMPUTE_BF16};
    for (int i = 0; i < 4; i++) {
        st_nn_compute compute = ST_NN_COMPUTE_AUTO;
        steno_compute_type type = STENO_COMPUTE_AUTO;
        assert_int_equal(st_nn_compute_from_name(names[i], &compute), 0);
        assert_int_equal(compute, internal[i]);
        assert_int_equal(steno_compute_type_from_name(names[i], &type), 0);
        assert_int_equal(type, public[i]);
    }
    static const char *const bad[] = {"fp16", "BF16", "bf", ""};
    for (int i = 0; i < 4; i++) {
        st_nn_compute compute;
        steno_compute_type type;
        assert_int_equal(st_nn_compute_from_name(bad[i], &compute), -1);
        assert_int_equal(steno_compute_type_from_name(bad[i], &type), -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f16_to_f32_is_exact_for_every_half),
        cmocka_unit_test(gemv_f16_matches_double_sums),
        cmocka_unit_test(softmax_matches_the_library_exp),
        cmocka_unit_test(gelu_matches_the_erf_definition),
        cmocka_unit_test(gemv_q8_0_matches_double_sums),
        cmocka_unit_test(int8_kernels_match_integer_sums),
        cmocka_unit_test(stored_linear_agrees_on_every_path),
        cmocka_unit_test(attention_kernels_match_double_sums),
        cmocka_unit_test(attention_ways_agree),
        cmocka_unit_test(bf16_attention_matches_double_sums),
        cmocka_unit_test(avx2_attention_is_the_portable_bits),
        cmocka_unit_test(bf16_kernels_match_double_sums),
        cmocka_unit_test(compute_type_names_parse),
        cmocka_unit_test(avx512_int8_attention_is_near_the_portable),
        cmocka_unit_test(f32_to_f16_matches_the_converter),
        cmocka_unit_test(pool_runs_each_task_once),
        cmocka_unit_test(exp_f64_is_the_library_exp),
        cmocka_unit_test(exp_sum_and_max_are_the_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
