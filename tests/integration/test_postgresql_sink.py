"""The postgresql sink against a real PostgreSQL server started by the test
(initdb and postgres on a free loopback port), read back with psql: rows in
tables made from a template, typed columns with a key (a batch sent again
adds nothing), one row breaking a constraint in a batch of 1,000 (999
stored, one dead letter with the server's message), the server down for
30 s mid-run, and sluice killed with SIGKILL mid-run and restarted."""

import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import (Postgres, Sluice, TempDir, check_all, dead_letters, free_port, main,  # noqa: E402
                     metric, run, sent, sink_outage, sink_sigkill, wait_for)  # noqa: E402
from test_mqtt_tls import make_ca, make_cert  # noqa: E402

OUTAGE_S = 30.0


def record_line(seq, **extra):
    return json.dumps({"gateway": "gw1", "node": f"n{seq % 5}", "seq": seq, "value": seq * 0.5, **extra}) + "\n"


def write_config(d, pg, http_port, source, extra=""):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:{http_port}"\n'
                f'[pipelines.p]\nbatch_max_records = 1000\nbatch_max_delay = "20ms"\n'
                f'{source}'
                f'[[pipelines.p.sinks]]\ntype = "postgresql"\nid = "pg"\n{pg.sink_options()}'
                f'batch_size = 1000\nretry_initial = "50ms"\nretry_max = "1s"\n{extra}')
    return cfg


STDIN_SOURCE = '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n'




def seqs(pg, table):
    out = pg.psql(f"SELECT (fields->>'seq')::bigint FROM {table}")
    return [int(x) for x in out.split()] if out else []



def test_rows_in_tables_from_a_template():
    total = 5_000
    with TempDir() as d, Postgres(d) as pg:
        port = free_port()
        cfg = write_config(d, pg, port, STDIN_SOURCE, 'table = "{gateway}_{node}"\n')
        p = run(["run", "-c", cfg, "--data-dir", d],
                input="".join(record_line(i, note="tab\there \\ back") for i in range(total)).encode(), timeout=120)
        assert p.returncode == 0, p.stderr.decode()[-3000:]
        tables = pg.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                         "WHERE schemaname = 'public'")
        assert tables == "gw1_n0,gw1_n1,gw1_n2,gw1_n3,gw1_n4", tables
        got = []
        for n in range(5):
            got += seqs(pg, f"gw1_n{n}")
        assert check_all(got, total) == 0
        row = pg.psql("SELECT fields->>'node', fields->>'value', fields->>'note', "
                      "extract(epoch from ts) > 1.7e9 FROM gw1_n3 WHERE (fields->>'seq')::int = 8")
        assert row == "n3|4|tab\there \\ back|t", row
        index = pg.psql("SELECT indexdef FROM pg_indexes WHERE tablename = 'gw1_n0'")
        assert "(ts)" in index, index


def test_typed_columns_and_a_key_make_a_resent_batch_add_nothing():
    total = 3_000
    extra = 'table = "readings"\ncolumns = ["seq=bigint", "node=text", "value=double precision"]\nkey = ["seq"]\n'
    with TempDir() as d, Postgres(d) as pg:
        lines = "".join(record_line(i) for i in range(total)).encode()
        for attempt in range(2):
            # A fresh buffer each time: the same rows arrive twice, as a
            # retried batch would.
            data = os.path.join(d, f"data{attempt}")
            cfg = write_config(d, pg, free_port(), STDIN_SOURCE, extra)
            p = run(["run", "-c", cfg, "--data-dir", data], input=lines, timeout=120)
            assert p.returncode == 0, p.stderr.decode()[-3000:]
        assert pg.psql("SELECT count(*), count(DISTINCT seq) FROM readings") == f"{total}|{total}"
        row = pg.psql("SELECT node, value, fields ? 'seq', fields ? 'node', fields->>'gateway' FROM readings "
                      "WHERE seq = 7")
        assert row == "n2|3.5|f|f|gw1", row
        types = pg.psql("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) "
                        "FROM information_schema.columns WHERE table_name = 'readings'")
        assert types == ("ts:timestamp with time zone,tags:jsonb,fields:jsonb,seq:bigint,node:text,"
                         "value:double precision"), types
        assert "PRIMARY KEY" in pg.psql("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                        "WHERE conrelid = 'readings'::regclass")


def test_one_bad_row_in_a_batch_of_1000():
    """The server is started only once all 1,000 rows are buffered, so they
    reach the sink as one batch (batch_size 1000)."""
    total = 1_000
    ddl = ("CREATE TABLE {schema}.{table} (ts timestamptz NOT NULL, tags jsonb, fields jsonb, "
           "seq bigint CHECK (seq <> 500))")
    extra = f'table = "checked"\ncolumns = ["seq=bigint"]\nddl = "{ddl}"\nbatch_growth = 1\n'
    with TempDir() as d, Postgres(d) as pg:
        pg.stop(signal.SIGINT)
        port = free_port()
        cfg = write_config(d, pg, port, STDIN_SOURCE, extra)
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write("".join(record_line(i) for i in range(total)).encode())
            s.proc.stdin.close()
            wait_for(lambda: metric(port, "sluice_pipeline_records_total", pipeline="p") >= total, 60,
                     "every record buffered")
            wait_for(lambda: metric(port, "sluice_component_errors_total", component="p/pg") > 0, 60,
                     "the sink to find the server down")
            pg.start()
            assert s.wait(120) == 0, s.logs()[-3000:]
        assert pg.psql("SELECT count(*), count(DISTINCT seq) FROM checked") == "999|999"
        assert pg.psql("SELECT count(*) FROM checked WHERE seq = 500") == "0"
        letters = [x for x in dead_letters(d) if x.get("stage", "").startswith("p/pg")]
        assert len(letters) == 1, letters
        reason = letters[0]["reason"]
        assert "violates check constraint" in reason and "SQLSTATE 23514" in reason, reason
        assert '"seq":500' in json.dumps(letters[0]).replace(" ", "") or "500" in json.dumps(letters[0]), letters


def test_many_bad_rows():
    """Every third row breaks the CHECK: each is searched out (past 256
    written pieces the transaction is committed and a new one goes on)."""
    total = 3_000
    ddl = ("CREATE TABLE {schema}.{table} (ts timestamptz NOT NULL, tags jsonb, fields jsonb, "
           "seq bigint CHECK (seq % 3 <> 0))")
    extra = f'table = "thirds"\ncolumns = ["seq=bigint"]\nddl = "{ddl}"\n'
    with TempDir() as d, Postgres(d) as pg:
        cfg = write_config(d, pg, free_port(), STDIN_SOURCE, extra)
        p = run(["run", "-c", cfg, "--data-dir", d], input="".join(record_line(i) for i in range(total)).encode(),
                timeout=300)
        assert p.returncode == 0, p.stderr.decode()[-3000:]
        assert pg.psql("SELECT count(*), count(DISTINCT seq), min(seq % 3) FROM thirds") == "2000|2000|1"
        letters = [x for x in dead_letters(d) if x.get("stage", "").startswith("p/pg")]
        assert len(letters) == 1000, len(letters)


def test_server_down_30s_loses_nothing():
    total = 20_000
    with TempDir() as d, Postgres(d) as pg:
        port = free_port()
        cfg = write_config(d, pg, port, STDIN_SOURCE, 'table = "outage"\ntimeout = "5s"\n')
        # pg.stop(): an immediate shutdown, as a crash of the server.
        logs = sink_outage(d, cfg, port, "p/pg", [record_line(i) for i in range(total)], pg.stop, pg.start,
                           OUTAGE_S, "the server")
        connects = logs.count("p/pg: connected to PostgreSQL")
        got = seqs(pg, "outage")
        dups = check_all(got, total)
        print(f"  outage {OUTAGE_S:.0f}s: rows {len(got)}, duplicates {dups}, connects {connects}", flush=True)
        assert connects >= 2


def test_sigkill_and_restart_loses_nothing():
    # A restart sends again at most the batch whose COMMIT the kill cut off
    # or whose cursor move it lost: batch_size (1000) grown batch_growth (4)
    # times.
    bound = 1000 * 4
    with TempDir() as d, Postgres(d) as pg:
        dups = sink_sigkill(d, lambda port, source: write_config(d, pg, port, source, 'table = "killed"\n'),
                            "p/pg", 60_000, lambda: seqs(pg, "killed"))
        assert dups <= bound, f"{dups} duplicates > {bound}"


def test_relay_url_and_healthcheck():
    with TempDir() as d, Postgres(d) as pg:
        url = f"postgres://sluice:{pg.PASSWORD}@127.0.0.1:{pg.port}/sluice?table=relayed"
        p = run(["relay", "-", url, "--data-dir", os.path.join(d, "r"), "--http", "off"],
                input="".join(record_line(i) for i in range(100)).encode(), timeout=60)
        assert p.returncode == 0, p.stderr.decode()[-3000:]
        assert sorted(seqs(pg, "relayed")) == list(range(100))
        assert pg.PASSWORD.encode() not in p.stderr, "the password was logged"
        cfg = write_config(d, pg, free_port(), STDIN_SOURCE)
        p = run(["validate", "-c", cfg, "--healthcheck"], timeout=60)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
        assert b"connected to PostgreSQL" in p.stdout + p.stderr, p.stdout + p.stderr
        with open(cfg) as f:
            text = f.read().replace(f'password = "{pg.PASSWORD}"', 'password = "wrong-one"')
        with open(cfg, "w") as f:
            f.write(text)
        p = run(["validate", "-c", cfg, "--healthcheck"], timeout=60)
        out = (p.stdout + p.stderr).decode()
        assert p.returncode != 0 and "password authentication failed" in out, out
        assert "wrong-one" not in out, out


def test_reserved_schema_names_and_a_schema_dropped_while_running():
    """A schema PostgreSQL reserves ("pg_temp" would be the session's
    temporary schema) is written as "x_pg_..."; a schema dropped behind the
    sink's back is made again and nothing is lost."""
    with TempDir() as d, Postgres(d) as pg:
        port = free_port()
        cfg = write_config(d, pg, port, STDIN_SOURCE, 'schema = "{site}"\ntable = "readings"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write("".join(record_line(i, site="pg_temp") for i in range(100)).encode())
            s.proc.stdin.flush()
            wait_for(lambda: sent(port, "p/pg") >= 100, 60, "the first rows sent")
            assert sorted(seqs(pg, "x_pg_temp.readings")) == list(range(100))
            pg.psql("DROP SCHEMA x_pg_temp CASCADE")
            s.proc.stdin.write("".join(record_line(i, site="pg_temp") for i in range(100, 200)).encode())
            s.proc.stdin.close()
            assert s.wait(60) == 0, s.logs()[-3000:]
        assert sorted(seqs(pg, "x_pg_temp.readings")) == list(range(100, 200))


def test_tls_verifies_the_server():
    """tls = true is sslmode=verify-full: the right CA delivers over TLS; a
    wrong CA or a certificate for another name fails, naming the reason."""
    with TempDir() as d:
        certs = os.path.join(d, "certs")
        os.makedirs(certs)
        make_ca(certs, "ca")
        make_ca(certs, "wrong-ca")
        make_cert(certs, "server", "ca", "127.0.0.1", san="IP:127.0.0.1,DNS:localhost")
        make_cert(certs, "other", "ca", "other.example", san="DNS:other.example")
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            for f in os.listdir(certs):
                os.chown(os.path.join(certs, f), pw.pw_uid, pw.pw_gid)
            os.chmod(d, 0o711)
        for f in ("server.key", "other.key"):
            os.chmod(os.path.join(certs, f), 0o600)

        def healthcheck(pg, ca, host="127.0.0.1"):
            cfg = write_config(d, pg, free_port(), STDIN_SOURCE, f'tls = true\nca_file = "{certs}/{ca}.crt"\n')
            with open(cfg) as f:
                text = f.read().replace('host = "127.0.0.1"', f'host = "{host}"')
            with open(cfg, "w") as f:
                f.write(text)
            p = run(["validate", "-c", cfg, "--healthcheck"], timeout=60)
            return p.returncode, (p.stdout + p.stderr).decode(), cfg

        ssl = lambda name: ["ssl=on", f"ssl_cert_file={certs}/{name}.crt",  # noqa: E731
                            f"ssl_key_file={certs}/{name}.key"]
        with Postgres(d, settings=ssl("server")) as pg:
            rc, out, cfg = healthcheck(pg, "ca")
            assert rc == 0 and "over TLS" in out, out
            p = run(["run", "-c", cfg, "--data-dir", os.path.join(d, "data")],
                    input="".join(record_line(i) for i in range(50)).encode(), timeout=60)
            assert p.returncode == 0, p.stderr.decode()[-3000:]
            assert sorted(seqs(pg, "readings")) == list(range(50))
            rc, out, _ = healthcheck(pg, "wrong-ca")
            assert rc != 0 and "certificate verify failed" in out, out
        with Postgres(os.path.join(d, "other"), settings=ssl("other")) as pg:
            rc, out, _ = healthcheck(pg, "ca")
            assert rc != 0 and "does not match host name" in out, out


if __name__ == "__main__":
    if Postgres.bin_dir() is None:
        print("skipped: the PostgreSQL server is not installed (Debian: postgresql)", flush=True)
        sys.exit(77)
    main([test_rows_in_tables_from_a_template, test_typed_columns_and_a_key_make_a_resent_batch_add_nothing,
          test_one_bad_row_in_a_batch_of_1000, test_many_bad_rows, test_server_down_30s_loses_nothing,
          test_sigkill_and_restart_loses_nothing, test_relay_url_and_healthcheck,
          test_reserved_schema_names_and_a_schema_dropped_while_running, test_tls_verifies_the_server])
