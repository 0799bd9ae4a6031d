"""A static board binary runs on its target (under qemu-user when it is an
ARM one: SLUICE_BIN is then a wrapper that execs qemu-<arch>-static).
Run by toolchains/build-static for every preset it builds.

Environment: SLUICE_BIN, SLUICE_SOURCE_DIR, SLUICE_BOARD_CONFIG (the board's
sluice.toml, or empty), SLUICE_EXPECT_MINIMAL=1 for the minimal set (MQTT
without TLS, no kafka, no zmq), SLUICE_KAFKA_MOCK (the build machine's own
sluice_kafka_mock: the mock cluster runs natively, only sluice is emulated)
and SLUICE_REQUIRE_KAFKA=1 to fail rather than skip the Kafka delivery when
the mock or kcat is missing (CI sets it)."""

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from harness import (SOURCE_DIR, KafkaMock, Sluice, TempDir, free_port, http_get, main, read_ndjson, run, skip,
                     wait_for)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from test_mqtt import Mosquitto, publish  # noqa: E402

FIXTURE = os.path.join(SOURCE_DIR, "tests", "fixtures", "readings.ndjson")
MINIMAL = os.environ.get("SLUICE_EXPECT_MINIMAL", "0") == "1"
KAFKA_MOCK = os.environ.get("SLUICE_KAFKA_MOCK", "")
REQUIRE_KAFKA = os.environ.get("SLUICE_REQUIRE_KAFKA", "0") == "1"
KAFKA_RECORDS = 10_000
BOARD_CONFIG = os.environ.get("SLUICE_BOARD_CONFIG", "")


def test_version_lists_the_components():
    r = run(["version"])
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert out.startswith("sluice "), out
    for c in ("source/mqtt", "source/unix", "source/iio", "source/file", "sink/cratedb", "sink/pushgateway",
              "decoder/json"):
        assert c in out, f"{c} missing: {out}"
    for c in ("sink/kafka", "source/zmq"):
        assert (c in out) != MINIMAL, f"{c}: {out}"


def test_relay_from_a_fixture_file():
    with open(FIXTURE) as f:
        expected = [line for line in f if line.strip()]
    with TempDir() as d:
        out = os.path.join(d, "out.ndjson")
        args = ["relay", f"file://{FIXTURE}?decode=json", f"file://{out}", "--data-dir", d, "--http", "off"]
        with Sluice(args, log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: len(read_ndjson(out)) >= len(expected) or s.proc.poll() is not None, 60,
                     "every fixture record relayed")
            assert s.proc.poll() is None, s.logs()
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        records = read_ndjson(out)
        assert len(records) == len(expected), records
        assert records[0]["fields"]["temperature"] == 21.5, records[0]
        assert records[2]["fields"]["on"] is True, records[2]


def test_buffer_and_http_api_start():
    # The SQLite buffer takes records and the HTTP API answers on loopback.
    with TempDir() as d:
        port = free_port()
        args = ["run", "-e", "simulate rate=20 ! file path=" + os.path.join(d, "o.ndjson"), "--data-dir", d,
                "--http", f"127.0.0.1:{port}"]
        with Sluice(args, log_path=os.path.join(d, "log")) as s:
            def ready():
                if s.proc.poll() is not None:
                    raise AssertionError(s.logs())
                try:
                    status, _ = http_get(port, "/health", timeout=2)
                    return status == 200
                except OSError:
                    return False
            wait_for(ready, 60, "/health answers")
            wait_for(lambda: len(read_ndjson(os.path.join(d, "o.ndjson"))) > 0, 60, "simulated records")
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()


def test_host_name_resolves_and_http_client_pushes():
    # "localhost" goes through getaddrinfo: in a static build glibc's built-in
    # files/dns services (src/net/static_name_lookup.cpp), /etc/hosts here.
    pushes = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            pushes.append((self.path, self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with TempDir() as d:
            args = ["relay", f"file://{FIXTURE}?decode=json",
                    f"pushgateway://localhost:{port}/job/board?push_interval=0s&instance=t", "--data-dir", d,
                    "--http", "off"]
            with Sluice(args, log_path=os.path.join(d, "log")) as s:
                wait_for(lambda: any("temperature" in body for _, body in pushes) or s.proc.poll() is not None,
                         60, "a push to localhost")
                assert s.proc.poll() is None, s.logs()
                s.signal(signal.SIGTERM)
                assert s.wait(30) == 0, s.logs()
        path, body = next(p for p in pushes if "temperature" in p[1])
        assert path.startswith("/metrics/job/board"), path
    finally:
        server.shutdown()
        server.server_close()


def test_name_lookup_skips_missing_nss_modules():
    # A static glibc dlopen()s the libnss module of every service in
    # /etc/nsswitch.conf other than files and dns, from the target's glibc; a
    # module that is not there turns "no such host" into "System error".
    # sluice's static builds use the built-in files and dns services only, so
    # neither happens. Needs a private mount namespace for the test's own
    # nsswitch.conf: root and unshare(1), else it is not run.
    import shutil
    import subprocess

    if os.geteuid() != 0 or not shutil.which("unshare") or \
            subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        print("  (not run: needs root and unshare -m)")
        return
    with TempDir() as d:
        nss = os.path.join(d, "nsswitch.conf")
        with open(nss, "w") as f:
            f.write("hosts: files dns sluicetestmissing\n")
        log = os.path.join(d, "log")
        script = ('mount --bind "$0" /etc/nsswitch.conf && exec "$@"')
        args = ["unshare", "-m", "sh", "-c", script, nss, os.environ["SLUICE_BIN"], "relay",
                f"file://{FIXTURE}?decode=json", "pushgateway://sluice-no-such-host.invalid:9091/job/x?push_interval=0s",
                "--data-dir", d, "--http", "off"]
        with open(log, "wb") as logf:
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=logf)
            try:
                wait_for(lambda: "cannot resolve" in open(log, errors="replace").read() or p.poll() is not None,
                         60, "the failed lookup in the log")
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        text = open(log, errors="replace").read()
        assert "cannot resolve sluice-no-such-host.invalid" in text, text
        assert "System error" not in text, text


def test_mqtt_tls_as_built():
    # The minimal set links Paho's plain-TCP client only: an ssl:// server
    # stops start-up as a configuration error naming the reason; the full set
    # takes it.
    pipeline = "mqtt server=ssl://127.0.0.1:8883 topics=a ! stdout"
    if MINIMAL:
        with TempDir() as d:
            r = run(["run", "-e", pipeline, "--data-dir", d, "--http", "off"])
        err = r.stderr.decode() + r.stdout.decode()
        assert r.returncode == 2, err
        assert "SLUICE_MQTT_TLS=OFF" in err, err
    else:
        r = run(["validate", "-e", pipeline])
        assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()


def test_mqtt_receives_as_built():
    # Paho's asynchronous client, with its own receive and send threads, on
    # the target: QoS 1 messages published to a mosquitto on the build
    # machine come out of the (emulated) binary, each once.
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_pub") is None:
        skip("needs mosquitto and mosquitto_pub")
    count = 200
    with TempDir() as d, Mosquitto(d) as broker:
        out = os.path.join(d, "out.ndjson")
        pipeline = (f"mqtt server=tcp://127.0.0.1:{broker.port} topics=board/# qos=1 decode=json "
                    f"! file path={out}")
        with Sluice(["run", "-e", pipeline, "--data-dir", d, "--http", "off"],
                    log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: "subscribed to" in s.logs() or s.proc.poll() is not None, 60, "the subscription")
            assert s.proc.poll() is None, s.logs()
            publish(broker.port, "board/t", [json.dumps({"seq": i}) for i in range(count)])
            wait_for(lambda: len(read_ndjson(out)) >= count or s.proc.poll() is not None, 60,
                     "every message written")
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        seqs = sorted(r["fields"]["seq"] for r in read_ndjson(out))
        assert seqs == list(range(count)), seqs[:20]


def test_kafka_delivers_every_record():
    # The kafka sink's delivery reports are what move its cursor: a target
    # where they get lost (a 32-bit one, say) retries the same batch forever
    # and this times out instead of exiting.
    if MINIMAL:
        return
    if not KAFKA_MOCK or not os.path.exists(KAFKA_MOCK) or shutil.which("kcat") is None:
        why = "needs SLUICE_KAFKA_MOCK (the host's sluice_kafka_mock) and kcat"
        if REQUIRE_KAFKA:
            raise AssertionError(why)
        print(f"  (not run: {why})")
        return
    topic = "readings"
    with TempDir() as d, KafkaMock(KAFKA_MOCK) as mock:
        mock.command(f"create {topic} 4")
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f'[gateway]\nid = "board"\n[pipelines.p]\nbatch_max_records = 1000\n'
                    f'[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n'
                    f'[[pipelines.p.sinks]]\ntype = "kafka"\nid = "k"\nbrokers = ["{mock.bootstrap}"]\n'
                    f'topic = "{topic}"\nkey = "{{node}}"\nbatch_size = 1000\nretry_initial = "50ms"\n'
                    f'retry_max = "1s"\n')
        lines = "".join(json.dumps({"node": f"n{i % 50}", "seq": i}) + "\n" for i in range(KAFKA_RECORDS))
        start = time.monotonic()
        with Sluice(["run", "-c", cfg, "--data-dir", d, "--http", "off"], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write(lines.encode())
            s.proc.stdin.close()
            # At the end of its input sluice delivers everything buffered,
            # then exits 0; undelivered rows keep it retrying until the timeout.
            try:
                rc = s.wait(120)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"sluice did not deliver and exit: {s.logs()[-3000:]}") from None
            assert rc == 0, s.logs()[-3000:]
        took = time.monotonic() - start
        p = subprocess.run(["kcat", "-C", "-b", mock.bootstrap, "-t", topic, "-e", "-q", "-f", "%s\n"],
                           capture_output=True, timeout=120, text=True)
        assert p.returncode == 0, p.stderr
        seqs = [json.loads(x)["fields"]["seq"] for x in p.stdout.splitlines() if x]
        missing = set(range(KAFKA_RECORDS)) - set(seqs)
        assert not missing, f"{len(missing)} of {KAFKA_RECORDS} records missing in kafka, e.g. {sorted(missing)[:10]}"
        # The buffer, read by the same (emulated) binary: the sink's cursor
        # is at the last id, nothing pending.
        stats = run(["buffer", "stats", "--data-dir", d])
        out = stats.stdout.decode()
        assert stats.returncode == 0, stats.stderr.decode()
        ids = re.search(r"ids (\d+)\.\.(\d+)", out)
        sink = re.search(r"sink k\s+cursor (\d+), pending (\d+) rows", out)
        assert ids and sink, out
        assert int(sink.group(1)) == int(ids.group(2)) and int(sink.group(2)) == 0, out
        assert int(ids.group(2)) >= KAFKA_RECORDS, out
        print(f"  {KAFKA_RECORDS} records → kafka mock in {took:.1f}s, {len(seqs)} read back "
              f"({len(seqs) - len(set(seqs))} duplicates), cursor {sink.group(1)} = last id", flush=True)


def test_board_config_validates():
    if not BOARD_CONFIG:
        return
    r = run(["validate", "-c", BOARD_CONFIG])
    assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()


if __name__ == "__main__":
    main([test_version_lists_the_components, test_relay_from_a_fixture_file, test_buffer_and_http_api_start,
          test_host_name_resolves_and_http_client_pushes, test_name_lookup_skips_missing_nss_modules,
          test_mqtt_tls_as_built, test_mqtt_receives_as_built, test_kafka_delivers_every_record, test_board_config_validates])
