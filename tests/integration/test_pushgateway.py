"""The pushgateway sink against the real Debian prometheus-pushgateway:
values and labels read back from its /metrics, a grouping value holding '/'
(base64 path segment), the group deleted on shutdown, and TLS (its
--web.config.file) with the right and a wrong CA."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, wait_for  # noqa: E402

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


def test_tls_right_ca_works_wrong_ca_fails_clearly():
    with TempDir() as d:
        p = make_certs(d)
        web = os.path.join(d, "web.yml")
        with open(web, "w") as f:
            f.write(f"tls_server_config:\n  cert_file: {p('server.pem')}\n  key_file: {p('server.key')}\n")
        with Pushgateway(d, web_config=web) as pg:
            for ca, ok in ((p("other-ca.pem"), False), (p("ca.pem"), True)):
                cfg = config(d, pg.port, f'tls = true\nca_file = "{ca}"')
                with Sluice(["run", "-c", cfg], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
                    s.proc.stdin.write(b"env,room=r temp=7 1700000000000000000\n")
                    s.proc.stdin.flush()
                    if ok:
                        wait_for(lambda: metric_value(pg.metrics(), "sluice_env_temp", room="r") == 7.0, 30,
                                 "the pushed value over TLS", interval=0.1)
                    else:
                        wait_for(lambda: "certificate not trusted" in s.logs(), 30, "a clear TLS error")
                        assert metric_value(pg.metrics(), "sluice_env_temp") is None
                    s.kill()


if __name__ == "__main__":
    main([test_values_and_labels_read_back_with_a_slash_in_a_grouping_value,
          test_tls_right_ca_works_wrong_ca_fails_clearly])
