/*
 * quant.h — conversions from stored weight types to float32.
 *
 * Half and bfloat16 conversion, and dequantisation of ggml's 32-weight blocks (q4_0, q4_1,
 * q5_0, q5_1, q8_0; layouts in ggml's ggml-common.h). Model code that has a kernel for the
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

#endif
