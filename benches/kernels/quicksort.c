/* Quicksort (Hoare partition, median of three) of 100k pseudo-random integers. */
#include "kernel.h"

#define COUNT 100000
static int32_t values[COUNT];

static void sort(int32_t *a, int32_t lo, int32_t hi) {
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int32_t x = a[lo], y = a[mid], z = a[hi];
        int32_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int32_t i = lo - 1, j = hi + 1;
        for (;;) {
            do i++; while (a[i] < pivot);
            do j--; while (a[j] > pivot);
            if (i >= j) break;
            int32_t t = a[i]; a[i] = a[j]; a[j] = t;
        }
        if (j - lo < hi - j) { sort(a, lo, j); lo = j + 1; }
        else { sort(a, j + 1, hi); hi = j; }
    }
}

KERNEL {
    uint32_t state = kernel_seed * 7919;
    for (int i = 0; i < COUNT; i++) values[i] = (int32_t)next_random(&state);
    bench_start();
    sort(values, 0, COUNT - 1);
    bench_end();
    uint32_t sorted = 1;
    for (int i = 1; i < COUNT; i++) sorted &= values[i - 1] <= values[i];
    return sorted * fnv1a((const uint8_t *)values, sizeof values);
}
