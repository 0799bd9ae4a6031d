"""A mix of JSON, Influx line, logfmt, CSV and garbage lines through
`sluice run -e 'stdin ! decode chain=... ! stdout'`: one record per decodable
line with the right fields and times, one dead letter per garbage line."""

import json
import os

from harness import TempDir, main, run

LINES = [
    '{"sensor":"t1","temp":21.5,"ts":1700000000}',
    '{"dev":{"id":"a","temp":20},"ok":true,"timestamp":"2026-01-02T03:04:05+01:00"}',
    'weather,station=north\\ gate temp=12.5,hum=80i 1700000000000000000',
    'level=info temp=19.25 msg="hello world" ts=1700000000123',
    '2026-11-22T06:00:00Z;t9;19,5',
    'garbage: this is not data !!',
    '@@@@',
    '42.5',
]


def by_first_field(records, name, value):
    for r in records:
        if r["fields"].get(name) == value or r.get("tags", {}).get(name) == value:
            return r
    raise AssertionError(f"no record with {name}={value!r} in {records}")


def test_mixed_lines():
    with TempDir() as d:
        pipeline = ("stdin ! decode chain=json,influx,logfmt,csv,scalar csv.columns=time,sensor,temp "
                    "csv.separator=; csv.decimal_comma=true ! stdout")
        p = run(["run", "-e", pipeline, "--data-dir", d, "--http", "off"], input="\n".join(LINES).encode() + b"\n")
        assert p.returncode == 0, p.stderr.decode()
        records = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
        assert len(records) == 6, records

        r = by_first_field(records, "sensor", "t1")
        assert r["time"] == "2023-11-14T22:13:20Z" and r["fields"]["temp"] == 21.5 and "ts" not in r["fields"]

        r = by_first_field(records, "dev.id", "a")
        assert r["time"] == "2026-01-02T02:04:05Z", r
        assert r["fields"]["dev.temp"] == 20 and r["fields"]["ok"] is True

        r = by_first_field(records, "station", "north gate")
        assert r["measurement"] == "weather" and r["fields"] == {"temp": 12.5, "hum": 80}
        assert r["time"] == "2023-11-14T22:13:20Z"

        r = by_first_field(records, "msg", "hello world")
        assert r["time"] == "2023-11-14T22:13:20.123Z" and r["fields"]["temp"] == 19.25

        r = by_first_field(records, "sensor", "t9")
        assert r["time"] == "2026-11-22T06:00:00Z" and r["fields"]["temp"] == 19.5

        r = by_first_field(records, "value", 42.5)
        assert r["origin"] == "stdin"

        # Exactly the two garbage lines became dead letters, with a reason.
        dl = run(["buffer", "export", "--dead-letters", "--data-dir", d])
        assert dl.returncode == 0, dl.stderr.decode()
        dead = [json.loads(line) for line in dl.stdout.decode().splitlines() if line.strip()]
        assert sorted(x["payload"] for x in dead) == sorted(["garbage: this is not data !!", "@@@@"]), dead
        assert all("no decoder accepted" in x["reason"] for x in dead), dead


def test_dead_letters_are_counted():
    with TempDir() as d:
        p = run(["run", "-e", "stdin ! decode chain=json ! stdout", "--data-dir", d, "--http", "off"],
                input=b'{"a":1}\nnot json\n{"a": broken\n')
        assert p.returncode == 0, p.stderr.decode()
        assert len([x for x in p.stdout.decode().splitlines() if x]) == 1
        stats = run(["buffer", "stats", "--data-dir", d]).stdout.decode()
        assert "dead letters 2" in stats, stats


if __name__ == "__main__":
    main([test_mixed_lines, test_dead_letters_are_counted])
