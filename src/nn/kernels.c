/* kernels.c — the portable kernels and the run-time choice among instruction sets; see
 * kernels.h. */
#include "nn/kernels.h"

#include <math.h>

#include "nn/quant.h"

/* Half weights are widened in chunks of this many into a stack buffer, so the product loop
 * is plain float32 that any compiler vectorises. */
#define PORTABLE_CHUNK 256

static void portable_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = st_fp16_to_fp32(src[i]);
}

static void portable_gemv_f16(const uint16_t *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                              int y_stride, int o_begin, int o_end) {
    float widened[PORTABLE_CHUNK];
    for (int o = o_begin; o < o_end; o++) {
        for (int r = 0; r < n_rows; r++)
            y[(size_t)r * y_stride + o] = bias ? bias[o] : 0.0f;
        const uint16_t *row = w + (size_t)o * n_in;
        for (int start = 0; start < n_in; start += PORTABLE_CHUNK) {
            int count = n_in - start < PORTABLE_CHUNK ? n_in - start : PORTABLE_CHUNK;
            portable_f16_to_f32(row + start, widened, (size_t)count);
            for (int r = 0; r < n_rows; r++) {
                const float *in = x + (size_t)r * n_in + start;
                float sum = 0.0f;
                for (int i = 0; i < count; i++)
                    sum += in[i] * widened[i];
                y[(size_t)r * y_stride + o] += sum;
            }
        }
    }
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
