"""The mqtt source over TLS against mosquitto with certificates made here by
openssl: the right CA (with a client certificate) delivers; a wrong CA and a
certificate for another host name each fail with a clear log line and a
counted error while sluice keeps running."""

import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
sys.path.insert(0, os.path.dirname(__file__))

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, read_ndjson, wait_for  # noqa: E402
from test_mqtt import Mosquitto  # noqa: E402


def openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN=sluice test {name}", cwd=d)


def make_cert(d, name, ca, subject, san=None, client=False):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={subject}", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        if san:
            f.write(f"subjectAltName={san}\n")
        f.write(f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", ext, cwd=d)


def pki(d):
    make_ca(d, "ca")
    make_ca(d, "wrong-ca")
    make_cert(d, "server", "ca", "127.0.0.1", san="IP:127.0.0.1,DNS:localhost")
    make_cert(d, "other", "ca", "other.example", san="DNS:other.example")
    make_cert(d, "client", "ca", "sluice-client", client=True)


def tls_broker(d, cert, name, port=None):
    p = lambda f: os.path.join(d, f)  # noqa: E731
    return Mosquitto(d, port=port, name=name, extra=[
        f"cafile {p('ca.crt')}", f"certfile {p(cert + '.crt')}", f"keyfile {p(cert + '.key')}",
        "require_certificate true"])


def config(d, port, http_port, ca, out, host="127.0.0.1"):
    path = os.path.join(d, "sluice.toml")
    with open(path, "w") as f:
        f.write(f"""
[gateway]
data_dir = "{d}"

[http]
listen = "127.0.0.1:{http_port}"

[pipelines.main]
batch_max_delay = "20ms"

[[pipelines.main.sources]]
type = "mqtt"
id = "tls"
server = "mqtts://{host}:{port}"
topics = ["secure/#"]
ca_file = "{os.path.join(d, ca + '.crt')}"
cert_file = "{os.path.join(d, 'client.crt')}"
key_file = "{os.path.join(d, 'client.key')}"
reconnect_initial = "100ms"
reconnect_max = "500ms"

[[pipelines.main.sinks]]
type = "file"
path = "{out}"
fsync = false
""")
    return path


def errors(http_port):
    try:
        _, body = http_get(http_port, "/metrics")
    except OSError:
        return 0
    return metric_value(body, "sluice_component_errors_total", component="main/tls") or 0


def healthy(http_port):
    status, _ = http_get(http_port, "/health")
    return status == 200


def publish_tls(d, port, topic, message):
    p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", "1", "-m", message,
                        "--cafile", os.path.join(d, "ca.crt"), "--cert", os.path.join(d, "client.crt"),
                        "--key", os.path.join(d, "client.key")], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr


def test_right_ca_with_client_certificate_delivers():
    with TempDir() as d:
        pki(d)
        with tls_broker(d, "server", "tls") as broker:
            out = os.path.join(d, "out.ndjson")
            http_port = free_port()
            with Sluice(["run", "-c", config(d, broker.port, http_port, "ca", out)], log_path=os.path.join(d, "log")) as s:
                wait_for(lambda: "connected to ssl://" in s.logs(), 20, "a TLS connection")
                publish_tls(d, broker.port, "secure/a", '{"v":1}')
                wait_for(lambda: read_ndjson(out), 20, "the message over TLS")
                assert read_ndjson(out)[0]["fields"] == {"v": 1}
                assert errors(http_port) == 0, s.logs()
                s.signal(signal.SIGTERM)
                assert s.wait(20) == 0, s.logs()


def expect_failure(d, broker_port, ca, host, needle):
    out = os.path.join(d, "out.ndjson")
    http_port = free_port()
    with Sluice(["run", "-c", config(d, broker_port, http_port, ca, out, host=host)],
                log_path=os.path.join(d, "log")) as s:
        wait_for(lambda: needle in s.logs(), 30, f"the log line with '{needle}'")
        wait_for(lambda: errors(http_port) >= 2, 20, "errors counted for repeated attempts")
        assert healthy(http_port)
        assert s.proc.poll() is None, "sluice must keep running"
        line = next(x for x in s.logs().splitlines() if needle in x)
        print(f"  log: {line.strip()}")
        # One line per change of state, not one per attempt.
        assert s.logs().count(needle) == 1, s.logs()
        s.signal(signal.SIGTERM)
        assert s.wait(20) == 0, s.logs()
    return line


def test_wrong_ca_fails_clearly_and_keeps_running():
    with TempDir() as d:
        pki(d)
        with tls_broker(d, "server", "tls") as broker:
            line = expect_failure(d, broker.port, "wrong-ca", "127.0.0.1",
                                  f"TLS handshake with 127.0.0.1:{broker.port} failed: certificate verify failed")
            assert "ca_file" in line, line


def test_wrong_host_name_fails_clearly_and_keeps_running():
    with TempDir() as d:
        pki(d)
        with tls_broker(d, "other", "tls") as broker:
            line = expect_failure(d, broker.port, "ca", "127.0.0.1", "does not match '127.0.0.1'")
            assert "other.example" in line and f"127.0.0.1:{broker.port}" in line, line


if __name__ == "__main__":
    main([
        test_right_ca_with_client_certificate_delivers,
        test_wrong_ca_fails_clearly_and_keeps_running,
        test_wrong_host_name_fails_clearly_and_keeps_running,
    ])
