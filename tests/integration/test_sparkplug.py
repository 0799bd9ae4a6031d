"""The sparkplug_b decoder through a real mosquitto: an edge node publishes
NBIRTH, DBIRTH and NDATA/DDATA with aliases (payloads written as raw bytes
from the Sparkplug B specification's Payload and Metric messages); the
records carry the metrics' names, values, types and times. DDATA from a
device that never sent DBIRTH is a counted dead letter. sluice is killed
(SIGKILL) between the births and the data: after the restart the aliases
still resolve, because they were committed with the births' records. An
NDEATH gives the node's and its device's offline status."""

import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
sys.path.insert(0, os.path.dirname(__file__))

from harness import Sluice, TempDir, dead_letters, free_port, main, metric, read_ndjson, source_up, wait_for  # noqa: E402
from test_mqtt import Mosquitto, write_config  # noqa: E402


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def field(number, wire_type, body):
    return varint(number << 3 | wire_type) + body


def length(number, data):
    return field(number, 2, varint(len(data)) + data)


# DataType values of the specification.
INT16, INT64, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME = 2, 4, 8, 9, 10, 11, 12, 13


def metric_bytes(name=None, alias=None, datatype=None, timestamp=None, int_value=None, long_value=None,
                 float_value=None, double_value=None, boolean_value=None, string_value=None, is_null=False,
                 historical=False):
    m = b""
    if name is not None:
        m += length(1, name.encode())
    if alias is not None:
        m += field(2, 0, varint(alias))
    if timestamp is not None:
        m += field(3, 0, varint(timestamp))
    if datatype is not None:
        m += field(4, 0, varint(datatype))
    if historical:
        m += field(5, 0, varint(1))
    if is_null:
        m += field(7, 0, varint(1))
    if int_value is not None:
        m += field(10, 0, varint(int_value & 0xFFFFFFFF))
    if long_value is not None:
        m += field(11, 0, varint(long_value & 0xFFFFFFFFFFFFFFFF))
    if float_value is not None:
        m += field(12, 5, struct.pack("<f", float_value))
    if double_value is not None:
        m += field(13, 1, struct.pack("<d", double_value))
    if boolean_value is not None:
        m += field(14, 0, varint(1 if boolean_value else 0))
    if string_value is not None:
        m += length(15, string_value.encode())
    return m


def payload(timestamp, seq, metrics):
    return field(1, 0, varint(timestamp)) + b"".join(length(2, m) for m in metrics) + field(3, 0, varint(seq))


def publish(port, topic, data):
    p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", "1", "-s"],
                       input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr


T = 1_700_000_000_000  # ms

NBIRTH = payload(T, 0, [
    metric_bytes("bdSeq", datatype=UINT64, long_value=7),
    metric_bytes("Node Control/Rebirth", alias=1, datatype=BOOLEAN, boolean_value=False),
    metric_bytes("uptime", alias=2, datatype=INT64, long_value=10),
])
DBIRTH = payload(T, 1, [
    metric_bytes("Inputs/temperature", alias=10, datatype=DOUBLE, double_value=21.5),
    metric_bytes("Inputs/pressure", alias=11, datatype=FLOAT, float_value=1.5),
    metric_bytes("Outputs/valve", alias=12, datatype=BOOLEAN, boolean_value=False),
    metric_bytes("Properties/mode", alias=13, datatype=STRING, string_value="auto"),
    metric_bytes("Inputs/offset", alias=14, datatype=INT16, int_value=-5),
    metric_bytes("Properties/serviced", alias=15, datatype=DATETIME, long_value=T - 86_400_000),
])


def by(records, **tags):
    return [r for r in records if all(r.get("tags", {}).get(k) == v for k, v in tags.items())]


def test_births_data_restart_and_death():
    with TempDir() as d, Mosquitto(d) as broker:
        out = os.path.join(d, "out.ndjson")
        http_port = free_port()
        cfg = write_config(d, broker.port, """
client_id = "sluice-spb"
clean_session = false
qos = 1
topics = ["spBv1.0/#"]
decode = ["sparkplug_b"]
""", out, http_port=http_port)
        log = os.path.join(d, "log")
        with Sluice(["run", "-c", cfg], log_path=log) as s:
            wait_for(lambda: source_up(http_port, "main/broker") == 1, 30, "the mqtt source connected")
            publish(broker.port, "spBv1.0/plant/NBIRTH/gw1", NBIRTH)
            publish(broker.port, "spBv1.0/plant/DBIRTH/gw1/boiler", DBIRTH)
            # DATA from a device that never sent DBIRTH: a dead letter.
            publish(broker.port, "spBv1.0/plant/DDATA/gw1/ghost",
                    payload(T + 500, 2, [metric_bytes(alias=10, double_value=1.0)]))
            wait_for(lambda: len(read_ndjson(out)) >= 4, 30, "the births' records")
            wait_for(lambda: metric(http_port, "sluice_sparkplug_unknown_alias_frames_total") == 1, 30,
                     "the unknown alias counted")
            s.proc.kill()  # SIGKILL between BIRTH and DATA
            s.proc.wait()

        with Sluice(["run", "-c", cfg], log_path=log):
            wait_for(lambda: source_up(http_port, "main/broker") == 1, 30, "the mqtt source connected again")
            publish(broker.port, "spBv1.0/plant/DDATA/gw1/boiler", payload(T + 1000, 3, [
                metric_bytes(alias=10, double_value=22.75),
                metric_bytes(alias=11, float_value=2.5),
                metric_bytes(alias=12, boolean_value=True),
                metric_bytes(alias=13, string_value="manual"),
                metric_bytes(alias=14, int_value=-7),
                metric_bytes(alias=10, timestamp=T + 900, double_value=22.5),
                metric_bytes(alias=10, timestamp=T - 60_000, historical=True, double_value=20.0),
                metric_bytes(alias=15, is_null=True),
            ]))
            publish(broker.port, "spBv1.0/plant/NDATA/gw1", payload(T + 1000, 4, [metric_bytes(alias=2, long_value=11)]))
            publish(broker.port, "spBv1.0/plant/NDEATH/gw1",
                    payload(T + 2000, 0, [metric_bytes("bdSeq", datatype=UINT64, long_value=7)]))
            wait_for(lambda: len(by(read_ndjson(out), group="plant", device="boiler")) >= 5, 30, "the device's data")
            wait_for(lambda: len(by(read_ndjson(out), edge_node="gw1")) >= 10, 30, "the node's data and death")
            assert metric(http_port, "sluice_sparkplug_sequence_gaps_total") == 0

        records = read_ndjson(out)
        status = [r for r in records if r.get("measurement") == "sparkplug_status"]
        # NDEATH ends the node's devices too.
        assert [(r["tags"].get("device"), r["fields"]["online"]) for r in status] == \
            [(None, True), ("boiler", True), ("boiler", False), (None, False)], status

        boiler = [r for r in by(records, device="boiler") if r.get("measurement") != "sparkplug_status"]
        birth = boiler[0]
        assert birth["time"] == "2023-11-14T22:13:20Z", birth
        assert birth["fields"] == {"Inputs/temperature": 21.5, "Inputs/pressure": 1.5, "Outputs/valve": False,
                                   "Properties/mode": "auto", "Inputs/offset": -5,
                                   "Properties/serviced": "2023-11-13T22:13:20Z"}, birth
        data = [r for r in boiler[1:] if "historical" not in r["tags"]]
        assert [r["time"] for r in data] == ["2023-11-14T22:13:21Z", "2023-11-14T22:13:20.900Z"], data
        assert data[0]["fields"] == {"Inputs/temperature": 22.75, "Inputs/pressure": 2.5, "Outputs/valve": True,
                                     "Properties/mode": "manual", "Inputs/offset": -7}, data[0]
        assert data[1]["fields"] == {"Inputs/temperature": 22.5}, data[1]
        historical = [r for r in boiler if r["tags"].get("historical") == "true"]
        assert len(historical) == 1 and historical[0]["time"] == "2023-11-14T22:12:20Z", historical
        assert historical[0]["tags"] == {"group": "plant", "edge_node": "gw1", "device": "boiler",
                                         "historical": "true"}, historical
        node = [r for r in by(records, edge_node="gw1") if "device" not in r["tags"] and "uptime" in r["fields"]]
        assert [r["fields"]["uptime"] for r in node] == [10, 11], node

        dead = dead_letters(d)
        assert len(dead) == 1, dead
        assert "DDATA of device plant/gw1/ghost: alias 10 is unknown: no DBIRTH seen" in dead[0]["reason"], dead


if __name__ == "__main__":
    main([test_births_data_restart_and_death])
