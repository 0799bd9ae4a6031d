"""The websocket sink: records served live at /ws/<pipeline>/<id> on the
gateway's HTTP server to WebSocket clients (a small RFC 6455 client in
this file, on raw sockets): every record in order as a JSON text frame,
UTF-8 even when a device's bytes are not;
the API token required unless the sink is public (header or
?access_token=); a stalled client loses frames (counted, then told how
many) while a second one gets everything and the pipeline keeps going."""

import base64
import json
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import Sluice, TempDir, free_port, gateway_sections, main, metric, sent, wait_for  # noqa: E402

TOKEN = "ws-test-token"


class WsClient:
    """A WebSocket client: the opening handshake, then text frames read one
    by one (the server's are unmasked), masked frames sent."""

    def __init__(self, port, path, headers=(), rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connecting, or the window it advertises is already large.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(20)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                break
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode(errors="replace")
        self.status = int(self.head.split(" ", 2)[1]) if self.head.startswith("HTTP/1.1 ") else 0

    def body(self):
        """The body of a refusal (not 101), by its Content-Length."""
        length = 0
        for line in self.head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        self._need(length)
        return self.buf[:length].decode(errors="replace")

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self.buf += data

    def frame(self):
        """(opcode, payload) of the next frame."""
        self._need(2)
        op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        at = 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return op, payload

    def texts(self, count):
        """The next `count` text frames, decoded as JSON (pings skipped)."""
        out = []
        while len(out) < count:
            op, payload = self.frame()
            if op == 1:
                out.append(json.loads(payload))
        return out

    def send(self, op, payload=b""):
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x80 | op, 0x80 | len(payload)]) + mask +
                          bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def close(self):
        self.sock.close()


def config(d, port, extra=""):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(gateway_sections(d, port, TOKEN) +
                '[pipelines.p]\nbatch_max_delay = "10ms"\n'
                '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json", "influx"]\n'
                f'[[pipelines.p.sinks]]\ntype = "websocket"\nid = "live"\n{extra}')
    return cfg


def records(first, count):
    return "".join(json.dumps({"node": "n1", "seq": i}) + "\n" for i in range(first, first + count)).encode()


def test_records_in_order_with_the_token_and_a_ping_answered():
    total = 5_000
    with TempDir() as d:
        port = free_port()
        with Sluice(["run", "-c", config(d, port, "max_queued = 100000\nmax_queued_bytes = \"64MiB\"\n")],
                    stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: "serving records at /ws/p/live" in s.logs(), 20, "the sink to open")
            c = WsClient(port, "/ws/p/live", [f"Authorization: Bearer {TOKEN}"])
            assert c.status == 101, c.head
            s.proc.stdin.write(records(0, total))
            s.proc.stdin.flush()
            got = c.texts(total)
            assert [r["fields"]["seq"] for r in got] == list(range(total))
            assert got[0]["fields"]["node"] == "n1"
            # A device's Latin-1 byte still makes a UTF-8 text frame (else clients close with 1007).
            s.proc.stdin.write(b"kitchen,room=K\xfcche t=21.5\n")
            s.proc.stdin.flush()
            op, payload = c.frame()
            assert op == 1 and json.loads(payload.decode("utf-8"))["tags"]["room"] == "K\ufffdche", payload
            c.send(0x9, b"are you there")
            while (frame := c.frame()) != (0xA, b"are you there"):
                pass
            c.send(0x8, b"\x03\xe8")
            while c.frame()[0] != 0x8:
                pass
            c.close()
            wait_for(lambda: sent(port, "p/live") >= total, 20, "the cursor past every record")
            s.proc.stdin.close()
            assert s.wait(20) == 0, s.logs()[-3000:]


def test_token_unless_public_and_unknown_names():
    with TempDir() as d:
        port = free_port()
        with Sluice(["run", "-c", config(d, port)], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: "serving records at /ws/p/live" in s.logs(), 20, "the sink to open")
            assert WsClient(port, "/ws/p/live").status == 401
            assert WsClient(port, "/ws/p/live", ["Authorization: Bearer wrong"]).status == 401
            ok = WsClient(port, f"/ws/p/live?access_token={TOKEN}")
            assert ok.status == 101, ok.head
            ok.close()
            missing = WsClient(port, "/ws/p/other", [f"Authorization: Bearer {TOKEN}"])
            assert missing.status == 404 and "/ws/p/live" in missing.body(), missing.body()
            s.proc.stdin.close()
            assert s.wait(20) == 0, s.logs()[-3000:]
    with TempDir() as d:
        port = free_port()
        with Sluice(["run", "-c", config(d, port, "public = true\n")], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: "serving records at /ws/p/live (public" in s.logs(), 20, "the public sink to open")
            c = WsClient(port, "/ws/p/live")
            assert c.status == 101, c.head
            s.proc.stdin.write(records(0, 3))
            s.proc.stdin.flush()
            assert [r["fields"]["seq"] for r in c.texts(3)] == [0, 1, 2]
            c.close()
            s.proc.stdin.close()
            assert s.wait(20) == 0, s.logs()[-3000:]


def test_a_stalled_client_loses_frames_and_slows_nobody():
    total = 50_000
    with TempDir() as d:
        port = free_port()
        with Sluice(["run", "-c", config(d, port, "max_queued = 100000\nmax_queued_bytes = \"64MiB\"\n")],
                    stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: "serving records at /ws/p/live" in s.logs(), 20, "the sink to open")
            auth = [f"Authorization: Bearer {TOKEN}"]
            # The stalled one reads nothing, through a small receive buffer.
            stalled = WsClient(port, "/ws/p/live?access_token=" + TOKEN, rcvbuf=4096)
            reader = WsClient(port, "/ws/p/live", auth)
            assert stalled.status == 101 and reader.status == 101
            wait_for(lambda: metric(port, "sluice_websocket_sink_clients", component="p/live") == 2, 20,
                     "two clients")
            s.proc.stdin.write(records(0, total))
            s.proc.stdin.flush()
            got = reader.texts(total)
            assert [r["fields"]["seq"] for r in got] == list(range(total))
            wait_for(lambda: sent(port, "p/live") >= total, 30, "the cursor past every record")
            # That queue (100000 frames, 64 MiB) held everything the stalled
            # client did not read; with a small one it loses frames.
            reader.close()
            stalled.close()
            s.proc.stdin.close()
            assert s.wait(20) == 0, s.logs()[-3000:]
        port = free_port()
        with Sluice(["run", "-c", config(d, port, "max_queued = 100\n")], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log2")) as s:
            wait_for(lambda: "serving records at /ws/p/live" in s.logs(), 20, "the sink to open")
            stalled = WsClient(port, "/ws/p/live?access_token=" + TOKEN, rcvbuf=4096)
            assert stalled.status == 101
            wait_for(lambda: metric(port, "sluice_websocket_sink_clients", component="p/live") == 1, 20,
                     "the client")
            s.proc.stdin.write(records(total, total))
            s.proc.stdin.flush()
            wait_for(lambda: sent(port, "p/live") >= total, 30, "the cursor past every record while a client stalls")
            dropped = metric(port, "sluice_websocket_sink_dropped_frames_total", component="p/live")
            assert dropped > 0, dropped
            # Reading now, the client gets what was queued, then the count it lost.
            lost = None
            seen = 0
            while lost is None:
                op, payload = stalled.frame()
                if op == 1:
                    msg = json.loads(payload)
                    if "dropped" in msg:
                        lost = msg["dropped"]
                    else:
                        seen += 1
            print(f"  stalled client: {seen} frames before the notice of {lost} dropped; "
                  f"sluice_websocket_sink_dropped_frames_total {dropped:.0f}", flush=True)
            assert lost > 0 and seen >= 100
            stalled.close()
            s.proc.stdin.close()
            assert s.wait(20) == 0, s.logs()[-3000:]


if __name__ == "__main__":
    main([test_records_in_order_with_the_token_and_a_ping_answered, test_token_unless_public_and_unknown_names,
          test_a_stalled_client_loses_frames_and_slows_nobody])
