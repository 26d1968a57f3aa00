/* A directory descriptor outlives a rename, and a symbolic link is moved to where it points out
 * of the sandbox. Run with the sandbox pre-opened as argv[1]; beside the sandbox, the host has
 * `x/secret.txt` (so `argv[1]/../x/secret.txt`), which nothing here may read, name or change.
 *
 * The steps: mkdir a, mkdir d, symlink ../x as a/l (from a/ it points inside), open d as a
 * directory, rename d to d2, rename a/l to d (now it points out). The old descriptor must still
 * be the directory it was opened on (now d2, empty), and every path through the moved link must
 * be refused. Then links are moved around some more. */
#include "guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
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

static void must(const char *label, int result) {
    if (report(label, result) < 0)
        exit(1);
}

/* The names in the directory `fd` stands for (a duplicate of it is read), in one line. */
static void list(const char *label, int fd) {
    int copy = openat(fd, ".", O_RDONLY | O_DIRECTORY);
    DIR *d = copy >= 0 ? fdopendir(copy) : NULL;
    if (!d) {
        printf("%s: error %s\n", label, errno_name(errno));
        return;
    }
    char names[512] = "";
    int secret_seen = 0;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (strstr(entry->d_name, "secret"))
            secret_seen = 1;
        strncat(names, " ", sizeof names - strlen(names) - 1);
        strncat(names, entry->d_name, sizeof names - strlen(names) - 1);
    }
    closedir(d);
    printf("%s:%s%s\n", label, names, secret_seen ? " SECRET-SEEN" : "");
}

/* Every path call through the stale descriptor `fd`: none may reach `x/`. */
static void through_stale(int fd) {
    struct stat st;
    char buf[64];
    list("list through the old descriptor", fd);
    report("fstatat secret.txt", fstatat(fd, "secret.txt", &st, 0));
    int opened = openat(fd, "secret.txt", O_RDONLY);
    if (report("openat secret.txt", opened) >= 0) {
        ssize_t n = read(opened, buf, sizeof buf - 1);
        printf("read %zd bytes: LEAKED\n", n);
        close(opened);
    }
    report("readlinkat secret.txt", (int)readlinkat(fd, "secret.txt", buf, sizeof buf));
    report("linkat secret.txt to hard", linkat(fd, "secret.txt", fd, "hard", 0));
    report("renameat secret.txt to moved", renameat(fd, "secret.txt", fd, "moved"));
    report("unlinkat secret.txt", unlinkat(fd, "secret.txt", 0));
    report("mkdirat made", mkdirat(fd, "made", 0755));
    report("renameat made to made2", renameat(fd, "made", fd, "made2"));
    report("symlinkat ../.. as up", symlinkat("../..", fd, "up"));
    report("openat up/x/secret.txt", openat(fd, "up/x/secret.txt", O_RDONLY));
    report("unlinkat up", unlinkat(fd, "up", 0));
    list("list again", fd);
}

/* Every path call through the moved link `d` (which now leads to ../x): all refused. */
static void through_moved_link(void) {
    struct stat st;
    expect_refused("open d/secret.txt", errno_of(open(in("d/secret.txt"), O_RDONLY)));
    expect_refused("opendir d", errno_of(open(in("d"), O_RDONLY | O_DIRECTORY)));
    expect_refused("stat d/secret.txt", errno_of(stat(in("d/secret.txt"), &st)));
    expect_refused("unlink d/secret.txt", errno_of(unlink(in("d/secret.txt"))));
    expect_refused("mkdir d/new", errno_of(mkdir(in("d/new"), 0755)));
    expect_refused("rename d/secret.txt to stolen", errno_of(rename(in("d/secret.txt"), in("stolen"))));
    expect_refused("rename a to d/a", errno_of(rename(in("a"), in("d/a"))));
    expect_refused("link d/secret.txt as hard", errno_of(link(in("d/secret.txt"), in("hard"))));
    expect_refused("create d/new.txt", errno_of(open(in("d/new.txt"), O_WRONLY | O_CREAT, 0644)));
    char target[64] = {0};
    printf("readlink d: %zd %s\n", readlink(in("d"), target, sizeof target - 1), target);
}

/* The link moved again, and directories moved under held descriptors. */
static void moving_links_around(void) {
    struct stat st;
    /* Back under a/ it points at the sandbox's own x, which does not exist. */
    must("rename d to a/l", rename(in("d"), in("a/l")));
    report("stat a/l/secret.txt", stat(in("a/l/secret.txt"), &st));
    /* A descriptor on a/, then a/ moved one level down: its l now points at deep/x. */
    int a = open(in("a"), O_RDONLY | O_DIRECTORY);
    must("open a", a);
    must("mkdir deep", mkdir(in("deep"), 0755));
    must("rename a to deep/a", rename(in("a"), in("deep/a")));
    report("fstatat l/secret.txt through a", fstatat(a, "l/secret.txt", &st, 0));
    /* Now a/ moved back to the top, under a descriptor on deep/ (and its l points out again). */
    int deep = open(in("deep"), O_RDONLY | O_DIRECTORY);
    must("open deep", deep);
    must("rename deep/a to a", rename(in("deep/a"), in("a")));
    must("rename a/l to l", rename(in("a/l"), in("l")));
    expect_refused("open l/secret.txt", errno_of(open(in("l/secret.txt"), O_RDONLY)));
    expect_refused("fstatat ../l/secret.txt through deep", errno_of(fstatat(deep, "../l/secret.txt", &st, 0)));
    expect_refused("openat ../../x/secret.txt through a", errno_of(openat(a, "../../x/secret.txt", O_RDONLY)));
    /* A link to the sandbox's parent, made from a/, then moved to the top: ../.. from a/ is out. */
    report("symlinkat .. as a/up", symlinkat("..", a, "up"));
    expect_refused("open a/up/../x/secret.txt", errno_of(open(in("a/up/../x/secret.txt"), O_RDONLY)));
    must("rename a/up to up", rename(in("a/up"), in("up")));
    expect_refused("open up/x/secret.txt", errno_of(open(in("up/x/secret.txt"), O_RDONLY)));
    expect_refused("unlink up/x/secret.txt", errno_of(unlink(in("up/x/secret.txt"))));
    close(a);
    close(deep);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: stale_dir DIR\n");
        return 2;
    }
    dir = argv[1];
    must("mkdir a", mkdir(in("a"), 0755));
    must("mkdir d", mkdir(in("d"), 0755));
    must("symlink ../x as a/l", symlink("../x", in("a/l")));
    int fd = open(in("d"), O_RDONLY | O_DIRECTORY);
    must("open d", fd);
    must("rename d to d2", rename(in("d"), in("d2")));
    must("rename a/l to d", rename(in("a/l"), in("d")));
    through_stale(fd);
    through_moved_link();
    close(fd);
    moving_links_around();
    printf("stale_dir: done\n");
    return 0;
}
