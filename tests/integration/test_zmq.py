"""The zmq source against python3-zmq peers: PUB messages (topic frame +
payload) and PUSH messages arrive decoded in a file sink, a SUB topic filter
keeps other topics out, a numbered batch published after the subscription
has propagated all arrives (PUB drops before that: the slow joiner), and
CURVE encryption works end to end."""

import json
import os
import signal
import sys

if __name__ == "__main__":
    try:
        import zmq  # noqa: F401
    except ImportError:
        # ctest may run a python3 without Debian's python3-zmq (pyenv, venv).
        system_python = "/usr/bin/python3"
        if os.path.exists(system_python) and os.path.realpath(sys.executable) != os.path.realpath(system_python):
            os.execv(system_python, [system_python] + sys.argv)
        raise

import zmq  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, read_ndjson, run, skip, source_up, wait_for  # noqa: E402


def write_config(d, source, http="off"):
    cfg = os.path.join(d, "sluice.toml")
    out = os.path.join(d, "out.ndjson")
    with open(cfg, "w") as f:
        f.write(f'[gateway]\nlog_level = "debug"\n[http]\nlisten = "{http}"\n[pipelines.p]\nbatch_max_delay = "20ms"\n')
        f.write('[[pipelines.p.sources]]\ntype = "zmq"\nid = "z"\n')
        for k, v in source.items():
            f.write(f"{k} = {json.dumps(v)}\n")
        f.write(f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{out}"\nfsync = false\n')
    return cfg, out


def records(out):
    return read_ndjson(out)


def test_pub_topics_filter_and_slow_joiner():
    with TempDir() as d:
        port = free_port()
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        try:
            pub.bind(f"tcp://127.0.0.1:{port}")
            cfg, out = write_config(d, {"endpoints": [f"tcp://127.0.0.1:{port}"], "topics": ["sensors/", "alarms"],
                                        "decode": ["json"]})
            with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
                # Until the subscription reaches the PUB, it drops everything:
                # publish a warm-up message until one shows up.
                def warmed_up():
                    pub.send_multipart([b"sensors/warmup", b'{"warmup":1}'])
                    return any("warmup" in r["fields"] for r in records(out))

                wait_for(warmed_up, 30, "the first published message (slow joiner)", interval=0.02)
                for i in range(500):
                    pub.send_multipart([b"sensors/t%d" % (i % 3), json.dumps({"seq": i}).encode()])
                    if i % 100 == 0:
                        pub.send_multipart([b"other/x", json.dumps({"other": i}).encode()])
                        pub.send_multipart([b"alarms", json.dumps({"alarm": i}).encode()])
                pub.send_multipart([b"alarms", b'{"last":1}'])
                wait_for(lambda: any("last" in r["fields"] for r in records(out)), 30, "the last message")
                rs = records(out)
                seqs = [r["fields"]["seq"] for r in rs if "seq" in r["fields"]]
                assert sorted(seqs) == list(range(500)), f"{len(seqs)} of 500 arrived"
                assert not any("other" in r["fields"] for r in rs), "a topic not subscribed to arrived"
                assert sorted(r["fields"]["alarm"] for r in rs if "alarm" in r["fields"]) == list(range(0, 500, 100))
                origins = {r["origin"] for r in rs if "seq" in r["fields"]}
                assert origins == {"sensors/t0", "sensors/t1", "sensors/t2"}, origins
                assert "connected to tcp://127.0.0.1" in s.logs(), s.logs()
        finally:
            pub.close()
            ctx.term()


def test_push_to_bound_pull_via_relay_url():
    with TempDir() as d:
        port = free_port()
        out = os.path.join(d, "out.ndjson")
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.setsockopt(zmq.SNDTIMEO, 10000)
        try:
            with Sluice(["relay", f"zmq+pull://127.0.0.1:{port}?bind=true&decode=json,influx",
                         f"file://{out}?fsync=false", "--data-dir", d, "--http", "off"],
                        log_path=os.path.join(d, "log")) as s:
                push.connect(f"tcp://127.0.0.1:{port}")
                # PUSH queues until connected: nothing is lost, no warm-up needed.
                for i in range(300):
                    push.send(json.dumps({"n": i}).encode())
                push.send_multipart([b"m,part=1 v=1", b"m,part=2 v=2"])  # each part is a frame
                wait_for(lambda: len(records(out)) >= 302, 30, "302 records")
                rs = records(out)
                assert sorted(r["fields"]["n"] for r in rs if "n" in r["fields"]) == list(range(300))
                assert sorted(r["tags"]["part"] for r in rs if "part" in r.get("tags", {})) == ["1", "2"], rs[-2:]
                assert {r["origin"] for r in rs} == {f"tcp://127.0.0.1:{port}"}
                assert s.proc.poll() is None
        finally:
            push.close()
            ctx.term()


def secret_literal(value):
    """A Z85 key as a secret option's value. Z85 has '$', '{' and '@' in its
    alphabet: "${" is written "$${" (else it starts a variable), and a value
    that begins with '@' is written "@@" (else it names a file)."""
    value = value.replace("${", "$${")
    return "@" + value if value.startswith("@") else value


def test_curve_and_metrics():
    if not zmq.has("curve"):
        skip("libzmq without CURVE")
    with TempDir() as d:
        port = free_port()
        http_port = free_port()
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.curve_server = True
        pub.curve_secretkey = server_secret
        key_file = os.path.join(d, "client.key")
        with open(key_file, "w") as f:
            f.write(client_secret.decode() + "\n")
        try:
            pub.bind(f"tcp://127.0.0.1:{port}")
            cfg, out = write_config(d, {"endpoints": [f"tcp://127.0.0.1:{port}"],
                                        "curve_server_key": secret_literal(server_public.decode()),
                                        "curve_secret_key": "@" + key_file}, http=f"127.0.0.1:{http_port}")
            with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
                def arrived():
                    assert s.proc.poll() is None, f"sluice exited: {s.logs()}"
                    pub.send_multipart([b"t", b'{"enc":1}'])
                    return any("enc" in r["fields"] for r in records(out))

                try:
                    wait_for(arrived, 30, "a message over CURVE", interval=0.02)
                except AssertionError as e:
                    raise AssertionError(f"{e}; sluice log:\n{s.logs()}") from None

                def received():
                    try:
                        return metric_value(http_get(http_port, "/metrics")[1],
                                            "sluice_component_received_records_total", component="p/z")
                    except OSError:
                        return None

                wait_for(lambda: (received() or 0) >= 1, 20, "received metric")
                assert client_secret.decode() not in s.logs(), "a secret was logged"
        finally:
            pub.close()
            ctx.term()


def test_huge_topic_frame_is_a_dead_letter():
    """A 1 MiB topic frame (the peer chooses it) to SUB sources with pattern
    and regex topologies: cut at the source, a dead letter with the reason
    and a counted error each; the messages around it arrive."""
    with TempDir() as d:
        port = free_port()
        http_port = free_port()
        out = os.path.join(d, "out.ndjson")
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f"""[http]
listen = "127.0.0.1:{http_port}"
[pipelines.p]
batch_max_delay = "20ms"
[[pipelines.p.sources]]
type = "zmq"
id = "pat"
endpoints = ["tcp://127.0.0.1:{port}"]
topics = ["a/"]
max_frame_bytes = "4MiB"
decode = ["json"]
topology = "pattern"
topology_pattern = "a/{{node}}/#"
[[pipelines.p.sources]]
type = "zmq"
id = "re"
endpoints = ["tcp://127.0.0.1:{port}"]
topics = ["b/"]
max_frame_bytes = "4MiB"
decode = ["json"]
topology = "regex"
topology_regex = "b/(?P<node>[^/]+)/(?P<rest>.+)"
[[pipelines.p.sinks]]
type = "file"
path = "{out}"
fsync = false
""")
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        huge = b"/" + b"x" * (1024 * 1024 - 5)
        try:
            pub.bind(f"tcp://127.0.0.1:{port}")
            with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
                def warmed_up():
                    for t in (b"a", b"b"):
                        pub.send_multipart([t + b"/warm", b'{"warmup":1}'])
                    return {r["origin"][0] for r in records(out)} == {"a", "b"}

                wait_for(warmed_up, 30, "a warm-up message on each source (slow joiner)", interval=0.05)
                for t in (b"a", b"b"):
                    pub.send_multipart([t + b"/n1/x", b'{"seq":1}'])
                    pub.send_multipart([t + b"/n2" + huge, b'{"seq":2}'])
                    assert len(t + b"/n2" + huge) == 1024 * 1024
                    pub.send_multipart([t + b"/n3/x", b'{"seq":3}'])
                wait_for(lambda: len([r for r in records(out) if "seq" in r["fields"]]) >= 4, 30, "4 ordinary records")
                status, text = http_get(http_port, "/metrics")
                errors = sum(metric_value(text, "sluice_component_errors_total", component=f"p/{c}") or 0
                             for c in ("pat", "re"))
                assert errors == 2, errors
                assert s.proc.poll() is None, s.logs()
                s.signal(signal.SIGTERM)
                assert s.wait(30) == 0, s.logs()[-2000:]
            rs = [r for r in records(out) if "seq" in r["fields"]]
            got = sorted((r["origin"][0], r["tags"]["node"], r["fields"]["seq"]) for r in rs)
            assert got == [("a", "n1", 1), ("a", "n3", 3), ("b", "n1", 1), ("b", "n3", 3)], got
            p = run(["buffer", "export", "--dead-letters", "--data-dir", d])
            dead = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
            assert len(dead) == 2, dead
            for x in dead:
                assert "origin of 1048576 bytes is longer than max_origin_bytes (1024)" in x["reason"], x["reason"]
                assert json.loads(x["payload"]) == {"seq": 2}, x
            print("  2 topic frames of 1 MiB: 2 dead letters, 2 source errors, the ordinary messages arrived")
        finally:
            pub.close()
            ctx.term()


def test_source_up_gauge_ready_and_healthcheck():
    """A SUB source connecting to a port nobody listens on is down: the
    sluice_source_up gauge is 0, /ready names it (and with required = true
    answers 503), `validate --healthcheck` says UNREACHABLE; once a
    publisher binds, the gauge is 1 and /ready answers 200."""
    with TempDir() as d:
        port = free_port()
        http_port = free_port()
        cfg, _ = write_config(d, {"endpoints": [f"tcp://127.0.0.1:{port}"], "required": True,
                                  "reconnect_interval": "50ms", "reconnect_interval_max": "200ms"},
                              http=f"127.0.0.1:{http_port}")
        hc = run(["validate", "--healthcheck", cfg])
        assert hc.returncode != 0, hc.stdout.decode()
        assert f"source p/z: UNREACHABLE: tcp://127.0.0.1:{port}" in hc.stdout.decode(), hc.stdout.decode()

        def ready():
            try:
                return http_get(http_port, "/ready")
            except OSError as e:
                return getattr(e, "code", 0), e.read().decode() if hasattr(e, "read") else ""

        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: source_up(http_port, "p/z") == 0, 30, "sluice_source_up 0 while nobody listens")
            # The gauge is 0 from the start; /ready says "starting" until the
            # gateway has started (slow under ThreadSanitizer), then names the source.
            wait_for(lambda: "starting" not in ready()[1], 30, "the gateway to finish starting")
            status, body = ready()
            assert status == 503 and "p/z: source down for" in body and "(required)" in body, (status, body)
            ctx = zmq.Context()
            pub = ctx.socket(zmq.PUB)
            pub.setsockopt(zmq.LINGER, 0)
            try:
                pub.bind(f"tcp://127.0.0.1:{port}")
                wait_for(lambda: source_up(http_port, "p/z") == 1, 30, "sluice_source_up 1 once the publisher is there")
                wait_for(lambda: ready()[0] == 200, 30, "/ready 200 once the source is up")
                hc = run(["validate", "--healthcheck", cfg])
                assert f"source p/z: reachable: tcp://127.0.0.1:{port} ok" in hc.stdout.decode(), hc.stdout.decode()
            finally:
                pub.close()
                ctx.term()
            assert s.proc.poll() is None, s.logs()


if __name__ == "__main__":
    main([
        test_huge_topic_frame_is_a_dead_letter,
        test_pub_topics_filter_and_slow_joiner,
        test_push_to_bound_pull_via_relay_url,
        test_curve_and_metrics,
        test_source_up_gauge_ready_and_healthcheck,
    ])
