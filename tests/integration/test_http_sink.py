"""The http (webhook) sink against a receiver started by the test, which
records every request it gets and answers what the test tells it to:
batches as a JSON array to paths made from the records with headers and a
bearer token; NDJSON with gzip and PUT cut at max_body; 400 (dead letters
with the answer), 429 with Retry-After, 500, 401 and 413 (halved) on
command; HTTPS verified against the test's CA; the receiver down for 30 s
mid-run; sluice killed with SIGKILL mid-run and restarted; a relay URL and
the health check."""

import gzip
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import (Sluice, TempDir, check_all, dead_letters, free_port, main, metric, run,  # noqa: E402
                     sent, sink_outage, sink_sigkill, wait_for)  # noqa: E402
from test_mqtt_tls import make_ca, make_cert  # noqa: E402

OUTAGE_S = 30.0
STDIN_SOURCE = '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n'


def record_line(seq, **extra):
    return json.dumps({"gateway": "gw1", "node": f"n{seq % 5}", "seq": seq, **extra}) + "\n"


class Receiver:
    """An HTTP(S) server on a free loopback port that keeps every request
    (method, path, headers, the body un-gzipped) and answers 200, or the
    answers queued with answer(). stop() closes its socket (connections are
    refused, kept-alive ones cut) and start() opens it again on the same
    port."""

    def __init__(self, cert=None, key=None):
        self.port = free_port()
        self.lock = threading.Lock()
        self.requests = []
        self.answers = []
        self.connections = set()
        self.cert, self.key = cert, key
        self.server = None
        self.thread = None
        self.start()

    def answer(self, status, count=1, body="", headers=None):
        with self.lock:
            self.answers.extend([(status, body, headers or {})] * count)

    def clear_answers(self):
        with self.lock:
            self.answers.clear()

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and the body go out in two writes: without this the
            # body waits for the client's delayed ACK (40 ms a request).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver.connections.add(self.connection)

            def finish(self):
                super().finish()
                with receiver.lock:
                    receiver.connections.discard(self.connection)

            def handle_request(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver.lock:
                    status, text, extra = receiver.answers.pop(0) if receiver.answers else (200, "ok", {})
                    receiver.requests.append({"method": self.command, "path": self.path, "status": status,
                                              "headers": dict(self.headers), "body": body,
                                              "at": time.monotonic()})
                out = text.encode()
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_PUT = do_GET = handle_request

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert, self.key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        # Kept-alive connections too: the receiver is gone, not just deaf to new ones.
        with self.lock:
            for c in self.connections:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()

    def delivered(self):
        """The records of every request answered 2xx, in arrival order."""
        out = []
        with self.lock:
            reqs = list(self.requests)
        for r in reqs:
            if r["status"] // 100 != 2 or r["method"] == "GET":
                continue
            text = r["body"].decode()
            if r["headers"].get("Content-Type", "").startswith("application/json"):
                out.extend(json.loads(text))
            else:
                out.extend(json.loads(line) for line in text.splitlines() if line)
        return out

    def seqs(self):
        return [r["fields"]["seq"] for r in self.delivered()]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def write_config(d, recv, http_port, source, extra="", retry_max="1s"):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:{http_port}"\n'
                f'[pipelines.p]\nbatch_max_records = 1000\nbatch_max_delay = "20ms"\n'
                f'{source}'
                f'[[pipelines.p.sinks]]\ntype = "http"\nid = "h"\nhost = "127.0.0.1"\nport = {recv.port}\n'
                f'batch_size = 1000\nretry_initial = "50ms"\nretry_max = "{retry_max}"\n{extra}')
    return cfg


def run_once(d, recv, lines, extra=""):
    """Runs the gateway over `lines` on stdin until it delivered them all and
    exited; returns its standard error."""
    cfg = write_config(d, recv, free_port(), STDIN_SOURCE, extra)
    p = run(["run", "-c", cfg, "--data-dir", os.path.join(d, "data")], input="".join(lines).encode(), timeout=120)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    return p.stderr.decode()


def test_json_array_to_paths_from_records_with_headers_and_a_token():
    total = 5_000
    with TempDir() as d, Receiver() as recv:
        extra = ('path = "/in/{gateway}/{node}?src=sluice"\nheaders = ["X-Source: edge 1"]\n'
                 'token = "s3cret-token"\n')
        # A node named ".." would climb out of /in/gw1/: a dead letter.
        climber = json.dumps({"gateway": "gw1", "node": "..", "seq": total}) + "\n"
        err = run_once(d, recv, [record_line(i) for i in range(total)] + [climber], extra)
        assert "s3cret-token" not in err
        assert check_all(recv.seqs(), total) == 0 and total not in recv.seqs()
        letters = dead_letters(os.path.join(d, "data"))
        assert len(letters) == 1 and "'..' segment" in letters[0]["reason"], letters
        paths = {r["path"] for r in recv.requests}
        assert paths == {f"/in/gw1/n{i}?src=sluice" for i in range(5)}, paths
        for r in recv.requests:
            assert r["method"] == "POST"
            assert r["headers"]["Authorization"] == "Bearer s3cret-token"
            assert r["headers"]["X-Source"] == "edge 1"
            assert r["headers"]["Content-Type"] == "application/json"
        # Each record went to its node's path, in order within it.
        for r in recv.requests:
            records = json.loads(r["body"])
            assert all(f"/n{x['fields']['seq'] % 5}?" in r["path"] for x in records)
            seqs = [x["fields"]["seq"] for x in records]
            assert seqs == sorted(seqs)
        cfg = os.path.join(d, "sluice.toml")
        shown = run(["describe", "-c", cfg]).stdout.decode()
        assert "X-Source" in shown and "s3cret-token" not in shown, shown


def test_ndjson_gzip_put_cut_at_max_body_and_names_escaped():
    total = 3_000
    with TempDir() as d, Receiver() as recv:
        extra = ('method = "put"\nframing = "lines"\ngzip = true\nmax_body = "4KiB"\n'
                 'path = "/bulk/{room}"\n')
        run_once(d, recv, [record_line(i, room="lab 2/b") for i in range(total)], extra)
        assert check_all(recv.seqs(), total) == 0
        assert len(recv.requests) >= total * 60 // 4096, len(recv.requests)
        for r in recv.requests:
            assert r["method"] == "PUT" and r["path"] == "/bulk/lab%202%2Fb", r["path"]
            assert r["headers"]["Content-Type"] == "application/x-ndjson"
            # Bodies of 1 KiB or more go gzipped (the last one may be smaller).
            assert (r["headers"].get("Content-Encoding") == "gzip") == (len(r["body"]) >= 1024), r["headers"]
            assert len(r["body"]) <= 4096, len(r["body"])


def test_answers_400_429_500_401_and_413():
    with TempDir() as d, Receiver() as recv:
        port = free_port()
        cfg = write_config(d, recv, port, STDIN_SOURCE, retry_max="5s")
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            def send(first, count, answers):
                # The receiver holds the records off (503) until all of them
                # are in the buffer, so they go as one request, which then
                # gets the answers under test.
                recv.answer(503, count=1_000_000, body="hold on")
                s.proc.stdin.write("".join(record_line(i) for i in range(first, first + count)).encode())
                s.proc.stdin.flush()
                wait_for(lambda: metric(port, "sluice_pipeline_records_total", pipeline="p") >= first + count, 60,
                         f"records up to {first + count} buffered")
                recv.clear_answers()
                for a in answers:
                    recv.answer(**a)
                wait_for(lambda: sent(port, "p/h") + metric(port, "sluice_sink_dead_letters_total", component="p/h")
                         >= first + count, 60, f"records up to {first + count} answered")

            # 400: the request's records are dead letters with the status and the answer.
            send(0, 10, [dict(status=400, body='{"error": "field seq is not allowed"}')])
            # 429 with Retry-After: 2 s are waited, though retry_initial is 50 ms.
            send(10, 10, [dict(status=429, headers={"Retry-After": "2"})])
            # 500 twice, then 401: retried (the 401 names the credentials), nothing lost.
            send(20, 10, [dict(status=500, count=2, body="database locked"), dict(status=401)])
            # 413: the request is halved until the receiver takes it.
            send(30, 100, [dict(status=413)])
            s.proc.stdin.close()
            assert s.wait(30) == 0, s.logs()[-3000:]
            logs = s.logs()
        assert sorted(recv.seqs()) == list(range(10, 130)), recv.seqs()
        recv.requests = [r for r in recv.requests if r["status"] != 503]  # the holds
        statuses = [r["status"] for r in recv.requests]
        assert statuses[:1] == [400] and 429 in statuses and 413 in statuses, statuses
        i = statuses.index(429)
        waited = recv.requests[i + 1]["at"] - recv.requests[i]["at"]
        assert waited >= 1.9, f"the retry came {waited:.2f}s after the 429"
        assert "asked to wait 2s" in logs, logs[-3000:]
        assert "answered HTTP 500" in logs and "database locked" in logs, logs[-3000:]
        assert "check the credentials" in logs, logs[-3000:]
        assert "HTTP 413" in logs, logs[-3000:]
        # The halves of the 413 request arrived as two requests.
        after = [r for r in recv.requests[statuses.index(413) + 1:] if r["status"] == 200]
        assert len(after) >= 2 and len(json.loads(after[0]["body"])) == 50, [len(json.loads(r["body"])) for r in after]
        letters = dead_letters(d)
        assert len(letters) == 10, letters
        assert all("HTTP 400" in x["reason"] and "field seq is not allowed" in x["reason"] for x in letters), letters
        assert sorted(json.loads(x["payload"])["fields"]["seq"] for x in letters) == list(range(10))


def test_receiver_down_30s_loses_nothing():
    total = 20_000
    with TempDir() as d, Receiver() as recv:
        port = free_port()
        cfg = write_config(d, recv, port, STDIN_SOURCE, 'timeout = "2s"\nconnect_timeout = "1s"\n')
        logs = sink_outage(d, cfg, port, "p/h", [record_line(i) for i in range(total)], recv.stop, recv.start,
                           OUTAGE_S, "the receiver")
        dups = check_all(recv.seqs(), total)
        print(f"  outage {OUTAGE_S:.0f}s: received {len(recv.seqs())}, duplicates {dups}", flush=True)
        assert "Connection refused" in logs, logs[-3000:]


def test_sigkill_and_restart_loses_nothing():
    # A restart sends again at most the batch whose cursor move the kill
    # lost: batch_size (1000) grown batch_growth (4) times.
    bound = 1000 * 4
    with TempDir() as d, Receiver() as recv:
        dups = sink_sigkill(d, lambda port, source: write_config(d, recv, port, source), "p/h", 40_000, recv.seqs)
        assert dups <= bound, f"{dups} duplicates > {bound}"


def test_relay_url_and_healthcheck():
    with TempDir() as d, Receiver() as recv:
        url = f"http://127.0.0.1:{recv.port}/hook/{{node}}?framing=lines&health_path=/health"
        p = run(["relay", "-", url, "--data-dir", os.path.join(d, "relay")],
                input="".join(record_line(i) for i in range(100)).encode(), timeout=60)
        assert p.returncode == 0, p.stderr.decode()[-3000:]
        assert check_all(recv.seqs(), 100) == 0
        assert {r["path"] for r in recv.requests} == {f"/hook/n{i}" for i in range(5)}
        cfg = write_config(d, recv, free_port(), STDIN_SOURCE, 'health_path = "/health"\n')
        p = run(["validate", "-c", cfg, "--healthcheck"])
        assert p.returncode == 0, (p.stdout + p.stderr).decode()
        assert recv.requests[-1]["method"] == "GET" and recv.requests[-1]["path"] == "/health"
        recv.answer(503)
        p = run(["validate", "-c", cfg, "--healthcheck"])
        assert p.returncode == 3 and "answered HTTP 503 to GET /health" in p.stdout.decode(), p.stdout.decode()
        recv.stop()
        cfg = write_config(d, recv, free_port(), STDIN_SOURCE)
        p = run(["validate", "-c", cfg, "--healthcheck"])
        assert p.returncode == 3 and "Connection refused" in p.stdout.decode(), p.stdout.decode()
        recv.start()


def test_https_verifies_the_receiver():
    with TempDir() as d:
        make_ca(d, "ca")
        make_ca(d, "wrong-ca")
        make_cert(d, "server", "ca", "localhost", san="DNS:localhost,IP:127.0.0.1")
        with Receiver(cert=os.path.join(d, "server.crt"), key=os.path.join(d, "server.key")) as recv:
            run_once(d, recv, [record_line(i) for i in range(50)], f'tls = true\nca_file = "{d}/ca.crt"\n')
            assert check_all(recv.seqs(), 50) == 0
            cfg = write_config(d, recv, free_port(), STDIN_SOURCE,
                               f'tls = true\nca_file = "{d}/wrong-ca.crt"\nhealth_path = "/"\n')
            p = run(["validate", "-c", cfg, "--healthcheck"])
            out = p.stdout.decode()
            assert p.returncode == 3 and "not trusted" in out, out


if __name__ == "__main__":
    main([test_json_array_to_paths_from_records_with_headers_and_a_token,
          test_ndjson_gzip_put_cut_at_max_body_and_names_escaped, test_answers_400_429_500_401_and_413,
          test_receiver_down_30s_loses_nothing, test_sigkill_and_restart_loses_nothing,
          test_relay_url_and_healthcheck, test_https_verifies_the_receiver])
