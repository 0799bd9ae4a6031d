"""T3: damaged files never stop the gateway. A pipeline's buffer holds a
backlog (its file sink cannot deliver: its path is a directory), sluice
stops, the buffer is damaged, and sluice starts again:
- truncated to half its size,
- 50 bytes flipped in the middle half,
- cut to zero length,
- its WAL deleted while the rows were only in the WAL (stopped by kill -9),
each time sluice must start, move the file aside, salvage what it can, and
keep collecting (new input arrives in the output). A data directory
remounted read-only must end the start with exit 1 and a clear error."""

import json
import os
import random
import re
import signal
import subprocess

from battery import (Sluice, TempDir, figure, free_port, http_get, main, metric_value, run, gateway_sections, size,
                     skip, wait_for)

ROWS = size(20_000, 200_000)
WAL_ROWS = size(3_000, 5_000)  # stays under the WAL's 4 MiB autocheckpoint
NEW = 200


def write_config(d, port):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, port, shutdown_timeout="2s")}
[pipelines.p]
batch_max_records = 1000

[[pipelines.p.sources]]
type = "file"
path = "{d}/in.ndjson"
poll_interval = "20ms"
decode = ["json"]

[[pipelines.p.sinks]]
type = "file"
path = "{d}/out.ndjson"
fsync = false
""")
    return cfg


def append_input(d, start, count):
    with open(os.path.join(d, "in.ndjson"), "a") as f:
        for i in range(start, start + count):
            f.write('{"seq": %d, "temp": 20.5, "node": "n%d"}\n' % (i, i % 7))


def committed(port):
    try:
        _, text = http_get(port, "/metrics")
    except OSError:
        return 0
    return metric_value(text, "sluice_pipeline_records_total", pipeline="p") or 0


def fill_backlog(d, cfg, port, rows, kill):
    """Runs until `rows` records are buffered (none delivered), then stops
    with SIGTERM or kill -9."""
    os.makedirs(os.path.join(d, "out.ndjson"), exist_ok=True)
    append_input(d, 0, rows)
    with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log1.txt")) as s:
        wait_for(lambda: committed(port) >= rows, 120, f"{rows} records committed")
        s.signal(signal.SIGKILL if kill else signal.SIGTERM)
        s.wait(30)
    os.rmdir(os.path.join(d, "out.ndjson"))


def seqs(path):
    """The seq of every output line. Flipped bits inside a record's bytes
    are not damage SQLite can see: such a line may come out with the wrong
    bytes, so lines are read leniently."""
    out = set()
    if not os.path.exists(path):
        return out
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                out.add(json.loads(line.decode(errors="replace"))["fields"].get("seq"))
            except (ValueError, KeyError, AttributeError):
                pass
    return out


def flip_bytes(path, n, rng):
    size_ = os.path.getsize(path)
    with open(path, "r+b") as f:
        for _ in range(n):
            at = rng.randrange(size_ // 4, size_ * 3 // 4)
            f.seek(at)
            b = f.read(1)[0]
            f.seek(at)
            f.write(bytes([b ^ (1 << rng.randrange(8))]))


def restart_and_check(d, cfg, port, rows, kind, expect_quarantine=True):
    with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2.txt")) as s:
        def quarantined():
            assert s.proc.poll() is None, f"sluice exited {s.proc.returncode}: {s.logs()[-3000:]}"
            try:
                _, text = http_get(port, "/metrics")
            except OSError:
                return None
            return metric_value(text, "sluice_buffer_quarantined_total", kind="buffer", file="p.sqlite")

        try:
            wait_for(quarantined, 30 if expect_quarantine else 5, "the buffer moved aside")
            moved = True
        except AssertionError:
            if expect_quarantine:
                raise
            moved = False
        salvaged = 0
        m = re.search(r"with (\d+) rows salvaged", s.logs())
        if m:
            salvaged = int(m.group(1))
        append_input(d, rows, NEW)
        out = os.path.join(d, "out.ndjson")

        def all_new():
            assert s.proc.poll() is None, f"sluice exited {s.proc.returncode}: {s.logs()[-3000:]}"
            seen = seqs(out)
            return all(i in seen for i in range(rows, rows + NEW))

        wait_for(all_new, 60, "the new input in the output", interval=0.2)
        if moved:
            status, detail = http_get(port, "/ready")
            assert status == 200 and "moved aside" in detail, (status, detail)
        s.signal(signal.SIGTERM)
        assert s.wait(30) == 0, s.logs()[-3000:]
    assert "terminate called" not in open(os.path.join(d, "log2.txt"), errors="replace").read()
    delivered = len([v for v in seqs(os.path.join(d, "out.ndjson")) if isinstance(v, int) and v < rows])
    return moved, salvaged, delivered


def damage_case(kind, damage, rows=ROWS, kill=False, expect_quarantine=True):
    with TempDir() as d:
        port = free_port()
        cfg = write_config(d, port)
        fill_backlog(d, cfg, port, rows, kill)
        damage(os.path.join(d, "data", "p.sqlite"))
        moved, salvaged, delivered = restart_and_check(d, cfg, port, rows, kind, expect_quarantine)
        state = "quarantined" if moved else "not detected by SQLite (damaged rows became dead letters)"
        # `delivered` also counts rows sent before the damage was found and
        # rows the file source read again (its checkpoint lost with the file).
        figure("t3_damage", f"{kind}: {state}, salvaged {salvaged} of {rows} rows, collecting "
                            f"({delivered} of the {rows} backlog rows in the output)")


def test_truncated():
    damage_case("truncated", lambda p: os.truncate(p, os.path.getsize(p) // 2))


def test_bit_flips():
    seed = int(os.environ.get("SLUICE_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
    print(f"seed {seed}", flush=True)
    rng = random.Random(seed)
    # Flips in record bytes only are not corruption SQLite can see; the
    # reader turns such rows into dead letters.
    damage_case("bit flips", lambda p: flip_bytes(p, 50, rng), expect_quarantine=False)


def test_zero_length():
    damage_case("zero length", lambda p: os.truncate(p, 0))


def test_wal_deleted():
    def delete_wal(p):
        assert os.path.getsize(p + "-wal") > 0, "no WAL left by kill -9"
        os.unlink(p + "-wal")

    damage_case("WAL deleted", delete_wal, rows=WAL_ROWS, kill=True)


def test_read_only_data_dir():
    if os.geteuid() != 0:
        skip("a read-only mount needs root (root ignores permission bits, so chmod proves nothing)")
    with TempDir() as d:
        data = os.path.join(d, "data")
        os.makedirs(data)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", data], capture_output=True)
        if m.returncode != 0:
            skip(f"cannot mount a tmpfs: {m.stderr.decode().strip()}")
        try:
            port = free_port()
            cfg = write_config(d, port)
            fill_backlog(d, cfg, port, 1000, kill=False)
            subprocess.run(["mount", "-o", "remount,ro", data], check=True)
            p = run(["run", "-c", cfg], timeout=30)
            err = p.stderr.decode()
            assert p.returncode == 1, (p.returncode, err[-2000:])
            assert "is not writable" in err and data in err and "Fix:" in err, err[-2000:]
            assert "terminate called" not in err, err[-2000:]
            figure("t3_damage", "read-only data dir: exit 1 with the path and the fix")
        finally:
            subprocess.run(["umount", data], check=False)


if __name__ == "__main__":
    main([test_truncated, test_bit_flips, test_zero_length, test_wal_deleted, test_read_only_data_dir])
