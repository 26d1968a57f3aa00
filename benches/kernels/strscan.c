/* String scanning: words, lines and naive substring search over 1 MiB of generated text. */
#include "kernel.h"
#include <string.h>

#define LEN (1 << 20)
static char text[LEN + 1];

static uint32_t count_matches(const char *haystack, const char *needle) {
    uint32_t count = 0;
    size_t needle_len = strlen(needle);
    for (const char *at = strchr(haystack, needle[0]); at; at = strchr(at + 1, needle[0]))
        if (strncmp(at, needle, needle_len) == 0) count++;
    return count;
}

KERNEL {
    static const char *words[] = {"lorem ", "ipsum ", "dolor ", "sit ", "amet\n", "faasm ", "wasm "};
    uint32_t state = kernel_seed * 31;
    size_t len = 0;
    while (len + 8 < LEN) {
        const char *word = words[next_random(&state) % 7];
        while (*word) text[len++] = *word++;
    }
    text[len] = 0;
    bench_start();
    uint32_t words_seen = 0, lines = 0;
    for (const char *p = text; *p; p++) {
        words_seen += (*p == ' ' || *p == '\n');
        lines += *p == '\n';
    }
    uint32_t matches = count_matches(text, "faasm wasm") + count_matches(text, "amet\nlorem");
    bench_end();
    return words_seen * 31 + lines * 7 + matches;
}
