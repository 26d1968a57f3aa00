/* pi: a Monte Carlo estimate of pi over chained workers. The input is N (4 when empty, 1 to
 * 100). The call chains N workers, this same module at `pi_worker` with seeds 1 .. N; each
 * draws 100000 points in the unit square from a 64-bit LCG seeded with its seed and outputs
 * how many fall inside the quarter circle, in decimal. The caller sums the hits and outputs
 * "pi ~= D.DDDDDD" (4 * hits / samples, truncated to six decimals, integer arithmetic only, so
 * every build gives the same text). A bad input outputs "bad input"; failed workers output
 * "K of N workers failed"; both fail. */
#include <faasm.h>
#include <stdio.h>

#define MAX_WORKERS 100
#define SAMPLES 100000

/* The next value of the LCG (Knuth's MMIX constants). */
static uint64_t next(uint64_t *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state;
}

/* The chained entry: counts the hits of `SAMPLES` points drawn from `seed`. */
static int pi_worker(int seed) {
    uint64_t state = (uint64_t)(uint32_t)seed;
    unsigned int hits = 0;
    for (int i = 0; i < SAMPLES; i++) {
        /* 31-bit coordinates: x*x + y*y < 2^62 means inside the quarter circle of radius 2^31. */
        uint64_t x = next(&state) >> 33;
        uint64_t y = next(&state) >> 33;
        if (x * x + y * y < (1ULL << 62))
            hits++;
    }
    char text[16];
    snprintf(text, sizeof text, "%u", hits);
    faasm_output_str(text);
    return 0;
}

int main(void) {
    char *input = faasm_input_str();
    if (input == NULL)
        return 1;
    long n = 4;
    if (input[0] != 0) {
        char *end = NULL;
        n = strtol(input, &end, 10);
        /* Only an optional sign and digits, as Rust's `str::parse` (no leading spaces). */
        int sign_or_digit =
            input[0] == '-' || input[0] == '+' || (input[0] >= '0' && input[0] <= '9');
        if (!sign_or_digit || *end != 0 || n < 1 || n > MAX_WORKERS) {
            free(input);
            faasm_output_str("bad input");
            return 1;
        }
    }
    free(input);

    unsigned int ids[MAX_WORKERS];
    for (int i = 0; i < n; i++)
        ids[i] = faasm_chain_ptr_int(pi_worker, i + 1);

    uint64_t hits = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char *out = (char *)faasm_await_output(ids[i], NULL, NULL);
        if (out == NULL) {
            failed++;
            continue;
        }
        hits += strtoull(out, NULL, 10);
        free(out);
    }
    char text[48];
    if (failed > 0) {
        snprintf(text, sizeof text, "%d of %ld workers failed", failed, n);
        faasm_output_str(text);
        return 1;
    }
    uint64_t micro = hits * 4000000ULL / ((uint64_t)n * SAMPLES);
    snprintf(text, sizeof text, "pi ~= %llu.%06llu", (unsigned long long)(micro / 1000000),
             (unsigned long long)(micro % 1000000));
    faasm_output_str(text);
    return 0;
}
