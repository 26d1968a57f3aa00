/* A Faasm function over the host's shared files (built against `sdk/c/faasm.h`, run by
 * `tests/server.rs` through `faasm-run serve`). Its input is `read PATH` or `write PATH`:
 *
 * - `read PATH`: the output is the whole of `faasm://PATH`, read with `fopen`/`fread`
 *   (return 1 and the errno's name as output if it cannot be opened);
 * - `write PATH`: tries every way to change `faasm://PATH` or its directory (`fopen` for
 *   writing and appending, `open` with `O_RDWR` then `write`, `O_TRUNC`, `ftruncate`, `unlink`,
 *   `rename`, `mkdir`, creating a new file) and outputs one line per attempt: `what: ok` or
 *   `what: error NAME`. */
#include "guest.h"

#include <faasm.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char out[4096];
static size_t used;

static void say(const char *what, int result) {
    int n = result >= 0 ? snprintf(out + used, sizeof out - used, "%s: ok\n", what)
                        : snprintf(out + used, sizeof out - used, "%s: error %s\n", what,
                                   errno_name(errno));
    if (n > 0 && used + (size_t)n < sizeof out)
        used += (size_t)n;
}

static int read_file(const char *url) {
    FILE *file = fopen(url, "r");
    if (file == NULL) {
        faasm_output_str(errno_name(errno));
        return 1;
    }
    size_t capacity = 1 << 16, size = 0;
    unsigned char *bytes = malloc(capacity);
    size_t got;
    while (bytes != NULL && (got = fread(bytes + size, 1, capacity - size, file)) > 0) {
        size += got;
        if (size == capacity)
            bytes = realloc(bytes, capacity *= 2);
    }
    fclose(file);
    if (bytes == NULL)
        return 2;
    faasm_output(bytes, size);
    free(bytes);
    return 0;
}

static void try_writes(const char *url) {
    FILE *file = fopen(url, "w");
    say("fopen w", file != NULL ? 0 : -1);
    if (file != NULL)
        fclose(file);
    file = fopen(url, "a");
    say("fopen a", file != NULL ? 0 : -1);
    if (file != NULL)
        fclose(file);
    int fd = open(url, O_RDWR);
    say("open rdwr", fd);
    if (fd >= 0) {
        say("write", (int)write(fd, "x", 1));
        say("ftruncate", ftruncate(fd, 0));
        close(fd);
    }
    say("open trunc", open(url, O_RDONLY | O_TRUNC));
    say("unlink", unlink(url));
    char moved[600];
    snprintf(moved, sizeof moved, "%s.moved", url);
    say("rename", rename(url, moved));
    say("mkdir", mkdir("faasm://new-dir", 0755));
    say("create", open("faasm://new-file", O_WRONLY | O_CREAT, 0644));
    faasm_output(out, used);
}

int main(void) {
    char *input = faasm_input_str();
    if (input == NULL)
        return 2;
    char url[600];
    if (strncmp(input, "read ", 5) == 0) {
        snprintf(url, sizeof url, "faasm://%s", input + 5);
        return read_file(url);
    }
    if (strncmp(input, "write ", 6) == 0) {
        snprintf(url, sizeof url, "faasm://%s", input + 6);
        try_writes(url);
        return 0;
    }
    faasm_output_str("input: `read PATH` or `write PATH`");
    return 2;
}
