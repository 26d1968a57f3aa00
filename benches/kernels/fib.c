/* Recursion: the naive Fibonacci function. */
#include "kernel.h"

static uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

KERNEL {
    uint32_t n = 29 + kernel_seed;
    bench_start();
    uint32_t result = fib(n);
    bench_end();
    return result;
}
