/*
 * gemm.c — how close steno's matrix products come to this CPU's limit: achieved GFLOP/s (int8:
 * GOP/s, a multiply-add counted as two operations) of the linear layers on Whisper base's
 * shapes, next to the peak the same threads reach on a loop of independent register-only
 * multiply-adds (AVX-512 FMA for float32, VNNI vpdpbusd for int8, BF16 vdpbf16ps for bf16, when
 * the CPU has them).
 *
 *   speed-steno-gemm [THREADS] [REPEATS]
 *
 * Rows: the encoder (1500 frames) through a 512 -> 2048 and a 2048 -> 512 layer; a decoder step
 * with 1 and 5 sequences through 512 -> 2048 and the 51864-token output projection. Weights
 * are random halves (the official files' type), used as float32 (OpenBLAS sgemm), as halves
 * (steno's auto compute type on an F16 file), quantized to int8 (the int8 compute type) and
 * rounded to bf16 (the bf16 compute type). Then each kernel set's int8 and bf16 products on one
 * thread, the encoder's 512 -> 2048 shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/kernels.h"
#include "nn/linear.h"
#include "nn/quant.h"
#include "nn/threads.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PEAK_ITERATIONS 20000000
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint32_t seed = 12345;
static float random_float(void) { /* -1 .. 1 */
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* 12 independent chains, enough to cover the multiply-add latency on every current core. */
/* Where the loops leave their sums, so the compiler keeps them. */
static volatile float sink_f32;
static volatile int sink_i32;

__attribute__((target("avx512f"))) static void peak_fma_task(void *context, int task) {
    (void)context;
    (void)task;
    __m512 acc[12];
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < PEAK_ITERATIONS / 12; n++)
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    for (int i = 1; i < 12; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    sink_f32 = _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx512f,avx512vnni"))) static void peak_vnni_task(void *context, int task) {
    (void)context;
    (void)task;
    __m512i acc[12];
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_epi32(i);
    for (long n = 0; n < PEAK_ITERATIONS / 12; n++)
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    for (int i = 1; i < 12; i++)
        acc[0] = _mm512_add_epi32(acc[0], acc[i]);
    sink_i32 = _mm512_reduce_add_epi32(acc[0]);
}

__attribute__((target("avx512f,avx512bf16"))) static void peak_bf16_task(void *context, int task) {
    (void)context;
    (void)task;
    __m512 acc[12];
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
    for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < PEAK_ITERATIONS / 12; n++)
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], a, a);
    for (int i = 1; i < 12; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    sink_f32 = _mm512_reduce_add_ps(acc[0]);
}

/* Operations per second of the loop on n_threads threads at once (the best of three): 16
 * lanes x 2 (float32), 64 byte products x 2 (int8) or 32 bf16 products x 2, per instruction. */
static double peak(int n_threads, st_nn_task task, double ops_per_instruction) {
    double best = 1e30;
    for (int run = 0; run < 3; run++) {
        double start = now();
        st_nn_parallel_for(n_threads, task, NULL);
        double spent = now() - start;
        best = spent < best ? spent : best;
    }
    return (double)(PEAK_ITERATIONS / 12 * 12) * ops_per_instruction * n_threads / best;
}
#endif

typedef struct shape {
    const char *what;
    int rows, n_in, n_out;
} shape;

/* A layer of n_out x n_in weights (halves, or their float32 values when values is not NULL)
 * in the given compute type. */
static int make_layer(st_nn_linear *layer, const uint16_t *halves, const float *values, int n_in, int n_out,
                      st_nn_compute compute) {
    const int f32 = values != NULL;
    st_tensor tensor = {.name = "w",
                        .dtype = f32 ? ST_DTYPE_F32 : ST_DTYPE_F16,
                        .n_dims = 2,
                        .shape = {n_out, n_in},
                        .data = f32 ? (const void *)values : (const void *)halves,
                        .n_bytes = (size_t)n_out * n_in * (f32 ? 4 : 2)};
    st_error err = {0};
    st_nn_set_compute(compute);
    if (st_nn_linear_init(layer, &tensor, NULL, &err) != STENO_OK) {
        fprintf(stderr, "gemm: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* Seconds per product, the fastest of `repeats` after a warm-up. */
static double time_forward(const st_nn_linear *layer, const float *x, int rows, float *y, float *scratch,
                           size_t scratch_floats, int repeats) {
    st_nn_linear_forward(layer, x, rows, y, scratch, scratch_floats);
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double start = now();
        st_nn_linear_forward(layer, x, rows, y, scratch, scratch_floats);
        double spent = now() - start;
        best = spent < best ? spent : best;
    }
    return best;
}

int main(int argc, char **argv) {
    int n_threads = argc > 1 ? atoi(argv[1]) : 2, repeats = argc > 2 ? atoi(argv[2]) : 5;
    if (argc > 3 || n_threads < 1 || n_threads > 64 || repeats < 1 || repeats > 1000) {
        fprintf(stderr, "usage: %s [THREADS] [REPEATS]\n", argv[0]);
        return 2;
    }
    st_nn_set_threads(n_threads);
    /* the peaks on all the threads, and on one (for the single-thread kernels below) */
    double peak_f32 = 0.0, peak_i8 = 0.0, peak_bf16 = 0.0, peak_f32_one = 0.0, peak_i8_one = 0.0, peak_bf16_one = 0.0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        peak_f32 = peak(n_threads, peak_fma_task, 32.0);
        peak_f32_one = peak(1, peak_fma_task, 32.0);
    }
    if (__builtin_cpu_supports("avx512vnni")) {
        peak_i8 = peak(n_threads, peak_vnni_task, 128.0);
        peak_i8_one = peak(1, peak_vnni_task, 128.0);
    }
    if (__builtin_cpu_supports("avx512bf16")) {
        peak_bf16 = peak(n_threads, peak_bf16_task, 64.0);
        peak_bf16_one = peak(1, peak_bf16_task, 64.0);
    }
#endif
    printf("kernels %s, %d threads\n", st_nn_kernels_best()->name, n_threads);
    if (peak_f32 > 0.0)
        printf("peak (register-only loop), %d threads / 1 thread: float32 FMA %.1f / %.1f GFLOP/s", n_threads,
               peak_f32 * 1e-9, peak_f32_one * 1e-9);
    if (peak_i8 > 0.0) printf(", int8 VNNI %.1f / %.1f GOP/s", peak_i8 * 1e-9, peak_i8_one * 1e-9);
    if (peak_bf16 > 0.0) printf(", bf16 %.1f / %.1f GFLOP/s", peak_bf16 * 1e-9, peak_bf16_one * 1e-9);
    if (peak_f32 > 0.0) printf("\n");

    const shape shapes[] = {
        {"encoder 512->2048", 1500, 512, 2048}, {"encoder 2048->512", 1500, 2048, 512},
        {"step x1 512->2048", 1, 512, 2048},    {"step x5 512->2048", 5, 512, 2048},
        {"step x1 logits", 1, 512, 51864},      {"step x5 logits", 5, 512, 51864},
    };
    const struct {
        const char *name;
        st_nn_compute compute;
        int f32; /* float32 weights, else halves */
    } types[] = {{"fp32", ST_NN_COMPUTE_FP32, 1},
                 {"f16", ST_NN_COMPUTE_FP32, 0},
                 {"int8", ST_NN_COMPUTE_INT8, 0},
                 {"bf16", ST_NN_COMPUTE_BF16, 0}};
    printf("%-20s %-5s %10s %10s %8s\n", "product", "type", "ms", "GFLOP/s", "of peak");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        uint16_t *halves = malloc((size_t)sh->n_out * sh->n_in * sizeof *halves);
        float *values = st_nn_alloc((size_t)sh->n_out * sh->n_in);
        float *x = st_nn_alloc((size_t)sh->rows * sh->n_in), *y = st_nn_alloc((size_t)sh->rows * sh->n_out);
        if (!halves || !values || !x || !y) {
            fprintf(stderr, "gemm: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < (size_t)sh->n_out * sh->n_in; i++) {
            halves[i] = st_fp32_to_fp16(0.05f * random_float());
            values[i] = st_fp16_to_fp32(halves[i]);
        }
        for (size_t i = 0; i < (size_t)sh->rows * sh->n_in; i++)
            x[i] = random_float();
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            st_nn_linear layer;
            const float *f32 = types[t].f32 ? values : NULL;
            if (make_layer(&layer, halves, f32, sh->n_in, sh->n_out, types[t].compute) != 0) return 1;
            size_t scratch_floats = st_nn_linear_scratch_floats(&layer);
            float *scratch = scratch_floats ? st_nn_alloc(scratch_floats) : NULL;
            double seconds = time_forward(&layer, x, sh->rows, y, scratch, scratch_floats, repeats);
            double ops = 2.0 * sh->rows * sh->n_in * sh->n_out;
            double achieved = ops / seconds;
            double limit = types[t].compute == ST_NN_COMPUTE_INT8   ? peak_i8
                           : types[t].compute == ST_NN_COMPUTE_BF16 ? peak_bf16
                                                                    : peak_f32;
            printf("%-20s %-5s %10.3f %10.1f", sh->what, types[t].name, seconds * 1e3, achieved * 1e-9);
            if (limit > 0.0)
                printf(" %7.1f%%\n", 100.0 * achieved / limit);
            else
                printf("\n");
            st_nn_free(scratch);
            st_nn_linear_free(&layer);
        }
        free(halves);
        st_nn_free(values);
        st_nn_free(x);
        st_nn_free(y);
    }

    /* Each kernel set's int8 and bf16 products alone, one thread, the encoder's first MLP layer. */
    const shape *sh = &shapes[0];
    uint16_t *halves = malloc((size_t)sh->n_out * sh->n_in * sizeof *halves);
    float *x = st_nn_alloc((size_t)sh->rows * sh->n_in), *y = st_nn_alloc((size_t)sh->rows * sh->n_out);
    float *x_inv = st_nn_alloc((size_t)sh->rows);
    uint8_t *xq = malloc((size_t)sh->rows * sh->n_in);
    uint16_t *xb = malloc((size_t)sh->rows * sh->n_in * sizeof *xb);
    st_nn_linear layer, layer_bf16;
    if (!halves || !x || !y || !x_inv || !xq || !xb) return 1;
    for (size_t i = 0; i < (size_t)sh->n_out * sh->n_in; i++)
        halves[i] = st_fp32_to_fp16(0.05f * random_float());
    for (size_t i = 0; i < (size_t)sh->rows * sh->n_in; i++)
        x[i] = random_float();
    if (make_layer(&layer, halves, NULL, sh->n_in, sh->n_out, ST_NN_COMPUTE_INT8) != 0 ||
        make_layer(&layer_bf16, halves, NULL, sh->n_in, sh->n_out, ST_NN_COMPUTE_BF16) != 0)
        return 1;
    st_nn_kernels_best()->rows_to_bf16(x, sh->rows, sh->n_in, layer_bf16.bf16.k_pad, xb);
    const st_nn_kernels *sets[] = {st_nn_kernels_portable(), st_nn_kernels_avx2(), st_nn_kernels_avx512()};
    printf("int8 and bf16 kernel sets, 1 thread, %s:\n", sh->what);
    for (int bf16 = 0; bf16 < 2; bf16++) {
        for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
            if (!sets[k]) continue;
            if (!bf16) sets[k]->quantize_rows(x, sh->rows, sh->n_in, layer.i8.k_pad, xq, x_inv);
            double best = 1e30;
            for (int r = 0; r < (k == 0 ? 1 : repeats); r++) {
                double start = now();
                if (bf16)
                    sets[k]->gemm_bf16(&layer_bf16.bf16, xb, 0, sh->rows, 0, (sh->n_out + 15) / 16, y, sh->n_out);
                else
                    sets[k]->gemm_i8(&layer.i8, xq, x_inv, 0, sh->rows, 0, (sh->n_out + 15) / 16, y, sh->n_out);
                double spent = now() - start;
                best = spent < best ? spent : best;
            }
            double achieved = 2.0 * sh->rows * sh->n_in * sh->n_out / best, limit = bf16 ? peak_bf16_one : peak_i8_one;
            printf("  %-4s %-9s %9.2f ms %8.1f G%s/s", bf16 ? "bf16" : "int8", sets[k]->name, best * 1e3,
                   achieved * 1e-9, bf16 ? "FLOP" : "OP");
            if (limit > 0.0)
                printf(" %6.1f%% of one thread's %s peak", 100.0 * achieved / limit, bf16 ? "vdpbf16ps" : "VNNI");
            printf("\n");
        }
    }
    st_nn_linear_free(&layer);
    st_nn_linear_free(&layer_bf16);
    free(xb);
    free(halves);
    free(xq);
    st_nn_free(x);
    st_nn_free(y);
    st_nn_free(x_inv);
    return 0;
}
