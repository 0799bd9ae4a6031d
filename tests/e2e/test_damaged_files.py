"""A damaged buffer, a damaged tables database and a buffer whose window
state is unreadable: each time sluice starts, moves the file aside as
<name>.corrupt-<time>, salvages what it can, raises the alarm (an ERROR
line, sluice_buffer_quarantined_total on /metrics, a /ready detail while
/ready stays 200) and keeps collecting."""

import json
import os
import signal
import sqlite3
import urllib.error

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, read_ndjson, run, wait_for, gateway_sections

BASE_NS = 1_704_067_200_000_000_000


def write_config(d, port, window=False, table=False):
    cfg = os.path.join(d, "sluice.toml")
    stage = """
[[pipelines.p.stages]]
type = "window"
size = "1s"
allowed_lateness = "100ms"
group_by = ["node"]
fields = ["v"]
aggregates = ["count"]
""" if window else ""
    tables = "[tables.t]\npublic = true\n" if table else ""
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, port, shutdown_timeout="2s")}
{tables}
[[pipelines.p.sources]]
type = "file"
path = "{d}/in.lp"
poll_interval = "20ms"
decode = ["influx"]
{stage}
[[pipelines.p.sinks]]
type = "file"
path = "{d}/out.ndjson"
fsync = false
""")
    return cfg


def append_input(d, start, count, step_ns=10_000_000):
    with open(os.path.join(d, "in.lp"), "a") as f:
        for i in range(start, start + count):
            f.write(f"readings,node=n{i % 4} v={i}i {BASE_NS + i * step_ns}\n")


def buffered_run(d, cfg, port, rows):
    """Runs sluice with the sink's path taken by a directory (so it cannot
    deliver) until `rows` rows are buffered, then stops it."""
    os.makedirs(os.path.join(d, "out.ndjson"), exist_ok=True)
    with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log1.txt")) as s:
        def buffered():
            try:
                _, text = http_get(port, "/metrics")
            except OSError:
                return False
            return (metric_value(text, "sluice_pipeline_records_total", pipeline="p") or 0) >= rows
        wait_for(buffered, 30, f"{rows} records committed")
        s.signal(signal.SIGTERM)
        assert s.wait(30) == 0, s.logs()
    os.rmdir(os.path.join(d, "out.ndjson"))


def corrupt_page(path, page_no):
    """Overwrites a page's b-tree header with bytes no page type has."""
    with open(path, "rb") as f:
        page = int.from_bytes(f.read(18)[16:18], "big")
    with open(path, "r+b") as f:
        f.seek((page_no - 1) * page)
        f.write(b"\xee" * 16)


def root_page(path, table):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    finally:
        con.close()


def expect_alarm(d, s, port, kind, file):
    def counted():
        try:
            _, text = http_get(port, "/metrics")
        except OSError:
            return None
        return metric_value(text, "sluice_buffer_quarantined_total", kind=kind, file=file)

    assert wait_for(counted, 30, "sluice_buffer_quarantined_total") == 1
    def ready():
        try:
            return http_get(port, "/ready")
        except urllib.error.HTTPError as e:
            print("ready:", e.code, e.read().decode(errors="replace"))
            return None

    status, detail = wait_for(ready, 30, "/ready 200")
    assert f"{kind} " in detail and "moved aside" in detail, detail
    logs = s.logs()
    assert "is damaged" in logs and "moved aside as" in logs and "rows salvaged" in logs, logs[-3000:]
    moved = [n for n in os.listdir(os.path.join(d, "data")) if n.startswith(file + ".corrupt-")]
    assert moved, os.listdir(os.path.join(d, "data"))


def expect_collecting(d, start, count):
    append_input(d, start, count)
    wait_for(lambda: any(r["fields"].get("v") == start + count - 1 for r in read_ndjson(os.path.join(d, "out.ndjson"))),
             30, "the new input in the output")


def test_truncated_buffer():
    with TempDir() as d:
        port = free_port()
        cfg = write_config(d, port)
        append_input(d, 0, 20_000)
        buffered_run(d, cfg, port, 20_000)
        db = os.path.join(d, "data", "p.sqlite")
        ok = run(["buffer", "check", "--data-dir", os.path.join(d, "data")])
        assert ok.returncode == 0, ok.stdout.decode() + ok.stderr.decode()
        os.truncate(db, os.path.getsize(db) // 2)
        bad = run(["buffer", "check", "--data-dir", os.path.join(d, "data")])
        assert bad.returncode == 1 and "truncated" in bad.stdout.decode(), bad.stdout.decode()
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2.txt")) as s:
            expect_alarm(d, s, port, "buffer", "p.sqlite")
            # stats reads beside the running gateway
            st = run(["buffer", "stats", "--data-dir", os.path.join(d, "data")])
            assert st.returncode == 0 and "pipeline p" in st.stdout.decode(), st.stderr.decode()
            expect_collecting(d, 20_000, 100)
            salvaged = {r["fields"]["v"] for r in read_ndjson(os.path.join(d, "out.ndjson"))}
            assert len([v for v in salvaged if v < 20_000]) > 1000, len(salvaged)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        moved = [n for n in os.listdir(os.path.join(d, "data")) if n.startswith("p.sqlite.corrupt-") and
                 not n.endswith(("-wal", "-shm"))]
        to = os.path.join(d, "again.sqlite")
        sv = run(["buffer", "salvage", os.path.join(d, "data", moved[0]), "--to", to])
        assert sv.returncode == 0 and "salvaged" in sv.stdout.decode(), sv.stdout.decode() + sv.stderr.decode()
        assert int(sv.stdout.decode().split()[1]) > 1000, sv.stdout.decode()


def test_damage_found_while_running():
    """A records page in the middle is damaged: the start's checks do not
    read it, a sink's read does. The pipeline is restarted on a fresh buffer
    instead of the process dying."""
    with TempDir() as d:
        port = free_port()
        cfg = write_config(d, port)
        append_input(d, 0, 20_000)
        buffered_run(d, cfg, port, 20_000)
        db = os.path.join(d, "data", "p.sqlite")
        with open(db, "rb") as f:
            data = f.read()
        page = int.from_bytes(data[16:18], "big")
        pages = len(data) // page
        leaf = next(n for n in range(pages // 2, pages) if data[(n - 1) * page] == 0x0D)
        corrupt_page(db, leaf)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2.txt")) as s:
            expect_alarm(d, s, port, "buffer", "p.sqlite")
            assert "while running" in s.logs(), s.logs()[-3000:]
            expect_collecting(d, 20_000, 100)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
            assert "terminate called" not in s.logs()


def test_damaged_tables_database():
    with TempDir() as d:
        port = free_port()
        cfg = write_config(d, port, table=True)
        os.makedirs(os.path.join(d, "data"))
        db = os.path.join(d, "data", "tables.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE table_rows (tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                    "PRIMARY KEY (tbl, key)) WITHOUT ROWID")
        con.executemany("INSERT INTO table_rows VALUES ('t', ?, ?)",
                        [(f"k{i:05}", json.dumps({"a": i, "pad": "x" * 60})) for i in range(3000)])
        con.execute("PRAGMA user_version = 1")
        con.commit()
        con.close()
        corrupt_page(db, 4)
        append_input(d, 0, 10)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
            expect_alarm(d, s, port, "tables", "tables.db")
            expect_collecting(d, 10, 10)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        kept = con.execute("SELECT count(*) FROM table_rows").fetchone()[0]
        con.close()
        assert 1000 < kept < 3000, kept


def test_unreadable_window_state():
    with TempDir() as d:
        port = free_port()
        cfg = write_config(d, port, window=True)
        append_input(d, 0, 2_000)
        buffered_run(d, cfg, port, 1)
        db = os.path.join(d, "data", "p.sqlite")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        states = con.execute("SELECT count(*) FROM stage_state").fetchone()[0]
        con.close()
        assert states > 0, "the window stored no state"
        corrupt_page(db, root_page(db, "stage_state"))
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2.txt")) as s:
            expect_alarm(d, s, port, "buffer", "p.sqlite")
            # Records far later close the windows: output comes again.
            append_input(d, 10_000, 500)
            wait_for(lambda: len(read_ndjson(os.path.join(d, "out.ndjson"))) > 0, 30, "windows in the output")
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()


def test_unwritable_data_dir():
    """Exit 1 with the path and the fix. Root ignores permission bits, so as
    root the directory is a read-only tmpfs mount."""
    import subprocess

    from harness import skip
    with TempDir() as d:
        data = os.path.join(d, "data")
        os.makedirs(data)
        mounted = False
        if os.geteuid() == 0:
            m = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", data], capture_output=True)
            if m.returncode != 0:
                skip(f"cannot mount a read-only tmpfs: {m.stderr.decode().strip()}")
            mounted = True
        else:
            os.chmod(data, 0o555)
        try:
            p = run(["run", "-e", "stdin ! stdout", "--data-dir", data, "--http", "off"], input=b"")
        finally:
            if mounted:
                subprocess.run(["umount", data], check=False)
        err = p.stderr.decode()
        assert p.returncode == 1, (p.returncode, err)
        assert "is not writable" in err and data in err and "Fix:" in err, err


if __name__ == "__main__":
    main([test_truncated_buffer, test_damage_found_while_running, test_damaged_tables_database, test_unreadable_window_state, test_unwritable_data_dir])
