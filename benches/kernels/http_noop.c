/* `http` benchmark: a Faasm function that does nothing and returns 0 (no output), so that a
 * call over HTTP measures the host: the request, the scheduler and a Faaslet's spawn, run and
 * reset. Built as a WASI command (`_start` calls `main`), as the example functions are. */

int main(void) { return 0; }
