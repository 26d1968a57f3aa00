/* runs N PROGRAM ARGS...: starts PROGRAM N times one after the other (stdout to /dev/null,
 * after 5 unmeasured starts) and prints one line:
 *   median_ms p90_ms min_ms median_rss_kib max_rss_kib
 * Wall time is fork to reaped exit, as a shell sees it; peak RSS is the child's ru_maxrss
 * from wait4.
 *
 * Why in C: a child's ru_maxrss is at least what its parent's memory was when it called
 * exec (the kernel counts the address space exec replaces; with vfork or posix_spawn that is
 * the parent's own), so the parent must be a small process, not the benchmark binary. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3 || atoi(argv[1]) < 1) {
        fprintf(stderr, "usage: runs N PROGRAM [ARGS...]\n");
        return 2;
    }
    int n = atoi(argv[1]), warm = 5;
    double *wall = calloc(n, sizeof *wall), *rss = calloc(n, sizeof *rss);
    int devnull = open("/dev/null", O_WRONLY);
    if (!wall || !rss || devnull < 0) return 1;
    for (int i = 0; i < n + warm; i++) {
        struct timespec start, end;
        struct rusage usage;
        int status;
        clock_gettime(CLOCK_MONOTONIC, &start);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            dup2(devnull, 1);
            execv(argv[2], argv + 2);
            _exit(127);
        }
        if (wait4(pid, &status, 0, &usage) != pid) return 1;
        clock_gettime(CLOCK_MONOTONIC, &end);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "runs: %s failed (status %d)\n", argv[2], status);
            return 1;
        }
        if (i >= warm) {
            wall[i - warm] = (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
            rss[i - warm] = (double)usage.ru_maxrss;
        }
    }
    qsort(wall, n, sizeof *wall, by_value);
    qsort(rss, n, sizeof *rss, by_value);
    printf("%.4f %.4f %.4f %.0f %.0f\n", wall[n / 2], wall[n * 9 / 10], wall[0], rss[n / 2], rss[n - 1]);
    return 0;
}
