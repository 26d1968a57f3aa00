/* Dense matrix multiplication of 160x160 doubles (i-k-j order). */
#include "kernel.h"

#define N 160
static double a[N][N], b[N][N], c[N][N];

KERNEL {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            a[i][j] = (double)((i * 7 + j * 3 + (int)kernel_seed) % 17) / 8.0;
            b[i][j] = (double)((i * 5 + j * 11) % 13) / 4.0;
            c[i][j] = 0.0;
        }
    bench_start();
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) {
            double aik = a[i][k];
            for (int j = 0; j < N; j++) c[i][j] += aik * b[k][j];
        }
    bench_end();
    double trace = 0.0;
    for (int i = 0; i < N; i++) trace += c[i][i] + c[i][N - 1 - i];
    return (uint32_t)(int64_t)trace;
}
