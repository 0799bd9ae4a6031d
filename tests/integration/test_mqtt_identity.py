"""The mqtt source's client id against a real mosquitto: two instances with
the same explicit client id do not flap (one clear log line names the
takeover, it is counted, and the instance backs off); two instances with the
default id on one machine (different data directories) get different ids and
both receive everything. The source-up gauge, /ready and
`validate --healthcheck` follow the broker going away and coming back."""

import os
import re
import shutil
import signal
import sys
import time
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
sys.path.insert(0, os.path.dirname(__file__))

from harness import (Sluice, source_up, TempDir, free_port, http_get, main, metric_value, read_ndjson, run, skip,  # noqa: E402
                     wait_for)  # noqa: E402
from test_mqtt import Mosquitto, publish, write_config  # noqa: E402

OBSERVE_S = 10  # how long the two instances are watched side by side


def need_mosquitto():
    if not shutil.which("mosquitto") or not shutil.which("mosquitto_pub"):
        skip("mosquitto / mosquitto_pub not installed")


def instance_config(d, name, port, extra, http_port=None):
    data = os.path.join(d, name)
    os.makedirs(data)
    out = os.path.join(data, "out.ndjson")
    return write_config(data, port, extra, out, http_port=http_port), out


def connects(s):
    return len(re.findall(r"connected to tcp://", s.logs()))


def takeovers(http_port):
    try:
        _, body = http_get(http_port, "/metrics")
    except OSError:
        return None
    return metric_value(body, "sluice_mqtt_session_takeovers_total", component="main/broker")


def test_same_client_id_is_named_and_does_not_flap():
    need_mosquitto()
    with TempDir() as d, Mosquitto(d) as broker:
        extra = 'topics = ["twin/#"]\nclient_id = "sluice-it-twin"\n'
        http_a, http_b = free_port(), free_port()
        cfg_a, _ = instance_config(d, "a", broker.port, extra, http_a)
        cfg_b, _ = instance_config(d, "b", broker.port, extra, http_b)
        with Sluice(["run", "-c", cfg_a], log_path=os.path.join(d, "log-a")) as a:
            wait_for(lambda: connects(a) >= 1, 20, "the first instance to connect")
            # The first instance holds its session longer than a "short
            # session" (3 s), as a service does when a second copy starts.
            held_since = time.monotonic()
            wait_for(lambda: time.monotonic() - held_since > 3.5, 10, "the first session to settle")
            with Sluice(["run", "-c", cfg_b], log_path=os.path.join(d, "log-b")) as b:
                wait_for(lambda: connects(b) >= 1, 20, "the second instance to connect")
                said = lambda: "took the session over" in a.logs() + b.logs()  # noqa: E731
                wait_for(said, 20, "a log line naming the takeover")
                # Watch both side by side: each connect of one kicks the other
                # out, so few connects mean no flapping.
                before_a, before_b = connects(a), connects(b)
                time.sleep(OBSERVE_S)  # an observation period, not a wait for a condition
                more_a, more_b = connects(a) - before_a, connects(b) - before_b
                logs = a.logs() + b.logs()
                line = next(x for x in logs.splitlines() if "took the session over" in x)
                print(f"  in {OBSERVE_S} s: {more_a} + {more_b} connects; {line.strip()}")
                assert more_a <= 4 and more_b <= 4, (more_a, more_b, logs[-3000:])
                assert "sluice-it-twin" in line and "set client_id" in line, line
                # One line per episode, not one per flap.
                assert logs.count("took the session over") <= 2, logs[-3000:]
                counted = (takeovers(http_a) or 0) + (takeovers(http_b) or 0)
                assert counted >= 1, counted
                assert "took the session over" in b.logs(), b.logs()[-3000:]
                b.signal(signal.SIGTERM)
                assert b.wait(20) == 0, b.logs()
            a.signal(signal.SIGTERM)
            assert a.wait(20) == 0, a.logs()


def test_default_ids_differ_per_data_dir():
    need_mosquitto()
    with TempDir() as d, Mosquitto(d) as broker:
        extra = 'topics = ["pair/#"]\n'
        cfg_a, out_a = instance_config(d, "a", broker.port, extra)
        cfg_b, out_b = instance_config(d, "b", broker.port, extra)
        with Sluice(["run", "-c", cfg_a], log_path=os.path.join(d, "log-a")) as a, \
                Sluice(["run", "-c", cfg_b], log_path=os.path.join(d, "log-b")) as b:
            wait_for(lambda: connects(a) >= 1 and connects(b) >= 1, 20, "both instances to connect")
            id_of = lambda s: re.search(r" as '([^']+)'", s.logs()).group(1)  # noqa: E731
            id_a, id_b = id_of(a), id_of(b)
            print(f"  default ids: {id_a} and {id_b}")
            assert id_a != id_b, (id_a, id_b)
            assert re.fullmatch(r"sluice-.+-[0-9a-f]{12}-[0-9a-f]{4}-main-broker", id_a), id_a
            publish(broker.port, "pair/x", [f'{{"n":{i}}}' for i in range(20)])
            wait_for(lambda: len(read_ndjson(out_a)) == 20 and len(read_ndjson(out_b)) == 20, 20,
                     "both instances to receive every message")
            assert connects(a) == 1 and connects(b) == 1, (a.logs(), b.logs())
            for s in (a, b):
                s.signal(signal.SIGTERM)
                assert s.wait(20) == 0, s.logs()


def test_source_up_follows_the_broker():
    need_mosquitto()
    with TempDir() as d:
        port = free_port()
        http_port = free_port()
        cfg, _ = instance_config(d, "up", port, 'topics = ["up/#"]\nrequired = true\n', http_port)
        hc = run(["validate", "--healthcheck", cfg])
        assert hc.returncode == 3 and "source main/broker: UNREACHABLE" in hc.stdout.decode(), hc.stdout.decode()

        def ready():
            try:
                return http_get(http_port, "/ready")
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()
            except OSError:
                return 0, ""

        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: source_up(http_port, "main/broker") == 0, 20, "sluice_source_up 0 with no broker")
            # The HTTP server answers while the gateway is still starting (slow under ASan):
            # wait for /ready to name the source rather than read it once.
            wait_for(lambda: "main/broker: source down for" in ready()[1], 20,
                     "/ready naming the source that is down")
            status, body = ready()
            assert status == 503 and "main/broker: source down for" in body, (status, body)
            with Mosquitto(d, port=port):
                wait_for(lambda: source_up(http_port, "main/broker") == 1, 30,
                         "sluice_source_up 1 once the broker listens")
                wait_for(lambda: ready()[0] == 200, 10, "/ready 200")
                hc = run(["validate", "--healthcheck", cfg])
                assert "source main/broker: reachable" in hc.stdout.decode(), hc.stdout.decode()
            wait_for(lambda: source_up(http_port, "main/broker") == 0, 30,
                     "sluice_source_up 0 after the broker went away")
            assert "connection to" in ready()[1] or "main/broker" in ready()[1]
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()


if __name__ == "__main__":
    main([test_same_client_id_is_named_and_does_not_flap, test_default_ids_differ_per_data_dir,
          test_source_up_follows_the_broker])
