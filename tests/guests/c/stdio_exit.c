/* Standard streams and exit codes: reads all of stdin with read(0), prints its size, line count
 * and checksum, writes a line to stderr, then ends as argv[1] says: a number is the exit status
 * (`exit(n)`), `return` returns 5 from main, `abort` calls abort(), `trap` executes
 * `unreachable`; without an argument it returns 0. */
#include "guest.h"

#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    size_t cap = 1 << 16, len = 0, lines = 0;
    unsigned char *input = malloc(cap);
    for (;;) {
        if (len == cap)
            input = realloc(input, cap *= 2);
        ssize_t n = read(0, input + len, cap - len);
        if (n < 0) {
            printf("read(0) error %s\n", errno_name(errno));
            return 1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    for (size_t i = 0; i < len; i++)
        lines += input[i] == '\n';
    printf("stdin: %zu bytes, %zu newlines, fnv1a %016llx\n", len, lines, (unsigned long long)fnv1a(input, len));
    fflush(stdout);
    fprintf(stderr, "to stderr: %zu bytes read\n", len);
    const char *how = argc > 1 ? argv[1] : "";
    if (strcmp(how, "return") == 0)
        return 5;
    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "trap") == 0)
        __builtin_trap();
    if (*how)
        exit(atoi(how));
    return 0;
}
