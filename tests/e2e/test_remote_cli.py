"""The commands that talk to a running gateway: ping, status (exit 0 ready,
3 not ready, 1 unreachable), top (plain blocks when stdout is not a
terminal), send (401 → exit 2 naming --token/$SLUICE_TOKEN; with the token
the frame reaches a file sink)."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import Sluice, TempDir, free_port, http_get, main, read_ndjson, run, skip, wait_for, gateway_sections

TOKEN = "cli-secret"


def write_config(d, port, zmq_port=None):
    cfg = os.path.join(d, "sluice.toml")
    out = os.path.join(d, "out.ndjson")
    text = f"""
{gateway_sections(d, port, TOKEN, shutdown_timeout="10s")}
[pipelines.push]

[[pipelines.push.sources]]
type = "http"
decode = ["json"]

[[pipelines.push.sinks]]
type = "file"
path = "{out}"
"""
    if zmq_port:
        text += f"""
[pipelines.sub]

[[pipelines.sub.sources]]
type = "zmq"
id = "z"
endpoints = ["tcp://127.0.0.1:{zmq_port}"]
required = true
reconnect_interval = "50ms"
reconnect_interval_max = "200ms"

[[pipelines.sub.sinks]]
type = "file"
path = "{d}/sub.ndjson"
"""
    with open(cfg, "w") as f:
        f.write(text)
    return cfg, out


def start(d, port, cfg, ready=True):
    s = Sluice(["run", "-c", cfg], log_path=os.path.join(d, "sluice.log"))

    def answers():
        try:
            status = http_get(port, "/ready")[0]
        except OSError as e:
            status = getattr(e, "code", None)
        return status == 200 if ready else status == 503

    try:
        wait_for(answers, 30, "the gateway's /ready")
    except BaseException:
        s.kill()
        raise
    return s


def cli(*args, input=None, env=None):
    full_env = {"SLUICE_TOKEN": "", "SLUICE_URL": ""}
    if env:
        full_env.update(env)
    r = run(list(args), input=input, env=full_env, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def has_stats(port):
    try:
        return http_get(port, "/stats/")[0] == 200
    except OSError:
        return False


def test_ping_and_status_ready():
    with TempDir() as d:
        port = free_port()
        cfg, _ = write_config(d, port)
        url = f"http://127.0.0.1:{port}"
        with start(d, port, cfg):
            code, out, err = cli("ping", "--url", url)
            assert code == 0, (code, out, err)
            assert "round trip" in out and " ms" in out, out
            if has_stats(port):
                version = run(["version"]).stdout.decode().split()[1]
                assert f"sluice {version}" in out and "up " in out, out
            # The address from the config file (-c) works as well as --url.
            code, out, err = cli("status", "-c", cfg)
            assert code == 0, (code, out, err)
            assert "ready: yes" in out, out
            if has_stats(port):
                assert "push" in out and "push/" in out and "file" in out, out
        # Nobody listening any more: 1, with the address.
        code, out, err = cli("status", "--url", url)
        assert code == 1 and url in err, (code, out, err)
        code, out, err = cli("ping", "--url", url)
        assert code == 1 and url in err, (code, out, err)


def test_status_not_ready_with_a_required_source_down():
    version = run(["version"]).stdout.decode()
    if "source/zmq" not in version:
        skip("built without the zmq source")
    with TempDir() as d:
        port = free_port()
        cfg, _ = write_config(d, port, zmq_port=free_port())
        with start(d, port, cfg, ready=False):
            code, out, err = cli("status", "--url", f"http://127.0.0.1:{port}")
            assert code == 3, (code, out, err)
            assert "ready: NO" in out and "sub/z" in out, out


def test_top_plain_lines():
    with TempDir() as d:
        port = free_port()
        cfg, _ = write_config(d, port)
        with start(d, port, cfg):
            # Not a terminal: one plain block per refresh, no escape codes.
            code, out, err = cli("top", "--url", f"http://127.0.0.1:{port}", "--iterations", "2",
                                 "--interval", "0.2")
            assert code == 0, (code, out, err)
            assert out.count("sluice top") == 2, out
            assert "\x1b" not in out, repr(out)
            if has_stats(port):
                assert out.count("COMPONENT") == 2 and "push/" in out, out
    # Unreachable: says so, exit 1.
    code, out, err = cli("top", "--url", f"http://127.0.0.1:{port}", "--iterations", "1")
    assert code == 1, (code, out, err)


def test_send_with_and_without_token():
    with TempDir() as d:
        port = free_port()
        cfg, out = write_config(d, port)
        url = f"http://127.0.0.1:{port}"
        with start(d, port, cfg):
            # Without the token: 401, exit 2, and how to give it.
            code, so, se = cli("send", "--url", url, '{"n": 1}')
            assert code == 2 and "401" in se and "--token" in se and "SLUICE_TOKEN" in se, (code, so, se)
            # With it (from the environment): committed, exit 0.
            code, so, se = cli("send", "--url", url, "--pipeline", "push", "--key", "room/1", '{"n": 2}',
                               env={"SLUICE_TOKEN": TOKEN})
            assert code == 0 and "committed 1 frame" in so, (code, so, se)
            # "-": stdin's lines as one batch; the token from --token.
            code, so, se = cli("send", "--url", url, "--token", TOKEN, "-",
                               input=b'{"n": 3}\n{"n": 4}\n{"n": 5}\n')
            assert code == 0 and "committed 3 frame" in so, (code, so, se)
            # A pipeline without an http source: 404 → exit 2 with the reason.
            code, so, se = cli("send", "--url", url, "--token", TOKEN, "--pipeline", "nope", "{}")
            assert code == 2 and "404" in se and "nope" in se, (code, so, se)
            wait_for(lambda: len(read_ndjson(out)) >= 4, 30, "4 records in the file sink")
            got = sorted(r["fields"]["n"] for r in read_ndjson(out))
            assert got == [2, 3, 4, 5], got
            # More stdin than one request may carry (1 MiB): sent in batches of whole lines.
            pad = "x" * 400
            big = "".join(json.dumps({"n": 100 + i, "pad": pad}) + "\n" for i in range(3000)).encode()
            assert len(big) > 1024 * 1024
            code, so, se = cli("send", "--url", url, "--token", TOKEN, "-", input=big)
            assert code == 0 and "committed 3000 frame" in so, (code, so, se)
            wait_for(lambda: len(read_ndjson(out)) >= 3004, 30, "3004 records in the file sink")
        # The gateway is gone: exit 1.
        code, so, se = cli("send", "--url", url, "--token", TOKEN, "{}")
        assert code == 1 and url in se, (code, so, se)


RATE = {"total": 1200, "rate_1s": 12.5, "rate_1m": 11.0, "rate_15m": 10.0}
LAT = {"count": 10, "avg": 0.01, "p50": 0.008, "p99": 0.05}
STATS = {
    "version": "9.8.7", "uptime_seconds": 125.0, "time": 1733370000.1,
    "events": RATE, "records": RATE, "dead_letters": {"total": 4, "rate_1m": 0.1},
    "buffer": {"rows": 321, "bytes": 65536, "max_bytes": 1048576, "fill": 0.0625},
    "latency": {"end_to_end": LAT, "commit": LAT},
    "pipelines": {"plant": {
        "events": RATE, "records": RATE, "dead_letters": {"total": 4, "rate_1m": 0.1},
        "buffer": {"rows": 321, "bytes": 65536, "max_bytes": 1048576, "fill": 0.0625},
        "latency": {"end_to_end": LAT, "commit": LAT},
        "sources": {"broker": {"type": "mqtt", "up": False, "events": RATE}},
        "stages": {"avg": {"type": "window", "in": RATE, "out": RATE, "errors": 0}},
        "sinks": {"upstream": {"type": "kafka", "up": False, "sent": RATE, "lag_rows": 321, "lag_seconds": 42.0,
                               "send_latency": LAT, "last_error": "broker unreachable"}}}},
    "topics": {"tracked": 1, "max": 1000, "other": RATE},
}


class StubGateway:
    """A stand-in answering /stats/ in the documented shape and /ready as told,
    so the commands' rendering is checked against the shape itself."""

    def __init__(self, ready):
        stats = json.dumps(STATS).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/stats/":
                    code, body, ctype = 200, stats, "application/json"
                elif self.path == "/ready":
                    code = 200 if ready else 503
                    body, ctype = (b"ready\n" if ready else b"plant/upstream: sink down\n"), "text/plain"
                else:
                    code, body, ctype = 404, b"not found\n", "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_commands_render_the_stats_shape():
    with StubGateway(ready=False) as g:
        code, out, err = cli("ping", "--url", g.url)
        assert code == 0 and "sluice 9.8.7" in out and "up 2.1 min" in out, (code, out, err)
        code, out, err = cli("status", "--url", g.url)
        assert code == 3, (code, out, err)
        for want in ["sluice 9.8.7", "plant", "plant/broker", "mqtt", "DOWN", "plant/avg", "window",
                     "plant/upstream", "kafka", "321", "42.0 s", "last error: broker unreachable", "6.2 %",
                     "ready: NO (plant/upstream: sink down)"]:
            assert want in out, (want, out)
        code, out, err = cli("top", "--url", g.url, "--iterations", "2", "--interval", "0.1")
        assert code == 0 and out.count("plant/upstream") == 2 and "12.5/s" in out, (code, out, err)
    with StubGateway(ready=True) as g:
        code, out, err = cli("status", "--url", g.url)
        assert code == 0 and "ready: yes" in out, (code, out, err)


def test_unknown_verb_suggests():
    code, out, err = cli("statu")
    assert code == 2 and "did you mean 'status'" in err, (code, out, err)


if __name__ == "__main__":
    main([test_ping_and_status_ready, test_status_not_ready_with_a_required_source_down, test_top_plain_lines,
          test_send_with_and_without_token, test_commands_render_the_stats_shape, test_unknown_verb_suggests])
