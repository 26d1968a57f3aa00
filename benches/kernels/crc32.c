/* Table-driven CRC-32 of 1 MiB. */
#include "kernel.h"

#define LEN (1 << 20)
static uint8_t data[LEN];

KERNEL {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    fill_random(data, LEN, kernel_seed);
    bench_start();
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < LEN; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    bench_end();
    return ~crc;
}
