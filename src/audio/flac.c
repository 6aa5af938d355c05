/* flac.c — FLAC frames of 16-bit mono streams (see flac.h). */
#include "audio/flac.h"

#include <stdbool.h>
#include <string.h>

/* Bits of bytes[0 .. size), most significant first. Reading past the end sets `short_read`
 * (and gives zeros), so a caller checks once per field group, not per bit. */
typedef struct bits {
    const uint8_t *bytes;
    size_t size;
    size_t position; /* in bits */
    bool short_read;
} bits;

/* The 64 bits from byte `byte` on, most significant first (zeros past the end). */
static uint64_t window(const bits *b, size_t byte) {
    uint64_t value = 0;
    if (b->size - byte >= 8) {
        memcpy(&value, b->bytes + byte, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        value = __builtin_bswap64(value);
#endif
        return value;
    }
    for (size_t k = 0; k < 8; k++)
        value = value << 8 | (byte + k < b->size ? b->bytes[byte + k] : 0);
    return value;
}

static uint32_t read_bits(bits *b, int n) { /* n <= 32 */
    if (n == 0) return 0;
    if (b->position + (size_t)n > 8 * b->size) {
        b->short_read = true;
        return 0;
    }
    const uint64_t value = window(b, b->position >> 3) << (b->position & 7) >> (64 - n);
    b->position += (size_t)n;
    return (uint32_t)value;
}

static int32_t read_signed(bits *b, int n) { /* n in 1..32 */
    uint32_t value = read_bits(b, n);
    if (n < 32 && (value >> (n - 1)) & 1) value |= ~0u << n;
    return (int32_t)value;
}

/* Zeros before the next 1 bit, which is consumed; more than `limit` is damage (reported as
 * some count above limit). */
static uint32_t read_unary(bits *b, uint32_t limit) {
    uint32_t zeros = 0;
    while (zeros <= limit) {
        if (b->position >= 8 * b->size) {
            b->short_read = true;
            return 0;
        }
        const int skip = (int)(b->position & 7);
        const uint64_t w = window(b, b->position >> 3) << skip;
        const int available = 64 - skip; /* bits of w that are input (or zeros past the end) */
        if (w == 0) {
            zeros += (uint32_t)available;
            b->position += (size_t)available;
            continue;
        }
        const int run = __builtin_clzll(w);
        b->position += (size_t)run + 1;
        if (b->position > 8 * b->size) { /* the 1 lay past the end: there was none */
            b->short_read = true;
            return 0;
        }
        return zeros + (uint32_t)run;
    }
    return zeros;
}

static uint8_t crc8(const uint8_t *p, size_t n) { /* polynomial x^8 + x^2 + x + 1 */
    uint8_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (uint8_t)(crc & 0x80 ? crc << 1 ^ 0x07 : crc << 1);
    }
    return crc;
}

/* CRC-16 with the polynomial x^16 + x^15 + x^2 + 1, a byte at a time from the stream's table. */
static uint16_t crc16(const uint16_t *table, const uint8_t *p, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++)
        crc = (uint16_t)(crc << 8 ^ table[(crc >> 8 ^ p[i]) & 0xff]);
    return crc;
}

static void crc16_table(uint16_t table[256]) {
    for (int byte = 0; byte < 256; byte++) {
        uint16_t crc = (uint16_t)(byte << 8);
        for (int k = 0; k < 8; k++)
            crc = (uint16_t)(crc & 0x8000 ? crc << 1 ^ 0x8005 : crc << 1);
        table[byte] = crc;
    }
}

int st_flac_stream_start(const uint8_t *head, size_t size, int rate, st_flac_stream *stream, size_t *frames_offset) {
    if (size < 8 + 34 || memcmp(head, "fLaC", 4) != 0 || (head[4] & 0x7f) != 0) return 0; /* STREAMINFO first */
    const uint8_t *info = head + 8;
    if ((head[5] << 16 | head[6] << 8 | head[7]) != 34) return 0;
    const int min_block = info[0] << 8 | info[1], max_block = info[2] << 8 | info[3];
    const int sample_rate = info[10] << 12 | info[11] << 4 | info[12] >> 4;
    const int channels = (info[12] >> 1 & 7) + 1, sample_bits = ((info[12] & 1) << 4 | info[13] >> 4) + 1;
    if (channels != 1 || sample_bits != 16 || sample_rate != rate || min_block < 16 || max_block < min_block) return 0;
    uint64_t total = (uint64_t)(info[13] & 15) << 32;
    for (int i = 14; i < 18; i++)
        total |= (uint64_t)info[i] << (8 * (17 - i));
    /* the other metadata blocks, up to the one marked last */
    bool last = head[4] & 0x80;
    size_t position = 8 + 34;
    while (!last) {
        if (size - position < 4) return 0;
        last = head[position] & 0x80;
        if ((head[position] & 0x7f) == 127) return 0; /* invalid block type */
        size_t length = (size_t)head[position + 1] << 16 | (size_t)head[position + 2] << 8 | head[position + 3];
        if (length > size - position - 4) return 0;
        position += 4 + length;
    }
    stream->sample_rate = sample_rate;
    stream->total_samples = total;
    crc16_table(stream->crc16);
    *frames_offset = position;
    return 1;
}

/* The frame header's block size, or 0 when damaged. */
static int frame_header(bits *b, const st_flac_stream *stream) {
    if (read_bits(b, 15) != 0x7ffc) return 0; /* sync code and the reserved 0 */
    (void)read_bits(b, 1);                    /* fixed or variable block sizes: either reads the same */
    const uint32_t block_code = read_bits(b, 4), rate_code = read_bits(b, 4);
    const uint32_t channels = read_bits(b, 4), size_code = read_bits(b, 3);
    if (read_bits(b, 1) != 0 || block_code == 0 || rate_code == 15 || channels != 0 ||
        (size_code != 0 && size_code != 4))
        return 0;
    /* the frame or sample number, UTF-8 style: 1 to 7 bytes */
    uint32_t first = read_bits(b, 8), extra = 0; /* extra: its leading ones */
    while (extra < 8 && (first << extra & 0x80))
        extra++;
    if (extra == 1 || extra == 8) return 0;
    for (uint32_t i = 1; i < extra; i++)
        if (read_bits(b, 8) >> 6 != 2) return 0;
    int block = block_code == 1   ? 192
                : block_code <= 5 ? 576 << (block_code - 2)
                : block_code == 6 ? (int)read_bits(b, 8) + 1
                : block_code == 7 ? (int)read_bits(b, 16) + 1
                                  : 256 << (block_code - 8);
    static const int rates[12] = {0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000};
    int rate = rate_code == 0    ? stream->sample_rate
               : rate_code < 12  ? rates[rate_code]
               : rate_code == 12 ? (int)read_bits(b, 8) * 1000
               : rate_code == 13 ? (int)read_bits(b, 16)
                                 : (int)read_bits(b, 16) * 10;
    if (rate != stream->sample_rate) return 0;
    const size_t header_bytes = b->position / 8;
    const uint32_t stored = read_bits(b, 8);
    if (b->short_read || stored != crc8(b->bytes, header_bytes)) return 0;
    return block;
}

/* The residual of a subframe of `block` samples after `order` warm-up samples, into out[order
 * ..]. False when damaged. */
static bool residual(bits *b, int block, int order, int32_t *out) {
    const uint32_t method = read_bits(b, 2), partition_order = read_bits(b, 4);
    if (method > 1) return false;
    const int param_bits = method == 0 ? 4 : 5, escape = (1 << param_bits) - 1;
    const int partitions = 1 << partition_order, per_partition = block >> partition_order;
    if (per_partition << partition_order != block || per_partition < order) return false;
    int i = order;
    for (int p = 0; p < partitions; p++) {
        const int end = (p + 1) * per_partition;
        const int param = (int)read_bits(b, param_bits);
        if (param == escape) {
            const int raw = (int)read_bits(b, 5);
            for (; i < end; i++)
                out[i] = raw ? read_signed(b, raw) : 0;
        } else {
            for (; i < end; i++) {
                /* quotients beyond 2^16 cannot give a 16-bit sample from any sane prediction */
                uint64_t q = read_unary(b, 1u << 16);
                if (q > 1u << 16) return false;
                uint64_t u = q << param | read_bits(b, param);
                int64_t value = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
                if (value < -(1 << 30) || value > 1 << 30) return false;
                out[i] = (int32_t)value;
            }
        }
        if (b->short_read) return false;
    }
    return true;
}

/* One subframe of `block` samples into s; false when damaged. Decoded values stay within
 * +-2^20 while predicting (a valid 16-bit stream stays within 16 bits), so sums of 32
 * products of them and 15-bit coefficients fit in 64 bits. */
static bool subframe(bits *b, int block, int32_t *s) {
    if (read_bits(b, 1) != 0) return false;
    const uint32_t type = read_bits(b, 6);
    int wasted = 0;
    if (read_bits(b, 1)) {
        wasted = (int)read_unary(b, 15) + 1;
        if (wasted > 15) return false;
    }
    const int sample_bits = 16 - wasted;
    if (type == 0) { /* constant */
        int32_t value = read_signed(b, sample_bits);
        for (int i = 0; i < block; i++)
            s[i] = value;
    } else if (type == 1) { /* verbatim */
        for (int i = 0; i < block; i++)
            s[i] = read_signed(b, sample_bits);
    } else if ((type >= 8 && type <= 12) || type >= 32) { /* fixed predictor of order 0..4, or LPC of 1..32 */
        static const int32_t fixed[5][4] = {{0}, {1}, {2, -1}, {3, -3, 1}, {4, -6, 4, -1}};
        const bool lpc = type >= 32;
        const int order = lpc ? (int)type - 31 : (int)type - 8;
        if (order > block) return false;
        for (int i = 0; i < order; i++)
            s[i] = read_signed(b, sample_bits);
        int32_t coefficients[32];
        int shift = 0;
        if (lpc) {
            const int precision = (int)read_bits(b, 4) + 1;
            shift = read_signed(b, 5);
            if (precision == 16 || shift < 0) return false;
            for (int j = 0; j < order; j++)
                coefficients[j] = read_signed(b, precision);
        } else {
            memcpy(coefficients, fixed[order], sizeof fixed[order]);
        }
        if (!residual(b, block, order, s)) return false;
        for (int i = order; i < block; i++) {
            int64_t prediction = 0;
            for (int j = 0; j < order; j++)
                prediction += (int64_t)coefficients[j] * s[i - 1 - j];
            prediction = (prediction >> shift) + s[i];
            if (prediction < -(1 << 20) || prediction > 1 << 20) return false;
            s[i] = (int32_t)prediction;
        }
    } else {
        return false; /* reserved types */
    }
    if (b->short_read) return false;
    for (int i = 0; i < block; i++) {
        int64_t value = (int64_t)s[i] * (1 << wasted);
        if (value < INT16_MIN || value > INT16_MAX) return false;
        s[i] = (int32_t)value;
    }
    return true;
}

st_flac_result st_flac_decode_frame(const uint8_t *bytes, size_t size, const st_flac_stream *stream, int32_t *samples,
                                    size_t *n_samples, size_t *frame_bytes) {
    bits b = {bytes, size, 0, false};
    const int block = frame_header(&b, stream);
    if (block == 0) return b.short_read ? ST_FLAC_NEED_MORE : ST_FLAC_NOT_A_FRAME;
    const bool decoded = subframe(&b, block, samples);
    if (b.short_read) return ST_FLAC_NEED_MORE;
    if (!decoded) return ST_FLAC_DAMAGED;
    b.position = (b.position + 7) / 8 * 8; /* zero padding to a byte */
    const size_t end = b.position / 8;
    const uint32_t stored = read_bits(&b, 16);
    if (b.short_read) return ST_FLAC_NEED_MORE;
    if (stored != crc16(stream->crc16, bytes, end)) return ST_FLAC_DAMAGED;
    *n_samples = (size_t)block;
    *frame_bytes = end + 2;
    return ST_FLAC_FRAME;
}
