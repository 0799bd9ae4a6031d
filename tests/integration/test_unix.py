"""The unix source against real clients (Python's socket module): several
stream clients at once plus datagrams, an oversized frame closing only its
client, length-prefix framing, and the stale / live / foreign socket file
rules at start-up."""

import json
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, read_ndjson, run, wait_for  # noqa: E402


def write_config(d, sources, http="off"):
    cfg = os.path.join(d, "sluice.toml")
    out = os.path.join(d, "out.ndjson")
    with open(cfg, "w") as f:
        f.write(f'[gateway]\nlog_level = "debug"\n[http]\nlisten = "{http}"\n[pipelines.p]\nbatch_max_delay = "20ms"\n')
        for s in sources:
            f.write("[[pipelines.p.sources]]\ntype = \"unix\"\n")
            for k, v in s.items():
                f.write(f"{k} = {json.dumps(v)}\n")
        f.write(f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{out}"\nfsync = false\n')
    return cfg, out


def connectable(path, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, kind)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def fields(out, key):
    return [r["fields"][key] for r in read_ndjson(out) if key in r["fields"]]


def test_two_stream_clients_and_datagrams():
    with TempDir() as d:
        stream_path = os.path.join(d, "s.sock")
        dgram_path = os.path.join(d, "g.sock")
        cfg, out = write_config(d, [
            {"id": "lines", "path": stream_path},
            {"id": "grams", "path": dgram_path, "socket": "datagram"},
        ])
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: connectable(stream_path) and connectable(dgram_path, socket.SOCK_DGRAM), 20,
                     "both sockets listening")
            a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                a.connect(stream_path)
                b.connect(stream_path)
                for i in range(100):
                    # Lines split across writes and interleaved between the clients.
                    line = json.dumps({"a": i}) + "\n"
                    a.sendall(line[:3].encode())
                    b.sendall((json.dumps({"b": i}) + "\r\n").encode())
                    a.sendall(line[3:].encode())
                for i in range(50):
                    g.sendto(json.dumps({"g": i}).encode(), dgram_path)
            finally:
                a.close()
                b.close()
                g.close()
            wait_for(lambda: len(read_ndjson(out)) >= 250, 30, "250 records")
            assert sorted(fields(out, "a")) == list(range(100))
            assert sorted(fields(out, "b")) == list(range(100))
            assert sorted(fields(out, "g")) == list(range(50))
            origins = {r.get("origin") for r in read_ndjson(out)}
            assert origins == {stream_path, dgram_path}, origins
            s.signal(15)
            assert s.wait(20) == 0, s.logs()
        assert not os.path.exists(stream_path) and not os.path.exists(dgram_path), "socket files removed on stop"


def test_oversized_frame_closes_only_that_client():
    with TempDir() as d:
        path = os.path.join(d, "s.sock")
        gpath = os.path.join(d, "g.sock")
        port = free_port()
        cfg, out = write_config(d, [
            {"id": "lines", "path": path, "max_frame_bytes": "64B"},
            {"id": "grams", "path": gpath, "socket": "datagram", "max_frame_bytes": "64B"},
        ], http=f"127.0.0.1:{port}")

        def errors(component):
            try:
                return metric_value(http_get(port, "/metrics")[1], "sluice_component_errors_total",
                                    component=f"p/{component}") or 0
            except OSError:
                return 0

        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: connectable(path), 20, "socket listening")
            good = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                good.connect(path)
                bad.connect(path)
                good.sendall(b'{"good":0}\n')
                bad.sendall(b'{"bad":0}\n' + b'{"bad":"' + b"x" * 200 + b'"}\n')
                bad.settimeout(10)

                def closed():
                    try:
                        return bad.recv(1) == b""
                    except ConnectionResetError:
                        return True

                assert closed(), "the client with the oversized line is closed"
                for i in range(1, 20):
                    good.sendall(json.dumps({"good": i}).encode() + b"\n")
                wait_for(lambda: sorted(fields(out, "good")) == list(range(20)), 30, "the other client's lines")
                assert fields(out, "bad") == [0], "frames before the fault are kept"
                wait_for(lambda: errors("lines") == 1, 20, "one error counted")

                g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                g.sendto(b"x" * 100, gpath)  # over the limit: dropped
                g.sendto(b'{"gram":1}', gpath)
                g.close()
                wait_for(lambda: fields(out, "gram") == [1], 30, "the datagram after the oversized one")
                wait_for(lambda: errors("grams") == 1, 20, "the truncated datagram counted")
            finally:
                good.close()
                bad.close()
            assert "closing that client" in s.logs(), s.logs()


def test_length_prefix_framing():
    with TempDir() as d:
        path = os.path.join(d, "s.sock")
        cfg, out = write_config(d, [{"id": "framed", "path": path, "framing": "length"}])
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: connectable(path), 20, "socket listening")
            data = b""
            for i in range(200):
                payload = json.dumps({"n": i, "text": "line\nbreak"}).encode()  # newlines are just bytes here
                data += struct.pack(">I", len(payload)) + payload
                if i % 50 == 0:
                    data += struct.pack(">I", 0)  # keep-alive
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                c.connect(path)
                for at in range(0, len(data), 7):  # frames and prefixes split across writes
                    c.sendall(data[at:at + 7])
            finally:
                c.close()
            wait_for(lambda: len(fields(out, "n")) >= 200, 30, "200 length-prefixed frames")
            assert sorted(fields(out, "n")) == list(range(200))
            assert all(r["fields"]["text"] == "line\nbreak" for r in read_ndjson(out))


def test_socket_file_rules_at_start():
    with TempDir() as d:
        path = os.path.join(d, "s.sock")
        # A stale socket (its process is gone) is replaced.
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()
        assert os.path.exists(path)
        cfg, out = write_config(d, [{"path": path}])
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: connectable(path), 20, "stale socket replaced")
            # A live one is not taken over.
            d2 = os.path.join(d, "second")
            os.mkdir(d2)
            p = run(["run", "-c", cfg, "--data-dir", d2], timeout=30)
            assert p.returncode != 0
            assert b"is in use by a running process" in p.stderr, p.stderr
            assert connectable(path), "the running gateway's socket is untouched"
            assert s.proc.poll() is None
        # A file that is not a socket is never deleted.
        other = os.path.join(d, "data.txt")
        with open(other, "w") as f:
            f.write("keep me")
        cfg2, _ = write_config(d, [{"path": other}])
        p = run(["run", "-c", cfg2, "--data-dir", d], timeout=30)
        assert p.returncode != 0 and b"is not a socket" in p.stderr, p.stderr
        with open(other) as f:
            assert f.read() == "keep me"


def test_relay_url_form():
    with TempDir() as d:
        path = os.path.join(d, "g.sock")
        out = os.path.join(d, "out.ndjson")
        with Sluice(["relay", f"unixgram://{path}?decode=influx", f"file://{out}?fsync=false", "--data-dir", d,
                     "--http", "off"], log_path=os.path.join(d, "log")):
            wait_for(lambda: connectable(path, socket.SOCK_DGRAM), 20, "datagram socket")
            g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            g.sendto(b"env,room=lab temp=21.5 1700000000000000000", path)
            g.close()
            wait_for(lambda: fields(out, "temp") == [21.5], 20, "the influx datagram")


if __name__ == "__main__":
    main([
        test_two_stream_clients_and_datagrams,
        test_oversized_frame_closes_only_that_client,
        test_length_prefix_framing,
        test_socket_file_rules_at_start,
        test_relay_url_form,
    ])
