"""T12: SIGTERM under load exits within shutdown_timeout and loses nothing
(the rest is delivered after a restart); a restart with a backlog of 2M rows
(--long: 5M) is ready at once and drains it: time until /ready answers 200,
time to drain and peak RSS while draining are printed."""

import json
import os
import signal
import subprocess
import time

from battery import (SLUICE, Sluice, TempDir, count_lines, count_numbers, figure, free_port, http_get, main, read_ndjson, size,
                     wait_for)

LOAD = size(1_000_000, 3_000_000)
BACKLOG = size(2_000_000, 5_000_000)
SHUTDOWN_TIMEOUT = 10


def config(d, name, source, out, port="off"):
    cfg = os.path.join(d, f"{name}.toml")
    listen = '"off"' if port == "off" else f'"127.0.0.1:{port}"'
    with open(cfg, "w") as f:
        f.write(f"""
[gateway]
data_dir = "{d}/data"
shutdown_timeout = "{SHUTDOWN_TIMEOUT}s"

[http]
listen = {listen}

[[pipelines.t12.sources]]
{source}

[[pipelines.t12.sinks]]
type = "file"
path = "{out}"
max_size = 0
retry_max = "2s"
""")
    return cfg


def numbered_lines(n):
    return b"".join(b'{"seq":%d,"temp":21.5,"node":"n%d"}\n' % (i, i % 7) for i in range(n))


def test_sigterm_under_load_loses_nothing():
    with TempDir() as d:
        inp = os.path.join(d, "in.ndjson")
        with open(inp, "wb") as f:
            f.write(numbered_lines(LOAD))
        out = os.path.join(d, "out.ndjson")
        cfg = config(d, "load", f'type = "file"\npath = "{inp}"\ndecode = ["json"]', out)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
            wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0, 60, "the first records delivered")
            sent = time.monotonic()
            s.signal(signal.SIGTERM)
            rc = s.wait(SHUTDOWN_TIMEOUT + 5)
            took = time.monotonic() - sent
            assert rc == 0, s.logs()[-3000:]
        at_stop = count_lines(out)
        # The rest arrives after a restart: the file source resumes from its
        # committed position, the sink from its cursor.
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2.txt")) as s:
            wait_for(lambda: count_lines(out) >= LOAD, 120, "every line delivered after the restart")
            s.signal(signal.SIGTERM)
            assert s.wait(SHUTDOWN_TIMEOUT + 5) == 0, s.logs()[-3000:]
        missing, dups, unexpected = count_numbers([r["fields"]["seq"] for r in read_ndjson(out)], LOAD)
        figure("t12_sigterm", f"SIGTERM under load ({at_stop} of {LOAD} delivered): exited 0 in {took:.2f} s "
                              f"(shutdown_timeout {SHUTDOWN_TIMEOUT} s); after a restart missing {missing}, "
                              f"duplicates {dups}")
        assert took <= SHUTDOWN_TIMEOUT + 1, f"took {took:.1f} s"
        assert missing == 0 and unexpected == 0, (missing, unexpected)


def test_restart_with_a_large_backlog():
    with TempDir() as d:
        # The sink is down while its directory's name is a plain file.
        blocker = os.path.join(d, "out")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        out = os.path.join(blocker, "records.ndjson")
        cfg = config(d, "fill", 'type = "stdin"\ndecode = ["json"]', out)
        data = numbered_lines(BACKLOG)
        # Fill the buffer from stdin; with the sink down the gateway then
        # waits to deliver, and SIGTERM stops it with everything buffered.
        log = open(os.path.join(d, "fill.txt"), "wb")
        p = subprocess.Popen([SLUICE, "run", "-c", cfg], stdin=subprocess.PIPE, stderr=log)
        try:
            p.stdin.write(data)
            p.stdin.close()
            wait_for(lambda: b"delivering what is buffered" in open(log.name, "rb").read(), 300,
                     "the backlog committed")
            p.send_signal(signal.SIGTERM)
            p.wait(SHUTDOWN_TIMEOUT + 10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
        del data
        stats = subprocess.run([SLUICE, "buffer", "stats", "--data-dir", d + "/data"], capture_output=True, text=True)
        assert stats.returncode == 0, stats.stderr
        os.remove(blocker)

        port = free_port()
        cfg = config(d, "drain", 'type = "stdin"\ndecode = ["json"]', out, port)
        start = time.monotonic()
        p = subprocess.Popen([SLUICE, "run", "-c", cfg], stdin=subprocess.DEVNULL,
                             stderr=open(os.path.join(d, "drain.txt"), "wb"))
        try:
            def ready():
                try:
                    return http_get(port, "/ready")[0] == 200
                except OSError:
                    return False
            wait_for(lambda: ready() or p.poll() is not None, 60, "/ready answering 200")
            to_ready = time.monotonic() - start
            # The stdin source has finished (nothing on stdin): sluice exits
            # once the backlog is delivered. Its peak RSS is its VmHWM, read
            # until it exits (the rusage of a child started from this
            # process would include this process's own pages before exec).
            peak = [0]

            def exited():
                try:
                    with open(f"/proc/{p.pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                peak[0] = max(peak[0], int(line.split()[1]))
                except OSError:
                    pass
                return p.poll() is not None
            wait_for(exited, 600, "the backlog drained and sluice exited", interval=0.05)
            drained = time.monotonic() - start
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, open(os.path.join(d, "drain.txt")).read()[-3000:]
        seqs = []
        with open(out, "rb") as f:
            for line in f:
                seqs.append(json.loads(line)["fields"]["seq"])
        missing, dups, unexpected = count_numbers(seqs, BACKLOG)
        buffer_mib = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(d + "/data") for n in ns) / 2**20
        figure("t12_backlog", f"restart with {BACKLOG} buffered rows: /ready 200 after {to_ready:.2f} s, drained in "
                              f"{drained:.1f} s ({BACKLOG / drained:,.0f} rows/s), peak RSS "
                              f"{peak[0] / 1024:.1f} MiB; data dir afterwards {buffer_mib:.1f} MiB; "
                              f"missing {missing}, duplicates {dups}")
        assert missing == 0 and unexpected == 0 and dups == 0, (missing, dups, unexpected)


if __name__ == "__main__":
    main([test_sigterm_under_load_loses_nothing, test_restart_with_a_large_backlog])
