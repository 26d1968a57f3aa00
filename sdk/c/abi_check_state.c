/* Not a function to run: it calls every state import that faasm.h declares (the state table of
 * docs/abi.md), so that a test can check each import's name and signature in the built module
 * against the ABI, as `abi_check.c` does for the other imports (kept apart because
 * tests/sdk.rs checks that `abi_check` imports exactly the ABI's non-state imports). Built
 * like the examples: `clang --target=wasm32-wasi -O2 -I sdk/c sdk/c/abi_check_state.c`. */
#include <faasm.h>

int main(void) {
    unsigned char buffer[8] = {0};
    const char *key = "key";
    long n = __faasm_read_state(key, buffer, 8);
    n += (long)(intptr_t)__faasm_read_state_ptr(key, 8);
    __faasm_write_state(key, buffer, 8);
    __faasm_write_state_offset(key, 8, 0, buffer, 4);
    __faasm_read_state_offset(key, 8, 4, buffer, 4);
    n += (long)(intptr_t)__faasm_read_state_offset_ptr(key, 8, 4, 4);
    n += (long)__faasm_write_state_from_file(key, "/file");
    __faasm_flag_state_dirty(key, 8);
    __faasm_flag_state_offset_dirty(key, 8, 0, 4);
    __faasm_push_state(key);
    __faasm_push_state_partial(key);
    __faasm_push_state_partial_mask(key, "mask");
    __faasm_pull_state(key, 8);
    __faasm_append_state(key, buffer, 8);
    __faasm_read_appended_state(key, buffer, 8, 1);
    __faasm_clear_appended_state(key);
    __faasm_lock_state_read(key);
    __faasm_unlock_state_read(key);
    __faasm_lock_state_write(key);
    __faasm_unlock_state_write(key);
    __faasm_lock_state_global_read(key);
    __faasm_unlock_state_global_read(key);
    __faasm_lock_state_global_write(key);
    __faasm_unlock_state_global_write(key);
    return (int)n + buffer[0];
}
