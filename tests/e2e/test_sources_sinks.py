"""The file source through rotation and truncation, the file sink's size
rotation, simulate with a count, buffer maintenance commands, and journald
log prefixes."""

import json
import os
import signal
import subprocess

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, read_ndjson, run, wait_for


def seqs(paths):
    out = []
    for p in paths:
        out += [r["fields"]["seq"] for r in read_ndjson(p)]
    return out


def test_file_source_follows_rotation_and_truncation():
    with TempDir() as d:
        log = os.path.join(d, "sensor.log")
        out = os.path.join(d, "out.ndjson")

        def append(path, start, n):
            with open(path, "a") as f:
                for i in range(start, start + n):
                    f.write(json.dumps({"seq": i}) + "\n")

        append(log, 0, 100)
        with Sluice(["relay", f"file://{log}?poll_interval=20ms", f"file://{out}?fsync=false", "--data-dir", d,
                     "--http", "off"], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: len(seqs([out])) == 100, 20, "first 100 lines")
            os.rename(log, log + ".1")  # logrotate without copytruncate
            append(log, 100, 50)
            wait_for(lambda: len(seqs([out])) == 150, 20, "lines of the rotated-in file")
            os.truncate(log, 0)  # copytruncate style
            append(log, 150, 10)
            wait_for(lambda: len(seqs([out])) == 160, 20, "lines after truncation")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0
            assert "rotated" in s.logs() and "truncated" in s.logs(), s.logs()
        assert sorted(seqs([out])) == list(range(160))


def test_file_source_resumes_after_restart_without_repeats():
    with TempDir() as d:
        log = os.path.join(d, "sensor.log")
        out = os.path.join(d, "out.ndjson")
        with open(log, "w") as f:
            f.writelines(json.dumps({"seq": i}) + "\n" for i in range(1000))
        args = ["relay", f"file://{log}?poll_interval=20ms", f"file://{out}", "--data-dir", d, "--http", "off"]
        with Sluice(args) as s:
            wait_for(lambda: len(seqs([out])) == 1000, 20, "1000 lines")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0
        with open(log, "a") as f:
            f.writelines(json.dumps({"seq": i}) + "\n" for i in range(1000, 1100))
        with Sluice(args) as s:
            wait_for(lambda: len(seqs([out])) >= 1100, 20, "appended lines after restart")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0
        assert seqs([out]) == list(range(1100)), "a clean restart neither skips nor repeats"


def test_file_sink_rotates_by_size():
    with TempDir() as d:
        out = os.path.join(d, "out.ndjson")
        p = run(["run", "-e", f"simulate rate=100000 count=3000 ! file path={out} max_size=64KiB max_files=3 "
                 "batch_size=100", "--data-dir", d, "--http", "off"], timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        files = [out] + [f"{out}.{i}" for i in (1, 2, 3)]
        assert all(os.path.exists(f) for f in files[:3]), os.listdir(d)
        assert not os.path.exists(f"{out}.4")
        # A file ends with the first record that reaches max_size, however
        # large the sink's batches have grown.
        for f in files[1:]:
            if os.path.exists(f):
                assert 64 * 1024 <= os.path.getsize(f) < 64 * 1024 + 300, (f, os.path.getsize(f))
        kept = seqs([f for f in files if os.path.exists(f)])
        # The newest records are all kept, in order, without gaps.
        assert kept and sorted(kept) == list(range(3000 - len(kept), 3000))


def test_simulate_with_count_finishes_and_exits():
    with TempDir() as d:
        p = run(["run", "-e", "simulate rate=1000 count=250 ! stdout", "--data-dir", d, "--http", "off"], timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        records = [json.loads(x) for x in p.stdout.decode().splitlines() if x]
        assert [r["fields"]["seq"] for r in records] == list(range(250))
        assert {"temperature", "humidity", "pressure", "device"} <= set(records[0]["fields"])


def test_buffer_commands_on_a_stopped_gateway():
    with TempDir() as d:
        # A sink that cannot deliver keeps its rows buffered: its directory is a file.
        blocker = os.path.join(d, "blocked")
        open(blocker, "w").close()
        port = free_port()
        with Sluice(["run", "-e", f"stdin ! decode chain=json ! file path={blocker}/out.ndjson retry_initial=10ms",
                     "--data-dir", d, "--http", f"127.0.0.1:{port}"], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write(b"".join(json.dumps({"seq": i}).encode() + b"\n" for i in range(20)))
            s.proc.stdin.flush()
            wait_for(lambda: _metric(port, "sluice_pipeline_records_total") == 20, 20, "20 rows committed")
            wait_for(lambda: "Not a directory" in s.logs(), 20, "the sink failing")
            status, body = http_get_any(port, "/ready")
            assert status == 200 and "buffering" in body, (status, body)
            s.signal(signal.SIGTERM)
            wait_for(lambda: "received SIGTERM" in s.logs(), 20, "shutdown started")
            s.signal(signal.SIGTERM)  # a second signal exits at once; the rows stay buffered
            assert s.wait(20) == 0, s.logs()
        stats = run(["buffer", "stats", "--data-dir", d])
        assert stats.returncode == 0 and b"rows 20" in stats.stdout, stats.stdout
        exported = run(["buffer", "export", "--data-dir", d])
        assert [json.loads(x)["fields"]["seq"] for x in exported.stdout.decode().splitlines()] == list(range(20))
        refused = run(["buffer", "drop", "--data-dir", d])
        assert refused.returncode == 2 and b"--yes" in refused.stderr
        dropped = run(["buffer", "drop", "--data-dir", d, "--yes"])
        assert dropped.returncode == 0, dropped.stderr
        assert b"rows 0" in run(["buffer", "stats", "--data-dir", d]).stdout


def test_sigterm_cuts_short_a_drain_that_cannot_finish():
    """At end of input sluice delivers what is buffered; if a sink is down
    that never ends, and SIGTERM must still stop it within shutdown_timeout."""
    with TempDir() as d:
        blocker = os.path.join(d, "blocked")
        open(blocker, "w").close()
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f'[gateway]\nshutdown_timeout = "300ms"\n[http]\nlisten = "off"\n'
                    f'[[pipelines.p.sources]]\ntype = "stdin"\n'
                    f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{blocker}/out"\nretry_initial = "10ms"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write(b'{"a":1}\n')
            s.proc.stdin.close()
            wait_for(lambda: "every source has finished" in s.logs(), 20, "end of input")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
            assert "shutdown deadline reached" in s.logs(), s.logs()
        assert b"rows 1" in run(["buffer", "stats", "--data-dir", d]).stdout


def _metric(port, name):
    try:
        return metric_value(http_get(port, "/metrics")[1], name)
    except OSError:
        return None


def http_get_any(port, path):
    """Like http_get, but returns 4xx/5xx answers instead of raising."""
    import urllib.error
    try:
        return http_get(port, path)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_journald_priority_prefixes():
    with TempDir() as d:
        p = run(["run", "-e", "stdin ! stdout", "--data-dir", d, "--http", "off"], input=b"",
                env={"JOURNAL_STREAM": "8:12345"})
        assert p.returncode == 0
        lines = [x for x in p.stderr.decode().splitlines() if x]
        assert lines and all(x.startswith("<") and x[2] == ">" for x in lines), lines
        assert any(x.startswith("<6>") for x in lines)


if __name__ == "__main__":
    main([test_file_source_follows_rotation_and_truncation, test_file_source_resumes_after_restart_without_repeats,
          test_file_sink_rotates_by_size, test_simulate_with_count_finishes_and_exits,
          test_buffer_commands_on_a_stopped_gateway, test_sigterm_cuts_short_a_drain_that_cannot_finish,
          test_journald_priority_prefixes])
