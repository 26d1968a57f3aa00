/* Proto-Faaslet benchmark: a function whose initialisation fills 16 MiB of heap (a
 * constructor, run by the reactor's `_initialize`); its call does nothing. */

#include <stdlib.h>
#include <string.h>

#define HEAP_BYTES (16u << 20)

static unsigned char *heap;

__attribute__((constructor)) static void fill_heap(void) {
    heap = malloc(HEAP_BYTES);
    if (heap) {
        memset(heap, 0xa5, HEAP_BYTES);
    }
}

/* Does nothing; the byte keeps the heap alive for the optimiser. */
__attribute__((export_name("noop"))) int noop(void) { return heap ? heap[HEAP_BYTES - 1] : -1; }
