/* Clocks and randomness through libc and raw WASI: the wall clock agrees with the host's (the
 * test passes its time in HOST_NOW), the monotonic clock never goes back, resolutions are
 * sensible, sleeps (`poll_oneoff` with a clock subscription) last long enough, and
 * `random_get` fills buffers with bytes that differ between draws and cover every value. */
#include "guest.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timespec t) { return (double)t.tv_sec + (double)t.tv_nsec / 1e9; }

static double monotonic_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return seconds(t);
}

static void wall_clock(void) {
    struct timespec now;
    report("clock_gettime(CLOCK_REALTIME)", clock_gettime(CLOCK_REALTIME, &now));
    const char *host = getenv("HOST_NOW");
    double diff = seconds(now) - (host ? atof(host) : 0.0);
    printf("wall clock within 60 s of the host's: %d\n", diff > -60.0 && diff < 60.0);
    printf("time() agrees with clock_gettime: %d\n", labs((long)time(NULL) - (long)now.tv_sec) <= 1);
}

static void monotonic_clock(void) {
    struct timespec res;
    report("clock_getres(CLOCK_MONOTONIC)", clock_getres(CLOCK_MONOTONIC, &res));
    printf("monotonic resolution between 1 ns and 10 ms: %d\n", res.tv_sec == 0 && res.tv_nsec >= 1 && res.tv_nsec <= 10000000);
    double last = monotonic_now();
    int backwards = 0;
    for (int i = 0; i < 10000; i++) {
        double now = monotonic_now();
        backwards += now < last;
        last = now;
    }
    printf("monotonic clock went backwards %d times in 10000 reads\n", backwards);
}

static void sleeps(void) {
    double start = monotonic_now();
    struct timespec request = {0, 30 * 1000 * 1000};
    report("nanosleep(30 ms)", nanosleep(&request, NULL));
    double slept = monotonic_now() - start;
    printf("nanosleep(30 ms) lasted 30 ms to 5 s: %d\n", slept >= 0.030 && slept < 5.0);
    start = monotonic_now();
    report("usleep(20 ms)", usleep(20000));
    slept = monotonic_now() - start;
    printf("usleep(20 ms) lasted 20 ms to 5 s: %d\n", slept >= 0.020 && slept < 5.0);
    printf("sched_yield: %s\n", errno_name(__wasi_sched_yield()));
}

/* Two clock subscriptions in one poll_oneoff: the shorter fires, with its userdata. */
static void poll_clocks(void) {
    __wasi_subscription_t subs[2] = {0};
    for (int i = 0; i < 2; i++) {
        subs[i].userdata = 100 + i;
        subs[i].u.tag = __WASI_EVENTTYPE_CLOCK;
        subs[i].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
        subs[i].u.u.clock.timeout = (i == 0 ? 2000 : 10) * 1000000ULL;
    }
    __wasi_event_t events[2];
    __wasi_size_t count = 0;
    double start = monotonic_now();
    __wasi_errno_t error = __wasi_poll_oneoff(subs, events, 2, &count);
    double waited = monotonic_now() - start;
    printf("poll_oneoff(2 s, 10 ms): %s, %u event(s), first userdata %llu, error %u, waited under 1 s %d\n",
           errno_name(error), (unsigned)count, (unsigned long long)events[0].userdata,
           (unsigned)events[0].error, waited < 1.0);
}

static void randomness(void) {
    unsigned char a[32] = {0}, b[32] = {0};
    report("getentropy(32)", getentropy(a, sizeof a));
    report("getentropy(32) again", getentropy(b, sizeof b));
    printf("two draws differ: %d\n", memcmp(a, b, sizeof a) != 0);
    size_t size = 1 << 16;
    unsigned char *big = calloc(size, 1);
    printf("random_get(64 KiB): %s\n", errno_name(__wasi_random_get(big, size)));
    int seen[256] = {0}, distinct = 0;
    for (size_t i = 0; i < size; i++)
        distinct += !seen[big[i]]++;
    printf("64 KiB of random bytes hold all 256 values: %d\n", distinct == 256);
    free(big);
}

int main(void) {
    wall_clock();
    monotonic_clock();
    sleeps();
    poll_clocks();
    randomness();
    printf("clocks_random: done\n");
    return 0;
}
