"""The exec decoder and the exec stage with real child processes: the
Python examples from config/examples used from their config; children that
crash every 1,000 frames or records (nothing lost or doubled, the exits and
retries counted); a child that hangs (stopped at its timeout and started
again; a frame it always hangs on becomes a dead letter with the reason);
a stage that drops, splits and refuses records."""

import json
import os
import signal
import socket
import struct
import sys

from harness import (Sluice, TempDir, check_all, dead_letters, free_port, main, metric, read_ndjson, wait_for)

PYTHON = sys.executable
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "config", "examples")


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def stop(s):
    s.signal(signal.SIGTERM)
    s.wait(60)


def exits(http_port, component, result):
    return metric(http_port, "sluice_exec_exits_total", component=component, result=result)


def retries(http_port, component):
    return metric(http_port, "sluice_exec_retries_total", component=component)


def file_pipeline(d, http_port, decoder, stage, extra_decoder="", extra_stage="", before=""):
    """A file source on in.txt decoded by `decoder` (after the decoders
    `before`, e.g. '"json", '), then the exec stage `stage`, into
    out.ndjson. First in its chain, the exec decoder is asked about a batch
    at once; after another, frame by frame."""
    out = os.path.join(d, "out.ndjson")
    text = f"""[http]
listen = "127.0.0.1:{http_port}"
[pipelines.p]
batch_max_delay = "20ms"
[[pipelines.p.sources]]
type = "file"
id = "in"
path = {json.dumps(os.path.join(d, "in.txt"))}
poll_interval = "20ms"
decode = [{before}{{ type = "exec", command = {json.dumps([PYTHON, decoder])}{extra_decoder} }}]
"""
    if stage:
        text += f"""[[pipelines.p.stages]]
type = "exec"
id = "py"
command = {json.dumps([PYTHON, stage])}{extra_stage}
"""
    text += f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{out}"\nfsync = false\n'
    return write(d, "sluice.toml", text), out


def test_python_examples_from_config():
    with TempDir() as d:
        http_port = free_port()
        with open(os.path.join(EXAMPLES, "exec-python.toml")) as f:
            text = f.read()
        text = (text.replace("/usr/share/doc/sluice/examples", EXAMPLES).replace("/var/lib/sluice", d)
                .replace("/run/sluice", d).replace('command = ["python3"', f'command = ["{PYTHON}"'))
        text = f'[http]\nlisten = "127.0.0.1:{http_port}"\n' + text
        cfg = write(d, "sluice.toml", text)
        out = os.path.join(d, "climate.ndjson")
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            sock_path = os.path.join(d, "climate.sock")
            wait_for(lambda: os.path.exists(sock_path), 30, "the socket")
            c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            for i in range(10):
                c.sendto(struct.pack(">HhHH", 0x0A01, 2150 + i, 4000, 3300), sock_path)
            c.sendto(struct.pack(">HhHH", 0x0A02, 2000, 20000, 3300), sock_path)  # humidity out of range
            c.sendto(b"hello", sock_path)  # not an 8-byte frame: not mine
            c.close()
            wait_for(lambda: len(read_ndjson(out)) >= 10, 30, "10 climate records")
            wait_for(lambda: metric(http_port, "sluice_pipeline_dead_letters_total", pipeline="climate") >= 2, 30,
                     "two dead letters")
            stop(s)
        records = read_ndjson(out)
        assert len(records) == 10, records
        r = records[0]
        assert r["measurement"] == "climate" and r["tags"] == {"device": "0a01"}, r
        assert r["fields"]["temperature"] == 21.5 and r["fields"]["humidity"] == 40, r
        assert r["fields"]["battery_v"] == 3.3 and r["fields"]["dew_point"] == 7.32, r
        reasons = sorted(dl["reason"] for dl in dead_letters(d))
        assert any("exec: humidity 200.0 % is out of range" in x for x in reasons), reasons
        assert any("exec: not mine" in x or "not mine" in x for x in reasons), reasons


def test_children_that_crash_every_1000_lose_nothing():
    with TempDir() as d:
        http_port = free_port()
        # Each crashes, without answering, on the 1,000th request of its
        # life: that request is sent again to the next one.
        decoder = write(d, "decoder.py", """
import base64, json, os, sys
n = 0
for line in sys.stdin:
    n += 1
    if n == 1000:
        print("decoder: crashing on purpose", file=sys.stderr, flush=True)
        os._exit(3)
    seq = int(base64.b64decode(json.loads(line)["payload"]))
    sys.stdout.write(json.dumps({"records": [{"fields": {"seq": seq, "d": 2.0}, "tags": {"by": "decoder"}}]}) + "\\n")
    sys.stdout.flush()
""")
        stage = write(d, "stage.py", """
import json, os, sys
n = 0
for line in sys.stdin:
    n += 1
    if n == 1000:
        os.kill(os.getpid(), 9)
    r = json.loads(line)
    r["fields"]["twice"] = r["fields"]["seq"] * 2
    r["fields"]["d_was_double"] = isinstance(r["fields"]["d"], float)
    sys.stdout.write(json.dumps(r) + "\\n")
    sys.stdout.flush()
""")
        cfg, out = file_pipeline(d, http_port, decoder, stage)
        total = 5000
        write(d, "in.txt", "".join(f"{i}\n" for i in range(total)))
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: len(read_ndjson(out)) >= total, 120, f"{total} records")
            dec, stg = "p/in/exec", "p/py"
            assert exits(http_port, dec, "failed") >= 4, exits(http_port, dec, "failed")
            assert exits(http_port, stg, "failed") >= 4, exits(http_port, stg, "failed")
            assert retries(http_port, dec) >= 4 and retries(http_port, stg) >= 4, (retries(http_port, dec), retries(http_port, stg))
            stop(s)
            logs = s.logs()
        records = read_ndjson(out)
        seqs = [r["fields"]["seq"] for r in records]
        assert check_all(seqs, total) == 0, "records doubled"
        assert all(r["fields"]["twice"] == 2 * r["fields"]["seq"] and r["tags"] == {"by": "decoder"}
                   for r in records)
        # A double reaches the stage's command as a double (2.0, not 2).
        assert all(r["fields"]["d_was_double"] is True for r in records)
        assert "decoder: crashing on purpose" in logs, logs
        assert "request(s) in flight, sending them again" in logs, logs
        assert not dead_letters(d)


def test_hanging_child_and_stage_answers():
    with TempDir() as d:
        http_port = free_port()
        marker = os.path.join(d, "hung-once")
        decoder = write(d, "decoder.py", f"""
import base64, json, os, signal, sys
for line in sys.stdin:
    payload = base64.b64decode(json.loads(line)["payload"]).decode()
    if payload == "hang-always" or (payload == "hang-once" and not os.path.exists({marker!r})):
        open({marker!r}, "w").close()
        signal.pause()  # hangs until it is stopped
    if payload == "skip":
        sys.stdout.write('{{"not_mine": true}}\\n')
    elif payload == "bad":
        sys.stdout.write('{{"error": "bad frame"}}\\n')
    else:
        sys.stdout.write(json.dumps({{"records": [{{"fields": {{"v": payload}}, "time": 1700000000}}]}}) + "\\n")
    sys.stdout.flush()
""")
        stage = write(d, "stage.py", """
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    v = r["fields"]["v"]
    if v == "drop":
        answer = []
    elif v == "split":
        answer = [{"fields": {"v": "split-a"}}, {"fields": {"v": "split-b"}, "measurement": "m2"}]
    elif v == "refuse":
        answer = {"error": "refused by the stage"}
    elif v == "typo":
        answer = {"feilds": {}}
    else:
        answer = r
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
""")
        cfg, out = file_pipeline(d, http_port, decoder, stage,
                                 extra_decoder=', timeout = "2s", max_attempts = 2, stop_grace = "100ms"',
                                 before='"json", ')
        lines = ["a", "hang-once", "b", "hang-always", "c", "bad", "skip", "drop", "split", "refuse", "typo", "z"]
        write(d, "in.txt", "".join(x + "\n" for x in lines))
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: any(r["fields"]["v"] == "z" for r in read_ndjson(out)), 60, "the last record")
            assert exits(http_port, "p/in/exec", "timeout") == 3, exits(http_port, "p/in/exec", "timeout")
            stop(s)
        got = [(r["fields"]["v"], r.get("measurement")) for r in read_ndjson(out)]
        assert [v for v, _ in got] == ["a", "hang-once", "b", "c", "split-a", "split-b", "z"], got
        assert ("split-b", "m2") in got
        assert read_ndjson(out)[0]["time"] == "2023-11-14T22:13:20Z"
        reasons = [dl["reason"] for dl in dead_letters(d)]
        assert any("exec: " in x and "failed on it 2 time(s): no answer within timeout (2s)" in x
                   for x in reasons), reasons
        assert any("exec: bad frame" in x for x in reasons), reasons
        assert any("not mine" in x for x in reasons), reasons
        assert any("exec: refused by the stage" in x for x in reasons), reasons
        assert any("unknown member 'feilds'" in x for x in reasons), reasons
        assert len(reasons) == 5, reasons


if __name__ == "__main__":
    main([test_python_examples_from_config, test_children_that_crash_every_1000_lose_nothing,
          test_hanging_child_and_stage_answers])
