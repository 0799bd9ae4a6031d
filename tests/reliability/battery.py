"""Shared parts of the reliability battery (tests/reliability/run): the
e2e harness (tests/e2e/harness.py), the --long switch, printed figures and
the numbered-record checks most battery tests end with."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))

from harness import *  # noqa: E402,F401,F403 - the battery builds on the e2e harness
import harness  # noqa: E402

# `--long` runs the larger versions (more records, more kills); the default
# sizes keep the whole battery to a few minutes in CI.
LONG = "--long" in sys.argv
if LONG:
    sys.argv.remove("--long")


def size(short, long):
    """The default size, or the --long one."""
    return long if LONG else short


def figure(test, text):
    """One measured figure, printed as `FIGURE <test>: <text>`; the runner
    collects these lines into its summary."""
    print(f"FIGURE {test}: {text}", flush=True)


def count_numbers(values, expected):
    """For records numbered 0..expected-1 (seen in `values`, any order, maybe
    repeated): (missing, duplicates, unexpected)."""
    seen = {}
    unexpected = 0
    for v in values:
        if not isinstance(v, int) or v < 0 or v >= expected:
            unexpected += 1
            continue
        seen[v] = seen.get(v, 0) + 1
    missing = expected - len(seen)
    duplicates = sum(c - 1 for c in seen.values())
    return missing, duplicates, unexpected


def count_lines(path):
    """The complete lines in `path` so far (a last line still being written
    is not counted); 0 if it does not exist yet. Cheaper than parsing."""
    if not os.path.exists(path):
        return 0
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def integrity_ok(db_path):
    """PRAGMA integrity_check of a stopped gateway's SQLite file."""
    import sqlite3

    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def main(tests):
    harness.main(tests)
