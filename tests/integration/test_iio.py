"""The iio source against fixture sysfs trees built in a temp dir: polled
channels with shared and per-channel scale/offset, buffered capture of
packed scan records through a FIFO standing in for /dev/iio:deviceN, a full
ingest queue (drops with a count), and a device that disappears and comes
back."""

import calendar
import errno
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, read_ndjson, wait_for  # noqa: E402

BASE_TS = 1_700_000_000_000_000_000


def put(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")


def device_dir(sys_root, n):
    return os.path.join(sys_root, "bus", "iio", "devices", f"iio:device{n}")


def rfc3339_to_ns(text):
    """'2023-11-14T22:13:20.001Z' -> ns since the epoch (exact, no float)."""
    assert text.endswith("Z"), text
    main_part, _, frac = text[:-1].partition(".")
    secs = calendar.timegm(time.strptime(main_part, "%Y-%m-%dT%H:%M:%S"))
    return secs * 1_000_000_000 + int((frac + "000000000")[:9])


def write_config(d, source_lines, out, port=None, pipeline_lines=""):
    path = os.path.join(d, "sluice.toml")
    http = f'listen = "127.0.0.1:{port}"' if port else 'listen = "off"'
    with open(path, "w") as f:
        f.write(f"""
[gateway]
data_dir = "{d}"

[http]
{http}

[pipelines.p]
batch_max_delay = "20ms"
{pipeline_lines}

[[pipelines.p.sources]]
type = "iio"
id = "adc"
decode = ["influx"]
{source_lines}

[[pipelines.p.sinks]]
type = "file"
path = "{out}"
fsync = false
""")
    return path


def by_unit(records):
    out = {}
    for r in records:
        out.setdefault(r["tags"].get("unit", ""), []).append(r)
    return out


def test_polled_channels_shared_and_own_scale():
    with TempDir() as d:
        sys_root = os.path.join(d, "sys")
        # A decoy at device0: the source must pick the device by name.
        put(os.path.join(device_dir(sys_root, 0), "name"), "lsm6dsl")
        put(os.path.join(device_dir(sys_root, 0), "in_voltage0_raw"), "1")
        dev = device_dir(sys_root, 1)
        put(os.path.join(dev, "name"), "ads1015")
        put(os.path.join(dev, "in_voltage0_raw"), "1000")
        put(os.path.join(dev, "in_voltage_scale"), "0.500000000")  # shared by every voltage channel
        put(os.path.join(dev, "in_voltage0_offset"), "10")  # this channel's own
        put(os.path.join(dev, "in_voltage1_raw"), "-4")
        put(os.path.join(dev, "in_voltage1_scale"), "0.25")  # own scale wins over the shared one
        put(os.path.join(dev, "in_temp_raw"), "250")
        put(os.path.join(dev, "in_temp_scale"), "100")
        put(os.path.join(dev, "in_temp_offset"), "-5")
        put(os.path.join(dev, "in_humidityrelative_input"), "45500")  # processed by the driver
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, f"""device = "ads1015"
channels = ["in_voltage0", "in_voltage1", "in_temp", "in_humidityrelative"]
interval = "50ms"
sysfs_root = "{sys_root}"
""", out)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: len(by_unit(read_ndjson(out)).get("mdegC", [])) >= 3, 20, "three polls")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        units = by_unit(read_ndjson(out))
        mv = units["mV"][0]
        assert mv["measurement"] == "iio" and mv["tags"]["device"] == "ads1015", mv
        assert mv["origin"] == "iio:device1", mv
        assert mv["fields"] == {"in_voltage0": 505, "in_voltage1": -1}, mv  # (1000+10)*0.5, -4*0.25
        assert units["mdegC"][0]["fields"] == {"in_temp": 24500}, units["mdegC"][0]  # (250-5)*100
        assert units["m%RH"][0]["fields"] == {"in_humidityrelative": 45500}, units["m%RH"][0]
        # Poll time stamps: one poll per interval, increasing.
        times = [rfc3339_to_ns(r["time"]) for r in units["mV"]]
        assert times == sorted(times) and len(set(times)) == len(times), times


SCAN_ELEMENTS = [
    # name, index, type, enabled
    ("in_voltage0", 0, "le:s12/16>>4", 1),
    ("in_accel_x", 1, "le:s32/32>>0", 1),
    ("in_voltage1", 2, "be:u16/16>>0", 1),
    ("in_voltage2", 3, "le:u16/16>>0", 0),  # not enabled: not in the record
    ("in_timestamp", 4, "le:s64/64>>0", 1),
]
RECORD_BYTES = 24  # v0 @0, pad, accel @4, v1 @8, pad, timestamp @16


def pack_record(v0, accel, v1, ts):
    rec = struct.pack("<H", ((v0 & 0xFFF) << 4) | 0x5)  # low nibble is noise below the shift
    rec += b"\xaa\xaa"  # alignment padding of accel (4)
    rec += struct.pack("<i", accel)
    rec += struct.pack(">H", v1)
    rec += b"\xbb" * 6  # alignment padding of the timestamp (8)
    rec += struct.pack("<q", ts)
    assert len(rec) == RECORD_BYTES
    return rec


def buffered_fixture(d):
    sys_root = os.path.join(d, "sys")
    dev_root = os.path.join(d, "dev")
    dev = device_dir(sys_root, 0)
    put(os.path.join(dev, "name"), "adxl-adc")
    put(os.path.join(dev, "in_voltage_scale"), "0.5")
    put(os.path.join(dev, "in_voltage1_scale"), "2")
    put(os.path.join(dev, "in_voltage1_offset"), "10")
    put(os.path.join(dev, "in_accel_scale"), "0.01")
    for name, index, typ, en in SCAN_ELEMENTS:
        put(os.path.join(dev, "scan_elements", f"{name}_index"), str(index))
        put(os.path.join(dev, "scan_elements", f"{name}_type"), typ)
        put(os.path.join(dev, "scan_elements", f"{name}_en"), str(en))
    put(os.path.join(dev, "buffer", "enable"), "0")
    os.makedirs(dev_root)
    fifo = os.path.join(dev_root, "iio:device0")
    os.mkfifo(fifo)
    return sys_root, dev_root, fifo


def open_writer(fifo):
    """Opens the FIFO for writing once sluice has it open for reading."""
    def attempt():
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no reader yet
                return None
            raise
    fd = wait_for(attempt, 20, "sluice to open the device node")
    os.set_blocking(fd, True)
    return fd


def test_buffered_scan_through_fifo():
    with TempDir() as d:
        sys_root, dev_root, fifo = buffered_fixture(d)
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, f"""device = "iio:device0"
mode = "buffer"
interval = "100ms"
sysfs_root = "{sys_root}"
dev_root = "{dev_root}"
""", out)
        samples = [(-100 + i, -2000 + i, 1000 + i, BASE_TS + i * 1_000_001) for i in range(10)]
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            fd = open_writer(fifo)
            data = b"".join(pack_record(*x) for x in samples[:6])
            os.write(fd, data[:30])  # a record split across writes
            os.write(fd, data[30:])
            wait_for(lambda: len(read_ndjson(out)) >= 12, 20, "the first six scans")
            os.close(fd)  # end of stream: sluice reopens the node for the next writer
            fd = open_writer(fifo)
            os.write(fd, b"".join(pack_record(*x) for x in samples[6:]))
            os.close(fd)
            wait_for(lambda: len(read_ndjson(out)) >= 20, 20, "all ten scans")
            with open(os.path.join(device_dir(sys_root, 0), "buffer", "enable")) as f:
                assert f.read().strip() == "1", "the buffer was enabled"  # long before ten scans arrived
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
            with open(os.path.join(device_dir(sys_root, 0), "buffer", "enable")) as f:
                assert f.read().strip() == "0", "the buffer was disabled on stop"
        units = by_unit(read_ndjson(out))
        assert len(units["mV"]) == 10 and len(units["m/s^2"]) == 10, units.keys()
        for (v0, accel, v1, ts), mv, acc in zip(samples, units["mV"], units["m/s^2"]):
            assert rfc3339_to_ns(mv["time"]) == ts and rfc3339_to_ns(acc["time"]) == ts, (mv, ts)
            assert mv["fields"] == {"in_voltage0": v0 * 0.5, "in_voltage1": (v1 + 10) * 2}, (mv, v0, v1)
            assert abs(acc["fields"]["in_accel_x"] - accel * 0.01) < 1e-9, acc
            assert "in_voltage2" not in mv["fields"] and "in_timestamp" not in mv["fields"]
            assert mv["tags"] == {"device": "adxl-adc", "unit": "mV"}, mv


def test_enable_channels_and_buffer_settings():
    with TempDir() as d:
        sys_root, dev_root, fifo = buffered_fixture(d)
        dev = device_dir(sys_root, 0)
        put(os.path.join(dev, "buffer", "length"), "128")
        put(os.path.join(dev, "buffer", "watermark"), "1")
        # No trigger/ directory: the asked-for trigger cannot be set, which is
        # logged and counted, and capture goes on.
        out = os.path.join(d, "out.ndjson")
        port = free_port()
        cfg = write_config(d, f"""device = "adxl-adc"
mode = "buffer"
channels = ["in_voltage1"]
enable_channels = true
buffer_length = 4096
watermark = 64
trigger = "adxl-dev0"
sysfs_root = "{sys_root}"
dev_root = "{dev_root}"
""", out, port=port)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            fd = open_writer(fifo)

            def read(*parts):
                with open(os.path.join(dev, *parts)) as f:
                    return f.read().strip()

            assert read("buffer", "length") == "4096" and read("buffer", "watermark") == "64"
            wait_for(lambda: read("buffer", "enable") == "1", 20, "the buffer enabled")  # written after the open
            enabled = {name: read("scan_elements", f"{name}_en") for name, *_ in SCAN_ELEMENTS}
            assert enabled == {"in_voltage0": "0", "in_accel_x": "0", "in_voltage1": "1", "in_voltage2": "0",
                               "in_timestamp": "1"}, enabled
            wait_for(lambda: "current_trigger" in s.logs(), 20, "the trigger error logged")
            # The layout is now in_voltage1 (be:u16) at 0 and the timestamp at 8: 16 bytes.
            os.write(fd, b"".join(struct.pack(">H", 100 + i) + b"\0" * 6 + struct.pack("<q", BASE_TS + i)
                                  for i in range(3)))
            os.close(fd)
            wait_for(lambda: len(read_ndjson(out)) == 3, 20, "three scans")
            _, text = http_get(port, "/metrics")
            assert metric_value(text, "sluice_component_errors_total", component="p/adc") == 1, text
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        got = [(rfc3339_to_ns(r["time"]), r["fields"]) for r in read_ndjson(out)]
        assert got == [(BASE_TS + i, {"in_voltage1": (100 + i + 10) * 2}) for i in range(3)], got


def test_full_queue_drops_with_a_count():
    with TempDir() as d:
        sys_root, dev_root, fifo = buffered_fixture(d)
        out = os.path.join(d, "out.ndjson")
        port = free_port()
        cfg = write_config(d, f"""device = "0"
mode = "buffer"
channels = ["in_voltage0"]
sysfs_root = "{sys_root}"
dev_root = "{dev_root}"
""", out, port=port, pipeline_lines="queue_max_frames = 8")
        total = 4000  # far more than one read can hand to an 8-frame queue
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log")) as s:
            fd = open_writer(fifo)
            os.write(fd, b"".join(pack_record(i % 2000, 0, 0, BASE_TS + i) for i in range(total)))
            os.close(fd)

            def counts():
                _, text = http_get(port, "/metrics")
                received = metric_value(text, "sluice_component_received_records_total", component="p/adc") or 0
                dropped = metric_value(text, "sluice_component_dropped_records_total", component="p/adc") or 0
                return (received, dropped) if received + dropped >= total else None

            received, dropped = wait_for(counts, 30, "every scan received or dropped")
            assert received + dropped == total and dropped > 0 and received > 0, (received, dropped)
            wait_for(lambda: len(read_ndjson(out)) == received, 20, "the received scans stored")
            assert "dropping samples" in s.logs(), s.logs()
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()
        # Only the asked-for channel is sent, and what was kept is intact.
        for r in read_ndjson(out):
            assert set(r["fields"]) == {"in_voltage0"}, r
            assert r["fields"]["in_voltage0"] == ((rfc3339_to_ns(r["time"]) - BASE_TS) % 2000) * 0.5, r


def test_device_disappears_and_comes_back():
    with TempDir() as d:
        sys_root = os.path.join(d, "sys")
        dev = device_dir(sys_root, 0)
        put(os.path.join(dev, "name"), "ads1015")
        put(os.path.join(dev, "in_voltage0_raw"), "1000")
        put(os.path.join(dev, "in_voltage_scale"), "0.5")
        put(os.path.join(dev, "in_voltage0_offset"), "10")
        out = os.path.join(d, "out.ndjson")
        port = free_port()
        url = f"iio://0/in_voltage0?interval=50ms&sysfs_root={sys_root}&decode=influx"
        with Sluice(["relay", url, f"file://{out}?fsync=false", "--data-dir", d, "--http", f"127.0.0.1:{port}"],
                    log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: any(r["fields"].get("in_voltage0") == 505 for r in read_ndjson(out)), 20, "505 mV")

            def metric(name):
                _, text = http_get(port, "/metrics")
                return metric_value(text, name) or 0

            os.rename(dev, dev + ".unplugged")
            wait_for(lambda: "disappeared" in s.logs(), 20, "the loss logged")
            wait_for(lambda: metric("sluice_component_errors_total") >= 3, 20, "retries counted as errors")
            status, _ = http_get(port, "/health")
            assert status == 200
            assert s.logs().count("disappeared") == 1, s.logs()
            assert s.logs().count("ERROR") == 1, s.logs()  # retries are counted, not logged again

            put(os.path.join(dev + ".unplugged", "in_voltage0_raw"), "2000")
            os.rename(dev + ".unplugged", dev)
            wait_for(lambda: any(r["fields"].get("in_voltage0") == 1005 for r in read_ndjson(out)), 20,
                     "values after the device came back")
            assert metric("sluice_component_reconnects_total") == 1
            assert "is back" in s.logs(), s.logs()
            assert s.logs().count("disappeared") == 1, s.logs()
            status, _ = http_get(port, "/health")
            assert status == 200
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()


if __name__ == "__main__":
    main([test_polled_channels_shared_and_own_scale, test_buffered_scan_through_fifo,
          test_enable_channels_and_buffer_settings, test_full_queue_drops_with_a_count,
          test_device_disappears_and_comes_back])
