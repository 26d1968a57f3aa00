/* Fannkuch-redux of the benchmarks game (n = 8). */
#include "kernel.h"

#define N 8

KERNEL {
    int n = N - 1 + (int)kernel_seed;
    int perm[16], perm1[16], count[16];
    bench_start();
    int max_flips = 0, checksum = 0, permutation = 0, r = n;
    for (int i = 0; i < n; i++) perm1[i] = i;
    for (;;) {
        for (; r != 1; r--) count[r - 1] = r;
        for (int i = 0; i < n; i++) perm[i] = perm1[i];
        int flips = 0;
        for (int k = perm[0]; k != 0; k = perm[0]) {
            for (int i = 0, j = k; i < j; i++, j--) { int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
            flips++;
        }
        if (flips > max_flips) max_flips = flips;
        checksum += permutation % 2 == 0 ? flips : -flips;
        for (;;) {
            if (r == n) goto done;
            int first = perm1[0];
            for (int i = 0; i < r; i++) perm1[i] = perm1[i + 1];
            perm1[r] = first;
            if (--count[r] > 0) break;
            r++;
        }
        permutation++;
    }
done:
    bench_end();
    return (uint32_t)(max_flips * 100000 + checksum);
}
