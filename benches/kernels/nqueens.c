/* Counting the solutions of the n-queens problem by backtracking over bit masks (n = 10). */
#include "kernel.h"

static uint32_t solve(uint32_t all, uint32_t columns, uint32_t left, uint32_t right) {
    if (columns == all) return 1;
    uint32_t count = 0;
    for (uint32_t free = all & ~(columns | left | right); free; free &= free - 1) {
        uint32_t bit = free & -free;
        count += solve(all, columns | bit, (left | bit) << 1, (right | bit) >> 1);
    }
    return count;
}

KERNEL {
    uint32_t n = 10 + kernel_seed;
    bench_start();
    uint32_t solutions = solve((1u << n) - 1, 0, 0, 0);
    bench_end();
    return solutions;
}
