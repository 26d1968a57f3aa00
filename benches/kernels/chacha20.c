/* ChaCha20 encryption of 1 MiB. */
#include "kernel.h"

#define LEN (1 << 20)
static uint8_t data[LEN];

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define QR(a, b, c, d) \
    a += b; d ^= a; d = ROTL(d, 16); c += d; b ^= c; b = ROTL(b, 12); \
    a += b; d ^= a; d = ROTL(d, 8);  c += d; b ^= c; b = ROTL(b, 7)

static void block(const uint32_t in[16], uint32_t out[16]) {
    uint32_t x[16];
    for (int i = 0; i < 16; i++) x[i] = in[i];
    for (int round = 0; round < 10; round++) {
        QR(x[0], x[4], x[8], x[12]); QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]); QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]); QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]); QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++) out[i] = x[i] + in[i];
}

KERNEL {
    fill_random(data, LEN, kernel_seed);
    uint32_t state[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
    for (int i = 4; i < 12; i++) state[i] = 0x01010101u * (uint32_t)i;
    state[12] = 0; state[13] = state[14] = state[15] = 0x4a;
    bench_start();
    for (size_t offset = 0; offset < LEN; offset += 64) {
        uint32_t stream[16];
        block(state, stream);
        state[12]++;
        for (int i = 0; i < 16; i++) {
            uint32_t word = (uint32_t)data[offset + 4 * i] | (uint32_t)data[offset + 4 * i + 1] << 8 |
                            (uint32_t)data[offset + 4 * i + 2] << 16 | (uint32_t)data[offset + 4 * i + 3] << 24;
            word ^= stream[i];
            data[offset + 4 * i] = (uint8_t)word; data[offset + 4 * i + 1] = (uint8_t)(word >> 8);
            data[offset + 4 * i + 2] = (uint8_t)(word >> 16); data[offset + 4 * i + 3] = (uint8_t)(word >> 24);
        }
    }
    bench_end();
    return fnv1a(data, LEN);
}
