/* Arguments and environment through libc (`args_get`, `environ_get`): prints every argument and
 * every variable, sorted, so the test sees exactly what `faasm-run` passed through. */
#include "guest.h"

#include <stdlib.h>

extern char **environ;

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    printf("argc: %d\n", argc);
    /* The program name is the module's path as the runtime passes it: only its file name counts. */
    const char *slash = strrchr(argv[0], '/');
    printf("arg 0 file name: %s\n", slash ? slash + 1 : argv[0]);
    for (int i = 1; i < argc; i++)
        printf("arg %d: [%s]\n", i, argv[i]);
    int count = 0;
    while (environ[count])
        count++;
    qsort(environ, count, sizeof environ[0], compare_strings);
    printf("env count: %d\n", count);
    for (int i = 0; i < count; i++)
        printf("env [%s]\n", environ[i]);
    printf("getenv(\"B\"): [%s]\n", getenv("B") ? getenv("B") : "(null)");
    printf("getenv(\"FAASM_TEST_MISSING\"): %s\n", getenv("FAASM_TEST_MISSING") ? "set" : "(null)");
    return 0;
}
