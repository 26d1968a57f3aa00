/* Not a function to run: it calls every import that faasm.h declares, so that
 * tests/sdk.rs can check each import's name and signature in the built module against
 * docs/abi.md (a declaration nothing calls leaves no import behind). Built like the examples:
 * `clang --target=wasm32-wasi -O2 -I sdk/c sdk/c/abi_check.c`. */
#include <faasm.h>

static int entry(int x) {
    return x;
}

int main(void) {
    unsigned char byte = 0;
    unsigned char *out = NULL;
    long out_len = 0;
    long n = __faasm_read_input(&byte, 1);
    __faasm_write_output("", 0);
    unsigned int a = __faasm_chain_name("echo", &byte, 1);
    unsigned int b = __faasm_chain_ptr((int (*)())entry, &byte, 1);
    n += __faasm_await_call(a);
    n += __faasm_await_call_output(b, &out, &out_len);
    free(out);
    n += (long)__faasm_chain_function("echo", &byte, 1);
    n += (long)__faasm_chain_this(1, &byte, 1);
    n += __faasm_get_idx();
    n += (long)(intptr_t)__sbrk(0);
    void *mapped = mmap(NULL, 65536, 3, 0x22, -1, 0);
    n += munmap(mapped, 65536);
    n += (long)__faasm_conf_flag("flag");
    return (int)n;
}
