/* Start-up benchmark: a WASI hello-world (`clang --target=wasm32-wasi -O2`), the smallest
 * command a user runs with `faasm-run FILE`. */
#include <stdio.h>

int main(void) {
    puts("Hello, world!");
    return 0;
}
