/* chain_ptr: chaining by function-table index. The input is an integer N (7 when empty, at
 * most 46340 in magnitude); the call chains this same module at `square`, whose entry receives
 * N parsed from its input and outputs N*N in decimal. The caller awaits it and outputs
 * "square(N) = N*N", e.g. "square(12) = 144". A bad input outputs "bad input" and fails. */
#include <faasm.h>
#include <stdio.h>

/* The chained entry: `int f(int)` gets the call's input as an integer. */
static int square(int x) {
    char text[16];
    snprintf(text, sizeof text, "%d", x * x);
    faasm_output_str(text);
    return 0;
}

int main(void) {
    char *input = faasm_input_str();
    if (input == NULL)
        return 1;
    long n = 7;
    if (input[0] != 0) {
        char *end = NULL;
        n = strtol(input, &end, 10);
        /* Only an optional sign and digits, as Rust's `str::parse` (no leading spaces). */
        int sign_or_digit =
            input[0] == '-' || input[0] == '+' || (input[0] >= '0' && input[0] <= '9');
        if (!sign_or_digit || *end != 0 || n < -46340 || n > 46340) {
            free(input);
            faasm_output_str("bad input");
            return 1;
        }
    }
    free(input);

    unsigned int id = faasm_chain_ptr_int(square, (int)n);
    int result = 0;
    char *out = (char *)faasm_await_output(id, NULL, &result);
    if (out == NULL) {
        char message[48];
        snprintf(message, sizeof message, "square failed: %d", result);
        faasm_output_str(message);
        return 1;
    }
    char text[64];
    snprintf(text, sizeof text, "square(%ld) = %s", n, out);
    faasm_output_str(text);
    free(out);
    return 0;
}
