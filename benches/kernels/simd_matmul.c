/* SIMD: a 256x256 integer matrix multiply with wasm_simd128.h intrinsics (four columns at a
 * time: i32x4 splat, mul, add); natively the same arithmetic in scalar code. */
#include "kernel.h"
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define N 256
static uint32_t a[N * N], b[N * N], c[N * N];

KERNEL {
    uint32_t state = kernel_seed * 2654435761u + 1;
    for (size_t i = 0; i < N * N; i++) {
        a[i] = next_random(&state) & 0xffff;
        b[i] = next_random(&state) & 0xffff;
    }
    bench_start();
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < N; j += 4) {
#ifdef __wasm_simd128__
            v128_t sum = wasm_i32x4_splat(0);
            for (size_t k = 0; k < N; k++) {
                v128_t x = wasm_i32x4_splat((int32_t)a[i * N + k]);
                v128_t y = wasm_v128_load(&b[k * N + j]);
                sum = wasm_i32x4_add(sum, wasm_i32x4_mul(x, y));
            }
            wasm_v128_store(&c[i * N + j], sum);
#else
            uint32_t sum[4] = {0, 0, 0, 0};
            for (size_t k = 0; k < N; k++)
                for (size_t l = 0; l < 4; l++) sum[l] += a[i * N + k] * b[k * N + j + l];
            for (size_t l = 0; l < 4; l++) c[i * N + j + l] = sum[l];
#endif
        }
    }
    bench_end();
    uint32_t check = 0;
    for (size_t i = 0; i < N * N; i++) check = check * 31 + c[i];
    return check;
}
