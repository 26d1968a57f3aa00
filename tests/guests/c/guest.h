/* Helpers shared by the C WASI test guests: each guest prints one line per thing it checked,
 * and the test compares that text with what it expects. Built with
 * `clang --target=wasm32-wasi -O2 NAME.c -o NAME.wasm` (this header beside it). */
#ifndef FAASM_TEST_GUEST_H
#define FAASM_TEST_GUEST_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

/* The name of an errno value: libc's `errno` and WASI's `__wasi_errno_t` share one numbering. */
static __attribute__((unused)) const char *errno_name(int error) {
    switch (error) {
    case 0: return "success";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case EFAULT: return "EFAULT";
    case EILSEQ: return "EILSEQ";
    case EINVAL: return "EINVAL";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOENT: return "ENOENT";
    case ENOMEM: return "ENOMEM";
    case ENOSYS: return "ENOSYS";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTSUP: return "ENOTSUP";
    case EOVERFLOW: return "EOVERFLOW";
    case EPERM: return "EPERM";
    case ESPIPE: return "ESPIPE";
    case EXDEV: return "EXDEV";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    default: {
        static char text[32];
        snprintf(text, sizeof text, "errno %d", error);
        return text;
    }
    }
}

/* Prints `label: ok` when `result` is not negative, else `label: error NAME` (from errno). */
static __attribute__((unused)) int report(const char *label, int result) {
    if (result >= 0)
        printf("%s: ok\n", label);
    else
        printf("%s: error %s\n", label, errno_name(errno));
    return result;
}

/* How a sandbox says no to a path that leaves it: EPERM (Wasmtime), ENOTCAPABLE (WASI's own),
 * EACCES, or EXDEV (Linux's openat2 with RESOLVE_BENEATH). */
static __attribute__((unused)) int is_refusal(int error) {
    return error == EPERM || error == ENOTCAPABLE || error == EACCES || error == EXDEV;
}

/* For an operation that must not escape: `label: refused`, `label: LEAKED` when it succeeded, or
 * `label: failed with NAME`. `error` is the operation's errno (0 when it succeeded). */
static __attribute__((unused)) void expect_refused(const char *label, int error) {
    if (error == 0) {
        printf("%s: LEAKED\n", label);
        return;
    }
    fprintf(stderr, "%s: %s\n", label, errno_name(error));
    if (is_refusal(error))
        printf("%s: refused\n", label);
    else
        printf("%s: failed with %s\n", label, errno_name(error));
}

/* The errno of a libc call that returns a negative number (or NULL, given as -1) on failure. */
static __attribute__((unused)) int errno_of(long result) { return result < 0 ? errno : 0; }

/* FNV-1a, 64 bits: a checksum both the guest and the test can compute. */
static __attribute__((unused)) uint64_t fnv1a(const void *data, size_t len) {
    const unsigned char *bytes = data;
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
    return hash;
}

/* The file descriptor of the pre-opened directory named `name`, or -1. */
static __attribute__((unused)) int preopen_fd(const char *name) {
    for (__wasi_fd_t fd = 3; fd < 64; fd++) {
        __wasi_prestat_t prestat;
        if (__wasi_fd_prestat_get(fd, &prestat) != 0)
            break;
        char path[256] = {0};
        size_t len = prestat.u.dir.pr_name_len;
        if (len >= sizeof path || __wasi_fd_prestat_dir_name(fd, (uint8_t *)path, len) != 0)
            continue;
        if (strcmp(path, name) == 0)
            return (int)fd;
    }
    return -1;
}

#endif
