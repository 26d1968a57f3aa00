/* Proto-Faaslet benchmark: a function that does nothing. Built as a WASI reactor, so it
 * exports `_initialize` (which runs the constructors, here none of its own). */

__attribute__((export_name("noop"))) void noop(void) {}
