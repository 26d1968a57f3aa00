/* An open-addressing hash table: 100k inserts, then 200k lookups (half of them misses). */
#include "kernel.h"

#define CAPACITY (1 << 19)
#define KEYS 100000
static uint32_t keys[CAPACITY], values[CAPACITY];

static uint32_t slot_of(uint32_t key) { return (key * 2654435769u) >> 13; }

static void insert(uint32_t key, uint32_t value) {
    uint32_t slot = slot_of(key);
    while (keys[slot] != 0 && keys[slot] != key) slot = (slot + 1) & (CAPACITY - 1);
    keys[slot] = key;
    values[slot] = value;
}

static uint32_t lookup(uint32_t key) {
    for (uint32_t slot = slot_of(key); keys[slot] != 0; slot = (slot + 1) & (CAPACITY - 1))
        if (keys[slot] == key) return values[slot];
    return 0;
}

KERNEL {
    for (uint32_t i = 0; i < CAPACITY; i++) keys[i] = 0;
    uint32_t seed = kernel_seed;
    bench_start();
    uint32_t state = seed;
    for (uint32_t i = 0; i < KEYS; i++) insert(next_random(&state) | 1, i);
    uint32_t sum = 0;
    state = seed;
    for (uint32_t i = 0; i < KEYS; i++) {
        uint32_t key = next_random(&state);
        sum += lookup(key | 1) + lookup((key | 1) + 1);
    }
    bench_end();
    return sum;
}
