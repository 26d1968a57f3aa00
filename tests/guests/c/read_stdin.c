// Reads its standard input once and says how much it got: a guest blocked in `fd_read` while
// stdin is a pipe nobody writes to, which a call's timeout must end.
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buf[64];
    ssize_t n = read(0, buf, sizeof buf);
    printf("read %zd\n", n);
    return 0;
}
