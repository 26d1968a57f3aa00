"""Distributed matrix multiplication in pure Python, as in the Faasm paper's examples.

Input: `SIZE WORKERS` (default `64 4`; 1 <= SIZE <= 256, 1 <= WORKERS <= min(SIZE, 16)).

The coordinator (`faasm_main`) makes two SIZE x SIZE matrices of doubles, writes them to state
and pushes them, then chains WORKERS calls of `worker`, each with its share of the rows. A
worker reads only its rows of A (a chunk of the value) and all of B from state, computes its
rows of C = A x B and writes them back as a state value of its own, pushed. The coordinator
awaits every worker, pulls their blocks and answers a summary of C: the same for any number of
workers. State keys carry a token of the invocation, so concurrent invocations do not mix.
"""

import os
import struct

import faasm

DOUBLE = struct.Struct("<d")


def element_a(i, j):
    return float((i * 7 + j * 3) % 11 - 5)


def element_b(i, j):
    return float((i * 5 + j) % 13 - 6) / 4.0


def pack_rows(rows):
    return b"".join(struct.pack(f"<{len(row)}d", *row) for row in rows)


def unpack_rows(data, columns):
    values = struct.unpack(f"<{len(data) // DOUBLE.size}d", data)
    return [list(values[k : k + columns]) for k in range(0, len(values), columns)]


def row_range(size, workers, index):
    return size * index // workers, size * (index + 1) // workers


def parse(data, names):
    fields = data.decode().split()
    if len(fields) != len(names) or not all(field.isdigit() for field in fields):
        raise ValueError(f"expected {' '.join(names)}, got {data!r}")
    return [int(field) for field in fields]


def worker(data):
    token, size, workers, index = data.decode().split()
    size, workers, index = int(size), int(workers), int(index)
    first, last = row_range(size, workers, index)
    row_bytes = size * DOUBLE.size
    a_rows = unpack_rows(
        faasm.get_state_offset(
            f"mm_a_{token}", size * row_bytes, first * row_bytes, (last - first) * row_bytes
        ),
        size,
    )
    b = unpack_rows(faasm.get_state(f"mm_b_{token}", size * row_bytes), size)
    b_columns = list(zip(*b))
    c_rows = [[sum(x * y for x, y in zip(row, column)) for column in b_columns] for row in a_rows]
    key = f"mm_c_{token}_{index}"
    faasm.set_state(key, pack_rows(c_rows))
    faasm.push_state(key)


def faasm_main(data):
    size, workers = parse(data, ["SIZE", "WORKERS"]) if data.strip() else (64, 4)
    if not 1 <= size <= 256 or not 1 <= workers <= min(size, 16):
        raise ValueError("1 <= SIZE <= 256 and 1 <= WORKERS <= min(SIZE, 16)")
    token = os.urandom(6).hex()
    a = [[element_a(i, j) for j in range(size)] for i in range(size)]
    b = [[element_b(i, j) for j in range(size)] for i in range(size)]
    for name, matrix in (("a", a), ("b", b)):
        key = f"mm_{name}_{token}"
        faasm.set_state(key, pack_rows(matrix))
        faasm.push_state(key)
    calls = [
        faasm.chain_this("worker", f"{token} {size} {workers} {index}".encode())
        for index in range(workers)
    ]
    failed = [index for index, call in enumerate(calls) if faasm.await_call(call) != 0]
    if failed:
        raise RuntimeError(f"workers {failed} of {workers} failed")
    c = []
    for index in range(workers):
        first, last = row_range(size, workers, index)
        key = f"mm_c_{token}_{index}"
        faasm.pull_state(key, (last - first) * size * DOUBLE.size)
        c.extend(unpack_rows(faasm.get_state(key, (last - first) * size * DOUBLE.size), size))
    total = sum(sum(row) for row in c)
    trace = sum(c[i][i] for i in range(size))
    corner = c[0][size - 1]
    return f"{size}x{size}: sum {total:.2f}, trace {trace:.2f}, c[0][{size - 1}] {corner:.2f}"
