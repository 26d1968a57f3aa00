/* Escape attempts from the pre-opened directory argv[1], through libc and through raw WASI calls
 * on the pre-opened descriptor, which must all be refused, beside the uses of `..` and links that
 * stay inside, which must work.
 *
 * The test lays out, beside the pre-opened `sandbox/`, an `outside/secret.txt`; inside it,
 * `sub/ok.txt` and the links `link_in -> sub`, `link_out -> ../outside`, `link_abs -> /.../outside`
 * (absolute), `link_file_out -> ../outside/secret.txt` and `link_up -> ..`. */
#include "guest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

static const char *in(const char *name) {
    static char buf[4][512];
    static int next;
    char *path = buf[next++ % 4];
    snprintf(path, sizeof buf[0], "%s/%s", dir, name);
    return path;
}

/* The errno of opening `path` through libc (0 if it opened). */
static int open_error(const char *path, int flags) {
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static void inside(void) {
    const char *paths[] = {"sub/ok.txt", "sub/../sub/ok.txt", "link_in/ok.txt", "./sub/./ok.txt"};
    for (int i = 0; i < 4; i++) {
        char label[64];
        snprintf(label, sizeof label, "open %s", paths[i]);
        int fd = report(label, open(in(paths[i]), O_RDONLY));
        if (fd >= 0)
            close(fd);
    }
    struct stat st;
    report("lstat link_out", lstat(in("link_out"), &st));
    printf("link_out is a symlink: %d\n", S_ISLNK(st.st_mode));
    char target[64] = {0};
    printf("readlink link_out: %zd %s\n", readlink(in("link_out"), target, sizeof target - 1), target);
}

static void through_libc(void) {
    struct stat st;
    expect_refused("open ../outside/secret.txt", open_error(in("../outside/secret.txt"), O_RDONLY));
    expect_refused("open sub/../../outside/secret.txt", open_error(in("sub/../../outside/secret.txt"), O_RDONLY));
    expect_refused("open link_out/secret.txt", open_error(in("link_out/secret.txt"), O_RDONLY));
    expect_refused("open link_abs/secret.txt", open_error(in("link_abs/secret.txt"), O_RDONLY));
    expect_refused("open link_file_out", open_error(in("link_file_out"), O_RDONLY));
    expect_refused("open link_up", open_error(in("link_up"), O_RDONLY | O_DIRECTORY));
    expect_refused("stat link_file_out", errno_of(stat(in("link_file_out"), &st)));
    expect_refused("create ../outside/new.txt", open_error(in("../outside/new.txt"), O_WRONLY | O_CREAT));
    expect_refused("create link_out/new.txt", open_error(in("link_out/new.txt"), O_WRONLY | O_CREAT));
    expect_refused("mkdir ../outside/newdir", errno_of(mkdir(in("../outside/newdir"), 0755)));
    expect_refused("unlink link_out/secret.txt", errno_of(unlink(in("link_out/secret.txt"))));
    expect_refused("rename sub/ok.txt to ../outside/stolen.txt", errno_of(rename(in("sub/ok.txt"), in("../outside/stolen.txt"))));
    expect_refused("link ../outside/secret.txt as hard.txt", errno_of(link(in("../outside/secret.txt"), in("hard.txt"))));
}

/* Symbolic links the guest makes itself: making one may be refused; following it must be. */
static void own_symlinks(void) {
    const char *targets[][2] = {{"../outside", "evil"}, {"/etc", "evil_abs"}, {"..", "evil_up"}};
    for (int i = 0; i < 3; i++) {
        char label[96];
        snprintf(label, sizeof label, "symlink %s -> %s, then open through it", targets[i][1], targets[i][0]);
        if (symlink(targets[i][0], in(targets[i][1])) != 0) {
            expect_refused(label, errno);
            continue;
        }
        const char *through = i == 1 ? "evil_abs/passwd" : i == 0 ? "evil/secret.txt" : "evil_up/outside/secret.txt";
        expect_refused(label, open_error(in(through), O_RDONLY));
        unlink(in(targets[i][1]));
    }
}

static int raw_open(int fd, __wasi_lookupflags_t lookup, const char *path, __wasi_oflags_t oflags) {
    __wasi_fd_t opened;
    __wasi_errno_t error = __wasi_path_open(fd, lookup, path, oflags, __WASI_RIGHTS_FD_READ, 0, 0, &opened);
    if (error == 0)
        (void)__wasi_fd_close(opened);
    return error;
}

/* The host's own checks, without libc's path resolution in front of them. */
static void raw_wasi(int fd) {
    const __wasi_lookupflags_t follow = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;
    __wasi_filestat_t st;
    expect_refused("raw path_open ../outside/secret.txt", raw_open(fd, follow, "../outside/secret.txt", 0));
    expect_refused("raw path_open /etc/passwd", raw_open(fd, follow, "/etc/passwd", 0));
    expect_refused("raw path_open sub/../..", raw_open(fd, follow, "sub/../..", __WASI_OFLAGS_DIRECTORY));
    expect_refused("raw path_open link_out/secret.txt", raw_open(fd, follow, "link_out/secret.txt", 0));
    expect_refused("raw path_open link_abs/secret.txt", raw_open(fd, follow, "link_abs/secret.txt", 0));
    expect_refused("raw path_open link_file_out", raw_open(fd, follow, "link_file_out", 0));
    expect_refused("raw path_filestat_get ..", __wasi_path_filestat_get(fd, follow, "..", &st));
    expect_refused("raw path_filestat_get /", __wasi_path_filestat_get(fd, follow, "/", &st));
    expect_refused("raw path_create_directory ../outside/d", __wasi_path_create_directory(fd, "../outside/d"));
    expect_refused("raw path_unlink_file /tmp/x", __wasi_path_unlink_file(fd, "/tmp/x"));
    printf("raw path_open sub/ok.txt: %s\n", errno_name(raw_open(fd, follow, "sub/ok.txt", 0)));
    printf("raw path_open link_in/ok.txt: %s\n", errno_name(raw_open(fd, follow, "link_in/ok.txt", 0)));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: escape DIR\n");
        return 2;
    }
    dir = argv[1];
    int fd = preopen_fd(dir);
    printf("pre-opened %s: %s\n", dir, fd >= 0 ? "found" : "missing");
    inside();
    through_libc();
    own_symlinks();
    raw_wasi(fd);
    printf("escape: done\n");
    return 0;
}
