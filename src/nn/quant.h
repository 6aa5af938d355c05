/*
 * quant.h — conversions from stored weight types to float32.
 *
 * Half and bfloat16 conversion, and dequantisation of ggml's 32-weight blocks (q4_0, q4_1,
 * q5_0, q5_1, q8_0; layouts in ggml's ggml-common.h), and of CTranslate2's int8/int16 weights
 * with their scales. Model code that has a kernel for the
 * stored type uses it directly; everything else can turn a row into float32 here.
 */
#ifndef ST_NN_QUANT_H
#define ST_NN_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "models/tensor_set.h"

float st_fp16_to_fp32(uint16_t h);
uint16_t st_fp32_to_fp16(float f);
float st_bf16_to_fp32(uint16_t b);

/* Converts n elements starting at the beginning of src (stored as dtype) to float32.
 * For block types n must be a multiple of 32. Returns STENO_ERR_UNSUPPORTED for a dtype it
 * cannot convert (integer types). */
steno_status st_convert_to_f32(st_dtype dtype, const void *src, float *dst, size_t n);

/* Dequantizes CTranslate2's scaled integer weights: n_rows rows of row_length elements, value
 * = q / scale. int8 (ST_DTYPE_I8) has one f32 scale per row, int16 (ST_DTYPE_I16) one for the
 * whole tensor; scales may be unaligned. Returns STENO_ERR_UNSUPPORTED for other dtypes. */
steno_status st_dequantize_scaled_to_f32(st_dtype dtype, const void *src, const void *scales, size_t n_rows,
                                         size_t row_length, float *dst);

#endif
