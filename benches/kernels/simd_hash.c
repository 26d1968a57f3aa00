/* SIMD: a four-lane multiply-rotate hash of 4 MiB (each lane takes every fourth 32-bit word,
 * as xxHash's lanes do) with wasm_simd128.h intrinsics; natively the same lanes in scalar
 * code. */
#include "kernel.h"
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define WORDS (1 << 20)
#define P1 2654435761u
#define P2 2246822519u
static uint32_t data[WORDS];

static uint32_t rotl13(uint32_t x) { return (x << 13) | (x >> 19); }

KERNEL {
    fill_random((uint8_t *)data, sizeof data, kernel_seed);
    bench_start();
    uint32_t lanes[4];
#ifdef __wasm_simd128__
    v128_t h = wasm_i32x4_make(1, 2, 3, 4);
    v128_t p1 = wasm_i32x4_splat((int32_t)P1), p2 = wasm_i32x4_splat((int32_t)P2);
    for (size_t i = 0; i < WORDS; i += 4) {
        v128_t w = wasm_v128_load(&data[i]);
        h = wasm_i32x4_add(h, wasm_i32x4_mul(w, p2));
        h = wasm_v128_or(wasm_i32x4_shl(h, 13), wasm_u32x4_shr(h, 19));
        h = wasm_i32x4_mul(h, p1);
    }
    wasm_v128_store(lanes, h);
#else
    for (uint32_t l = 0; l < 4; l++) lanes[l] = l + 1;
    for (size_t i = 0; i < WORDS; i += 4)
        for (size_t l = 0; l < 4; l++) lanes[l] = rotl13(lanes[l] + data[i + l] * P2) * P1;
#endif
    bench_end();
    return rotl13(lanes[0]) ^ lanes[1] ^ (lanes[2] * P1) ^ (lanes[3] * P2);
}
