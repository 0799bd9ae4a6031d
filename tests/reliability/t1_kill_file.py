"""T1: file -> file relay of 200k numbered lines (--long: 1M) with 25 kill -9s
(--long: 100) at random output counts (the seed is printed; SLUICE_TEST_SEED
repeats a run), then run to completion: nothing missing, duplicates counted
and bounded, every buffer passes PRAGMA integrity_check."""

import glob
import json
import os
import random
import signal
import time

from battery import Sluice, TempDir, count_lines, count_numbers, figure, integrity_ok, main, size, wait_for, gateway_sections

TOTAL = size(200_000, 1_000_000)
KILLS = size(25, 100)
BATCH = 500


def write_config(d, inp, out):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, None, shutdown_timeout="20s")}
[pipelines.relay]
batch_max_records = {BATCH}

[[pipelines.relay.sources]]
type = "file"
path = "{inp}"
poll_interval = "20ms"
decode = ["json"]

[[pipelines.relay.sinks]]
type = "file"
path = "{out}"
batch_size = {BATCH}
""")
    return cfg


def test_kill_nine_loses_nothing():
    seed = int(os.environ.get("SLUICE_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)
    with TempDir() as d:
        inp = os.path.join(d, "in.ndjson")
        out = os.path.join(d, "out.ndjson")
        with open(inp, "w") as f:
            for i in range(TOTAL):
                f.write(json.dumps({"seq": i, "temp": 20 + (i % 100) / 10, "node": f"n{i % 7}"}) + "\n")
        cfg = write_config(d, inp, out)
        # Kill points spread over the run: each one is an output line count
        # the gateway must have reached (at least the previous point) when
        # the kill arrives, plus a random extra delay of up to 50 ms so kills
        # land in every phase (reading, committing, writing, confirming).
        points = sorted(rng.sample(range(TOTAL // 100, TOTAL * 95 // 100), KILLS))
        log = os.path.join(d, "log.txt")
        kills = []
        start = time.monotonic()
        for point in points:
            with Sluice(["run", "-c", cfg], log_path=log) as s:
                wait_for(lambda: count_lines(out) >= point or s.proc.poll() is not None, 120,
                         f"{point} output lines")
                assert s.proc.poll() is None, s.logs()[-3000:]
                time.sleep(rng.random() * 0.05)
                s.signal(signal.SIGKILL)
                s.wait(10)
                kills.append(count_lines(out))
        with Sluice(["run", "-c", cfg], log_path=log) as s:
            wait_for(lambda: count_lines(out) >= TOTAL and _complete(out), 300, "every line in the output",
                     interval=0.2)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()[-3000:]
        took = time.monotonic() - start
        seqs = []
        with open(out) as f:
            for line in f:
                seqs.append(json.loads(line)["fields"]["seq"])
        missing, dups, unexpected = count_numbers(seqs, TOTAL)
        buffers = glob.glob(os.path.join(d, "data", "**", "*.sqlite"), recursive=True)
        damaged = [b for b in buffers if not integrity_ok(b)]
        # A kill can repeat at most what was read but not yet committed (one
        # source batch) and what was written but not yet confirmed (one sink
        # batch).
        bound = KILLS * 2 * BATCH
        figure("t1_kill_file", f"{TOTAL} lines, {KILLS} kill -9s, seed {seed}: missing {missing}, "
                               f"duplicates {dups} (bound {bound}), integrity ok {len(buffers) - len(damaged)}"
                               f"/{len(buffers)}, {took:.0f} s")
        assert buffers, "no buffer file found"
        assert missing == 0 and unexpected == 0, (missing, unexpected)
        assert dups <= bound, f"{dups} duplicates, bound {bound}"
        assert not damaged, damaged


def _complete(path):
    seen = set()
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            seen.add(json.loads(line)["fields"]["seq"])
    return len(seen) == TOTAL


if __name__ == "__main__":
    main([test_kill_nine_loses_nothing])
