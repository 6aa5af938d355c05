/* quant.c — half/bfloat16 conversion, ggml block and CTranslate2 scaled-integer dequantisation. */
#include "nn/quant.h"

#include <math.h>
#include <string.h>

float st_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13); /* inf or NaN */
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal half: normalise into a float */
        int shift = 0;
        while (!(mantissa & 0x400)) {
            mantissa <<= 1;
            shift++;
        }
        mantissa &= 0x3ff;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t st_fp32_to_fp16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) { /* inf or NaN (keep NaN quiet) */
        return sign | 0x7c00 | (magnitude > 0x7f800000u ? 0x200 : 0);
    }
    if (magnitude >= 0x477ff000u) return sign | 0x7c00; /* rounds past the largest half: inf */
    if (magnitude < 0x38800000u) {                      /* below the smallest normal half */
        if (magnitude < 0x33000000u) return sign;       /* rounds to zero */
        uint32_t exponent = magnitude >> 23;
        uint32_t mantissa = (magnitude & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - exponent; /* 14..24 */
        uint32_t half = mantissa >> shift;
        uint32_t remainder = mantissa & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (remainder > halfway || (remainder == halfway && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    /* normal: round the 13 dropped mantissa bits to nearest even */
    uint32_t rounded = magnitude - 0x38000000u; /* rebias exponent 127 -> 15 */
    rounded += 0xfff + ((rounded >> 13) & 1);
    return sign | (uint16_t)(rounded >> 13);
}

float st_bf16_to_fp32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t load_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ggml block layouts (32 weights each): a half scale d (and a half minimum m for the _1
 * types), for the 5-bit types a u32 of fifth bits, then packed low bits. In the 4- and 5-bit
 * types byte j holds element j in its low nibble and element j+16 in its high nibble. */
static void dequantize_block(st_dtype dtype, const uint8_t *block, float *out) {
    float d = st_fp16_to_fp32(load_u16(block));
    switch (dtype) {
    case ST_DTYPE_Q4_0:
        for (int j = 0; j < 16; j++) {
            out[j] = ((block[2 + j] & 0x0f) - 8) * d;
            out[j + 16] = ((block[2 + j] >> 4) - 8) * d;
        }
        break;
    case ST_DTYPE_Q4_1: {
        float m = st_fp16_to_fp32(load_u16(block + 2));
        for (int j = 0; j < 16; j++) {
            out[j] = (block[4 + j] & 0x0f) * d + m;
            out[j + 16] = (block[4 + j] >> 4) * d + m;
        }
        break;
    }
    case ST_DTYPE_Q5_0: {
        uint32_t high = load_u32(block + 2);
        for (int j = 0; j < 16; j++) {
            int low_q = (block[6 + j] & 0x0f) | (int)((high >> j) & 1) << 4;
            int high_q = (block[6 + j] >> 4) | (int)((high >> (j + 16)) & 1) << 4;
            out[j] = (low_q - 16) * d;
            out[j + 16] = (high_q - 16) * d;
        }
        break;
    }
    case ST_DTYPE_Q5_1: {
        float m = st_fp16_to_fp32(load_u16(block + 2));
        uint32_t high = load_u32(block + 4);
        for (int j = 0; j < 16; j++) {
            int low_q = (block[8 + j] & 0x0f) | (int)((high >> j) & 1) << 4;
            int high_q = (block[8 + j] >> 4) | (int)((high >> (j + 16)) & 1) << 4;
            out[j] = low_q * d + m;
            out[j + 16] = high_q * d + m;
        }
        break;
    }
    case ST_DTYPE_Q8_0:
        for (int j = 0; j < 32; j++) out[j] = (int8_t)block[2 + j] * d;
        break;
    default:
        break;
    }
}

steno_status st_convert_to_f32(st_dtype dtype, const void *src, float *dst, size_t n) {
    const uint8_t *bytes = src;
    switch (dtype) {
    case ST_DTYPE_F32:
        memcpy(dst, src, n * sizeof *dst);
        return STENO_OK;
    case ST_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = st_fp16_to_fp32(load_u16(bytes + 2 * i));
        return STENO_OK;
    case ST_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = st_bf16_to_fp32(load_u16(bytes + 2 * i));
        return STENO_OK;
    case ST_DTYPE_Q4_0:
    case ST_DTYPE_Q4_1:
    case ST_DTYPE_Q5_0:
    case ST_DTYPE_Q5_1:
    case ST_DTYPE_Q8_0: {
        if (n % 32 != 0) return STENO_ERR_INVALID_ARGUMENT;
        size_t block_bytes = st_dtype_bytes(dtype, 32);
        for (size_t b = 0; b < n / 32; b++) dequantize_block(dtype, bytes + b * block_bytes, dst + b * 32);
        return STENO_OK;
    }
    default:
        return STENO_ERR_UNSUPPORTED;
    }
}

steno_status st_dequantize_scaled_to_f32(st_dtype dtype, const void *src, const void *scales, size_t n_rows,
                                         size_t row_length, float *dst) {
    if (dtype != ST_DTYPE_I8 && dtype != ST_DTYPE_I16) return STENO_ERR_UNSUPPORTED;
    const uint8_t *bytes = src;
    float scale;
    memcpy(&scale, scales, sizeof scale);
    for (size_t r = 0; r < n_rows; r++) {
        float *row = dst + r * row_length;
        if (dtype == ST_DTYPE_I8) {
            memcpy(&scale, (const uint8_t *)scales + r * sizeof scale, sizeof scale);
            for (size_t i = 0; i < row_length; i++) row[i] = (float)(int8_t)bytes[r * row_length + i] / scale;
        } else {
            for (size_t i = 0; i < row_length; i++) {
                row[i] = (float)(int16_t)load_u16(bytes + 2 * (r * row_length + i)) / scale;
            }
        }
    }
    return STENO_OK;
}
