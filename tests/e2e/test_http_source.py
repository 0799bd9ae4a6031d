"""The `http` source: frames and NDJSON batches POSTed to /api/send/<pipeline>
are decoded like any other frame and answered 200 only once committed to the
buffer; 401 without the token, 404 for a pipeline without an http source,
413 for an oversized body, dead letters for what does not decode. And a
kill -9 test: a client posts numbered records while the gateway is killed
with SIGKILL at random points and restarted; every record that got a 200 is
in the sink's output after the final drain."""

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, read_ndjson, wait_for, gateway_sections

TOKEN = "push-secret"


def write_config(d, port, extra_sink=""):
    cfg = os.path.join(d, "sluice.toml")
    out = os.path.join(d, "out.ndjson")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, port, TOKEN, shutdown_timeout="10s")}
[pipelines.push]
batch_max_records = 500

[[pipelines.push.sources]]
type = "http"
id = "in"
decode = ["json"]

[[pipelines.push.sinks]]
type = "file"
path = "{out}"

[pipelines.other]

[[pipelines.other.sources]]
type = "simulate"
rate = 1

[[pipelines.other.sinks]]
type = "file"
path = "{d}/other.ndjson"
""")
    return cfg, out


def post(port, path, body, token=TOKEN, content_type=None, timeout=10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode() if isinstance(body, str) else body,
                                 method="POST")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def start(d, port, cfg):
    s = Sluice(["run", "-c", cfg], log_path=os.path.join(d, f"sluice-{time.monotonic_ns()}.log"))

    def up():
        try:
            return http_get(port, "/ready")[0] == 200
        except OSError:
            return False

    wait_for(up, 30, "the gateway to be ready")
    return s


def committed(port, pipeline="push"):
    return metric_value(http_get(port, "/metrics")[1], "sluice_pipeline_records_total", pipeline=pipeline) or 0


def test_frames_batches_and_refusals():
    with TempDir() as d:
        port = free_port()
        cfg, out = write_config(d, port)
        with start(d, port, cfg) as s:
            # One frame: 200 only once committed (the commit counter already has it).
            status, body, _ = post(port, "/api/send/push?key=room/1", '{"seq": 0, "t": 21.5}')
            assert status == 200, (status, body, s.logs())
            assert json.loads(body) == {"status": "committed", "frames": 1}, body
            assert committed(port) >= 1
            # An NDJSON batch: one frame per line, empty lines skipped.
            lines = "".join(json.dumps({"seq": i}) + ("\r\n" if i % 2 else "\n\n") for i in range(1, 101))
            status, body, _ = post(port, "/api/send/push", lines, content_type="application/x-ndjson")
            assert status == 200 and json.loads(body)["frames"] == 100, (status, body)
            assert committed(port) >= 101
            # No pipeline named: the gateway's only http source.
            status, body, _ = post(port, "/api/send", '{"seq": 101}')
            assert status == 200, (status, body)
            wait_for(lambda: len(read_ndjson(out)) >= 102, 30, "102 records in the sink's output")
            seqs = sorted(r["fields"]["seq"] for r in read_ndjson(out))
            assert seqs == list(range(102)), seqs[:10]
            # Without the token, or a wrong one: 401, nothing stored.
            assert post(port, "/api/send/push", '{"seq": -1}', token=None)[0] == 401
            assert post(port, "/api/send/push", '{"seq": -1}', token="wrong")[0] == 401
            # A pipeline without an http source, an unknown one: 404 saying so.
            status, body, _ = post(port, "/api/send/other", "{}")
            assert status == 404 and "no `http` source" in body and "other" in body, (status, body)
            status, body, _ = post(port, "/api/send/nope", "{}")
            assert status == 404 and "nope" in body, (status, body)
            # Empty body: 400. Over the server's body limit (1 MiB): 413.
            assert post(port, "/api/send/push", "")[0] == 400
            assert post(port, "/api/send/push", "x" * (1024 * 1024 + 10))[0] == 413
            # Not JSON: stored as a dead letter, still acknowledged (it is stored).
            dead_before = metric_value(http_get(port, "/metrics")[1], "sluice_pipeline_dead_letters_total",
                                       pipeline="push") or 0
            status, body, _ = post(port, "/api/send/push", "this is not json")
            assert status == 200, (status, body)
            dead_after = metric_value(http_get(port, "/metrics")[1], "sluice_pipeline_dead_letters_total",
                                      pipeline="push")
            assert dead_after == dead_before + 1, (dead_before, dead_after)
            assert all(r["fields"]["seq"] >= 0 for r in read_ndjson(out))


def test_sigkill_loses_no_acknowledged_record():
    seed = int(os.environ.get("SLUICE_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
    print(f"seed {seed} (SLUICE_TEST_SEED repeats this run)", flush=True)
    rng = random.Random(seed)
    with TempDir() as d:
        port = free_port()
        cfg, out = write_config(d, port)
        acked = set()
        attempts = [0]
        stop = threading.Event()

        def client():
            # Numbered records, one request each or a small NDJSON batch; a
            # record whose request failed is sent again under a new number
            # (only 200s count), until told to stop or 30 s passed.
            seq = 0
            crng = random.Random(seed + 1)
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                n = crng.choice([1, 1, 3, 20])
                batch = list(range(seq, seq + n))
                seq += n
                attempts[0] += n
                body = "".join(json.dumps({"seq": i}) + "\n" for i in batch)
                try:
                    status, _, _ = post(port, "/api/send/push", body, content_type="application/x-ndjson", timeout=5)
                except OSError:
                    time.sleep(0.02)  # the gateway is down: try the next number shortly
                    continue
                if status == 200:
                    acked.update(batch)

        s = start(d, port, cfg)
        t = threading.Thread(target=client)
        t.start()
        try:
            for kill in range(3):
                # Let some records through, then kill at a random point.
                target = len(acked) + rng.randint(20, 400)
                wait_for(lambda: len(acked) >= target, 30, "records acknowledged", 0.005)
                s.proc.kill()
                s.proc.wait()
                s.kill()
                print(f"kill {kill + 1}: {len(acked)} acknowledged so far", flush=True)
                s = start(d, port, cfg)
            target = len(acked) + 50
            wait_for(lambda: len(acked) >= target, 30, "records acknowledged after the last restart")
        except BaseException:
            s.kill()
            raise
        finally:
            stop.set()
            t.join()
        with s:
            def all_there():
                got = {r["fields"]["seq"] for r in read_ndjson(out)}
                return acked <= got

            try:
                wait_for(all_there, 60, "every acknowledged record in the output")
            finally:
                rows = read_ndjson(out)
                got = {r["fields"]["seq"] for r in rows}
                missing = sorted(acked - got)
                print(f"seed {seed}: {attempts[0]} records sent, {len(acked)} acknowledged, {len(got)} distinct in "
                      f"the output ({len(rows) - len(got)} repeated), {len(missing)} acknowledged but missing "
                      f"{missing[:20]}", flush=True)
            assert not missing


if __name__ == "__main__":
    main([test_frames_batches_and_refusals, test_sigkill_loses_no_acknowledged_record])
