/* Base64 encoding of 768 KiB and decoding it back. */
#include "kernel.h"

#define LEN (768 << 10)
static uint8_t plain[LEN], decoded[LEN];
static char encoded[LEN / 3 * 4];
static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void encode(const uint8_t *in, size_t len, char *out) {
    for (size_t i = 0; i < len; i += 3, out += 4) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[0] = ALPHABET[v >> 18];
        out[1] = ALPHABET[(v >> 12) & 63];
        out[2] = ALPHABET[(v >> 6) & 63];
        out[3] = ALPHABET[v & 63];
    }
}

static size_t decode(const char *in, size_t len, uint8_t *out, const uint8_t *table) {
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = (uint32_t)table[(uint8_t)in[i]] << 18 | (uint32_t)table[(uint8_t)in[i + 1]] << 12 |
                     (uint32_t)table[(uint8_t)in[i + 2]] << 6 | table[(uint8_t)in[i + 3]];
        out[n++] = (uint8_t)(v >> 16);
        out[n++] = (uint8_t)(v >> 8);
        out[n++] = (uint8_t)v;
    }
    return n;
}

KERNEL {
    uint8_t table[256] = {0};
    for (int i = 0; i < 64; i++) table[(uint8_t)ALPHABET[i]] = (uint8_t)i;
    fill_random(plain, LEN, kernel_seed);
    bench_start();
    encode(plain, LEN, encoded);
    size_t n = decode(encoded, sizeof encoded, decoded, table);
    bench_end();
    return fnv1a((const uint8_t *)encoded, 4096) ^ fnv1a(decoded, n);
}
