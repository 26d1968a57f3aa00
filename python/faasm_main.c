/* faasm_main.c: the entry points of our CPython, in place of CPython's Programs/python.c.
 *
 * As a command (no zygote ran) it is plain CPython: `main` is Py_BytesMain.
 *
 * As a Python function: the host sets FAASM_PYTHON_FUNCTION to the path of the function's
 * source and its Proto-Faaslet runs `_faasm_zygote` once, which initialises the interpreter
 * and imports that file as module `function` (its top-level code, imports and constants run
 * there, then the garbage collector's survivors are frozen so that calls do not write to
 * their pages). Every call then enters at `_start`, whose `main` only runs the call's entry:
 * the function named by the call (`__faasm_get_py_entry`, set by a chained call), else
 * `faasm_main`, else `main_func` (the names Faasm's Python functions use). See
 * python/bootstrap.py for what an entry receives and what its result means.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "faasm.h"

/* Longest entry name, NUL included (the host refuses longer ones when chaining). */
#define MAX_ENTRY 256

/* python/bootstrap.py, as a C string (written by python/build.sh). */
#include "faasm_bootstrap.h"

/* The bootstrap module, once the zygote has loaded the function; NULL in a command. */
static PyObject *bootstrap;

/* Initialises the interpreter without signal handlers or command-line parsing. */
static int initialise(void) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    PyStatus status = PyConfig_SetString(&config, &config.program_name, L"python3");
    if (!PyStatus_Exception(status)) {
        status = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fprintf(stderr, "faasm: cannot initialise Python: %s\n",
                status.err_msg ? status.err_msg : "(no message)");
        return 0;
    }
    return 1;
}

/* Runs `bootstrap.NAME(*args)`; its int result, or 1 after printing the traceback. */
static int call_bootstrap(const char *name, PyObject *args) {
    PyObject *result = NULL;
    PyObject *func = PyObject_GetAttrString(bootstrap, name);
    if (func != NULL && args != NULL) {
        result = PyObject_CallObject(func, args);
    }
    Py_XDECREF(func);
    Py_XDECREF(args);
    int code = 1;
    if (result == NULL) {
        PyErr_Print();
    } else {
        code = (int)PyLong_AsLong(result);
        if (code == -1 && PyErr_Occurred()) {
            PyErr_Print();
            code = 1;
        }
        Py_DECREF(result);
    }
    fflush(stdout);
    fflush(stderr);
    return code;
}

/* Run once before the Proto-Faaslet is captured: loads the function, if this is one. */
__attribute__((export_name("_faasm_zygote"))) int faasm_zygote(void) {
    const char *path = getenv("FAASM_PYTHON_FUNCTION");
    if (path == NULL || bootstrap != NULL) {
        return 0;
    }
    if (!initialise()) {
        return 1;
    }
    PyObject *code = Py_CompileString(FAASM_BOOTSTRAP_SOURCE, "<faasm bootstrap>", Py_file_input);
    if (code == NULL) {
        PyErr_Print();
        return 1;
    }
    PyObject *module = PyImport_ExecCodeModule("_faasm_bootstrap", code);
    Py_DECREF(code);
    if (module == NULL) {
        PyErr_Print();
        return 1;
    }
    bootstrap = module;
    int result = call_bootstrap("load", Py_BuildValue("(s)", path));
    if (result != 0) {
        Py_CLEAR(bootstrap);
    }
    return result;
}

int main(int argc, char **argv) {
    if (bootstrap == NULL) {
        return Py_BytesMain(argc, argv);
    }
    unsigned char entry[MAX_ENTRY] = {0};
    __faasm_get_py_entry(entry, sizeof entry);
    entry[MAX_ENTRY - 1] = 0;
    return call_bootstrap("run", Py_BuildValue("(s)", (const char *)entry));
}
