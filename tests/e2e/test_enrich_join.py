"""Stream-table and stream-stream joins through the real binary: readings on
stdin are calibrated from a CSV table (enrich), then temperature and
humidity are paired by node (join). The output is compared record by record,
in order, with what the documented rules give."""

import json
import os
import shutil
import subprocess

from harness import SLUICE, TempDir, main, read_ndjson, gateway_sections

T0 = 1_700_000_000

CALIBRATION = """sensor,scale,offset,site
n1/temperature,1.02,-0.3,lab
n1/humidity,1,2,lab
n2/temperature,2,0,roof
"""

# InfluxDB line protocol: measurement,tags fields time(ns).
READINGS = [
    ("temperature", "n1", "value=20", 0),
    ("humidity", "n1", "value=40", 1),
    ("temperature", "n2", "value=10", 0),
    ("humidity", "n2", "value=50", 2),
    ("temperature", "n3", "value=15", 3),  # no partner: released alone once event time passes 3 s + 5 s
    ("status", "n1", "up=true", 4),        # neither stream: passes through
    ("humidity", "n1", "value=41", 10),    # moves event time to 10 s: n3 leaves
    ("temperature", "n1", "value=21", 11),  # pairs with the humidity at 10 s
]


def iso(seconds):
    return subprocess.run(["date", "-u", "-d", f"@{T0 + seconds}", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True,
                          text=True, check=True).stdout.strip()


def ordered(text):
    """A JSON document as nested lists of (key, value) pairs: member order counts."""
    return json.loads(text, object_pairs_hook=list)


def record(t, measurement, tags, fields):
    return [("time", iso(t)), ("measurement", measurement), ("origin", "stdin"), ("tags", list(tags.items())),
            ("fields", list(fields.items()))]


def test_calibrate_from_csv_then_join_by_node():
    with TempDir() as d:
        csv = os.path.join(d, "calibration.csv")
        with open(csv, "w") as f:
            f.write(CALIBRATION)
        out = os.path.join(d, "out.ndjson")
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f"""
{gateway_sections(d, None)}
[tables.calibration]
csv = "{csv}"
key_column = "sensor"

[[pipelines.climate.sources]]
type = "stdin"
decode = ["influx"]

[[pipelines.climate.stages]]
type = "enrich"
table = "calibration"
key = "{{node}}/{{measurement}}"
tags = ["site"]
missing = "pass"

[[pipelines.climate.stages]]
type = "join"
left = "measurement == 'temperature'"
right = "measurement == 'humidity'"
key = "{{node}}"
window = "5s"
timeout = "0s"
unmatched = "emit"
measurement = "climate"

[[pipelines.climate.sinks]]
type = "file"
path = "{out}"
fsync = false
""")
        lines = "".join(f"{m},node={n} {fields} {(T0 + t) * 10**9}\n" for m, n, fields, t in READINGS)
        p = subprocess.run([SLUICE, "run", "-c", cfg], input=lines.encode(), capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr.decode()

        # value * scale + offset, computed as sluice does (IEEE doubles).
        t1 = 20 * 1.02 + -0.3
        t1b = 21 * 1.02 + -0.3
        expected = [
            record(0, "climate", {"node": "n1", "site": "lab"},
                   {"temperature_value": t1, "humidity_value": 42}),
            record(0, "climate", {"node": "n2", "site": "roof"},
                   {"temperature_value": 20, "humidity_value": 50}),
            record(4, "status", {"node": "n1"}, {"up": True}),
            record(3, "temperature", {"node": "n3"}, {"value": 15}),
            record(11, "climate", {"node": "n1", "site": "lab"},
                   {"temperature_value": t1b, "humidity_value": 43}),
        ]
        with open(out) as f:
            got = [ordered(line) for line in f if line.strip()]
        assert got == expected, "\n".join(json.dumps(g) for g in got)
        assert len(read_ndjson(out)) == 5


def test_describe_shows_tables_windows_joins_and_streams():
    with TempDir() as d:
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write("""
[tables.latest]
public = true
[tables.calibration]
csv = "/etc/sluice/calibration.csv"

[[pipelines.raw.sources]]
type = "stdin"
decode = ["influx"]
[[pipelines.raw.stages]]
type = "enrich"
table = "calibration"
key = "{node}"
[[pipelines.raw.stages]]
type = "join"
left = "measurement == 'temperature'"
right = "measurement == 'humidity'"
key = "{node}"
window = "5s"
[[pipelines.raw.stages]]
type = "window"
kind = "hopping"
size = "1m"
hop = "10s"
late = "stream"
late_stream = "late"
[[pipelines.raw.stages]]
type = "table"
table = "latest"
key = "{node}"
[[pipelines.raw.sinks]]
type = "stdout"

[[pipelines.late.sources]]
type = "stream"
stream = "late"
[[pipelines.late.sinks]]
type = "stdout"
""")
        p = subprocess.run([SLUICE, "describe", "-c", cfg], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        text = p.stdout
        for want in ("table   latest (public: /api/table/latest/)", "written by raw/table", "read by raw/enrich",
                     "csv=/etc/sluice/calibration.csv", "stage   window (window) hopping 1m every 10s",
                     "stage   join (join)", "left=measurement == 'temperature'", "window=5s",
                     "stream  late: from raw/window to late/stream"):
            assert want in text, f"{want!r} not in:\n{text}"

        p = subprocess.run([SLUICE, "describe", "-c", cfg, "--format", "json"], capture_output=True, text=True,
                           timeout=30)
        doc = json.loads(p.stdout)
        tables = {t["name"]: t for t in doc["tables"]}
        assert tables["latest"]["public"] and tables["latest"]["writers"] == [{"pipeline": "raw", "id": "table"}]
        assert tables["calibration"]["readers"] == [{"pipeline": "raw", "id": "enrich"}]
        assert doc["streams"] == [{"name": "late", "writers": [{"pipeline": "raw", "id": "window"}],
                                   "readers": [{"pipeline": "late", "id": "stream"}]}], doc["streams"]
        stages = {s["id"]: s for s in doc["pipelines"][0]["stages"]}
        assert stages["window"]["window"] == "hopping 1m every 10s", stages["window"]

        p = subprocess.run([SLUICE, "describe", "-c", cfg, "--format", "dot"], capture_output=True, text=True,
                           timeout=30)
        dot = p.stdout
        assert 'shape=folder, label="table latest\\npublic"' in dot, dot
        assert "-> http_api" in dot and 'label="lookup"' in dot and 'label="stream:late"' in dot, dot
        if shutil.which("dot"):
            svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=30)
            assert svg.returncode == 0 and "<svg" in svg.stdout, svg.stderr


def test_validate_reports_stage_options_with_positions():
    with TempDir() as d:
        cfg = os.path.join(d, "bad.toml")
        with open(cfg, "w") as f:
            f.write('[tables.calibration]\n\n[[pipelines.p.sources]]\ntype = "stdin"\n\n'
                    '[[pipelines.p.stages]]\ntype = "filter"\nkeep = "value > "\n\n'
                    '[[pipelines.p.stages]]\ntype = "enrich"\ntable = "calibraton"\nkey = "{node}"\n\n'
                    '[[pipelines.p.sinks]]\ntype = "stdout"\n')
        p = subprocess.run([SLUICE, "validate", "-c", cfg], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, p.stderr
        assert f"{cfg}:12:9: stage 'enrich' uses table 'calibraton', which is not declared (did you mean " \
               "'calibration'?)" in p.stderr, p.stderr
        with open(cfg) as f:
            fixed = f.read().replace("calibraton", "calibration")
        with open(cfg, "w") as f:
            f.write(fixed)
        p = subprocess.run([SLUICE, "validate", "-c", cfg], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, p.stderr
        assert f"{cfg}:8:8: stage 'filter': option 'keep': column 9: expected a value but found 'end of " \
               "expression'" in p.stderr, p.stderr


if __name__ == "__main__":
    main([test_calibrate_from_csv_then_join_by_node, test_describe_shows_tables_windows_joins_and_streams,
          test_validate_reports_stage_options_with_positions])
