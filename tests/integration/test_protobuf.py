"""The protobuf decoder with a descriptor set written by protoc: a schema of
the test's own (nested messages, repeated, a map, an enum, Timestamps,
wrappers), messages encoded by Python's protobuf runtime from the same
descriptor set, sent length-prefixed over the unix source, decoded in a
chain with json; a Batch message split into one record per reading; a frame
that is neither a dead letter with each decoder's verdict. Skipped (and
reported so) without protoc or Python's protobuf module."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import (Sluice, TempDir, dead_letters, main, read_ndjson, send_length_prefixed, skip,  # noqa: E402
                     wait_for)  # noqa: E402

PROTO = """
syntax = "proto3";
package plant.v1;

import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

message Location {
  double lat = 1;
  double lon = 2;
}

message Reading {
  enum Status { STATUS_UNKNOWN = 0; STATUS_OK = 1; STATUS_FAULT = 2; }
  string device = 1;
  double temperature = 2;
  sint32 offset = 3;
  repeated int32 samples = 4;
  Location location = 5;
  google.protobuf.Timestamp time = 6;
  Status status = 7;
  map<string, double> extra = 8;
  bytes raw = 9;
  google.protobuf.DoubleValue humidity = 10;
  uint64 counter = 11;
  bool ok = 12;
  repeated Location path = 13;
}

message Batch {
  string gateway = 1;
  google.protobuf.Timestamp time = 2;
  repeated Reading readings = 3;
}
"""


def protobuf_classes(desc_path):
    """Message classes for the descriptor set, from Python's runtime."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        skip("Python's protobuf module is not installed (python3-protobuf)")
    fds = descriptor_pb2.FileDescriptorSet()
    with open(desc_path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = message_factory.MessageFactory(pool)

    def cls(name):
        d = pool.FindMessageTypeByName(name)
        get = getattr(message_factory, "GetMessageClass", None)
        return get(d) if get else factory.GetPrototype(d)
    return cls("plant.v1.Reading"), cls("plant.v1.Batch")


def compile_schema(d):
    protoc = shutil.which("protoc")
    if protoc is None:
        skip("protoc is not installed (protobuf-compiler)")
    # The well-known types' .proto files come with libprotobuf-dev.
    wkt = "/usr/include"
    if not os.path.exists(os.path.join(wkt, "google/protobuf/timestamp.proto")):
        skip("google/protobuf/timestamp.proto is not installed (libprotobuf-dev)")
    with open(os.path.join(d, "plant.proto"), "w") as f:
        f.write(PROTO)
    desc = os.path.join(d, "plant.desc")
    subprocess.run([protoc, "--include_imports", f"--descriptor_set_out={desc}", f"-I{d}", f"-I{wkt}", "plant.proto"],
                   check=True, cwd=d)
    return desc


def write_config(d, desc):
    cfg = os.path.join(d, "sluice.toml")
    out = os.path.join(d, "out.ndjson")
    with open(cfg, "w") as f:
        f.write(f"""[gateway]
log_level = "debug"
[http]
listen = "off"
[pipelines.p]
batch_max_delay = "20ms"
[[pipelines.p.sources]]
type = "unix"
id = "readings"
path = "{d}/readings.sock"
framing = "length"
decode = ["json", {{ type = "protobuf", descriptor_set = "{desc}", message = "plant.v1.Reading" }}]
[[pipelines.p.sources]]
type = "unix"
id = "batches"
path = "{d}/batches.sock"
framing = "length"
decode = [{{ type = "protobuf", descriptor_set = "{desc}", message = "plant.v1.Batch", records_field = "readings" }}]
[[pipelines.p.sinks]]
type = "file"
path = "{out}"
fsync = false
""")
    return cfg, out


def by_device(records):
    return {r["fields"].get("device"): r for r in records}


def test_descriptor_set_from_protoc():
    with TempDir() as d:
        desc = compile_schema(d)
        Reading, Batch = protobuf_classes(desc)

        r1 = Reading(device="t1", temperature=21.5, offset=-3, samples=[1, 2, 300], status=Reading.STATUS_FAULT,
                     raw=b"\x00\xff", counter=2**63 + 5, ok=True)
        r1.location.lat, r1.location.lon = 47.5, 8.25
        r1.time.seconds, r1.time.nanos = 1_700_000_000, 250_000_000
        r1.extra["pressure"] = 1013.5
        r1.humidity.value = 41.5
        r1.path.add(lat=1.0, lon=2.0)
        r1.path.add(lat=3.0)
        r2 = Reading(device="t2", temperature=-4.0)  # no time: the gateway's own
        batch = Batch(gateway="gw-7")
        batch.time.seconds = 1_600_000_000
        batch.readings.add(device="b1", temperature=1.0)
        own = batch.readings.add(device="b2")
        own.time.seconds = 1_650_000_000

        cfg, out = write_config(d, desc)
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log")):
            send_length_prefixed(os.path.join(d, "readings.sock"),
                 [r1.SerializeToString(), r2.SerializeToString(), b'{"device":"j1","temperature":3}',
                  b"\xff\xfe not protobuf, not json"])
            send_length_prefixed(os.path.join(d, "batches.sock"), [batch.SerializeToString()])
            wait_for(lambda: len(read_ndjson(out)) >= 5, 30, "5 records")
        records = by_device(read_ndjson(out))
        assert set(records) == {"t1", "t2", "j1", "b1", "b2"}, records

        f = records["t1"]["fields"]
        assert records["t1"]["time"] == "2023-11-14T22:13:20.250Z", records["t1"]
        assert f == {
            "device": "t1", "temperature": 21.5, "offset": -3, "samples.0": 1, "samples.1": 2, "samples.2": 300,
            "location.lat": 47.5, "location.lon": 8.25, "status": "STATUS_FAULT", "extra.pressure": 1013.5,
            "raw": "AP8", "humidity": 41.5, "counter": float(2**63 + 5), "ok": True,
            "path.0.lat": 1.0, "path.0.lon": 2.0, "path.1.lat": 3.0,
        }, f
        assert records["t2"]["fields"] == {"device": "t2", "temperature": -4.0}
        assert records["j1"]["fields"] == {"device": "j1", "temperature": 3}
        assert records["b1"]["fields"] == {"device": "b1", "temperature": 1.0, "gateway": "gw-7"}
        assert records["b1"]["time"] == "2020-09-13T12:26:40Z", records["b1"]
        assert records["b2"]["time"] == "2022-04-15T05:20:00Z", records["b2"]

        dead = dead_letters(d)
        assert len(dead) == 1, dead
        reason = dead[0]["reason"]
        assert "protobuf: not mine" in reason and "json:" in reason, reason


if __name__ == "__main__":
    main([test_descriptor_set_from_protoc])
