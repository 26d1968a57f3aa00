// Sleeps for argv[1] seconds (5 by default), then says so: a guest that spends its time in a
// host call (`poll_oneoff`), which a call's timeout must end.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 5;
    sleep(seconds);
    puts("woke");
    return 0;
}
