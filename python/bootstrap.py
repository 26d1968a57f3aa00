"""The Python side of a Python function's entry points (python/faasm_main.c).

`load` runs once, in the Proto-Faaslet's zygote: it imports the function's source as module
`function` (so an `if __name__ == "__main__"` block does not run) and freezes what survives a
collection, so that calls, which all start from this snapshot, do not dirty those pages.

`run` is a call: it finds the entry (the one the call names, else `faasm_main`, else
`main_func`), passes it the call's input as bytes if it takes a parameter, and answers with
what it returns:
  - None: success (whatever the entry set with set_output is the output);
  - bytes, bytearray, memoryview or str: the call's output (str as UTF-8), success;
  - an int: the call's result (0: success);
  - anything else: a TypeError.
An exception ends the call with result 1, its traceback written to stderr and set as the
call's output. sys.exit(n) ends it with result n.
"""

import gc
import importlib.util
import inspect
import sys
import traceback

import faasm

MAIN_ENTRIES = ("faasm_main", "main_func")

function = None
# The main entry and whether it takes the input, found once in the zygote: what a call finds
# is lost with its reset, so a lookup made there would be made again by every call.
main_entry = None


def load(path):
    """Imports the function's source; 0 on success (an exception fails the set-up)."""
    global function, main_entry
    try:
        spec = importlib.util.spec_from_file_location("function", path)
        if spec is None:
            raise ImportError(f"cannot load a Python function from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["function"] = module
        spec.loader.exec_module(module)
        function = module
        try:
            entry = entry_point("")
            main_entry = (entry, takes_input(entry))
        except LookupError:
            main_entry = None
        gc.collect()
        gc.freeze()
        return 0
    finally:
        # What the top-level code printed belongs to the set-up, not to the first call that
        # would otherwise flush it from the snapshot's buffers.
        sys.stdout.flush()
        sys.stderr.flush()


def entry_point(name):
    """The callable the call enters, or LookupError naming what was looked for."""
    names = (name,) if name else MAIN_ENTRIES
    for candidate in names:
        entry = getattr(function, candidate, None)
        if callable(entry):
            return entry
    wanted = " or ".join(f"{candidate}()" for candidate in names)
    raise LookupError(f"the function defines no {wanted}")


def takes_input(entry):
    """Whether the entry takes the input: it has a parameter without a default."""
    try:
        parameters = inspect.signature(entry).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in positional and p.default is p.empty for p in parameters)


def answer(result):
    """The call's result for what the entry returned."""
    if result is None:
        return 0
    if isinstance(result, str):
        faasm.set_output(result.encode())
        return 0
    if isinstance(result, (bytes, bytearray, memoryview)):
        faasm.set_output(result)
        return 0
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    raise TypeError(
        f"an entry returns None, bytes, str or an int, not {type(result).__name__}"
    )


def run(name):
    """One call of the entry `name` (empty: the main entry); the call's result."""
    try:
        if not name and main_entry is not None:
            entry, wants_input = main_entry
        else:
            entry = entry_point(name)
            wants_input = takes_input(entry)
        if wants_input:
            return answer(entry(faasm.get_input()))
        return answer(entry())
    except SystemExit as exit:
        code = exit.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except BaseException as error:
        # From the entry's frame on: the bootstrap's own frame is not the function's.
        text = "".join(
            traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        )
        sys.stderr.write(text)
        faasm.set_output(text.encode())
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
