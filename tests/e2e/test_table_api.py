"""The table API as a user drives it with curl: list, page, get, put with and
without the token, delete, 404s, the HTML pages, a CSV reload on SIGHUP,
and table rows surviving a restart."""

import json
import os
import signal
import subprocess

from harness import Sluice, TempDir, free_port, main, metric_value, wait_for, gateway_sections

TOKEN = "t0ken-for-tests"


def curl(port, path, *args, token=None, method=None, data=None, accept=None, content_type=None):
    """Returns (status, content type, body) of one request made by curl."""
    cmd = ["curl", "-s", "-g", "--max-time", "10", "-o", "-", "-w", "\n%{http_code} %{content_type}"]
    if method:
        cmd += ["-X", method]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if accept:
        cmd += ["-H", f"Accept: {accept}"]
    if content_type:
        cmd += ["-H", f"Content-Type: {content_type}"]
    if data is not None:
        cmd += ["--data-binary", data]
    cmd += list(args) + [f"http://127.0.0.1:{port}{path}"]
    p = subprocess.run(cmd, capture_output=True, timeout=20, text=True)
    assert p.returncode == 0, f"curl failed ({p.returncode}): {p.stderr}"
    body, _, tail = p.stdout.rpartition("\n")
    status, _, ctype = tail.partition(" ")
    return int(status), ctype, body


def write_config(d, port, csv):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, port, TOKEN)}
[tables.calibration]
public = true
csv = "{csv}"
key_column = "sensor"

[tables.latest]
public = true

[tables.internal]

[[pipelines.p.sources]]
type = "file"
path = "{d}/in.lp"
decode = ["influx"]

[[pipelines.p.stages]]
type = "table"
table = "latest"
key = "{{node}}/{{sensor}}"

[[pipelines.p.stages]]
type = "table"
table = "internal"
key = "{{node}}"

[[pipelines.p.sinks]]
type = "file"
path = "{d}/out.ndjson"
fsync = false
""")
    return cfg


def test_table_api_with_curl():
    with TempDir() as d:
        port = free_port()
        csv = os.path.join(d, "calibration.csv")
        with open(csv, "w") as f:
            f.write("sensor,scale,offset,site\nn1/temp,1.02,-0.3,lab\nn2/temp,1,0.5,roof\n")
        with open(os.path.join(d, "in.lp"), "w") as f:
            for node in ("n1", "n2", "n3"):
                f.write(f"m,node={node},sensor=temp value=2{node[1]}.5 170000000{node[1]}000000000\n")
        cfg = write_config(d, port, csv)
        log = os.path.join(d, "log")
        with Sluice(["run", "-c", cfg], log_path=log) as s:
            def latest_count():
                try:
                    status, _, body = curl(port, "/api/table/latest/")
                except AssertionError:
                    return None
                return status == 200 and json.loads(body)["count"] == 3

            wait_for(latest_count, 30, "three keys in table 'latest'")

            # List: the public tables only.
            status, ctype, body = curl(port, "/api/table/")
            assert status == 200 and ctype.startswith("application/json"), (status, ctype, body)
            assert json.loads(body) == {"results": ["calibration", "latest"]}, body

            # Page through 'latest', two keys a page.
            status, _, body = curl(port, "/api/table/latest/?page=1&page_size=2")
            page = json.loads(body)
            assert status == 200
            assert (page["page"], page["page_size"], page["pages"], page["count"]) == (1, 2, 2, 3), page
            assert [r["key"] for r in page["results"]] == ["n1/temp", "n2/temp"], page
            assert page["results"][0]["value"] == {"time": "2023-11-14T22:13:21Z", "value": 21.5}, page
            assert page["next"] == "/api/table/latest/?page=2&page_size=2" and page["previous"] is None, page
            status, _, body = curl(port, page["next"])
            page2 = json.loads(body)
            assert [r["key"] for r in page2["results"]] == ["n3/temp"] and page2["next"] is None, page2

            # Get one key (the '/' inside a key is written %2F).
            status, _, body = curl(port, "/api/table/calibration/n1%2Ftemp/")
            assert status == 200 and json.loads(body) == {"scale": 1.02, "offset": -0.3, "site": "lab"}, body

            # 404: a missing key, an unknown table, a table that is not public.
            status, _, body = curl(port, "/api/table/calibration/n9%2Ftemp/")
            assert status == 404 and "no key 'n9/temp'" in json.loads(body)["error"], (status, body)
            assert curl(port, "/api/table/nope/")[0] == 404
            assert curl(port, "/api/table/internal/")[0] == 404
            assert curl(port, "/api/table/internal/n1/")[0] == 404

            # PUT without the token, or with a wrong one: 401, and nothing changes.
            path = "/api/table/calibration/n9%2Ftemp/"
            status, _, _ = curl(port, path, method="PUT", data="scale=2&offset=1")
            assert status == 401, status
            status, _, _ = curl(port, path, method="PUT", data="scale=2&offset=1", token="wrong")
            assert status == 401, status
            assert curl(port, path)[0] == 404

            # With the token: a form field sets the value (200, with Location for a new key), a JSON body replaces it (200).
            status, _, body = curl(port, path, method="PUT", data="scale=2&offset=1&site=shed", token=TOKEN)
            assert status == 200, (status, body)
            assert json.loads(body) == {"key": "n9/temp", "value": {"scale": 2, "offset": 1, "site": "shed"}}, body
            status, _, body = curl(port, path)
            assert status == 200 and json.loads(body) == {"scale": 2, "offset": 1, "site": "shed"}, body
            status, _, body = curl(port, path, method="POST", data='{"scale": 0.5, "offset": -1.25}', token=TOKEN,
                                   content_type="application/json")
            assert status == 200, (status, body)
            assert json.loads(curl(port, path)[2]) == {"scale": 0.5, "offset": -1.25}
            status, _, body = curl(port, path, method="PUT", data='{"scale": [1]}', token=TOKEN,
                                   content_type="application/json")
            assert status == 400, (status, body)
            # multipart/form-data (curl -F), as a browser form or a script sends it.
            status, _, body = curl(port, path, "-F", "scale=3", "-F", "site=cellar", method="PUT", token=TOKEN)
            assert status == 200, (status, body)
            assert json.loads(curl(port, path)[2]) == {"scale": 3, "site": "cellar"}
            status, _, body = curl(port, path, method="PUT", data="--x\r\nno headers", token=TOKEN,
                                   content_type="multipart/form-data; boundary=x")
            assert status == 400 and "multipart/form-data" in json.loads(body)["error"], (status, body)

            # DELETE needs the token too.
            assert curl(port, path, method="DELETE")[0] == 401
            status, _, body = curl(port, path, method="DELETE", token=TOKEN)
            assert status == 200 and json.loads(body) == {"key": "n9/temp", "deleted": True}, (status, body)
            assert curl(port, path)[0] == 404
            assert curl(port, path, method="DELETE", token=TOKEN)[0] == 404

            # HTML for a browser: the list, a page with paging links, a key.
            status, ctype, body = curl(port, "/api/table/", accept="text/html")
            assert status == 200 and ctype.startswith("text/html"), (status, ctype)
            assert '<a href="/api/table/latest/">latest</a>' in body, body
            assert "internal" not in body and "<script" not in body and "http" not in body, body
            status, ctype, body = curl(port, "/api/table/latest/?page=1&page_size=2", accept="text/html")
            assert status == 200 and ctype.startswith("text/html"), (status, ctype)
            assert '<a href="/api/table/latest/n1%2Ftemp/">n1/temp</a>' in body, body
            assert 'href="/api/table/latest/?page=2&amp;page_size=2"' in body, body
            assert "page 1 of 2" in body, body
            status, ctype, body = curl(port, "/api/table/calibration/n2%2Ftemp/", accept="text/html")
            assert status == 200 and "<td>site</td><td><code>&quot;roof&quot;</code></td>" in body, body
            status, ctype, body = curl(port, "/api/table/calibration/%3Cb%3E/", accept="text/html")
            assert status == 404 and ctype.startswith("text/html") and "&lt;b&gt;" in body and "<b>" not in body

            # A write through the API, then the CSV changes and SIGHUP reloads it (replacing the rows).
            assert curl(port, "/api/table/latest/n7%2Fx/", method="PUT", data="value=1", token=TOKEN)[0] == 200
            with open(csv, "w") as f:
                f.write("sensor,scale,offset,site\nn1/temp,1.5,0,lab\n")
            s.signal(signal.SIGHUP)
            wait_for(lambda: json.loads(curl(port, "/api/table/calibration/")[2])["count"] == 1, 30,
                     "the reloaded CSV")
            assert json.loads(curl(port, "/api/table/calibration/n1%2Ftemp/")[2]) == {"scale": 1.5, "offset": 0,
                                                                                      "site": "lab"}
            # The writes committed on the API's writer thread: the loop ran no SQLite.
            assert metric_value(curl(port, "/metrics")[2], "sluice_loop_sqlite_calls_total") == 0, s.logs()
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()

        # After a restart: the stream-fed and API-written rows are still there.
        with Sluice(["run", "-c", cfg], log_path=log) as s:
            def ready():
                try:
                    return curl(port, "/api/table/latest/n7%2Fx/")
                except AssertionError:
                    return None

            status, _, body = wait_for(ready, 30, "the API after the restart")
            assert status == 200 and json.loads(body) == {"value": 1}, (status, body)
            page = json.loads(curl(port, "/api/table/latest/")[2])
            assert page["count"] == 4, page
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()


def test_writes_are_refused_without_a_configured_token():
    with TempDir() as d:
        port = free_port()
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f"""
[http]
listen = "127.0.0.1:{port}"
[tables.t]
public = true
[[pipelines.p.sources]]
type = "simulate"
rate = 1
[[pipelines.p.sinks]]
type = "file"
path = "{d}/out.ndjson"
fsync = false
""")
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")) as s:
            def listed():
                try:
                    return curl(port, "/api/table/")
                except AssertionError:
                    return None

            status, _, body = wait_for(listed, 30, "the table list")
            assert json.loads(body) == {"results": ["t"]}, body
            status, _, body = curl(port, "/api/table/t/k/", method="PUT", data="a=1", token="anything")
            assert status == 403 and "no API token" in body, (status, body)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0, s.logs()


if __name__ == "__main__":
    main([test_table_api_with_curl, test_writes_are_refused_without_a_configured_token])
