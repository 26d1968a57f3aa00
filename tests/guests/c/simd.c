/* simd: a C guest built with `-msimd128`: loops clang vectorises and `wasm_simd128.h`
 * intrinsics, each checked against the same computation in scalar code (loops kept scalar with
 * `#pragma clang loop vectorize(disable)`). Prints one line per check. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wasm_simd128.h>

#define N 4096

static uint8_t bytes[N], out_vector[N], out_scalar[N];
static int32_t ints[N];
static float floats[N];

static uint32_t next(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static void check(const char *what, int ok) { printf("%s: %s\n", what, ok ? "ok" : "MISMATCH"); }

/* Vectorised by clang at -O2 with -msimd128. */
static int64_t sum_of_products(const int32_t *a, int n) {
    int64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += (int64_t)a[i] * (a[i] & 0xff);
    return sum;
}

static int64_t sum_of_products_scalar(const int32_t *a, int n) {
    int64_t sum = 0;
#pragma clang loop vectorize(disable) interleave(disable)
    for (int i = 0; i < n; i++)
        sum += (int64_t)a[i] * (a[i] & 0xff);
    return sum;
}

static void brighten(uint8_t *out, const uint8_t *in, int n) {
    for (int i = 0; i < n; i++) {
        unsigned v = in[i] + 40u;
        out[i] = v > 255 ? 255 : (uint8_t)v;
    }
}

static void brighten_scalar(uint8_t *out, const uint8_t *in, int n) {
#pragma clang loop vectorize(disable) interleave(disable)
    for (int i = 0; i < n; i++) {
        unsigned v = in[i] + 40u;
        out[i] = v > 255 ? 255 : (uint8_t)v;
    }
}

int main(void) {
    uint32_t state = 7;
    for (int i = 0; i < N; i++) {
        bytes[i] = (uint8_t)next(&state);
        ints[i] = (int32_t)next(&state) - (1 << 23);
        floats[i] = (float)(next(&state) % 10000) / 7.0f;
    }

    check("autovectorised sum of products",
          sum_of_products(ints, N) == sum_of_products_scalar(ints, N));
    brighten(out_vector, bytes, N);
    brighten_scalar(out_scalar, bytes, N);
    check("autovectorised saturating add", memcmp(out_vector, out_scalar, N) == 0);

    /* Intrinsics over the bytes, 16 at a time. */
    int ok_max = 1, ok_shuffle = 1, ok_mask = 1, ok_swizzle = 1;
    for (int i = 0; i + 32 <= N; i += 16) {
        v128_t a = wasm_v128_load(bytes + i), b = wasm_v128_load(bytes + i + 16);
        uint8_t lanes[16];
        wasm_v128_store(lanes, wasm_u8x16_max(a, b));
        v128_t reversed = wasm_i8x16_shuffle(a, a, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        uint8_t rev[16];
        wasm_v128_store(rev, reversed);
        uint32_t mask = wasm_i8x16_bitmask(a), expected_mask = 0;
        v128_t picked = wasm_i8x16_swizzle(a, wasm_u8x16_splat(3));
        for (int j = 0; j < 16; j++) {
            uint8_t x = bytes[i + j], y = bytes[i + 16 + j];
            ok_max &= lanes[j] == (x > y ? x : y);
            ok_shuffle &= rev[j] == bytes[i + 15 - j];
            expected_mask |= (uint32_t)(x >> 7) << j;
            ok_swizzle &= wasm_u8x16_extract_lane(picked, 0) == bytes[i + 3];
        }
        ok_mask &= mask == expected_mask;
    }
    check("u8x16.max", ok_max);
    check("i8x16.shuffle", ok_shuffle);
    check("i8x16.bitmask", ok_mask);
    check("i8x16.swizzle", ok_swizzle);

    /* Floats: sqrt and a dot product of i16 lanes. */
    int ok_sqrt = 1, ok_dot = 1;
    for (int i = 0; i + 4 <= N; i += 4) {
        float roots[4];
        wasm_v128_store(roots, wasm_f32x4_sqrt(wasm_v128_load(floats + i)));
        for (int j = 0; j < 4; j++)
            ok_sqrt &= roots[j] == __builtin_sqrtf(floats[i + j]);
    }
    for (int i = 0; i + 16 <= N; i += 8) {
        int16_t x[8], y[8];
        for (int j = 0; j < 8; j++) {
            x[j] = (int16_t)ints[i + j];
            y[j] = (int16_t)ints[i + 8 + j];
        }
        int32_t dot[4];
        wasm_v128_store(dot, wasm_i32x4_dot_i16x8(wasm_v128_load(x), wasm_v128_load(y)));
        for (int j = 0; j < 4; j++)
            ok_dot &= dot[j] == x[2 * j] * y[2 * j] + x[2 * j + 1] * y[2 * j + 1];
    }
    check("f32x4.sqrt", ok_sqrt);
    check("i32x4.dot_i16x8_s", ok_dot);
    return 0;
}
