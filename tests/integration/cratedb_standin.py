#!/usr/bin/env python3
"""CrateDB STAND-IN for sluice's tests. This is NOT CrateDB.

It speaks just enough of CrateDB's HTTP endpoint (POST /_sql, following the
CrateDB 5.x reference, "HTTP endpoint" chapter: plain, "args" and
"bulk_args" requests; bulk answers carry "results": [{"rowcount": N}, ...]
with rowcount -2 for a failed row, plus the per-row "error" object newer
5.x releases add) to test the cratedb sink. It understands only the
statement shapes sluice sends:

    CREATE TABLE IF NOT EXISTS "schema"."table" (...)
    INSERT INTO "schema"."table" (ts, tags, fields) VALUES (?, ?, ?)
    SELECT 1

and stores rows for real in SQLite (one table per CrateDB table, columns as
JSON text) so tests can read them back. Executed DDL is recorded.

Control endpoints (not CrateDB):
    POST /_standin/unavailable?seconds=N  answer 503 to /_sql for N seconds
    POST /_standin/reject?field=bad       refuse rows whose fields hold `field`
    GET  /_standin/ddl                    the DDL executed, as a JSON list
    GET  /_standin/rows?table=s.t         the stored rows, as JSON
    GET  /_standin/stats                  requests / rows counters
Command line: --port, --db, --reject-field, --cert/--key (serve TLS),
--port-file (write the bound port, for port 0).
"""

import argparse
import json
import re
import sqlite3
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREATE_RE = re.compile(r'^\s*CREATE TABLE IF NOT EXISTS "([a-z0-9_]+)"\."([a-z0-9_]+)"\s*\(', re.S)
INSERT_RE = re.compile(
    r'^\s*INSERT INTO "([a-z0-9_]+)"\."([a-z0-9_]+)" \(ts, tags, fields\) VALUES \(\?, \?, \?\)\s*$')


class State:
    def __init__(self, db_path, reject_field):
        self.lock = threading.Lock()
        self.db = sqlite3.connect(db_path, check_same_thread=False)
        self.tables = set(r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
        self.ddl = []
        self.reject_field = reject_field
        self.unavailable_until = 0.0
        self.requests = 0
        self.rows = 0


def sql_error(code, message, status):
    return status, {"error": {"message": message, "code": code},
                    "error_trace": f"stand-in: {message}"}


def execute(state, req):
    stmt = req.get("stmt")
    if not isinstance(stmt, str):
        return sql_error(4000, "SQLParseException[missing 'stmt' in request]", 400)
    started = time.monotonic()
    m = CREATE_RE.match(stmt)
    if m:
        key = f"{m.group(1)}.{m.group(2)}"
        with state.lock:
            state.ddl.append(stmt)
            if key not in state.tables:
                state.db.execute(f'CREATE TABLE "{key}" (ts INTEGER, tags TEXT, fields TEXT)')
                state.db.commit()
                state.tables.add(key)
        return 200, {"cols": [], "rows": [], "rowcount": 1, "duration": (time.monotonic() - started) * 1000}
    if stmt.strip().upper() == "SELECT 1":
        return 200, {"cols": ["1"], "rows": [[1]], "rowcount": 1, "duration": 0.1}
    m = INSERT_RE.match(stmt)
    if not m:
        return sql_error(4000, f"SQLParseException[the stand-in does not understand: {stmt[:80]}]", 400)
    key = f"{m.group(1)}.{m.group(2)}"
    bulk = "bulk_args" in req
    rows = req.get("bulk_args") if bulk else [req.get("args", [])]
    if not isinstance(rows, list):
        return sql_error(4000, "SQLParseException[bulk_args must be an array]", 400)
    with state.lock:
        if key not in state.tables:
            return sql_error(4041, f"RelationUnknown[Relation '{key}' unknown]", 404)
        results = []
        for row in rows:
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[1], dict) and isinstance(row[2], dict)):
                results.append({"rowcount": -2, "error": {"code": 4003, "message": "row is not [ts, {tags}, {fields}]"}})
                continue
            if state.reject_field and state.reject_field in row[2]:
                results.append({"rowcount": -2, "error": {
                    "code": 4003,
                    "message": f"ColumnValidationException[field '{state.reject_field}' refused by the stand-in]"}})
                continue
            state.db.execute(f'INSERT INTO "{key}" VALUES (?, ?, ?)',
                             (row[0], json.dumps(row[1], sort_keys=True), json.dumps(row[2], sort_keys=True)))
            results.append({"rowcount": 1})
            state.rows += 1
        state.db.commit()
    duration = (time.monotonic() - started) * 1000
    if bulk:
        return 200, {"cols": [], "duration": duration, "results": results}
    if results and results[0]["rowcount"] == -2:
        return sql_error(4003, results[0]["error"]["message"], 400)
    return 200, {"cols": [], "rows": [], "rowcount": 1, "duration": duration}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip
            data = gzip.decompress(data)
        return data

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        st = self.state
        if url.path == "/":
            self.reply(200, {"ok": True, "status": 200, "name": "cratedb-standin",
                             "version": {"number": "5.x stand-in"}})
        elif url.path == "/_standin/ddl":
            with st.lock:
                self.reply(200, list(st.ddl))
        elif url.path == "/_standin/rows":
            key = q.get("table", "")
            with st.lock:
                if key not in st.tables:
                    self.reply(404, {"error": f"no table {key}"})
                    return
                rows = [[ts, json.loads(t), json.loads(f)]
                        for ts, t, f in st.db.execute(f'SELECT ts, tags, fields FROM "{key}" ORDER BY rowid')]
            self.reply(200, rows)
        elif url.path == "/_standin/stats":
            with st.lock:
                self.reply(200, {"requests": st.requests, "rows": st.rows, "tables": sorted(st.tables)})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        st = self.state
        body = self.read_body()
        if url.path == "/_standin/unavailable":
            with st.lock:
                st.unavailable_until = time.monotonic() + float(q.get("seconds", "10"))
            self.reply(200, {"ok": True})
            return
        if url.path == "/_standin/reject":
            with st.lock:
                st.reject_field = q.get("field") or None
            self.reply(200, {"ok": True})
            return
        if url.path != "/_sql":
            self.reply(404, {"error": "not found"})
            return
        with st.lock:
            st.requests += 1
            down = time.monotonic() < st.unavailable_until
        if down:
            self.reply(*sql_error(5030, "UnavailableShardsException[stand-in told to be unavailable]", 503))
            return
        try:
            req = json.loads(body)
        except ValueError as e:
            self.reply(*sql_error(4000, f"SQLParseException[request body is not JSON: {e}]", 400))
            return
        if not isinstance(req, dict):
            self.reply(*sql_error(4000, "SQLParseException[request body is not an object]", 400))
            return
        self.reply(*execute(st, req))


def main():
    ap = argparse.ArgumentParser(description="CrateDB stand-in (not CrateDB) for sluice tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--db", default=":memory:")
    ap.add_argument("--reject-field", default=None)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--port-file")
    args = ap.parse_args()
    Handler.state = State(args.db, args.reject_field)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"cratedb stand-in listening on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
