"""The pushgateway sink against the real Debian prometheus-pushgateway:
values and labels read back from its /metrics, a grouping value holding '/'
(base64 path segment), the group deleted on shutdown, and TLS (its
--web.config.file): a wrong CA fails clearly and is fixed by replacing the
CA file without a restart; a wrong host name and an expired certificate
fail clearly; the rows stay buffered meanwhile."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, run, wait_for  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cratedb import make_certs  # noqa: E402


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Pushgateway:
    """prometheus-pushgateway on 127.0.0.1, no persistence, always killed."""

    def __init__(self, d, web_config=None):
        self.port = free_port()
        self.tls = web_config is not None
        args = ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{self.port}", "--persistence.file="]
        if web_config:
            args.append(f"--web.config.file={web_config}")
        self.log = open(os.path.join(d, "pushgateway.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, 20, "the pushgateway to listen")
        assert self.proc.poll() is None, "the pushgateway did not start"

    def metrics(self):
        ctx = ssl._create_unverified_context() if self.tls else None
        url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5, context=ctx) as r:
                return r.read().decode()
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def config(d, port, extra=""):
    path = os.path.join(d, "sluice.toml")
    with open(path, "w") as f:
        f.write(f"""
[gateway]
data_dir = "{d}"
[http]
listen = "off"
[pipelines.main]
batch_max_delay = "20ms"
[[pipelines.main.sources]]
type = "stdin"
decode = ["influx"]
[[pipelines.main.sinks]]
type = "pushgateway"
id = "pgw"
port = {port}
job = "sluice_test"
instance = "gw7"
push_interval = "100ms"
retry_initial = "50ms"
retry_max = "500ms"
{extra}
""")
    return path


def test_values_and_labels_read_back_with_a_slash_in_a_grouping_value():
    with TempDir() as d, Pushgateway(d) as pg:
        cfg = config(d, pg.port, 'grouping = ["site=hall/3", "empty="]\ndelete_on_shutdown = true')
        with Sluice(["run", "-c", cfg], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write(b'env,room=a\\ b,node=n-1 temp=21.5,ok=true,name="x" 1700000000000000000\n'
                               b'env,room=a\\ b,node=n-1 temp=22.5 1700000001000000000\n'
                               b'env,room=c,job=j temp=3i 1700000001000000000\n')
            s.proc.stdin.flush()
            want = dict(job="sluice_test", instance="gw7", site="hall/3", room="a b", node="n-1")
            wait_for(lambda: metric_value(pg.metrics(), "sluice_env_temp", **want) == 22.5, 30, "temp 22.5",
                     interval=0.1)
            text = pg.metrics()
            assert metric_value(text, "sluice_env_ok", **want) == 1.0, text
            assert "sluice_env_name" not in text, text  # strings are skipped
            assert metric_value(text, "sluice_env_temp", room="c", exported_job="j") == 3.0, text
            assert "# TYPE sluice_env_temp gauge" in text, text
            s.proc.stdin.close()
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        # delete_on_shutdown: the group is gone.
        wait_for(lambda: "sluice_env_temp" not in pg.metrics(), 10, "the group to be deleted")


def web_config(d, cert):
    web = os.path.join(d, f"web-{cert}.yml")
    with open(web, "w") as f:
        f.write(f"tls_server_config:\n  cert_file: {d}/{cert}.pem\n  key_file: {d}/{cert}.key\n")
    return web


def test_tls_wrong_ca_fails_clearly_then_the_replaced_ca_file_is_picked_up():
    with TempDir() as d:
        p = make_certs(d)
        trusted = p("trusted.pem")
        shutil.copy(p("other-ca.pem"), trusted)
        with Pushgateway(d, web_config=web_config(d, "server")) as pg:
            cfg = config(d, pg.port, f'tls = true\nca_file = "{trusted}"')
            with Sluice(["run", "-c", cfg], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
                s.proc.stdin.write(b"env,room=r temp=7 1700000000000000000\n")
                s.proc.stdin.flush()
                wait_for(lambda: "certificate not trusted" in s.logs(), 30, "a clear TLS error")
                assert metric_value(pg.metrics(), "sluice_env_temp") is None
                # The right CA, without a restart.
                shutil.copy(p("ca.pem"), trusted + ".new")
                os.replace(trusted + ".new", trusted)
                wait_for(lambda: metric_value(pg.metrics(), "sluice_env_temp", room="r") == 7.0, 60,
                         "the pushed value over TLS once the CA file was replaced", interval=0.1)
                s.kill()


def refused(cert, expect):
    with TempDir() as d:
        p = make_certs(d)
        with Pushgateway(d, web_config=web_config(d, cert)) as pg:
            cfg = config(d, pg.port, f'tls = true\nca_file = "{p("ca.pem")}"')
            with Sluice(["run", "-c", cfg], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
                s.proc.stdin.write(b"env,room=r temp=7 1700000000000000000\n")
                s.proc.stdin.flush()
                wait_for(lambda: expect in s.logs(), 30, f"'{expect}' in the log")
                assert metric_value(pg.metrics(), "sluice_env_temp") is None
                s.kill()
        # The row is still buffered for the next run.
        assert b"rows 1" in run(["buffer", "stats", "--data-dir", d]).stdout


def test_tls_wrong_host_name_fails_clearly():
    refused("wrong", "check the host name or server_name")


def test_tls_expired_certificate_fails_clearly():
    refused("expired", "certificate expired")


if __name__ == "__main__":
    main([test_values_and_labels_read_back_with_a_slash_in_a_grouping_value,
          test_tls_wrong_ca_fails_clearly_then_the_replaced_ca_file_is_picked_up,
          test_tls_wrong_host_name_fails_clearly,
          test_tls_expired_certificate_fails_clearly])
