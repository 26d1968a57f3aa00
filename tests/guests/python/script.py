"""A CPython workload for faasm-rs's tests: reads input.json from the directory given as the
first argument, hashes and transforms it with the standard library, writes results back into the
directory (also through the sqlite3 module), and prints what it did. The test compares stdout
with script.expected (what CPython 3.11 on Linux prints too) and checks the files it wrote."""

import base64
import bz2
import hashlib
import heapq
import itertools
import json
import os
import random
import re
import sqlite3
import statistics
import struct
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, asdict
from decimal import Decimal, getcontext
from fractions import Fraction


@dataclass
class Summary:
    words: int
    distinct: int
    top: list
    sha256: str


def hashes(data: bytes) -> None:
    print("sha256:", hashlib.sha256(data).hexdigest())
    print("md5:", hashlib.md5(data).hexdigest())
    print("blake2b-16:", hashlib.blake2b(data, digest_size=16).hexdigest())
    print("sha3_256:", hashlib.sha3_256(data).hexdigest())
    print("crc32:", zlib.crc32(data), "compressed smaller:", len(zlib.compress(data)) < len(data))


def summarise(doc: dict) -> Summary:
    words = re.findall(r"[a-z']+", doc["text"].lower())
    counts = Counter(words)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    digest = hashlib.sha256(doc["text"].encode()).hexdigest()[:16]
    return Summary(len(words), len(counts), top, digest)


def numbers(doc: dict) -> None:
    values = doc["numbers"]
    getcontext().prec = 30
    print("sum:", sum(values), "product:", eval("*".join(map(str, values))))
    print("decimal 1/7:", Decimal(1) / Decimal(7))
    print("fraction:", sum(Fraction(1, n) for n in range(1, 11)))
    print("2**200 % 1000007:", pow(2, 200, 1000007), "big:", len(str(3**5000)))
    print("float repr:", 0.1 + 0.2, 1e300 * 1e10, round(2.675, 2))


def files(root: str, summary: Summary) -> None:
    out = os.path.join(root, "out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(asdict(summary), f, sort_keys=True)
    os.rename(os.path.join(out, "summary.json"), os.path.join(root, "summary.json"))
    with open(os.path.join(root, "summary.json")) as f:
        back = json.load(f)
    print("summary round trip:", back == json.loads(json.dumps(asdict(summary))))
    with open(os.path.join(root, "numbers.bin"), "wb") as f:
        f.write(bytes(range(256)) * 64)
    size = os.stat(os.path.join(root, "numbers.bin")).st_size
    print("numbers.bin:", size, "bytes")
    os.rmdir(out)
    print("listing:", sorted(os.listdir(root)))


def database(root: str) -> None:
    path = os.path.join(root, "python.db")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        db.executemany("INSERT INTO t (v) VALUES (?)", ((f"value {i}",) for i in range(5000)))
    with sqlite3.connect(path) as db:
        count, last = db.execute("SELECT count(*), max(v) FROM t").fetchone()
    db.close()
    print("sqlite3 module:", count, last, os.path.getsize(path) > 0)
    os.remove(path)


def workload() -> None:
    rng = random.Random(1234)
    values = [rng.random() for _ in range(100000)]
    values.sort()
    print("random:", round(values[0], 12), round(values[-1], 12), round(statistics.median(values), 12))
    print("mean/stdev:", round(statistics.fmean(values), 10), round(statistics.pstdev(values), 10))
    ints = [rng.randrange(1_000_000) for _ in range(50000)]
    print("smallest:", heapq.nsmallest(3, ints), "largest:", heapq.nlargest(2, ints))
    groups = {k: len(list(g)) for k, g in itertools.groupby(sorted(i % 7 for i in ints))}
    print("groups:", groups)
    packed = struct.pack("<iqdH4s", -5, 2**40, 1.5, 65535, b"abcd")
    print("struct:", packed.hex(), struct.unpack("<iqdH4s", packed))
    print("base64:", base64.b64encode(packed).decode(), base64.b85encode(b"faasm").decode())
    blob = bytes(rng.getrandbits(8) for _ in range(200000))
    print("zlib round trip:", zlib.decompress(zlib.compress(blob, 9)) == blob, zlib.adler32(blob))
    words = re.sub(r"(\w)(\w*)", lambda m: m.group(1).upper() + m.group(2), "the quick brown fox")
    print("regex:", words, re.findall(r"\b\w{5}\b", "quick brown foxes jumps"))
    primes = [n for n in range(2, 20000) if all(n % d for d in range(2, int(n**0.5) + 1))]
    print("primes below 20000:", len(primes), primes[-1])
    print("bz2 round trip:", bz2.decompress(bz2.compress(blob)) == blob)
    print("big ints:", 2**521 - 1 == int("1" * 521, 2), (10**50 + 7) * (10**40 + 9) % (2**61 - 1))


def main() -> None:
    root = sys.argv[1]
    with open(os.path.join(root, "input.json"), "rb") as f:
        data = f.read()
    hashes(data)
    doc = json.loads(data)
    summary = summarise(doc)
    print("summary:", json.dumps(asdict(summary), sort_keys=True))
    numbers(doc)
    files(root, summary)
    database(root)
    workload()
    print("script: done")


if __name__ == "__main__":
    main()
