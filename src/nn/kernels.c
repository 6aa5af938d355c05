/* kernels.c — the portable kernels and the run-time choice among instruction sets; see
 * kernels.h. */
#include "nn/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/quant.h"

/* Weights are widened in chunks of this many (a multiple of ggml's 32-weight blocks) into a
 * stack buffer, so the product loop is plain float32 that any compiler vectorises. */
#define PORTABLE_CHUNK 256

static void portable_f16_to_f32(const void *src, float *dst, size_t n) {
    st_convert_to_f32(ST_DTYPE_F16, src, dst, n);
}

/* The one matrix-vector loop behind both stored types: row o's weights start .. start + count
 * as float32 in out. */
static void widen_chunk(st_dtype dtype, const unsigned char *w, int n_in, int o, int start, int count, float *out) {
    size_t first = (size_t)o * n_in + start;
    /* F16 or Q8_0; a Q8_0 chunk starts on a block because n_in and the chunk are multiples of
     * 32, and st_convert_to_f32 cannot fail on these types */
    st_convert_to_f32(dtype, w + st_dtype_bytes(dtype, (int64_t)first), out, (size_t)count);
}

static void portable_gemv(st_dtype dtype, const void *w, const float *bias, int n_in, const float *x, int n_rows,
                          float *y, int y_stride, int o_begin, int o_end) {
    float widened[PORTABLE_CHUNK];
    for (int o = o_begin; o < o_end; o++) {
        for (int r = 0; r < n_rows; r++)
            y[(size_t)r * y_stride + o] = 0.0f;
        for (int start = 0; start < n_in; start += PORTABLE_CHUNK) {
            int count = n_in - start < PORTABLE_CHUNK ? n_in - start : PORTABLE_CHUNK;
            widen_chunk(dtype, w, n_in, o, start, count, widened);
            for (int r = 0; r < n_rows; r++) {
                const float *in = x + (size_t)r * n_in + start;
                float sum = 0.0f;
                for (int i = 0; i < count; i++)
                    sum += in[i] * widened[i];
                y[(size_t)r * y_stride + o] += sum;
            }
        }
        for (int r = 0; r < n_rows; r++)
            y[(size_t)r * y_stride + o] += bias ? bias[o] : 0.0f;
    }
}

static void portable_gemv_f16(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                              int y_stride, int o_begin, int o_end) {
    portable_gemv(ST_DTYPE_F16, w, bias, n_in, x, n_rows, y, y_stride, o_begin, o_end);
}

static void portable_gemv_q8_0(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                               int y_stride, int o_begin, int o_end) {
    portable_gemv(ST_DTYPE_Q8_0, w, bias, n_in, x, n_rows, y, y_stride, o_begin, o_end);
}

void st_nn_portable_quantize_rows(const float *x, int n_rows, int n_in, int k_pad, uint8_t *xq, float *inv_scales) {
    for (int r = 0; r < n_rows; r++) {
        const float *in = x + (size_t)r * n_in;
        uint8_t *out = xq + (size_t)r * k_pad;
        float max = 0.0f;
        for (int i = 0; i < n_in; i++)
            max = fabsf(in[i]) > max ? fabsf(in[i]) : max;
        float scale = max > 0.0f ? 127.0f / max : 1.0f;
        inv_scales[r] = 1.0f / scale;
        for (int i = 0; i < n_in; i++) /* nearbyintf: nearest-even, as the vector conversion */
            out[i] = (uint8_t)(128 + (int)nearbyintf(in[i] * scale));
        for (int i = n_in; i < k_pad; i++)
            out[i] = 128;
    }
}

void st_nn_portable_gemm_i8(const st_nn_i8_weights *w, const uint8_t *xq, const float *x_inv, int row_begin,
                            int row_end, int block_begin, int block_end, float *y, int y_stride) {
    const int k_groups = w->k_pad / 4;
    for (int b = block_begin; b < block_end; b++) {
        const int8_t *panel = w->packed + (size_t)b * k_groups * 64;
        for (int r = row_begin; r < row_end; r++) {
            const uint8_t *in = xq + (size_t)r * w->k_pad;
            int32_t acc[16] = {0};
            for (int g = 0; g < k_groups; g++)
                for (int j = 0; j < 16; j++)
                    for (int t = 0; t < 4; t++)
                        acc[j] += (int32_t)in[4 * g + t] * panel[((size_t)g * 16 + j) * 4 + t];
            for (int j = 0; j < 16 && 16 * b + j < w->n_out; j++) {
                const int o = 16 * b + j;
                float m = x_inv[r] * w->inv_scales[o];
                float value = (float)(acc[j] - 128 * w->sums[o]) * m;
                y[(size_t)r * y_stride + o] = (w->bias ? w->bias[o] : 0.0f) + value;
            }
        }
    }
}

void st_nn_portable_softmax(float *row, int n_valid, int n_cols) {
    float max = row[0];
    for (int i = 1; i < n_valid; i++)
        max = row[i] > max ? row[i] : max;
    float sum = 0.0f;
    for (int i = 0; i < n_valid; i++) {
        row[i] = expf(row[i] - max);
        sum += row[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n_valid; i++)
        row[i] *= inv;
    for (int i = n_valid; i < n_cols; i++)
        row[i] = 0.0f;
}

static void portable_gelu(float *x, size_t n) {
    const float inv_sqrt2 = 0.70710678118654752f;
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * inv_sqrt2));
}

/* A stored key or value: float32, or int8 (bytes is constant after inlining, so each instance
 * is a plain loop the compiler vectorises). */
static inline __attribute__((always_inline)) float stored(const void *base, size_t index, const int bytes) {
    return bytes ? (float)((const int8_t *)base)[index] : ((const float *)base)[index];
}

static inline __attribute__((always_inline)) void scores_any(const float *q, int n_q, int q_stride, const void *kt,
                                                             const float *k_scales, int d_head, int n_kv, float scale,
                                                             float *scores, const int bytes) {
    for (int i = 0; i < n_q; i++) {
        float *row = scores + (size_t)i * n_kv;
        for (int j = 0; j < n_kv; j++)
            row[j] = 0.0f;
        for (int c = 0; c < d_head; c++) {
            const float weight = q[(size_t)i * q_stride + c];
            for (int j = 0; j < n_kv; j++) /* bytes: blocks of ST_NN_KEY_BLOCK keys (kernels.h) */
                row[j] += weight * stored(kt,
                                          bytes ? ((size_t)(j / ST_NN_KEY_BLOCK) * d_head + c) * ST_NN_KEY_BLOCK +
                                                      j % ST_NN_KEY_BLOCK
                                                : (size_t)c * n_kv + j,
                                          bytes);
        }
        for (int j = 0; j < n_kv; j++)
            row[j] *= bytes ? scale * k_scales[j] : scale;
    }
}

static inline __attribute__((always_inline)) void weighted_any(const float *p, int n_q, int n_kv, const void *v,
                                                               const float *v_scales, int v_stride, int d_head,
                                                               float *out, int out_stride, const int bytes) {
    for (int i = 0; i < n_q; i++) {
        float *row = out + (size_t)i * out_stride;
        for (int c = 0; c < d_head; c++)
            row[c] = 0.0f;
        for (int j = 0; j < n_kv; j++) {
            const float weight = bytes ? p[(size_t)i * n_kv + j] * v_scales[j] : p[(size_t)i * n_kv + j];
            for (int c = 0; c < d_head; c++)
                row[c] += weight * stored(v, (size_t)j * v_stride + c, bytes);
        }
    }
}

void st_nn_portable_scores(const float *q, int n_q, int q_stride, const float *kt, int d_head, int n_kv, float scale,
                           float *scores) {
    scores_any(q, n_q, q_stride, kt, NULL, d_head, n_kv, scale, scores, 0);
}

void st_nn_portable_weighted_sum(const float *p, int n_q, int n_kv, const float *v, int v_stride, int d_head,
                                 float *out, int out_stride) {
    weighted_any(p, n_q, n_kv, v, NULL, v_stride, d_head, out, out_stride, 0);
}

void st_nn_portable_scores_i8(const float *q, int n_q, int q_stride, const int8_t *kt, const float *k_scales,
                              int d_head, int n_kv, float scale, float *scores) {
    scores_any(q, n_q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 1);
}

void st_nn_portable_weighted_sum_i8(const float *p, int n_q, int n_kv, const int8_t *v, const float *v_scales,
                                    int v_stride, int d_head, float *out, int out_stride) {
    weighted_any(p, n_q, n_kv, v, v_scales, v_stride, d_head, out, out_stride, 1);
}

uint16_t st_nn_to_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

static float from_bf16(uint16_t half) {
    uint32_t bits = (uint32_t)half << 16;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static void portable_rows_to_bf16(const float *x, int n_rows, int n_in, int k_pad, uint16_t *xb) {
    for (int r = 0; r < n_rows; r++) {
        uint16_t *out = xb + (size_t)r * k_pad;
        for (int i = 0; i < n_in; i++)
            out[i] = st_nn_to_bf16(x[(size_t)r * n_in + i]);
        for (int i = n_in; i < k_pad; i++)
            out[i] = 0;
    }
}

void st_nn_portable_gemm_bf16(const st_nn_bf16_weights *w, const uint16_t *xb, int row_begin, int row_end,
                              int block_begin, int block_end, float *y, int y_stride) {
    const int k_pairs = w->k_pad / 2;
    for (int b = block_begin; b < block_end; b++) {
        const uint16_t *panel = w->packed + (size_t)b * k_pairs * 32;
        for (int r = row_begin; r < row_end; r++) {
            const uint16_t *in = xb + (size_t)r * w->k_pad;
            float acc[16] = {0};
            for (int p = 0; p < k_pairs; p++) {
                const float even = from_bf16(in[2 * p]), odd = from_bf16(in[2 * p + 1]);
                for (int j = 0; j < 16; j++) {
                    acc[j] += even * from_bf16(panel[((size_t)p * 16 + j) * 2]);
                    acc[j] += odd * from_bf16(panel[((size_t)p * 16 + j) * 2 + 1]);
                }
            }
            for (int j = 0; j < 16 && 16 * b + j < w->n_out; j++)
                y[(size_t)r * y_stride + 16 * b + j] = (w->bias ? w->bias[16 * b + j] : 0.0f) + acc[j];
        }
    }
}

void st_nn_portable_attend_bf16(const float *q, int q_stride, int n_q, const uint16_t *keys, const uint16_t *values,
                                int n_kv, float scale, float *out, int out_stride) {
    float scores[ST_NN_BF16_MAX_KV], query[ST_NN_BF16_HEAD];
    for (int i = 0; i < n_q; i++) {
        for (int c = 0; c < ST_NN_BF16_HEAD; c++)
            query[c] = from_bf16(st_nn_to_bf16(q[(size_t)i * q_stride + c]));
        for (int j = 0; j < n_kv; j++) {
            const uint16_t *block = keys + (size_t)(j / 16) * ST_NN_BF16_HEAD * 16 + (j % 16) * 2;
            float sum = 0.0f;
            for (int p = 0; p < ST_NN_BF16_HEAD / 2; p++)
                sum += query[2 * p] * from_bf16(block[p * 32]) + query[2 * p + 1] * from_bf16(block[p * 32 + 1]);
            scores[j] = sum * scale;
        }
        st_nn_portable_softmax(scores, n_kv, n_kv);
        float *row = out + (size_t)i * out_stride;
        for (int c = 0; c < ST_NN_BF16_HEAD; c++)
            row[c] = 0.0f;
        for (int j = 0; j < n_kv; j++) {
            float weight = from_bf16(st_nn_to_bf16(scores[j]));
            const uint16_t *pair = values + (size_t)(j / 2) * ST_NN_BF16_HEAD * 2 + j % 2;
            for (int c = 0; c < ST_NN_BF16_HEAD; c++)
                row[c] += weight * from_bf16(pair[2 * c]);
        }
    }
}

static void portable_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = st_fp32_to_fp16(src[i]);
}

static void portable_exp_f64(const double *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = exp(x[i]);
}

double st_nn_portable_exp_sum(const float *values, int n, float shift) {
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += exp((double)values[i] - shift);
    return sum;
}

static float portable_max(const float *values, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        max = values[i] > max ? values[i] : max;
    return max;
}

int st_nn_exp_matches_libc(st_nn_exp_f64_kernel exp_f64) {
    enum { n_sweep = 3 * 32768, n_edges = 12, n = n_sweep + n_edges };
    static const double edges[n_edges] = {-INFINITY, -0.0, 0.0, -0x1p-54, -0x1.fffffffffffffp-55, -0x1p-1074,
                                          -511.99999999999994, -512.0, -708.5, -745.2, -1024.0, 1e-300};
    double *x = malloc(2 * n * sizeof *x);
    if (!x) return 0;
    double *y = x + n;
    for (int i = 0; i < n_sweep; i++) /* a step of about 1.4 table slots, never a whole number of them */
        x[i] = -746.0 + 747.0 * i / n_sweep;
    memcpy(x + n_sweep, edges, sizeof edges);
    exp_f64(x, y, n);
    int same = 1;
    for (int i = 0; i < n && same; i++) {
        double want = exp(x[i]);
        same = memcmp(&y[i], &want, sizeof want) == 0;
    }
    free(x);
    return same;
}

static const st_nn_kernels portable = {
    .name = "portable",
    .gemv_f16 = portable_gemv_f16,
    .gemv_q8_0 = portable_gemv_q8_0,
    .quantize_rows = st_nn_portable_quantize_rows,
    .gemm_i8 = st_nn_portable_gemm_i8,
    .rows_to_bf16 = portable_rows_to_bf16,
    .gemm_bf16 = st_nn_portable_gemm_bf16,
    .f16_to_f32 = portable_f16_to_f32,
    .softmax = st_nn_portable_softmax,
    .gelu = portable_gelu,
    .scores = st_nn_portable_scores,
    .weighted_sum = st_nn_portable_weighted_sum,
    .attend_bf16 = st_nn_portable_attend_bf16,
    .scores_i8 = st_nn_portable_scores_i8,
    .weighted_sum_i8 = st_nn_portable_weighted_sum_i8,
    .f32_to_f16 = portable_f32_to_f16,
    .exp_f64 = portable_exp_f64,
    .exp_sum = st_nn_portable_exp_sum,
    .max = portable_max,
};

const st_nn_kernels *st_nn_kernels_portable(void) {
    return &portable;
}

const st_nn_kernels *st_nn_kernels_best(void) {
    /* Racing first calls all store the same pointer, so no lock is needed. */
    static const st_nn_kernels *_Atomic chosen;
    const st_nn_kernels *kernels = chosen;
    if (kernels) return kernels;
    kernels = st_nn_kernels_avx512();
    if (!kernels) kernels = st_nn_kernels_avx2();
    if (!kernels) kernels = &portable;
    chosen = kernels;
    return kernels;
}
