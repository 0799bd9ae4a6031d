"""Small helpers shared by the end-to-end tests: run sluice, wait on
conditions with deadlines (never fixed sleeps), free ports, cleanup."""

import glob
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SLUICE = os.environ.get("SLUICE_BIN", "")
SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Slow machines (sanitizers, emulation) stretch every deadline.
TIMEOUT_SCALE = float(os.environ.get("SLUICE_TEST_TIMEOUT_SCALE", "1"))


def wait_for(condition, timeout, what, interval=0.05):
    """Polls `condition` until it returns something truthy or `timeout` passes."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * TIMEOUT_SCALE:.0f}s waiting for {what}")
        time.sleep(interval)


_ports_given = set()



def gateway_sections(d, port=None, token=None, **gateway):
    """The [gateway] and [http] sections most test configs start with: the
    buffer under `d`/data, the API on 127.0.0.1:`port` (off without a port),
    the token when given, and any further [gateway] options."""
    text = f'[gateway]\ndata_dir = "{d}/data"\n'
    for key, value in gateway.items():
        text += f'{key} = "{value}"\n'
    text += f'\n[http]\nlisten = "{"127.0.0.1:%d" % port if port else "off"}"\n'
    if token:
        text += f'token = "{token}"\n'
    return text

def free_port():
    """A port free on 127.0.0.1, never the same twice in one test run (the
    kernel may hand a just-closed port out again, and two peers of one test
    would then collide)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def http_get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


def http_request(port, method, path, body=None, token=None, content_type=None, timeout=30):
    """(status, body text) of a request to the gateway's API on 127.0.0.1:`port`;
    an HTTP error status is an answer too. A `str` body is sent as UTF-8."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_ready(port, timeout=30):
    """Waits until the gateway on `port` answers /ready with 200."""
    def ready():
        try:
            return http_get(port, "/ready")[0] == 200
        except OSError:
            return False

    wait_for(ready, timeout, "the gateway to be ready")


def source_up(http_port, component):
    """The sluice_source_up gauge of `component` (None while /metrics does not answer)."""
    try:
        return metric_value(http_get(http_port, "/metrics")[1], "sluice_source_up", component=component)
    except OSError:
        return None


def metric(http_port, name, **labels):
    """The sum of `name`'s samples with `labels` from a running gateway's
    /metrics; 0 while it does not answer (starting, stopped)."""
    try:
        return metric_value(http_get(http_port, "/metrics")[1], name, **labels) or 0
    except OSError:
        return 0


def sent(http_port, component):
    """Records the sink `component` ("pipeline/id") confirmed so far."""
    return metric(http_port, "sluice_component_sent_records_total", component=component)


def check_all(seqs, total):
    """Asserts that every number in range(total) is among `seqs`; returns
    how many of `seqs` are duplicates."""
    missing = set(range(total)) - set(seqs)
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:10]}"
    return len(seqs) - len(set(seqs))


def dead_letters(d):
    """The dead letters of the stopped gateway whose data directory is `d`."""
    p = run(["buffer", "export", "--dead-letters", "--data-dir", d])
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]


def sink_outage(d, cfg, http_port, component, lines, stop_peer, start_peer, outage_s=30.0, what="the peer"):
    """The at-least-once sinks' outage case: a gateway on `cfg` (a stdin
    source) gets the first half of `lines`, the sink `component` confirms
    it, the peer is stopped (stop_peer), the second half is written and
    stdin closed; the sink must fail and confirm nothing more while the
    peer is down for `outage_s`; then start_peer, and the gateway must
    deliver the rest and exit 0. Returns its log."""
    half = len(lines) // 2
    with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
        s.proc.stdin.write("".join(lines[:half]).encode())
        s.proc.stdin.flush()
        wait_for(lambda: sent(http_port, component) >= half, 60, "first part sent")
        stop_peer()
        down_at = time.monotonic()
        s.proc.stdin.write("".join(lines[half:]).encode())
        s.proc.stdin.close()
        wait_for(lambda: metric(http_port, "sluice_component_errors_total", component=component) > 0, 60,
                 f"sink errors while {what} is down")
        assert sent(http_port, component) < len(lines), f"records were confirmed while {what} was down"
        wait_for(lambda: time.monotonic() - down_at >= outage_s, outage_s + 5, "the outage to last", interval=0.2)
        start_peer()
        assert s.wait(120) == 0, s.logs()[-3000:]
        return s.logs()


def sink_sigkill(d, write_config, component, total, received):
    """The at-least-once sinks' crash case: a gateway reads `total` records
    from a file; once the sink `component` confirmed a quarter it is killed
    with SIGKILL and started again on the same data directory, until
    `received()` (what the peer holds) has every record. write_config(port,
    source) writes the config for an API port and a source section.
    Returns how many duplicates the peer got."""
    log = os.path.join(d, "input.ndjson")
    with open(log, "w") as f:
        f.write("".join(json.dumps({"gateway": "gw1", "node": f"n{i % 5}", "seq": i}) + "\n" for i in range(total)))
    source = (f'[[pipelines.p.sources]]\ntype = "file"\npath = "{log}"\npoll_interval = "20ms"\n'
              f'decode = ["json"]\n')
    port = free_port()
    with Sluice(["run", "-c", write_config(port, source), "--data-dir", d], log_path=os.path.join(d, "log1")) as s:
        wait_for(lambda: sent(port, component) >= total // 4, 120, "a quarter sent")
        s.signal(signal.SIGKILL)
        s.proc.wait()
    port = free_port()
    with Sluice(["run", "-c", write_config(port, source), "--data-dir", d], log_path=os.path.join(d, "log2")):
        wait_for(lambda: len(set(received())) >= total, 180, "every record after the restart", interval=0.5)
    got = received()
    dups = check_all(got, total)
    print(f"  SIGKILL + restart: received {len(got)}, duplicates {dups}", flush=True)
    return dups


def metric_value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
            found = True
    return total if found else None


class TempDir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="sluice-e2e-")

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


class Sluice:
    """A sluice process that is always killed at the end of the test."""

    def __init__(self, args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=None, log_path=None):
        self.log_path = log_path
        self.log = open(log_path, "wb") if log_path else subprocess.PIPE
        full_env = dict(os.environ)
        full_env.pop("JOURNAL_STREAM", None)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen([SLUICE] + args, stdin=stdin, stdout=stdout, stderr=self.log, env=full_env)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log_path:
            self.log.close()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout * TIMEOUT_SCALE)

    def logs(self):
        if self.log_path:
            self.log.flush()
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        return ""


def run(args, input=None, timeout=60, env=None):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([SLUICE] + args, input=input, capture_output=True, timeout=timeout * TIMEOUT_SCALE,
                          env=full_env)


def send_length_prefixed(path, payloads):
    """Connects to the unix stream socket `path` (waiting for it) and sends
    each payload with a 4-byte big-endian length before it (the unix
    source's framing = "length")."""
    wait_for(lambda: os.path.exists(path), 20, f"{path} listening")
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        wait_for(lambda: c.connect_ex(path) == 0, 20, f"connected to {path}")
        c.sendall(b"".join(struct.pack(">I", len(p)) + p for p in payloads))
    finally:
        c.close()


def read_ndjson(path):
    """The complete lines of an NDJSON file another process may be writing:
    a last line without its newline is still being written and is skipped."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, "r") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


class KafkaMock:
    """sluice_kafka_mock (librdkafka's mock cluster on loopback) with
    `brokers` brokers: `bootstrap` is its address, command() sends it one
    line (e.g. "down 1") and expects "ok". Stopped at the end, killed if it
    does not stop."""

    def __init__(self, binary, brokers=3):
        self.proc = subprocess.Popen([binary, str(brokers)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer == "ok", f"{line}: {answer}"

    def __enter__(self):
        if not self.bootstrap:
            self.__exit__()
            raise AssertionError("the mock cluster printed no bootstrap address")
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def kafka_mock(brokers=3):
    """The mock cluster from the build that holds SLUICE (or SLUICE_KAFKA_MOCK)."""
    binary = os.environ.get("SLUICE_KAFKA_MOCK")
    if not binary:
        build = os.path.dirname(os.path.dirname(os.path.abspath(SLUICE)))
        for cand in (os.path.join(build, "tests", "sluice_kafka_mock"), os.path.join(build, "sluice_kafka_mock")):
            if os.path.exists(cand):
                binary = cand
                break
    if not binary:
        raise AssertionError(f"sluice_kafka_mock not found beside {SLUICE} (set SLUICE_KAFKA_MOCK)")
    return KafkaMock(binary, brokers)


class Postgres:
    """A PostgreSQL server of its own in `d`/pg on a free loopback port:
    initdb (role `sluice` with password `secret`, SCRAM over TCP), then
    `postgres` in the foreground, stopped (immediate) at the end. As root it
    runs as Debian's `postgres` user, since PostgreSQL refuses root.
    psql() runs a statement as the sluice role over TCP."""

    BIN_DIRS = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]
    PASSWORD = "secret"

    @classmethod
    def bin_dir(cls):
        for b in cls.BIN_DIRS:
            if os.path.exists(os.path.join(b, "initdb")):
                return b
        return None

    def __init__(self, d, port=None, settings=()):
        self.bin = self.bin_dir()
        self.dir = os.path.join(d, "pg")
        self.port = port or free_port()
        self.settings = list(settings)
        self.proc = None
        self.as_user = []
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chmod(d, 0o711)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.PASSWORD + "\n")
        if self.as_user:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        p = subprocess.run(self.as_user + [os.path.join(self.bin, "initdb"), "-D", os.path.join(self.dir, "data"),
                                           "-U", "sluice", "--pwfile", pwfile, "--auth-local=trust",
                                           "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"],
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr.decode()[-2000:]
        os.unlink(pwfile)
        self.start()
        self.psql("CREATE DATABASE sluice", database="postgres")

    def start(self):
        args = [os.path.join(self.bin, "postgres"), "-D", os.path.join(self.dir, "data"), "-p", str(self.port),
                "-k", self.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        for setting in self.settings:
            args += ["-c", setting]
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.as_user + args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.ready(), 60, "PostgreSQL to accept connections")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited: " + open(os.path.join(self.dir, "server.log")).read()[-2000:])
        return subprocess.run([os.path.join(self.bin, "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                              capture_output=True).returncode == 0

    def stop(self, sig=signal.SIGQUIT):
        """SIGQUIT: immediate shutdown (as a crash); SIGINT: fast, clean."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def psql(self, sql, database="sluice"):
        env = dict(os.environ, PGPASSWORD=self.PASSWORD)
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "sluice", "-d", database,
                            "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, timeout=120, env=env, text=True)
        assert p.returncode == 0, f"psql: {sql}: {p.stderr}"
        return p.stdout.strip()

    def sink_options(self):
        return (f'host = "127.0.0.1"\nport = {self.port}\nuser = "sluice"\ndatabase = "sluice"\n'
                f'password = "{self.PASSWORD}"\n')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Skipped(Exception):
    """A test that cannot run here (a feature not built, a peer missing)."""


def skip(reason):
    raise Skipped(reason)


# ctest's SKIP_RETURN_CODE for these scripts: a skipped test shows as skipped.
SKIP_EXIT = 77


def main(tests):
    """Runs the given test functions; prints 'N passed, N failed, N skipped'.
    Exits 1 if any failed, else 77 if any was skipped, else 0."""
    if not SLUICE or not os.path.exists(SLUICE):
        print("SLUICE_BIN must name the sluice binary", file=sys.stderr)
        sys.exit(2)
    passed = failed = skipped = 0
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        start = time.monotonic()
        try:
            t()
            passed += 1
            print(f"PASS {t.__name__} ({time.monotonic() - start:.1f}s)", flush=True)
        except Skipped as e:
            skipped += 1
            print(f"skipped {t.__name__}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else SKIP_EXIT if skipped else 0)


_LOG_CALL = re.compile(r'(?:log::(?:debug|info|warn|error)|\.(?:warn|error|info))\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def log_formats():
    """(path, format string) of every log call in src/: the literal strings
    of log::debug/info/warn/error and of a OnceLog's warn/error/info, joined,
    with C++ escapes of quotes and backslashes undone."""
    for path in sorted(glob.glob(os.path.join(SOURCE_DIR, "src", "**", "*.[ch]pp"), recursive=True)):
        with open(path) as f:
            text = f.read()
        for m in _LOG_CALL.finditer(text):
            fmt = "".join(_STRING.findall(m.group(1))).replace('\\"', '"').replace("\\\\", "\\")
            yield os.path.relpath(path, SOURCE_DIR), fmt
