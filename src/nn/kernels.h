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
 * weights, up to the order of the additions. ggml q8_0 weights are dequantized in registers
 * the same way: each weight becomes the float32 value st_convert_to_f32 gives (q * d is exact
 * in float32). int8 weights (CTranslate2's, or any layer quantized on load for the int8
 * compute type) take the integer path CTranslate2 takes: the activations are quantized to 8
 * bits per row too, and the products summed in int32 (AVX-512 VNNI vpdpbusd, 64 per
 * instruction). That moves results by the activations' rounding (about 0.4 % of a row's
 * largest value), so its accuracy is measured as word error rate (bench/README.md). bf16
 * layers (the bf16 compute type) round weights and activations to bfloat16 and sum the exact
 * products in float32 (AVX512_BF16 vdpbf16ps, 32 per instruction; AVX2 and C widen them).
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
typedef void (*st_nn_gemv_f16_kernel)(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                                      int y_stride, int o_begin, int o_end);

/* The same product on ggml q8_0 weights: each row of w is n_in / 32 blocks of a half scale d
 * and 32 int8 q, weight = q * d; n_in must be a multiple of 32. */
typedef void (*st_nn_gemv_q8_0_kernel)(const void *w, const float *bias, int n_in, const float *x, int n_rows, float *y,
                                       int y_stride, int o_begin, int o_end);

/* int8 weights for the integer product, packed once when a layer is built (st_nn_i8_pack):
 * outputs in blocks of 16, the inputs in groups of 4, so that one 64-byte vector holds 4
 * consecutive weights of 16 outputs: packed[((block * k_groups + g) * 16 + j) * 4 + t] is the
 * weight of output 16 * block + j and input 4 * g + t (0 beyond n_out or n_in). Real weight =
 * q / scale (CTranslate2's convention), with inv_scales[o] = 1 / scale. */
typedef struct st_nn_i8_weights {
    const int8_t *packed;
    const int32_t *sums;     /* [n_blocks * 16]: the sum of output o's q, for the activations' offset */
    const float *inv_scales; /* [n_blocks * 16] */
    const float *bias;       /* [n_out], or NULL */
    int n_out;
    int k_pad; /* n_in rounded up to a multiple of 4 */
} st_nn_i8_weights;

/* Activations for the int8 product: row r's scale s = 127 / max |x[r]| (1 for a zero row);
 * xq[r * k_pad + i] = 128 + nearest-even(x[r * n_in + i] * s) as an unsigned byte (VNNI
 * multiplies unsigned by signed bytes; the 128 is taken back out with the weights' sums), 128
 * for n_in <= i < k_pad; inv_scales[r] = 1 / s. Every kernel set gives the same bytes. */
typedef void (*st_nn_quantize_rows_kernel)(const float *x, int n_rows, int n_in, int k_pad, uint8_t *xq,
                                           float *inv_scales);

/* y[r * y_stride + o] = bias[o] + (float)(sum over i of (xq - 128) * q) * (x_inv[r] *
 * w->inv_scales[o]) for rows row_begin <= r < row_end and the outputs of blocks block_begin
 * <= b < block_end below n_out. The integer sum is exact, and the scaling is the same float
 * operations everywhere, so every kernel set gives the same bits. */
typedef void (*st_nn_gemm_i8_kernel)(const st_nn_i8_weights *w, const uint8_t *xq, const float *x_inv, int row_begin,
                                     int row_end, int block_begin, int block_end, float *y, int y_stride);

/* bfloat16 weights for the bf16 compute type, rounded once when a layer is built (nearest-even,
 * st_nn_to_bf16) and packed the way AVX512_BF16's vdpbf16ps takes them: outputs in blocks of
 * 16, the inputs in pairs, so that one 64-byte vector holds 2 consecutive weights of 16
 * outputs: packed[((block * k_pairs + p) * 16 + j) * 2 + t] is the weight of output 16 * block
 * + j and input 2 * p + t (0 beyond n_out or n_in), k_pairs = k_pad / 2. */
typedef struct st_nn_bf16_weights {
    const uint16_t *packed;
    const float *bias; /* [n_out], or NULL */
    int n_out;
    int k_pad; /* n_in rounded up to a multiple of 2 */
} st_nn_bf16_weights;

/* The index in `packed` of the weight of output `output` and input `input` (the layout above). */
static inline size_t st_nn_bf16_packed_index(int k_pad, int output, int input) {
    return (((size_t)(output / 16) * (size_t)(k_pad / 2) + (size_t)(input / 2)) * 16 + (size_t)(output % 16)) * 2 +
           (size_t)(input % 2);
}

/* Activations for the bf16 product: xb[r * k_pad + i] = st_nn_to_bf16(x[r * n_in + i]), 0 for
 * n_in <= i < k_pad. Every kernel set gives the same bits (st_nn_to_bf16's integer rounding,
 * not vcvtneps2bf16, which flushes subnormals). */
typedef void (*st_nn_rows_to_bf16_kernel)(const float *x, int n_rows, int n_in, int k_pad, uint16_t *xb);

/* y[r * y_stride + o] = bias[o] + sum over i of xb[r * k_pad + i] * w(o, i), the bf16 values
 * multiplied in float32 (exactly: 8-bit significands) and summed in float32, for rows
 * row_begin <= r < row_end and the outputs of blocks block_begin <= b < block_end below n_out.
 * The portable kernel defines the result: each output's products added in input order, one
 * rounding per product (the AVX2 kernel gives the same bits). vdpbf16ps adds a pair's two
 * products in its own order and treats subnormal bf16 as 0, so the AVX-512 BF16 kernel differs
 * from it only by the rounding of the float32 additions. */
typedef void (*st_nn_gemm_bf16_kernel)(const st_nn_bf16_weights *w, const uint16_t *xb, int row_begin, int row_end,
                                       int block_begin, int block_end, float *y, int y_stride);

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

/* The same two on keys and values stored as int8 with one float scale per key (a frame of one
 * head): key j's value c is kt[...] * k_scales[j], value j's is v[...] * v_scales[j], the
 * bytes widened in registers and every sum taken in float32 (the cross-attention of int8
 * models: a quarter of float32's bytes per decoder step). The int8 keys are transposed in
 * blocks of ST_NN_KEY_BLOCK keys, each block's d_head rows of 16 contiguous, so that the kernel
 * reads one sequential run per block instead of d_head rows n_kv apart: key j's value c is
 * kt[((j / 16) * d_head + c) * 16 + j % 16], keys from n_kv up to the next multiple of 16
 * present (their scores are not written).
 *   scores[i * n_kv + j] = (sum over c < d_head of q[i * q_stride + c] * kt[...]) * (scale * k_scales[j])
 *   out[i * out_stride + c] = sum over j < n_kv of (p[i * n_kv + j] * v_scales[j]) * v[j * v_stride + c] */
#define ST_NN_KEY_BLOCK 16
typedef void (*st_nn_scores_i8_kernel)(const float *q, int n_q, int q_stride, const int8_t *kt, const float *k_scales,
                                       int d_head, int n_kv, float scale, float *scores);
typedef void (*st_nn_weighted_sum_i8_kernel)(const float *p, int n_q, int n_kv, const int8_t *v, const float *v_scales,
                                             int v_stride, int d_head, float *out, int out_stride);

/* dst[i] = src[i] as IEEE half, nearest-even (st_fp32_to_fp16), for n values. */
typedef void (*st_nn_f32_to_f16_kernel)(const float *src, uint16_t *dst, size_t n);

/* y[i] = exp(x[i]) for n doubles, the bits of glibc's exp (2.28 and later, its FMA build): the
 * AVX2 and AVX-512 sets repeat its algorithm lane by lane (see ST_NN_EXP_TABLE_SIZE), the
 * portable set calls the C library's exp. With another C library the vector sets may differ
 * from it; st_nn_exp_matches_libc tells. */
typedef void (*st_nn_exp_f64_kernel)(const double *x, double *y, size_t n);

/* The sum over i < n of the C library's exp((double)values[i] - shift), in double, the terms
 * added one at a time in index order: every set gives that loop's bits (the vector sets compute
 * the terms with their exp_f64 where st_nn_exp_matches_libc says it matches, and run the loop
 * otherwise). The decoder's log-sum-exp over the vocabulary. */
typedef double (*st_nn_exp_sum_kernel)(const float *values, int n, float shift);

/* The largest of values[0 .. n-1], -INFINITY when n is 0: what `max = values[i] > max ?
 * values[i] : max` from -INFINITY gives in index order (NaNs passed over; of equal zeros, the
 * first one's sign). */
typedef float (*st_nn_max_kernel)(const float *values, int n);

/* The most queries the attention kernels above take at once. */
#define ST_NN_FEW_QUERIES 8

/* Attention in bfloat16 products with float32 sums and softmax (AVX512_BF16 vdpbf16ps), for
 * heads of ST_NN_BF16_HEAD columns and up to ST_NN_BF16_MAX_KV keys. Keys and values of one
 * head are packed to bf16 first (nearest-even, the rounding vcvtneps2bf16 does) so that a
 * vector holds two consecutive values of the summed dimension for 16 outputs:
 *   keys:   [ceil(n_kv / 16) blocks][32 column pairs][16 keys][2], keys beyond n_kv 0;
 *   values: [ceil(n_kv / 2) key pairs][64 columns][2], keys beyond n_kv 0.
 * The queries are rounded to bf16 and the probabilities too before they weight the values.
 * out[i * out_stride + c] = softmax(scale * q_i . k)_j v_j[c] for the n_q rows of q. */
#define ST_NN_BF16_HEAD 64
#define ST_NN_BF16_MAX_KV 1536
typedef void (*st_nn_attend_bf16_kernel)(const float *q, int q_stride, int n_q, const uint16_t *keys,
                                         const uint16_t *values, int n_kv, float scale, float *out, int out_stride);

typedef struct st_nn_kernels {
    const char *name; /* "avx512", "avx2" or "portable" */
    st_nn_gemv_f16_kernel gemv_f16;
    st_nn_gemv_q8_0_kernel gemv_q8_0;
    st_nn_quantize_rows_kernel quantize_rows;
    st_nn_gemm_i8_kernel gemm_i8;
    st_nn_rows_to_bf16_kernel rows_to_bf16;
    st_nn_gemm_bf16_kernel gemm_bf16;
    st_nn_f16_to_f32_kernel f16_to_f32;
    st_nn_softmax_kernel softmax;
    st_nn_gelu_kernel gelu;
    st_nn_scores_kernel scores;
    st_nn_weighted_sum_kernel weighted_sum;
    st_nn_attend_bf16_kernel attend_bf16;
    st_nn_scores_i8_kernel scores_i8;
    st_nn_weighted_sum_i8_kernel weighted_sum_i8;
    st_nn_f32_to_f16_kernel f32_to_f16;
    st_nn_exp_f64_kernel exp_f64;
    st_nn_exp_sum_kernel exp_sum;
    st_nn_max_kernel max;
} st_nn_kernels;

/* glibc's exp, which the vector exp_f64 kernels repeat: x = k ln2 / 128 + r, k the nearest
 * integer (x * 128 / ln2 rounded by adding ST_NN_EXP_SHIFT), r from k ln2 / 128 in two parts;
 * exp(x) = scale * (1 + tail) * exp(r) = scale + scale * (tail + r + r^2 (C2 + r C3) + r^4 (C4
 * + r C5)), with (tail, scale) from st_nn_exp_table (scripts/gen_exp_table.py) at k mod 128
 * and k's bits above the low 7 added to scale's exponent. The constants are glibc's (its
 * __exp_data; the polynomial is its minimax fit), written as the same doubles; the operation
 * order, the fused multiply-adds included, is that of its FMA build. |x| outside [2^-54, 512)
 * takes its special cases. */
#define ST_NN_EXP_TABLE_SIZE 128
#define ST_NN_EXP_INV_LN2_N 0x1.71547652b82fep+7
#define ST_NN_EXP_NEG_LN2_HI_N -0x1.62e42fefa0000p-8
#define ST_NN_EXP_NEG_LN2_LO_N -0x1.cf79abc9e3b3ap-47
#define ST_NN_EXP_SHIFT 0x1.8p52
#define ST_NN_EXP_C2 0x1.ffffffffffdbdp-2
#define ST_NN_EXP_C3 0x1.555555555543cp-3
#define ST_NN_EXP_C4 0x1.55555cf172b91p-5
#define ST_NN_EXP_C5 0x1.1111167a4d017p-7
extern const uint64_t st_nn_exp_table[2 * ST_NN_EXP_TABLE_SIZE];

/* Whether exp_f64 gives the C library's exp bits on a sweep of [-746, 1] (every table slot,
 * both signs of r, the special cases' edges); the vector sets ask it once before their
 * exp_sum uses exp_f64. */
int st_nn_exp_matches_libc(st_nn_exp_f64_kernel exp_f64);

/* The portable exp_sum: the loop itself. */
double st_nn_portable_exp_sum(const float *values, int n, float shift);

/* The portable int8 kernels, which sets without integer dot products use (plain C that the
 * compiler vectorises). */
void st_nn_portable_quantize_rows(const float *x, int n_rows, int n_in, int k_pad, uint8_t *xq, float *inv_scales);
void st_nn_portable_gemm_i8(const st_nn_i8_weights *w, const uint8_t *xq, const float *x_inv, int row_begin,
                            int row_end, int block_begin, int block_end, float *y, int y_stride);

/* The portable bf16 product, and the AVX2 one (the same bits), which the AVX-512 sets without
 * AVX512_BF16 use too; call the AVX2 one only where st_nn_kernels_avx2() is not NULL. */
void st_nn_portable_gemm_bf16(const st_nn_bf16_weights *w, const uint16_t *xb, int row_begin, int row_end,
                              int block_begin, int block_end, float *y, int y_stride);
void st_nn_avx2_gemm_bf16(const st_nn_bf16_weights *w, const uint16_t *xb, int row_begin, int row_end, int block_begin,
                          int block_end, float *y, int y_stride);

/* float32 to bfloat16, nearest-even (finite values). */
uint16_t st_nn_to_bf16(float value);

/* The AVX2 bf16 attention (the portable kernel's bits), which the AVX-512 sets without
 * AVX512_BF16 use too; call only where st_nn_kernels_avx2() is not NULL. */
void st_nn_avx2_attend_bf16(const float *q, int q_stride, int n_q, const uint16_t *keys, const uint16_t *values,
                            int n_kv, float scale, float *out, int out_stride);

/* Whether the AVX2 bf16 attention's softmax computes expf with its own vector copy of glibc's
 * algorithm (checked once against this C library's expf; otherwise it calls
 * st_nn_portable_softmax): either way it gives the portable bits. Call only where
 * st_nn_kernels_avx2() is not NULL. */
int st_nn_avx2_exp_is_libc(void);

/* The AVX2 max kernel, which the AVX-512 sets use too (the in-order sums of exp_sum, not the
 * maximum, bound their time); call only where st_nn_kernels_avx2() is not NULL. */
float st_nn_avx2_max(const float *values, int n);

/* The portable softmax (expf). */
void st_nn_portable_softmax(float *row, int n_valid, int n_cols);

/* The portable bf16 attention, for sets without vdpbf16ps (AVX2 has its own, with the same
 * bits: the products of bf16 values are exact in float32, and it sums in the same order). */
void st_nn_portable_attend_bf16(const float *q, int q_stride, int n_q, const uint16_t *keys, const uint16_t *values,
                                int n_kv, float scale, float *out, int out_stride);

/* The portable attention kernels, which the AVX2 set also uses (they vectorise as plain C). */
void st_nn_portable_scores(const float *q, int n_q, int q_stride, const float *kt, int d_head, int n_kv, float scale,
                           float *scores);
void st_nn_portable_weighted_sum(const float *p, int n_q, int n_kv, const float *v, int v_stride, int d_head,
                                 float *out, int out_stride);

/* The same on int8 keys and values; the AVX2 set has its own, with the same bits. */
void st_nn_portable_scores_i8(const float *q, int n_q, int q_stride, const int8_t *kt, const float *k_scales,
                              int d_head, int n_kv, float scale, float *scores);
void st_nn_portable_weighted_sum_i8(const float *p, int n_q, int n_kv, const int8_t *v, const float *v_scales,
                                    int v_stride, int d_head, float *out, int out_stride);

/* The best kernels this CPU runs (chosen on the first call). */
const st_nn_kernels *st_nn_kernels_best(void);

/* The portable C kernels, which every CPU runs; tests compare the others against them. */
const st_nn_kernels *st_nn_kernels_portable(void);

/* The instruction-set versions, or NULL where this build or CPU has none. */
const st_nn_kernels *st_nn_kernels_avx512(void);
const st_nn_kernels *st_nn_kernels_avx2(void);

#endif
