/* The less common file-system calls, in the pre-opened directory argv[1]: many directory entries
 * (fd_readdir's cookies), hard and symbolic links inside, readlink into a short buffer, file
 * times, O_APPEND set late (fd_fdstat_set_flags), fd_renumber, sparse files past 4 GiB, many
 * open descriptors, renames that replace, long names, poll_oneoff on descriptors, and sockets
 * (which WASI preview1 programs cannot open: their calls fail on other descriptors). */
#include "guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

static const char *in(const char *name) {
    static char buf[4][1024];
    static int next;
    char *path = buf[next++ % 4];
    snprintf(path, sizeof buf[0], "%s/%s", dir, name);
    return path;
}

static void write_file(const char *name, const char *text) {
    int fd = open(in(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) < 0)
        printf("writing %s: error %s\n", name, errno_name(errno));
}

static void many_entries(void) {
    mkdir(in("many"), 0755);
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "many/file-with-a-longish-name-%03d", i);
        write_file(name, "x");
    }
    DIR *d = opendir(in("many"));
    int count = 0, seen[300] = {0}, dots = 0;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        int index;
        if (sscanf(entry->d_name, "file-with-a-longish-name-%d", &index) == 1 && index >= 0 && index < 300)
            count += !seen[index]++;
        else
            dots += !strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..");
    }
    closedir(d);
    printf("readdir many: %d distinct files of 300, %d dot entries\n", count, dots);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "many/file-with-a-longish-name-%03d", i);
        unlink(in(name));
    }
    report("rmdir many", rmdir(in("many")));
}

static void links(void) {
    write_file("orig.txt", "original\n");
    report("link orig.txt hard.txt", link(in("orig.txt"), in("hard.txt")));
    struct stat st;
    stat(in("orig.txt"), &st);
    printf("orig.txt nlink %d\n", (int)st.st_nlink);
    write_file("hard.txt", "changed\n");
    char text[32] = {0};
    int fd = open(in("orig.txt"), O_RDONLY);
    printf("orig.txt through the hard link: %zd %s", read(fd, text, sizeof text - 1), text);
    close(fd);
    report("symlink orig.txt as soft.txt", symlink("orig.txt", in("soft.txt")));
    char target[4] = {0};
    printf("readlink soft.txt into 4 bytes: %zd %.4s\n", readlink(in("soft.txt"), target, sizeof target), target);
    report("lstat soft.txt", lstat(in("soft.txt"), &st));
    printf("soft.txt is a link %d, size %lld\n", S_ISLNK(st.st_mode), (long long)st.st_size);
    report("readlink of a file", (int)readlink(in("orig.txt"), target, sizeof target));
    report("symlink over an existing name", symlink("x", in("orig.txt")));
    unlink(in("soft.txt"));
    unlink(in("hard.txt"));
    unlink(in("orig.txt"));
}

static void times(void) {
    write_file("t.txt", "t");
    struct timespec both[2] = {{1234567890, 500000000}, {1000000000, 250000000}};
    report("utimensat t.txt", utimensat(AT_FDCWD, in("t.txt"), both, 0));
    struct stat st;
    stat(in("t.txt"), &st);
    printf("t.txt atime %lld.%09ld mtime %lld.%09ld\n", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    int fd = open(in("t.txt"), O_RDWR);
    struct timespec mtime_only[2] = {{0, UTIME_OMIT}, {1500000000, 0}};
    report("futimens t.txt", futimens(fd, mtime_only));
    fstat(fd, &st);
    printf("t.txt atime %lld mtime %lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
    close(fd);
    unlink(in("t.txt"));
}

static void flags_and_renumber(void) {
    write_file("f.txt", "0123456789");
    int fd = open(in("f.txt"), O_RDWR);
    report("fcntl F_SETFL O_APPEND", fcntl(fd, F_SETFL, O_APPEND));
    printf("fcntl F_GETFL has O_APPEND: %d\n", (fcntl(fd, F_GETFL) & O_APPEND) != 0);
    lseek(fd, 0, SEEK_SET);
    write(fd, "END", 3);
    printf("after an O_APPEND write at 0: offset %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    int other = open(in("f.txt"), O_RDONLY);
    printf("fd_renumber: %s\n", errno_name(__wasi_fd_renumber(fd, other)));
    char text[32] = {0};
    printf("read through the renumbered descriptor: %zd %s\n", pread(other, text, sizeof text - 1, 0), text);
    printf("the old number is closed: %s\n", errno_name(__wasi_fd_renumber(fd, other)));
    report("posix_fadvise", -posix_fadvise(other, 0, 0, POSIX_FADV_SEQUENTIAL));
    report("fdatasync of a read-only descriptor", fdatasync(other));
    close(other);
    unlink(in("f.txt"));
}

static void sparse_and_truncate(void) {
    int fd = open(in("sparse.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    long long far = 5LL << 30;
    printf("pwrite at 5 GiB: %zd\n", pwrite(fd, "Z", 1, far));
    struct stat st;
    fstat(fd, &st);
    printf("size %lld\n", (long long)st.st_size);
    char byte = 0, zero = 1;
    pread(fd, &byte, 1, far);
    pread(fd, &zero, 1, 1LL << 32);
    printf("pread at 5 GiB: %c, at 4 GiB: %d\n", byte, zero);
    printf("lseek SEEK_END: %lld\n", (long long)lseek(fd, 0, SEEK_END));
    report("ftruncate to 3", ftruncate(fd, 3));
    fstat(fd, &st);
    printf("size after ftruncate %lld\n", (long long)st.st_size);
    close(fd);
    fd = open(in("sparse.bin"), O_WRONLY | O_TRUNC);
    fstat(fd, &st);
    printf("size after O_TRUNC %lld\n", (long long)st.st_size);
    close(fd);
    unlink(in("sparse.bin"));
}

static void many_descriptors(void) {
    write_file("shared.txt", "shared");
    int fds[200], opened = 0;
    for (int i = 0; i < 200; i++)
        if ((fds[i] = open(in("shared.txt"), O_RDONLY)) >= 0)
            opened++;
    int distinct = 1;
    for (int i = 1; i < 200; i++)
        distinct &= fds[i] != fds[i - 1];
    int closed = 0;
    for (int i = 0; i < 200; i++)
        closed += close(fds[i]) == 0;
    printf("200 descriptors: opened %d, distinct %d, closed %d\n", opened, distinct, closed);
    unlink(in("shared.txt"));
}

static void renames_and_names(void) {
    write_file("r1.txt", "one");
    write_file("r2.txt", "two");
    report("rename r1.txt over r2.txt", rename(in("r1.txt"), in("r2.txt")));
    char text[8] = {0};
    int fd = open(in("r2.txt"), O_RDONLY);
    read(fd, text, sizeof text - 1);
    close(fd);
    printf("r2.txt now: %s\n", text);
    mkdir(in("d1"), 0755);
    mkdir(in("d2"), 0755);
    write_file("d2/x", "x");
    report("rename d1 over a non-empty d2", rename(in("d1"), in("d2")));
    report("rename d1 into itself", rename(in("d1"), in("d1/inner")));
    report("mkdir d1 again", mkdir(in("d1"), 0755));
    unlink(in("d2/x"));
    rmdir(in("d2"));
    rmdir(in("d1"));
    unlink(in("r2.txt"));
    char name[300];
    memset(name, 'n', sizeof name);
    name[255] = '\0';
    int fd255 = open(in(name), O_WRONLY | O_CREAT, 0644);
    report("create a 255-byte name", fd255);
    close(fd255);
    unlink(in(name));
    name[255] = 'n';
    name[256] = '\0';
    report("create a 256-byte name", open(in(name), O_WRONLY | O_CREAT, 0644));
}

/* stdin (a pipe holding data) is readable and stdout writable at once; a clock bounds it. */
static void poll_descriptors(void) {
    __wasi_subscription_t subs[3] = {0};
    subs[0].userdata = 1, subs[0].u.tag = __WASI_EVENTTYPE_FD_READ, subs[0].u.u.fd_read.file_descriptor = 0;
    subs[1].userdata = 2, subs[1].u.tag = __WASI_EVENTTYPE_FD_WRITE, subs[1].u.u.fd_write.file_descriptor = 1;
    subs[2].userdata = 3, subs[2].u.tag = __WASI_EVENTTYPE_CLOCK;
    subs[2].u.u.clock.id = __WASI_CLOCKID_MONOTONIC, subs[2].u.u.clock.timeout = 5000000000ULL;
    __wasi_event_t events[3];
    __wasi_size_t count = 0;
    __wasi_errno_t error = __wasi_poll_oneoff(subs, events, 3, &count);
    int read_ready = 0, write_ready = 0, clock = 0;
    for (__wasi_size_t i = 0; i < count; i++) {
        read_ready |= events[i].userdata == 1 && events[i].error == 0;
        write_ready |= events[i].userdata == 2 && events[i].error == 0;
        clock |= events[i].userdata == 3;
    }
    printf("poll_oneoff stdin/stdout/5 s: %s, stdin ready %d, stdout ready %d, clock fired %d\n",
           errno_name(error), read_ready, write_ready, clock);
    printf("poll_oneoff with no subscriptions: %s\n", errno_name(__wasi_poll_oneoff(subs, events, 0, &count)));
}

/* POSIX says ENOTSOCK for a descriptor that is not a socket (Wasmtime's answer); a runtime
 * without sockets may say ENOTSUP or ENOSYS instead. */
static const char *socket_refusal(__wasi_errno_t error) {
    return error == ENOTSOCK || error == ENOTSUP || error == ENOSYS ? "refused" : errno_name(error);
}

static void sockets(void) {
    printf("sock_shutdown on stdout: %s\n", socket_refusal(__wasi_sock_shutdown(1, __WASI_SDFLAGS_WR)));
    __wasi_fd_t accepted;
    printf("sock_accept on the directory: %s\n", socket_refusal(__wasi_sock_accept(preopen_fd(dir), 0, &accepted)));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fs_more DIR\n");
        return 2;
    }
    dir = argv[1];
    many_entries();
    links();
    times();
    flags_and_renumber();
    sparse_and_truncate();
    many_descriptors();
    renames_and_names();
    poll_descriptors();
    sockets();
    printf("fs_more: done\n");
    return 0;
}
