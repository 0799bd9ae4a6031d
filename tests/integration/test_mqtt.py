"""The mqtt source against a real mosquitto: mixed payloads on several
topics, QoS 1 messages sent while sluice was stopped, a broker killed and
restarted under a publisher, and topology tags from the topic."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import (Sluice, TempDir, dead_letters, free_port, http_get, main, metric_value, read_ndjson, run,  # noqa: E402
                     source_up, wait_for)  # noqa: E402


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Mosquitto:
    """A mosquitto on 127.0.0.1 that is always killed at the end."""

    def __init__(self, d, port=None, persistence=False, extra=(), name="mosquitto"):
        self.port = port or free_port()
        self.conf = os.path.join(d, f"{name}.conf")
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 f"persistence {'true' if persistence else 'false'}"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who cannot read our temp dir
        if persistence:
            # Save on every change: the test kills the broker with SIGKILL.
            lines += [f"persistence_location {d}/", f"persistence_file {name}.db", "autosave_on_changes true",
                      "autosave_interval 1"]
        lines += list(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(d, f"{name}.log")
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, 10, "mosquitto to listen")
        assert self.proc.poll() is None, self.logs()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.log.close()

    def logs(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def publish(port, topic, lines, qos=1):
    """Publishes each line as one message with mosquitto_pub."""
    p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos), "-l"],
                       input="\n".join(lines).encode() + b"\n", capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr


def write_config(d, port, source_extra, out, http_port=None, name="config.toml", ids=("broker",)):
    """One pipeline: an mqtt source per id (each with `source_extra`, in
    which {id} names the source) into a file sink."""
    path = os.path.join(d, name)
    sources = "".join(f"""
[[pipelines.main.sources]]
type = "mqtt"
id = "{i}"
server = "tcp://127.0.0.1:{port}"
reconnect_initial = "100ms"
reconnect_max = "1s"
{source_extra.replace("{id}", i)}
""" for i in ids)
    with open(path, "w") as f:
        f.write(f"""
[gateway]
data_dir = "{d}"

[http]
listen = "{f'127.0.0.1:{http_port}' if http_port else 'off'}"

[pipelines.main]
batch_max_delay = "20ms"
{sources}
[[pipelines.main.sinks]]
type = "file"
path = "{out}"
fsync = false
""")
    return path


def connected(s):
    return "connected to tcp://" in s.logs()


def test_json_influx_csv_on_three_topics():
    with TempDir() as d, Mosquitto(d) as broker:
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, broker.port, """
topics = ["site/json", "site/influx", "site/csv"]
decode = ["json", "influx", { type = "csv", columns = ["device", "temp"] }]
""", out)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: connected(s), 20, "sluice to connect")
            publish(broker.port, "site/json", ['{"device":"j1","temp":21.5}'])
            publish(broker.port, "site/influx", ["weather,device=i1 temp=22.5"])
            publish(broker.port, "site/csv", ["c1,23.5"])
            wait_for(lambda: len(read_ndjson(out)) == 3, 20, "three records")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        by_origin = {r["origin"]: r for r in read_ndjson(out)}
        assert set(by_origin) == {"site/json", "site/influx", "site/csv"}, by_origin
        assert by_origin["site/json"]["fields"] == {"device": "j1", "temp": 21.5}, by_origin["site/json"]
        influx = by_origin["site/influx"]
        assert influx["measurement"] == "weather" and influx["tags"]["device"] == "i1", influx
        assert influx["fields"]["temp"] == 22.5, influx
        assert by_origin["site/csv"]["fields"]["temp"] == 23.5, by_origin["site/csv"]
        assert by_origin["site/csv"]["fields"]["device"] == "c1", by_origin["site/csv"]


def test_qos1_messages_sent_while_stopped_arrive_after_restart():
    with TempDir() as d, Mosquitto(d) as broker:
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, broker.port, """
topics = ["plant/+/seq"]
qos = 1
client_id = "sluice-it-persistent"
""", out)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log1")) as s:
            wait_for(lambda: connected(s), 20, "first connect")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
            assert "disconnected from" in s.logs(), s.logs()
        publish(broker.port, "plant/a/seq", [json.dumps({"seq": i}) for i in range(50)], qos=1)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2")) as s:
            wait_for(lambda: len(read_ndjson(out)) >= 50, 20, "the 50 messages queued by the broker")
            # The backlog comes right after CONNACK, through the message
            # callback, and may be stored before the connect is logged.
            wait_for(lambda: "session resumed" in s.logs(), 20, "the resumed session logged")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        assert sorted(r["fields"]["seq"] for r in read_ndjson(out)) == list(range(50))


def test_two_sources_with_small_windows_share_paho():
    # Two mqtt sources in one gateway share Paho's receive thread; with a
    # window of 5 each waits for commits in that thread again and again.
    # Every message of both arrives, once.
    count = 2000
    # Queue all for a slow consumer (ThreadSanitizer): mosquitto keeps 1,000 per client by default.
    with TempDir() as d, Mosquitto(d, extra=["max_queued_messages 0"]) as broker:
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, broker.port, """
topics = ["two/{id}"]
qos = 1
client_id = "sluice-it-two-{id}"
max_unsaved_messages = 5
decode = ["json"]
""", out, ids=("a", "b"))
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: s.logs().count("connected to tcp://") >= 2, 20, "both sources to connect")
            pubs = [threading.Thread(target=publish, args=(broker.port, f"two/{name}",
                                                           [json.dumps({"src": name, "seq": i}) for i in range(count)]))
                    for name in ("a", "b")]
            for t in pubs:
                t.start()
            for t in pubs:
                t.join()
            wait_for(lambda: len(read_ndjson(out)) >= 2 * count, 60, "every message of both sources")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        records = read_ndjson(out)
        for name in ("a", "b"):
            seqs = [r["fields"]["seq"] for r in records if r["fields"]["src"] == name]
            assert sorted(seqs) == list(range(count)), (name, len(seqs))
            assert seqs == sorted(seqs), f"{name}: out of order"


def test_shared_subscription_over_three_connections():
    # connections = 3: three sessions on "$share/<group>/<filter>"; every
    # message arrives once, including those the broker queued in the three
    # sessions while sluice was stopped, and the source is up once all three are.
    count = 600
    with TempDir() as d, Mosquitto(d, extra=["max_queued_messages 0"]) as broker:
        out = os.path.join(d, "out.ndjson")
        http_port = free_port()
        cfg = write_config(d, broker.port, """
topics = ["shared/+"]
qos = 1
client_id = "sluice-it-shared"
connections = 3
max_unsaved_messages = 6
decode = ["json"]
""", out, http_port=http_port)

        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log1")) as s:
            wait_for(lambda: s.logs().count("connected to tcp://") >= 3, 20, "three connections")
            logs = s.logs()
            for i in (1, 2, 3):
                assert f"as 'sluice-it-shared-{i}'" in logs, logs
            assert "subscribed to $share/sluice-it-shared/shared/+" in logs, logs
            wait_for(lambda: source_up(http_port, "main/broker") == 1, 10,
                     "sluice_source_up 1 with all three connected")
            publish(broker.port, "shared/a", [json.dumps({"seq": i}) for i in range(count)])
            wait_for(lambda: len(read_ndjson(out)) >= count, 60, "every message")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        publish(broker.port, "shared/b", [json.dumps({"seq": count + i}) for i in range(count // 2)])
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2")) as s:
            wait_for(lambda: len(read_ndjson(out)) >= count + count // 2, 60, "the messages queued while stopped")
            wait_for(lambda: s.logs().count("session resumed") >= 3, 20, "three resumed sessions")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        seqs = sorted(r["fields"]["seq"] for r in read_ndjson(out))
        assert seqs == list(range(count + count // 2)), len(seqs)


def retained(port, topic):
    """The retained message on `topic` ("" if none within 5 s)."""
    p = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1", "-W", "5"],
                       capture_output=True, timeout=30)
    return p.stdout.decode().strip()


def test_status_topic_online_offline_and_last_will():
    # Retained "online" once connected, "offline" published on stop, and
    # the broker's last will says "offline" after a kill -9.
    with TempDir() as d, Mosquitto(d) as broker:
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, broker.port, """
topics = ["x"]
status_topic = "gw/status"
keepalive = "1s"
""", out)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log1")) as s:
            wait_for(lambda: connected(s), 20, "sluice to connect")
            wait_for(lambda: retained(broker.port, "gw/status") == "online", 20, "online")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        assert retained(broker.port, "gw/status") == "offline"
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2")) as s:
            wait_for(lambda: retained(broker.port, "gw/status") == "online", 20, "online again")
            s.signal(signal.SIGKILL)
            s.wait(20)
        # The connection dropped without a DISCONNECT: the broker sends the will.
        wait_for(lambda: retained(broker.port, "gw/status") == "offline", 20, "the last will")


def import_paho():
    try:
        import paho.mqtt.client as paho
    except ImportError:
        # Debian's python3-paho-mqtt, when the interpreter is not Debian's own (pyenv, venv).
        sys.path.append("/usr/lib/python3/dist-packages")
        import paho.mqtt.client as paho
    return paho


def test_broker_restart_loses_no_qos1_message():
    paho = import_paho()

    with TempDir() as d:
        broker = Mosquitto(d, persistence=True)
        out = os.path.join(d, "out.ndjson")
        http_port = free_port()
        cfg = write_config(d, broker.port, """
topics = ["line/seq"]
qos = 1
client_id = "sluice-it-restart"
""", out, http_port=http_port)
        pub = paho.Client(client_id="it-publisher", clean_session=False)
        pub.max_queued_messages_set(0)
        pub.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        # Acks by message id: a message published while the broker is down is
        # queued by paho (its MessageInfo reports "not connected") and sent
        # after the reconnect, so is_published() cannot be used for it.
        acked = set()
        pub.on_publish = lambda client, userdata, mid: acked.add(mid)
        total = 2000
        infos = []
        stop = threading.Event()
        try:
            with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
                wait_for(lambda: connected(s), 20, "sluice to connect")
                pub.connect("127.0.0.1", broker.port)
                pub.loop_start()

                def publisher():
                    for i in range(total):
                        if stop.is_set():
                            return
                        infos.append(pub.publish("line/seq", json.dumps({"seq": i}), qos=1))
                        # A rate limit (about 500/s) so the broker dies mid-stream; not a wait for a condition.
                        if stop.wait(0.002):
                            return

                t = threading.Thread(target=publisher, daemon=True)
                t.start()
                seen = lambda: {r["fields"]["seq"] for r in read_ndjson(out)}  # noqa: E731
                wait_for(lambda: len(seen()) >= 300, 30, "the first messages")
                broker.kill()
                broker.start()
                restarted = time.monotonic()

                def reconnected():
                    try:
                        _, body = http_get(http_port, "/metrics")
                    except OSError:
                        return False
                    v = metric_value(body, "sluice_component_reconnects_total", component="main/broker")
                    return v is not None and v >= 1

                wait_for(reconnected, 10, "sluice to reconnect to the restarted broker")
                took = time.monotonic() - restarted
                t.join(timeout=120)
                wait_for(lambda: all(i.mid in acked for i in infos), 60, "the publisher's QoS 1 acks")
                wait_for(lambda: len(seen()) == total, 60, "every number")
                assert "connection to tcp://" in s.logs() and "lost" in s.logs(), s.logs()
                print(f"  sluice resumed {took:.2f}s after the broker restart; {total} messages, "
                      f"{len(read_ndjson(out))} records (duplicates allowed)")
                s.signal(signal.SIGTERM)
                assert s.wait(20) == 0, s.logs()
            assert seen() == set(range(total))
        finally:
            stop.set()
            pub.loop_stop()
            broker.kill()


def test_topology_tags_from_topic():
    with TempDir() as d, Mosquitto(d) as broker:
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, broker.port, """
topics = ["mqttkit-1/#"]
topology = "wan"
""", out)
        v = run(["validate", "-c", cfg])
        assert v.returncode == 0, v.stderr
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: connected(s), 20, "sluice to connect")
            publish(broker.port, "mqttkit-1/testdrive/area-42/node-1/data.json", ['{"temperature":42.84}'])
            wait_for(lambda: read_ndjson(out), 20, "the record")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        r = read_ndjson(out)[0]
        assert r["tags"] == {"realm": "mqttkit-1", "network": "testdrive", "gateway": "area-42", "node": "node-1"}, r
        assert r["measurement"] == "sensors", r
        assert r["fields"]["temperature"] == 42.84, r



def test_huge_topics_are_dead_letters_and_never_crash():
    """A peer chooses its topic: a 64 KiB one (MQTT's longest is 65,535
    bytes) through pattern and regex topologies is cut at the source, stored
    as a dead letter with the reason and counted; the messages before and
    after it arrive. With the origin limit raised, the regex (the one that
    overflowed std::regex's recursion) matches the whole topic."""
    with TempDir() as d, Mosquitto(d) as broker:
        out = os.path.join(d, "out.ndjson")
        http_port = free_port()
        cfg = write_config(d, broker.port, """
topics = ["pat/#"]
topology = "pattern"
topology_pattern = "pat/{node}/#"

[[pipelines.main.sources]]
type = "mqtt"
id = "re"
server = "tcp://127.0.0.1:%d"
topics = ["re/#"]
topology = "regex"
topology_regex = "re/(?P<node>[^/]+)/(?P<rest>.+)"

[[pipelines.main.sources]]
type = "mqtt"
id = "big"
server = "tcp://127.0.0.1:%d"
topics = ["big/#"]
topology = "regex"
topology_regex = "big/(?P<node>[^/]+)/(?P<rest>.+)"
max_origin_bytes = "1MiB"
""" % (broker.port, broker.port), out, http_port=http_port)
        long_tail = "x" * 32000 + "/" + "y" * 32000
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: s.logs().count("connected to tcp://") >= 3, 20, "three sources to connect")
            for prefix in ("pat", "re", "big"):
                publish(broker.port, f"{prefix}/n1/data", ['{"seq": 1}'])
                publish(broker.port, f"{prefix}/n2/{long_tail}", ['{"seq": 2}'])
                publish(broker.port, f"{prefix}/n3/data", ['{"seq": 3}'])
            wait_for(lambda: len(read_ndjson(out)) >= 7, 30, "the ordinary messages and the big-origin one")
            errors = 0
            for src in ("broker", "re"):  # the pattern source is write_config's "broker"
                errors += metric_value(http_get(http_port, "/metrics")[1], "sluice_component_errors_total",
                                       component=f"main/{src}")
            assert errors == 2, errors
            assert s.proc.poll() is None, s.logs()
            assert "longer than max_origin_bytes" in s.logs(), s.logs()[-2000:]
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()[-2000:]
        recs = read_ndjson(out)
        by_node = sorted((r["tags"].get("node"), r["fields"]["seq"]) for r in recs)
        assert by_node == [("n1", 1), ("n1", 1), ("n1", 1), ("n2", 2), ("n3", 3), ("n3", 3), ("n3", 3)], by_node
        big = [r for r in recs if r["tags"].get("node") == "n2"][0]
        assert big["tags"]["rest"] == long_tail, len(big["tags"].get("rest", ""))
        dead = dead_letters(d)
        assert len(dead) == 2, dead
        reasons = sorted(x["reason"] for x in dead)
        assert [f"origin of {len(p) + 4 + len(long_tail)} bytes is longer than max_origin_bytes (1024)" in r
                for p, r in zip(("pat", "re"), reversed(reasons))] == [True, True], reasons
        for x in dead:
            assert len(x["origin"]) == 1024, len(x["origin"])
            assert json.loads(x["payload"]) == {"seq": 2}, x["payload"]
        print(f"  2 topics of about 64,000 bytes: 2 dead letters, 2 source errors; 1 matched by RE2 with the limit raised")


if __name__ == "__main__":
    main([
        test_huge_topics_are_dead_letters_and_never_crash,
        test_json_influx_csv_on_three_topics,
        test_qos1_messages_sent_while_stopped_arrive_after_restart,
        test_broker_restart_loses_no_qos1_message,
        test_two_sources_with_small_windows_share_paho,
        test_shared_subscription_over_three_connections,
        test_status_topic_online_offline_and_last_will,
        test_topology_tags_from_topic,
    ])
