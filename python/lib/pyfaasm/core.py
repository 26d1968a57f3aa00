"""The names of Faasm's Python API, so that functions written for Faasm run unchanged.

Each is a thin call into the built-in module `faasm` (python/faasmmodule.c), which checks its
arguments and raises ValueError or TypeError before anything reaches the host. Faasm's local
emulation (running chained calls in the same interpreter) has no meaning inside a Faaslet:
PYTHON_LOCAL_CHAINING and PYTHON_LOCAL_OUTPUT are always False here.
"""

import faasm

PYTHON_LOCAL_CHAINING = False
PYTHON_LOCAL_OUTPUT = False


def get_input():
    """The call's input, as bytes."""
    return faasm.get_input()


def set_output(output):
    """Sets the call's output (bytes-like)."""
    faasm.set_output(output)


def get_function_idx():
    """The function-table index this call entered at (0 for the main entry)."""
    return faasm.get_function_idx()


def chain(func, input_data=b""):
    """Chains a call with `input_data` and returns its id: a Python function (a callable
    of this module, as in Faasm) runs as an entry of this same function; a str names another
    function of the same user."""
    if isinstance(func, str):
        return faasm.chain(func, input_data)
    return faasm.chain_this(func.__name__, input_data)


def chain_this_with_input(func, input_data):
    """Calls this same function at its Python function `func` (or its name) with
    `input_data`; returns the call id."""
    name = func if isinstance(func, str) else func.__name__
    return faasm.chain_this(name, input_data)


def await_call(call_id):
    """Waits for a chained call; returns its result (0 for success)."""
    return faasm.await_call(call_id)


def await_call_output(call_id):
    """Waits for a chained call; returns its output (RuntimeError if it failed)."""
    return faasm.await_call_output(call_id)


def get_state(key, state_len):
    """The value of `key` (`state_len` bytes), pulled from the global tier if not yet."""
    return faasm.get_state(key, state_len)


def get_state_size(key):
    """The size of the value of `key`, 0 if it has none."""
    return faasm.get_state_size(key)


def get_state_offset(key, total_len, offset, offset_len):
    """`offset_len` bytes at `offset` of the value of `key` (`total_len` bytes in all)."""
    return faasm.get_state_offset(key, total_len, offset, offset_len)


def set_state(key, value):
    """Overwrites the host's copy of `key` (push_state sends it on)."""
    faasm.set_state(key, value)


def set_state_offset(key, total_len, offset, value):
    """Writes `value` at `offset` of the value of `key` (`total_len` bytes in all)."""
    faasm.set_state_offset(key, total_len, offset, value)


def state_view(key, state_len):
    """A writable memoryview of the host's copy of `key`: shared, not copied."""
    return faasm.state_view(key, state_len)


def flag_state_dirty(key, state_len):
    """Marks the whole value of `key` for the next push (after writes through a view)."""
    faasm.flag_state_dirty(key, state_len)


def push_state(key):
    """Sends the value of `key` to the global tier."""
    faasm.push_state(key)


def push_state_partial(key):
    """Sends only the ranges of `key` written since the last push."""
    faasm.push_state_partial(key)


def pull_state(key, state_len):
    """Fetches the value of `key` from the global tier."""
    faasm.pull_state(key, state_len)


def append_state(key, value):
    """Appends one element to the list of `key`."""
    faasm.append_state(key, value)


def read_appended_state(key, total_len, n_elems):
    """The first `n_elems` elements of the list of `key`, concatenated (`total_len` bytes)."""
    return faasm.read_appended_state(key, total_len, n_elems)


def clear_appended_state(key):
    """Deletes the list of `key`."""
    faasm.clear_appended_state(key)


def lock_state_read(key):
    faasm.lock_state_read(key)


def unlock_state_read(key):
    faasm.unlock_state_read(key)


def lock_state_write(key):
    faasm.lock_state_write(key)


def unlock_state_write(key):
    faasm.unlock_state_write(key)


def lock_state_global_read(key):
    faasm.lock_state_global_read(key)


def unlock_state_global_read(key):
    faasm.unlock_state_global_read(key)


def lock_state_global_write(key):
    faasm.lock_state_global_write(key)


def unlock_state_global_write(key):
    faasm.unlock_state_global_write(key)
