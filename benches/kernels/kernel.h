/* The contract of a benchmark kernel: `uint32_t run(void)` prepares its input, calls
 * bench_start(), computes, calls bench_end() and returns a checksum of the result, which must
 * be the same in every engine and natively. Built for wasm32-wasi (the sightglass convention:
 * `bench.start`/`bench.end` are imports, `run` is the export) and for the host (native.c
 * provides main and the timer). Inputs are set up inside run(), so it can be called again. */
#ifndef KERNEL_H
#define KERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __wasm__
__attribute__((import_module("bench"), import_name("start"))) void bench_start(void);
__attribute__((import_module("bench"), import_name("end"))) void bench_end(void);
#define KERNEL __attribute__((export_name("run"))) uint32_t run(void)
#else
void bench_start(void);
void bench_end(void);
#define KERNEL uint32_t run(void)
#endif

/* A value the compiler cannot see, so that no kernel is folded at compile time. */
static volatile uint32_t kernel_seed = 1;

/* A small deterministic pseudo-random generator (xorshift32). */
static inline uint32_t next_random(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Fills `bytes` with pseudo-random bytes from `seed`. */
static inline void fill_random(uint8_t *bytes, size_t len, uint32_t seed) {
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) bytes[i] = (uint8_t)(next_random(&state) >> 24);
}

/* FNV-1a over `bytes`: the checksum of byte results. */
static inline uint32_t fnv1a(const uint8_t *bytes, size_t len) {
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) hash = (hash ^ bytes[i]) * 16777619u;
    return hash;
}

#endif
