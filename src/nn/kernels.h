/*
 * kernels.h — the inner loops that run on weights in their stored type, one implementation per
 * instruction set, chosen once at run time by the CPU's features.
 *
 * The library is built for a baseline x86-64 (or any other CPU); the AVX-512 and AVX2+F16C
 * versions live in their own files, compiled with target attributes, and are only called when
 * __builtin_cpu_supports says the CPU has them. The portable C versions are the reference and
 * the fallback (ARM, older x86).
 *
 * Half-precision weights are widened to float32 in registers and every product is summed in
 * float32, so a layer computes what openai-whisper's float32 path computes from the same half
 * weights, up to the order of the additions. Quantized weights (ggml q8_0, CTranslate2 int8)
 * are dequantized in registers the same way: each weight becomes the float32 value
 * st_convert_to_f32 gives (q * d is exact in float32), or for int8 the sum of q * x is divided
 * by the row's scale once, so the results agree with converting to float32 first up to float
 * rounding. Integer dot products (VNNI) would need the activations quantized to int8 too,
 * which changes the results beyond rounding, so they are not used.
 *
 * Weights are read where the model file holds them, and ggml packs tensors at any byte offset:
 * every weight pointer here is `const void *` and read with unaligned loads (memcpy in C).
 *
 * The vector exp and erf behind softmax and GELU are polynomial approximations within about
 * 2 float ulps (exp) and 2e-7 absolute (erf) of the C library's expf and erff, which the
 * portable kernels call; tests hold each against those.
 */
#ifndef ST_NN_KERNELS_H
#define ST_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* y[r * y_stride + o] = bias[o] + sum over i of x[r * n_in + i] * w[o * n_in + i] for rows
 * r < n_rows and outputs o_begin <= o < o_end; w is [n_out][n_in] IEEE half, bias may be NULL
 * (then 0). Meant for a few rows: every weight is read once per call from memory and the rows
 * of x are re-read from cache. */
typedef void (*st_nn_gemv_f16_kernel)(const void *w, const float *bias, int n_in, const float *x, int n_rows,
                                      float *y, int y_stride, int o_begin, int o_end);

/* The same product on ggml q8_0 weights: each row of w is n_in / 32 blocks of a half scale d
 * and 32 int8 q, weight = q * d; n_in must be a multiple of 32. */
typedef void (*st_nn_gemv_q8_0_kernel)(const void *w, const float *bias, int n_in, const float *x, int n_rows,
                                       float *y, int y_stride, int o_begin, int o_end);

/* The same product on CTranslate2's int8 weights: w is [n_out][n_in] int8 and row o's weights
 * are w[o][i] / scales[o] (scales: n_out float32s, possibly unaligned). */
typedef void (*st_nn_gemv_i8_kernel)(const void *w, const void *scales, const float *bias, int n_in, const float *x,
                                     int n_rows, float *y, int y_stride, int o_begin, int o_end);

/* dst[i] = src[i] widened from IEEE half, for n values. */
typedef void (*st_nn_f16_to_f32_kernel)(const void *src, float *dst, size_t n);

/* Softmax of row[0 .. n_valid-1] in place, row[n_valid .. n_cols-1] set to 0 (see
 * st_nn_softmax_row). */
typedef void (*st_nn_softmax_kernel)(float *row, int n_valid, int n_cols);

/* GELU in its exact erf form, in place (see st_nn_gelu). */
typedef void (*st_nn_gelu_kernel)(float *x, size_t n);

/* Attention scores of n_q <= ST_NN_FEW_QUERIES queries against keys stored transposed:
 * scores[i * n_kv + j] = scale * sum over c < d_head of q[i * q_stride + c] * kt[c * n_kv + j].
 * Vectorised over keys, so no horizontal sums. */
typedef void (*st_nn_scores_kernel)(const float *q, int n_q, int q_stride, const float *kt, int d_head, int n_kv,
                                    float scale, float *scores);

/* out[i * out_stride + c] = sum over j < n_kv of p[i * n_kv + j] * v[j * v_stride + c] for
 * n_q <= ST_NN_FEW_QUERIES rows and c < d_head. */
typedef void (*st_nn_weighted_sum_kernel)(const float *p, int n_q, int n_kv, const float *v, int v_stride, int d_head,
                                          float *out, int out_stride);

/* The most queries the two kernels above take at once. */
#define ST_NN_FEW_QUERIES 8

typedef struct st_nn_kernels {
    const char *name; /* "avx512", "avx2" or "portable" */
    st_nn_gemv_f16_kernel gemv_f16;
    st_nn_gemv_q8_0_kernel gemv_q8_0;
    st_nn_gemv_i8_kernel gemv_i8;
    st_nn_f16_to_f32_kernel f16_to_f32;
    st_nn_softmax_kernel softmax;
    st_nn_gelu_kernel gelu;
    st_nn_scores_kernel scores;
    st_nn_weighted_sum_kernel weighted_sum;
} st_nn_kernels;

/* The portable attention kernels, which the AVX2 set also uses (they vectorise as plain C). */
void st_nn_portable_scores(const float *q, int n_q, int q_stride, const float *kt, int d_head, int n_kv, float scale,
                           float *scores);
void st_nn_portable_weighted_sum(const float *p, int n_q, int n_kv, const float *v, int v_stride, int d_head,
                                 float *out, int out_stride);

/* The best kernels this CPU runs (chosen on the first call). */
const st_nn_kernels *st_nn_kernels_best(void);

/* The portable C kernels, which every CPU runs; tests compare the others against them. */
const st_nn_kernels *st_nn_kernels_portable(void);

/* The instruction-set versions, or NULL where this build or CPU has none. */
const st_nn_kernels *st_nn_kernels_avx512(void);
const st_nn_kernels *st_nn_kernels_avx2(void);

#endif
