"""The avro decoder against Apache Avro's own encoder (python3-avro): a
schema of the test's own with nested records, arrays, maps, unions, enums,
fixed, decimals, dates and a timestamp; plain binary frames on one unix
source (after json in its chain) and Confluent-framed ones (magic byte,
schema id) of two schema versions on another; a frame with an unknown
schema id is a dead letter. Skipped (and reported so) without python3-avro."""

import io
import json
import os
import struct
import sys
from datetime import date, datetime, timezone
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import (Sluice, TempDir, dead_letters, main, read_ndjson, send_length_prefixed, skip,  # noqa: E402
                     wait_for)  # noqa: E402

SCHEMA_V1 = {
    "type": "record", "name": "Reading", "namespace": "plant.v1",
    "fields": [
        {"name": "device", "type": "string"},
        {"name": "temperature", "type": "double"},
        {"name": "time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "location", "type": {"type": "record", "name": "Location",
                                      "fields": [{"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}},
        {"name": "samples", "type": {"type": "array", "items": "int"}},
        {"name": "extra", "type": {"type": "map", "values": "double"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OK", "FAULT"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "serial", "type": {"type": "fixed", "name": "Serial", "size": 4}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 2}},
        {"name": "serviced", "type": {"type": "int", "logicalType": "date"}},
    ],
}
SCHEMA_V2 = {
    "type": "record", "name": "Reading", "namespace": "plant.v2",
    "fields": [{"name": "device", "type": "string"}, {"name": "level", "type": "long"},
               {"name": "ok", "type": "boolean"}],
}


def encoder():
    try:
        import avro.io
        import avro.schema
    except ImportError:
        skip("Apache Avro's Python library is not installed (python3-avro)")

    def encode(schema, datum):
        s = avro.schema.parse(json.dumps(schema))
        buf = io.BytesIO()
        avro.io.DatumWriter(s).write(datum, avro.io.BinaryEncoder(buf))
        return buf.getvalue()
    return encode


def test_plain_and_confluent_against_apache_avro():
    encode = encoder()
    with TempDir() as d:
        schema = os.path.join(d, "reading.avsc")
        with open(schema, "w") as f:
            json.dump(SCHEMA_V1, f)
        registry = os.path.join(d, "schemas")
        os.mkdir(registry)
        for sid, s in ((41, SCHEMA_V1), (42, SCHEMA_V2)):
            with open(os.path.join(registry, f"{sid}.avsc"), "w") as f:
                json.dump(s, f)

        cfg = os.path.join(d, "sluice.toml")
        out = os.path.join(d, "out.ndjson")
        with open(cfg, "w") as f:
            f.write(f"""[http]
listen = "off"
[pipelines.p]
batch_max_delay = "20ms"
[[pipelines.p.sources]]
type = "unix"
id = "plain"
path = "{d}/plain.sock"
framing = "length"
decode = ["json", {{ type = "avro", schema = "{schema}" }}]
[[pipelines.p.sources]]
type = "unix"
id = "confluent"
path = "{d}/confluent.sock"
framing = "length"
decode = [{{ type = "avro", schemas_dir = "{registry}" }}]
[[pipelines.p.sinks]]
type = "file"
path = "{out}"
fsync = false
""")
        r1 = {"device": "t1", "temperature": 21.5, "time": datetime(2023, 11, 14, 22, 13, 20, 250_000, tzinfo=timezone.utc),
              "location": {"lat": 47.5, "lon": 8.25}, "samples": [1, -2, 300], "extra": {"pressure": 1013.5},
              "status": "FAULT", "note": "hello", "serial": b"\x00\x01\x02\xff", "price": Decimal("-12.34"),
              "serviced": date(2023, 11, 14)}
        r2 = dict(r1, device="t2", note=None, samples=[], extra={}, status="OK")
        v2 = {"device": "c2", "level": -(2 ** 40), "ok": True}
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")):
            send_length_prefixed(os.path.join(d, "plain.sock"),
                 [encode(SCHEMA_V1, r1), encode(SCHEMA_V1, r2), b'{"device":"j1"}'])
            send_length_prefixed(os.path.join(d, "confluent.sock"),
                 [b"\x00" + struct.pack(">I", 41) + encode(SCHEMA_V1, dict(r1, device="c1")),
                  b"\x00" + struct.pack(">I", 42) + encode(SCHEMA_V2, v2),
                  b"\x00" + struct.pack(">I", 43) + encode(SCHEMA_V2, v2)])
            wait_for(lambda: len(read_ndjson(out)) >= 5, 30, "5 records")
        records = {r["fields"]["device"]: r for r in read_ndjson(out)}
        assert set(records) == {"t1", "t2", "j1", "c1", "c2"}, records
        t1 = records["t1"]
        assert t1["time"] == "2023-11-14T22:13:20.250Z", t1
        assert t1["fields"] == {
            "device": "t1", "temperature": 21.5, "location.lat": 47.5, "location.lon": 8.25,
            "samples.0": 1, "samples.1": -2, "samples.2": 300, "extra.pressure": 1013.5, "status": "FAULT",
            "note": "hello", "serial": "AAEC_w", "price": -12.34, "serviced": "2023-11-14",
        }, t1
        assert records["t2"]["fields"]["status"] == "OK" and "note" not in records["t2"]["fields"], records["t2"]
        assert records["c1"]["fields"]["temperature"] == 21.5
        assert records["c2"]["fields"] == {"device": "c2", "level": -(2 ** 40), "ok": True}, records["c2"]
        dead = dead_letters(d)
        assert len(dead) == 1 and "avro: schema id 43 is not in schemas_dir" in dead[0]["reason"], dead


if __name__ == "__main__":
    main([test_plain_and_confluent_against_apache_avro])
