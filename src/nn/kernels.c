/* kernels.c — the portable kernels and the run-time choice among instruction sets; see
 * kernels.h. */
#include "nn/kernels.h"

#include <math.h>
#include <string.h>

#include "nn/quant.h"

/* Weights are widened in chunks of this many (a multiple of ggml's 32-weight blocks) into a
 * stack buffer, so the product loop is plain float32 that any compiler vectorises. */
#define PORTABLE_CHUNK 256

static void portable_f16_to_f32(const void *src, float *dst, size_t n) {
    st_convert_to_f32(ST_DTYPE_F16, src, dst, n);
}

/* The one matrix-vector loop behind the three stored types: row o's weights start .. start +
 * count as float32 in out. For int8 that is q itself; the caller divides by the row's scale. */
static void widen_chunk(st_dtype dtype, const unsigned char *w, int n_in, int o, int start, int count, float *out) {
    size_t first = (size_t)o * n_in + start;
    if (dtype == ST_DTYPE_I8) {
        for (int i = 0; i < count; i++)
            out[i] = (float)(int8_t)w[first + i];
    } else {
        /* F16 or Q8_0; a Q8_0 chunk starts on a block because n_in and the chunk are multiples
         * of 32, and st_convert_to_f32 cannot fail on these types */
        st_convert_to_f32(dtype, w + st_dtype_bytes(dtype, (int64_t)first), out, (size_t)count);
    }
}

static void portable_gemv(st_dtype dtype, const void *w, const void *scales, const float *bias, int n_in,
                          const float *x, int n_rows, float *y, int y_stride, int o_begin, int o_end) {
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
        float scale = 1.0f;
        if (scales) memcpy(&scale, (const unsigned char *)scales + (size_t)o * sizeof scale, sizeof scale);
        for (int r = 0; r < n_rows; r++) {
            float *out = &y[(size_t)r * y_stride + o];
            *out = (bias ? bias[o] : 0.0f) + (scales ? *out / scale : *out);
        }
    }
}

static void portable_gemv_f16(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                              int y_stride, int o_begin, int o_end) {
    portable_gemv(ST_DTYPE_F16, w, NULL, bias, n_in, x, n_rows, y, y_stride, o_begin, o_end);
}

static void portable_gemv_q8_0(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                               int y_stride, int o_begin, int o_end) {
    portable_gemv(ST_DTYPE_Q8_0, w, NULL, bias, n_in, x, n_rows, y, y_stride, o_begin, o_end);
}

static void portable_gemv_i8(const void *w, const void *scales, const float *bias, int n_in, const float *x,
                             int n_rows, float *y, int y_stride, int o_begin, int o_end) {
    portable_gemv(ST_DTYPE_I8, w, scales, bias, n_in, x, n_rows, y, y_stride, o_begin, o_end);
}

static void portable_softmax(float *row, int n_valid, int n_cols) {
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

void st_nn_portable_scores(const float *q, int n_q, int q_stride, const float *kt, int d_head, int n_kv, float scale,
                           float *scores) {
    for (int i = 0; i < n_q; i++) {
        float *row = scores + (size_t)i * n_kv;
        for (int j = 0; j < n_kv; j++)
            row[j] = 0.0f;
        for (int c = 0; c < d_head; c++) {
            const float weight = q[(size_t)i * q_stride + c], *keys = kt + (size_t)c * n_kv;
            for (int j = 0; j < n_kv; j++)
                row[j] += weight * keys[j];
        }
        for (int j = 0; j < n_kv; j++)
            row[j] *= scale;
    }
}

void st_nn_portable_weighted_sum(const float *p, int n_q, int n_kv, const float *v, int v_stride, int d_head,
                                 float *out, int out_stride) {
    for (int i = 0; i < n_q; i++) {
        float *row = out + (size_t)i * out_stride;
        for (int c = 0; c < d_head; c++)
            row[c] = 0.0f;
        for (int j = 0; j < n_kv; j++) {
            const float weight = p[(size_t)i * n_kv + j], *values = v + (size_t)j * v_stride;
            for (int c = 0; c < d_head; c++)
                row[c] += weight * values[c];
        }
    }
}

static const st_nn_kernels portable = {
    .name = "portable",
    .gemv_f16 = portable_gemv_f16,
    .gemv_q8_0 = portable_gemv_q8_0,
    .gemv_i8 = portable_gemv_i8,
    .f16_to_f32 = portable_f16_to_f32,
    .softmax = portable_softmax,
    .gelu = portable_gelu,
    .scores = st_nn_portable_scores,
    .weighted_sum = st_nn_portable_weighted_sum,
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
