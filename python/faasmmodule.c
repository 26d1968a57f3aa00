/* faasmmodule.c: the built-in module `faasm` of our CPython for wasm32-wasi.
 *
 * Python's view of the Faasm host interface (sdk/c/faasm.h): the call's input and output as
 * bytes, chaining and awaiting other functions, and the two-tier state, including
 * `state_view`, a writable memoryview over a value mapped into linear memory: the region every
 * Faaslet of the host shares, not a copy. `pyfaasm.core` (python/lib/pyfaasm) gives the same
 * calls the names of Faasm's own Python API.
 *
 * Compiled into the interpreter statically (one line in Modules/Setup.local, written by
 * python/build.sh). Every size from Python is checked here before it reaches the host, which
 * checks every pointer and length again: a bad argument is a Python exception, never a trap.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "faasm.h"

/* Largest value, input or output one call may move in one piece: wasm32's `long` is 32 bits. */
#define FAASM_MAX_LEN 0x7fffffffL

/* A size from Python as a host `long`, or -1 with ValueError set. */
static long checked_len(Py_ssize_t len, const char *what) {
    if (len < 0 || len > FAASM_MAX_LEN) {
        PyErr_Format(PyExc_ValueError, "%s must be between 0 and %ld, got %zd", what,
                     FAASM_MAX_LEN, len);
        return -1;
    }
    return (long)len;
}

/* A key from Python: a str without NUL characters (the host reads it up to its NUL). */
static int parse_key(PyObject *arg, const char **key) {
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "a state key is a str, not %.100s", Py_TYPE(arg)->tp_name);
        return 0;
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(arg, &size);
    if (utf8 == NULL) {
        return 0;
    }
    if (size == 0 || strlen(utf8) != (size_t)size) {
        PyErr_SetString(PyExc_ValueError, "a state key is a non-empty str without NUL characters");
        return 0;
    }
    *key = utf8;
    return 1;
}

/* ---- input and output ------------------------------------------------------------------ */

static PyObject *pyfaasm_get_input(PyObject *self, PyObject *unused) {
    long size = __faasm_read_input(NULL, 0);
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, size);
    if (bytes == NULL || size == 0) {
        return bytes;
    }
    long copied = __faasm_read_input((unsigned char *)PyBytes_AS_STRING(bytes), size);
    if (copied != size) {
        Py_DECREF(bytes);
        PyErr_Format(PyExc_RuntimeError, "the input was %ld bytes, then %ld", size, copied);
        return NULL;
    }
    return bytes;
}

static PyObject *pyfaasm_set_output(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*:set_output", &data)) {
        return NULL;
    }
    long len = checked_len(data.len, "the output's length");
    if (len >= 0) {
        __faasm_write_output((const char *)data.buf, len);
    }
    PyBuffer_Release(&data);
    if (len < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- chaining -------------------------------------------------------------------------- */

static PyObject *pyfaasm_chain(PyObject *self, PyObject *args) {
    const char *name;
    Py_buffer input = {0};
    if (!PyArg_ParseTuple(args, "s|y*:chain", &name, &input)) {
        return NULL;
    }
    long len = checked_len(input.len, "the input's length");
    unsigned int id = 0;
    if (len >= 0) {
        id = __faasm_chain_name(name, (const unsigned char *)input.buf, len);
    }
    PyBuffer_Release(&input);
    if (len < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLong(id);
}

static PyObject *pyfaasm_chain_this(PyObject *self, PyObject *args) {
    const char *entry;
    Py_buffer input = {0};
    if (!PyArg_ParseTuple(args, "s|y*:chain_this", &entry, &input)) {
        return NULL;
    }
    long len = checked_len(input.len, "the input's length");
    int ok = len >= 0;
    size_t entry_len = strlen(entry);
    if (ok && (entry_len == 0 || entry_len > 255)) {
        PyErr_Format(PyExc_ValueError, "a Python entry has 1 to 255 bytes, got %zu", entry_len);
        ok = 0;
    }
    unsigned int id = 0;
    if (ok) {
        id = __faasm_chain_py(entry, (const unsigned char *)input.buf, len);
    }
    PyBuffer_Release(&input);
    if (!ok) {
        return NULL;
    }
    return PyLong_FromUnsignedLong(id);
}

static PyObject *pyfaasm_await_call(PyObject *self, PyObject *args) {
    unsigned int id;
    if (!PyArg_ParseTuple(args, "I:await_call", &id)) {
        return NULL;
    }
    return PyLong_FromLong(__faasm_await_call(id));
}

static PyObject *pyfaasm_await_call_output(PyObject *self, PyObject *args) {
    unsigned int id;
    if (!PyArg_ParseTuple(args, "I:await_call_output", &id)) {
        return NULL;
    }
    unsigned char *output = NULL;
    long len = 0;
    int result = __faasm_await_call_output(id, &output, &len);
    if (result != 0) {
        free(output);
        PyErr_Format(PyExc_RuntimeError, "chained call %u failed (result %d)", id, result);
        return NULL;
    }
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)output, output ? len : 0);
    free(output);
    return bytes;
}

static PyObject *pyfaasm_get_function_idx(PyObject *self, PyObject *unused) {
    return PyLong_FromLong(__faasm_get_idx());
}

/* ---- state ----------------------------------------------------------------------------- */

static PyObject *pyfaasm_get_state_size(PyObject *self, PyObject *args) {
    const char *key;
    if (!PyArg_ParseTuple(args, "O&:get_state_size", parse_key, &key)) {
        return NULL;
    }
    return PyLong_FromLong(__faasm_read_state(key, NULL, 0));
}

static PyObject *pyfaasm_get_state(PyObject *self, PyObject *args) {
    const char *key;
    Py_ssize_t size = -1;
    if (!PyArg_ParseTuple(args, "O&|n:get_state", parse_key, &key, &size)) {
        return NULL;
    }
    if (size == -1) {
        size = __faasm_read_state(key, NULL, 0);
    }
    long len = checked_len(size, "the state's size");
    if (len < 0) {
        return NULL;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, len);
    if (bytes != NULL && len > 0) {
        __faasm_read_state(key, (unsigned char *)PyBytes_AS_STRING(bytes), len);
    }
    return bytes;
}

static PyObject *pyfaasm_get_state_offset(PyObject *self, PyObject *args) {
    const char *key;
    Py_ssize_t total, offset, size;
    if (!PyArg_ParseTuple(args, "O&nnn:get_state_offset", parse_key, &key, &total, &offset,
                          &size)) {
        return NULL;
    }
    long total_len = checked_len(total, "the state's total size");
    long off = checked_len(offset, "the offset");
    long len = checked_len(size, "the chunk's size");
    if (total_len < 0 || off < 0 || len < 0) {
        return NULL;
    }
    if (off > total_len || len > total_len - off) {
        PyErr_Format(PyExc_ValueError, "chunk [%ld, %ld + %ld) is outside a value of %ld bytes",
                     off, off, len, total_len);
        return NULL;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, len);
    if (bytes != NULL && len > 0) {
        __faasm_read_state_offset(key, total_len, off, (unsigned char *)PyBytes_AS_STRING(bytes),
                                  len);
    }
    return bytes;
}

static PyObject *pyfaasm_set_state(PyObject *self, PyObject *args) {
    const char *key;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "O&y*:set_state", parse_key, &key, &data)) {
        return NULL;
    }
    long len = checked_len(data.len, "the value's size");
    if (len >= 0) {
        __faasm_write_state(key, (const unsigned char *)data.buf, len);
    }
    PyBuffer_Release(&data);
    if (len < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *pyfaasm_set_state_offset(PyObject *self, PyObject *args) {
    const char *key;
    Py_ssize_t total, offset;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "O&nny*:set_state_offset", parse_key, &key, &total, &offset,
                          &data)) {
        return NULL;
    }
    long total_len = checked_len(total, "the state's total size");
    long off = checked_len(offset, "the offset");
    long len = checked_len(data.len, "the chunk's size");
    int ok = total_len >= 0 && off >= 0 && len >= 0;
    if (ok && (off > total_len || len > total_len - off)) {
        PyErr_Format(PyExc_ValueError, "chunk [%ld, %ld + %ld) is outside a value of %ld bytes",
                     off, off, len, total_len);
        ok = 0;
    }
    if (ok) {
        __faasm_write_state_offset(key, total_len, off, (const unsigned char *)data.buf, len);
    }
    PyBuffer_Release(&data);
    if (!ok) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *pyfaasm_state_view(PyObject *self, PyObject *args) {
    const char *key;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "O&n:state_view", parse_key, &key, &size)) {
        return NULL;
    }
    long len = checked_len(size, "the state's size");
    if (len < 0) {
        return NULL;
    }
    if (len == 0) {
        PyErr_SetString(PyExc_ValueError, "a state view needs a size of at least 1 byte");
        return NULL;
    }
    unsigned char *value = __faasm_read_state_ptr(key, len);
    return PyMemoryView_FromMemory((char *)value, len, PyBUF_WRITE);
}

static PyObject *pyfaasm_flag_state_dirty(PyObject *self, PyObject *args) {
    const char *key;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "O&n:flag_state_dirty", parse_key, &key, &size)) {
        return NULL;
    }
    long len = checked_len(size, "the state's size");
    if (len < 0) {
        return NULL;
    }
    __faasm_flag_state_dirty(key, len);
    Py_RETURN_NONE;
}

static PyObject *pyfaasm_pull_state(PyObject *self, PyObject *args) {
    const char *key;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "O&n:pull_state", parse_key, &key, &size)) {
        return NULL;
    }
    long len = checked_len(size, "the state's size");
    if (len < 0) {
        return NULL;
    }
    __faasm_pull_state(key, len);
    Py_RETURN_NONE;
}

static PyObject *pyfaasm_append_state(PyObject *self, PyObject *args) {
    const char *key;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "O&y*:append_state", parse_key, &key, &data)) {
        return NULL;
    }
    long len = checked_len(data.len, "the element's size");
    if (len >= 0) {
        __faasm_append_state(key, (const unsigned char *)data.buf, len);
    }
    PyBuffer_Release(&data);
    if (len < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *pyfaasm_read_appended_state(PyObject *self, PyObject *args) {
    const char *key;
    Py_ssize_t size, elements;
    if (!PyArg_ParseTuple(args, "O&nn:read_appended_state", parse_key, &key, &size,
                          &elements)) {
        return NULL;
    }
    long len = checked_len(size, "the elements' total size");
    long count = checked_len(elements, "the number of elements");
    if (len < 0 || count < 0) {
        return NULL;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, len);
    if (bytes != NULL) {
        __faasm_read_appended_state(key, (unsigned char *)PyBytes_AS_STRING(bytes), len, count);
    }
    return bytes;
}

/* The calls that take only a key. */
#define KEY_ONLY(name, call)                                                                     \
    static PyObject *pyfaasm_##name(PyObject *self, PyObject *args) {                            \
        const char *key;                                                                         \
        if (!PyArg_ParseTuple(args, "O&:" #name, parse_key, &key)) {                             \
            return NULL;                                                                         \
        }                                                                                        \
        call(key);                                                                               \
        Py_RETURN_NONE;                                                                          \
    }

KEY_ONLY(push_state, __faasm_push_state)
KEY_ONLY(push_state_partial, __faasm_push_state_partial)
KEY_ONLY(clear_appended_state, __faasm_clear_appended_state)
KEY_ONLY(lock_state_read, __faasm_lock_state_read)
KEY_ONLY(unlock_state_read, __faasm_unlock_state_read)
KEY_ONLY(lock_state_write, __faasm_lock_state_write)
KEY_ONLY(unlock_state_write, __faasm_unlock_state_write)
KEY_ONLY(lock_state_global_read, __faasm_lock_state_global_read)
KEY_ONLY(unlock_state_global_read, __faasm_unlock_state_global_read)
KEY_ONLY(lock_state_global_write, __faasm_lock_state_global_write)
KEY_ONLY(unlock_state_global_write, __faasm_unlock_state_global_write)

static PyObject *pyfaasm_push_state_partial_mask(PyObject *self, PyObject *args) {
    const char *key;
    const char *mask;
    if (!PyArg_ParseTuple(args, "O&O&:push_state_partial_mask", parse_key, &key, parse_key,
                          &mask)) {
        return NULL;
    }
    __faasm_push_state_partial_mask(key, mask);
    Py_RETURN_NONE;
}

static PyObject *pyfaasm_conf_flag(PyObject *self, PyObject *args) {
    const char *key;
    if (!PyArg_ParseTuple(args, "O&:conf_flag", parse_key, &key)) {
        return NULL;
    }
    return PyLong_FromUnsignedLong(__faasm_conf_flag(key));
}

#define METHOD(name, flags, doc) {#name, (PyCFunction)pyfaasm_##name, flags, PyDoc_STR(doc)}

static PyMethodDef faasm_methods[] = {
    METHOD(get_input, METH_NOARGS, "get_input() -> bytes: the call's input."),
    METHOD(set_output, METH_VARARGS, "set_output(data): sets the call's output."),
    METHOD(chain, METH_VARARGS,
           "chain(function, input=b'') -> int: calls function of the same user; the call id."),
    METHOD(chain_this, METH_VARARGS,
           "chain_this(entry, input=b'') -> int: calls this same Python function at its "
           "function `entry`; the call id."),
    METHOD(await_call, METH_VARARGS,
           "await_call(id) -> int: waits for a chained call; its result (0: success)."),
    METHOD(await_call_output, METH_VARARGS,
           "await_call_output(id) -> bytes: waits for a chained call; its output. Raises "
           "RuntimeError if the call failed."),
    METHOD(get_function_idx, METH_NOARGS,
           "get_function_idx() -> int: the table index this call entered at (0: main)."),
    METHOD(get_state_size, METH_VARARGS, "get_state_size(key) -> int: 0 if absent."),
    METHOD(get_state, METH_VARARGS,
           "get_state(key, size=None) -> bytes: the value (pulled if not yet)."),
    METHOD(get_state_offset, METH_VARARGS,
           "get_state_offset(key, total_size, offset, size) -> bytes: one chunk of a value."),
    METHOD(set_state, METH_VARARGS, "set_state(key, data): overwrites the local value."),
    METHOD(set_state_offset, METH_VARARGS,
           "set_state_offset(key, total_size, offset, data): writes one chunk."),
    METHOD(state_view, METH_VARARGS,
           "state_view(key, size) -> memoryview: the value mapped into memory, shared with "
           "every Faaslet of this host; flag_state_dirty before pushing writes made through it."),
    METHOD(flag_state_dirty, METH_VARARGS, "flag_state_dirty(key, size): marks it all dirty."),
    METHOD(push_state, METH_VARARGS, "push_state(key): sends the value to the global tier."),
    METHOD(push_state_partial, METH_VARARGS,
           "push_state_partial(key): sends only the dirty ranges."),
    METHOD(push_state_partial_mask, METH_VARARGS,
           "push_state_partial_mask(key, mask_key): as push_state_partial, masked."),
    METHOD(pull_state, METH_VARARGS, "pull_state(key, size): fetches the value."),
    METHOD(append_state, METH_VARARGS, "append_state(key, data): appends one element."),
    METHOD(read_appended_state, METH_VARARGS,
           "read_appended_state(key, total_size, count) -> bytes: the first count elements."),
    METHOD(clear_appended_state, METH_VARARGS, "clear_appended_state(key): deletes the list."),
    METHOD(lock_state_read, METH_VARARGS, "lock_state_read(key): host-local shared lock."),
    METHOD(unlock_state_read, METH_VARARGS, "unlock_state_read(key)."),
    METHOD(lock_state_write, METH_VARARGS, "lock_state_write(key): host-local exclusive lock."),
    METHOD(unlock_state_write, METH_VARARGS, "unlock_state_write(key)."),
    METHOD(lock_state_global_read, METH_VARARGS, "lock_state_global_read(key): across hosts."),
    METHOD(unlock_state_global_read, METH_VARARGS, "unlock_state_global_read(key)."),
    METHOD(lock_state_global_write, METH_VARARGS, "lock_state_global_write(key): across hosts."),
    METHOD(unlock_state_global_write, METH_VARARGS, "unlock_state_global_write(key)."),
    METHOD(conf_flag, METH_VARARGS, "conf_flag(key) -> int: a host flag (0 if unknown)."),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef faasm_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "faasm",
    .m_doc = "The Faasm host interface: input, output, chaining and state.",
    .m_size = 0,
    .m_methods = faasm_methods,
};

PyMODINIT_FUNC PyInit_faasm(void) { return PyModuleDef_Init(&faasm_module); }
