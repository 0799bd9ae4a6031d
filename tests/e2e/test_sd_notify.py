"""sluice under a stand-in for systemd's notification socket: the test binds
an AF_UNIX datagram socket, runs sluice with NOTIFY_SOCKET and WATCHDOG_USEC,
and checks READY=1, STATUS= lines with the record rate, WATCHDOG=1 at half
the interval, RELOADING=1/READY=1 around SIGHUP (also for a refused reload)
and STOPPING=1 on SIGTERM. With the test hook that stalls the pipeline
worker, the pings stop while the process keeps running."""

import os
import re
import signal
import socket
import statistics
import threading
import time

from harness import TIMEOUT_SCALE, Sluice, TempDir, main, skip, wait_for, gateway_sections

WATCHDOG_USEC = 400_000
INTERVAL = WATCHDOG_USEC / 1e6


class NotifySocket:
    """The service manager's end of $NOTIFY_SOCKET; keeps every datagram
    with the monotonic time it arrived."""

    def __init__(self, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(name.replace("@", "\0", 1) if name.startswith("@") else name)
        self.sock.settimeout(0.1)
        self.name = name
        self.messages = []  # (time, {key: value})
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def all(self):
        with self.lock:
            return list(self.messages)

    def since(self, index):
        return self.all()[index:]

    def find(self, key, value=None, start=0):
        """Index of the first message from `start` on that has `key` (= value)."""
        for i, (_, m) in enumerate(self.all()[start:], start):
            if key in m and (value is None or m[key] == value):
                return i
        return None

    def wait(self, key, value=None, start=0, timeout=20):
        """Waits for a message with `key` (= value) from `start` on; its index."""
        found = []

        def seen():
            i = self.find(key, value, start)
            if i is not None:
                found.append(i)
            return i is not None

        wait_for(seen, timeout, f"{key}={value}" if value is not None else key)
        return found[-1]

    def pings(self, start=0):
        return [t for t, m in self.since(start) if m.get("WATCHDOG") == "1"]


def write_config(d, rate):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, None)}
[pipelines.sim]
[[pipelines.sim.sources]]
type = "simulate"
rate = {rate}
decode = ["json"]

[[pipelines.sim.sinks]]
type = "file"
path = "{d}/out.ndjson"
""")
    return cfg


def run_env(notify):
    return {"NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": str(WATCHDOG_USEC)}


def test_ready_status_watchdog_reload_stop():
    with TempDir() as d, NotifySocket(os.path.join(d, "notify")) as notify:
        cfg = write_config(d, 50)
        with Sluice(["run", "-c", cfg], env=run_env(notify), log_path=os.path.join(d, "log")) as s:
            ready = notify.wait("READY", "1", timeout=20)
            assert notify.all()[ready][1].get("STATUS") == "1 pipeline running", notify.all()[ready]

            # Pings at half the interval: look at the gaps over a window of
            # many of them, loosely (the machine may be busy).
            wait_for(lambda: len(notify.pings(ready)) >= 21, 30, "21 watchdog pings")
            pings = notify.pings(ready)
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            median = statistics.median(gaps)
            print(f"watchdog: {len(gaps)} gaps, median {median:.3f}s, max {max(gaps):.3f}s, interval {INTERVAL}s")
            assert 0.3 * INTERVAL <= median <= 0.8 * INTERVAL * TIMEOUT_SCALE, f"median gap {median:.3f}s: {gaps}"
            late = [g for g in gaps if g > INTERVAL * TIMEOUT_SCALE]
            assert len(late) <= len(gaps) // 10, f"{len(late)} gaps over the {INTERVAL}s interval: {gaps}"

            # A periodic status line with the record rate.
            def rate_status():
                for _, m in notify.since(ready + 1):
                    match = re.fullmatch(r"1 pipeline, (\d+) records/s in, (\d+) buffered, sinks ok", m.get("STATUS", ""))
                    if match and int(match.group(1)) > 0:
                        return m["STATUS"]
                return None

            print("status:", wait_for(rate_status, 30, "a STATUS= line with a record rate above 0"))

            # SIGHUP: RELOADING=1 with the time, then READY=1 once the new pipelines run.
            mark = len(notify.all())
            s.signal(signal.SIGHUP)
            reloading = notify.wait("RELOADING", "1", mark, timeout=20)
            assert re.fullmatch(r"\d+", notify.all()[reloading][1].get("MONOTONIC_USEC", "")), notify.all()[reloading]
            notify.wait("READY", "1", reloading + 1, timeout=30)
            wait_for(lambda: "reload done" in s.logs(), 10, "the reload in the log")

            # A refused reload still ends with READY=1 (systemd waits for it).
            with open(cfg, "a") as f:
                f.write("\n[pipelines.sim.oops]\n")
            mark = len(notify.all())
            s.signal(signal.SIGHUP)
            reloading = notify.wait("RELOADING", "1", mark, timeout=20)
            after = notify.wait("READY", "1", reloading + 1, timeout=20)
            assert "reload rejected" in notify.all()[after][1].get("STATUS", ""), notify.all()[after]
            # ... and the pipeline still runs: pings go on.
            wait_for(lambda: len(notify.pings(after)) >= 3, 20, "pings after the refused reload")

            mark = len(notify.all())
            s.signal(signal.SIGTERM)
            notify.wait("STOPPING", "1", mark, timeout=20)
            assert s.wait(30) == 0, s.logs()


def test_stalled_worker_stops_the_pings():
    if os.environ.get("SLUICE_TEST_HOOKS", "ON").upper() in ("OFF", "0", "FALSE", "NO"):
        skip("this build has no test hooks (SLUICE_TEST_HOOKS=OFF)")
    with TempDir() as d, NotifySocket(f"@sluice-e2e-notify-{os.getpid()}") as notify:
        cfg = write_config(d, 20)
        env = run_env(notify)
        env["SLUICE_TEST_STALL_WORKER_AFTER_MS"] = "1500"
        with Sluice(["run", "-c", cfg], env=env, log_path=os.path.join(d, "log")) as s:
            ready = notify.wait("READY", "1", timeout=20)
            wait_for(lambda: len(notify.pings(ready)) >= 2, 20, "pings before the stall")
            wait_for(lambda: "worker stalled on purpose" in s.logs(), 20, "the stall hook to fire")
            wait_for(lambda: any("pipeline sim: worker stuck" in m.get("STATUS", "") for _, m in notify.since(ready)),
                     20, "a STATUS= line naming the stuck worker")
            wait_for(lambda: "withholding watchdog pings" in s.logs(), 10, "the log line about withheld pings")

            # Pings stop for good while the process keeps running: no ping
            # for several intervals, measured from the last one.
            def quiet():
                pings = notify.pings(ready)
                return s.proc.poll() is None and pings and time.monotonic() - pings[-1] > 5 * INTERVAL
            wait_for(quiet, 20, "the pings to stop while sluice runs")
            last = notify.pings(ready)[-1]
            assert s.proc.poll() is None, s.logs()

            # A stalled worker still lets the process stop.
            s.signal(signal.SIGTERM)
            notify.wait("STOPPING", "1", timeout=20)
            assert s.wait(30) == 0, s.logs()
            assert notify.pings(ready)[-1] == last, "a ping after the stall"


if __name__ == "__main__":
    main([test_ready_status_watchdog_reload_stop, test_stalled_worker_stops_the_pings])
