/*
 * kernels_avx2.c — the stored-weight kernels for CPUs with AVX2, FMA and F16C (x86-64-v3);
 * see kernels.h. Compiled with target attributes into the baseline library and called only
 * after __builtin_cpu_supports has confirmed the instructions.
 */
#include "nn/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nn/quant.h"

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE_TILE AVX2_TARGET __attribute__((always_inline)) static inline

AVX2_TARGET static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Up to 4 outputs by up to 2 rows of x: 8 accumulators, 4 weight vectors and one x vector fit
 * the 16 ymm registers. Called with constant n_w and n_x so every loop here unrolls. */
INLINE_TILE void tile(const void *w, const float *bias, int n_in, const float *x, float *y, int y_stride, int o,
                      const int n_w, const int n_x) {
    __m256 acc[4][2];
    for (int a = 0; a < n_w; a++)
        for (int r = 0; r < n_x; r++)
            acc[a][r] = _mm256_setzero_ps();
    /* bytes, not uint16_t: the weights may sit at an odd address, and every load is unaligned */
    const unsigned char *rows = (const unsigned char *)w + (size_t)o * n_in * 2;
    int i = 0;
    for (; i + 8 <= n_in; i += 8) {
        __m256 weights[4];
        for (int a = 0; a < n_w; a++)
            weights[a] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(rows + ((size_t)a * n_in + i) * 2)));
        for (int r = 0; r < n_x; r++) {
            __m256 in = _mm256_loadu_ps(x + (size_t)r * n_in + i);
            for (int a = 0; a < n_w; a++)
                acc[a][r] = _mm256_fmadd_ps(weights[a], in, acc[a][r]);
        }
    }
    for (int a = 0; a < n_w; a++) {
        float b = bias ? bias[o + a] : 0.0f;
        for (int r = 0; r < n_x; r++) {
            float sum = sum8(acc[a][r]);
            for (int t = i; t < n_in; t++) { /* the last n_in % 8 columns */
                uint16_t half;
                memcpy(&half, rows + ((size_t)a * n_in + t) * 2, sizeof half);
                sum += st_fp16_to_fp32(half) * x[(size_t)r * n_in + t];
            }
            y[(size_t)r * y_stride + o + a] = b + sum;
        }
    }
}

INLINE_TILE void outputs(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y, int y_stride,
                         int o, const int n_w) {
    int r = 0;
    for (; r + 2 <= n_rows; r += 2)
        tile(w, bias, n_in, x + (size_t)r * n_in, y + (size_t)r * y_stride, y_stride, o, n_w, 2);
    if (r < n_rows) tile(w, bias, n_in, x + (size_t)r * n_in, y + (size_t)r * y_stride, y_stride, o, n_w, 1);
}

AVX2_TARGET static void avx2_gemv_f16(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                                      int y_stride, int o_begin, int o_end) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4)
        outputs(w, bias, n_in, x, n_rows, y, y_stride, o, 4);
    for (; o < o_end; o++)
        outputs(w, bias, n_in, x, n_rows, y, y_stride, o, 1);
}

/* The q8_0 tile: up to 4 outputs by up to 2 rows of x, like the half tile. Each 32-weight
 * block is widened 8 at a time to q * d (exact) and FMA'd with x. */
INLINE_TILE void qtile(const unsigned char *w, const float *bias, int n_in, const float *x, float *y, int y_stride,
                       int o, const int n_w, const int n_x) {
    __m256 acc[4][2];
    for (int a = 0; a < n_w; a++)
        for (int r = 0; r < n_x; r++)
            acc[a][r] = _mm256_setzero_ps();
    const size_t row_bytes = (size_t)n_in / 32 * 34;
    const unsigned char *rows = w + (size_t)o * row_bytes;
    for (int i = 0; i < n_in; i += 32) {
        __m256 d[4];
        for (int a = 0; a < n_w; a++) {
            uint16_t half;
            memcpy(&half, rows + (size_t)a * row_bytes + (size_t)i / 32 * 34, sizeof half);
            d[a] = _mm256_set1_ps(_cvtsh_ss(half));
        }
        for (int k = 0; k < 32; k += 8) {
            __m256 weights[4];
            for (int a = 0; a < n_w; a++) {
                const unsigned char *q = rows + (size_t)a * row_bytes + (size_t)i / 32 * 34 + 2 + k;
                __m256 widened = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
                weights[a] = _mm256_mul_ps(widened, d[a]);
            }
            for (int r = 0; r < n_x; r++) {
                __m256 in = _mm256_loadu_ps(x + (size_t)r * n_in + i + k);
                for (int a = 0; a < n_w; a++)
                    acc[a][r] = _mm256_fmadd_ps(weights[a], in, acc[a][r]);
            }
        }
    }
    for (int a = 0; a < n_w; a++) {
        float b = bias ? bias[o + a] : 0.0f;
        for (int r = 0; r < n_x; r++)
            y[(size_t)r * y_stride + o + a] = b + sum8(acc[a][r]);
    }
}

INLINE_TILE void qoutputs(const unsigned char *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                          int y_stride, int o, const int n_w) {
    int r = 0;
    for (; r + 2 <= n_rows; r += 2)
        qtile(w, bias, n_in, x + (size_t)r * n_in, y + (size_t)r * y_stride, y_stride, o, n_w, 2);
    if (r < n_rows) qtile(w, bias, n_in, x + (size_t)r * n_in, y + (size_t)r * y_stride, y_stride, o, n_w, 1);
}

AVX2_TARGET static void avx2_gemv_q8_0(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                                       int y_stride, int o_begin, int o_end) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4)
        qoutputs(w, bias, n_in, x, n_rows, y, y_stride, o, 4);
    for (; o < o_end; o++)
        qoutputs(w, bias, n_in, x, n_rows, y, y_stride, o, 1);
}

AVX2_TARGET static void avx2_f16_to_f32(const void *source, float *dst, size_t n) {
    const unsigned char *src = source; /* bytes: it may sit at an odd address */
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    if (i < n) st_convert_to_f32(ST_DTYPE_F16, src + 2 * i, dst + i, n - i);
}

/* e^x as in kernels_avx512.c, with 2^n built in the exponent bits: x is clamped to where n
 * stays a normal exponent, and inputs below that give 0 (expf would give a subnormal). */
AVX2_TARGET static inline __m256 exp8(__m256 x) {
    const __m256 lowest = _mm256_set1_ps(-87.3f);
    __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lowest), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

/* erf(x) as in kernels_avx512.c. */
AVX2_TARGET static inline __m256 erf8(__m256 x) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign_bit, x), a2 = _mm256_mul_ps(a, a);
    __m256 s = _mm256_set1_ps(1.0f / 9360.0f);
    s = _mm256_fmadd_ps(s, a2, _mm256_set1_ps(-1.0f / 1320.0f));
    s = _mm256_fmadd_ps(s, a2, _mm256_set1_ps(1.0f / 216.0f));
    s = _mm256_fmadd_ps(s, a2, _mm256_set1_ps(-1.0f / 42.0f));
    s = _mm256_fmadd_ps(s, a2, _mm256_set1_ps(1.0f / 10.0f));
    s = _mm256_fmadd_ps(s, a2, _mm256_set1_ps(-1.0f / 3.0f));
    s = _mm256_fmadd_ps(s, a2, _mm256_set1_ps(1.0f));
    __m256 small = _mm256_mul_ps(_mm256_mul_ps(s, a), _mm256_set1_ps(1.12837916709551257f));
    __m256 t =
        _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 q = _mm256_set1_ps(1.061405429f);
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.453152027f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.421413741f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-0.284496736f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(0.254829592f));
    __m256 large =
        _mm256_fnmadd_ps(_mm256_mul_ps(q, t), exp8(_mm256_sub_ps(_mm256_setzero_ps(), a2)), _mm256_set1_ps(1.0f));
    __m256 y = _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.5f), _CMP_LT_OQ));
    return _mm256_or_ps(y, _mm256_and_ps(x, sign_bit));
}

AVX2_TARGET static void avx2_softmax(float *row, int n_valid, int n_cols) {
    float max = row[0];
    int i = 0;
    if (n_valid >= 8) {
        __m256 m = _mm256_loadu_ps(row);
        for (i = 8; i + 8 <= n_valid; i += 8)
            m = _mm256_max_ps(m, _mm256_loadu_ps(row + i));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        max = _mm_cvtss_f32(h);
    }
    for (; i < n_valid; i++)
        max = row[i] > max ? row[i] : max;
    __m256 shift = _mm256_set1_ps(max), sum8v = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n_valid; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift));
        _mm256_storeu_ps(row + i, e);
        sum8v = _mm256_add_ps(sum8v, e);
    }
    float sum = sum8(sum8v);
    for (; i < n_valid; i++) {
        row[i] = expf(row[i] - max);
        sum += row[i];
    }
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n_valid; i += 8)
        _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inv));
    for (; i < n_valid; i++)
        row[i] *= 1.0f / sum;
    for (i = n_valid; i < n_cols; i++)
        row[i] = 0.0f;
}

AVX2_TARGET static void avx2_gelu(float *x, size_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 inv_sqrt2 = _mm256_set1_ps(0.70710678118654752f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 phi = _mm256_add_ps(one, erf8(_mm256_mul_ps(v, inv_sqrt2)));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), phi));
    }
    for (; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

AVX2_TARGET static void avx2_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = st_fp32_to_fp16(src[i]);
}

/* The int8 product without VNNI: vpmaddubsw multiplies unsigned by signed bytes into int16
 * pairs with saturation, so it takes |w| (at most 128) against x - 128 with w's sign (at most
 * 127 in size): a pair of products stays within 2 * 128 * 127 = 32512, exact, and vpmaddwd
 * then sums pairs of pairs into int32. That sum is already sum((xq - 128) * q), the one the
 * other sets reach through the weights' sums. n_r rows (up to 3) of one block of 16 outputs,
 * the outputs in two vectors of 8: 3 rows keep the 6 sums, both weight vectors and their
 * magnitudes in the 16 registers, where 4 rows spilled sums to the stack on every step (about
 * 20 % slower, bench/README.md). */
INLINE_TILE void i8_tile(const st_nn_i8_weights *w, const uint8_t *xq, const float *x_inv, int r, int b, float *y,
                         int y_stride, const int n_r) {
    const int k_groups = w->k_pad / 4;
    const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    __m256i acc[3][2];
    for (int i = 0; i < n_r; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    const int8_t *panel = w->packed + (size_t)b * k_groups * 64;
    for (int g = 0; g < k_groups; g++) {
        __m256i weights[2], magnitude[2];
        for (int h = 0; h < 2; h++) {
            weights[h] = _mm256_loadu_si256((const __m256i *)(panel + (size_t)g * 64 + 32 * h));
            magnitude[h] = _mm256_abs_epi8(weights[h]);
        }
        for (int i = 0; i < n_r; i++) {
            int32_t four;
            memcpy(&four, xq + (size_t)(r + i) * w->k_pad + 4 * (size_t)g, sizeof four);
            __m256i in = _mm256_xor_si256(_mm256_set1_epi32(four), flip); /* xq - 128 as signed bytes */
            for (int h = 0; h < 2; h++) {
                __m256i pairs = _mm256_maddubs_epi16(magnitude[h], _mm256_sign_epi8(in, weights[h]));
                acc[i][h] = _mm256_add_epi32(acc[i][h], _mm256_madd_epi16(pairs, ones));
            }
        }
    }
    const int o = 16 * b, count = w->n_out - o < 16 ? w->n_out - o : 16;
    for (int i = 0; i < n_r; i++) {
        float out[16];
        for (int h = 0; h < 2; h++) {
            __m256 m = _mm256_mul_ps(_mm256_set1_ps(x_inv[r + i]), _mm256_loadu_ps(w->inv_scales + o + 8 * h));
            __m256 value = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][h]), m);
            _mm256_storeu_ps(out + 8 * h, value);
        }
        float *row = y + (size_t)(r + i) * y_stride + o;
        for (int j = 0; j < count; j++)
            row[j] = (w->bias ? w->bias[o + j] : 0.0f) + out[j];
    }
}

AVX2_TARGET static void avx2_gemm_i8(const st_nn_i8_weights *w, const uint8_t *xq, const float *x_inv, int row_begin,
                                     int row_end, int block_begin, int block_end, float *y, int y_stride) {
    for (int b = block_begin; b < block_end; b++) {
        int r = row_begin;
        for (; r + 3 <= row_end; r += 3)
            i8_tile(w, xq, x_inv, r, b, y, y_stride, 3);
        switch (row_end - r) {
        case 2:
            i8_tile(w, xq, x_inv, r, b, y, y_stride, 2);
            break;
        case 1:
            i8_tile(w, xq, x_inv, r, b, y, y_stride, 1);
            break;
        default:
            break;
        }
    }
}

/* st_nn_portable_quantize_rows' bytes: the largest |x| (exact in any order), then x * scale
 * rounded to nearest-even by the conversion, 32 at a time (the packs interleave the 128-bit
 * lanes, which the permutation undoes); the tail in C as the portable kernel computes it. */
AVX2_TARGET static void avx2_quantize_rows(const float *x, int n_rows, int n_in, int k_pad, uint8_t *xq,
                                           float *inv_scales) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i offset = _mm256_set1_epi32(128), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int r = 0; r < n_rows; r++) {
        const float *in = x + (size_t)r * n_in;
        uint8_t *out = xq + (size_t)r * k_pad;
        __m256 max8 = _mm256_setzero_ps();
        int i = 0;
        for (; i + 8 <= n_in; i += 8)
            max8 = _mm256_max_ps(max8, _mm256_andnot_ps(sign, _mm256_loadu_ps(in + i)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(max8), _mm256_extractf128_ps(max8, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float max = _mm_cvtss_f32(h);
        for (; i < n_in; i++)
            max = fabsf(in[i]) > max ? fabsf(in[i]) : max;
        const float scale = max > 0.0f ? 127.0f / max : 1.0f;
        inv_scales[r] = 1.0f / scale;
        const __m256 s = _mm256_set1_ps(scale);
        for (i = 0; i + 32 <= n_in; i += 32) {
            __m256i q[4];
            for (int v = 0; v < 4; v++)
                q[v] = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(in + i + 8 * v), s)), offset);
            __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(out + i), _mm256_permutevar8x32_epi32(bytes, order));
        }
        for (; i < n_in; i++)
            out[i] = (uint8_t)(128 + (int)nearbyintf(in[i] * scale));
        for (; i < k_pad; i++)
            out[i] = 128;
    }
}

/* ---- attention, the same operations in the same order as the portable kernels (kernels.c):
 * vectorised across keys (scores) or columns (weighted sums), each sum still taken term by
 * term, multiplies and adds apart (the portable code is built without contraction), so every
 * result is bit for bit the portable one. */

/* 8 int8 at an unaligned address, widened (exactly) to float32. */
AVX2_TARGET static inline __m256 load_bytes(const int8_t *src) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)src)));
}

/* Scores of n_r query rows against the 16 keys of block kb (kernels.h's blocked int8 keys). */
INLINE_TILE void scores_i8_tile(const float *q, int q_stride, const int8_t *kt, const float *k_scales, int d_head,
                                int kb, float scale, float *out, int out_stride, const int n_r) {
    __m256 acc[4][2];
    for (int i = 0; i < n_r; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const int8_t *block = kt + (size_t)kb * d_head * ST_NN_KEY_BLOCK;
    for (int c = 0; c < d_head; c++) {
        __m256 k0 = load_bytes(block + (size_t)c * ST_NN_KEY_BLOCK),
               k1 = load_bytes(block + (size_t)c * ST_NN_KEY_BLOCK + 8);
        for (int i = 0; i < n_r; i++) {
            __m256 weight = _mm256_set1_ps(q[(size_t)i * q_stride + c]);
            acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_mul_ps(weight, k0));
            acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_mul_ps(weight, k1));
        }
    }
    const float *scales = k_scales + (size_t)kb * ST_NN_KEY_BLOCK;
    const __m256 s0 = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_loadu_ps(scales)),
                 s1 = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_loadu_ps(scales + 8));
    for (int i = 0; i < n_r; i++) {
        _mm256_storeu_ps(out + (size_t)i * out_stride, _mm256_mul_ps(acc[i][0], s0));
        _mm256_storeu_ps(out + (size_t)i * out_stride + 8, _mm256_mul_ps(acc[i][1], s1));
    }
}

/* Scores of n_r query rows against all keys, a block of 16 at a time. */
INLINE_TILE void scores_i8_rows(const float *q, int q_stride, const int8_t *kt, const float *k_scales, int d_head,
                                int n_kv, float scale, float *scores, const int n_r) {
    float tail[4 * ST_NN_KEY_BLOCK]; /* the last block's keys beyond n_kv are computed, not written */
    for (int kb = 0; kb * ST_NN_KEY_BLOCK < n_kv; kb++) {
        const int whole = (kb + 1) * ST_NN_KEY_BLOCK <= n_kv;
        scores_i8_tile(q, q_stride, kt, k_scales, d_head, kb, scale, whole ? scores + kb * ST_NN_KEY_BLOCK : tail,
                       whole ? n_kv : ST_NN_KEY_BLOCK, n_r);
        if (!whole)
            for (int r = 0; r < n_r; r++)
                memcpy(scores + (size_t)r * n_kv + kb * ST_NN_KEY_BLOCK, tail + r * ST_NN_KEY_BLOCK,
                       sizeof(float) * (size_t)(n_kv - kb * ST_NN_KEY_BLOCK));
    }
}

AVX2_TARGET static void avx2_scores_i8(const float *q, int n_q, int q_stride, const int8_t *kt, const float *k_scales,
                                       int d_head, int n_kv, float scale, float *scores) {
    int i = 0;
    for (; i + 4 <= n_q; i += 4)
        scores_i8_rows(q + (size_t)i * q_stride, q_stride, kt, k_scales, d_head, n_kv, scale, scores + (size_t)i * n_kv,
                       4);
    for (; i < n_q; i++)
        scores_i8_rows(q + (size_t)i * q_stride, q_stride, kt, k_scales, d_head, n_kv, scale, scores + (size_t)i * n_kv,
                       1);
}

/* 8 stored values (float32, or int8 widened) at an unaligned address; bytes is constant after
 * inlining. */
INLINE_TILE __m256 load_stored(const void *v, size_t index, const int bytes) {
    return bytes ? load_bytes((const int8_t *)v + index) : _mm256_loadu_ps((const float *)v + index);
}

/* out[c0 .. c0 + 8 * n_v) of one row: the weighted sum of the values over all keys (int8
 * values: each key's weight times its scale first, as the portable kernel takes it). */
INLINE_TILE void weighted_tile(const float *p, int n_kv, const void *v, const float *v_scales, int v_stride, int c0,
                               float *out, const int n_v, const int bytes) {
    __m256 acc[4];
    for (int g = 0; g < n_v; g++)
        acc[g] = _mm256_setzero_ps();
    for (int j = 0; j < n_kv; j++) {
        __m256 weight = _mm256_set1_ps(bytes ? p[j] * v_scales[j] : p[j]);
        for (int g = 0; g < n_v; g++)
            acc[g] =
                _mm256_add_ps(acc[g], _mm256_mul_ps(weight, load_stored(v, (size_t)j * v_stride + c0 + 8 * g, bytes)));
    }
    for (int g = 0; g < n_v; g++)
        _mm256_storeu_ps(out + c0 + 8 * g, acc[g]);
}

INLINE_TILE void weighted_rows(const float *p, int n_q, int n_kv, const void *v, const float *v_scales, int v_stride,
                               int d_head, float *out, int out_stride, const int bytes) {
    for (int i = 0; i < n_q; i++) {
        const float *weights = p + (size_t)i * n_kv;
        float *row = out + (size_t)i * out_stride;
        int c = 0;
        for (; c + 32 <= d_head; c += 32)
            weighted_tile(weights, n_kv, v, v_scales, v_stride, c, row, 4, bytes);
        for (; c + 8 <= d_head; c += 8)
            weighted_tile(weights, n_kv, v, v_scales, v_stride, c, row, 1, bytes);
        for (; c < d_head; c++) { /* the columns left, as the portable kernel sums them */
            float sum = 0.0f;
            for (int j = 0; j < n_kv; j++)
                sum += (bytes ? weights[j] * v_scales[j] : weights[j]) *
                       (bytes ? (float)((const int8_t *)v)[(size_t)j * v_stride + c]
                              : ((const float *)v)[(size_t)j * v_stride + c]);
            row[c] = sum;
        }
    }
}

AVX2_TARGET static void avx2_weighted_sum(const float *p, int n_q, int n_kv, const float *v, int v_stride, int d_head,
                                          float *out, int out_stride) {
    weighted_rows(p, n_q, n_kv, v, NULL, v_stride, d_head, out, out_stride, 0);
}

AVX2_TARGET static void avx2_weighted_sum_i8(const float *p, int n_q, int n_kv, const int8_t *v, const float *v_scales,
                                             int v_stride, int d_head, float *out, int out_stride) {
    weighted_rows(p, n_q, n_kv, v, v_scales, v_stride, d_head, out, out_stride, 1);
}

/* bf16 pairs (two per 32-bit lane, the first in the low half) widened to float32. */
AVX2_TARGET static inline __m256 bf16_low(__m256i pairs) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
}
AVX2_TARGET static inline __m256 bf16_high(__m256i pairs) {
    return _mm256_castsi256_ps(_mm256_and_si256(pairs, _mm256_set1_epi32((int)0xffff0000u)));
}

/* n_r rows by one block of 16 outputs of the bf16 product, st_nn_portable_gemm_bf16's bits:
 * each pair of inputs' weights widened once (the even and the odd input of 8 outputs per
 * vector) and multiplied by each row's pair, the even product added before the odd one; the
 * products are exact in float32, so each fused multiply-add rounds as the portable loop does. */
INLINE_TILE void bf16_gemm_tile(const st_nn_bf16_weights *w, const uint16_t *xb, int r, int b, float *y, int y_stride,
                                const int n_r) {
    const int k_pairs = w->k_pad / 2;
    __m256 acc[4][2];
    for (int i = 0; i < n_r; i++)
        for (int h = 0; h < 2; h++)
            acc[i][h] = _mm256_setzero_ps();
    const uint16_t *panel = w->packed + (size_t)b * k_pairs * 32;
    for (int p = 0; p < k_pairs; p++) {
        __m256 even[2], odd[2];
        for (int h = 0; h < 2; h++) {
            __m256i pairs = _mm256_loadu_si256((const __m256i *)(panel + (size_t)p * 32 + 16 * h));
            even[h] = bf16_low(pairs);
            odd[h] = bf16_high(pairs);
        }
        for (int i = 0; i < n_r; i++) {
            int32_t pair;
            memcpy(&pair, xb + (size_t)(r + i) * w->k_pad + 2 * (size_t)p, sizeof pair);
            __m256i in = _mm256_set1_epi32(pair);
            __m256 x_even = bf16_low(in), x_odd = bf16_high(in);
            for (int h = 0; h < 2; h++) {
                acc[i][h] = _mm256_fmadd_ps(x_even, even[h], acc[i][h]);
                acc[i][h] = _mm256_fmadd_ps(x_odd, odd[h], acc[i][h]);
            }
        }
    }
    const int o = 16 * b, count = w->n_out - o < 16 ? w->n_out - o : 16;
    for (int i = 0; i < n_r; i++) {
        float out[16];
        for (int h = 0; h < 2; h++)
            _mm256_storeu_ps(out + 8 * h, acc[i][h]);
        float *row = y + (size_t)(r + i) * y_stride + o;
        for (int j = 0; j < count; j++)
            row[j] = (w->bias ? w->bias[o + j] : 0.0f) + out[j];
    }
}

AVX2_TARGET void st_nn_avx2_gemm_bf16(const st_nn_bf16_weights *w, const uint16_t *xb, int row_begin, int row_end,
                                      int block_begin, int block_end, float *y, int y_stride) {
    for (int b = block_begin; b < block_end; b++) {
        int r = row_begin;
        for (; r + 4 <= row_end; r += 4)
            bf16_gemm_tile(w, xb, r, b, y, y_stride, 4);
        switch (row_end - r) {
        case 3:
            bf16_gemm_tile(w, xb, r, b, y, y_stride, 3);
            break;
        case 2:
            bf16_gemm_tile(w, xb, r, b, y, y_stride, 2);
            break;
        case 1:
            bf16_gemm_tile(w, xb, r, b, y, y_stride, 1);
            break;
        default:
            break;
        }
    }
}

/* float32 rounded to bf16 and back (st_nn_to_bf16's nearest-even). */
AVX2_TARGET static inline __m256 bf16_round8(__m256 x) {
    __m256i bits = _mm256_castps_si256(x);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    bits = _mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff)));
    return _mm256_castsi256_ps(_mm256_and_si256(bits, _mm256_set1_epi32((int)0xffff0000u)));
}

/* st_nn_to_bf16 16 at a time (the packs interleave the 128-bit lanes, which the permutation
 * undoes); the tail in C. */
AVX2_TARGET static void avx2_rows_to_bf16(const float *x, int n_rows, int n_in, int k_pad, uint16_t *xb) {
    for (int r = 0; r < n_rows; r++) {
        const float *in = x + (size_t)r * n_in;
        uint16_t *out = xb + (size_t)r * k_pad;
        int i = 0;
        for (; i + 16 <= n_in; i += 16) {
            __m256i low = _mm256_srli_epi32(_mm256_castps_si256(bf16_round8(_mm256_loadu_ps(in + i))), 16);
            __m256i high = _mm256_srli_epi32(_mm256_castps_si256(bf16_round8(_mm256_loadu_ps(in + i + 8))), 16);
            _mm256_storeu_si256((__m256i *)(out + i), _mm256_permute4x64_epi64(_mm256_packus_epi32(low, high), 0xd8));
        }
        for (; i < n_in; i++)
            out[i] = st_nn_to_bf16(in[i]);
        for (; i < k_pad; i++)
            out[i] = 0;
    }
}

/* Scores of n_r query rows (bf16-rounded, ST_NN_BF16_HEAD columns each in qr) against the 16
 * keys of block kb, each pair of columns summed first as the portable kernel does. A product
 * of two bf16 values is exact in float32, so a fused multiply-add of the second product onto
 * the first rounds the pair's sum as the portable code does. */
INLINE_TILE void bf16_scores_tile(const float *qr, const uint16_t *keys, int kb, float scale, float *scores, int stride,
                                  const int n_r) {
    __m256 acc[4][2];
    for (int i = 0; i < n_r; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const uint16_t *block = keys + (size_t)kb * ST_NN_BF16_HEAD * 16;
    for (int pair = 0; pair < ST_NN_BF16_HEAD / 2; pair++) {
        __m256i k0 = _mm256_loadu_si256((const __m256i *)(block + pair * 32)),
                k1 = _mm256_loadu_si256((const __m256i *)(block + pair * 32 + 16));
        __m256 even0 = bf16_low(k0), odd0 = bf16_high(k0), even1 = bf16_low(k1), odd1 = bf16_high(k1);
        for (int i = 0; i < n_r; i++) {
            __m256 qe = _mm256_set1_ps(qr[i * ST_NN_BF16_HEAD + 2 * pair]),
                   qo = _mm256_set1_ps(qr[i * ST_NN_BF16_HEAD + 2 * pair + 1]);
            acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_fmadd_ps(qo, odd0, _mm256_mul_ps(qe, even0)));
            acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_fmadd_ps(qo, odd1, _mm256_mul_ps(qe, even1)));
        }
    }
    for (int i = 0; i < n_r; i++) {
        _mm256_storeu_ps(scores + (size_t)i * stride + 16 * kb, _mm256_mul_ps(acc[i][0], _mm256_set1_ps(scale)));
        _mm256_storeu_ps(scores + (size_t)i * stride + 16 * kb + 8, _mm256_mul_ps(acc[i][1], _mm256_set1_ps(scale)));
    }
}

/* out[c0 .. c0 + 32) of n_r rows: the probabilities (rounded to bf16 in `scores`) times the
 * values, key after key; each product is exact, so the fused multiply-add rounds as the
 * portable code's add does. */
INLINE_TILE void bf16_weighted_tile(const float *scores, int stride, const uint16_t *values, int n_kv, int c0,
                                    float *out, int out_stride, const int n_r) {
    __m256 acc[2][4];
    for (int i = 0; i < n_r; i++)
        for (int g = 0; g < 4; g++)
            acc[i][g] = _mm256_setzero_ps();
    for (int j = 0; j < n_kv; j += 2) {
        const uint16_t *pairs = values + (size_t)(j / 2) * ST_NN_BF16_HEAD * 2 + 2 * c0;
        __m256i v[4];
        for (int g = 0; g < 4; g++)
            v[g] = _mm256_loadu_si256((const __m256i *)(pairs + 16 * g));
        for (int i = 0; i < n_r; i++) {
            __m256 weight = _mm256_set1_ps(scores[(size_t)i * stride + j]);
            for (int g = 0; g < 4; g++)
                acc[i][g] = _mm256_fmadd_ps(weight, bf16_low(v[g]), acc[i][g]);
            if (j + 1 == n_kv) continue;
            weight = _mm256_set1_ps(scores[(size_t)i * stride + j + 1]);
            for (int g = 0; g < 4; g++)
                acc[i][g] = _mm256_fmadd_ps(weight, bf16_high(v[g]), acc[i][g]);
        }
    }
    for (int i = 0; i < n_r; i++)
        for (int g = 0; g < 4; g++)
            _mm256_storeu_ps(out + (size_t)i * out_stride + c0 + 8 * g, acc[i][g]);
}

/* expf as the C library computes it, 8 at a time, for the softmax of the bf16 attention to give
 * the portable kernel's bits. glibc's expf (2.28 and later; its FMA build on these CPUs) works
 * in double: k = round(x * 32 / ln 2) by the 2^52 * 1.5 shift, r = x * 32 / ln 2 - k, 2^(k / 32)
 * from a table of 2^(i / 32) with k / 32's integer part added to the exponent, times a cubic in
 * r, rounded to float once. That is repeated here operation for operation (the same fused
 * multiply-adds), and st_nn_avx2_exp_is_libc checks it against the library's expf before it is used:
 * with another C library the portable softmax runs instead. |x| >= 88 (overflow, underflow,
 * infinities, NaN) takes the library's own special cases. */
static const uint64_t exp2_table[32] = {
    0x3ff0000000000000, 0x3ff059b0d3158574, 0x3ff0b5586cf9890f, 0x3ff11301d0125b51, 0x3ff172b83c7d517b,
    0x3ff1d4873168b9aa, 0x3ff2387a6e756238, 0x3ff29e9df51fdee1, 0x3ff306fe0a31b715, 0x3ff371a7373aa9cb,
    0x3ff3dea64c123422, 0x3ff44e086061892d, 0x3ff4bfdad5362a27, 0x3ff5342b569d4f82, 0x3ff5ab07dd485429,
    0x3ff6247eb03a5585, 0x3ff6a09e667f3bcd, 0x3ff71f75e8ec5f74, 0x3ff7a11473eb0187, 0x3ff82589994cce13,
    0x3ff8ace5422aa0db, 0x3ff93737b0cdc5e5, 0x3ff9c49182a3f090, 0x3ffa5503b23e255d, 0x3ffae89f995ad3ad,
    0x3ffb7f76f2fb5e47, 0x3ffc199bdd85529c, 0x3ffcb720dcef9069, 0x3ffd5818dcfba487, 0x3ffdfc97337b9b5f,
    0x3ffea4afa2a490da, 0x3fff50765b6e4540}; /* 2^(i / 32), nearest double */

AVX2_TARGET static inline __m128 libc_exp4(__m128 x) {
    const __m256d xd = _mm256_cvtps_pd(x), shift = _mm256_set1_pd(0x1.8p+52);
    const __m256d inv_ln2_32 = _mm256_set1_pd(0x1.71547652b82fep+5);
    const __m256d kd_shifted = _mm256_fmadd_pd(inv_ln2_32, xd, shift);
    const __m256i ki = _mm256_castpd_si256(kd_shifted);
    const __m256d r = _mm256_fmsub_pd(inv_ln2_32, xd, _mm256_sub_pd(kd_shifted, shift));
    /* the table holds 2^(i / 32); its exponent field takes k's bits above the low 5 */
    __m256i t = _mm256_i64gather_epi64((const long long *)exp2_table, _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    t = _mm256_add_epi64(t, _mm256_slli_epi64(_mm256_srli_epi64(ki, 5), 52));
    const __m256d z = _mm256_fmadd_pd(_mm256_set1_pd(0x1.c6af84b912394p-20), r, _mm256_set1_pd(0x1.ebfce50fac4f3p-13));
    __m256d y = _mm256_fmadd_pd(_mm256_set1_pd(0x1.62e42ff0c52d6p-6), r, _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(z, _mm256_mul_pd(r, r), y);
    return _mm256_cvtpd_ps(_mm256_mul_pd(y, _mm256_castsi256_pd(t)));
}

AVX2_TARGET static inline __m256 libc_exp8(__m256 x) {
    __m256 y = _mm256_set_m128(libc_exp4(_mm256_extractf128_ps(x, 1)), libc_exp4(_mm256_castps256_ps128(x)));
    const __m256 limit = _mm256_set1_ps(88.0f);
    int special = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), limit, _CMP_NLT_UQ));
    if (special) {
        float in[8], out[8];
        _mm256_storeu_ps(in, x);
        _mm256_storeu_ps(out, y);
        for (int i = 0; i < 8; i++)
            if (special >> i & 1) out[i] = expf(in[i]);
        y = _mm256_loadu_ps(out);
    }
    return y;
}

/* Whether libc_exp8 gives expf's bits, on a sweep of [-100, 10] (every table slot, both signs of
 * r, the special cases' edge), answered once. */
AVX2_TARGET int st_nn_avx2_exp_is_libc(void) {
    static _Atomic int answer; /* 0: not asked yet, 1: yes, 2: no; racing first calls agree */
    if (answer == 0) {
        int same = 1;
        for (int i = 0; i < 110 * 997 && same; i += 8) {
            float in[8], out[8];
            for (int k = 0; k < 8; k++)
                in[k] = -100.0f + (float)(i + k) / 997.0f;
            _mm256_storeu_ps(out, libc_exp8(_mm256_loadu_ps(in)));
            for (int k = 0; k < 8; k++) {
                float want = expf(in[k]);
                same &= memcmp(&out[k], &want, sizeof want) == 0;
            }
        }
        answer = same ? 1 : 2;
    }
    return answer == 1;
}

/* st_nn_portable_softmax's bits on n_r rows (stride apart): the largest score (exact in any
 * order), the exponentials 8 at a time (libc_exp8), each row's sum in the portable order, the
 * rows' sums interleaved so that their additions overlap. */
INLINE_TILE void libc_softmax_rows(float *rows, int stride, int n_valid, int n_cols, const int n_r) {
    if (!st_nn_avx2_exp_is_libc()) {
        for (int r = 0; r < n_r; r++)
            st_nn_portable_softmax(rows + (size_t)r * stride, n_valid, n_cols);
        return;
    }
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int r = 0; r < n_r; r++) {
        float *row = rows + (size_t)r * stride;
        __m256 max8 = _mm256_set1_ps(row[0]);
        int i = 0;
        for (; i + 8 <= n_valid; i += 8)
            max8 = _mm256_max_ps(max8, _mm256_loadu_ps(row + i));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(max8), _mm256_extractf128_ps(max8, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float max = _mm_cvtss_f32(h);
        for (; i < n_valid; i++)
            max = row[i] > max ? row[i] : max;
        const __m256 shift = _mm256_set1_ps(max);
        for (i = 0; i + 8 <= n_valid; i += 8)
            _mm256_storeu_ps(row + i, libc_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift)));
        for (; i < n_valid; i++)
            row[i] = expf(row[i] - max);
    }
    for (int i = 0; i < n_valid; i++)
        for (int r = 0; r < n_r; r++)
            sum[r] += rows[(size_t)r * stride + i];
    for (int r = 0; r < n_r; r++) {
        float *row = rows + (size_t)r * stride;
        const __m256 inv = _mm256_set1_ps(1.0f / sum[r]);
        int i = 0;
        for (; i + 8 <= n_valid; i += 8)
            _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inv));
        for (; i < n_valid; i++)
            row[i] *= 1.0f / sum[r];
        for (i = n_valid; i < n_cols; i++)
            row[i] = 0.0f;
    }
}

/* Up to 4 query rows: scores, the portable softmax, then the weighted sums two rows at a time. */
INLINE_TILE void bf16_rows(const float *q, int q_stride, const uint16_t *keys, const uint16_t *values, int n_kv,
                           float scale, float *out, int out_stride, float *scores, const int n_r) {
    const int n_blocks = (n_kv + 15) / 16, stride = n_blocks * 16;
    float qr[4 * ST_NN_BF16_HEAD];
    for (int i = 0; i < n_r; i++)
        for (int c = 0; c < ST_NN_BF16_HEAD; c += 8)
            _mm256_storeu_ps(qr + i * ST_NN_BF16_HEAD + c, bf16_round8(_mm256_loadu_ps(q + (size_t)i * q_stride + c)));
    for (int kb = 0; kb < n_blocks; kb++)
        bf16_scores_tile(qr, keys, kb, scale, scores, stride, n_r);
    libc_softmax_rows(scores, stride, n_kv, stride, n_r);
    for (int i = 0; i < n_r; i++) { /* probabilities, rounded to bf16 once */
        float *row = scores + (size_t)i * stride;
        for (int j = 0; j < stride; j += 8)
            _mm256_storeu_ps(row + j, bf16_round8(_mm256_loadu_ps(row + j)));
    }
    for (int i = 0; i < n_r; i += 2)
        for (int c0 = 0; c0 < ST_NN_BF16_HEAD; c0 += 32) {
            const float *rows = scores + (size_t)i * stride;
            float *dst = out + (size_t)i * out_stride;
            if (n_r - i >= 2)
                bf16_weighted_tile(rows, stride, values, n_kv, c0, dst, out_stride, 2);
            else
                bf16_weighted_tile(rows, stride, values, n_kv, c0, dst, out_stride, 1);
        }
}

AVX2_TARGET void st_nn_avx2_attend_bf16(const float *q, int q_stride, int n_q, const uint16_t *keys,
                                        const uint16_t *values, int n_kv, float scale, float *out, int out_stride) {
    float scores[4 * (ST_NN_BF16_MAX_KV + 16)];
    int i = 0;
    for (; i + 4 <= n_q; i += 4)
        bf16_rows(q + (size_t)i * q_stride, q_stride, keys, values, n_kv, scale, out + (size_t)i * out_stride,
                  out_stride, scores, 4);
    for (; i < n_q; i++)
        bf16_rows(q + (size_t)i * q_stride, q_stride, keys, values, n_kv, scale, out + (size_t)i * out_stride,
                  out_stride, scores, 1);
}

/* glibc's exp (see ST_NN_EXP_TABLE_SIZE) on 4 doubles with |x| in [2^-54, 512), operation for
 * operation; other lanes give what libc_exp4d replaces. */
AVX2_TARGET static inline __m256d libc_exp_main4(__m256d x) {
    const __m256d shift = _mm256_set1_pd(ST_NN_EXP_SHIFT);
    __m256d kd = _mm256_fmadd_pd(x, _mm256_set1_pd(ST_NN_EXP_INV_LN2_N), shift);
    const __m256i ki = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, shift);
    __m256d r = _mm256_fmadd_pd(kd, _mm256_set1_pd(ST_NN_EXP_NEG_LN2_HI_N), x);
    r = _mm256_fmadd_pd(kd, _mm256_set1_pd(ST_NN_EXP_NEG_LN2_LO_N), r);
    /* the pair of slot k mod 128; k's higher bits land in scale's exponent field */
    const __m256i slot = _mm256_slli_epi64(_mm256_and_si256(ki, _mm256_set1_epi64x(ST_NN_EXP_TABLE_SIZE - 1)), 1);
    const long long *table = (const long long *)st_nn_exp_table;
    const __m256d tail = _mm256_castsi256_pd(_mm256_i64gather_epi64(table, slot, 8));
    const __m256d scale =
        _mm256_castsi256_pd(_mm256_add_epi64(_mm256_i64gather_epi64(table + 1, slot, 8), _mm256_slli_epi64(ki, 45)));
    const __m256d r2 = _mm256_mul_pd(r, r);
    const __m256d low = _mm256_fmadd_pd(r, _mm256_set1_pd(ST_NN_EXP_C3), _mm256_set1_pd(ST_NN_EXP_C2));
    const __m256d high = _mm256_fmadd_pd(r, _mm256_set1_pd(ST_NN_EXP_C5), _mm256_set1_pd(ST_NN_EXP_C4));
    __m256d tmp = _mm256_fmadd_pd(low, r2, _mm256_add_pd(tail, r));
    tmp = _mm256_fmadd_pd(_mm256_mul_pd(r2, r2), high, tmp);
    return _mm256_fmadd_pd(scale, tmp, scale);
}

/* exp of 4 doubles with glibc's bits: its special cases -inf (+0) and |x| < 2^-54 (1 + x) here
 * too, and the rare rest (|x| >= 512: overflow, underflow and subnormal results; NaN) through
 * the library's exp itself, lane by lane. */
AVX2_TARGET static inline __m256d libc_exp4d(__m256d x) {
    __m256d y = libc_exp_main4(x);
    const __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), x);
    const __m256d tiny = _mm256_cmp_pd(magnitude, _mm256_set1_pd(0x1p-54), _CMP_LT_OQ);
    const __m256d minus_infinity = _mm256_cmp_pd(x, _mm256_set1_pd(-INFINITY), _CMP_EQ_OQ);
    y = _mm256_blendv_pd(y, _mm256_add_pd(_mm256_set1_pd(1.0), x), tiny);
    y = _mm256_blendv_pd(y, _mm256_setzero_pd(), minus_infinity);
    const __m256d large = _mm256_cmp_pd(magnitude, _mm256_set1_pd(512.0), _CMP_NLT_UQ);
    const int special = _mm256_movemask_pd(_mm256_andnot_pd(minus_infinity, large));
    if (special) {
        double in[4], out[4];
        _mm256_storeu_pd(in, x);
        _mm256_storeu_pd(out, y);
        for (int i = 0; i < 4; i++)
            if (special >> i & 1) out[i] = exp(in[i]);
        y = _mm256_loadu_pd(out);
    }
    return y;
}

AVX2_TARGET static void avx2_exp_f64(const double *x, double *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(y + i, libc_exp4d(_mm256_loadu_pd(x + i)));
    for (; i < n; i++)
        y[i] = exp(x[i]);
}

/* The terms 8 at a time (libc_exp4d), added in index order as the portable loop adds them: a
 * sum in another order would change its bits. 8 masked values (-inf) in a row are passed over:
 * their terms are +0, and adding +0 to a sum that starts at +0 and only grows leaves its bits. */
AVX2_TARGET static double avx2_exp_sum(const float *values, int n, float shift) {
    static _Atomic int exp_is_libc; /* 0: not asked yet, 1: yes, 2: no; racing first calls agree */
    if (exp_is_libc == 0) exp_is_libc = st_nn_exp_matches_libc(avx2_exp_f64) ? 1 : 2;
    if (exp_is_libc != 1) return st_nn_portable_exp_sum(values, n, shift);
    const __m256d offset = _mm256_set1_pd((double)shift);
    double sum = 0.0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(values + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(-INFINITY), _CMP_NEQ_UQ)) == 0) continue;
        double terms[8];
        _mm256_storeu_pd(terms, libc_exp4d(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), offset)));
        _mm256_storeu_pd(terms + 4, libc_exp4d(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), offset)));
        for (int k = 0; k < 8; k++)
            sum += terms[k];
    }
    for (; i < n; i++)
        sum += exp((double)values[i] - shift);
    return sum;
}

/* The largest value in any order, then, where it is a zero, the sign of the first zero, which
 * the in-order loop keeps. */
AVX2_TARGET float st_nn_avx2_max(const float *values, int n) {
    __m256 max8 = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) /* max_ps(a, b) is a > b ? a : b, the loop's step, lane by lane */
        max8 = _mm256_max_ps(_mm256_loadu_ps(values + i), max8);
    float lanes[8], max = -INFINITY;
    _mm256_storeu_ps(lanes, max8);
    for (int k = 0; k < 8; k++)
        max = lanes[k] > max ? lanes[k] : max;
    for (; i < n; i++)
        max = values[i] > max ? values[i] : max;
    if (max == 0.0f)
        for (i = 0; i < n; i++)
            if (values[i] == 0.0f) return values[i];
    return max;
}

static const st_nn_kernels avx2 = {
    .name = "avx2",
    .gemv_f16 = avx2_gemv_f16,
    .gemv_q8_0 = avx2_gemv_q8_0,
    .quantize_rows = avx2_quantize_rows,
    .gemm_i8 = avx2_gemm_i8,
    .rows_to_bf16 = avx2_rows_to_bf16,
    .gemm_bf16 = st_nn_avx2_gemm_bf16,
    .f16_to_f32 = avx2_f16_to_f32,
    .softmax = avx2_softmax,
    .gelu = avx2_gelu,
    .scores = st_nn_portable_scores,
    .weighted_sum = avx2_weighted_sum,
    .attend_bf16 = st_nn_avx2_attend_bf16,
    .scores_i8 = avx2_scores_i8,
    .weighted_sum_i8 = avx2_weighted_sum_i8,
    .f32_to_f16 = avx2_f32_to_f16,
    .exp_f64 = avx2_exp_f64,
    .exp_sum = avx2_exp_sum,
    .max = st_nn_avx2_max,
};

/* F16C is CPUID leaf 1, ECX bit 29: asked directly, as clang's __builtin_cpu_supports does not
 * know the name. */
static int has_f16c(void) {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
}

const st_nn_kernels *st_nn_kernels_avx2(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c()) return &avx2;
    return NULL;
}

#else

const st_nn_kernels *st_nn_kernels_avx2(void) {
    return NULL;
}

#endif
