/* fanout: fan-out and fan-in. The input is N (4 when empty, 1 to 100). The call chains N
 * workers, this same module at `worker` with inputs 0 .. N-1; worker I outputs the sum of
 * I*100+1 .. (I+1)*100 (that is 10000*I + 5050). The caller awaits every output and outputs
 * their sum in decimal: the sum of 1 .. 100*N, e.g. "80200" for N = 4, "50005000" for 100.
 * A bad input outputs "bad input"; failed workers output "K of N workers failed"; both fail. */
#include <faasm.h>
#include <stdio.h>

#define MAX_WORKERS 100

/* The chained entry: sums its hundred numbers. */
static int worker(int part) {
    long long sum = 0;
    for (long long k = (long long)part * 100 + 1; k <= ((long long)part + 1) * 100; k++)
        sum += k;
    char text[24];
    snprintf(text, sizeof text, "%lld", sum);
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
        ids[i] = faasm_chain_ptr_int(worker, i);

    long long total = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char *out = (char *)faasm_await_output(ids[i], NULL, NULL);
        if (out == NULL) {
            failed++;
            continue;
        }
        total += strtoll(out, NULL, 10);
        free(out);
    }
    char text[48];
    if (failed > 0) {
        snprintf(text, sizeof text, "%d of %ld workers failed", failed, n);
        faasm_output_str(text);
        return 1;
    }
    snprintf(text, sizeof text, "%lld", total);
    faasm_output_str(text);
    return 0;
}
