/* Files in a pre-opened directory (argv[1]) through libc: stdio and POSIX calls, create, write,
 * read, seek, pread/pwrite, truncate, stat, rename, readdir, unlink, mkdir/rmdir, and the
 * errno of each misuse. The test puts `input.txt` in the directory first and reads
 * `output.txt` afterwards. */
#include "guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char path_buf[4][512];

/* `dir/name` in one of four rotating buffers, so a call can take two paths. */
static const char *in(const char *dir, const char *name) {
    static int next;
    char *buf = path_buf[next++ % 4];
    snprintf(buf, sizeof path_buf[0], "%s/%s", dir, name);
    return buf;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void host_files(const char *dir) {
    char text[128] = {0};
    FILE *input = fopen(in(dir, "input.txt"), "r");
    size_t n = input ? fread(text, 1, sizeof text - 1, input) : 0;
    printf("input.txt: %zu bytes: %s", n, text);
    if (input)
        fclose(input);
    FILE *output = fopen(in(dir, "output.txt"), "w");
    fputs("written by the C guest\n", output);
    printf("output.txt: closed %d\n", fclose(output));
}

static void stdio_seek(const char *dir) {
    const char *path = in(dir, "a.txt");
    FILE *file = fopen(path, "w+");
    fputs("hello world\nsecond line\n", file);
    printf("a.txt: ftell after writing %ld\n", ftell(file));
    fseek(file, 6, SEEK_SET);
    fputs("WORLD", file);
    fseek(file, -5, SEEK_END);
    char tail[16] = {0};
    size_t got = fread(tail, 1, sizeof tail - 1, file);
    printf("a.txt: fread %zu bytes from end-5: %s", got, tail);
    rewind(file);
    char line[64];
    while (fgets(line, sizeof line, file))
        printf("a.txt line: %s", line);
    fclose(file);
    FILE *append = fopen(path, "a");
    fputs("appended\n", append);
    fclose(append);
    printf("a.txt: size after append %ld\n", file_size(path));
}

static void posix_io(const char *dir) {
    const char *path = in(dir, "b.bin");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char block[4096];
    for (int i = 0; i < (int)sizeof block; i++)
        block[i] = (char)(i * 13 % 256);
    long written = 0;
    for (int i = 0; i < 256; i++)
        written += write(fd, block, sizeof block);
    printf("b.bin: wrote %ld bytes, lseek(0, SEEK_CUR) = %lld\n", written, (long long)lseek(fd, 0, SEEK_CUR));
    printf("b.bin: pwrite at 100: %zd\n", pwrite(fd, "PWRITE", 6, 100));
    char back[8] = {0};
    printf("b.bin: pread at 100: %zd %s\n", pread(fd, back, 6, 100), back);
    printf("b.bin: position unchanged by pread/pwrite: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    printf("b.bin: lseek(-10, SEEK_END) = %lld\n", (long long)lseek(fd, -10, SEEK_END));
    report("b.bin: fsync", fsync(fd));
    report("b.bin: ftruncate to 1000", ftruncate(fd, 1000));
    struct stat st;
    fstat(fd, &st);
    printf("b.bin: fstat size %lld, regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    report("b.bin: lseek to a negative offset", (int)lseek(fd, -1, SEEK_SET));
    close(fd);
    unsigned char *all = malloc(1000);
    fd = open(path, O_RDONLY);
    ssize_t n = read(fd, all, 1000);
    printf("b.bin: read %zd bytes, fnv1a %016llx\n", n, (unsigned long long)fnv1a(all, 1000));
    report("b.bin: write to a read-only descriptor", (int)write(fd, "x", 1));
    close(fd);
    free(all);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in `dir` but `.` and `..`, sorted, on one line. */
static void list(const char *label, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        printf("%s: opendir error %s\n", label, errno_name(errno));
        return;
    }
    char *names[64];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) && count < 64)
        if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, ".."))
            names[count++] = strdup(entry->d_name);
    closedir(d);
    qsort(names, count, sizeof names[0], compare_names);
    printf("%s:", label);
    for (int i = 0; i < count; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static void rename_readdir_unlink(const char *dir) {
    report("rename a.txt -> c.txt", rename(in(dir, "a.txt"), in(dir, "c.txt")));
    printf("a.txt exists %d, c.txt exists %d\n", access(in(dir, "a.txt"), F_OK) == 0, access(in(dir, "c.txt"), F_OK) == 0);
    list("readdir", dir);
    report("unlink c.txt", unlink(in(dir, "c.txt")));
    report("unlink b.bin", unlink(in(dir, "b.bin")));
    list("readdir", dir);
}

static void directories(const char *dir) {
    report("mkdir d", mkdir(in(dir, "d"), 0755));
    report("mkdir d/e", mkdir(in(dir, "d/e"), 0755));
    report("unlink a directory", unlink(in(dir, "d/e")));
    FILE *file = fopen(in(dir, "d/e/f.txt"), "w");
    fputs("f", file);
    fclose(file);
    struct stat st;
    stat(in(dir, "d"), &st);
    printf("d: directory %d\n", S_ISDIR(st.st_mode));
    stat(in(dir, "d/e/f.txt"), &st);
    long age = (long)time(NULL) - (long)st.st_mtim.tv_sec;
    printf("d/e/f.txt: regular %d, size %lld, mtime within a day %d\n", S_ISREG(st.st_mode), (long long)st.st_size, age > -86400 && age < 86400);
    list("readdir d/e", in(dir, "d/e"));
    report("rmdir of a non-empty d/e", rmdir(in(dir, "d/e")));
    report("unlink d/e/f.txt", unlink(in(dir, "d/e/f.txt")));
    report("rmdir d/e", rmdir(in(dir, "d/e")));
    report("rmdir d", rmdir(in(dir, "d")));
    printf("d exists %d\n", access(in(dir, "d"), F_OK) == 0);
}

static void errors(const char *dir) {
    report("open a missing file", open(in(dir, "missing.txt"), O_RDONLY));
    report("O_CREAT|O_EXCL over output.txt", open(in(dir, "output.txt"), O_WRONLY | O_CREAT | O_EXCL, 0644));
    report("unlink a missing file", unlink(in(dir, "missing.txt")));
    report("mkdir over output.txt", mkdir(in(dir, "output.txt"), 0755));
    report("rmdir a file", rmdir(in(dir, "output.txt")));
    report("open a file as a directory", open(in(dir, "output.txt/x"), O_RDONLY));
    report("O_DIRECTORY on a file", open(in(dir, "output.txt"), O_RDONLY | O_DIRECTORY));
    report("close a closed descriptor", close(77));
    report("read a bad descriptor", (int)read(77, path_buf[0], 1));
    report("lseek on stdin (a pipe)", (int)lseek(0, 0, SEEK_CUR));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: files DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    host_files(dir);
    stdio_seek(dir);
    posix_io(dir);
    rename_readdir_unlink(dir);
    directories(dir);
    errors(dir);
    printf("files: done\n");
    return 0;
}
