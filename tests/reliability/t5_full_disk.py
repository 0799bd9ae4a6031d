"""T5: a full disk (root: an 8 MiB tmpfs as the data directory). 300k records
(--long 1M) arrive while the sink is down (its directory is a file), once
without max_bytes (the file system fills first) and once with max_bytes below
the tmpfs size. No crash; every drop counted (received = delivered + dropped
+ buffered); the buffer's size on disk sampled during the run stays within
max_bytes plus the margin in src/buffer/README.md; once space is freed and
the sink is back, everything not dropped is delivered, each record once."""

import json
import os
import shutil
import subprocess
import threading
import time

from battery import (Sluice, TempDir, count_numbers, figure, free_port, http_get, main, metric_value, read_ndjson,
                     size, skip, wait_for)

RECORDS = size(300_000, 1_000_000)
TMPFS = 8 << 20
BALLAST = 2 << 20  # taken before the run, given back once the disk is full: "space is freed"
CAP = 4 << 20      # the second run's max_bytes, below what the tmpfs has left


def margin(cap):
    # README.md "The cap on disk": one batch (1000 records here, ~100 kB page-rounded) beyond the WAL's share.
    return 256 << 10


def buffer_files_bytes(data):
    total = 0
    for name in os.listdir(data):
        if ".sqlite" in name and not name.endswith(".lock"):
            try:
                total += os.path.getsize(os.path.join(data, name))
            except FileNotFoundError:
                pass
    return total


def metrics(port):
    try:
        return http_get(port, "/metrics")[1]
    except OSError:
        return ""


def one_run(max_bytes, expect_disk_full, overflow="drop_oldest"):
    with TempDir() as d:
        mnt = os.path.join(d, "mnt")
        os.mkdir(mnt)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS}", "tmpfs", mnt], capture_output=True)
        if m.returncode != 0:
            skip(f"cannot mount a tmpfs: {m.stderr.decode().strip()}")
        try:
            return run_on(d, mnt, max_bytes, expect_disk_full, overflow)
        finally:
            subprocess.run(["umount", "-l", mnt], capture_output=True)


def run_on(d, mnt, max_bytes, expect_disk_full, overflow):
    data = os.path.join(mnt, "data")
    ballast = os.path.join(mnt, "ballast")
    with open(ballast, "wb") as f:
        f.write(b"\0" * BALLAST)
    inp = os.path.join(d, "in.ndjson")
    with open(inp, "w") as f:
        for i in range(RECORDS):
            f.write(json.dumps({"seq": i, "temp": 20.5, "note": "a reading from the plant floor"}) + "\n")
    blocker = os.path.join(d, "out")
    open(blocker, "w").close()  # the sink's directory is a file: the sink is down
    out = os.path.join(blocker, "out.ndjson")
    buf = f"buffer max_bytes={max_bytes} overflow={overflow} ! " if max_bytes else ""
    if overflow == "block":
        buf = "buffer overflow=block ! "
    port = free_port()
    pipeline = (f"file path={inp} poll_interval=20ms ! decode chain=json ! {buf}"
                f"file path={out} fsync=false retry_initial=10ms retry_max=200ms")
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            if os.path.isdir(data):
                peak = max(peak, buffer_files_bytes(data))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    try:
        with Sluice(["run", "-e", pipeline, "--data-dir", data, "--http", f"127.0.0.1:{port}"],
                    log_path=os.path.join(d, "log")) as s:
            def received():
                return metric_value(metrics(port), "sluice_pipeline_records_total") or 0

            if overflow == "block":
                return block_run(s, port, ballast, blocker, out, received, lambda: peak)
            wait_for(lambda: received() >= RECORDS or s.proc.poll() is not None, 90, f"{RECORDS} records received")
            assert s.proc.poll() is None, s.logs()[-3000:]
            took = time.monotonic() - start
            text = metrics(port)
            got = metric_value(text, "sluice_pipeline_records_total")
            dropped = metric_value(text, "sluice_buffer_dropped_records_total")
            rows = metric_value(text, "sluice_buffer_rows")
            full = metric_value(text, "sluice_buffer_disk_full")
            episodes = metric_value(text, "sluice_buffer_disk_full_total")
            # `buffer stats` reads the same figures from the database itself.
            assert got == RECORDS, got
            assert dropped > 0, "nothing dropped: the buffer never filled"
            assert got == dropped + rows, (got, dropped, rows, s.logs()[-3000:])  # nothing delivered yet
            if expect_disk_full:
                assert episodes >= 1 and full == 1, (episodes, full)
                assert "the disk is full" in s.logs()
            else:
                assert episodes == 0 and full == 0, (episodes, full, s.logs()[-2000:])
            cap = max_bytes or TMPFS
            assert peak <= cap + margin(cap), f"{peak} bytes on disk, cap {cap}"

            # Space comes back, then the sink.
            os.unlink(ballast)
            os.unlink(blocker)
            os.mkdir(blocker)
            wait_for(lambda: len(read_ndjson(out)) >= RECORDS - dropped or s.proc.poll() is not None, 60,
                     "everything not dropped delivered")
            assert s.proc.poll() is None, s.logs()[-3000:]
            if expect_disk_full:
                wait_for(lambda: metric_value(metrics(port), "sluice_buffer_disk_full") == 0, 30,
                         "the disk-full episode ending")
            text = metrics(port)
            assert metric_value(text, "sluice_buffer_dropped_records_total") == dropped
            assert metric_value(text, "sluice_pipeline_records_total") == RECORDS
            seqs = [r["fields"]["seq"] for r in read_ndjson(out)]
            missing, dups, unexpected = count_numbers(seqs, RECORDS)
            assert dups == 0 and unexpected == 0, (dups, unexpected)
            assert missing == dropped, (missing, dropped)
            # The oldest went: what was delivered is the newest, in order.
            assert seqs == list(range(RECORDS - len(seqs), RECORDS)), "delivered rows are not the newest"
            # Intake goes on after the episode.
            wait_for(lambda: metric_value(metrics(port), "sluice_buffer_rows") == 0, 30, "the buffer drained")
            s.kill()
            return took, dropped, peak, episodes
    finally:
        stop.set()
        sampler.join()


def block_run(s, port, ballast, blocker, out, received, peak):
    # The disk fills, commits fail: nothing more is acknowledged, /ready says why.
    wait_for(lambda: (metric_value(metrics(port), "sluice_buffer_commit_errors_total") or 0) >= 2
             or s.proc.poll() is not None, 60, "commits failing on the full disk")
    assert s.proc.poll() is None, s.logs()[-3000:]
    status, body = http_get_status(port, "/ready")
    assert status == 503 and "disk is full" in body, (status, body)
    stuck = received()
    assert 0 < stuck < RECORDS, stuck
    text = metrics(port)
    assert metric_value(text, "sluice_buffer_disk_full") == 1
    assert metric_value(text, "sluice_buffer_dropped_records_total") == 0
    assert stuck == metric_value(text, "sluice_buffer_rows"), (stuck, metric_value(text, "sluice_buffer_rows"))
    # Space and the sink come back: intake resumes by itself, nothing is lost.
    start = time.monotonic()
    os.unlink(ballast)
    os.unlink(blocker)
    os.mkdir(blocker)
    try:
        wait_for(lambda: len(read_ndjson(out)) >= RECORDS or s.proc.poll() is not None, 90, "every record delivered")
    except AssertionError as e:
        buffer_lines = [line for line in metrics(port).splitlines() if line.startswith("sluice_buffer_")]
        raise AssertionError(f"{e}; {len(read_ndjson(out))} delivered\n" + "\n".join(buffer_lines) + "\n" +
                             s.logs()[-3000:]) from None
    assert s.proc.poll() is None, s.logs()[-3000:]
    took = time.monotonic() - start
    seqs = [r["fields"]["seq"] for r in read_ndjson(out)]
    assert count_numbers(seqs, RECORDS) == (0, 0, 0), count_numbers(seqs, RECORDS)
    assert metric_value(metrics(port), "sluice_buffer_dropped_records_total") == 0
    s.kill()
    return took, stuck, peak(), 1


def http_get_status(port, path):
    import urllib.error
    try:
        return http_get(port, path)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_full_disk_without_a_cap():
    if os.geteuid() != 0:
        skip("needs root to mount a tmpfs")
    took, dropped, peak, episodes = one_run(0, True)
    figure("t5_full_disk", f"no max_bytes, {TMPFS >> 20} MiB tmpfs ({BALLAST >> 20} MiB taken): {RECORDS} records, "
                           f"{int(dropped)} dropped on a full disk ({int(episodes)} episode(s)), peak on disk "
                           f"{peak / 1048576:.2f} MiB, {took:.1f} s; the rest delivered once space and sink came back")


def test_cap_below_the_disk():
    if os.geteuid() != 0:
        skip("needs root to mount a tmpfs")
    took, dropped, peak, _ = one_run(CAP, False)
    figure("t5_full_disk", f"max_bytes {CAP >> 20} MiB on a {TMPFS >> 20} MiB tmpfs: {RECORDS} records, "
                           f"{int(dropped)} dropped at the cap, peak on disk {peak / 1048576:.2f} MiB "
                           f"(cap + margin {(CAP + margin(CAP)) / 1048576:.2f} MiB), {took:.1f} s")


def test_block_waits_on_a_full_disk():
    if os.geteuid() != 0:
        skip("needs root to mount a tmpfs")
    took, stuck, peak, _ = one_run(0, True, "block")
    figure("t5_full_disk", f"overflow=block, {TMPFS >> 20} MiB tmpfs: intake stopped at {int(stuck)} records on the "
                           f"full disk (peak {peak / 1048576:.2f} MiB, nothing dropped), all {RECORDS} delivered "
                           f"{took:.1f} s after space and sink came back")


if __name__ == "__main__":
    main([test_full_disk_without_a_cap, test_cap_below_the_disk, test_block_waits_on_a_full_disk])
