/* hello: the output is "Hello, faasm!", whatever the input. */
#include <faasm.h>

int main(void) {
    faasm_output_str("Hello, faasm!");
    return 0;
}
