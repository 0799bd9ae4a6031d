"""`sluice tap` and GET /api/tap against a running gateway: records from a
source, a stage and a sink point with the right _component; the token is
required; --limit ends it; a closed stdout ends it quietly; a stalled client
(a socket that never reads) does not slow the pipeline and its drops are
counted in /metrics."""

import json
import os
import socket
import subprocess

from harness import SLUICE, Sluice, TempDir, free_port, http_get, main, metric_value, wait_for, gateway_sections

TOKEN = "tap-t0ken"


def write_config(d, port, rate):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, port, TOKEN)}
[[pipelines.p.sources]]
id = "sim"
type = "simulate"
rate = {rate}
decode = ["json"]

[[pipelines.p.stages]]
id = "m"
type = "map"
add_tags = ["site=lab"]

[[pipelines.p.sinks]]
id = "out"
type = "file"
path = "{d}/out.ndjson"
fsync = false
max_size = "4MiB"
max_files = 1
""")
    return cfg


class Gateway:
    def __init__(self, rate=200):
        self.tmp = TempDir()
        self.port = free_port()
        self.rate = rate

    def __enter__(self):
        d = self.tmp.__enter__()
        cfg = write_config(d, self.port, self.rate)
        self.sluice = Sluice(["run", "-c", cfg], log_path=os.path.join(d, "sluice.log"))

        def ready():
            assert self.sluice.proc.poll() is None, "sluice exited:\n" + self.sluice.logs()[-3000:]
            try:
                return http_get(self.port, "/health")[0] == 200
            except OSError:
                return False

        wait_for(ready, 20, "the gateway to answer /health")
        return self

    def __exit__(self, *exc):
        self.sluice.kill()
        self.tmp.__exit__(*exc)

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def records(self):
        _, text = http_get(self.port, "/metrics")
        return metric_value(text, "sluice_pipeline_records_total", pipeline="p") or 0

    def metric(self, name):
        _, text = http_get(self.port, "/metrics")
        return metric_value(text, name)


def tap(gw, *args, token=TOKEN, timeout=30):
    cmd = [SLUICE, "tap", *args, "--url", gw.url()]
    if token:
        cmd += ["--token", token]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_tap_shows_records_at_a_source_a_stage_and_a_sink():
    with Gateway() as gw:
        for component, point in (("sim", "source"), ("m", "stage"), ("out", "sink")):
            p = tap(gw, f"p/{component}", "--limit", "3")
            assert p.returncode == 0, p.stderr
            lines = p.stdout.splitlines()
            assert len(lines) == 3, p.stdout
            for line in lines:
                rec = json.loads(line)
                assert rec["_component"] == f"p/{component}", rec
                assert rec["_point"] == point, rec
                assert "temperature" in rec["fields"], rec
                if point != "source":
                    assert rec["tags"].get("site") == "lab", rec  # after the map stage
                else:
                    assert "site" not in rec.get("tags", {}), rec


def test_tap_of_a_whole_pipeline_and_text_format():
    with Gateway() as gw:
        p = tap(gw, "p", "--limit", "30")
        assert p.returncode == 0, p.stderr
        points = {json.loads(line)["_point"] for line in p.stdout.splitlines()}
        assert len(p.stdout.splitlines()) == 30
        assert points <= {"source", "stage", "sink"} and points, points
        p = tap(gw, "p/m", "--limit", "2", "--format", "text")
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert len(lines) == 2, p.stdout
        for line in lines:
            assert line.startswith("p/m stage "), line
            assert "site=lab" in line and "temperature=" in line, line


def test_tap_needs_the_token():
    with Gateway() as gw:
        p = tap(gw, "p", "--limit", "1", token=None)
        assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
        assert "401" in p.stderr, p.stderr
        p = tap(gw, "p", "--limit", "1", token="wrong")
        assert p.returncode == 1 and "401" in p.stderr, p.stderr
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.sendall(b"GET /api/tap HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = s.recv(4096).decode(errors="replace")
        assert head.startswith("HTTP/1.1 401"), head


def test_a_closed_stdout_ends_tap_quietly():
    with Gateway() as gw:
        proc = subprocess.Popen([SLUICE, "tap", "p", "--url", gw.url(), "--token", TOKEN], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            first = proc.stdout.readline()
            assert json.loads(first)["_component"].startswith("p/"), first
            proc.stdout.close()  # like `sluice tap | head -1`
            rc = proc.wait(timeout=30)
            assert rc == 0, (rc, proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


def test_a_stalled_tap_client_does_not_slow_the_pipeline():
    with Gateway(rate=5000) as gw:
        dropped_before = gw.metric("sluice_http_stream_dropped_events_total") or 0
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.connect(("127.0.0.1", gw.port))
            s.sendall(f"GET /api/tap?pipeline=p HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
            # Never read. The pipeline keeps committing while it is connected...
            for _ in range(3):
                before = gw.records()
                wait_for(lambda: gw.records() > before + 1000, 30, "records to keep flowing past a stalled tap")
            # ... and what the client could not take is dropped and counted.
            wait_for(lambda: (gw.metric("sluice_http_stream_dropped_events_total") or 0) > dropped_before, 60,
                     "dropped tap events in /metrics")
            before = gw.records()
            wait_for(lambda: gw.records() > before + 1000, 30, "records to keep flowing after drops began")
            # Other clients are still served, the tap too.
            p = tap(gw, "p/out", "--limit", "2")
            assert p.returncode == 0 and len(p.stdout.splitlines()) == 2, p.stderr
        finally:
            s.close()


if __name__ == "__main__":
    main([
        test_tap_shows_records_at_a_source_a_stage_and_a_sink,
        test_tap_of_a_whole_pipeline_and_text_format,
        test_tap_needs_the_token,
        test_a_closed_stdout_ends_tap_quietly,
        test_a_stalled_tap_client_does_not_slow_the_pipeline,
    ])
