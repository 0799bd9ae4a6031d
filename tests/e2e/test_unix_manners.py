"""Unix manners: `sluice relay ... | head` ends with status 0 once head is
gone; `timeout` delivering one SIGTERM twice (to the process and to its
group) is not a second signal; a drain at end of input that cannot finish
says what is left and why."""

import json
import os
import re
import signal
import subprocess
import time

from harness import (SLUICE, TIMEOUT_SCALE, Sluice, TempDir, free_port, http_get, main, metric_value, run, skip,
                     wait_for)


def test_relay_into_head_exits_zero():
    with TempDir() as d:
        inp = os.path.join(d, "in.ndjson")
        with open(inp, "w") as f:
            for i in range(200_000):
                f.write(json.dumps({"seq": i}) + "\n")
        # The file source follows the file forever: only the closed pipe can end the run.
        with open(os.path.join(d, "log"), "wb") as log:
            relay = subprocess.Popen([SLUICE, "relay", f"file://{inp}?decode=json", "--data-dir", f"{d}/data",
                                      "--http", "off"], stdout=subprocess.PIPE, stderr=log)
            head = subprocess.Popen(["head", "-n", "5"], stdin=relay.stdout, stdout=subprocess.PIPE)
            relay.stdout.close()
            try:
                lines = head.communicate(timeout=30 * TIMEOUT_SCALE)[0].decode().splitlines()
                started = time.monotonic()
                rc = relay.wait(timeout=20 * TIMEOUT_SCALE)
                took = time.monotonic() - started
            finally:
                for p in (relay, head):
                    if p.poll() is None:
                        p.kill()
                        p.wait()
        with open(os.path.join(d, "log")) as f:
            logs = f.read()
        assert len(lines) == 5 and json.loads(lines[4])["fields"]["seq"] == 4, lines
        assert rc == 0, (rc, logs)
        assert "WARN" not in logs and "ERROR" not in logs and "retrying" not in logs, logs
        assert "standard output was closed" in logs, logs
        # What was not written stays buffered for the stdout sink.
        stats = run(["buffer", "stats", "--data-dir", f"{d}/data"]).stdout.decode()
        pending = re.search(r"sink stdout\s+cursor \d+, pending (\d+) rows", stats)
        assert pending and int(pending.group(1)) > 0, stats
        print(f"relay exited {took:.2f}s after head")


def write_config(d, inp, out, timeout):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[gateway]
data_dir = "{d}/data"
shutdown_timeout = "{timeout}"

[pipelines.sig]
[[pipelines.sig.sources]]
type = "file"
path = "{inp}"
poll_interval = "20ms"
decode = ["json"]

[[pipelines.sig.sinks]]
type = "file"
path = "{out}"
""")
    return cfg


def lag(port):
    try:
        return metric_value(http_get(port, "/metrics")[1], "sluice_sink_lag_rows")
    except OSError:
        return None


def test_sigterm_twice_within_a_second_still_drains():
    with TempDir() as d:
        inp, out = os.path.join(d, "in.ndjson"), os.path.join(d, "out.ndjson")
        os.mkdir(out)  # the sink cannot open its file: the rows wait in the buffer
        with open(inp, "w") as f:
            for i in range(50):
                f.write(json.dumps({"seq": i}) + "\n")
        port = free_port()
        cfg = write_config(d, inp, out, "30s")
        with Sluice(["run", "-c", cfg, "--http", f"127.0.0.1:{port}"], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: lag(port) == 50, 30, "50 rows buffered for the sink")
            # As `timeout` does: to the process, then to its group, at once.
            s.signal(signal.SIGTERM)
            s.signal(signal.SIGTERM)
            wait_for(lambda: "received SIGTERM" in s.logs(), 10, "the first SIGTERM")
            os.rmdir(out)  # the sink can deliver now, during the bounded shutdown
            assert s.wait(40) == 0
            logs = s.logs()
        assert "second signal" not in logs, logs
        with open(out) as f:
            seqs = [json.loads(line)["fields"]["seq"] for line in f]
        assert seqs == list(range(50)), seqs


def test_a_signal_later_than_a_second_is_a_second_signal():
    with TempDir() as d:
        inp, out = os.path.join(d, "in.ndjson"), os.path.join(d, "out.ndjson")
        os.mkdir(out)
        with open(inp, "w") as f:
            f.write(json.dumps({"seq": 0}) + "\n")
        port = free_port()
        cfg = write_config(d, inp, out, "60s")
        with Sluice(["run", "-c", cfg, "--http", f"127.0.0.1:{port}"], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: lag(port) == 1, 30, "a row buffered for the sink")
            s.signal(signal.SIGTERM)
            s.signal(signal.SIGTERM)  # the same request
            wait_for(lambda: "received SIGTERM" in s.logs(), 10, "the first SIGTERM")
            # Still delivering (the sink is down) 1.5 s later: the repeat
            # above was taken as the same request.
            try:
                s.proc.wait(timeout=1.5)
                raise AssertionError("exited on the repeated signal:\n" + s.logs())
            except subprocess.TimeoutExpired:
                pass
            s.signal(signal.SIGTERM)  # a second signal: exit now
            assert s.wait(10) == 0
            assert "second signal" in s.logs(), s.logs()


def test_drain_says_what_is_left_and_why():
    with open(SLUICE, "rb") as f:
        if b"SLUICE_TEST_DRAIN_REPORT_MS" not in f.read():
            skip("built without SLUICE_TEST_HOOKS")
    with TempDir() as d:
        out = os.path.join(d, "out")
        os.mkdir(out)  # a dead sink
        inp = os.path.join(d, "in.ndjson")
        with open(inp, "w") as f:
            for i in range(10):
                f.write(json.dumps({"seq": i}) + "\n")
        with open(inp) as stdin, Sluice(["relay", "-", f"file://{out}", "--data-dir", f"{d}/data", "--http", "off"],
                                        stdin=stdin, env={"SLUICE_TEST_DRAIN_REPORT_MS": "200"},
                                        log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: s.logs().count("still delivering what is buffered") >= 2, 30, "two progress lines")
            line = next(l for l in s.logs().splitlines() if "still delivering what is buffered" in l)
            assert "relay/file: 10 row(s) left" in line, line
            assert "sink down: cannot open" in line and out in line, line
            assert s.logs().count("delivering what is buffered, then exiting") == 1, s.logs()


if __name__ == "__main__":
    main([test_relay_into_head_exits_zero, test_sigterm_twice_within_a_second_still_drains,
          test_a_signal_later_than_a_second_is_a_second_signal, test_drain_says_what_is_left_and_why])
