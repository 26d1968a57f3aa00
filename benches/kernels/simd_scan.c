/* SIMD: a string scan of 4 MiB of text with wasm_simd128.h intrinsics: counts newlines and
 * spaces 16 bytes at a time (i8x16.eq, bitmask, popcount); natively byte by byte. */
#include "kernel.h"
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define LEN (1 << 22)
static uint8_t text[LEN];

KERNEL {
    fill_random(text, LEN, kernel_seed);
    for (size_t i = 0; i < LEN; i++) {
        uint8_t c = text[i] % 64;
        text[i] = c == 0 ? '\n' : c < 10 ? ' ' : (uint8_t)('a' + c % 26);
    }
    bench_start();
    uint32_t newlines = 0, spaces = 0;
#ifdef __wasm_simd128__
    v128_t nl = wasm_i8x16_splat('\n'), sp = wasm_i8x16_splat(' ');
    for (size_t i = 0; i < LEN; i += 16) {
        v128_t chunk = wasm_v128_load(&text[i]);
        newlines += (uint32_t)__builtin_popcount(wasm_i8x16_bitmask(wasm_i8x16_eq(chunk, nl)));
        spaces += (uint32_t)__builtin_popcount(wasm_i8x16_bitmask(wasm_i8x16_eq(chunk, sp)));
    }
#else
    for (size_t i = 0; i < LEN; i++) {
        newlines += text[i] == '\n';
        spaces += text[i] == ' ';
    }
#endif
    bench_end();
    return newlines * 65599u + spaces;
}
