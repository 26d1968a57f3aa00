/* chain: chains the function `echo` of the same user by name, with this call's input (or
 * "ping" when it is empty), awaits it and outputs "echo said: " followed by echo's output.
 * When echo fails the output is "echo failed: N" (its result) and the call fails with 1. */
#include <faasm.h>
#include <stdio.h>

int main(void) {
    size_t len = 0;
    unsigned char *input = faasm_input(&len);
    if (input == NULL)
        return 1;
    unsigned int id = len > 0 ? __faasm_chain_name("echo", input, (long)len)
                              : faasm_chain_str("echo", "ping");
    free(input);

    size_t out_len = 0;
    int result = 0;
    unsigned char *out = faasm_await_output(id, &out_len, &result);
    if (out == NULL) {
        char message[48];
        snprintf(message, sizeof message, "echo failed: %d", result);
        faasm_output_str(message);
        return 1;
    }
    static const char prefix[] = "echo said: ";
    size_t prefix_len = sizeof prefix - 1;
    char *text = malloc(prefix_len + out_len);
    if (text == NULL)
        return 1;
    memcpy(text, prefix, prefix_len);
    memcpy(text + prefix_len, out, out_len);
    faasm_output(text, prefix_len + out_len);
    free(text);
    free(out);
    return 0;
}
