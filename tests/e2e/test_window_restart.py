"""file -> window -> file, with sluice killed by SIGKILL twice at random
points and restarted. The window state, the file source's offset and the
windows emitted are committed in one transaction, and the file sink cuts
back output written after its last committed cursor, so every window must
come out exactly once (counted by window_id) and none may be missing
(compared with the windows computed here from the input). A second test
sends late records through a named stream to another pipeline."""

import os
import random
import signal
from collections import Counter, defaultdict

from harness import Sluice, TempDir, main, read_ndjson, wait_for, gateway_sections

TOTAL = 150_000
NODES = 8
BASE_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
STEP_NS = 10_000_000                 # 10 ms between readings
JITTER_MS = 200                      # out of order by up to ±200 ms ...
LATENESS_MS = 500                    # ... within the allowed lateness
SIZE_NS = 1_000_000_000              # tumbling 1 s windows


def make_input(path, rng):
    """Influx lines with node tags and jittered times; returns the expected
    windows {(node, start): (count, sum)} and the last record time."""
    expected = defaultdict(lambda: [0, 0])
    max_t = 0
    with open(path, "w") as f:
        for i in range(TOTAL):
            t = BASE_NS + i * STEP_NS + rng.randint(-JITTER_MS, JITTER_MS) * 1_000_000
            node = f"n{i % NODES}"
            v = (i * 7) % 101
            f.write(f"readings,node={node} v={v}i {t}\n")
            w = expected[(node, t - t % SIZE_NS)]
            w[0] += 1
            w[1] += v
            max_t = max(max_t, t)
    # Windows close when the watermark (latest time - lateness) passes their end.
    watermark = max_t - LATENESS_MS * 1_000_000
    return {k: tuple(v) for k, v in expected.items() if k[1] + SIZE_NS <= watermark}


def write_config(d, inp, out):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, None, shutdown_timeout="20s")}
[pipelines.win]
batch_max_records = 100

[[pipelines.win.sources]]
type = "file"
path = "{inp}"
poll_interval = "20ms"
decode = ["influx"]

[[pipelines.win.stages]]
type = "window"
size = "1s"
allowed_lateness = "{LATENESS_MS}ms"
group_by = ["node"]
fields = ["v"]
aggregates = ["count", "sum"]

[[pipelines.win.sinks]]
type = "file"
path = "{out}"
batch_size = 100
""")
    return cfg


def test_sigkill_twice_every_window_exactly_once():
    rng = random.Random(int(os.environ.get("SLUICE_TEST_SEED", "0")) or None)
    with TempDir() as d:
        inp = os.path.join(d, "in.influx")
        out = os.path.join(d, "out.ndjson")
        expected = make_input(inp, rng)
        cfg = write_config(d, inp, out)
        kill_points = sorted(rng.sample(range(len(expected) // 10, len(expected) * 7 // 10), 2))
        kills = []
        for point in kill_points:
            with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
                wait_for(lambda: len(read_ndjson(out)) >= point or s.proc.poll() is not None, 120,
                         f"{point} windows in the output")
                assert s.proc.poll() is None, s.logs()
                s.signal(signal.SIGKILL)
                s.wait(10)
                kills.append(len(read_ndjson(out)))
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
            wait_for(lambda: len(read_ndjson(out)) >= len(expected), 180, f"all {len(expected)} windows",
                     interval=0.2)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        records = read_ndjson(out)
        ids = Counter(r["fields"]["window_id"] for r in records)
        dups = {k: n for k, n in ids.items() if n > 1}
        print(f"killed at {kills} output lines; {len(records)} windows written, {len(expected)} expected, "
              f"{len(dups)} window ids more than once")
        assert not dups, f"windows emitted more than once: {list(dups.items())[:5]}"
        got = {}
        for r in records:
            key = (r["tags"]["node"], r["fields"]["window_start"])
            assert key not in got, f"two window ids for {key}"
            got[key] = (r["fields"]["count"], r["fields"]["v_sum"])
            assert r["fields"]["window_end"] == key[1] + SIZE_NS
        missing = set(expected) - set(got)
        extra = set(got) - set(expected)
        assert not missing, f"{len(missing)} windows missing, e.g. {sorted(missing)[:5]}"
        assert not extra, f"{len(extra)} windows not expected, e.g. {sorted(extra)[:5]}"
        # The contents: the file source's offset is committed with the batch
        # that read up to it, and the window state with the same batch, so
        # a restart reads no line twice and every count is exact.
        for k in expected:
            assert got[k] == expected[k], f"window {k}: got {got[k]}, want {expected[k]}"


def test_late_records_reach_the_named_stream():
    """Records beyond the allowed lateness go to a named stream; a second
    pipeline reads it with a `stream` source and keeps them in its own file,
    with their tags, fields and times unchanged."""
    with TempDir() as d:
        inp = os.path.join(d, "in.influx")
        out = os.path.join(d, "windows.ndjson")
        late_out = os.path.join(d, "late.ndjson")
        with open(inp, "w") as f:
            for i in range(100):
                f.write(f"readings,node=a v={i}i {BASE_NS + i * 100_000_000}\n")
            # 30 s behind the watermark: late.
            f.write(f"readings,node=a v=1000i {BASE_NS + 2 * SIZE_NS + 5}\n")
            f.write(f"readings,node=b v=2000i {BASE_NS + 3 * SIZE_NS}\n")
            f.write(f"readings,node=a v=5i {BASE_NS + 20 * SIZE_NS}\n")
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f"""
{gateway_sections(d, None)}
[[pipelines.win.sources]]
type = "file"
path = "{inp}"
decode = ["influx"]

[[pipelines.win.stages]]
type = "window"
size = "1s"
group_by = ["node"]
late = "stream"
late_stream = "late_readings"

[[pipelines.win.sinks]]
type = "file"
path = "{out}"

[[pipelines.late.sources]]
type = "stream"
stream = "late_readings"

[[pipelines.late.sinks]]
type = "file"
path = "{late_out}"
""")
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
            late = wait_for(lambda: len(read_ndjson(late_out)) >= 2 and read_ndjson(late_out), 30,
                            "two late records in the late pipeline's file")
            wait_for(lambda: len(read_ndjson(out)) >= 10, 30, "ten windows")
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        assert len(late) == 2, late
        by_node = {r["tags"]["node"]: r for r in late}
        assert by_node["a"]["fields"]["v"] == 1000 and by_node["b"]["fields"]["v"] == 2000, late
        assert by_node["a"]["measurement"] == "readings"
        assert by_node["a"]["time"] == "2024-01-01T00:00:02.000000005Z", by_node["a"]
        windows = read_ndjson(out)
        assert [w["fields"]["count"] for w in windows[:10]] == [10] * 10, windows[:10]


if __name__ == "__main__":
    main([test_sigkill_twice_every_window_exactly_once, test_late_records_reach_the_named_stream])
