"""The exec source with real child processes (Python scripts the test
writes): periodic runs; a long-running reader that crashes every 1,000
lines and is restarted (nothing it wrote is lost, the exits are counted); a
run that hangs is stopped at its timeout and the next run comes; standard
error is logged under the source's name; the child sees only the reduced
environment and what `env` adds."""

import json
import os
import signal
import sys

from harness import Sluice, TempDir, free_port, main, metric, read_ndjson, wait_for

PYTHON = sys.executable


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def config(d, sources, http_port):
    out = os.path.join(d, "out.ndjson")
    text = f'[http]\nlisten = "127.0.0.1:{http_port}"\n[pipelines.p]\nbatch_max_delay = "20ms"\n'
    for s in sources:
        text += "[[pipelines.p.sources]]\ntype = \"exec\"\n"
        for k, v in s.items():
            text += f"{k} = {json.dumps(v)}\n"
    text += f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{out}"\nfsync = false\n'
    return write(d, "sluice.toml", text), out


def stop(s):
    """Stops the gateway as systemd would (SIGTERM): it stops its commands."""
    s.signal(signal.SIGTERM)
    s.wait(60)


def running(script):
    """The processes whose command line names `script`."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if script.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def exits(http_port, source, result):
    return metric(http_port, "sluice_exec_exits_total", component=f"p/{source}", result=result)


def test_periodic_crashing_hanging_and_environment():
    with TempDir() as d:
        # Periodic: one reading per run, numbered by a file it keeps.
        periodic = write(d, "periodic.py", f"""
import json, os, sys
n_path = os.path.join({d!r}, "n")
n = int(open(n_path).read()) if os.path.exists(n_path) else 0
open(n_path, "w").write(str(n + 1))
print(json.dumps({{"run": n, "secret": os.environ.get("SLUICE_TEST_SECRET"), "site": os.environ.get("SITE")}}))
print("run", n, "done", file=sys.stderr)
""")
        # Long-running: 1,000 lines, then a crash; it goes on where it was.
        crashing = write(d, "crashing.py", f"""
import os, sys
p = os.path.join({d!r}, "next")
start = int(open(p).read()) if os.path.exists(p) else 0
for i in range(start, start + 1000):
    sys.stdout.write('{{"seq": %d}}\\n' % i)
sys.stdout.flush()
open(p, "w").write(str(start + 1000))
os._exit(3)
""")
        # Hangs after one line: stopped at its timeout, run again.
        hanging = write(d, "hanging.py", """
import signal
print('{"hung": 1}', flush=True)
signal.pause()  # hangs until a signal ends it
""")
        http_port = free_port()
        cfg, out = config(d, [
            {"id": "periodic", "command": [PYTHON, periodic], "interval": "200ms", "env": ["SITE=north"]},
            {"id": "crashing", "command": [PYTHON, crashing], "restart_initial": "20ms", "restart_max": "100ms"},
            {"id": "hanging", "command": [PYTHON, hanging], "interval": "300ms", "timeout": "500ms",
             "stop_grace": "100ms"},
        ], http_port)
        env = dict(os.environ, SLUICE_TEST_SECRET="s3cret")
        log = os.path.join(d, "log")
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=log, env=env) as s:
            wait_for(lambda: len([r for r in read_ndjson(out) if "seq" in r["fields"]]) >= 5000, 60,
                     "5,000 lines of the crashing reader")
            wait_for(lambda: len([r for r in read_ndjson(out) if "run" in r["fields"]]) >= 5, 30, "5 periodic runs")
            wait_for(lambda: exits(http_port, "hanging", "timeout") >= 2, 30, "two hanging runs stopped")
            assert exits(http_port, "crashing", "failed") >= 4, exits(http_port, "crashing", "failed")
            assert exits(http_port, "periodic", "ok") >= 5
            stop(s)
            logs = s.logs()
        assert not running(hanging), "a command outlived the gateway"
        records = read_ndjson(out)
        seqs = sorted(r["fields"]["seq"] for r in records if "seq" in r["fields"])
        assert seqs[:5000] == list(range(5000)), "lines lost or doubled across the restarts"
        runs = [r["fields"] for r in records if "run" in r["fields"]]
        assert [r["run"] for r in runs[:5]] == [0, 1, 2, 3, 4], runs
        assert all(r.get("secret") is None and r["site"] == "north" for r in runs), runs
        assert len([r for r in records if "hung" in r["fields"]]) >= 2
        assert "p/periodic: run 0 done" in logs, logs
        assert "ran longer than its timeout (500ms): stopped (killed by signal 15)" in logs, logs
        assert "p/crashing: '" in logs and "ended: exit status 3" in logs, logs


def test_tools_that_close_their_output_and_background_holders():
    with TempDir() as d:
        http_port = free_port()
        tools = os.path.join(d, "bin")
        os.mkdir(tools)
        write(tools, "reading", "#!/bin/sh\necho '{\"v\": 1}'\n")
        os.chmod(os.path.join(tools, "reading"), 0o755)
        cfg, out = config(d, [
            # /bin/echo closes its output just before it exits: never a failure.
            {"id": "echo", "command": ["/bin/echo", '{"e": 1}'], "interval": "50ms"},
            # Exits, leaving a process that holds its output: the run still ends.
            {"id": "holder", "command": ["/bin/sh", "-c", 'echo \'{"h": 1}\'; sleep 30 &'],
             "restart_initial": "20ms", "restart_max": "50ms"},
            # Found in the PATH its env gives it.
            {"id": "tool", "command": ["reading"], "env": [f"PATH={tools}:/usr/bin:/bin"], "interval": "100ms"},
        ], http_port)
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: exits(http_port, "echo", "ok") >= 20, 30, "20 runs of /bin/echo")
            wait_for(lambda: exits(http_port, "holder", "ok") >= 3, 30, "3 runs of the holder")
            wait_for(lambda: exits(http_port, "tool", "ok") >= 2, 30, "2 runs of the tool")
            assert exits(http_port, "echo", "failed") == 0
            assert exits(http_port, "echo", "timeout") == 0
            stop(s)
        records = read_ndjson(out)
        assert len([r for r in records if "h" in r["fields"]]) >= 3
        assert len([r for r in records if "v" in r["fields"]]) >= 2


def test_a_command_that_cannot_run_is_counted_and_retried():
    with TempDir() as d:
        http_port = free_port()
        cfg, _ = config(d, [{"id": "missing", "command": ["/nonexistent/reader"], "restart_initial": "20ms",
                              "restart_max": "50ms"}], http_port)
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: exits(http_port, "missing", "not_started") >= 3, 30, "three attempts")
            assert "cannot run '/nonexistent/reader': No such file or directory" in s.logs(), s.logs()
        cfg, _ = config(d, [{"id": "unknown", "command": ["no-such-reader"], "restart_initial": "20ms"}], http_port)
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log2")) as s:
            wait_for(lambda: exits(http_port, "unknown", "not_started") >= 1, 30, "an attempt")
            assert "cannot run 'no-such-reader': not found in its PATH" in s.logs(), s.logs()


if __name__ == "__main__":
    main([test_periodic_crashing_hanging_and_environment, test_tools_that_close_their_output_and_background_holders,
          test_a_command_that_cannot_run_is_counted_and_retried])
