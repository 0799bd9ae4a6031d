"""The cratedb sink against the CrateDB STAND-IN (tests/integration/
cratedb_standin.py, not CrateDB): tables created on first use, a refused row
dead-lettered with CrateDB's message, an outage of 20 s without loss, and
TLS with the right CA, a wrong CA and a wrong host name (fixed by replacing
the CA file, without a restart)."""

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, run, wait_for  # noqa: E402

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cratedb_standin.py")
DDL = ("(ts TIMESTAMP WITH TIME ZONE, tags OBJECT(DYNAMIC), fields OBJECT(DYNAMIC), "
       "month TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('month', ts)) PARTITIONED BY (month)")


class Standin:
    """The CrateDB stand-in as a child process, always killed at the end."""

    def __init__(self, d, extra=()):
        self.port_file = os.path.join(d, "standin.port")
        self.log = open(os.path.join(d, "standin.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, STANDIN, "--port-file", self.port_file] + list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.port_file) or self.proc.poll() is not None, 20, "the stand-in to listen")
        assert self.proc.poll() is None, "the stand-in did not start"
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.tls = "--cert" in extra
        # The test's own read-back channel; sluice's verification is what is tested.
        self.ctx = ssl._create_unverified_context() if self.tls else None
        self.base = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=5, context=self.ctx) as r:
            return json.loads(r.read())

    def post(self, path):
        req = urllib.request.Request(self.base + path, data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=5, context=self.ctx) as r:
            return r.read()

    def rows(self, table):
        try:
            return self.get(f"/_standin/rows?table={table}")
        except OSError:
            return []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def config(d, port, http_port, extra="", batch=100):
    path = os.path.join(d, "sluice.toml")
    with open(path, "w") as f:
        f.write(f"""
[gateway]
data_dir = "{d}"
shutdown_timeout = "2s"
[http]
listen = "127.0.0.1:{http_port}"
[pipelines.main]
batch_max_delay = "20ms"
[[pipelines.main.sources]]
type = "stdin"
decode = ["influx"]
[[pipelines.main.sinks]]
type = "cratedb"
id = "crate"
host = "127.0.0.1"
port = {port}
batch_size = {batch}
retry_initial = "50ms"
retry_max = "500ms"
{extra}
""")
    return path


def lines(n, start=0, tags="realm=R1,network=n1,gateway=gw1,node=a", bad=()):
    out = []
    for i in range(start, start + n):
        extra = ",bad=1" if i in bad else ""
        out.append(f"reading,{tags} seq={i}i,temp={20 + i * 0.5}{extra} {1700000000000000000 + i * 1000000}")
    return ("\n".join(out) + "\n").encode()


def metric(http_port, name):
    try:
        return metric_value(http_get(http_port, "/metrics")[1], name)
    except OSError:
        return None


def stop(s):
    s.proc.stdin.close()
    s.signal(signal.SIGTERM)
    assert s.wait(30) == 0, s.logs()


def test_standin_tables_created_on_first_use_with_the_ddl():
    with TempDir() as d, Standin(d) as crate:
        hp = free_port()
        with Sluice(["run", "-c", config(d, crate.port, hp)], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write(lines(5) + lines(3, 100, tags="site=x") + b"noTags v=1 1700000000000000000\n")
            s.proc.stdin.flush()
            wait_for(lambda: len(crate.rows("r1_n1.gw1_a_reading")) == 5, 30, "5 rows in r1_n1.gw1_a_reading")
            wait_for(lambda: len(crate.rows("doc.reading")) == 3, 30, "3 rows in doc.reading (tags missing)")
            wait_for(lambda: len(crate.rows("doc.notags")) == 1, 30, "1 row in doc.notags")
            stop(s)
        ddl = crate.get("/_standin/ddl")
        assert f'CREATE TABLE IF NOT EXISTS "r1_n1"."gw1_a_reading" {DDL}' in ddl, ddl
        assert f'CREATE TABLE IF NOT EXISTS "doc"."reading" {DDL}' in ddl, ddl
        assert len(ddl) == 3, ddl  # each table once: created tables are remembered
        ts, tags, fields = crate.rows("r1_n1.gw1_a_reading")[2]
        assert ts == 1700000000002, ts
        assert tags == {"realm": "R1", "network": "n1", "gateway": "gw1", "node": "a"}, tags
        assert fields == {"seq": 2, "temp": 21.0}, fields


def test_standin_refused_row_is_a_dead_letter_with_the_message():
    with TempDir() as d, Standin(d, ["--reject-field", "bad"]) as crate:
        hp = free_port()
        with Sluice(["run", "-c", config(d, crate.port, hp)], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write(lines(10, bad={4}))
            s.proc.stdin.flush()
            wait_for(lambda: len(crate.rows("r1_n1.gw1_a_reading")) == 9, 30, "the 9 good rows")
            wait_for(lambda: metric(hp, "sluice_sink_dead_letters_total") == 1, 30, "one dead letter")
            stop(s)
        seqs = [r[2]["seq"] for r in crate.rows("r1_n1.gw1_a_reading")]
        assert seqs == [0, 1, 2, 3, 5, 6, 7, 8, 9], seqs
        out = run(["buffer", "export", "--dead-letters", "--data-dir", d])
        assert out.returncode == 0, out.stderr
        letters = [json.loads(x) for x in out.stdout.decode().splitlines() if x.strip()]
        assert len(letters) == 1, letters
        assert "field 'bad' refused by the stand-in" in letters[0]["reason"], letters[0]
        assert json.loads(letters[0]["payload"])["fields"]["seq"] == 4, letters[0]


def test_standin_unavailable_for_20s_loses_nothing():
    with TempDir() as d, Standin(d) as crate:
        hp = free_port()
        with Sluice(["run", "-c", config(d, crate.port, hp, batch=50)], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write(lines(100))
            s.proc.stdin.flush()
            wait_for(lambda: len(crate.rows("r1_n1.gw1_a_reading")) == 100, 30, "the first 100 rows")
            crate.post("/_standin/unavailable?seconds=20")
            s.proc.stdin.write(lines(400, 100))
            s.proc.stdin.flush()
            wait_for(lambda: "HTTP 503" in s.logs(), 30, "the sink to see the 503")
            assert (metric(hp, "sluice_sink_lag_rows") or 0) > 0
            wait_for(lambda: len(crate.rows("r1_n1.gw1_a_reading")) >= 500, 60, "all rows after the outage")
            stop(s)
        seqs = sorted({r[2]["seq"] for r in crate.rows("r1_n1.gw1_a_reading")})
        assert seqs == list(range(500)), seqs[:10]


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1/localhost, one for the wrong
    host, one that expired yesterday, and an unrelated CA."""
    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=d)
    for ca in ("ca", "other-ca"):
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca}",
           "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    for name, san, days in (("server", "IP:127.0.0.1,DNS:localhost", "2"), ("wrong", "DNS:wrong.example", "2"),
                            ("expired", "IP:127.0.0.1,DNS:localhost", "-1")):
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
           "-out", f"{name}.csr")
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n")
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
           "-days", days, "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return lambda n: os.path.join(d, n)


def tls_run(d, crate, ca_file):
    hp = free_port()
    cfg = config(d, crate.port, hp, extra=f'tls = true\nca_file = "{ca_file}"')
    return hp, Sluice(["run", "-c", cfg], stdin=subprocess.PIPE, log_path=os.path.join(d, "log"))


def test_standin_tls_right_ca_and_wrong_ca_fixed_by_replacing_the_file():
    with TempDir() as d:
        p = make_certs(d)
        with Standin(d, ["--cert", p("server.pem"), "--key", p("server.key")]) as crate:
            ca_file = p("trusted.pem")
            shutil.copy(p("other-ca.pem"), ca_file)
            hp, s = tls_run(d, crate, ca_file)
            with s:
                s.proc.stdin.write(lines(20))
                s.proc.stdin.flush()
                wait_for(lambda: "crate" in s.logs() and ("certificate" in s.logs() or "TLS" in s.logs()), 30,
                         "a TLS error in the log")
                assert len(crate.rows("r1_n1.gw1_a_reading")) == 0
                wait_for(lambda: (metric(hp, "sluice_sink_lag_rows") or 0) == 20, 30, "20 rows waiting")
                # The right CA, without a restart.
                shutil.copy(p("ca.pem"), ca_file + ".new")
                os.replace(ca_file + ".new", ca_file)
                try:
                    wait_for(lambda: len(crate.rows("r1_n1.gw1_a_reading")) == 20, 60, "rows after the CA was fixed")
                except AssertionError as e:
                    raise AssertionError(f"{e}\n{s.logs()[-3000:]}") from None
                stop(s)


def tls_refused(d, cert, expect):
    """sluice against a stand-in serving `cert`: the sink stays down with a
    log line containing `expect`, and the rows stay buffered."""
    p = lambda n: os.path.join(d, n)  # noqa: E731
    with Standin(d, ["--cert", p(f"{cert}.pem"), "--key", p(f"{cert}.key")]) as crate:
        hp, s = tls_run(d, crate, p("ca.pem"))
        with s:
            s.proc.stdin.write(lines(5))
            s.proc.stdin.flush()
            wait_for(lambda: metric(hp, "sluice_sink_up") == 0, 30, "the sink to be down")
            wait_for(lambda: (metric(hp, "sluice_sink_lag_rows") or 0) == 5, 30, "5 rows kept buffered")
            wait_for(lambda: expect in s.logs(), 30, f"'{expect}' in the log")
            assert len(crate.rows("r1_n1.gw1_a_reading")) == 0
            s.proc.stdin.close()
            s.signal(signal.SIGTERM)
            s.signal(signal.SIGTERM)
            s.wait(30)
    assert b"rows 5" in run(["buffer", "stats", "--data-dir", d]).stdout


def test_standin_tls_wrong_host_name_fails_clearly():
    with TempDir() as d:
        make_certs(d)
        tls_refused(d, "wrong", "check the host name or server_name")


def test_standin_tls_expired_certificate_fails_clearly():
    with TempDir() as d:
        make_certs(d)
        tls_refused(d, "expired", "certificate expired")


if __name__ == "__main__":
    main([test_standin_tables_created_on_first_use_with_the_ddl,
          test_standin_refused_row_is_a_dead_letter_with_the_message,
          test_standin_unavailable_for_20s_loses_nothing,
          test_standin_tls_right_ca_and_wrong_ca_fixed_by_replacing_the_file,
          test_standin_tls_wrong_host_name_fails_clearly,
          test_standin_tls_expired_certificate_fails_clearly])
