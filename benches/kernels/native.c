/* The native driver of a kernel: `./kernel ITERATIONS` calls run() that many times and prints
 * the nanoseconds spent between bench_start() and bench_end() in total, then the checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint32_t run(void);

static struct timespec started;
static uint64_t measured_ns;

void bench_start(void) { clock_gettime(CLOCK_MONOTONIC, &started); }

void bench_end(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    measured_ns += (uint64_t)(now.tv_sec - started.tv_sec) * 1000000000u +
                   (uint64_t)now.tv_nsec - (uint64_t)started.tv_nsec;
}

int main(int argc, char **argv) {
    unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 1;
    uint32_t checksum = 0;
    for (unsigned long i = 0; i < iterations; i++) checksum = run();
    printf("%llu %u\n", (unsigned long long)measured_ns, checksum);
    return 0;
}
