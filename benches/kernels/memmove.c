/* memmove and memcpy of overlapping and disjoint blocks within 4 MiB. */
#include "kernel.h"
#include <string.h>

#define LEN (4 << 20)
static uint8_t buffer[LEN];

KERNEL {
    fill_random(buffer, LEN, kernel_seed);
    bench_start();
    for (int round = 0; round < 16; round++) {
        size_t shift = 1 + (size_t)round * 37;
        memmove(buffer + shift, buffer, LEN / 2);
        memmove(buffer, buffer + shift + 3, LEN / 2);
        memcpy(buffer + LEN / 2, buffer, LEN / 2 - 64);
    }
    bench_end();
    return fnv1a(buffer, 65536) ^ fnv1a(buffer + LEN - 65536, 65536);
}
