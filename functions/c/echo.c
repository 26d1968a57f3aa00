/* echo: the output is the input, byte for byte (an empty input gives an empty output). */
#include <faasm.h>

int main(void) {
    size_t len = 0;
    unsigned char *input = faasm_input(&len);
    if (input == NULL)
        return 1;
    faasm_output(input, len);
    free(input);
    return 0;
}
