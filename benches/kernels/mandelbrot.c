/* The Mandelbrot set: escape times over a 200x200 grid. */
#include "kernel.h"

#define SIZE 200
#define MAX_ITER 100

KERNEL {
    int size = SIZE - 1 + (int)kernel_seed;
    bench_start();
    uint32_t total = 0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            double cr = 2.0 * x / size - 1.5, ci = 2.0 * y / size - 1.0;
            double zr = 0.0, zi = 0.0;
            int i = 0;
            while (i < MAX_ITER && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                i++;
            }
            total += (uint32_t)i;
        }
    bench_end();
    return total;
}
