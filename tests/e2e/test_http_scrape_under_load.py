"""/metrics and /ready stay off SQLite while the worker commits large
batches: a fast simulate source fills 20000-record batches (synchronous =
full, so every commit waits for the disk), a file sink delivers them and a
pushgateway sink with nobody listening keeps retrying (so /ready has an
unhealthy sink to explain and the buffer keeps rows). Meanwhile one
keep-alive client scrapes /metrics and /ready back to back.

Asserts behaviour only: every scrape answered (/metrics 200 with the
pipeline's figures, /ready 200 or 503 naming the retrying sink), the worker committed throughout, and the I/O loop thread ran no
SQLite (sluice_loop_sqlite_calls_total stays 0). Prints the scrape latency
(p50/p99/max) for the record; timing is never asserted."""

import http.client
import os
import statistics
import time

from harness import TIMEOUT_SCALE, Sluice, TempDir, free_port, http_get, main, metric_value, wait_for, gateway_sections

# Slow builds (sanitizers) scrape longer, so the worker still commits batches meanwhile.
SCRAPE_SECONDS = float(os.environ.get("SLUICE_SCRAPE_SECONDS", "10")) * TIMEOUT_SCALE
RATE = 40000          # simulate frames per second
BATCH = 20000         # batch_max_records


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else 0.0


def test_scrapes_never_run_sqlite_while_the_worker_commits():
    with TempDir() as d:
        port = free_port()
        dead_port = free_port()  # nobody listens there: the pushgateway sink keeps retrying
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f"""
{gateway_sections(d, port)}
[pipelines.load]
batch_max_records = {BATCH}
batch_max_delay = "1s"
queue_max_frames = 200000
queue_max_bytes = "64MiB"

[pipelines.load.buffer]
synchronous = "full"
max_bytes = "64MiB"

[[pipelines.load.sources]]
type = "simulate"
rate = {RATE}
decode = ["json"]

[[pipelines.load.sinks]]
id = "out"
type = "file"
path = "{d}/out.ndjson"
max_size = "8MiB"
max_files = 1

[[pipelines.load.sinks]]
id = "push"
type = "pushgateway"
port = {dead_port}
job = "load"
push_interval = "0s"
connect_timeout = "50ms"
""")
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "sluice.log")) as s:
            def scrape():
                _, text = http_get(port, "/metrics")
                return text

            def committing():
                assert s.proc.poll() is None, "sluice exited:\n" + s.logs()[-3000:]
                try:
                    text = scrape()
                except OSError:
                    return False  # not listening yet
                # Committed batches, and the pushgateway sink has failed once.
                return ((metric_value(text, "sluice_pipeline_records_total") or 0) >= BATCH and
                        metric_value(text, "sluice_sink_up", component="load/push") == 0)

            wait_for(committing, 60, "sluice to commit batches with one sink retrying")
            before = scrape()
            records_before = metric_value(before, "sluice_pipeline_records_total")

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            latencies = {"/metrics": [], "/ready": []}
            failures = []
            last_metrics = ""
            start = time.monotonic()
            try:
                while time.monotonic() - start < SCRAPE_SECONDS:
                    for path in ("/metrics", "/ready"):
                        t0 = time.monotonic()
                        try:
                            conn.request("GET", path)
                            r = conn.getresponse()
                            body = r.read().decode()
                            took = time.monotonic() - t0
                            # /ready may rightly say 503 once the retrying sink's
                            # backlog fills the buffer (slow builds scrape longer):
                            # that is an answer too.
                            if r.status != 200 and not (path == "/ready" and r.status == 503):
                                failures.append(f"{path}: {r.status} {body[:200]}")
                                continue
                            latencies[path].append(took)
                            if path == "/metrics":
                                last_metrics = body
                            elif "load/push" not in body:
                                failures.append(f"/ready does not explain the retrying sink: {body[:200]}")
                        except (OSError, http.client.HTTPException) as e:
                            failures.append(f"{path}: {type(e).__name__}: {e}")
                            conn.close()
                            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            finally:
                conn.close()
            elapsed = time.monotonic() - start

            after = scrape()
            committed = metric_value(after, "sluice_pipeline_records_total") - records_before
            loop_sql = metric_value(after, "sluice_loop_sqlite_calls_total")
            for path, values in latencies.items():
                print(f"{path}: {len(values)} scrapes in {elapsed:.1f} s; latency p50 "
                      f"{percentile(values, 50) * 1000:.2f} ms, p99 {percentile(values, 99) * 1000:.2f} ms, "
                      f"max {max(values or [0]) * 1000:.2f} ms", flush=True)
            print(f"worker: {committed:.0f} records committed meanwhile ({committed / elapsed:.0f}/s, batches of up "
                  f"to {BATCH}); sluice_loop_sqlite_calls_total {loop_sql}", flush=True)

            assert not failures, f"{len(failures)} scrapes failed:\n" + "\n".join(failures[:20])
            assert latencies["/metrics"] and latencies["/ready"], "no scrape answered"
            assert committed >= BATCH, f"the worker committed only {committed:.0f} records while scraping"
            for name in ("sluice_buffer_rows", "sluice_buffer_bytes", "sluice_sink_lag_rows"):
                assert metric_value(last_metrics, name) is not None, f"{name} missing from /metrics"
            assert metric_value(after, "sluice_buffer_rows") > 0, "the retrying sink should keep rows buffered"
            assert loop_sql == 0, f"the I/O loop thread ran SQLite {loop_sql} times (see the log)"
            assert s.proc.poll() is None, "sluice died:\n" + s.logs()[-3000:]


if __name__ == "__main__":
    main([test_scrapes_never_run_sqlite_while_the_worker_commits])
