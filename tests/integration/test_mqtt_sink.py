"""The mqtt sink against a real mosquitto, read back with mosquitto_sub:
records on topics made from them with the status topic, MQTT 5 at QoS 2
with user properties and line protocol, records a broker cannot take as
dead letters, the broker down for 30 s mid-run, and sluice killed with
SIGKILL mid-run and restarted."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import (Sluice, TempDir, check_all, dead_letters, free_port, main,  # noqa: E402
                     run, sent, sink_outage, sink_sigkill, wait_for)  # noqa: E402
from test_mqtt import Mosquitto  # noqa: E402

OUTAGE_S = 30.0


def record_line(seq):
    return json.dumps({"gateway": "gw1", "node": f"n{seq % 5}", "seq": seq}) + "\n"


def write_config(d, broker_port, http_port, source, extra=""):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:{http_port}"\n'
                f'[pipelines.p]\nbatch_max_records = 1000\nbatch_max_delay = "20ms"\n'
                f'{source}'
                f'[[pipelines.p.sinks]]\ntype = "mqtt"\nid = "m"\nserver = "tcp://127.0.0.1:{broker_port}"\n'
                f'topic = "plant/{{gateway}}/{{node}}"\nclient_id = "sluice-test-sink"\nbatch_size = 1000\n'
                f'retry_initial = "50ms"\nretry_max = "1s"\n{extra}')
    return cfg


STDIN_SOURCE = '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n'




class Reader:
    """mosquitto_sub in the background writing "topic payload" lines to a
    file, on a persistent session (client id `reader`) so what is published
    while it reconnects waits for it at the broker."""

    def __init__(self, d, port, topic="plant/#", qos=1, args=(), fmt="%t %p"):
        self.path = os.path.join(d, f"reader-{port}.out")
        self.out = open(self.path, "wb")
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                                      "-q", str(qos), "-c", "-i", "reader", "-F", fmt, "--nodelay"] + list(args),
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def lines(self):
        self.out.flush()
        with open(self.path, "rb") as f:
            data = f.read()
        return [line.decode(errors="replace") for line in data.split(b"\n")[:-1]]

    def seqs(self):
        out = []
        for line in self.lines():
            _, _, payload = line.partition(" ")
            try:
                out.append(json.loads(payload)["fields"]["seq"])
            except (ValueError, KeyError, TypeError):
                pass
        return out

    def wait_subscribed(self, broker):
        # The broker logs the subscription; then nothing published is missed.
        wait_for(lambda: "reader" in broker.logs() and "plant/#" in broker.logs(), 10, "mosquitto_sub to subscribe")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()



def retained(port, topic):
    p = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1", "-W", "5"],
                       capture_output=True, timeout=30, text=True)
    return p.stdout.strip()


def broker(d, **kw):
    # Verbose logging names each subscription (Reader.wait_subscribed); no
    # limit on what waits for an offline persistent session.
    # Nagle's delay off, or QoS 2 to the reader crawls at one round trip per 40 ms.
    extra = ["log_type all", "max_queued_messages 0",
             "set_tcp_nodelay true"] + list(kw.pop("extra", []))
    return Mosquitto(d, extra=extra, **kw)


def test_topics_from_records_status_topic_and_exit_after_delivery():
    total = 20_000
    with TempDir() as d, broker(d) as b, Reader(d, b.port) as reader:
        reader.wait_subscribed(b)
        port = free_port()
        cfg = write_config(d, b.port, port, STDIN_SOURCE, 'status_topic = "gw/edge-7/status"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write("".join(record_line(i) for i in range(total // 2)).encode())
            s.proc.stdin.flush()
            wait_for(lambda: sent(port, "p/m") >= total // 2, 60, "the first half sent")
            assert retained(b.port, "gw/edge-7/status") == "online"
            s.proc.stdin.write("".join(record_line(i) for i in range(total // 2, total)).encode())
            s.proc.stdin.close()
            start = time.monotonic()
            # At end of input sluice delivers everything buffered, then exits.
            assert s.wait(120) == 0, s.logs()[-3000:]
            print(f"  {total // 2} records delivered and exit in {time.monotonic() - start:.1f}s", flush=True)
        wait_for(lambda: len(set(reader.seqs())) >= total, 30, "every record at the reader")
        dups = check_all(reader.seqs(), total)
        assert dups == 0, f"{dups} duplicates without any failure"
        for line in reader.lines()[:200]:
            topic, _, payload = line.partition(" ")
            fields = json.loads(payload)["fields"]
            assert topic == f"plant/gw1/{fields['node']}", line
        assert retained(b.port, "gw/edge-7/status") == "offline"


def test_mqtt5_qos2_influx_with_user_properties():
    lines = [f"temp,node=n{i % 3},site=north value={i}.5,seq={i}i {1_700_000_000_000_000_000 + i}" for i in range(300)]
    # The reader subscribes at QoS 1 (mosquitto_sub at QoS 2 stalled now and
    # then on a busy host); the broker's log shows the sink's QoS 2 publishes.
    with TempDir() as d, broker(d) as b, Reader(d, b.port, qos=1, args=["-V", "5"], fmt="%t|%q|%P|%p") as reader:
        reader.wait_subscribed(b)
        port = free_port()
        source = '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["influx"]\n'
        cfg = write_config(d, b.port, port, source, 'protocol = "5"\nqos = 2\nformat = "influx"\n')
        with open(cfg) as f:
            text = f.read().replace("plant/{gateway}/{node}", "plant/{site}/{node}/{measurement}")
        with open(cfg, "w") as f:
            f.write(text)
        p = run(["run", "-c", cfg, "--data-dir", d], input="\n".join(lines).encode() + b"\n", timeout=60)
        assert p.returncode == 0, p.stderr.decode()[-3000:]
        wait_for(lambda: len(reader.lines()) >= len(lines), 30, "every message at the reader")
        got = reader.lines()
        assert len(got) == len(lines), len(got)
        for i, line in enumerate(got):
            topic, qos, props, payload = line.split("|", 3)
            assert topic == f"plant/north/n{i % 3}/temp", line
            assert qos == "1", line
            assert "node:n" in props and "site:north" in props, line
            assert payload == lines[i], (payload, lines[i])
        log = b.logs()
        assert log.count("Received PUBLISH from sluice-test-sink (d0, q2") >= len(lines), log[-2000:]
        assert log.count("Received PUBREL from sluice-test-sink") >= len(lines), log[-2000:]


def test_records_without_the_topics_names_are_dead_letters():
    with TempDir() as d, broker(d) as b, Reader(d, b.port) as reader:
        reader.wait_subscribed(b)
        port = free_port()
        good = [record_line(i) for i in range(10)]
        nameless = json.dumps({"gateway": "gw1", "seq": 99}) + "\n"  # no node: no topic
        wildcard = json.dumps({"gateway": "gw1", "node": "a/+", "seq": 98}) + "\n"
        cfg = write_config(d, b.port, port, STDIN_SOURCE)
        p = run(["run", "-c", cfg, "--data-dir", d], input="".join(good[:5] + [nameless, wildcard] + good[5:]).encode(),
                timeout=60)
        assert p.returncode == 0, p.stderr.decode()[-3000:]
        wait_for(lambda: len(reader.seqs()) >= 10, 30, "the good records")
        assert sorted(reader.seqs()) == list(range(10))
        text = json.dumps(dead_letters(d))
        assert "has no 'node'" in text and "'+', '#' or NUL" in text, text


def test_bridge_example_rewrites_topics():
    """config/examples/mqtt-bridge.toml, with both ends on one local broker."""
    example = os.path.join(os.environ.get("SLUICE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                           "config", "examples", "mqtt-bridge.toml")
    with TempDir() as d, broker(d) as b, Reader(d, b.port, topic="plant/gw-1/+/+", args=["-V", "5"],
                                                fmt="%t|%P|%p") as reader:
        wait_for(lambda: "plant/gw-1/+/+" in b.logs(), 10, "mosquitto_sub to subscribe")
        with open(example) as f:
            text = f.read()
        text = (text.replace("tcp://127.0.0.1:1883", f"tcp://127.0.0.1:{b.port}")
                .replace("mqtts://mqtt.example.com", f"tcp://127.0.0.1:{b.port}")
                .replace('data_dir = "/var/lib/sluice"', f'data_dir = "{d}"'))
        cfg = os.path.join(d, "bridge.toml")
        with open(cfg, "w") as f:
            f.write(text + f'\n[http]\nlisten = "127.0.0.1:{free_port()}"\n')
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: "bridge/cloud: connected" in s.logs() and "bridge/plant: connected" in s.logs(), 30,
                     "both ends connected")
            for node, value in (("n1", "21.5"), ("n2", '{"temp": 19}')):
                p = subprocess.run(["mosquitto_pub", "-p", str(b.port), "-t", f"sensors/{node}/temp", "-q", "1",
                                    "-m", value], capture_output=True, timeout=30)
                assert p.returncode == 0, p.stderr
            wait_for(lambda: len(reader.lines()) >= 2, 30, "the bridged messages")
        got = sorted(reader.lines())
        assert got[0].startswith("plant/gw-1/n1/temp|"), got
        assert got[1].startswith("plant/gw-1/n2/temp|"), got
        assert "node:n1" in got[0] and "sensor:temp" in got[0], got
        assert json.loads(got[1].split("|", 2)[2])["fields"]["temp"] == 19, got


def test_broker_down_30s_loses_nothing():
    total = 20_000
    # Persistence for the reader's session across the stop, saved at the
    # clean stop only: saving on every change slowed the broker to a crawl.
    saved_at_stop = ["autosave_on_changes false", "autosave_interval 3600"]
    with TempDir() as d, broker(d, persistence=True, extra=saved_at_stop) as b, Reader(d, b.port) as reader:
        reader.wait_subscribed(b)
        port = free_port()
        cfg = write_config(d, b.port, port, STDIN_SOURCE, 'batch_timeout = "5s"\n')

        def stop_broker():
            # A clean stop: mosquitto saves what it holds for the reader's session.
            b.proc.send_signal(signal.SIGTERM)
            b.proc.wait()

        logs = sink_outage(d, cfg, port, "p/m", [record_line(i) for i in range(total)], stop_broker, b.start,
                           OUTAGE_S, "the broker")
        reconnects = logs.count("p/m: connected to")
        wait_for(lambda: len(set(reader.seqs())) >= total, 60, "every record at the reader", interval=0.2)
        dups = check_all(reader.seqs(), total)
        print(f"  outage {OUTAGE_S:.0f}s: received {len(reader.seqs())}, duplicates {dups}, "
              f"connects {reconnects}", flush=True)
        assert reconnects >= 2


def test_sigkill_and_restart_loses_nothing():
    # A restart sends again what was in flight: the batch whose
    # acknowledgements had not all come, and one whose cursor move the kill
    # lost, each up to batch_size (1000) grown batch_growth (4) times.
    bound = 2 * 1000 * 4
    with TempDir() as d, broker(d) as b, Reader(d, b.port) as reader:
        reader.wait_subscribed(b)
        dups = sink_sigkill(d, lambda port, source: write_config(d, b.port, port, source), "p/m", 60_000,
                            reader.seqs)
        assert dups <= bound, f"{dups} duplicates > {bound}"


if __name__ == "__main__":
    for tool in ("mosquitto", "mosquitto_sub"):
        if shutil.which(tool) is None:
            print(f"skipped: {tool} is not installed (Debian: mosquitto, mosquitto-clients)", flush=True)
            sys.exit(77)
    main([test_topics_from_records_status_topic_and_exit_after_delivery, test_mqtt5_qos2_influx_with_user_properties,
          test_records_without_the_topics_names_are_dead_letters, test_bridge_example_rewrites_topics,
          test_broker_down_30s_loses_nothing,
          test_sigkill_and_restart_loses_nothing])
