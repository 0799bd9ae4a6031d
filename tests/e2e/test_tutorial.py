"""docs/tutorial.md and the guide pages (docs/guide/*.md), run as a reader
would run them: every shell block a page marks runs in order, in a fresh
home directory, with the sluice of this build first on PATH and a real
mosquitto; the output the page shows must come out.

Markers (HTML comments on the line before a fence):
  <!-- doc: run -->     the ```sh block runs to completion (exit 0)
  <!-- doc: start -->   the ```sh block starts a program that keeps running
                        (a gateway: "in a second terminal"); it is stopped
                        at the end, or killed by a later block
  <!-- doc: output -->  the ```text block: each of its lines is a line the
                        previous run block printed
Peers: a page that names port 5432 gets a PostgreSQL of its own (role and
database `sluice`, password `secret`), one that names localhost:9092 gets
librdkafka's mock cluster (read back with kcat). The text's 1883
(mosquitto), 6666 (sluice's API), 5432 and localhost:9092 become theirs.
Prints how long the run-through took.
"""

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))

from harness import SLUICE, SOURCE_DIR, Postgres, TempDir, free_port, kafka_mock, main, skip  # noqa: E402
from test_mqtt import Mosquitto  # noqa: E402

TUTORIAL = os.path.join(SOURCE_DIR, "docs", "tutorial.md")
BLOCK = re.compile(r"<!--\s*doc:\s*(run|start|output)\s*-->\s*\n```(\w+)\n(.*?)^```", re.S | re.M)
BLOCK_TIMEOUT = 120


def steps(page):
    name = os.path.relpath(page, SOURCE_DIR)
    with open(page) as f:
        text = f.read()
    out = []
    for m in BLOCK.finditer(text):
        kind, lang, body = m.group(1), m.group(2), m.group(3)
        line = text.count("\n", 0, m.start()) + 2
        if kind == "output":
            assert out and out[-1][0] == "run", f"{name}:{line}: an output block follows no run block"
            out[-1][3].extend(x.strip() for x in body.splitlines() if x.strip())
        else:
            assert lang == "sh", f"{name}:{line}: a {kind} block must be ```sh"
            out.append((kind, line, body, []))
    return out


def run_page(page, min_runs):
    for tool in ("mosquitto", "mosquitto_pub", "curl"):
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed (firmware-gw/install-deps installs it)")
    name = os.path.relpath(page, SOURCE_DIR)
    plan = steps(page)
    assert sum(1 for s in plan if s[0] == "run") >= min_runs, f"{name} has too few runnable blocks"
    started = []
    with TempDir() as d:
        home = os.path.join(d, "home")
        bindir = os.path.join(d, "bin")
        os.makedirs(os.path.join(home, "sluice-tutorial"))
        os.makedirs(bindir)
        os.symlink(SLUICE, os.path.join(bindir, "sluice"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env.update(HOME=home, PATH=bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin"))
        workdir = os.path.join(home, "sluice-tutorial")
        api_port = free_port()
        with open(page) as f:
            text = f.read()
        with contextlib.ExitStack() as peers:
            broker = peers.enter_context(Mosquitto(d))
            ports = {"1883": str(broker.port), "6666": str(api_port)}
            if re.search(r"\b5432\b", text):
                if Postgres.bin_dir() is None or shutil.which("psql") is None:
                    skip(f"{name} needs PostgreSQL, which is not installed")
                ports["5432"] = str(peers.enter_context(Postgres(d)).port)
            if "localhost:9092" in text:
                if shutil.which("kcat") is None:
                    skip(f"{name} needs kcat, which is not installed")
                ports["localhost:9092"] = peers.enter_context(kafka_mock(1)).bootstrap

            def localised(body):
                body = body.replace("localhost:9092", ports.get("localhost:9092", "localhost:9092"))
                return re.sub(r"\b(1883|6666|5432)\b", lambda m: ports.get(m.group(1), m.group(1)), body)

            began = time.monotonic()
            try:
                for i, (kind, line, body, expected) in enumerate(plan):
                    code = localised(body)
                    t0 = time.monotonic()
                    if kind == "start":
                        log = open(os.path.join(d, f"started-{i}.log"), "w")
                        p = subprocess.Popen(["bash", "-c", code], cwd=workdir, env=env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
                        started.append((p, log, line))
                        print(f"{name}:{line}: started", flush=True)
                        continue
                    r = subprocess.run(["bash", "-eo", "pipefail", "-c", code], cwd=workdir, env=env,
                                       capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
                    logs = "".join(open(lg.name).read()[-1500:] for _, lg, _ in started)
                    assert r.returncode == 0, (f"{name}:{line}: exit {r.returncode}\n{code}\nstdout: "
                                               f"{r.stdout[-1500:]}\nstderr: {r.stderr[-1500:]}\ngateway: {logs}")
                    printed = [x.strip() for x in r.stdout.splitlines()]
                    for want in expected:
                        assert want in printed, f"{name}:{line}: printed {printed}, not {want!r}"
                    print(f"{name}:{line}: ok ({time.monotonic() - t0:.1f}s)", flush=True)
                print(f"run-through of {name}: {time.monotonic() - began:.1f}s", flush=True)
            finally:
                for p, log, _ in started:
                    if p.poll() is None:
                        os.killpg(p.pid, signal.SIGTERM)
                        try:
                            p.wait(timeout=30)
                        except subprocess.TimeoutExpired:
                            os.killpg(p.pid, signal.SIGKILL)
                            p.wait()
                    log.close()


def test_tutorial_runs_end_to_end():
    run_page(TUTORIAL, 8)


def test_guide_pages_run():
    pages = [p for p in sorted(glob.glob(os.path.join(SOURCE_DIR, "docs", "guide", "*.md")))
             if "<!-- doc: run -->" in open(p).read()]
    assert pages, "no guide page has runnable blocks"
    for page in pages:
        run_page(page, 1)


if __name__ == "__main__":
    main([test_tutorial_runs_end_to_end, test_guide_pages_run])
