/* faasm.h: the guest interface of faasm-rs for C and C++ functions.
 *
 * Declares the `env` imports of the Faasm host interface (see docs/abi.md: the names and
 * signatures of Faasm's own `faasm/host_interface.h`, so functions written for Faasm build
 * unchanged) and a few helpers over them. Built with stock tools only:
 *
 *     clang --target=wasm32-wasi -O2 -I sdk/c my_function.c -o my_function.wasm
 *
 * Every import carries `import_module("env")` and `import_name(...)`, so wasm-ld turns it into
 * a Wasm import without `-Wl,--allow-undefined`; an import a function never calls does not
 * appear in its module at all. On wasm32 every pointer, `int`, `long` and `size_t` is an `i32`.
 *
 * Entry: a call runs `_start` (that is, `main`), and its result is `main`'s return value (0:
 * success). A call chained by function-table index (`__faasm_chain_ptr`) instead runs that one
 * function: `int f(void)`, or `int f(int)` which receives the call's input parsed as an integer.
 *
 * Memory handed back to the guest (`__faasm_await_call_output`) comes from the module's
 * exported `malloc`. Stock wasi-libc does not export it, so this header does (a weak wrapper
 * exported under the name `malloc`, one per module however many files include the header).
 * Define FAASM_NO_MALLOC_EXPORT before including it if the module already exports `malloc`
 * (for example with `-Wl,--export=malloc`: two exports of one name make an invalid module).
 * Note that wasm-ld wraps every export of a command module (one with `_start`) so that it runs
 * `__wasm_call_dtors` (atexit handlers, C++ static destructors, a stdio flush) after each call:
 * a function that registers such handlers should not rely on their running only at exit.
 */
#ifndef FAASM_SDK_FAASM_H
#define FAASM_SDK_FAASM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One `env` import: `FAASM_IMPORT(name) ret name(args);`. */
#define FAASM_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* ---------------------------------------------------------------------------------------- */
/* Input and output                                                                          */
/* ---------------------------------------------------------------------------------------- */

/* With `bufferLen == 0`: the size of the call's input in bytes. Otherwise copies
 * `min(bufferLen, size)` bytes into `buffer` and returns how many it copied (0 for an empty
 * input). */
FAASM_IMPORT(__faasm_read_input)
long __faasm_read_input(unsigned char *buffer, long bufferLen);

/* Sets the call's output to the `outputLen` bytes at `output` (the host copies them; a second
 * call replaces the output). */
FAASM_IMPORT(__faasm_write_output)
void __faasm_write_output(const char *output, long outputLen);

/* ---------------------------------------------------------------------------------------- */
/* Chaining                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Calls the function `name` (NUL-terminated) of the same user with the `inputDataSize` bytes
 * at `inputData` as its input. Returns the call's id, for `__faasm_await_call*`. */
FAASM_IMPORT(__faasm_chain_name)
unsigned int __faasm_chain_name(const char *name, const unsigned char *inputData,
                                long inputDataSize);

/* Calls this same function again, entering at `funcPtr` (a function pointer is its index in
 * the module's function table) instead of `_start`: `int f(void)`, or `int f(int)` which gets
 * the input parsed as an integer. Returns the call's id. Pass `(int (*)())f`. */
FAASM_IMPORT(__faasm_chain_ptr)
unsigned int __faasm_chain_ptr(int (*funcPtr)(), const unsigned char *inputData,
                               long inputDataSize);

/* Blocks until call `messageId` ends. Returns its return value (0: success), or 1 when it
 * failed (trap, timeout, unknown id). */
FAASM_IMPORT(__faasm_await_call)
int __faasm_await_call(unsigned int messageId);

/* As `__faasm_await_call`, and copies the callee's output into memory the host gets from this
 * module's exported `malloc`, writing its address to `*output` and its length to `*outputLen`.
 * The caller owns that buffer: release it with `free`. */
FAASM_IMPORT(__faasm_await_call_output)
int __faasm_await_call_output(unsigned int messageId, unsigned char **output, long *outputLen);

/* Paper-era aliases, accepted by the host too. `__faasm_chain_function` is
 * `__faasm_chain_name`; `__faasm_chain_this(idx, ...)` is `__faasm_chain_ptr` with a table
 * index; `__faasm_get_idx()` returns the table index this call entered at (0 for `_start`). */
FAASM_IMPORT(__faasm_chain_function)
unsigned int __faasm_chain_function(const char *name, const unsigned char *inputData,
                                    long inputDataSize);
FAASM_IMPORT(__faasm_chain_this)
unsigned int __faasm_chain_this(int idx, const unsigned char *inputData, long inputDataSize);
FAASM_IMPORT(__faasm_get_idx)
int __faasm_get_idx(void);

/* Python functions (the interpreter's entry points, python/faasm_main.c): calls this same
 * function at its Python entry `entry` (1 to 255 ASCII letters, digits and `_`, not first a
 * digit; anything else traps) with the input; returns the call id. */
FAASM_IMPORT(__faasm_chain_py)
unsigned int __faasm_chain_py(const char *entry, const unsigned char *inputData,
                              long inputDataSize);
/* Writes this call's Python entry (empty: the function's main entry) and a NUL into `buffer`;
 * a buffer too small for both traps. */
FAASM_IMPORT(__faasm_get_py_entry)
void __faasm_get_py_entry(unsigned char *buffer, long bufferLen);

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* Keys are NUL-terminated, at most 256 bytes of A-Z a-z 0-9 _ . : - and belong to the calling
 * function's user (no key can name another user's value). A value's size is fixed by the first
 * call that gives one; every `totalLen` must be that size. The host keeps one copy of each value
 * per host, shared by every function on it; `push` sends it to the global tier (other hosts),
 * `pull` fetches it. Any failure (size mismatch, range past the end, bad pointer, absent value,
 * unlock of a lock not held) traps: these calls never return an error code. */

/* `bufferLen == 0`: the value's size (0 if it exists nowhere). Otherwise `bufferLen` must be the
 * size: pulls what was not pulled yet, copies the whole value into `buffer`, returns the size. */
FAASM_IMPORT(__faasm_read_state)
long __faasm_read_state(const char *key, unsigned char *buffer, long bufferLen);

/* Maps the whole value (created as zeros if it exists nowhere) into this function's memory,
 * shared with every function on this host that maps it (no copy), and returns its address:
 * the same address on every call for the same key during one call of the function. Writes
 * through it change the host's copy at once; flag them dirty before a push. */
FAASM_IMPORT(__faasm_read_state_ptr)
unsigned char *__faasm_read_state_ptr(const char *key, long totalLen);

/* Overwrites the host's copy with `dataLen` bytes (creating the value with that size) and marks
 * it dirty. No push. */
FAASM_IMPORT(__faasm_write_state)
void __faasm_write_state(const char *key, const unsigned char *data, long dataLen);

/* Writes `dataLen` bytes at `offset` of the value (of size `totalLen`), marks them dirty. */
FAASM_IMPORT(__faasm_write_state_offset)
void __faasm_write_state_offset(const char *key, long totalLen, long offset,
                                const unsigned char *data, long dataLen);

/* Copies `dataLen` bytes from `offset` of the value into `buffer`, pulling that chunk if
 * needed. */
FAASM_IMPORT(__faasm_read_state_offset)
void __faasm_read_state_offset(const char *key, long totalLen, long offset,
                               unsigned char *buffer, long dataLen);

/* Maps only the pages holding `[offset, offset + len)` and returns the address of `offset`. */
FAASM_IMPORT(__faasm_read_state_offset_ptr)
unsigned char *__faasm_read_state_offset_ptr(const char *key, long totalLen, long offset,
                                             long len);

/* Loads the file at `filePath` (seen as the function's WASI file system sees it) into the
 * value; returns its length. */
FAASM_IMPORT(__faasm_write_state_from_file)
unsigned int __faasm_write_state_from_file(const char *key, const char *filePath);

/* Marks the whole value, or `len` bytes from `offset`, dirty (after writes through a pointer). */
FAASM_IMPORT(__faasm_flag_state_dirty)
void __faasm_flag_state_dirty(const char *key, long totalLen);
FAASM_IMPORT(__faasm_flag_state_offset_dirty)
void __faasm_flag_state_offset_dirty(const char *key, long totalLen, long offset, long len);

/* If the value is dirty, sends all of it to the global tier. */
FAASM_IMPORT(__faasm_push_state)
void __faasm_push_state(const char *key);

/* Sends only the dirty chunks, then refreshes the host's copy from the global tier. */
FAASM_IMPORT(__faasm_push_state_partial)
void __faasm_push_state_partial(const char *key);

/* As `__faasm_push_state_partial`, sending the bytes where the value `maskKey` (same size) is
 * non-zero. */
FAASM_IMPORT(__faasm_push_state_partial_mask)
void __faasm_push_state_partial_mask(const char *key, const char *maskKey);

/* Replaces the host's copy with the global tier's (unpushed changes are lost). */
FAASM_IMPORT(__faasm_pull_state)
void __faasm_pull_state(const char *key, long stateLen);

/* Appends `dataLen` bytes as one element of the key's list (in the global tier). */
FAASM_IMPORT(__faasm_append_state)
void __faasm_append_state(const char *key, const unsigned char *data, long dataLen);

/* Copies the first `nElems` elements of the list, concatenated, into `buffer` (which must hold
 * them: `bufferLen` bytes). */
FAASM_IMPORT(__faasm_read_appended_state)
void __faasm_read_appended_state(const char *key, unsigned char *buffer, long bufferLen,
                                 long nElems);

/* Deletes the key's list. */
FAASM_IMPORT(__faasm_clear_appended_state)
void __faasm_clear_appended_state(const char *key);

/* Host-local locks of a key (shared: read; exclusive: write). A call may hold each once, must
 * unlock only what it locked, and gives back what it still holds when it ends. A lock not
 * acquired within the host's lock timeout (10 s by default, as for global locks) fails the
 * call: two calls waiting for each other's locks end rather than hang. */
FAASM_IMPORT(__faasm_lock_state_read)
void __faasm_lock_state_read(const char *key);
FAASM_IMPORT(__faasm_unlock_state_read)
void __faasm_unlock_state_read(const char *key);
FAASM_IMPORT(__faasm_lock_state_write)
void __faasm_lock_state_write(const char *key);
FAASM_IMPORT(__faasm_unlock_state_write)
void __faasm_unlock_state_write(const char *key);

/* Locks of a key across hosts (in the global tier): lock, pull, change, push, unlock gives
 * strong consistency between hosts. Read locks are shared by any number of calls on any hosts;
 * a write lock excludes every other holder. Each is a lease: it ends by itself after the host's
 * lock lifetime (30 s by default) if not released. */
FAASM_IMPORT(__faasm_lock_state_global_read)
void __faasm_lock_state_global_read(const char *key);
FAASM_IMPORT(__faasm_unlock_state_global_read)
void __faasm_unlock_state_global_read(const char *key);
FAASM_IMPORT(__faasm_lock_state_global_write)
void __faasm_lock_state_global_write(const char *key);
FAASM_IMPORT(__faasm_unlock_state_global_write)
void __faasm_unlock_state_global_write(const char *key);

/* ---------------------------------------------------------------------------------------- */
/* Memory                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Moves the heap break by `increment` bytes; returns the old break. (wasi-libc's own `sbrk`
 * grows memory itself and is a different symbol: no clash.) */
FAASM_IMPORT(__sbrk)
void *__sbrk(intptr_t increment);

/* Anonymous mappings only: grows memory by `length` rounded up to 64 KiB and returns the
 * address. `off_t` is 64-bit on WASI, as the ABI's `i64` offset.
 *
 * wasi-libc declares the same prototypes in <sys/mman.h> (only with `-D_WASI_EMULATED_MMAN`)
 * and defines them in `libwasi-emulated-mman.a`: the declarations agree, so including both
 * headers is fine in either order, and a module linked with `-lwasi-emulated-mman` uses that
 * emulation instead of these imports. Define FAASM_NO_MMAN to leave these two out. */
#ifndef FAASM_NO_MMAN
FAASM_IMPORT(mmap)
void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);

/* Releases a mapping; memory shrinks only when it is at the top of the heap. Returns 0. */
FAASM_IMPORT(munmap)
int munmap(void *addr, size_t length);
#endif

/* ---------------------------------------------------------------------------------------- */
/* Other                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* The value of the host's configuration flag `key` (NUL-terminated); 0 for unknown flags. */
FAASM_IMPORT(__faasm_conf_flag)
unsigned int __faasm_conf_flag(const char *key);

/* ---------------------------------------------------------------------------------------- */
/* The exported `malloc`                                                                     */
/* ---------------------------------------------------------------------------------------- */

#ifndef FAASM_NO_MALLOC_EXPORT
/* Exported as `malloc` for the host (see the top of this file); not for calling from C. */
__attribute__((weak, used, export_name("malloc"))) void *__faasm_sdk_malloc_export(size_t size) {
    return malloc(size);
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* The whole input of the call in a new buffer, its size in `*len` (when `len` is not NULL).
 * The buffer is NUL-terminated one byte past the input (so text input can be used as a string)
 * and never NULL unless memory ran out, even for an empty input. The caller owns it: `free`. */
static inline unsigned char *faasm_input(size_t *len) {
    long size = __faasm_read_input(NULL, 0);
    if (size < 0)
        size = 0;
    unsigned char *buffer = (unsigned char *)malloc((size_t)size + 1);
    if (buffer == NULL)
        return NULL;
    long got = size > 0 ? __faasm_read_input(buffer, size) : 0;
    if (got < 0)
        got = 0;
    buffer[got] = 0;
    if (len != NULL)
        *len = (size_t)got;
    return buffer;
}

/* The input as a NUL-terminated string (cut at its first NUL byte, if any). The caller owns
 * it: `free`. NULL only if memory ran out. */
static inline char *faasm_input_str(void) {
    return (char *)faasm_input(NULL);
}

/* Sets the call's output to `len` bytes at `data`. */
static inline void faasm_output(const void *data, size_t len) {
    __faasm_write_output((const char *)data, (long)len);
}

/* Sets the call's output to the string `text` (without its NUL). */
static inline void faasm_output_str(const char *text) {
    __faasm_write_output(text, (long)strlen(text));
}

/* Chains function `name` of the same user with the string `input` (without its NUL; NULL is an
 * empty input). Returns the call id. */
static inline unsigned int faasm_chain_str(const char *name, const char *input) {
    size_t len = input != NULL ? strlen(input) : 0;
    return __faasm_chain_name(name, (const unsigned char *)input, (long)len);
}

/* Chains this function at `func` (see `__faasm_chain_ptr`) with the input `arg` written as a
 * decimal integer, which is what an `int f(int)` entry receives. Returns the call id. */
static inline unsigned int faasm_chain_ptr_int(int (*func)(), int arg) {
    char text[16];
    int i = (int)sizeof text;
    unsigned int magnitude = arg < 0 ? 0u - (unsigned int)arg : (unsigned int)arg;
    do {
        text[--i] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (arg < 0)
        text[--i] = '-';
    return __faasm_chain_ptr(func, (const unsigned char *)text + i, (long)sizeof text - i);
}

/* Awaits each of the `n` calls in `ids`; returns how many failed (0: all succeeded). */
static inline int faasm_await_all(const unsigned int *ids, size_t n) {
    int failures = 0;
    for (size_t i = 0; i < n; i++)
        if (__faasm_await_call(ids[i]) != 0)
            failures++;
    return failures;
}

/* Awaits call `id` and returns its output in a buffer NUL-terminated one byte past the output,
 * its length in `*len` (when not NULL), and the call's result in `*result` (when not NULL; 0
 * is success). Returns NULL when the call failed (its output, if any, is dropped) or memory ran
 * out. The caller owns the buffer: `free`. */
static inline unsigned char *faasm_await_output(unsigned int id, size_t *len, int *result) {
    unsigned char *output = NULL;
    long output_len = 0;
    int code = __faasm_await_call_output(id, &output, &output_len);
    if (result != NULL)
        *result = code;
    if (code != 0 || output_len < 0) {
        free(output);
        return NULL;
    }
    /* The host's buffer has exactly `output_len` bytes: make room for the NUL. */
    unsigned char *grown = (unsigned char *)realloc(output, (size_t)output_len + 1);
    if (grown == NULL) {
        free(output);
        return NULL;
    }
    grown[output_len] = 0;
    if (len != NULL)
        *len = (size_t)output_len;
    return grown;
}

/* The size of state value `key`, 0 if it exists nowhere. */
static inline size_t faasm_state_size(const char *key) {
    long size = __faasm_read_state(key, NULL, 0);
    return size > 0 ? (size_t)size : 0;
}

/* The whole of state value `key` in a new buffer, its size in `*len` (when not NULL); NULL if
 * the value exists nowhere or memory ran out. The caller owns it: `free`. */
static inline unsigned char *faasm_read_state_copy(const char *key, size_t *len) {
    size_t size = faasm_state_size(key);
    if (size == 0)
        return NULL;
    unsigned char *buffer = (unsigned char *)malloc(size);
    if (buffer == NULL)
        return NULL;
    __faasm_read_state(key, buffer, (long)size);
    if (len != NULL)
        *len = size;
    return buffer;
}

/* Writes the whole value `key` (`len` bytes) and pushes it to the global tier. */
static inline void faasm_write_state_push(const char *key, const void *data, size_t len) {
    __faasm_write_state(key, (const unsigned char *)data, (long)len);
    __faasm_push_state(key);
}

/* The value `key` of `len` bytes mapped into memory, shared with every function on this host
 * (see `__faasm_read_state_ptr`). Call `faasm_flag_state_dirty` after writing through it if the
 * changes are to be pushed. */
static inline void *faasm_state_ptr(const char *key, size_t len) {
    return __faasm_read_state_ptr(key, (long)len);
}

/* Marks the whole value `key` (of `len` bytes) dirty. */
static inline void faasm_flag_state_dirty(const char *key, size_t len) {
    __faasm_flag_state_dirty(key, (long)len);
}

#undef FAASM_IMPORT

#ifdef __cplusplus
}
#endif

#endif /* FAASM_SDK_FAASM_H */
