"""The Grafana dashboards in config/examples/grafana/: valid dashboard JSON;
every metric the sluice dashboard queries is one a running gateway serves at
/metrics; the readings dashboard's SQL, with Grafana's macros and its
variables filled in, returns rows from a real PostgreSQL that the postgresql
sink filled (skipped, and reported, without PostgreSQL)."""

import glob
import json
import os
import re
import subprocess

from harness import SOURCE_DIR, Postgres, Sluice, TempDir, free_port, http_get, main, skip, wait_for, wait_ready

DIR = os.path.join(SOURCE_DIR, "config", "examples", "grafana")
METRIC = re.compile(r"\b((?:sluice|process)_[a-z0-9_]+)\b")


def dashboards():
    paths = sorted(glob.glob(os.path.join(DIR, "*.json")))
    assert len(paths) >= 2, paths
    out = {}
    for p in paths:
        with open(p) as f:
            out[os.path.basename(p)] = json.load(f)
    return out


def targets(dash, key):
    return [t[key] for p in dash["panels"] for t in p.get("targets", []) if key in t]


def test_dashboards_are_grafana_dashboards():
    for name, d in dashboards().items():
        for k in ("title", "uid", "panels", "templating", "schemaVersion"):
            assert k in d, f"{name}: no {k}"
        variables = {v["name"] for v in d["templating"]["list"]}
        assert "datasource" in variables, f"{name}: no datasource variable"
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
        for p in d["panels"]:
            assert p.get("targets"), f"{name}: panel {p['title']} queries nothing"
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, f"{name}: panel {p['title']} is wider than the grid"
            for t in p["targets"]:
                for ref in re.findall(r"\$\{?(\w+)", t.get("expr", "") + t.get("rawSql", "")):
                    assert ref in variables or ref.startswith("__"), f"{name}: ${ref} is no variable"


def test_every_metric_a_dashboard_uses_exists():
    used = set()
    for d in dashboards().values():
        for expr in targets(d, "expr"):
            used.update(METRIC.findall(expr))
    assert len(used) >= 8, used
    with TempDir() as d:
        port = free_port()
        cfg = os.path.join(d, "g.toml")
        with open(cfg, "w") as f:
            f.write(f'[gateway]\ndata_dir = "{d}/data"\n[http]\nlisten = "127.0.0.1:{port}"\n'
                    '[[pipelines.p.sources]]\ntype = "simulate"\nrate = 100\n'
                    f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{d}/out.ndjson"\n')
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")):
            wait_ready(port)
            wait_for(lambda: os.path.exists(os.path.join(d, "out.ndjson")), 30, "records to reach the sink")
            text = http_get(port, "/metrics")[1]
    served = {m.group(1) for m in re.finditer(r"^([a-z_:][a-z0-9_:]*)", text, re.M)}
    missing = sorted(used - served)
    assert not missing, f"dashboards use metrics /metrics does not serve: {missing}"


def grafana_sql(sql, variables):
    """The query as Grafana's PostgreSQL data source would send it."""
    sql = re.sub(r"\$__timeGroupAlias\((\w+),[^)]*\)", r"date_trunc('minute', \1) AS time", sql)
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 day' AND now() + interval '1 day'", sql)
    for name, value in variables.items():
        sql = sql.replace(f"${name}", value)
    assert "$" not in sql, sql
    return sql


def test_readings_dashboard_queries_a_filled_database():
    if Postgres.bin_dir() is None:
        skip("PostgreSQL is not installed (postgresql in firmware-gw/install-deps)")
    d = dashboards()["readings-postgresql.json"]
    variables = {v["name"]: v.get("query", "") for v in d["templating"]["list"] if v["type"] == "textbox"}
    with TempDir() as tmp, Postgres(tmp) as pg:
        port = free_port()
        cfg = os.path.join(tmp, "s.toml")
        with open(cfg, "w") as f:
            f.write(f'[gateway]\ndata_dir = "{tmp}/data"\n[http]\nlisten = "127.0.0.1:{port}"\n'
                    f'[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["influx"]\n'
                    f'[[pipelines.p.sinks]]\ntype = "postgresql"\n{pg.sink_options()}')
        # Line protocol: the measurement names the table, node is a tag.
        lines = "".join(f'{variables["table"]},{variables["tag"]}=n{i % 3} {variables["field"]}={20 + i}\n'
                        for i in range(30))
        # stdin at its end: sluice delivers what it read, then exits 0.
        with Sluice(["run", "-c", cfg], stdin=subprocess.PIPE, log_path=os.path.join(tmp, "log")) as s:
            s.proc.stdin.write(lines.encode())
            s.proc.stdin.close()
            assert s.wait(120) == 0, s.logs()
        assert pg.psql(f'SELECT count(*) FROM "{variables["schema"]}"."{variables["table"]}"') == "30"
        for sql in targets(d, "rawSql"):
            out = pg.psql(grafana_sql(sql, variables))
            assert out.strip(), f"no rows for\n{sql}"
            assert len(out.strip().splitlines()) >= 3, out  # one series per node


if __name__ == "__main__":
    main([test_dashboards_are_grafana_dashboards, test_every_metric_a_dashboard_uses_exists,
          test_readings_dashboard_queries_a_filled_database])
