/*
 * kernels_avx512.c — the stored-weight kernels for CPUs with AVX-512 (F, BW, VL); see
 * kernels.h. Compiled with target attributes into the baseline library and called only after
 * __builtin_cpu_supports has confirmed the instructions.
 */
#include "nn/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define INLINE_TILE AVX512_TARGET __attribute__((always_inline)) static inline

/* Up to 4 outputs (weight rows) by up to 4 rows of x: 16 accumulators, 4 widened weight
 * vectors and one x vector stay in registers, and each weight load feeds n_rows FMAs. Called
 * with constant n_w and n_x so the compiler unrolls every loop here. */
INLINE_TILE void tile(const void *w, const float *bias, int n_in, const float *x, float *y, int y_stride, int o,
                      const int n_w, const int n_x) {
    __m512 acc[4][4];
    for (int a = 0; a < n_w; a++)
        for (int r = 0; r < n_x; r++)
            acc[a][r] = _mm512_setzero_ps();
    /* bytes, not uint16_t: the weights may sit at an odd address, and every load is unaligned */
    const unsigned char *rows = (const unsigned char *)w + (size_t)o * n_in * 2;
    int i = 0;
    for (; i + 16 <= n_in; i += 16) {
        __m512 weights[4];
        for (int a = 0; a < n_w; a++)
            weights[a] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rows + ((size_t)a * n_in + i) * 2)));
        for (int r = 0; r < n_x; r++) {
            __m512 in = _mm512_loadu_ps(x + (size_t)r * n_in + i);
            for (int a = 0; a < n_w; a++)
                acc[a][r] = _mm512_fmadd_ps(weights[a], in, acc[a][r]);
        }
    }
    if (i < n_in) { /* the last n_in % 16 columns, through masked loads that read nothing beyond */
        __mmask16 mask = (__mmask16)((1u << (n_in - i)) - 1);
        __m512 weights[4];
        for (int a = 0; a < n_w; a++)
            weights[a] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, rows + ((size_t)a * n_in + i) * 2));
        for (int r = 0; r < n_x; r++) {
            __m512 in = _mm512_maskz_loadu_ps(mask, x + (size_t)r * n_in + i);
            for (int a = 0; a < n_w; a++)
                acc[a][r] = _mm512_fmadd_ps(weights[a], in, acc[a][r]);
        }
    }
    for (int a = 0; a < n_w; a++) {
        float b = bias ? bias[o + a] : 0.0f;
        for (int r = 0; r < n_x; r++)
            y[(size_t)r * y_stride + o + a] = b + _mm512_reduce_add_ps(acc[a][r]);
    }
}

/* All rows of x against n_w outputs at o, four rows at a time; the weight rows stay in L1
 * between the groups. */
INLINE_TILE void outputs(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y, int y_stride,
                         int o, const int n_w) {
    int r = 0;
    for (; r + 4 <= n_rows; r += 4)
        tile(w, bias, n_in, x + (size_t)r * n_in, y + (size_t)r * y_stride, y_stride, o, n_w, 4);
    const float *xr = x + (size_t)r * n_in;
    float *yr = y + (size_t)r * y_stride;
    switch (n_rows - r) {
    case 3:
        tile(w, bias, n_in, xr, yr, y_stride, o, n_w, 3);
        break;
    case 2:
        tile(w, bias, n_in, xr, yr, y_stride, o, n_w, 2);
        break;
    case 1:
        tile(w, bias, n_in, xr, yr, y_stride, o, n_w, 1);
        break;
    default:
        break;
    }
}

AVX512_TARGET static void avx512_gemv_f16(const void *w, const float *bias, int n_in, const float *x, int n_rows,
                                          float *y, int y_stride, int o_begin, int o_end) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4)
        outputs(w, bias, n_in, x, n_rows, y, y_stride, o, 4);
    for (; o < o_end; o++)
        outputs(w, bias, n_in, x, n_rows, y, y_stride, o, 1);
}

/* The q8_0 tile: up to 4 outputs by up to 4 rows of x, like the half tile. Each 32-weight
 * block becomes two float32 vectors q * d (exact) that are FMA'd with x. */
INLINE_TILE void qtile(const unsigned char *w, const float *bias, int n_in, const float *x, float *y, int y_stride,
                       int o, const int n_w, const int n_x) {
    __m512 acc[4][4];
    for (int a = 0; a < n_w; a++)
        for (int r = 0; r < n_x; r++)
            acc[a][r] = _mm512_setzero_ps();
    const size_t row_bytes = (size_t)n_in / 32 * 34;
    const unsigned char *rows = w + (size_t)o * row_bytes;
    for (int i = 0; i < n_in; i += 32) {
        __m512 low[4], high[4];
        for (int a = 0; a < n_w; a++) {
            const unsigned char *block = rows + (size_t)a * row_bytes + (size_t)i / 32 * 34;
            uint16_t half;
            memcpy(&half, block, sizeof half);
            __m512 d = _mm512_set1_ps(_cvtsh_ss(half));
            __m256i q = _mm256_loadu_si256((const __m256i *)(block + 2));
            low[a] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))), d);
            high[a] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))), d);
        }
        for (int r = 0; r < n_x; r++) {
            __m512 in_low = _mm512_loadu_ps(x + (size_t)r * n_in + i);
            __m512 in_high = _mm512_loadu_ps(x + (size_t)r * n_in + i + 16);
            for (int a = 0; a < n_w; a++) {
                acc[a][r] = _mm512_fmadd_ps(low[a], in_low, acc[a][r]);
                acc[a][r] = _mm512_fmadd_ps(high[a], in_high, acc[a][r]);
            }
        }
    }
    for (int a = 0; a < n_w; a++) {
        float b = bias ? bias[o + a] : 0.0f;
        for (int r = 0; r < n_x; r++)
            y[(size_t)r * y_stride + o + a] = b + _mm512_reduce_add_ps(acc[a][r]);
    }
}

INLINE_TILE void qoutputs(const unsigned char *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                          int y_stride, int o, const int n_w) {
    int r = 0;
    for (; r + 4 <= n_rows; r += 4)
        qtile(w, bias, n_in, x + (size_t)r * n_in, y + (size_t)r * y_stride, y_stride, o, n_w, 4);
    const float *xr = x + (size_t)r * n_in;
    float *yr = y + (size_t)r * y_stride;
    switch (n_rows - r) {
    case 3:
        qtile(w, bias, n_in, xr, yr, y_stride, o, n_w, 3);
        break;
    case 2:
        qtile(w, bias, n_in, xr, yr, y_stride, o, n_w, 2);
        break;
    case 1:
        qtile(w, bias, n_in, xr, yr, y_stride, o, n_w, 1);
        break;
    default:
        break;
    }
}

AVX512_TARGET static void avx512_gemv_q8_0(const void *w, const float *bias, int n_in, const float *x, int n_rows,
                                           float *y, int y_stride, int o_begin, int o_end) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4)
        qoutputs(w, bias, n_in, x, n_rows, y, y_stride, o, 4);
    for (; o < o_end; o++)
        qoutputs(w, bias, n_in, x, n_rows, y, y_stride, o, 1);
}

AVX512_TARGET static void avx512_quantize_rows(const float *x, int n_rows, int n_in, int k_pad, uint8_t *xq,
                                               float *inv_scales) {
    for (int r = 0; r < n_rows; r++) {
        const float *in = x + (size_t)r * n_in;
        uint8_t *out = xq + (size_t)r * k_pad;
        __m512 max = _mm512_setzero_ps();
        for (int i = 0; i < n_in; i += 16) {
            __mmask16 mask = n_in - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n_in - i)) - 1);
            max = _mm512_max_ps(max, _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, in + i)));
        }
        float largest = _mm512_reduce_max_ps(max);
        float scale = largest > 0.0f ? 127.0f / largest : 1.0f;
        inv_scales[r] = 1.0f / scale;
        const __m512 s = _mm512_set1_ps(scale);
        const __m512i offset = _mm512_set1_epi32(128);
        for (int i = 0; i < k_pad; i += 16) {
            /* columns n_in .. k_pad - 1 load as 0 and store as 128 */
            int left = n_in - i;
            __mmask16 in_mask = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            __mmask16 out_mask = k_pad - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k_pad - i)) - 1);
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(in_mask, in + i), s));
            _mm_mask_storeu_epi8(out + i, out_mask, _mm512_cvtepi32_epi8(_mm512_add_epi32(q, offset)));
        }
    }
}

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* n_r rows by n_v blocks of 16 outputs (16 accumulators at most): for each group of 4 inputs,
 * n_v weight vectors are loaded once and each row's 4 bytes broadcast against them. Constant
 * n_r and n_v after inlining. */
VNNI_TARGET __attribute__((always_inline)) static inline void i8_tile(const st_nn_i8_weights *w, const uint8_t *xq,
                                                                      const float *x_inv, int r, int b, float *y,
                                                                      int y_stride, const int n_r, const int n_v) {
    const int k_groups = w->k_pad / 4;
    __m512i acc[4][4];
    for (int i = 0; i < n_r; i++)
        for (int v = 0; v < n_v; v++)
            acc[i][v] = _mm512_setzero_si512();
    const int8_t *panel = w->packed + (size_t)b * k_groups * 64;
    for (int g = 0; g < k_groups; g++) {
        __m512i weights[4];
        for (int v = 0; v < n_v; v++)
            weights[v] = _mm512_loadu_si512(panel + ((size_t)v * k_groups + g) * 64);
        for (int i = 0; i < n_r; i++) {
            int32_t four;
            memcpy(&four, xq + (size_t)(r + i) * w->k_pad + 4 * (size_t)g, sizeof four);
            __m512i in = _mm512_set1_epi32(four);
            for (int v = 0; v < n_v; v++)
                acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], in, weights[v]);
        }
    }
    for (int v = 0; v < n_v; v++) {
        const int o = 16 * (b + v), left = w->n_out - o;
        const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        const __m512i offset = _mm512_slli_epi32(_mm512_loadu_si512(w->sums + o), 7); /* 128 * sums */
        const __m512 w_inv = _mm512_loadu_ps(w->inv_scales + o);
        const __m512 bias = w->bias ? _mm512_maskz_loadu_ps(mask, w->bias + o) : _mm512_setzero_ps();
        for (int i = 0; i < n_r; i++) {
            __m512 m = _mm512_mul_ps(_mm512_set1_ps(x_inv[r + i]), w_inv);
            __m512 value = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][v], offset)), m);
            _mm512_mask_storeu_ps(y + (size_t)(r + i) * y_stride + o, mask, _mm512_add_ps(bias, value));
        }
    }
}

VNNI_TARGET __attribute__((always_inline)) static inline void i8_rows(const st_nn_i8_weights *w, const uint8_t *xq,
                                                                      const float *x_inv, int row_begin, int row_end,
                                                                      int b, float *y, int y_stride, const int n_v) {
    int r = row_begin;
    for (; r + 4 <= row_end; r += 4)
        i8_tile(w, xq, x_inv, r, b, y, y_stride, 4, n_v);
    switch (row_end - r) {
    case 3:
        i8_tile(w, xq, x_inv, r, b, y, y_stride, 3, n_v);
        break;
    case 2:
        i8_tile(w, xq, x_inv, r, b, y, y_stride, 2, n_v);
        break;
    case 1:
        i8_tile(w, xq, x_inv, r, b, y, y_stride, 1, n_v);
        break;
    default:
        break;
    }
}

/* Four blocks (64 outputs, their weights a few tens of KiB that stay in L1/L2) against all
 * rows, then the next four. */
VNNI_TARGET static void avx512_gemm_i8(const st_nn_i8_weights *w, const uint8_t *xq, const float *x_inv, int row_begin,
                                       int row_end, int block_begin, int block_end, float *y, int y_stride) {
    int b = block_begin;
    for (; b + 4 <= block_end; b += 4)
        i8_rows(w, xq, x_inv, row_begin, row_end, b, y, y_stride, 4);
    switch (block_end - b) {
    case 3:
        i8_rows(w, xq, x_inv, row_begin, row_end, b, y, y_stride, 3);
        break;
    case 2:
        i8_rows(w, xq, x_inv, row_begin, row_end, b, y, y_stride, 2);
        break;
    case 1:
        i8_rows(w, xq, x_inv, row_begin, row_end, b, y, y_stride, 1);
        break;
    default:
        break;
    }
}

AVX512_TARGET static void avx512_f16_to_f32(const void *source, float *dst, size_t n) {
    const unsigned char *src = source; /* bytes: it may sit at an odd address */
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 2 * i))));
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, mask, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, src + 2 * i)));
    }
}

/* e^x: x = n ln2 + r with |r| <= ln2/2, e^r from Cephes' degree-6 polynomial for expf, and
 * 2^n applied by scalef, which also underflows to 0 and overflows to inf as expf does. */
AVX512_TARGET static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x); /* ln2 in two parts */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* erf(x): below |x| = 0.5 its Taylor series to x^13 (error under 2e-8); above, Abramowitz and
 * Stegun 7.1.26, 1 - t P(t) e^(-x^2) with t = 1 / (1 + 0.3275911 |x|) (error under 1.5e-7). */
AVX512_TARGET static inline __m512 erf16(__m512 x) {
    __m512 a = _mm512_abs_ps(x), a2 = _mm512_mul_ps(a, a);
    __m512 s = _mm512_set1_ps(1.0f / 9360.0f);
    s = _mm512_fmadd_ps(s, a2, _mm512_set1_ps(-1.0f / 1320.0f));
    s = _mm512_fmadd_ps(s, a2, _mm512_set1_ps(1.0f / 216.0f));
    s = _mm512_fmadd_ps(s, a2, _mm512_set1_ps(-1.0f / 42.0f));
    s = _mm512_fmadd_ps(s, a2, _mm512_set1_ps(1.0f / 10.0f));
    s = _mm512_fmadd_ps(s, a2, _mm512_set1_ps(-1.0f / 3.0f));
    s = _mm512_fmadd_ps(s, a2, _mm512_set1_ps(1.0f));
    __m512 small = _mm512_mul_ps(_mm512_mul_ps(s, a), _mm512_set1_ps(1.12837916709551257f)); /* 2/sqrt(pi) */
    __m512 t =
        _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 q = _mm512_set1_ps(1.061405429f);
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.453152027f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.421413741f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.284496736f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.254829592f));
    __m512 large =
        _mm512_fnmadd_ps(_mm512_mul_ps(q, t), exp16(_mm512_sub_ps(_mm512_setzero_ps(), a2)), _mm512_set1_ps(1.0f));
    __m512 y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.5f), _CMP_LT_OQ), large, small);
    /* the sign of x back onto |erf| */
    return _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(y), _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
}

AVX512_TARGET static void avx512_softmax(float *row, int n_valid, int n_cols) {
    __m512 max = _mm512_set1_ps(row[0]);
    int i = 0;
    for (; i + 16 <= n_valid; i += 16)
        max = _mm512_max_ps(max, _mm512_loadu_ps(row + i));
    __mmask16 tail = (__mmask16)((1u << (n_valid - i)) - 1);
    max = _mm512_mask_max_ps(max, tail, max, _mm512_maskz_loadu_ps(tail, row + i));
    __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(max));
    __m512 sum = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n_valid; i += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(row + i), shift));
        _mm512_storeu_ps(row + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n_valid) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + i), shift));
        _mm512_mask_storeu_ps(row + i, tail, e);
        sum = _mm512_mask_add_ps(sum, tail, sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (i = 0; i + 16 <= n_valid; i += 16)
        _mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), inv));
    if (i < n_valid) _mm512_mask_storeu_ps(row + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + i), inv));
    for (i = n_valid; i < n_cols; i++)
        row[i] = 0.0f;
}

AVX512_TARGET static void avx512_gelu(float *x, size_t n) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512 inv_sqrt2 = _mm512_set1_ps(0.70710678118654752f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 phi = _mm512_add_ps(one, erf16(_mm512_mul_ps(v, inv_sqrt2)));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), phi));
    }
    if (i < n) {
        __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(tail, x + i);
        __m512 phi = _mm512_add_ps(one, erf16(_mm512_mul_ps(v, inv_sqrt2)));
        _mm512_mask_storeu_ps(x + i, tail, _mm512_mul_ps(_mm512_mul_ps(half, v), phi));
    }
}

/* 16 keys or values from float32s, or from int8 widened in registers (bytes constant after
 * inlining). */
INLINE_TILE __m512 load16(const void *base, size_t index, __mmask16 mask, const int bytes) {
    if (bytes)
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, (const int8_t *)base + index)));
    return _mm512_maskz_loadu_ps(mask, (const float *)base + index);
}

/* Scores of n_q queries for n_b * 16 keys from j (n_q * n_b <= 16 accumulators; all constant
 * after inlining). Each of the d_head key rows is read as one run of n_b * 64 bytes (16 for
 * int8), whole cache lines that the prefetcher pairs. The last block of the row masks its
 * tail; int8 keys then take their scales (kernels.h). */
INLINE_TILE void scores_block(const float *q, int q_stride, const void *kt, const float *k_scales, int d_head, int n_kv,
                              float scale, float *scores, int j, const int n_q, const int n_b, const int bytes) {
    __mmask16 masks[4];
    for (int b = 0; b < n_b; b++) {
        int left = n_kv - j - 16 * b;
        masks[b] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
    }
    __m512 acc[ST_NN_FEW_QUERIES][4];
    for (int i = 0; i < n_q; i++)
        for (int b = 0; b < n_b; b++)
            acc[i][b] = _mm512_setzero_ps();
    for (int c = 0; c < d_head; c++) {
        __m512 keys[4];
        for (int b = 0; b < n_b; b++) /* int8: blocks of 16 keys, each a sequential run (kernels.h) */
            keys[b] = load16(kt, bytes ? ((size_t)(j / 16 + b) * d_head + c) * 16 : (size_t)c * n_kv + j + 16 * b,
                             masks[b], bytes);
        for (int i = 0; i < n_q; i++) {
            __m512 weight = _mm512_set1_ps(q[(size_t)i * q_stride + c]);
            for (int b = 0; b < n_b; b++)
                acc[i][b] = _mm512_fmadd_ps(weight, keys[b], acc[i][b]);
        }
    }
    __m512 scales[4];
    for (int b = 0; b < n_b; b++)
        scales[b] = bytes ? _mm512_mul_ps(_mm512_set1_ps(scale), _mm512_maskz_loadu_ps(masks[b], k_scales + j + 16 * b))
                          : _mm512_set1_ps(scale);
    for (int i = 0; i < n_q; i++)
        for (int b = 0; b < n_b; b++)
            _mm512_mask_storeu_ps(scores + (size_t)i * n_kv + j + 16 * b, masks[b],
                                  _mm512_mul_ps(acc[i][b], scales[b]));
}

INLINE_TILE void scores_rows(const float *q, int q_stride, const void *kt, const float *k_scales, int d_head, int n_kv,
                             float scale, float *scores, const int n_q, const int n_b, const int bytes) {
    for (int j = 0; j < n_kv; j += 16 * n_b)
        scores_block(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, j, n_q, n_b, bytes);
}

INLINE_TILE void scores_any(const float *q, int n_q, int q_stride, const void *kt, const float *k_scales, int d_head,
                            int n_kv, float scale, float *scores, const int bytes) {
    switch (n_q) {
    case 1:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 1, 4, bytes);
        break;
    case 2:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 2, 4, bytes);
        break;
    case 3:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 3, 4, bytes);
        break;
    case 4:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 4, 4, bytes);
        break;
    case 5:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 5, 2, bytes);
        break;
    case 6:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 6, 2, bytes);
        break;
    case 7:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 7, 2, bytes);
        break;
    default:
        scores_rows(q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 8, 2, bytes);
        break;
    }
}

AVX512_TARGET static void avx512_scores(const float *q, int n_q, int q_stride, const float *kt, int d_head, int n_kv,
                                        float scale, float *scores) {
    scores_any(q, n_q, q_stride, kt, NULL, d_head, n_kv, scale, scores, 0);
}

AVX512_TARGET static void avx512_scores_i8(const float *q, int n_q, int q_stride, const int8_t *kt,
                                           const float *k_scales, int d_head, int n_kv, float scale, float *scores) {
    scores_any(q, n_q, q_stride, kt, k_scales, d_head, n_kv, scale, scores, 1);
}

/* n_q queries by n_b blocks of 16 columns (n_q * n_b <= 16 accumulators), constant after
 * inlining; v is offset by `column` values (float32s or int8, whose keys' weights take their
 * scales first). */
INLINE_TILE void weighted_rows(const float *p, int n_kv, const void *v, const float *v_scales, int column, int v_stride,
                               float *out, int out_stride, const int n_q, const int n_b, const int bytes) {
    __m512 acc[ST_NN_FEW_QUERIES][4];
    for (int i = 0; i < n_q; i++)
        for (int b = 0; b < n_b; b++)
            acc[i][b] = _mm512_setzero_ps();
    for (int j = 0; j < n_kv; j++) {
        __m512 value[4];
        for (int b = 0; b < n_b; b++)
            value[b] = load16(v, (size_t)j * v_stride + column + 16 * b, (__mmask16)0xffff, bytes);
        for (int i = 0; i < n_q; i++) {
            __m512 weight = _mm512_set1_ps(bytes ? p[(size_t)i * n_kv + j] * v_scales[j] : p[(size_t)i * n_kv + j]);
            for (int b = 0; b < n_b; b++)
                acc[i][b] = _mm512_fmadd_ps(weight, value[b], acc[i][b]);
        }
    }
    for (int i = 0; i < n_q; i++)
        for (int b = 0; b < n_b; b++)
            _mm512_storeu_ps(out + (size_t)i * out_stride + column + 16 * b, acc[i][b]);
}

/* Up to 4 queries take all 64 columns in one pass over the values; 5 to 8 take two passes of
 * 32 columns, each reading its own half of every value row, so the values still cross the
 * memory bus once for all queries. d_head is 64 (checked by the callers). */
INLINE_TILE void weighted_any(const float *p, int n_q, int n_kv, const void *v, const float *v_scales, int v_stride,
                              float *out, int out_stride, const int bytes) {
    switch (n_q) {
    case 1:
        weighted_rows(p, n_kv, v, v_scales, 0, v_stride, out, out_stride, 1, 4, bytes);
        return;
    case 2:
        weighted_rows(p, n_kv, v, v_scales, 0, v_stride, out, out_stride, 2, 4, bytes);
        return;
    case 3:
        weighted_rows(p, n_kv, v, v_scales, 0, v_stride, out, out_stride, 3, 4, bytes);
        return;
    case 4:
        weighted_rows(p, n_kv, v, v_scales, 0, v_stride, out, out_stride, 4, 4, bytes);
        return;
    default:
        break;
    }
    for (int column = 0; column < 64; column += 32) {
        switch (n_q) {
        case 5:
            weighted_rows(p, n_kv, v, v_scales, column, v_stride, out, out_stride, 5, 2, bytes);
            break;
        case 6:
            weighted_rows(p, n_kv, v, v_scales, column, v_stride, out, out_stride, 6, 2, bytes);
            break;
        case 7:
            weighted_rows(p, n_kv, v, v_scales, column, v_stride, out, out_stride, 7, 2, bytes);
            break;
        default:
            weighted_rows(p, n_kv, v, v_scales, column, v_stride, out, out_stride, 8, 2, bytes);
            break;
        }
    }
}

AVX512_TARGET static void avx512_weighted_sum(const float *p, int n_q, int n_kv, const float *v, int v_stride,
                                              int d_head, float *out, int out_stride) {
    if (d_head != 64) { /* every Whisper size has 64; others take the plain loops */
        st_nn_portable_weighted_sum(p, n_q, n_kv, v, v_stride, d_head, out, out_stride);
        return;
    }
    weighted_any(p, n_q, n_kv, v, NULL, v_stride, out, out_stride, 0);
}

AVX512_TARGET static void avx512_weighted_sum_i8(const float *p, int n_q, int n_kv, const int8_t *v,
                                                 const float *v_scales, int v_stride, int d_head, float *out,
                                                 int out_stride) {
    if (d_head != 64) {
        st_nn_portable_weighted_sum_i8(p, n_q, n_kv, v, v_scales, v_stride, d_head, out, out_stride);
        return;
    }
    weighted_any(p, n_q, n_kv, v, v_scales, v_stride, out, out_stride, 1);
}

AVX512_TARGET static void avx512_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(
            dst + i, mask,
            _mm512_cvtps_ph(_mm512_maskz_loadu_ps(mask, src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define BF16_TILE BF16_TARGET __attribute__((always_inline)) static inline

/* Scores of n_r query rows (their bf16 pairs in qp, 32 per row) against 16 * n_b keys from
 * block kb: n_r * n_b accumulators over the 32 column pairs. Keys beyond n_kv score 0 and are
 * left out of the softmax. */
BF16_TILE void bf16_scores(const __m512i *qp, const uint16_t *keys, int kb, float scale, float *scores, int stride,
                           const int n_r, const int n_b) {
    __m512 acc[4][4];
    for (int i = 0; i < n_r; i++)
        for (int b = 0; b < n_b; b++)
            acc[i][b] = _mm512_setzero_ps();
    for (int p = 0; p < ST_NN_BF16_HEAD / 2; p++) {
        __m512bh k[4];
        for (int b = 0; b < n_b; b++)
            k[b] = (__m512bh)_mm512_loadu_si512(keys + ((size_t)(kb + b) * (ST_NN_BF16_HEAD / 2) + p) * 32);
        for (int i = 0; i < n_r; i++) {
            __m512bh q = (__m512bh)_mm512_permutexvar_epi32(_mm512_set1_epi32(p & 15), qp[2 * i + p / 16]);
            for (int b = 0; b < n_b; b++)
                acc[i][b] = _mm512_dpbf16_ps(acc[i][b], q, k[b]);
        }
    }
    for (int i = 0; i < n_r; i++)
        for (int b = 0; b < n_b; b++)
            _mm512_storeu_ps(scores + (size_t)i * stride + 16 * (kb + b),
                             _mm512_mul_ps(acc[i][b], _mm512_set1_ps(scale)));
}

/* Up to 4 query rows: scores into `scores` (n_r rows of a stride of whole key blocks), softmax,
 * probabilities to bf16, then the weighted sum of the values, 4 vectors of 16 columns per row. */
BF16_TILE void bf16_rows(const float *q, int q_stride, const uint16_t *keys, const uint16_t *values, int n_kv,
                         float scale, float *out, int out_stride, float *scores, uint16_t *probs, const int n_r) {
    /* rows of whole 32-key runs: softmax zeroes what lies beyond n_kv */
    const int n_blocks = (n_kv + 15) / 16, stride = (n_kv + 31) / 32 * 32, n_pairs = (n_kv + 1) / 2;
    __m512i qp[8]; /* each row's 64 columns as 32 bf16 pairs, in two vectors */
    for (int i = 0; i < n_r; i++)
        for (int h = 0; h < 2; h++) {
            const float *in = q + (size_t)i * q_stride + 32 * h;
            qp[2 * i + h] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(in + 16), _mm512_loadu_ps(in));
        }
    int kb = 0;
    for (; kb + 4 <= n_blocks; kb += 4)
        bf16_scores(qp, keys, kb, scale, scores, stride, n_r, 4);
    for (; kb < n_blocks; kb++)
        bf16_scores(qp, keys, kb, scale, scores, stride, n_r, 1);
    for (int i = 0; i < n_r; i++) {
        float *row = scores + (size_t)i * stride;
        avx512_softmax(row, n_kv, stride);
        uint16_t *p = probs + (size_t)i * stride;
        for (int j = 0; j < stride; j += 32)
            _mm512_storeu_si512(p + j,
                                (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + j + 16), _mm512_loadu_ps(row + j)));
    }
    __m512 acc[4][4];
    for (int i = 0; i < n_r; i++)
        for (int v = 0; v < 4; v++)
            acc[i][v] = _mm512_setzero_ps();
    for (int jp = 0; jp < n_pairs; jp++) {
        __m512bh value[4];
        for (int v = 0; v < 4; v++)
            value[v] = (__m512bh)_mm512_loadu_si512(values + ((size_t)jp * ST_NN_BF16_HEAD + 16 * v) * 2);
        for (int i = 0; i < n_r; i++) {
            int32_t pair;
            memcpy(&pair, probs + (size_t)i * stride + 2 * jp, sizeof pair);
            __m512bh weight = (__m512bh)_mm512_set1_epi32(pair);
            for (int v = 0; v < 4; v++)
                acc[i][v] = _mm512_dpbf16_ps(acc[i][v], weight, value[v]);
        }
    }
    for (int i = 0; i < n_r; i++)
        for (int v = 0; v < 4; v++)
            _mm512_storeu_ps(out + (size_t)i * out_stride + 16 * v, acc[i][v]);
}

BF16_TARGET static void avx512_attend_bf16(const float *q, int q_stride, int n_q, const uint16_t *keys,
                                           const uint16_t *values, int n_kv, float scale, float *out, int out_stride) {
    /* 4 rows of scores and of probabilities, whole 32-key runs (softmax zeroes the padding) */
    _Alignas(64) float scores[4 * (ST_NN_BF16_MAX_KV + 32)];
    _Alignas(64) uint16_t probs[4 * (ST_NN_BF16_MAX_KV + 32)];
    int i = 0;
    for (; i + 4 <= n_q; i += 4)
        bf16_rows(q + (size_t)i * q_stride, q_stride, keys, values, n_kv, scale, out + (size_t)i * out_stride,
                  out_stride, scores, probs, 4);
    for (; i < n_q; i++)
        bf16_rows(q + (size_t)i * q_stride, q_stride, keys, values, n_kv, scale, out + (size_t)i * out_stride,
                  out_stride, scores, probs, 1);
}

/* st_nn_to_bf16 16 at a time, in integers as it does; the tail in C. */
AVX512_TARGET static void avx512_rows_to_bf16(const float *x, int n_rows, int n_in, int k_pad, uint16_t *xb) {
    const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    for (int r = 0; r < n_rows; r++) {
        const float *in = x + (size_t)r * n_in;
        uint16_t *out = xb + (size_t)r * k_pad;
        int i = 0;
        for (; i + 16 <= n_in; i += 16) {
            __m512i bits = _mm512_castps_si512(_mm512_loadu_ps(in + i));
            bits = _mm512_add_epi32(bits, _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one)));
            _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16)));
        }
        for (; i < n_in; i++)
            out[i] = st_nn_to_bf16(in[i]);
        for (; i < k_pad; i++)
            out[i] = 0;
    }
}

/* n_r rows by n_v blocks of 16 outputs of the bf16 product (16 accumulators at most): for each
 * pair of inputs, n_v weight vectors are loaded once and each row's pair broadcast against them.
 * Constant n_r and n_v after inlining. */
BF16_TILE void bf16_gemm_tile(const st_nn_bf16_weights *w, const uint16_t *xb, int r, int b, float *y, int y_stride,
                              const int n_r, const int n_v) {
    const int k_pairs = w->k_pad / 2;
    __m512 acc[4][4];
    for (int i = 0; i < n_r; i++)
        for (int v = 0; v < n_v; v++)
            acc[i][v] = _mm512_setzero_ps();
    const uint16_t *panel = w->packed + (size_t)b * k_pairs * 32;
    for (int p = 0; p < k_pairs; p++) {
        __m512bh weights[4];
        for (int v = 0; v < n_v; v++)
            weights[v] = (__m512bh)_mm512_loadu_si512(panel + ((size_t)v * k_pairs + p) * 32);
        for (int i = 0; i < n_r; i++) {
            int32_t pair;
            memcpy(&pair, xb + (size_t)(r + i) * w->k_pad + 2 * (size_t)p, sizeof pair);
            __m512bh in = (__m512bh)_mm512_set1_epi32(pair);
            for (int v = 0; v < n_v; v++)
                acc[i][v] = _mm512_dpbf16_ps(acc[i][v], in, weights[v]);
        }
    }
    for (int v = 0; v < n_v; v++) {
        const int o = 16 * (b + v), left = w->n_out - o;
        const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        const __m512 bias = w->bias ? _mm512_maskz_loadu_ps(mask, w->bias + o) : _mm512_setzero_ps();
        for (int i = 0; i < n_r; i++)
            _mm512_mask_storeu_ps(y + (size_t)(r + i) * y_stride + o, mask, _mm512_add_ps(bias, acc[i][v]));
    }
}

BF16_TILE void bf16_gemm_rows(const st_nn_bf16_weights *w, const uint16_t *xb, int row_begin, int row_end, int b,
                              float *y, int y_stride, const int n_v) {
    int r = row_begin;
    for (; r + 4 <= row_end; r += 4)
        bf16_gemm_tile(w, xb, r, b, y, y_stride, 4, n_v);
    switch (row_end - r) {
    case 3:
        bf16_gemm_tile(w, xb, r, b, y, y_stride, 3, n_v);
        break;
    case 2:
        bf16_gemm_tile(w, xb, r, b, y, y_stride, 2, n_v);
        break;
    case 1:
        bf16_gemm_tile(w, xb, r, b, y, y_stride, 1, n_v);
        break;
    default:
        break;
    }
}

/* Four blocks (64 outputs) against all rows, then the next four, as the int8 product. */
BF16_TARGET static void avx512_gemm_bf16(const st_nn_bf16_weights *w, const uint16_t *xb, int row_begin, int row_end,
                                         int block_begin, int block_end, float *y, int y_stride) {
    int b = block_begin;
    for (; b + 4 <= block_end; b += 4)
        bf16_gemm_rows(w, xb, row_begin, row_end, b, y, y_stride, 4);
    switch (block_end - b) {
    case 3:
        bf16_gemm_rows(w, xb, row_begin, row_end, b, y, y_stride, 3);
        break;
    case 2:
        bf16_gemm_rows(w, xb, row_begin, row_end, b, y, y_stride, 2);
        break;
    case 1:
        bf16_gemm_rows(w, xb, row_begin, row_end, b, y, y_stride, 1);
        break;
    default:
        break;
    }
}

/* glibc's exp (see ST_NN_EXP_TABLE_SIZE) on 8 doubles, operation for operation as
 * kernels_avx2.c's libc_exp4d: -inf gives +0, |x| < 2^-54 1 + x, and |x| >= 512 or NaN goes
 * through the library's exp lane by lane. */
AVX512_TARGET static inline __m512d libc_exp8d(__m512d x) {
    const __m512d shift = _mm512_set1_pd(ST_NN_EXP_SHIFT);
    __m512d kd = _mm512_fmadd_pd(x, _mm512_set1_pd(ST_NN_EXP_INV_LN2_N), shift);
    const __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, shift);
    __m512d r = _mm512_fmadd_pd(kd, _mm512_set1_pd(ST_NN_EXP_NEG_LN2_HI_N), x);
    r = _mm512_fmadd_pd(kd, _mm512_set1_pd(ST_NN_EXP_NEG_LN2_LO_N), r);
    const __m512i slot = _mm512_slli_epi64(_mm512_and_si512(ki, _mm512_set1_epi64(ST_NN_EXP_TABLE_SIZE - 1)), 1);
    const long long *table = (const long long *)st_nn_exp_table;
    const __m512d tail = _mm512_castsi512_pd(_mm512_i64gather_epi64(slot, table, 8));
    const __m512d scale =
        _mm512_castsi512_pd(_mm512_add_epi64(_mm512_i64gather_epi64(slot, table + 1, 8), _mm512_slli_epi64(ki, 45)));
    const __m512d r2 = _mm512_mul_pd(r, r);
    const __m512d low = _mm512_fmadd_pd(r, _mm512_set1_pd(ST_NN_EXP_C3), _mm512_set1_pd(ST_NN_EXP_C2));
    const __m512d high = _mm512_fmadd_pd(r, _mm512_set1_pd(ST_NN_EXP_C5), _mm512_set1_pd(ST_NN_EXP_C4));
    __m512d tmp = _mm512_fmadd_pd(low, r2, _mm512_add_pd(tail, r));
    tmp = _mm512_fmadd_pd(_mm512_mul_pd(r2, r2), high, tmp);
    __m512d y = _mm512_fmadd_pd(scale, tmp, scale);

    const __m512d magnitude = _mm512_abs_pd(x);
    const __mmask8 tiny = _mm512_cmp_pd_mask(magnitude, _mm512_set1_pd(0x1p-54), _CMP_LT_OQ);
    const __mmask8 minus_infinity = _mm512_cmp_pd_mask(x, _mm512_set1_pd(-INFINITY), _CMP_EQ_OQ);
    y = _mm512_mask_add_pd(y, tiny, _mm512_set1_pd(1.0), x);
    y = _mm512_mask_mov_pd(y, minus_infinity, _mm512_setzero_pd());
    const unsigned special =
        _mm512_cmp_pd_mask(magnitude, _mm512_set1_pd(512.0), _CMP_NLT_UQ) & (unsigned)~minus_infinity;
    if (special) {
        double in[8], out[8];
        _mm512_storeu_pd(in, x);
        _mm512_storeu_pd(out, y);
        for (int i = 0; i < 8; i++)
            if (special >> i & 1) out[i] = exp(in[i]);
        y = _mm512_loadu_pd(out);
    }
    return y;
}

AVX512_TARGET static void avx512_exp_f64(const double *x, double *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm512_storeu_pd(y + i, libc_exp8d(_mm512_loadu_pd(x + i)));
    for (; i < n; i++)
        y[i] = exp(x[i]);
}

/* The terms 16 at a time, added in index order, 16 masked values in a row passed over (see
 * kernels_avx2.c's exp_sum). */
AVX512_TARGET static double avx512_exp_sum(const float *values, int n, float shift) {
    static _Atomic int exp_is_libc; /* 0: not asked yet, 1: yes, 2: no; racing first calls agree */
    if (exp_is_libc == 0) exp_is_libc = st_nn_exp_matches_libc(avx512_exp_f64) ? 1 : 2;
    if (exp_is_libc != 1) return st_nn_portable_exp_sum(values, n, shift);
    const __m512d offset = _mm512_set1_pd((double)shift);
    double sum = 0.0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(values + i);
        if (_mm512_cmp_ps_mask(v, _mm512_set1_ps(-INFINITY), _CMP_NEQ_UQ) == 0) continue;
        double terms[16];
        _mm512_storeu_pd(terms, libc_exp8d(_mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), offset)));
        const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        _mm512_storeu_pd(terms + 8, libc_exp8d(_mm512_sub_pd(_mm512_cvtps_pd(high), offset)));
        for (int k = 0; k < 16; k++)
            sum += terms[k];
    }
    for (; i < n; i++)
        sum += exp((double)values[i] - shift);
    return sum;
}

#define AVX512_KERNELS(gemm, bf16_gemm, attend)                                                                        \
    {                                                                                                                  \
        .name = "avx512", .gemv_f16 = avx512_gemv_f16, .gemv_q8_0 = avx512_gemv_q8_0,                                  \
        .quantize_rows = avx512_quantize_rows, .gemm_i8 = gemm, .rows_to_bf16 = avx512_rows_to_bf16,                   \
        .gemm_bf16 = bf16_gemm, .f16_to_f32 = avx512_f16_to_f32, .softmax = avx512_softmax, .gelu = avx512_gelu,       \
        .scores = avx512_scores, .weighted_sum = avx512_weighted_sum, .attend_bf16 = attend,                           \
        .scores_i8 = avx512_scores_i8, .weighted_sum_i8 = avx512_weighted_sum_i8, .f32_to_f16 = avx512_f32_to_f16,     \
        .exp_f64 = avx512_exp_f64, .exp_sum = avx512_exp_sum, .max = st_nn_avx2_max,                                   \
    }

/* AVX-512 with VNNI and BF16 (Zen 4 and later, Sapphire Rapids), with VNNI only (Ice Lake),
 * and without either (Skylake-X): the bf16 attention and product then run in AVX2 (every AVX-512 CPU has
 * AVX2, FMA and F16C), the int8 product without VNNI in plain C. */
static const st_nn_kernels avx512 = AVX512_KERNELS(avx512_gemm_i8, avx512_gemm_bf16, avx512_attend_bf16);
static const st_nn_kernels avx512_vnni = AVX512_KERNELS(avx512_gemm_i8, st_nn_avx2_gemm_bf16, st_nn_avx2_attend_bf16);
static const st_nn_kernels avx512_plain =
    AVX512_KERNELS(st_nn_portable_gemm_i8, st_nn_avx2_gemm_bf16, st_nn_avx2_attend_bf16);

const st_nn_kernels *st_nn_kernels_avx512(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl"))
        return NULL;
    if (!__builtin_cpu_supports("avx512vnni")) return &avx512_plain;
    return __builtin_cpu_supports("avx512bf16") ? &avx512 : &avx512_vnni;
}

#else

const st_nn_kernels *st_nn_kernels_avx512(void) {
    return NULL;
}

#endif
