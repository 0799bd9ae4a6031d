"""Replay from the buffer: with `retain`, delivered records stay in the
buffer, and a sink's cursor can be moved back to deliver them again, by
record id or by time, on a stopped gateway (`sluice buffer replay`) and on
a running one (POST /api/buffer/replay). 10,000 records go to a file sink;
after each replay the lines the sink adds are exactly the replayed range.
`sluice buffer export --from --to` writes a range, delivered or not."""

import datetime
import json
import os
import time

from harness import (Sluice, TempDir, free_port, gateway_sections, http_get, http_request, main, metric_value,
                     read_ndjson, run, wait_for, wait_ready)

N = 10000
TOKEN = "replay-secret"
BASE_MS = (int(time.time()) - 3600) * 1000  # an hour ago: inside retain = "24h"


def lines(first=0, n=N):
    return "".join(f'{{"time":{BASE_MS + i},"seq":{i},"v":{i * 0.5}}}\n' for i in range(first, first + n))


def iso(seq):
    t = datetime.datetime.fromtimestamp((BASE_MS + seq) / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def seqs(path, start=0):
    return [r["fields"]["seq"] for r in read_ndjson(path)[start:]]


def config(d, source, port=None, extra=""):
    path = os.path.join(d, "sluice.toml")
    with open(path, "w") as f:
        f.write(f"""
{gateway_sections(d, port, TOKEN if port else None)}
[pipelines.p]
[pipelines.p.buffer]
retain = "24h"
[[pipelines.p.sources]]
{source}
decode = ["json"]
[[pipelines.p.sinks]]
type = "file"
id = "out"
path = "{d}/out.ndjson"
{extra}
""")
    return path


def test_replay_stopped():
    with TempDir() as d:
        cfg = config(d, 'type = "stdin"')
        data = os.path.join(d, "data")
        out = os.path.join(d, "out.ndjson")
        p = run(["run", "-c", cfg], input=lines().encode(), timeout=120)
        assert p.returncode == 0, p.stderr.decode()
        assert seqs(out) == list(range(N))
        stats = run(["buffer", "stats", "--data-dir", data]).stdout.decode()
        assert f"ids 1..{N}" in stats, stats  # delivered, and kept

        # By record id: record 5001 is seq 5000.
        p = run(["buffer", "replay", "--data-dir", data, "--sink", "out", "--from", "5001"])
        assert p.returncode == 0 and "5000 records again" in p.stdout.decode(), p
        p = run(["run", "-c", cfg], input=b"", timeout=120)
        assert p.returncode == 0, p.stderr.decode()
        assert seqs(out, N) == list(range(5000, N))

        # By time: the first record at or after seq 7500's time.
        p = run(["buffer", "replay", "--data-dir", data, "--sink", "out", "--from", iso(7500)])
        assert p.returncode == 0 and "2500 records again" in p.stdout.decode(), p
        p = run(["run", "-c", cfg], input=b"", timeout=120)
        assert p.returncode == 0, p.stderr.decode()
        assert seqs(out, N + 5000) == list(range(7500, N))

        # Refused: past the cursor, an id before the buffer, a point that is none.
        p = run(["buffer", "replay", "--data-dir", data, "--sink", "out", "--from", str(N + 5)])
        assert p.returncode == 1 and "nothing from" in p.stderr.decode(), p
        p = run(["buffer", "replay", "--data-dir", data, "--sink", "nope", "--from", "1"])
        assert p.returncode == 1 and "no sink 'nope'" in p.stderr.decode(), p
        p = run(["buffer", "replay", "--data-dir", data, "--sink", "out", "--from", "soon"])
        assert p.returncode == 2 and "neither a record id" in p.stderr.decode(), p

        # Export a range, delivered or not: by id (inclusive) and by time (end exclusive).
        p = run(["buffer", "export", "--data-dir", data, "--from", "101", "--to", "200"])
        assert p.returncode == 0, p.stderr.decode()
        got = [json.loads(x)["fields"]["seq"] for x in p.stdout.decode().splitlines()]
        assert got == list(range(100, 200)), got[:5]
        p = run(["buffer", "export", "--data-dir", data, "--from", iso(300), "--to", iso(400)])
        got = [json.loads(x)["fields"]["seq"] for x in p.stdout.decode().splitlines()]
        assert got == list(range(300, 400)), got[:5]


def post(port, path, body=b"", token=TOKEN, content_type=None):
    return http_request(port, "POST", path, body, token, content_type, timeout=60)


def test_replay_running():
    with TempDir() as d:
        port = free_port()
        cfg = config(d, 'type = "http"', port, extra=f"""
[pipelines.q]
[[pipelines.q.sources]]
type = "http"
decode = ["json"]
[[pipelines.q.sinks]]
type = "file"
id = "out"
path = "{d}/q.ndjson"
""")
        out = os.path.join(d, "out.ndjson")
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "sluice.log")):
            wait_ready(port)
            for first in range(0, N, 2500):
                status, body = post(port, "/api/send/p", lines(first, 2500).encode(),
                                    content_type="application/x-ndjson")
                assert status == 200, body
            status, body = post(port, "/api/send/q", lines(0, 10).encode(), content_type="application/x-ndjson")
            assert status == 200, body
            wait_for(lambda: os.path.exists(out) and len(read_ndjson(out)) == N, 60, f"{N} records delivered")
            assert seqs(out) == list(range(N))

            replay = "/api/buffer/replay?pipeline=p&sink=out&from="
            assert post(port, replay + "5001", token=None)[0] == 401
            status, body = post(port, replay + "5001")
            assert status == 200, body
            answer = json.loads(body)
            assert answer["from_id"] == 5001 and answer["records"] == 5000, answer
            wait_for(lambda: len(read_ndjson(out)) == N + 5000, 60, "the replay by id")
            assert seqs(out, N) == list(range(5000, N))

            status, body = post(port, replay + iso(7500).replace(":", "%3A"))
            assert status == 200 and json.loads(body)["records"] == 2500, body
            wait_for(lambda: len(read_ndjson(out)) == N + 7500, 60, "the replay by time")
            assert seqs(out, N + 5000) == list(range(7500, N))

            status, body = post(port, replay + str(N + 5))
            assert status == 409 and "nothing from" in json.loads(body)["error"], body
            status, body = post(port, "/api/buffer/replay?pipeline=p&sink=nope&from=1")
            assert status == 404, body
            status, body = post(port, "/api/buffer/replay?pipeline=p&sink=out&from=later")
            assert status == 400, body
            # Without retain, delivered records are gone: nothing to replay.
            wait_for(lambda: os.path.exists(os.path.join(d, "q.ndjson")) and
                     len(read_ndjson(os.path.join(d, "q.ndjson"))) == 10, 30, "q's records")
            status, body = post(port, "/api/buffer/replay?pipeline=q&sink=out&from=1")
            assert status == 409 and "no longer in the buffer" in body, body

            _, metrics = http_get(port, "/metrics")
            assert metric_value(metrics, "sluice_sink_replays_total", component="p/out") == 2, metrics
        assert len(read_ndjson(out)) == N + 7500  # nothing more after the replays
        with open(os.path.join(d, "sluice.log")) as f:
            logged = f.read()
        assert "p/out: replaying 5000 records from record 5001 on" in logged, logged[-3000:]


if __name__ == "__main__":
    main([test_replay_stopped, test_replay_running])
