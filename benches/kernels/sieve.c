/* The sieve of Eratosthenes up to one million. */
#include "kernel.h"

#define LIMIT 1000000
static uint8_t composite[LIMIT + 1];

KERNEL {
    uint32_t limit = LIMIT - 1 + kernel_seed;
    for (uint32_t i = 0; i <= limit; i++) composite[i] = 0;
    bench_start();
    uint32_t count = 0;
    for (uint32_t i = 2; i <= limit; i++) {
        if (composite[i]) continue;
        count++;
        for (uint64_t j = (uint64_t)i * i; j <= limit; j += i) composite[j] = 1;
    }
    bench_end();
    return count;
}
