"""file -> file with 100k lines; sluice is killed with SIGKILL twice at
random points and restarted. Every line must reach the output at least
once; duplicates are reported."""

import json
import os
import random
import shutil
import signal

from harness import Sluice, TempDir, main, wait_for, gateway_sections

TOTAL = 100_000


def count_lines(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def write_config(d, inp, out):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, None, shutdown_timeout="20s")}
[pipelines.kill]
batch_max_records = 500

[[pipelines.kill.sources]]
type = "file"
path = "{inp}"
poll_interval = "20ms"
decode = ["json"]

[[pipelines.kill.sinks]]
type = "file"
path = "{out}"
batch_size = 500
""")
    return cfg


def test_sigkill_twice_loses_nothing():
    seed = int(os.environ.get("SLUICE_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
    print(f"seed {seed} (SLUICE_TEST_SEED repeats this run)", flush=True)
    rng = random.Random(seed)
    with TempDir() as d:
        inp = os.path.join(d, "in.ndjson")
        out = os.path.join(d, "out.ndjson")
        with open(inp, "w") as f:
            for i in range(TOTAL):
                f.write(json.dumps({"seq": i, "temp": 20 + (i % 100) / 10, "node": f"n{i % 7}"}) + "\n")
        cfg = write_config(d, inp, out)
        kill_points = sorted(rng.sample(range(5_000, 90_000), 2))
        kills = []
        for point in kill_points:
            with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
                reached = wait_for(lambda: count_lines(out) >= point or s.proc.poll() is not None, 60,
                                   f"{point} output lines")
                assert s.proc.poll() is None, s.logs()
                s.signal(signal.SIGKILL)
                s.wait(10)
                kills.append(count_lines(out))
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
            seen = set()

            def all_arrived():
                seen.clear()
                for rec in _records(out):
                    seen.add(rec["fields"]["seq"])
                return len(seen) == TOTAL

            wait_for(all_arrived, 120, "every line in the output", interval=0.2)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        if os.environ.get("SLUICE_KEEP_OUTPUT"):
            shutil.copy(out, os.environ["SLUICE_KEEP_OUTPUT"])
        lines = count_lines(out)
        dups = lines - TOTAL
        print(f"killed at {kills} output lines; {lines} lines written for {TOTAL} inputs; "
              f"{dups} duplicates ({dups / TOTAL:.2%})")
        assert lines >= TOTAL
        # Each kill can repeat at most one unconfirmed sink batch and one
        # uncommitted source batch (500 each).
        assert dups <= 2 * 2 * 500, f"{dups} duplicates for 2 kills"


def _records(path):
    # A last line without its newline is still being written: skip it.
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                return
            line = line.strip()
            if line:
                yield json.loads(line)


if __name__ == "__main__":
    main([test_sigkill_twice_loses_nothing])
