/* Linear memory from C: growing it through malloc and memory.grow, touching every page, and the
 * limits: argv[1] says what to do.
 *   grow      malloc 64 MiB, fill and check it; grow until memory.grow fails (the limit)
 *             and report the size in pages
 *   oob       load 16 bytes past the end of memory (a trap)
 *   edge      load the last byte of memory, then the first byte past it (a trap)
 *   divide    integer division by zero (a trap)
 *   recurse   unbounded recursion (a trap: the call stack is exhausted)
 * The traps end the run with faasm-run's trap status. */
#include "guest.h"

#include <stdlib.h>

static uint32_t memory_end(void) { return (uint32_t)__builtin_wasm_memory_size(0) * 65536u; }

static void grow(void) {
    size_t size = 64u << 20;
    unsigned char *block = malloc(size);
    if (!block) {
        printf("malloc 64 MiB: NULL\n");
    } else {
        for (size_t i = 0; i < size; i += 4096)
            block[i] = (unsigned char)(i >> 12);
        size_t bad = 0;
        for (size_t i = 0; i < size; i += 4096)
            bad += block[i] != (unsigned char)(i >> 12);
        printf("malloc 64 MiB: filled, %zu bad pages\n", bad);
        free(block);
    }
    /* 16 MiB at a time, then page by page, up to the exact limit. */
    while (__builtin_wasm_memory_grow(0, 256) != (size_t)-1)
        ;
    while (__builtin_wasm_memory_grow(0, 1) != (size_t)-1)
        ;
    unsigned char *last = (unsigned char *)(uintptr_t)(memory_end() - 1);
    *last = 7;
    printf("memory.grow until it failed: %zu pages, last byte written %d\n",
           __builtin_wasm_memory_size(0), *last);
}

static volatile int sink;

/* Recursion that only a full call stack ends (`limit` is never reached). Nothing of its frame
 * is in linear memory, so it is the runtime's stack limit that stops it, not the shadow stack. */
static __attribute__((noinline)) int recurse(int depth, int limit) {
    if (depth == limit)
        return 0;
    int below = recurse(depth + 1, limit);
    return below + sink + depth;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "grow";
    if (strcmp(what, "grow") == 0) {
        grow();
    } else if (strcmp(what, "oob") == 0) {
        printf("loading past the end\n");
        fflush(stdout);
        volatile unsigned char *past = (unsigned char *)(uintptr_t)(memory_end() + 16);
        printf("loaded %d\n", *past);
    } else if (strcmp(what, "edge") == 0) {
        volatile unsigned char *last = (unsigned char *)(uintptr_t)(memory_end() - 1);
        printf("last byte: %d\n", *last);
        fflush(stdout);
        volatile uint32_t *straddling = (uint32_t *)(uintptr_t)(memory_end() - 2);
        printf("straddling load: %u\n", *straddling);
    } else if (strcmp(what, "divide") == 0) {
        volatile int numerator = 1, zero = 0;
        printf("dividing\n");
        fflush(stdout);
        printf("%d\n", numerator / zero);
    } else if (strcmp(what, "recurse") == 0) {
        printf("recursing\n");
        fflush(stdout);
        printf("%d\n", recurse(0, -1));
    } else {
        fprintf(stderr, "unknown mode %s\n", what);
        return 2;
    }
    return 0;
}
