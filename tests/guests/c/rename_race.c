/* Calls of one function racing in one sandbox: a mover renames directories and moves symbolic
 * links to where they point out of the sandbox and back, while openers look things up (open,
 * read, stat, list, unlink, link, rename, mkdir) through held directory descriptors and through
 * paths that cross the moving links. Beside the sandbox the host has `secret.txt` and
 * `x/secret.txt`; no lookup may read, name or change them.
 *
 *   rename_race mover DIR ROUNDS OPENERS   waits for OPENERS openers, then moves things ROUNDS
 *                                          times and leaves DIR/done
 *   rename_race opener DIR ID              looks things up until DIR/done exists
 *
 * The sandbox starts with d/inside.txt (holding "inside\n"), a/ and deep/. Every line an
 * opener prints about what it saw starts with LEAK; its last line counts its rounds. */
#include "guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longest an opener or the mover waits for the other side (seconds). */
#define WAIT_SECONDS 30
/* Most rounds an opener makes: it stops earlier when the mover is done. */
#define MAX_OPENER_ROUNDS 1000000

static const char *dir;
static long leaks;

static const char *in(const char *name) {
    static char buf[8][512];
    static int next;
    char *path = buf[next++ % 8];
    snprintf(path, sizeof buf[0], "%s/%s", dir, name);
    return path;
}

static int exists(const char *name) {
    struct stat st;
    return lstat(in(name), &st) == 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the mover ---- */

static long mover_errors;

/* Runs a step the sandbox must allow (everything here stays inside it). */
static void step(const char *label, int result) {
    if (result < 0) {
        mover_errors++;
        fprintf(stderr, "mover: %s: %s\n", label, errno_name(errno));
    }
}

/* One round: links made where they point inside, moved to where they point out, and back. */
static void move_round(void) {
    /* From a/, ../x is the sandbox's own (missing) x and .. the sandbox itself. */
    step("symlink ../x as a/l", symlink("../x", in("a/l")));
    step("symlink .. as a/up", symlink("..", in("a/up")));
    /* From deep/a/, ../../x and ../../secret.txt are inside too. */
    step("rename a to deep/a", rename(in("a"), in("deep/a")));
    step("symlink ../../x as deep/a/ll", symlink("../../x", in("deep/a/ll")));
    step("symlink ../../secret.txt as deep/a/sf", symlink("../../secret.txt", in("deep/a/sf")));
    /* Moved back up, a/ll and a/sf point out of the sandbox. */
    step("rename deep/a to a", rename(in("deep/a"), in("a")));
    /* The sequence: d renamed under the openers' descriptors, a/l moved to d. */
    step("rename d to d2", rename(in("d"), in("d2")));
    step("rename a/l to d", rename(in("a/l"), in("d")));
    step("rename a/up to up", rename(in("a/up"), in("up")));
    /* And back: the links go, d comes back. */
    step("unlink d", unlink(in("d")));
    step("unlink up", unlink(in("up")));
    step("unlink a/ll", unlink(in("a/ll")));
    step("unlink a/sf", unlink(in("a/sf")));
    step("rename d2 to d", rename(in("d2"), in("d")));
}

static int mover(int rounds, int openers) {
    double start = now();
    for (int id = 0; id < openers; id++) {
        char name[32];
        snprintf(name, sizeof name, "ready-%d", id);
        while (!exists(name)) {
            if (now() - start > WAIT_SECONDS) {
                printf("mover: opener %d never started\n", id);
                return 1;
            }
        }
    }
    for (int round = 0; round < rounds; round++)
        move_round();
    int done = open(in("done"), O_WRONLY | O_CREAT, 0644);
    step("create done", done);
    close(done);
    printf("mover: %d rounds, %ld errors\n", rounds, mover_errors);
    return mover_errors != 0;
}

/* ---- the openers ---- */

/* Reports what an opener should never see: data other than d/inside.txt's. */
static void check_read(const char *label, int fd) {
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0)
        return;
    buf[n] = 0;
    if (strcmp(buf, "inside\n") != 0) {
        leaks++;
        printf("LEAK read %s: %s\n", label, buf);
    }
}

/* Opens `path` beneath `at` and reads it. */
static void read_at(const char *label, int at, const char *path) {
    int fd = openat(at, path, O_RDONLY);
    if (fd >= 0) {
        check_read(label, fd);
        close(fd);
    }
}

/* Names that exist only outside the sandbox. */
static int outside_name(const char *name) {
    return strstr(name, "secret") || strcmp(name, "x") == 0 || strcmp(name, "sb") == 0;
}

/* Lists the directory `path` beneath `at`. */
static void list_at(const char *label, int at, const char *path) {
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(d))) {
        if (outside_name(entry->d_name)) {
            leaks++;
            printf("LEAK listing %s: %s\n", label, entry->d_name);
        }
    }
    closedir(d);
}

/* Every lookup through `at` of `prefix`secret.txt (`prefix` empty, or ending in `/`). */
static void lookups_at(const char *label, int at, const char *prefix) {
    char path[256], other[256];
    struct stat st;
    snprintf(path, sizeof path, "%ssecret.txt", prefix);
    read_at(label, at, path);
    /* Nothing named secret.txt is ever inside the sandbox. */
    if (fstatat(at, path, &st, 0) == 0) {
        leaks++;
        printf("LEAK stat %s%s: %lld bytes\n", label, path, (long long)st.st_size);
    }
    list_at(label, at, prefix[0] ? prefix : ".");
    /* Things that would change the outside: each must fail (or act inside). */
    snprintf(other, sizeof other, "%shard", prefix);
    if (linkat(at, path, at, other, 0) == 0)
        unlinkat(at, other, 0);
    snprintf(other, sizeof other, "%splanted", prefix);
    if (mkdirat(at, other, 0755) == 0)
        unlinkat(at, other, AT_REMOVEDIR);
    unlinkat(at, path, 0);
    int fd = openat(at, path, O_WRONLY | O_TRUNC);
    if (fd >= 0)
        close(fd);
}

static int opener(int id) {
    char name[32];
    snprintf(name, sizeof name, "ready-%d", id);
    int ready = open(in(name), O_WRONLY | O_CREAT, 0644);
    if (report("create ready", ready) < 0)
        return 1;
    close(ready);
    int root = open(dir, O_RDONLY | O_DIRECTORY);
    if (report("open the sandbox", root) < 0)
        return 1;
    /* Descriptors held across rounds (reopened now and then): on d, and on a. */
    int held_d = -1, held_a = -1;
    long rounds = 0;
    double start = now();
    do {
        if (rounds % 8 == 0) {
            if (held_d >= 0)
                close(held_d);
            if (held_a >= 0)
                close(held_a);
            held_d = open(in("d"), O_RDONLY | O_DIRECTORY);
            held_a = open(in("a"), O_RDONLY | O_DIRECTORY);
        }
        if (held_d >= 0) {
            lookups_at("through the held d: ", held_d, "");
            lookups_at("through the held d: ", held_d, "../x/");
            lookups_at("through the held d: ", held_d, "../up/x/");
        }
        if (held_a >= 0) {
            lookups_at("through the held a: ", held_a, "ll/");
            lookups_at("through the held a: ", held_a, "up/x/");
            read_at("through the held a: sf", held_a, "sf");
        }
        lookups_at("through the sandbox: ", root, "d/");
        lookups_at("through the sandbox: ", root, "up/");
        lookups_at("through the sandbox: ", root, "up/x/");
        lookups_at("through the sandbox: ", root, "a/ll/");
        read_at("through the sandbox: a/sf", root, "a/sf");
        read_at("through the sandbox: d/inside.txt", root, "d/inside.txt");
        rounds++;
    } while (!exists("done") && rounds < MAX_OPENER_ROUNDS && now() - start < WAIT_SECONDS);
    printf("opener %d: %ld rounds, %ld leaks, %s\n", id, rounds, leaks,
           exists("done") ? "the mover finished" : "the mover did not finish");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "mover") == 0) {
        dir = argv[2];
        return mover(atoi(argv[3]), atoi(argv[4]));
    }
    if (argc == 4 && strcmp(argv[1], "opener") == 0) {
        dir = argv[2];
        return opener(atoi(argv[3]));
    }
    fprintf(stderr, "usage: rename_race mover DIR ROUNDS OPENERS | opener DIR ID\n");
    return 2;
}
