/* Bad arguments to raw WASI calls, one case per run (argv[1] names it): pointers past the end of
 * linear memory, lengths that wrap around 4 GiB, invalid enum values, bad descriptors. Each
 * must give an errno (printed as `CASE: NAME`) or trap; never a host read or write outside the
 * guest's memory. `list` prints the names of the cases. */
#include "guest.h"

#include <stdlib.h>

/* The raw imports, so any 32-bit address can be passed. */
#define WASI_IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
WASI_IMPORT(fd_write) int32_t raw_fd_write(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nwritten);
WASI_IMPORT(fd_read) int32_t raw_fd_read(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread);
WASI_IMPORT(random_get) int32_t raw_random_get(int32_t buf, int32_t len);
WASI_IMPORT(args_get) int32_t raw_args_get(int32_t argv, int32_t argv_buf);
WASI_IMPORT(path_open) int32_t raw_path_open(int32_t fd, int32_t dirflags, int32_t path, int32_t path_len,
                                             int32_t oflags, int64_t rights, int64_t inheriting, int32_t fdflags,
                                             int32_t opened);
WASI_IMPORT(clock_time_get) int32_t raw_clock_time_get(int32_t id, int64_t precision, int32_t time);
WASI_IMPORT(fd_seek) int32_t raw_fd_seek(int32_t fd, int64_t offset, int32_t whence, int32_t newoffset);

/* The first address past linear memory. */
static uint32_t memory_end(void) { return (uint32_t)__builtin_wasm_memory_size(0) * 65536u; }

static int32_t addr(const void *pointer) { return (int32_t)(uintptr_t)pointer; }

static uint32_t iov[2], written;
static char message[] = "must not be written\n";
static char path[] = "input.txt";

static int32_t iovec_past_end(void) { return raw_fd_write(1, (int32_t)(memory_end() - 4), 1, addr(&written)); }

static int32_t buffer_past_end(void) {
    iov[0] = memory_end() - 10, iov[1] = 100;
    return raw_fd_write(1, addr(iov), 1, addr(&written));
}

static int32_t buffer_wraps(void) {
    iov[0] = 0xfffffff0u, iov[1] = 0x20;
    return raw_fd_write(1, addr(iov), 1, addr(&written));
}

static int32_t iovec_count_wraps(void) { return raw_fd_write(1, addr(iov), 0x20000000, addr(&written)); }

static int32_t result_past_end(void) {
    iov[0] = (uint32_t)addr(message), iov[1] = 0;
    return raw_fd_write(1, addr(iov), 1, (int32_t)(memory_end() - 2));
}

static int32_t read_into_past_end(void) {
    iov[0] = memory_end() - 1, iov[1] = 16;
    return raw_fd_read(0, addr(iov), 1, addr(&written));
}

static int32_t random_past_end(void) { return raw_random_get((int32_t)(memory_end() - 16), 32); }

static int32_t random_wraps(void) { return raw_random_get(addr(message), -1); }

static int32_t args_past_end(void) { return raw_args_get((int32_t)(memory_end() - 4), (int32_t)(memory_end() - 4)); }

static int32_t path_past_end(void) {
    return raw_path_open(preopen_fd("/data"), 0, (int32_t)(memory_end() - 3), 100, 0, 2, 0, 0, addr(&written));
}

static int32_t path_not_utf8(void) {
    static char bad[] = "\xff\xfe.txt";
    return raw_path_open(preopen_fd("/data"), 0, addr(bad), 6, 0, 2, 0, 0, addr(&written));
}

static int32_t opened_past_end(void) {
    return raw_path_open(preopen_fd("/data"), 0, addr(path), 9, 0, 2, 0, 0, (int32_t)(memory_end() - 1));
}

static int32_t bad_clock(void) { return raw_clock_time_get(99, 1, addr(iov)); }

static int32_t bad_whence(void) { return raw_fd_seek(preopen_fd("/data"), 0, 7, addr(iov)); }

static int32_t bad_fd(void) {
    iov[0] = (uint32_t)addr(message), iov[1] = 4;
    return raw_fd_write(1234, addr(iov), 1, addr(&written));
}

static const struct {
    const char *name;
    int32_t (*run)(void);
} cases[] = {
    {"iovec_past_end", iovec_past_end},   {"buffer_past_end", buffer_past_end},
    {"buffer_wraps", buffer_wraps},       {"iovec_count_wraps", iovec_count_wraps},
    {"result_past_end", result_past_end}, {"read_into_past_end", read_into_past_end},
    {"random_past_end", random_past_end}, {"random_wraps", random_wraps},
    {"args_past_end", args_past_end},     {"path_past_end", path_past_end},
    {"path_not_utf8", path_not_utf8},     {"opened_past_end", opened_past_end},
    {"bad_clock", bad_clock},             {"bad_whence", bad_whence},
    {"bad_fd", bad_fd},
};

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "list";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(name, "list") == 0)
            printf("%s\n", cases[i].name);
        else if (strcmp(name, cases[i].name) == 0) {
            int32_t error = cases[i].run();
            printf("%s: %s\n", name, errno_name(error));
            return 0;
        }
    }
    if (strcmp(name, "list") != 0) {
        fprintf(stderr, "no case named %s\n", name);
        return 2;
    }
    return 0;
}
