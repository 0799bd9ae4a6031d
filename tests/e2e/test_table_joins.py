"""Table joins, golden.

Table–table: a table kept from two others by key (inner and left joins,
the right row found by the left key or by a template over the left value),
updated when either side changes (a CSV, the API, a table stage), the same
after a restart, and rebuilt when a table changed while the gateway was
stopped. Each step's tables are compared with
tests/e2e/golden/table_joins.json.

Table–stream (the table side drives): the enrich stage with on_change =
"emit" emits a key's latest record again, enriched with the new row, when
the row changes or appears; nothing after a restart without a change; a
row changed while the gateway was stopped is emitted again after the
start. The sink's output is compared with
tests/e2e/golden/table_stream_join.json.

SLUICE_UPDATE_GOLDEN=1 writes both files."""

import json
import os
from harness import Sluice, TempDir, free_port, gateway_sections, http_get, http_request, main, wait_for, wait_ready

TOKEN = "join-secret"
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "table_joins.json")
TABLES = ("fleet", "fleet_inner", "status")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def config(d, port):
    write(os.path.join(d, "vehicles.csv"), "vehicle,driver_id,model\nv1,d1,van\nv2,d2,truck\nv3,d9,bike\n")
    path = os.path.join(d, "sluice.toml")
    write(path, f"""
{gateway_sections(d, port, TOKEN)}
[tables.vehicles]
public = true
csv = "{d}/vehicles.csv"

[tables.drivers]
public = true

[tables.positions]
public = true

[tables.fleet]
public = true
left = "vehicles"
right = "drivers"
join = "left"
right_key = "{{driver_id}}"

[tables.fleet_inner]
public = true
left = "vehicles"
right = "drivers"
right_key = "{{driver_id}}"

[tables.status]
public = true
left = "positions"
right = "vehicles"

[pipelines.gps]
[[pipelines.gps.sources]]
type = "http"
decode = ["json"]
[[pipelines.gps.stages]]
type = "table"
table = "positions"
key = "{{vehicle}}"
fields = ["speed"]
time_member = ""
[[pipelines.gps.sinks]]
type = "file"
path = "{d}/gps.ndjson"
fsync = false
""")
    return path


def request(port, method, path, body=None):
    return http_request(port, method, path, body, TOKEN, "application/json" if body is not None else None)


def snapshot(port):
    out = {}
    for t in TABLES:
        status, body = http_get(port, f"/api/table/{t}/?page_size=1000")
        assert status == 200, body
        out[t] = {r["key"]: r["value"] for r in json.loads(body)["results"]}
    return out


def start(d, cfg, port):
    s = Sluice(["run", "-c", cfg], log_path=os.path.join(d, f"sluice-{len(os.listdir(d))}.log"))
    try:
        wait_ready(port)
    except BaseException:
        s.kill()
        raise
    return s


def test_table_joins_golden():
    with open(GOLDEN) as f:
        golden = json.load(f)
    got = {}
    with TempDir() as d:
        port = free_port()
        cfg = config(d, port)
        with start(d, cfg, port):
            got["1 vehicles from the csv, no drivers"] = snapshot(port)
            for driver, name in (("d1", "Ann"), ("d2", "Bo")):
                assert request(port, "PUT", f"/api/table/drivers/{driver}/", json.dumps({"name": name}).encode())[0] == 200
            got["2 two drivers written"] = snapshot(port)
            body = '{"vehicle":"v1","speed":50}\n{"vehicle":"v2","speed":30}\n{"vehicle":"v7","speed":5}\n'
            assert request(port, "POST", "/api/send/gps", body.encode())[0] == 200
            wait_for(lambda: len(snapshot(port)["status"]) == 2, 30, "the positions joined")
            got["3 positions from a pipeline"] = snapshot(port)
            assert request(port, "PUT", "/api/table/drivers/d1/", b'{"name":"Ann B.","phone":"555"}')[0] == 200
            assert request(port, "DELETE", "/api/table/drivers/d2/")[0] == 200
            got["4 a driver changed, one removed"] = snapshot(port)
            status, body = request(port, "PUT", "/api/table/fleet/v1/", b'{"x":1}')
            assert status == 409 and "is a join of 'vehicles' and 'drivers'" in body, body
        with start(d, cfg, port):
            got["5 after a restart"] = snapshot(port)
        # Changed while the gateway was stopped: rebuilt at start.
        write(os.path.join(d, "vehicles.csv"), "vehicle,driver_id,model\nv1,d1,van\nv3,d1,bike\n")
        with start(d, cfg, port):
            got["6 vehicles.csv changed while stopped"] = snapshot(port)
    if os.environ.get("SLUICE_UPDATE_GOLDEN"):
        with open(GOLDEN, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
    for step in got:
        assert got[step] == golden.get(step), f"{step}:\n got {json.dumps(got[step], sort_keys=True)}\n" \
                                              f"want {json.dumps(golden.get(step), sort_keys=True)}"
    assert sorted(got) == sorted(golden), sorted(golden)


STREAM_GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "table_stream_join.json")


def stream_config(d, port):
    path = os.path.join(d, "stream.toml")
    write(path, f"""
{gateway_sections(d, port, TOKEN)}
[tables.calibration]
public = true
csv = "{d}/calibration.csv"

[pipelines.readings]
[[pipelines.readings.sources]]
type = "http"
decode = ["json"]
[[pipelines.readings.stages]]
type = "enrich"
table = "calibration"
key = "{{sensor}}"
raw_field = "raw"
on_change = "emit"
[[pipelines.readings.sinks]]
type = "file"
path = "{d}/out.ndjson"
fsync = false
""")
    return path


def test_table_stream_join_golden():
    with open(STREAM_GOLDEN) as f:
        golden = json.load(f)
    with TempDir() as d:
        port = free_port()
        out = os.path.join(d, "out.ndjson")
        write(os.path.join(d, "calibration.csv"), "sensor,scale,offset\ns1,2,0\n")
        cfg = stream_config(d, port)

        def lines():
            if not os.path.exists(out):
                return []
            with open(out) as f:
                return [json.loads(x) for x in f if x.strip()]

        def send(sensor, value, t):
            body = json.dumps({"sensor": sensor, "value": value, "time": f"2026-12-07T08:00:{t:02d}Z"}) + "\n"
            assert request(port, "POST", "/api/send/readings", body.encode())[0] == 200

        def until(n, what):
            wait_for(lambda: len(lines()) >= n, 30, what)

        with start(d, cfg, port):
            send("s1", 10, 1)
            send("s2", 5, 2)
            until(2, "two records")
            assert request(port, "PUT", "/api/table/calibration/s2/", b'{"scale":10}')[0] == 200
            until(3, "s2 emitted again once its row appeared")
            assert request(port, "PUT", "/api/table/calibration/s3/", b'{"scale":7}')[0] == 200  # no record: nothing
            send("s1", 11, 3)
            until(4, "the next s1 record")
        # A restart with the csv as it was: s1's row is the same (s2's and
        # s3's, written over the API, go: the csv replaces the rows, and a
        # key whose row is gone keeps waiting), so nothing is emitted again.
        with start(d, cfg, port):
            send("s4", 1, 4)  # its batch looks at the table first
            until(5, "s4")
        # Changed while stopped: s1 emitted again after the start.
        write(os.path.join(d, "calibration.csv"), "sensor,scale,offset\ns1,4,0\n")
        with start(d, cfg, port):
            until(6, "s1 emitted again after the start (the stage's first look, within a second)")
            # And changed while running.
            assert request(port, "PUT", "/api/table/calibration/s1/", b'{"scale":3,"offset":1}')[0] == 200
            until(7, "s1 emitted again with its new row")
        got = [{k: r["fields"].get(k) for k in ("sensor", "value", "raw")} | {"time": r["time"]} for r in lines()]
    if os.environ.get("SLUICE_UPDATE_GOLDEN"):
        with open(STREAM_GOLDEN, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
    assert got == golden, f"got {json.dumps(got)}\nwant {json.dumps(golden)}"


if __name__ == "__main__":
    main([test_table_joins_golden, test_table_stream_join_golden])
