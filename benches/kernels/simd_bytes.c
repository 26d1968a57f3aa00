/* SIMD: an image transform left to clang's autovectoriser (built with -msimd128 for Wasm):
 * 1024x1024 RGBA to grayscale with integer weights, then a saturating brightness step and a
 * contrast stretch, over plain byte loops. */
#include "kernel.h"

#define PIXELS (1024 * 1024)
static uint8_t rgba[PIXELS * 4];
static uint8_t gray[PIXELS];

KERNEL {
    fill_random(rgba, sizeof rgba, kernel_seed);
    bench_start();
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < PIXELS; i++) {
            uint32_t r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
            gray[i] = (uint8_t)((77 * r + 150 * g + 29 * b) >> 8);
        }
        for (size_t i = 0; i < PIXELS; i++) {
            uint32_t v = gray[i] + 24u + (uint32_t)round;
            gray[i] = v > 255 ? 255 : (uint8_t)v;
        }
        for (size_t i = 0; i < PIXELS; i++) {
            uint8_t v = gray[i];
            uint8_t low = v < 32 ? 32 : v;
            uint8_t high = low > 224 ? 224 : low;
            rgba[4 * i + 3] = (uint8_t)((high - 32) * 4 / 3);
        }
    }
    bench_end();
    uint32_t sum = 0;
    for (size_t i = 0; i < PIXELS; i++) sum = sum * 31 + gray[i] + rgba[4 * i + 3];
    return sum;
}
