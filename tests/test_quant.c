/* test_quant.c — half-precision conversion both ways and bfloat16, checked exhaustively. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "nn/quant.h"

static void every_half_round_trips(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = st_fp16_to_fp32((uint16_t)h);
        uint16_t back = st_fp32_to_fp16(f);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            assert_true(isnan(f));
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff));
        } else if (back != h) {
            fail_msg("half 0x%04x -> %g -> 0x%04x", h, f, back);
        }
    }
}

static void known_values(void **state) {
    (void)state;
    assert_true(st_fp16_to_fp32(0x3c00) == 1.0f);
    assert_true(st_fp16_to_fp32(0xc000) == -2.0f);
    assert_true(st_fp16_to_fp32(0x7bff) == 65504.0f);
    assert_true(st_fp16_to_fp32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    assert_true(st_fp16_to_fp32(0x0400) == ldexpf(1.0f, -14)); /* smallest normal */
    assert_true(isinf(st_fp16_to_fp32(0x7c00)));
    assert_int_equal(st_fp32_to_fp16(65520.0f), 0x7c00);    /* rounds past the largest half */
    assert_int_equal(st_fp32_to_fp16(65519.0f), 0x7bff);
    assert_int_equal(st_fp32_to_fp16(ldexpf(1.0f, -25)), 0); /* halfway to the smallest: even */
    assert_int_equal(st_fp32_to_fp16(ldexpf(1.5f, -25)), 1);
    assert_int_equal(st_fp32_to_fp16(-0.0f), 0x8000);
    /* round to nearest even between 1 and the next half, 1 + 2^-10 */
    assert_int_equal(st_fp32_to_fp16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    assert_int_equal(st_fp32_to_fp16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    assert_true(st_bf16_to_fp32(0x3f80) == 1.0f);
    assert_true(st_bf16_to_fp32(0xc040) == -3.0f);
}

static void q8_0_block_by_hand(void **state) {
    (void)state;
    uint8_t block[34];
    uint16_t d = st_fp32_to_fp16(0.5f);
    block[0] = (uint8_t)d;
    block[1] = (uint8_t)(d >> 8);
    for (int i = 0; i < 32; i++) block[2 + i] = (uint8_t)(int8_t)(i - 16);
    float out[32];
    assert_int_equal(st_convert_to_f32(ST_DTYPE_Q8_0, block, out, 32), STENO_OK);
    for (int i = 0; i < 32; i++) assert_true(out[i] == 0.5f * (float)(i - 16));
    assert_int_equal(st_convert_to_f32(ST_DTYPE_Q8_0, block, out, 31), STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_convert_to_f32(ST_DTYPE_I32, block, out, 4), STENO_ERR_UNSUPPORTED);
}

static void q4_0_nibble_order(void **state) {
    (void)state;
    /* element j in the low nibble of byte j, element j+16 in its high nibble, offset 8 */
    uint8_t block[18] = {0};
    uint16_t d = st_fp32_to_fp16(1.0f);
    memcpy(block, &d, 2);
    block[2] = 0x9f; /* element 0: 15-8 = 7, element 16: 9-8 = 1 */
    float out[32];
    assert_int_equal(st_convert_to_f32(ST_DTYPE_Q4_0, block, out, 32), STENO_OK);
    assert_true(out[0] == 7.0f);
    assert_true(out[16] == 1.0f);
    assert_true(out[1] == -8.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_half_round_trips),
        cmocka_unit_test(known_values),
        cmocka_unit_test(q8_0_block_by_hand),
        cmocka_unit_test(q4_0_nibble_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
