/* The spectral norm of the benchmarks game (n = 200). */
#include "kernel.h"
#include <math.h>

#define N 200
static double u[N], v[N], tmp[N];

static double entry(int i, int j) { return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1); }

static void times(const double *in, double *out, int transposed) {
    for (int i = 0; i < N; i++) {
        double sum = 0.0;
        for (int j = 0; j < N; j++) sum += (transposed ? entry(j, i) : entry(i, j)) * in[j];
        out[i] = sum;
    }
}

static void times_transposed_times(const double *in, double *out) {
    times(in, tmp, 0);
    times(tmp, out, 1);
}

KERNEL {
    for (int i = 0; i < N; i++) u[i] = (double)kernel_seed;
    bench_start();
    for (int i = 0; i < 10; i++) {
        times_transposed_times(u, v);
        times_transposed_times(v, u);
    }
    double vbv = 0.0, vv = 0.0;
    for (int i = 0; i < N; i++) { vbv += u[i] * v[i]; vv += v[i] * v[i]; }
    double norm = sqrt(vbv / vv);
    bench_end();
    return (uint32_t)(norm * 1e9);
}
